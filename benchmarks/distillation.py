"""Deep teacher -> shallow student, and the paper's collector/learner control, measured over seeds.

Five arms on one task, each a run set of ``--seeds`` (cpu preset unless ``--preset``):

* ``teacher``: plain CRL at ``--teacher-depth`` for ``--teacher-timesteps``;
* ``distilled``: a ``--student-depth`` student distilled from each seed's teacher
  (:func:`gcrl_depth.crl.training.lessons.distill`, its defaults: the student acts, policy KL +
  logit soft targets) for ``--student-timesteps``;
* ``scratch``: plain CRL at ``--student-depth`` for the same ``--student-timesteps``;
* ``collector`` and ``learner``: :func:`~gcrl_depth.crl.training.lessons.collect_learn` with a
  collector of the teacher's depth and a learner of the student's, for ``--teacher-timesteps``.

Then the latency of one action (batch 1, this machine's CPU) of a teacher and a student: the
compiled actor alone, and ``DeepCRL.predict`` (host conversion included).

Each arm's curves go under ``--out/<arm>/seed_<s>/``, its models under ``--models`` (not
committed: tens of MB); an arm that finished
(``<arm>/done.json``) is not trained again, so a stopped run goes on where it stopped.
``summary.md`` gives each arm's final time at goal per seed and the IQM with a 95% bootstrap
interval over seeds; ``distillation.png`` draws the intervals and the mean curves.

    python -m benchmarks.distillation --out benchmarks/results/distillation_cpu
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import RESULTS_DIR

ARMS = ("teacher", "distilled", "scratch", "collector", "learner")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="PointUMaze")
    parser.add_argument("--teacher-depth", type=int, default=16)
    parser.add_argument("--student-depth", type=int, default=4)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--teacher-timesteps", type=int, default=200_000)
    parser.add_argument("--student-timesteps", type=int, default=200_000)
    parser.add_argument("--epoch-timesteps", type=int, default=40_000)
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="CRLConfig fields over the preset")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS),
                        help="the arms to train (collector and learner go together)")
    parser.add_argument("--teacher-models", default=None, metavar="DIR",
                        help="take the teachers from DIR/seed_<s>/final_model.zip instead of training them")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, help="task options (JSON)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "distillation_cpu"))
    parser.add_argument("--models", default="runs/distillation_cpu", help="where the models go")
    parser.add_argument("--report-only", action="store_true", help="write summary.md and the plot from --out again")
    return parser.parse_args(argv)


def env_of(args: argparse.Namespace, num_envs: int) -> Any:
    from gcrl_depth.envs import env_id
    from gcrl_depth.goal_envs import vector_goal_env

    name = env_id(args.task)
    return vector_goal_env(name, num_envs, **args.env_kwargs) if args.env_kwargs else name


def save_arm(trained: list[Any], out: Path, models: Path, arm: str, seconds: float) -> None:
    """Each member's curve under ``out/arm/seed_<s>/`` and model under ``models/arm/seed_<s>/``, then
    ``done.json`` (last: the arm is finished)."""
    from gcrl_depth.files import atomic_path
    from gcrl_depth.rows import write_csv

    for model in trained:
        folder = out / arm / f"seed_{model.seed}"
        folder.mkdir(parents=True, exist_ok=True)
        model.save(models / arm / f"seed_{model.seed}" / "final_model.zip")
        write_csv([{"env_steps": s, "time_at_goal": r.time_at_goal, "success_rate": r.success_rate}
                   for s, r in zip(model.evaluations.env_steps, model.evaluations.results)], folder / "curve.csv",
                  columns=("env_steps", "time_at_goal", "success_rate"))
    with atomic_path(out / arm / "done.json") as tmp:
        Path(tmp).write_text(json.dumps({"seconds": seconds, "depth": trained[0].config.depth,
                                         "num_timesteps": trained[0].num_timesteps,
                                         "lineage": trained[0].lineage}, default=str) + "\n")
    print(f"{arm}: done in {seconds / 60:.1f} min", flush=True)


def train_arms(args: argparse.Namespace, out: Path, models: Path) -> None:
    from benchmarks.demo_seeds import overrides
    from gcrl_depth.crl.engine.config import PRESETS
    from gcrl_depth.crl.training.lessons import collect_learn, distill, members_of
    from gcrl_depth.crl.training.run_set import RunSet

    preset = {**PRESETS[args.preset], **overrides(args.set)}
    common = {"eval_episodes": args.eval_episodes, "epoch_timesteps": args.epoch_timesteps}
    num_envs = preset.get("num_envs", 512)

    def done(arm: str) -> bool:
        return arm not in args.arms or (out / arm / "done.json").exists()

    if args.teacher_models and not (out / "teacher" / "done.json").exists():
        take_teachers(args, out, models)

    for arm, depth, steps in (("teacher", args.teacher_depth, args.teacher_timesteps),
                              ("scratch", args.student_depth, args.student_timesteps)):
        if not done(arm):
            start = time.perf_counter()
            runs = RunSet(env_of(args, num_envs), depth, args.seeds, **common, **preset)
            runs.learn(steps, progress_bar=True)
            save_arm(runs.members, out, models, arm, time.perf_counter() - start)
            runs.close()
        if arm == "teacher" and not done("distilled"):
            start = time.perf_counter()
            teachers = [teacher_path(args, models, s) for s in args.seeds]
            student = distill(teachers, args.student_depth, timesteps=args.student_timesteps, progress_bar=True, **common)
            save_arm(members_of(student), out, models, "distilled", time.perf_counter() - start)
            student.close()
    if not (done("collector") and done("learner")):
        start = time.perf_counter()
        learner, collector = collect_learn(env_of(args, num_envs), args.teacher_depth, args.student_depth,
                                           timesteps=args.teacher_timesteps, seeds=args.seeds, progress_bar=True,
                                           **common, **preset)
        seconds = time.perf_counter() - start
        save_arm(members_of(learner), out, models, "learner", seconds)
        save_arm(members_of(collector), out, models, "collector", seconds)
        learner.close()
        collector.close()
    if "distilled" in args.arms and not (out / "latency.json").exists():
        measure_latency(args, out, models, args.seeds[0])


def teacher_path(args: argparse.Namespace, models: Path, seed: int) -> str:
    root = Path(args.teacher_models) if args.teacher_models else models / "teacher"
    return str(root / f"seed_{seed}" / "final_model.zip")


def take_teachers(args: argparse.Namespace, out: Path, models: Path) -> None:
    """The teacher arm from models trained elsewhere (their curves from their own evaluations)."""
    from gcrl_depth.crl.training.agent import DeepCRL

    teachers = [DeepCRL.load(teacher_path(args, models, s), verbose=0) for s in args.seeds]
    for teacher in teachers:
        teacher.lineage = {"kind": "taken", "from": args.teacher_models}
    save_arm(teachers, out, models, "teacher", 0.0)
    for teacher in teachers:
        teacher.close()


def measure_latency(args: argparse.Namespace, out: Path, models: Path, seed: int, calls: int = 2000) -> None:
    """Seconds per action at batch 1 of the teacher and the distilled student (median of ``calls``)."""
    import jax

    from gcrl_depth.crl.engine import compiled
    from gcrl_depth.crl.training.agent import DeepCRL
    from gcrl_depth.files import atomic_path

    rows = {}
    for arm in ("teacher", "distilled"):
        path = teacher_path(args, models, seed) if arm == "teacher" else models / arm / f"seed_{seed}" / "final_model.zip"
        model = DeepCRL.load(path, verbose=0)
        obs_space = model.get_env().single_observation_space
        obs = {k: np.asarray(v, np.float32)[None] for k, v in obs_space.sample().items()}
        actor, engine = model.learner.params.actor, model.engine
        o, g = jax.device_put(obs["observation"]), jax.device_put(obs["desired_goal"])
        for _ in range(50):
            compiled.act(actor, o, g, engine).block_until_ready()
        actor_s = []
        for _ in range(calls):
            t = time.perf_counter()
            compiled.act(actor, o, g, engine).block_until_ready()
            actor_s.append(time.perf_counter() - t)
        single = {k: v[0] for k, v in obs.items()}
        predict_s = []
        for _ in range(calls // 4):
            t = time.perf_counter()
            model.predict(single)
            predict_s.append(time.perf_counter() - t)
        rows[arm] = {"depth": model.config.depth, "width": model.config.width,
                     "actor_us": 1e6 * float(np.median(actor_s)), "predict_us": 1e6 * float(np.median(predict_s))}
        model.close()
    rows["device"] = jax.devices()[0].device_kind
    with atomic_path(out / "latency.json") as tmp:
        Path(tmp).write_text(json.dumps(rows, indent=1) + "\n")


def final_scores(out: Path, arm: str, seeds: list[int], last: int = 1) -> list[float] | None:
    """Each seed's time at goal, the mean of its ``last`` evaluations; None until the arm has curves."""
    from gcrl_depth.rows import read_csv

    curves = [out / arm / f"seed_{s}" / "curve.csv" for s in seeds]
    if not all(c.exists() for c in curves):
        return None
    return [float(np.mean([float(r["time_at_goal"]) for r in read_csv(c)[-last:]])) for c in curves]


