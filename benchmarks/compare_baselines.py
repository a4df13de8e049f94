"""Compare DeepCRL at several depths with SB3 SAC+HER and TD3+HER: equal env-step budgets, one evaluator.

Every run (algorithm x depth x env x seed) trains for ``--timesteps`` env steps and is
evaluated every ``--eval-every`` steps by :func:`gcrl_depth.evaluate` (deterministic
policy, ``--eval-episodes`` fresh full episodes). ``--envs`` takes gcrl_depth task names or
ids and any Gymnasium goal env id (``gymnasium_robotics:PointMaze_UMaze-v3``: the
``module:`` prefix imports the package that registers it); DeepCRL trains the latter on
the host path. Writes into ``--out``:

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

    python -m benchmarks.compare_baselines --envs AntBigMaze --depths 4 16 64 --algos crl \\
        --preset paper --timesteps 10000000 --eval-every 1000000 --eval-goals eval --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument
    from gcrl_depth.run_dirs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["PointUMaze"],
                        help="gcrl_depth task names or ids, or Gymnasium goal env ids ('module:Id' imports module first)")
    parser.add_argument("--algos", nargs="+", default=["crl", "sac"], choices=["crl", "sac", "td3"],
                        help="td3 adds about 12 minutes on a 2-core CPU at the default budget")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 16], help="DeepCRL depths")
    parser.add_argument("--baseline-depth", type=int, default=None, help="residual depth for SAC/TD3 (default: 2-layer MLP)")
    parser.add_argument("--baseline-width", type=int, default=256)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--serial", action="store_true",
                        help="train DeepCRL's seeds one after another (default: a depth's seeds as one run set)")
    parser.add_argument("--timesteps", type=int, default=40_000, help="env steps per run (equal for every algorithm)")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--eval-goals", choices=["train", "eval"], default="train",
                        help="evaluate on the training goal distribution or on the maze's farthest goals (gcrl_depth's "
                             "...Eval twins; other envs are evaluated on their own goals)")
    parser.add_argument("--episode-length", type=int, default=None,
                        help="steps per episode (default: the task's 1000, or the env's registered max_episode_steps)")
    add_physics_argument(parser)
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    add_config_arguments(parser, default_preset="cpu", exclude=("depth",))
    add_run_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth import experiments, reports
    from gcrl_depth.baselines import runs as baseline_runs
    from gcrl_depth.cli.config_flags import resolved_config
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.plotting import plot_curves
    from gcrl_depth.rows import write_csv

    crl_config = resolved_config(args)
    out = args.out or RESULTS_DIR / f"compare_baselines_{jax.devices()[0].platform}"
    if "crl" in args.algos:
        experiments.check_configs((f"--depths {depth}", {**crl_config, "depth": depth}) for depth in args.depths)
    resolved = experiments.resolve_envs(args.envs, args.eval_goals, args.episode_length, args.physics)  # all first
    rows = []
    for train_id, eval_id, env_kwargs in resolved:
        task = experiments.short_name(train_id)
        for algo in args.algos:
            for depth in (args.depths if algo == "crl" else [args.baseline_depth]):
                start = time.perf_counter()
                if algo == "crl":
                    spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps, args.eval_every,
                                               args.eval_episodes, eval_id, env_kwargs, config=crl_config)
                    runs = experiments.train_runs(spec, serial=args.serial, run_dir=out / "runs" / f"{task}_crl_d{depth}",
                                                  resume=args.resume, wandb_project=args.wandb)
                else:
                    runs = {seed: baseline_runs.run_sb3(algo, train_id, seed, args.timesteps, args.eval_every,
                                                      args.eval_episodes, eval_id, env_kwargs, depth=depth,
                                                      width=args.baseline_width, resume=args.resume,
                                                      wandb_project=args.wandb,
                                                      run_dir=out / "runs" / f"{task}_{algo}_s{seed}")
                            for seed in args.seeds}
                for seed, run in runs.items():
                    rows += run
                    if not run:
                        continue
                    last = run[-1]
                    print(f"{task} {algo} depth {last['depth']} seed {seed}: time at goal {last['time_at_goal']:.1f}, "
                          f"success {last['success_rate']:.2f} after {last['env_steps']:,} env steps "
                          f"({time.perf_counter() - start:.0f} s)", flush=True)

    write_csv(rows, out / "curves.csv")
    by = ("env_id", "algo", "depth")
    summary = reports.summarize(rows, by)
    for env in sorted({r["env_id"] for r in rows}):
        env_rows = [r for r in rows if r["env_id"] == env]
        name = experiments.short_name(env)
        for x, label, suffix in (("env_steps", "env steps", "steps"), ("wall_s", "training wall-clock (s)", "wall")):
            plot_curves(reports.mean_curves(env_rows, ("algo", "depth"), x), out / f"{name}_{suffix}.png",
                        xlabel=label, ylabel="time at goal (steps of the episode)", title=f"{name}: evaluated on {args.eval_goals} goals")
    lines = render_summary(summary, by, args, crl_config, gcrl_depth.__version__)
    agents = [{**row, "agent": f"{row['algo']} d{row['depth']}"} for row in rows]
    if len({row["agent"] for row in agents}) > 1:
        lines += reports.interval_section("Agents compared: interval estimates over environments and seeds", agents,
                                              group="agent", base="sac d2")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return out


def render_summary(summary: list[dict], by: tuple[str, ...], args: argparse.Namespace, crl_config: dict, version: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.reports import markdown_table

    return [
        *results_header("DeepCRL vs SB3 SAC+HER / TD3+HER", "compare_baselines.py", version),
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


if __name__ == "__main__":
    main()
