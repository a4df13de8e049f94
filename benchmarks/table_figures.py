"""Pictures of the committed results that are tables only (speed, memory, accuracy): read, not re-run.

Each entry of ``FIGURES`` names a result's markdown file, the table's x and y columns (a
group column draws one line per value) and the scales; the figure is written beside it as
``<file>.png``. The numbers come from the table as committed: a cell such as ``1,401 (54%)``
counts as 1401; ``-`` cells are skipped.

    python -m benchmarks.table_figures            # every figure of FIGURES
    python -m benchmarks.table_figures --only host_loop_cpu.md
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks import RESULTS_DIR


@dataclass(frozen=True)
class Figure:
    """One picture of a result table: ``y`` columns against ``x``, a line per ``group`` value."""

    file: str
    x: str
    y: tuple[str, ...]
    title: str
    group: str | None = None
    log_x: bool = False
    log_y: bool = False
    columns: tuple[str, ...] = ()  # the header, for tables printed without one


FIGURES = (
    Figure("train_throughput_cpu.md", "depth", ("grad steps/s",), "Gradient steps/s by depth (CPU, width 256)",
           log_x=True, log_y=True),
    Figure("train_throughput_cpu_knobs.md", "depth", ("grad steps/s",), "The speed knobs by depth (CPU)", group="variant",
           log_x=True, log_y=True),
    Figure("train_throughput_cpu_remat1024.md", "variant", ("XLA plan GiB", "max RSS GiB"), "Depth 1024: memory with and without remat (CPU)"),
    Figure("train_throughput_cpu_engine_v2.md", "depth", ("ms/grad step per seed",), "ms per gradient step and seed (CPU): 1 seed vs a run set of 4",
           group="runs", log_x=True, log_y=True),
    Figure("train_throughput_cpu_engine_v2_unroll.md", "variant", ("ms/grad step", "kernels/grad step"), "scan_unroll 1 vs 4 at depth 16 (CPU)",
           log_y=True),
    Figure("engine_v2_cpu.md", "depth", ("kernels before", "kernels after"), "XLA kernels per gradient step: engine before and after (CPU)",
           log_x=True),
    Figure("fused_tower_accuracy_cpu.md", "depth", ("output", "d kernel"), "Fused tower vs XLA tower: relative error (interpret mode, CPU)",
           group="dtype", log_x=True, log_y=True),
    Figure("host_loop_cpu.md", "depth", ("ms / grad step",), "ms per gradient step: the host loop's tree before and after (CPU)",
           group="tree", log_x=True, log_y=True),
    Figure("gpu/early_probes.md", "num envs", ("env steps/s",), "Env steps/s by number of envs (H100; 1 env: plain MuJoCo on the CPU)", group="task",
           log_x=True, log_y=True, columns=("task", "mode", "num envs", "compile s", "env steps/s", "physics steps/s")),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, metavar="FILE", help="draw only these entries of FIGURES")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="the folder the files are under")
    return parser.parse_args(argv)


def table(text: str, wanted: tuple[str, ...], columns: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The rows of the first markdown table whose header holds every ``wanted`` column (with
    ``columns``: the first run of table rows, read under that header)."""
    rows: list[list[str]] = []
    blocks: list[list[list[str]]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            blocks.append(rows)
            rows = []
    for block in blocks:
        header, body = (list(columns), block) if columns else (block[0], block[2:])
        if set(wanted) <= set(header):
            return [dict(zip(header, row)) for row in body]
    raise ValueError(f"no table with the columns {list(wanted)}")


def number(cell: str) -> float | None:
    """``1,401 (54%)`` -> 1401.0; ``-`` or text -> None."""
    match = re.match(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?", cell.replace(" ", ""), re.I)
    return float(match[0].replace(",", "")) if match else None


def draw(figure: Figure, results: Path) -> Path:
    from gcrl_depth.plotting import plt, save_figure

    path = results / figure.file
    rows = table(path.read_text(), (figure.x, *figure.y, *([figure.group] if figure.group else [])), figure.columns)
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    categorical = number(rows[0][figure.x]) is None
    groups = sorted({row[figure.group] for row in rows}) if figure.group else [None]
    for column in figure.y:
        for group in groups:
            members = [row for row in rows if group is None or row[figure.group] == group]
            points = [(row[figure.x] if categorical else number(row[figure.x]), number(row[column])) for row in members]
            points = [(x, y) for x, y in points if x is not None and y is not None]
            if not points:
                continue
            named = f"{figure.group} {group}" if group is not None and number(group) is not None else group
            label = " ".join(part for part in ((column if len(figure.y) > 1 else ""), named or "") if part) or column
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=label, linestyle="-" if not categorical else ":")
    if figure.log_x and not categorical:
        ax.set_xscale("log", base=2)
    if figure.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(figure.x)
    ax.set_ylabel(figure.y[0] if len(figure.y) == 1 else "value")
    ax.set_title(figure.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return Path(save_figure(fig, path.with_suffix(".png")))


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(argv)
    chosen = [f for f in FIGURES if args.only is None or f.file in args.only]
    unknown = set(args.only or ()) - {f.file for f in FIGURES}
    if unknown:
        raise SystemExit(f"--only: {sorted(unknown)} are not in FIGURES; expected some of {[f.file for f in FIGURES]}")
    written = [draw(figure, args.results) for figure in chosen]
    for path in written:
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    main()
