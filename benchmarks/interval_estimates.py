"""Interval estimates of committed learning results: IQM, 95% bootstrap intervals, P(improvement), profiles.

Reads the ``curves.csv`` of finished result folders (no training) and writes, per folder, the
comparison its script makes (depths, or agents against SAC) with the estimators of
:mod:`gcrl_depth.stats`, so tables made before those columns existed read the same way, and
its interval plot (IQM with a 95% interval per depth or agent). Across tasks, the depth-4 and
depth-16 DeepCRL runs of the folders in ``PROFILE`` are pooled into a performance profile: each
run's headline time at goal divided by its episode length (the fraction of the episode at the
goal), so tasks share a scale. The pictures go into a folder named as ``--out`` without its
suffix: ``<folder name>.png`` each, and ``profile.png``.

    python -m benchmarks.interval_estimates                     # every committed CPU result folder
    python -m benchmarks.interval_estimates --folders benchmarks/results/stitching_cpu
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmarks import RESULTS_DIR

FOLDERS = ("depth_sweep_cpu", "stitching_cpu", "compare_baselines_cpu", "compare_baselines_pointmaze_cpu",
           "ant_umaze_learning_cpu")
PROFILE = ("depth_sweep_cpu", "stitching_cpu", "compare_baselines_pointmaze_cpu")  # one budget per task, 2 seeds a depth
PROFILE_DEPTHS = (4, 16)
EPISODE_STEPS = {"PointMaze_UMaze-v3": 300}  # gymnasium-robotics' episodes; gcrl_depth's are 1000 steps
THRESHOLDS = [i / 40 for i in range(41)]
TABLE_THRESHOLDS = (0.1, 0.2, 0.3, 0.5)  # the profile's points the markdown table gives


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
    from gcrl_depth import reports, stats
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header
    from gcrl_depth.plotting import plot_intervals
    from gcrl_depth.rows import read_csv

    lines = [*results_header("Interval estimates of the committed learning results", "interval_estimates.py",
                             gcrl_depth.__version__), reports.INTERVALS_NOTE, ""]
    profiled = {}
    pictures = args.out.with_suffix("")
    for folder in args.folders:
        path = folder / "curves.csv"
        if not path.exists():
            raise SystemExit(f"{path}: no such file; expected a result folder written by a benchmark script")
        rows, group, base = comparison(read_csv(path))
        runs = len(reports.run_results(rows))
        picture = plot_intervals({(f"{value}" if group == "agent" else f"depth {value}"): stats.bootstrap_ci(scores)
                                  for value, scores in sorted(reports.group_scores(rows, group).items())},
                                 pictures / f"{folder.name}.png", xlabel="IQM of the runs' headline time at goal, 95% CI",
                                 title=f"{folder.name} ({runs} runs)")
        lines += [f"## {folder.name} ({runs} runs)", "", f"![intervals]({os.path.relpath(picture, args.out.parent)})",
                  "", *reports.interval_table(rows, group=group, base=base), ""]
        if folder.name in PROFILE:
            profiled[folder.name] = [row for row in rows if row["algo"] == "crl" and row["depth"] in PROFILE_DEPTHS]
    if profiled:
        lines += profile_section(profiled, pictures / "profile.png", args.out.parent)
    atomic_write_text(args.out, "\n".join(lines))
    print(f"wrote {args.out}")
    return args.out


def profile_section(rows_by_folder: dict[str, list[dict]], out: Path, relative_to: Path) -> list[str]:
    """Markdown lines and ``out``: the depths' performance profiles over the folders' tasks pooled."""
    from gcrl_depth import reports, stats
    from gcrl_depth.plotting import plot_curves

    scores: dict[int, dict[str, list[float]]] = {}
    for name, rows in rows_by_folder.items():
        for depth, by_task in reports.group_scores(rows, "depth", scale=lambda run: EPISODE_STEPS.get(run["env_id"], 1000)).items():
            for task, values in by_task.items():
                scores.setdefault(depth, {})[f"{name}: {task}"] = values
    curves = {f"depth {depth}": (THRESHOLDS, *stats.performance_profile(scores[depth], THRESHOLDS)) for depth in sorted(scores)}
    plot_curves(curves, out, xlabel="normalised score tau (headline time at goal / episode length)",
                ylabel="fraction of runs with score > tau", title="DeepCRL on the CPU: performance profiles, tasks pooled")
    tasks = sorted({task for by_task in scores.values() for task in by_task})
    lines = ["## Performance profile across tasks", "", f"![profile]({os.path.relpath(out, relative_to)})", "",
             f"DeepCRL depth {' and '.join(map(str, sorted(scores)))}, tasks pooled: {'; '.join(tasks)}. Each run's headline "
             "time at goal divided by its episode length (1000 steps; PointMaze_UMaze-v3 300), so every task scores in [0, 1]; "
             "the band is a 95% stratified bootstrap interval.", "",
             "| depth | runs | " + " | ".join(f"P(score > {tau})" for tau in TABLE_THRESHOLDS) + " |",
             "|---|---|" + "---|" * 4]
    for depth in sorted(scores):
        fractions = zip(*stats.performance_profile(scores[depth], TABLE_THRESHOLDS))
        runs = sum(len(v) for v in scores[depth].values())
        lines.append(f"| {depth} | {runs} | " + " | ".join(f"{p:.2f} [{lo:.2f}, {hi:.2f}]" for p, lo, hi in fractions) + " |")
    return [*lines, ""]


if __name__ == "__main__":
    main()
