"""Interval estimates of committed learning results: IQM, 95% bootstrap intervals, P(improvement).

Reads the ``curves.csv`` of finished result folders (no training) and writes, per folder, the
comparison its script makes (depths, or agents against SAC) with the estimators of
:mod:`gcrl_depth.stats`, so tables made before those columns existed read the same way.

    python -m benchmarks.interval_estimates                     # every committed CPU result folder
    python -m benchmarks.interval_estimates --folders benchmarks/results/stitching_cpu
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import RESULTS_DIR

FOLDERS = ("depth_sweep_cpu", "stitching_cpu", "compare_baselines_cpu", "compare_baselines_pointmaze_cpu",
           "ant_umaze_learning_cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", nargs="+", type=Path, default=[RESULTS_DIR / name for name in FOLDERS],
                        help="result folders holding a curves.csv")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "interval_estimates_cpu.md")
    return parser.parse_args(argv)


def comparison(rows: list[dict]) -> tuple[list[dict], str, str | None]:
    """The rows, the column compared and its base: agents against SAC where baselines ran, else depths."""
    if "series" in rows[0]:  # a depth sweep: its depth series
        rows = [row for row in rows if row["series"] == "depth"]
    if len({row["algo"] for row in rows}) > 1:
        return [{**row, "agent": f"{row['algo']} d{row['depth']}"} for row in rows], "agent", "sac d2"
    return rows, "depth", None


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header
    from gcrl_depth.rows import read_csv

    lines = [*results_header("Interval estimates of the committed learning results", "interval_estimates.py",
                             gcrl_depth.__version__), reports.INTERVALS_NOTE, ""]
    for folder in args.folders:
        path = folder / "curves.csv"
        if not path.exists():
            raise SystemExit(f"{path}: no such file; expected a result folder written by a benchmark script")
        rows, group, base = comparison(read_csv(path))
        runs = len(reports.run_results(rows))
        lines += [f"## {folder.name} ({runs} runs)", "", *reports.interval_table(rows, group=group, base=base), ""]
    atomic_write_text(args.out, "\n".join(lines))
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
