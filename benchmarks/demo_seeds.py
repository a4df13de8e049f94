"""The demo's run over several seeds: is its curve's swing evaluation noise or the policy changing?

Trains ``make demo``'s setup (DeepCRL, cpu preset, PointUMaze, evaluation on the farthest goals)
for every seed as one run set. At each evaluation (``--eval-episodes`` episodes, the demo's 16)
every member is evaluated again on ``--recheck-episodes`` fresh episodes (other starts and
goals): where the two agree and the curve still drops, the policy changed (collapse), not the
evaluation's luck. Writes into ``--out``: ``curves.csv`` (seed, env steps, both evaluations),
``summary.md`` (IQM over seeds with 95% intervals by env steps, drops per seed, agreement of
the two evaluations, best and final evaluations, and each seed's best policy on the fresh
episodes: the number the demo reports) and ``curve.png``; each seed's logs and the model of
its best evaluation go under ``runs/seed_<s>/`` (not committed), its ``progress.csv`` also
under ``logs/seed_<s>/`` (committed; ``gcrl-depth plot OUT/logs`` draws them).

    python -m benchmarks.demo_seeds --seeds 0 1 2 3 4 --out benchmarks/results/demo_seeds_cpu
    python -m benchmarks.demo_seeds --set learning_rate=1e-4 --out /tmp/demo_lr1e-4
"""

from __future__ import annotations

import argparse
import ast
import itertools
import shutil
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
    parser.add_argument("--report-only", action="store_true", help="write summary.md and curve.png again from --out's curves.csv")
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
    from gcrl_depth.rows import read_csv, write_csv

    args = parse_args(argv)
    out = Path(args.out)
    if args.report_only:
        rows, minutes = read_csv(out / "curves.csv"), None
    else:
        rows, minutes = train(args, out)
        write_csv(rows, out / "curves.csv", columns=("seed", "env_steps", "time_at_goal", "recheck_time_at_goal"))
    report(rows, args, out, minutes)


def train(args: argparse.Namespace, out: Path) -> tuple[list[dict], float]:
    """Every seed's evaluations as rows (seed, env steps, time at goal, the re-check's), and the minutes it took."""
    from gcrl_depth import RunSet, env_id
    from gcrl_depth.callbacks import SaveBestModel
    from gcrl_depth.crl.engine.config import PRESETS

    out.mkdir(parents=True, exist_ok=True)
    runs = RunSet(env_id(args.task), depth=args.depth, seeds=args.seeds, eval_episodes=args.eval_episodes,
                  epoch_timesteps=args.epoch_timesteps, log_dir=out / "runs", verbose=1,
                  **{**PRESETS["cpu"], **overrides(args.set)})
    rechecks: dict[tuple[int, int], float] = {}
    keepers = {m.seed: SaveBestModel(out / "runs" / f"seed_{m.seed}", metric="time_at_goal") for m in runs.members}
    for member in runs.members:
        keepers[member.seed].init_callback(member)

    def recheck(run_set) -> bool:
        for member in run_set.members:
            if member.seed in run_set.diverged:
                continue
            seed = 1_000_003 * (1 + len(member.evaluations.results))  # other starts and goals than the evaluation's
            result = member.path.evaluate(member.engine, member.learner.params.actor, args.recheck_episodes, seed)
            rechecks[(member.seed, member.num_timesteps)] = result.time_at_goal
            keepers[member.seed].update_locals({"evaluation": member.evaluations.results[-1]})
            keepers[member.seed].on_step()  # saves best_model.zip at a new best (the first of ties)
        return True

    start = time.perf_counter()
    try:
        runs.learn(args.timesteps, callback=recheck, progress_bar=True)
    finally:
        runs.close()
    for member in runs.members:  # the logs worth committing, beside the run folders that are not
        logs = out / "logs" / f"seed_{member.seed}"
        logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "runs" / f"seed_{member.seed}" / "progress.csv", logs / "progress.csv")
    rows = [{"seed": m.seed, "env_steps": steps, "time_at_goal": r.time_at_goal,
             "recheck_time_at_goal": rechecks.get((m.seed, steps), float("nan"))}
            for m in runs.members for steps, r in zip(m.evaluations.env_steps, m.evaluations.results)]
    return rows, (time.perf_counter() - start) / 60


