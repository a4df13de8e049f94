"""``gcrl-depth sweep``: time at goal of DeepCRL over depths (and widths, batch sizes, actor vs critic depth) x seeds.

Series (each varies one factor, the others at ``--base-*``):

* ``--depths``: depth of actor and critic (the paper's main axis);
* ``--widths``: width at the base depth (for the width-vs-depth comparison by parameter count);
* ``--batch-sizes``: batch size at the base depth (the update ratio stays fixed);
* ``--actor-critic``: ``ACTOR:CRITIC`` depth pairs (which network needs the depth);
* ``--dtypes``: ``compute_dtype`` at the base depth (does mixed precision still learn?);
* ``--energies`` and ``--contrastive-losses``: the critic's energy and contrastive loss at the
  base depth (the objective's variants, the paper's ``l2`` and ``forward`` elsewhere).

Each value of a series is one cell (its seeds as one run set) in ``<out>/runs/<series>_<value>/``.
Writes into ``--out``: ``curves.csv`` (one row per evaluation, with the series and its
value), ``summary.md`` (each run's headline, the mean of its last 5 evaluations, and its final
evaluation, mean ± s.e. over seeds), ``depth.png`` (time at
goal vs depth with s.e. bars) and, when widths are swept, ``width_vs_depth.png`` (time at
goal vs parameter count for both). With ``--behaviour`` every evaluation of the depth series also records the
policy's behaviour (:mod:`gcrl_depth.analysis.behaviour`: survival, torso height, passages over
maze walls) into ``curves.csv``, a table in ``summary.md`` and ``behaviour.png`` (final value
vs depth), where a task's critical depth shows as a jump. Defaults fit a 2-core CPU in about
15 minutes; on a GPU:

    gcrl-depth sweep --env AntBigMaze --depths 4 8 16 32 64 --preset paper \\
        --timesteps 20000000 --eval-every 1000000 --eval-goals eval --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gcrl_depth import experiments
from gcrl_depth.campaigns.cells import Cell, Outcome


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


def cells(args: argparse.Namespace, base_config: dict[str, Any], out: Path) -> list[Cell]:
    """One cell per (series, value): its seeds as one run set (``--serial``: one after another)."""
    from gcrl_depth.analysis.behaviour import behaviour_probe
    from gcrl_depth.envs import task_name

    [(train_id, eval_id, env_kwargs)] = experiments.resolve_envs([task_name(args.env)], args.eval_goals,
                                                                 args.episode_length, args.physics)
    experiments.check_configs((f"{series} {value}", {**base_config, **overrides})
                              for series, value, overrides in configurations(args))
    made = []
    for series, value, overrides in configurations(args):
        config = {**base_config, **overrides}
        depth = config.pop("depth")
        probe = behaviour_probe(args.eval_episodes) if args.behaviour and series == "depth" else None
        spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps, args.eval_every,
                                   args.eval_episodes, eval_id, env_kwargs, config=config)
        folder = out / "runs" / f"{series.replace(':', '-')}_{value.replace(':', '-')}"

        def train(spec: experiments.RunSpec = spec, folder: Path = folder, probe: Any = probe) -> experiments.Rows:
            return experiments.train_runs(spec, serial=args.serial, probe=probe, resume=args.resume,
                                          progress_bar=args.progress, wandb_project=args.wandb, run_dir=folder)

        def finished(spec: experiments.RunSpec = spec, folder: Path = folder) -> experiments.Rows | None:
            return experiments.finished_rows(spec, folder, args.serial)

        made.append(Cell(folder.name, train, finished, folder))
    return made


def report(args: argparse.Namespace, base_config: dict[str, Any], outcome: Outcome, out: Path, command: str) -> None:
    """``curves.csv``, ``summary.md`` and the plots from every finished cell."""
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.envs import task_name
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    task = task_name(args.env)
    series_of = {f"{s.replace(':', '-')}_{v.replace(':', '-')}": (s, v) for s, v, _ in configurations(args)}
    rows = [{**row, "series": series_of[name][0], "value": series_of[name][1]}
            for name, by_seed in outcome.rows.items() for run in by_seed.values() for row in run]
    write_csv(rows, out / "curves.csv")
    by = ("series", "value")
    summary = reports.summarize(rows, by)
    if any(s["series"] == "depth" for s in summary):
        plot_depth(summary, out / "depth.png", task)
    if args.widths:
        plot_width_vs_depth(summary, out / "width_vs_depth.png", task)
    lines = render_summary(summary, by, args, base_config, gcrl_depth.__version__, command)
    depth_rows = [row for row in rows if row["series"] == "depth"]
    if len({row["depth"] for row in depth_rows}) > 1:
        lines += reports.interval_section("Depths compared: interval estimates over seeds", depth_rows)
    if args.behaviour and depth_rows:
        behaviour = final_behaviour(rows)
        plot_behaviour(behaviour, out / "behaviour.png", task)
        lines += ["", "## Behaviour at the final evaluation (mean ± s.e. over seeds)", "", *behaviour_table(behaviour)]
    if outcome.missing:
        lines += ["", f"Missing cells (not yet trained): {', '.join(outcome.missing)}."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")


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


def render_summary(summary: list[dict], by: tuple[str, ...], args: argparse.Namespace, base_config: dict, version: str,
                   command: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.reports import markdown_table

    return [
        *results_header("DeepCRL depth sweep", "", version, command=command),
        f"{args.env}, {args.timesteps:,} env steps per run, evaluation every {args.eval_every:,} steps on "
        f"{args.eval_episodes} fresh episodes of {args.episode_length or 1000} steps ({args.eval_goals} goals), physics "
        f"{args.physics or 'mjx'}; preset "
        f"`{args.preset}`, overrides of the paper defaults {base_config or 'none'}; seeds {args.seeds}.",
        "Table: each run's headline (mean of its last 5 evaluations, as the paper reports) and its final evaluation, "
        "mean ± standard error over seeds; wall s = training time.",
        "",
        *markdown_table(summary, by),
    ]
