"""Depth scaling of DeepCRL: time at goal over depths (and widths, batch sizes, actor vs critic depth) x seeds.

Series (each varies one factor, the others at ``--base-*``):

* ``--depths``: depth of actor and critic (the paper's main axis);
* ``--widths``: width at the base depth (for the width-vs-depth comparison by parameter count);
* ``--batch-sizes``: batch size at the base depth (the update ratio stays fixed);
* ``--actor-critic``: ``ACTOR:CRITIC`` depth pairs (which network needs the depth);
* ``--dtypes``: ``compute_dtype`` at the base depth (does mixed precision still learn?);
* ``--energies`` and ``--contrastive-losses``: the critic's energy and contrastive loss at the
  base depth (the objective's variants, the paper's ``l2`` and ``forward`` elsewhere).

Writes into ``--out``: ``curves.csv`` (one row per evaluation, with the series and its
value), ``summary.md`` (each run's headline, the mean of its last 5 evaluations, and its final
evaluation, mean ± s.e. over seeds), ``depth.png`` (time at
goal vs depth with s.e. bars) and, when widths are swept, ``width_vs_depth.png`` (time at
goal vs parameter count for both). With ``--behaviour`` every evaluation of the depth series also records the
policy's behaviour (:mod:`gcrl_depth.analysis.behaviour`: survival, torso height, passages over
maze walls) into ``curves.csv``, a table in ``summary.md`` and ``behaviour.png`` (final value
vs depth), where a task's critical depth shows as a jump. Defaults fit a 2-core CPU in about
15 minutes; on a GPU:

    python -m benchmarks.depth_sweep --env AntBigMaze --depths 4 8 16 32 64 --preset paper \\
        --timesteps 20000000 --eval-every 1000000 --eval-goals eval --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument
    from gcrl_depth.crl.engine.losses import CONTRASTIVE_LOSSES, ENERGIES
    from gcrl_depth.run_dirs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PointUMaze", help="task name or id")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--widths", nargs="*", type=int, default=[])
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=[])
    parser.add_argument("--actor-critic", nargs="*", default=[], help="ACTOR:CRITIC depth pairs, e.g. 4:16 16:4")
    parser.add_argument("--dtypes", nargs="*", default=[], help="compute dtypes at the base depth, e.g. bfloat16")
    parser.add_argument("--energies", nargs="*", default=[], choices=ENERGIES,
                        help="critic energies at the base depth, e.g. l2 dot cosine")
    parser.add_argument("--contrastive-losses", nargs="*", default=[], choices=CONTRASTIVE_LOSSES,
                        help="contrastive losses at the base depth, e.g. forward symmetric binary_nce")
    parser.add_argument("--base-depth", type=int, default=4, help="depth of the width / batch-size series")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--serial", action="store_true",
                        help="train seeds one after another (default: each configuration's seeds as one run set)")
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=25_000)
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--eval-goals", choices=["train", "eval"], default="train")
    parser.add_argument("--episode-length", type=int, default=None, help="task option (default: the task's 1000)")
    add_physics_argument(parser)
    parser.add_argument("--behaviour", action="store_true",
                        help="record behaviour statistics (survival, torso height, over-the-wall passages) at every evaluation")
    parser.add_argument("--out", type=Path, default=None)
    add_config_arguments(parser, default_preset="cpu", exclude=("depth",))
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    for pair in args.actor_critic:
        if len(pair.split(":")) != 2 or not all(p.isdigit() for p in pair.split(":")):
            parser.error(f"--actor-critic expects ACTOR:CRITIC depth pairs such as 4:16, got {pair!r}")
    return args


def configurations(args: argparse.Namespace) -> list[tuple[str, str, dict]]:
    """(series, value, config overrides) of every run of the sweep."""
    runs = [("depth", str(d), {"depth": d}) for d in args.depths]
    runs += [("width", str(w), {"depth": args.base_depth, "width": w}) for w in args.widths]
    runs += [("batch_size", str(b), {"depth": args.base_depth, "batch_size": b}) for b in args.batch_sizes]
    runs += [("compute_dtype", d, {"depth": args.base_depth, "compute_dtype": d}) for d in args.dtypes]
    runs += [("energy", e, {"depth": args.base_depth, "energy": e}) for e in args.energies]
    runs += [("contrastive_loss", c, {"depth": args.base_depth, "contrastive_loss": c}) for c in args.contrastive_losses]
    for pair in args.actor_critic:
        actor, critic = (int(p) for p in pair.split(":"))
        runs.append(("actor:critic", pair, {"depth": args.base_depth, "actor_depth": actor, "critic_depth": critic}))
    return runs


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth import experiments, reports
    from gcrl_depth.analysis.behaviour import behaviour_probe
    from gcrl_depth.cli.config_flags import resolved_config
    from gcrl_depth.envs import task_name
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    task = task_name(args.env)
    [(train_id, eval_id, env_kwargs)] = experiments.resolve_envs([task], args.eval_goals, args.episode_length, args.physics)
    base_config = resolved_config(args)
    out = args.out or RESULTS_DIR / f"depth_sweep_{jax.devices()[0].platform}"
    experiments.check_configs((f"{series} {value}", {**base_config, **overrides})
                              for series, value, overrides in configurations(args))
    rows = []
    for series, value, overrides in configurations(args):
        start = time.perf_counter()
        config = {**base_config, **overrides}
        depth = config.pop("depth")
        probe = behaviour_probe(args.eval_episodes) if args.behaviour and series == "depth" else None
        spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps, args.eval_every,
                                   args.eval_episodes, eval_id, env_kwargs, config=config)
        runs = experiments.train_runs(spec, serial=args.serial, probe=probe, resume=args.resume, wandb_project=args.wandb,
                                      run_dir=out / "runs" / f"{series.replace(':', '-')}_{value.replace(':', '-')}")
        for seed, run in runs.items():
            rows += [{**row, "series": series, "value": value} for row in run]
            if run:
                print(f"{series}={value} seed {seed}: time at goal {run[-1]['time_at_goal']:.1f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)

    write_csv(rows, out / "curves.csv")
    by = ("series", "value")
    summary = reports.summarize(rows, by)
    plot_depth(summary, out / "depth.png", task)
    if args.widths:
        plot_width_vs_depth(summary, out / "width_vs_depth.png", task)
    lines = render_summary(summary, by, args, base_config, gcrl_depth.__version__)
    depth_rows = [row for row in rows if row["series"] == "depth"]
    if len({row["depth"] for row in depth_rows}) > 1:
        lines += reports.interval_section("Depths compared: interval estimates over seeds", depth_rows)
    if args.behaviour:
        behaviour = final_behaviour(rows)
        plot_behaviour(behaviour, out / "behaviour.png", task)
        lines += ["", "## Behaviour at the final evaluation (mean ± s.e. over seeds)", "", *behaviour_table(behaviour)]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return out


def plot_depth(summary: list[dict], path: Path, task: str) -> None:
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    depth = sorted((int(s["value"]), s) for s in summary if s["series"] == "depth")
    fig, ax = plt.subplots(figsize=(5.6, 3.8), dpi=120)
    ax.errorbar([d for d, _ in depth], [s["time_at_goal"] for _, s in depth], yerr=[s["time_at_goal_se"] for _, s in depth],
                marker="o", capsize=4)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth (Dense layers per tower)")
    ax.set_ylabel("time at goal (mean of the last 5 evaluations)")
    ax.set_title(f"{task}: depth scaling (mean ± s.e. over seeds)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def final_behaviour(rows: list[dict]) -> dict[str, dict[int, tuple[float, float]]]:
    """``{statistic: {depth: (mean, s.e.)}}`` over seeds of the depth series' final evaluations."""
    from gcrl_depth.analysis.behaviour import PREFIX
    from gcrl_depth.reports import mean_and_se, run_results

    finals = [run for run in run_results(rows) if run["series"] == "depth"]  # each run's last row
    depths = sorted({int(run["value"]) for run in finals})
    names = sorted({k for run in finals for k in run if k.startswith(PREFIX)})
    return {name[len(PREFIX):]: {d: mean_and_se([run[name] for run in finals if int(run["value"]) == d]) for d in depths}
            for name in names}