def report(rows: list[dict], args: argparse.Namespace, out: Path, minutes: float | None) -> None:
    """``summary.md`` and ``curve.png`` from the rows."""
    from gcrl_depth import __version__
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header
    from gcrl_depth.plotting import plot_curves
    from gcrl_depth.run_curves import pooled_band
    from gcrl_depth.stats import bootstrap_ci, iqm

    seeds = sorted({row["seed"] for row in rows})
    steps = sorted({row["env_steps"] for row in rows if row["seed"] == seeds[0]})
    table = np.array([[row["time_at_goal"] for row in rows if row["seed"] == s] for s in seeds])
    recheck_table = np.array([[row["recheck_time_at_goal"] for row in rows if row["seed"] == s] for s in seeds])
    band = pooled_band([list(zip(steps, values)) for values in table])  # (steps, IQM, low, high) over the seeds
    recheck_band = pooled_band([list(zip(steps, values)) for values in recheck_table])
    plot_curves({f"IQM over {len(seeds)} seeds, {args.eval_episodes} episodes": band,
                 f"same policies, {args.recheck_episodes} fresh episodes": recheck_band},
                out / "curve.png", title=f"{args.task} depth {args.depth}: the demo over {len(seeds)} seeds")

    best = table.argmax(axis=1)  # each seed's best evaluation, as the demo keeps it
    best_recheck = recheck_table[np.arange(len(seeds)), best]
    gap = np.abs(table - recheck_table)
    took = f" Trained in {minutes:.1f} min ({len(seeds)} seeds as one run set)." if minutes is not None else ""
    lines = results_header(f"The demo's run over {len(seeds)} seeds ({args.task}, depth {args.depth})",
                           "demo_seeds.py", __version__)
    lines += [f"cpu preset, overrides: {' '.join(args.set) or 'none'}. {args.timesteps:,} env steps, an evaluation every "
              f"{args.epoch_timesteps:,} ({args.eval_episodes} episodes on the farthest goals), each policy evaluated again "
              f"on {args.recheck_episodes} fresh episodes.{took}",
              "", "![curve](curve.png)", "",
              f"| env steps | IQM ({args.eval_episodes} ep.) [95% CI] | IQM ({args.recheck_episodes} fresh ep.) [95% CI] | per seed |",
              "|---:|---|---|---|"]
    for i, step in enumerate(steps):
        (p, lo, hi), (rp, rlo, rhi) = (x[i] for x in band[1:]), (x[i] for x in recheck_band[1:])
        lines.append(f"| {step:,} | {p:.1f} [{lo:.1f}, {hi:.1f}] | {rp:.1f} [{rlo:.1f}, {rhi:.1f}] | "
                     + ", ".join(f"{v:.0f}" for v in table[:, i]) + " |")
    lines += ["", f"| seed | drops ({args.eval_episodes} ep.) | drops ({args.recheck_episodes} ep.) | best (at env steps) | "
              f"best, on {args.recheck_episodes} fresh ep. | final | headline (last 5) |", "|---:|---:|---:|---|---:|---:|---:|"]
    for k, seed in enumerate(seeds):
        values = table[k]
        lines.append(f"| {seed} | {drops(list(values))} | {drops(list(recheck_table[k]))} | {values[best[k]]:.1f} "
                     f"({steps[best[k]]:,}) | {best_recheck[k]:.1f} | {values[-1]:.1f} | {np.mean(values[-5:]):.1f} |")
    point, low, high = bootstrap_ci({"seeds": best_recheck}, iqm)
    lines += ["", f"A drop is a fall from >= {DROP_FROM:.0f} to <= {DROP_TO:.0f} steps at the goal between consecutive "
              f"evaluations. Mean |{args.eval_episodes}-episode - {args.recheck_episodes}-episode| time at goal of the same "
              f"policy: {np.nanmean(gap):.1f} (median {np.nanmedian(gap):.1f}, max {np.nanmax(gap):.1f}); mean change between "
              f"consecutive evaluations of one seed: {np.mean(np.abs(np.diff(table, axis=1))):.1f}.", "",
              f"Final evaluation: IQM {band[1][-1]:.1f} [{band[2][-1]:.1f}, {band[3][-1]:.1f}]. Last-5 mean: IQM "
              f"{iqm(table[:, -5:].mean(axis=1)):.1f}. Best evaluation per seed: IQM {iqm(table.max(axis=1)):.1f}; that "
              f"policy on {args.recheck_episodes} fresh episodes (what the demo reports): IQM {point:.1f} [{low:.1f}, {high:.1f}]."]
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
