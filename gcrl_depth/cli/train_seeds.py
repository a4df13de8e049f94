"""``gcrl-depth train ENV --seeds 0 1 2``: several seeds as one run set, each seed in ``seed_<s>/``.

The run folder is a campaign's (:mod:`gcrl_depth.run_dirs`): ``metadata.json``, ``checkpoints/``
(with ``--save-every``), and per seed ``progress.csv``, ``curve.csv``, ``best/best_model.zip`` and
``final_model.zip``. ``--resume`` continues an interrupted set of the same settings from its
newest checkpoint.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any


def train_set(args: argparse.Namespace, config: dict[str, Any], depth: int, train_id: str, env_kwargs: dict[str, Any],
              eval_env_kwargs: dict[str, Any] | None, log_dir: Path) -> int:
    """Train ``args.seeds`` as one run set in ``log_dir``; the exit code."""
    from gcrl_depth import experiments, run_dirs
    from gcrl_depth.crl.env_paths.device import evaluation_env
    from gcrl_depth.envs import is_gcrl_id, task_name
    from gcrl_depth.interrupts import PREEMPTED_EXIT, Preempted

    if args.eval_episodes <= 0:
        raise ValueError("--seeds: a run set records its curve at its evaluations; give --eval-episodes of at least 1")
    if eval_env_kwargs is not None:
        eval_env, eval_kwargs = train_id, eval_env_kwargs
    elif is_gcrl_id(train_id):
        eval_env, eval_kwargs = evaluation_env(task_name(train_id), env_kwargs)
    else:
        eval_env, eval_kwargs = None, None
    spec = experiments.RunSpec(train_id, depth, tuple(args.seeds), args.timesteps, args.epoch_timesteps,
                               args.eval_episodes, eval_env=eval_env, env_kwargs=env_kwargs, eval_env_kwargs=eval_kwargs,
                               config=config)
    prepare(log_dir, args.overwrite, bool(args.resume))
    checkpoints = experiments.Checkpoints(every=args.save_every, buffer=args.save_buffer, keep=args.keep)
    try:
        rows = experiments.train_runs(spec, run_dir=log_dir, resume=bool(args.resume), progress_bar=args.progress,
                                      wandb_project=args.wandb, checkpoints=checkpoints, data_parallel=args.data_parallel)
    except Preempted:
        print(f"stopped by SIGTERM after checkpointing; continue with the same command and --resume {log_dir}")
        return PREEMPTED_EXIT
    for seed, curve in sorted(rows.items()):
        final = curve[-1]["time_at_goal"] if curve else float("nan")
        print(f"seed {seed}: {len(curve)} evaluations, final time at goal {final:.1f}; "
              f"{run_dirs.member_dir(log_dir, seed) / 'final_model.zip'}")
    return 0


def prepare(folder: Path, overwrite: bool, resume: bool) -> None:
    """A run set's folder: new, replaced (``overwrite``) or holding a checkpoint to continue (``resume``)."""
    from gcrl_depth import run_dirs

    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other: replace the run in --log-dir, or continue it")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--log-dir {str(folder)!r} is a file; expected a folder")
    held = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    if resume and not run_dirs.resumable(folder):
        raise ValueError(f"--resume: {str(folder)!r} holds no checkpoint of a run set to continue from (a finished set "
                         "keeps none; an interrupted one needs --save-every)")
    if held and not resume:
        if not overwrite:
            raise ValueError(f"--log-dir {str(folder)!r} already holds a run ({', '.join(held[:4])}); pass --overwrite "
                             "to replace it, --resume to continue it, or another --log-dir")
        shutil.rmtree(folder)

