"""``gcrl-depth distill TEACHER --depth 4``: a shallow student learns from a trained deep teacher.

TEACHER is a model zip, a run folder holding ``final_model.zip``, or a run set's folder
(``seed_<s>/final_model.zip``: one student per seed, trained as one run set). The output
folder holds the student's ``final_model.zip`` (per seed in ``seed_<s>/`` for a set), its
``progress.csv`` and ``curve.csv``, and ``lesson.json`` (the teacher, the lesson, each
student's final evaluation).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gcrl_depth.cli.arg_types import HelpFormatter, non_negative_int, positive_int
from gcrl_depth.cli.config_flags import add_config_arguments, config_values
from gcrl_depth.crl.engine.config import PRESETS

DISTILL_FLAGS = ("acting", "actor_loss", "actor_weight", "critic_weight", "embedding_weight", "crl_weight",
                 "anneal_timesteps")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("distill", help="distill a trained (deep) model into a shallow student",
                                 formatter_class=HelpFormatter)
    parser.add_argument("teacher", help="the teacher: a model zip, a run folder (final_model.zip) or a run set's folder "
                        "(seed_<s>/final_model.zip: one student per seed)")
    parser.add_argument("--timesteps", type=positive_int, default=1_000_000, help="env steps of the lesson (prefill included)")
    parser.add_argument("--acting", choices=("learner", "teacher"), default="learner",
                        help="who steps the envs: the student, its states labelled by the teacher (DAgger style), or the "
                             "teacher")
    parser.add_argument("--actor-loss", choices=("kl", "regression"), default="kl",
                        help="KL(teacher || student) of the tanh-Gaussian policies, or squared error on mean and log-std")
    parser.add_argument("--actor-weight", type=float, default=1.0, help="weight of the actor term")
    parser.add_argument("--critic-weight", type=float, default=1.0,
                        help="weight of the critic term: the teacher's B x B logits as soft targets (row-softmax KL)")
    parser.add_argument("--embedding-weight", type=float, default=0.0,
                        help="weight of matching phi and psi to the teacher's (needs its repr_dim)")
    parser.add_argument("--crl-weight", type=float, default=0.0, help="weight of the student's ordinary CRL losses")
    parser.add_argument("--anneal-timesteps", type=non_negative_int, default=0,
                        help="env steps over which the distillation weights fall linearly to 0 (0: never; with "
                             "--crl-weight, kickstarting)")
    add_output_arguments(parser, "runs/distill-<teacher>-d<depth>")
    add_config_arguments(parser, exclude=("actor_depth", "critic_depth", "actor_width", "critic_width"))
    parser.set_defaults(run=run)


def add_output_arguments(parser: argparse.ArgumentParser, default_folder: str) -> None:
    """The output and evaluation flags distill and collect-learn share."""
    parser.add_argument("--eval-episodes", type=non_negative_int, default=128, help="episodes per evaluation (0: none)")
    parser.add_argument("--epoch-timesteps", type=positive_int, default=None,
                        help="env steps between evaluations (default: --timesteps / 10, at most 1,000,000)")
    parser.add_argument("--log-dir", default=None, help=f"output folder (default {default_folder})")
    parser.add_argument("--overwrite", action="store_true", help="replace what --log-dir holds")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")


def student_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The CRLConfig fields the command line sets: the preset only when given (else the teacher's
    settings stay), then the file, then the flags."""
    return config_values(args, args.config, PRESETS[args.preset] if args.preset_given else {})


def teacher_models(teacher: str) -> list[Path]:
    """The model zips a TEACHER argument names (one, or a run set's, by seed)."""
    path = Path(teacher)
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"teacher {teacher!r} does not exist (expected a model zip, a run folder or a run set's "
                                "folder)")
    if (path / "final_model.zip").is_file():
        return [path / "final_model.zip"]
    members = sorted(path.glob("seed_*/final_model.zip"), key=lambda p: p.parent.name.split("_", 1)[1].zfill(20))
    if not members:
        raise FileNotFoundError(f"teacher {teacher!r} holds no final_model.zip (nor seed_<s>/final_model.zip)")
    return members


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.cli.train import evaluation_interval
    from gcrl_depth.cli.train_seeds import prepare
    from gcrl_depth.crl.training.lessons import distill
    from gcrl_depth.run_lock import folder_lock

    teachers = teacher_models(args.teacher)
    overrides = student_settings(args)
    depth = overrides.pop("depth", 4)
    args.epoch_timesteps = args.epoch_timesteps or evaluation_interval(args.timesteps)
    name = Path(args.teacher).stem if Path(args.teacher).is_file() else Path(args.teacher).resolve().name
    log_dir = Path(args.log_dir or Path("runs") / f"distill-{name}-d{depth}")
    lesson = {flag: getattr(args, flag) for flag in DISTILL_FLAGS}
    inside = [str(t) for t in teachers if log_dir.resolve() in t.resolve().parents]
    if inside:
        raise ValueError(f"--log-dir {str(log_dir)!r} holds the teacher {inside[0]}: write the student elsewhere")
    with folder_lock(log_dir):
        prepare(log_dir, args.overwrite, False)
        log_dir.mkdir(parents=True, exist_ok=True)
        student = distill([str(t) for t in teachers] if len(teachers) > 1 else str(teachers[0]), depth,
                          timesteps=args.timesteps, eval_episodes=args.eval_episodes,
                          epoch_timesteps=args.epoch_timesteps, log_dir=log_dir, progress_bar=args.progress,
                          **lesson, **overrides)
        summary = save_models(student, log_dir)
        write_summary(log_dir, {"command": ["gcrl-depth", *args.argv], "students": summary})
    return 0


def save_models(holder: Any, folder: Path) -> list[dict[str, Any]]:
    """Each model's ``final_model.zip`` and ``curve.csv`` (in ``seed_<s>/`` for a run set); one summary row per model."""
    from gcrl_depth import run_dirs
    from gcrl_depth.crl.training.lessons import members_of

    rows = []
    try:
        for model in members_of(holder):
            where = folder if model is holder else run_dirs.member_dir(folder, model.seed)
            where.mkdir(parents=True, exist_ok=True)
            curve = [{"env_steps": s, **vars(r)} for s, r in zip(model.evaluations.env_steps, model.evaluations.results)]
            run_dirs.write_curve(where, curve)
            saved = model.save(where / "final_model.zip")
            final = model.evaluations.results[-1] if model.evaluations.results else None
            rows.append({"seed": model.seed, "depth": model.config.depth, "model": saved,
                         "num_timesteps": model.num_timesteps, "lineage": model.lineage,
                         "final_time_at_goal": None if final is None else final.time_at_goal,
                         "headline_time_at_goal": model.evaluations.headline() if final else None})
            print(f"seed {model.seed}: depth {model.config.depth}, {model.num_timesteps:,} env steps, final time at goal "
                  f"{'-' if final is None else f'{final.time_at_goal:.1f}'}; {saved}")
    finally:
        holder.close()
    return rows


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    """``folder/lesson.json``, written atomically."""
    from gcrl_depth.files import atomic_path

    with atomic_path(folder / "lesson.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1, default=str) + "\n")
