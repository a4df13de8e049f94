"""The demo's run over several seeds: is its curve's swing evaluation noise or the policy changing?

Trains ``make demo``'s setup (DeepCRL, cpu preset, PointUMaze, evaluation on the farthest goals)
for every seed as one run set. At each evaluation (``--eval-episodes`` episodes, the demo's 16)
every member is evaluated again on ``--recheck-episodes`` fresh episodes (other starts and
goals): where the two agree and the curve still drops, the policy changed (collapse), not the
evaluation's luck. Writes into ``--out``: ``curves.csv`` (seed, env steps, both evaluations),
``summary.md`` (IQM over seeds with 95% intervals by env steps, drops per seed, agreement of
the two evaluations, best and final evaluations) and ``curve.png``; each seed's logs go under
``runs/seed_<s>/`` (``gcrl-depth plot`` reads them).

    python -m benchmarks.demo_seeds --seeds 0 1 2 3 4 --out benchmarks/results/demo_seeds_cpu
    python -m benchmarks.demo_seeds --set learning_rate=1e-4 --out /tmp/demo_lr1e-4
"""

from __future__ import annotations

import argparse
import ast
import itertools
import time
from pathlib import Path

import numpy as np

from benchmarks import RESULTS_DIR

DROP_FROM, DROP_TO = 200.0, 50.0  # a drop: from >= DROP_FROM to <= DROP_TO at the next evaluation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="PointUMaze")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--timesteps", type=int, default=400_000)
    parser.add_argument("--epoch-timesteps", type=int, default=40_000)
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--recheck-episodes", type=int, default=64)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="CRLConfig fields over the cpu preset, e.g. learning_rate=1e-4")
    parser.add_argument("--out", default=str(RESULTS_DIR / "demo_seeds_cpu"))
    return parser.parse_args(argv)


def overrides(pairs: list[str]) -> dict:
    """``["learning_rate=1e-4", ...]`` -> ``{"learning_rate": 1e-4}`` (values as Python literals)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def drops(values: list[float]) -> int:
    """How often the curve falls from >= DROP_FROM to <= DROP_TO between consecutive evaluations."""
    return sum(a >= DROP_FROM and b <= DROP_TO for a, b in itertools.pairwise(values))


def main(argv: list[str] | None = None) -> None:
    from gcrl_depth import RunSet, __version__, env_id
    from gcrl_depth.crl.engine.config import PRESETS
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header
    from gcrl_depth.plotting import plot_curves
    from gcrl_depth.rows import write_csv
    from gcrl_depth.stats import bootstrap_ci, iqm

    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {**PRESETS["cpu"], **overrides(args.set)}
    runs = RunSet(env_id(args.task), depth=args.depth, seeds=args.seeds, eval_episodes=args.eval_episodes,
                  epoch_timesteps=args.epoch_timesteps, log_dir=out / "runs", verbose=1, **config)
    rechecks: dict[tuple[int, int], float] = {}

    def recheck(run_set) -> bool:
        for member in run_set.members:
            if member.seed in run_set.diverged:
                continue
            seed = 1_000_003 * (1 + len(member.evaluations.results))  # other starts and goals than the evaluation's
            result = member.path.evaluate(member.engine, member.learner.params.actor, args.recheck_episodes, seed)
            rechecks[(member.seed, member.num_timesteps)] = result.time_at_goal
        return True

    start = time.perf_counter()
    runs.learn(args.timesteps, callback=recheck, progress_bar=True)
    minutes = (time.perf_counter() - start) / 60

    rows = [{"seed": m.seed, "env_steps": steps, "time_at_goal": r.time_at_goal,
             "recheck_time_at_goal": rechecks.get((m.seed, steps), float("nan"))}
            for m in runs.members for steps, r in zip(m.evaluations.env_steps, m.evaluations.results)]
    write_csv(rows, out / "curves.csv", columns=("seed", "env_steps", "time_at_goal", "recheck_time_at_goal"))
    by_seed = {m.seed: [r.time_at_goal for r in m.evaluations.results] for m in runs.members}
    recheck_by_seed = {s: [row["recheck_time_at_goal"] for row in rows if row["seed"] == s] for s in by_seed}
    steps = runs.members[0].evaluations.env_steps
    table = np.array([by_seed[s] for s in by_seed])
    recheck_table = np.array([recheck_by_seed[s] for s in by_seed])
    bands = [bootstrap_ci({"seeds": table[:, i]}, iqm) for i in range(len(steps))]
    recheck_bands = [bootstrap_ci({"seeds": recheck_table[:, i]}, iqm) for i in range(len(steps))]
    plot_curves({f"IQM over {len(by_seed)} seeds, {args.eval_episodes} episodes": (steps, *map(list, zip(*bands))),
                 f"same policies, {args.recheck_episodes} fresh episodes": (steps, *map(list, zip(*recheck_bands)))},
                out / "curve.png", title=f"{args.task} depth {args.depth}: the demo over {len(by_seed)} seeds")

    gap = np.abs(table - recheck_table)
    label = " ".join(args.set) or "none"
    lines = results_header(f"The demo's run over {len(by_seed)} seeds ({args.task}, depth {args.depth})",
                           "demo_seeds.py", __version__)
    lines += [f"cpu preset, overrides: {label}. {args.timesteps:,} env steps, an evaluation every "
              f"{args.epoch_timesteps:,} ({args.eval_episodes} episodes on the farthest goals), each policy evaluated again "
              f"on {args.recheck_episodes} fresh episodes. Trained in {minutes:.1f} min ({len(by_seed)} seeds as one run set).",
              "", "![curve](curve.png)", "",
              f"| env steps | IQM ({args.eval_episodes} ep.) [95% CI] | IQM ({args.recheck_episodes} fresh ep.) [95% CI] | per seed |",
              "|---:|---|---|---|"]
    for i, step in enumerate(steps):
        (p, lo, hi), (rp, rlo, rhi) = bands[i], recheck_bands[i]
        lines.append(f"| {step:,} | {p:.1f} [{lo:.1f}, {hi:.1f}] | {rp:.1f} [{rlo:.1f}, {rhi:.1f}] | "
                     + ", ".join(f"{v:.0f}" for v in table[:, i]) + " |")
    lines += ["", f"| seed | drops ({args.eval_episodes} ep.) | drops ({args.recheck_episodes} ep.) | best (at env steps) | final | "
              "headline (last 5) |", "|---:|---:|---:|---|---:|---:|"]
    for seed, values in by_seed.items():
        best = int(np.argmax(values))
        lines.append(f"| {seed} | {drops(values)} | {drops(recheck_by_seed[seed])} | {values[best]:.1f} ({steps[best]:,}) | "
                     f"{values[-1]:.1f} | {np.mean(values[-5:]):.1f} |")
    lines += ["", f"A drop is a fall from >= {DROP_FROM:.0f} to <= {DROP_TO:.0f} steps at the goal between consecutive "
              f"evaluations. Mean |{args.eval_episodes}-episode - {args.recheck_episodes}-episode| time at goal of the same "
              f"policy: {np.nanmean(gap):.1f} (median {np.nanmedian(gap):.1f}, max {np.nanmax(gap):.1f}); mean change between "
              f"consecutive evaluations of one seed: {np.mean(np.abs(np.diff(table, axis=1))):.1f}.",
              f"Final evaluation IQM {bands[-1][0]:.1f} [{bands[-1][1]:.1f}, {bands[-1][2]:.1f}]; best evaluation per seed, IQM "
              f"{iqm(table.max(axis=1)):.1f}."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    runs.close()


if __name__ == "__main__":
    main()
