"""``gcrl-depth compare``: DeepCRL at several depths against SB3 SAC+HER and TD3+HER, equal env-step budgets, one evaluator.

Every run (algorithm x depth x env x seed) trains for ``--timesteps`` env steps and is
evaluated every ``--eval-every`` steps by :func:`gcrl_depth.evaluate` (deterministic
policy, ``--eval-episodes`` fresh full episodes). ``--envs`` takes gcrl_depth task names or
ids and any Gymnasium goal env id (``gymnasium_robotics:PointMaze_UMaze-v3``: the
``module:`` prefix imports the package that registers it); DeepCRL trains the latter on
the host path. The cells: per env, DeepCRL at each depth (its seeds as one run set, in
``runs/<env>_crl_d<depth>/``), then each baseline seed (``runs/<env>_<algo>_s<seed>/``).
Writes into ``--out``:

* ``curves.csv``: one tidy row per evaluation (algo, depth, env_id, seed, env_steps,
  wall_s, time_at_goal, success_rate, final_distance, ...); ``wall_s`` is training time;
* ``summary.md``: per algorithm/depth/env the headline (mean of each run's last 5
  evaluations, as the paper reports) and the final evaluation, mean ± s.e. over seeds,
  with the machine and command;
* ``<env>_steps.png`` and ``<env>_wall.png``: time at goal against env steps and against
  training wall-clock.

The defaults (DeepCRL depth 4 and 16 and SAC+HER on PointUMaze, 40k env steps each,
CPU-sized DeepCRL, evaluation on the training goal distribution) take about 18 minutes on
a 2-core CPU, most of it SAC's 40k gradient steps; ``--algos crl sac td3`` adds TD3+HER
(about 12 minutes more). On a GPU, scale up, e.g.:

    gcrl-depth compare --envs AntBigMaze --depths 4 16 64 --algos crl \\
        --preset paper --timesteps 10000000 --eval-every 1000000 --eval-goals eval --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gcrl_depth import experiments, run_dirs
from gcrl_depth.campaigns.cells import Cell, Outcome


def cells(args: argparse.Namespace, crl_config: dict[str, Any], out: Path) -> list[Cell]:
    """Per env: DeepCRL at each depth (a run set of the seeds), then each baseline's seeds, one cell each."""
    if "crl" in args.algos:
        experiments.check_configs((f"--depths {depth}", {**crl_config, "depth": depth}) for depth in args.depths)
    made = []
    for train_id, eval_id, env_kwargs in experiments.resolve_envs(args.envs, args.eval_goals, args.episode_length,
                                                                  args.physics):
        task = experiments.short_name(train_id)
        for algo in args.algos:
            if algo == "crl":
                made += [_crl_cell(args, crl_config, out / "runs" / f"{task}_crl_d{depth}",
                                   experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps, args.eval_every,
                                                       args.eval_episodes, eval_id, env_kwargs, config=crl_config))
                         for depth in args.depths]
            else:
                made += [_baseline_cell(args, out / "runs" / f"{task}_{algo}_s{seed}",
                                        (algo, train_id, seed, args.timesteps, args.eval_every, args.eval_episodes, eval_id,
                                         env_kwargs))
                         for seed in args.seeds]
    return made


def _crl_cell(args: argparse.Namespace, config: dict[str, Any], folder: Path, spec: experiments.RunSpec) -> Cell:
    def train() -> experiments.Rows:
        return experiments.train_runs(spec, serial=args.serial, run_dir=folder, resume=args.resume,
                                      progress_bar=args.progress, wandb_project=args.wandb)

    return Cell(folder.name, train, lambda: experiments.finished_rows(spec, folder, args.serial), folder)


def _baseline_cell(args: argparse.Namespace, folder: Path, run: tuple) -> Cell:
    from gcrl_depth.baselines import runs as baseline_runs

    size = {"depth": args.baseline_depth, "width": args.baseline_width}
    seed = run[2]

    def train() -> experiments.Rows:
        return {seed: baseline_runs.run_sb3(*run, **size, resume=args.resume, wandb_project=args.wandb, run_dir=folder)}

    def finished() -> experiments.Rows | None:
        curves = run_dirs.finished_curves(folder, baseline_runs.sb3_settings(*run, **size), [folder])
        return None if curves is None else {seed: curves[0]}

    return Cell(folder.name, train, finished, folder)


def report(args: argparse.Namespace, crl_config: dict[str, Any], outcome: Outcome, out: Path, command: str) -> None:
    """``curves.csv``, ``summary.md`` and the curves of every env from every finished cell."""
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.plotting import plot_curves
    from gcrl_depth.rows import write_csv

    rows = outcome.all_rows()
    write_csv(rows, out / "curves.csv")
    by = ("env_id", "algo", "depth")
    summary = reports.summarize(rows, by)
    for env in sorted({r["env_id"] for r in rows}):
        env_rows = [r for r in rows if r["env_id"] == env]
        name = experiments.short_name(env)
        for x, label, suffix in (("env_steps", "env steps", "steps"), ("wall_s", "training wall-clock (s)", "wall")):
            plot_curves(reports.mean_curves(env_rows, ("algo", "depth"), x), out / f"{name}_{suffix}.png",
                        xlabel=label, ylabel="time at goal (steps of the episode)", title=f"{name}: evaluated on {args.eval_goals} goals")
    lines = render_summary(summary, by, args, crl_config, gcrl_depth.__version__, command)
    agents = [{**row, "agent": f"{row['algo']} d{row['depth']}"} for row in rows]
    if len({row["agent"] for row in agents}) > 1:
        lines += reports.interval_section("Agents compared: interval estimates over environments and seeds", agents,
                                              group="agent", base="sac d2")
    if outcome.missing:
        lines += ["", f"Missing cells (not yet trained): {', '.join(outcome.missing)}."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")


def render_summary(summary: list[dict], by: tuple[str, ...], args: argparse.Namespace, crl_config: dict, version: str,
                   command: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.reports import markdown_table

    return [
        *results_header("DeepCRL vs SB3 SAC+HER / TD3+HER", "", version, command=command),
        f"Budget {args.timesteps:,} env steps per run, evaluation every {args.eval_every:,} steps on "
        f"{args.eval_episodes} fresh episodes of {args.episode_length or 'the default number of'} steps ({args.eval_goals} goals), "
        f"physics {args.physics or 'mjx'} (gcrl_depth envs), deterministic policies, "
        f"seeds {args.seeds}. DeepCRL: preset `{args.preset}`, overrides of the paper defaults {crl_config or 'none'}. "
        "SAC/TD3: stable-baselines3 with HerReplayBuffer (future, 4 goals), 1 gradient step per env step, "
        f"{'a 2-layer MLP' if args.baseline_depth is None else f'residual depth {args.baseline_depth}'} "
        f"of width {args.baseline_width} (depth column 2 = the MLP).",
        "Table: each run's headline (mean of its last 5 evaluations, as the paper reports) and its final evaluation, "
        "mean ± standard error over seeds; wall s = training time "
        "(compile included, evaluation excluded).",
        "",
        *markdown_table(summary, by),
    ]
