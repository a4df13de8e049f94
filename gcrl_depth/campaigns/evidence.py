"""``gcrl-depth evidence``: does depth help yet? Depth 4 against deeper networks in a time budget, seeds as run sets, the paper's protocol.

Each depth trains its seeds (``--seeds S ...`` or ``--num-seeds N``) as one run set (one vmapped program) for ``--timesteps``
env steps per seed, with the paper's hyperparameters (``--config`` overrides them, e.g.
``tower_kernel=pallas``), and is evaluated ``--evaluations`` times on 128 fresh 1000-step
episodes of the task's evaluation layout with the deterministic policy; a seed's score is the
mean of its last 5 evaluations (the paper's headline), the table gives mean ± standard error
over seeds beside the paper's final numbers (at 100M+ env steps).

The default task is Ant Big Maze: of Table 1's candidates (Ant Big Maze, Ant U4-Maze,
Humanoid) it has the cheapest physics and observation (29 numbers, an ant rather than a
humanoid), so the most env steps per GPU second; its critical depth is the lowest the paper
reports (about 8), and depth 4 already scores (61 of 1000), so a gap can show as a ratio
rather than against zero.

Each depth is a cell (``runs/d<depth>/``). Depths run in the order given, shallow first: each
gets an equal share of the time that is left (``--seconds``, compile included) among this job's
remaining depths and stops at its first evaluation past it, short of ``--timesteps`` if need be
(the table says so; evaluations come every ``--timesteps`` / ``--evaluations`` env steps, so a
share can be overrun by up to one such interval). Rows are written after every evaluation, so a
run cut off keeps what it measured: ``curves.csv``, ``evidence.md`` and ``evidence.png`` in
``--out``.

    gcrl-depth evidence                       # depth 4 vs 64, 3 seeds each, ~7.5 min on a GPU
    gcrl-depth evidence --depths 4 16 64 --seconds 1200 --timesteps 5000000
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from gcrl_depth import experiments
from gcrl_depth.campaigns.cells import Cell, Outcome

MIN_SHARE_S = 30.0  # a depth with less time than this left is not started


@dataclasses.dataclass
class Progress:
    """The evidence so far: rows and notes by depth, and the wall-clock deadline of all depths."""

    deadline: float
    rows: dict[int, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    notes: dict[int, str] = dataclasses.field(default_factory=dict)


def cells(args: argparse.Namespace, config: dict[str, Any], progress: Progress, write: Any) -> list[Cell]:
    """One cell per depth, in the order given; ``write()`` writes the results so far (after every evaluation)."""
    from gcrl_depth.envs import task_name

    [(train_id, eval_id, env_kwargs)] = experiments.resolve_envs([task_name(args.task)], "eval", args.episode_length,
                                                                 args.physics)
    experiments.check_configs((f"--depths {depth}", {**config, "depth": depth}) for depth in args.depths)
    made = []
    for index, depth in enumerate(args.depths):
        spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps,
                                   max(1, args.timesteps // args.evaluations), args.eval_episodes, eval_id,
                                   env_kwargs, config=config)
        folder = None if args.runs_dir is None else args.runs_dir / f"d{depth}"
        later = [d for i, d in enumerate(args.depths) if i >= index and (args.shard is None or args.shard.takes(i))]
        made.append(Cell(f"d{depth}", _trainer(args, spec, folder, len(later), progress, write),
                         lambda spec=spec, folder=folder: None if folder is None else experiments.finished_rows(spec, folder),
                         folder))
    return made


def _trainer(args: argparse.Namespace, spec: experiments.RunSpec, folder: Path | None, remaining: int, progress: Progress,
             write: Any) -> Any:
    def train() -> experiments.Rows:
        depth = spec.depth
        left = progress.deadline - time.perf_counter()
        if left < MIN_SHARE_S:
            progress.notes[depth] = f"not run: {max(left, 0):.0f} s of the budget left"
            return {}
        share = left / remaining
        print(f"{experiments.short_name(spec.env_id)} depth {depth}: {len(spec.seeds)} seeds as one run set, up to "
              f"{spec.timesteps:,} env steps each or {share:.0f} s", flush=True)

        def on_evaluation(by_seed: experiments.Rows) -> None:
            progress.rows[depth] = [row for run in by_seed.values() for row in run]
            write()

        rows = experiments.train_runs(spec, progress_bar=args.progress, on_evaluation=on_evaluation, time_limit_s=share,
                                      run_dir=folder, resume=args.resume, wandb_project=args.wandb)
        reached = max((row["env_steps"] for run in rows.values() for row in run), default=0)
        if reached < spec.timesteps:
            progress.notes[depth] = f"stopped by its time share ({share:.0f} s) at {reached:,} of {spec.timesteps:,} env steps"
        return rows

    return train


def report(args: argparse.Namespace, task: str, config: dict[str, Any], outcome: Outcome, progress: Progress,
           command: str) -> None:
    """The results of every finished depth, with a note on each one missing."""
    for name, by_seed in outcome.rows.items():
        progress.rows[int(name[1:])] = [row for run in by_seed.values() for row in run]
    for name in outcome.missing:
        progress.notes.setdefault(int(name[1:]), "not trained by this job (another shard's, or --report-only)")
    write_results(args, task, config, progress.rows, progress.notes, command)


def write_results(args: argparse.Namespace, task: str, config: dict, rows: dict[int, list[dict]],
                  notes: dict[int, str], command: str) -> None:
    """``curves.csv``, ``evidence.md`` and ``evidence.png`` from the rows so far."""
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    every = [row for depth in sorted(rows) for row in rows[depth]]
    summary = {int(s["depth"]): s for s in reports.summarize(every, ("depth",))}
    lines = render(args, task, config, summary, notes, gcrl_depth.__version__, command)
    if len(summary) > 1:
        lines += [*reports.interval_section("Depths compared: interval estimates over seeds", every), ""]
    atomic_write_text(args.out_folder / "evidence.md", "\n".join(lines) + "\n")
    if every:
        write_csv(every, args.out_folder / "curves.csv")
        plot(task, every, args.out_folder / "evidence.png")


def render(args: argparse.Namespace, task: str, config: dict, summary: dict[int, dict], notes: dict[int, str],
           version: str, command: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.paper import TABLE_1

    paper = TABLE_1.get(task)
    shallow = summary[min(summary)] if summary else None
    lines = [*results_header(f"Depth evidence: {task}, time at goal by depth", "", version, command=command),
             f"Protocol: {len(args.seeds)} seeds per depth as one run set, the paper's hyperparameters with overrides "
             f"{config or 'none'}; evaluation every {max(1, args.timesteps // args.evaluations):,} env steps on "
             f"{args.eval_episodes} fresh episodes of {args.episode_length or 1000} steps (the evaluation layout), "
             f"physics {args.physics or 'mjx'}, "
             "deterministic policy; a seed's score is the mean of its last 5 evaluations; cells are mean ± standard "
             "error over seeds. Paper: Table 1 (5 seeds, brax physics) at its full budget"
             + (f" of {paper.budget:,} env steps" if paper else "") + ".", "",
             "| depth | seeds | env steps per seed | wall s | time at goal | success rate | vs shallowest | "
             "paper (final) | note |", "|---|---|---|---|---|---|---|---|---|"]
    for depth in args.depths:
        s = summary.get(depth)
        reference = paper.at_depth(depth) if paper else None
        paper_cell = "-" if reference is None else f"{reference[0]:g} ± {reference[1]:g}"
        if s is None:
            lines.append(f"| {depth} | - | - | - | - | - | - | {paper_cell} | {notes.get(depth, 'not run')} |")
            continue
        ratio = "-" if shallow is None or shallow["time_at_goal"] <= 0 else f"{s['time_at_goal'] / shallow['time_at_goal']:.2f}x"
        lines.append(f"| {depth} | {s['seeds']} | {int(s['env_steps']):,} | {s['wall_s']:.0f} | {s['time_at_goal']:.1f} ± "
                     f"{s['time_at_goal_se']:.1f} | {s['success_rate']:.2f} ± {s['success_rate_se']:.2f} | {ratio} | "
                     f"{paper_cell} | {notes.get(depth, '')} |")
    return [*lines, "", "![curves](evidence.png)", ""]


def plot(task: str, rows: list[dict], path: Path) -> None:
    """Mean time at goal (± s.e. over seeds) against env steps per depth; the paper's finals as dotted lines."""
    from gcrl_depth import reports
    from gcrl_depth.files import save_figure
    from gcrl_depth.paper import TABLE_1
    from gcrl_depth.plotting import plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for label, (x, y, se) in reports.mean_curves(rows, ("depth",), "env_steps").items():
        depth = int(label.split("=")[-1])  # labels are "depth=<d>"
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=f"depth {depth}")
        ax.fill_between(x, [a - b for a, b in zip(y, se)], [a + b for a, b in zip(y, se)], color=line.get_color(),
                        alpha=0.2)
        reference = TABLE_1[task].at_depth(depth) if task in TABLE_1 else None
        if reference is not None:
            ax.axhline(reference[0], color=line.get_color(), linestyle=":", linewidth=1,
                       label=f"paper, depth {depth}, at {TABLE_1[task].budget / 1e6:.0f}M steps")
    ax.set(xlabel="env steps per seed", ylabel="time at goal (steps of 1000)", title=f"{task}: time at goal by depth")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)