def report(args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gcrl_depth import __version__
    from gcrl_depth.machine import results_header
    from gcrl_depth.rows import read_csv
    from gcrl_depth.stats import bootstrap_ci

    labels = {"teacher": f"teacher (depth {args.teacher_depth})",
              "distilled": f"distilled student (depth {args.student_depth})",
              "scratch": f"student from scratch (depth {args.student_depth})",
              "collector": f"collector (depth {args.teacher_depth})",
              "learner": f"learner on collector's data (depth {args.student_depth})"}
    lines = results_header("Deep teacher -> shallow student, and collector/learner", "distillation.py", __version__)
    lines += [f"{args.task}, preset `{args.preset}`, seeds {args.seeds}; teacher and collector/learner "
              f"{args.teacher_timesteps:,} env steps, students {args.student_timesteps:,}; evaluation every "
              f"{args.epoch_timesteps:,} steps on {args.eval_episodes} episodes. Final evaluation's time at goal "
              f"per seed; IQM over seeds with a 95% bootstrap interval ({len(args.seeds)} seeds: a wide, rough interval); "
              "the curves swing, so also the IQM of each seed's mean over its last 2 evaluations.", "",
              "| arm | env steps | wall min | final time at goal by seed | IQM [95% CI] | IQM of the last 2 [95% CI] |",
              "|---|---:|---:|---|---|---|"]
    intervals = {}
    for arm in ARMS:
        scores = final_scores(out, arm, args.seeds)
        if scores is None:
            if arm in args.arms:
                lines.append(f"| {labels[arm]} | - | - | not run yet | - |")
            continue
        done = json.loads((out / arm / "done.json").read_text())
        point, low, high = bootstrap_ci({args.task: scores})
        late, late_low, late_high = bootstrap_ci({args.task: final_scores(out, arm, args.seeds, last=2)})
        intervals[labels[arm]] = (point, low, high)
        lines.append(f"| {labels[arm]} | {done['num_timesteps']:,} | {done['seconds'] / 60:.0f} | "
                     f"{', '.join(f'{s:.0f}' for s in scores)} | {point:.0f} [{low:.0f}, {high:.0f}] | "
                     f"{late:.0f} [{late_low:.0f}, {late_high:.0f}] |")
    if (out / "latency.json").exists():
        latency = json.loads((out / "latency.json").read_text())
        lines += ["", f"Latency of one action at batch 1 on the {latency.pop('device', 'cpu')} (median of 2,000 calls; "
                  "`predict`: 500):", "",
                  "| model | depth | width | compiled actor (us) | DeepCRL.predict (us) |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {arm} | {row['depth']} | {row['width']} | {row['actor_us']:.0f} | {row['predict_us']:.0f} |"
                  for arm, row in latency.items()]
    if intervals:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), dpi=110)
        for row, (label, (point, low, high)) in enumerate(intervals.items()):
            color = plt.get_cmap("tab10")(row)
            left.barh(row, high - low, left=low, height=0.6, color=color, alpha=0.35)
            left.plot([point, point], [row - 0.3, row + 0.3], color=color, linewidth=2.5)
            arm = next(a for a, lab in labels.items() if lab == label)
            curves = [read_csv(out / arm / f"seed_{s}" / "curve.csv") for s in args.seeds]
            steps = [float(r["env_steps"]) for r in curves[0]]
            mean = np.mean([[float(r["time_at_goal"]) for r in c][:len(steps)] for c in curves], axis=0)
            right.plot(steps, mean, color=color, label=label)
        left.set_yticks(range(len(intervals)), list(intervals))
        left.invert_yaxis()
        left.set_xlabel("IQM final time at goal (steps of 1000), 95% CI")
        right.set_xlabel("env steps")
        right.set_ylabel("mean time at goal over seeds")
        right.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "distillation.png")
        plt.close(fig)
        lines += ["", "![intervals and curves](distillation.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        train_arms(args, out, Path(args.models))
    report(args, out)


if __name__ == "__main__":
    main()