def behaviour_table(behaviour: dict[str, dict[int, tuple[float, float]]]) -> list[str]:
    depths = sorted({d for values in behaviour.values() for d in values})
    lines = ["| statistic | " + " | ".join(f"depth {d}" for d in depths) + " |", "|---|" + "---|" * len(depths)]
    for name, values in behaviour.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[d][0]:.3f} ± {values[d][1]:.3f}" for d in depths) + " |")
    return lines


def plot_behaviour(behaviour: dict[str, dict[int, tuple[float, float]]], path: Path, task: str) -> None:
    """One panel per statistic: its final value against depth (a critical depth shows as a jump)."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    fig, axes = plt.subplots(1, len(behaviour), figsize=(3.2 * len(behaviour), 3.2), dpi=120, squeeze=False)
    for ax, (name, values) in zip(axes[0], behaviour.items()):
        depths = sorted(values)
        ax.errorbar(depths, [values[d][0] for d in depths], yerr=[values[d][1] for d in depths], marker="o", capsize=4)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("depth")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{task}: behaviour at the final evaluation (mean ± s.e. over seeds)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_width_vs_depth(summary: list[dict], path: Path, task: str) -> None:
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    fig, ax = plt.subplots(figsize=(5.6, 3.8), dpi=120)
    for series, label in (("depth", "deeper (width fixed)"), ("width", "wider (depth fixed)")):
        points = sorted((s["params"], s) for s in summary if s["series"] == series)
        ax.errorbar([p for p, _ in points], [s["time_at_goal"] for _, s in points],
                    yerr=[s["time_at_goal_se"] for _, s in points], marker="o", capsize=4, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (actor + critic)")
    ax.set_ylabel("time at goal (mean of the last 5 evaluations)")
    ax.set_title(f"{task}: width vs depth")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def render_summary(summary: list[dict], by: tuple[str, ...], args: argparse.Namespace, base_config: dict, version: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.reports import markdown_table

    return [
        *results_header("DeepCRL depth sweep", "depth_sweep.py", version),
        f"{args.env}, {args.timesteps:,} env steps per run, evaluation every {args.eval_every:,} steps on "
        f"{args.eval_episodes} fresh episodes of {args.episode_length or 1000} steps ({args.eval_goals} goals), physics "
        f"{args.physics or 'mjx'}; preset "
        f"`{args.preset}`, overrides of the paper defaults {base_config or 'none'}; seeds {args.seeds}.",
        "Table: each run's headline (mean of its last 5 evaluations, as the paper reports) and its final evaluation, "
        "mean ± standard error over seeds; wall s = training time.",
        "",
        *markdown_table(summary, by),
    ]


if __name__ == "__main__":
    main()
