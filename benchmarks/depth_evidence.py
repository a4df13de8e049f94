"""Does depth help yet? Depth 4 against deeper networks inside one GPU slot, seeds as run sets, the paper's protocol.

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

Depths run in the order given, shallow first: each gets an equal share of the time that is
left (``--seconds``, compile included) and stops at its first evaluation past it, short of
``--timesteps`` if need be (the table says so; evaluations come every ``--timesteps`` /
``--evaluations`` env steps, so a share can be overrun by up to one such interval). Rows are written after every evaluation, so a
run cut off keeps what it measured: ``curves.csv``, ``evidence.md`` and ``evidence.png`` in
``--out``.

    python -m benchmarks.depth_evidence                       # depth 4 vs 64, 3 seeds each, ~7.5 min
    python -m benchmarks.depth_evidence --depths 4 16 64 --seconds 1200 --timesteps 5000000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS_DIR

MIN_SHARE_S = 30.0  # a depth with less time than this left is not started


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.arg_types import add_seed_arguments, chosen_seeds
    from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument
    from gcrl_depth.paper import PAPER_EVAL_EPISODES
    from gcrl_depth.run_dirs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="AntBigMaze")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 64])
    add_seed_arguments(parser, 3)  # per depth, trained as one run set
    parser.add_argument("--timesteps", type=int, default=1_000_000, help="env steps per seed (at most)")
    parser.add_argument("--evaluations", type=int, default=10, help="evaluations per run (every timesteps / this)")
    parser.add_argument("--eval-episodes", type=int, default=PAPER_EVAL_EPISODES)
    parser.add_argument("--episode-length", type=int, default=None, help="task option (default: the task's 1000)")
    add_physics_argument(parser)
    parser.add_argument("--seconds", type=float, default=400.0, help="wall-clock budget of all depths together")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per depth")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "depth_evidence")
    add_config_arguments(parser, default_preset="paper", exclude=("depth",))
    add_run_arguments(parser)
    parser.add_argument("--runs-dir", default=None,
                        help="where the run folders go (default <out>/runs: logs, a checkpoint with the replay buffers "
                             "after every evaluation, models); 'none': no run folders (the GPU suite's time-boxed slot)")
    args = parser.parse_args(argv)
    args.runs_dir = None if args.runs_dir == "none" else Path(args.runs_dir or args.out / "runs")
    for name in ("timesteps", "evaluations", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    try:
        args.seeds = chosen_seeds(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    from gcrl_depth import experiments
    from gcrl_depth.cli.config_flags import resolved_config
    from gcrl_depth.envs import task_name

    task = task_name(args.task)
    [(train_id, eval_id, env_kwargs)] = experiments.resolve_envs([task], "eval", args.episode_length, args.physics)
    config = resolved_config(args)
    rows: dict[int, list[dict]] = {}
    notes: dict[int, str] = {}
    deadline = time.perf_counter() + args.seconds
    for index, depth in enumerate(args.depths):
        left = deadline - time.perf_counter()
        if left < MIN_SHARE_S:
            notes[depth] = f"not run: {max(left, 0):.0f} s of the budget left"
            continue
        share = left / (len(args.depths) - index)
        print(f"{task} depth {depth}: {len(args.seeds)} seeds as one run set, up to {args.timesteps:,} env steps each "
              f"or {share:.0f} s", flush=True)

        def on_evaluation(by_seed: dict[int, list[dict]], depth: int = depth) -> None:
            rows[depth] = [row for run in by_seed.values() for row in run]
            write_results(args, task, config, rows, notes)

        spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps,
                                   max(1, args.timesteps // args.evaluations), args.eval_episodes, eval_id,
                                   env_kwargs, config=config)
        experiments.train_runs(spec, progress_bar=args.progress, on_evaluation=on_evaluation, time_limit_s=share,
                               run_dir=args.runs_dir and args.runs_dir / f"d{depth}", resume=args.resume,
                               wandb_project=args.wandb)
        reached = max((row["env_steps"] for row in rows.get(depth, [])), default=0)
        if reached < args.timesteps:
            notes[depth] = f"stopped by its time share ({share:.0f} s) at {reached:,} of {args.timesteps:,} env steps"
    write_results(args, task, config, rows, notes)
    return args.out


def write_results(args: argparse.Namespace, task: str, config: dict, rows: dict[int, list[dict]],
                  notes: dict[int, str]) -> None:
    """``curves.csv``, ``evidence.md`` and ``evidence.png`` from the rows so far."""
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    every = [row for depth in sorted(rows) for row in rows[depth]]
    summary = {int(s["depth"]): s for s in reports.summarize(every, ("depth",))}
    lines = render(args, task, config, summary, notes, gcrl_depth.__version__)
    if len(summary) > 1:
        lines += [*reports.interval_section("Depths compared: interval estimates over seeds", every), ""]
    atomic_write_text(args.out / "evidence.md", "\n".join(lines) + "\n")
    if every:
        write_csv(every, args.out / "curves.csv")
        plot(task, every, args.out / "evidence.png")


def render(args: argparse.Namespace, task: str, config: dict, summary: dict[int, dict], notes: dict[int, str],
           version: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.paper import TABLE_1

    paper = TABLE_1.get(task)
    shallow = summary[min(summary)] if summary else None
    lines = [*results_header(f"Depth evidence: {task}, time at goal by depth", "depth_evidence.py", version),
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


if __name__ == "__main__":
    main()
