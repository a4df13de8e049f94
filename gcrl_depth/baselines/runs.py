"""SB3 baselines' runs in the campaigns' shape: HER-relabelled SAC / TD3 trained in chunks, evaluated by
the project's evaluator after each, as tidy rows (:mod:`gcrl_depth.rows`), in a run folder if given."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

from gcrl_depth import run_dirs
from gcrl_depth.baselines.factory import make_baseline, sb3_policy
from gcrl_depth.crl.training.persistence import physics_of
from gcrl_depth.evaluation import evaluate
from gcrl_depth.experiments import short_name
from gcrl_depth.files import atomic_path
from gcrl_depth.goal_envs import vector_goal_env
from gcrl_depth.logger import Logger
from gcrl_depth.machine import write_run_metadata
from gcrl_depth.rows import METRICS, evaluation_row


def sb3_settings(algo: str, env_id: str, seed: int, timesteps: int, eval_every: int, eval_episodes: int, eval_env: str,
                 env_kwargs: dict[str, Any] | None = None, depth: int | None = None, width: int = 256,
                 **sb3_kwargs: Any) -> dict[str, Any]:
    """What a baseline's run folder records of :func:`run_sb3`'s arguments (other settings: another run)."""
    return {"algo": algo, "env_id": env_id, "seed": seed, "timesteps": timesteps, "eval_every": eval_every,
            "eval_episodes": eval_episodes, "eval_env": eval_env, "env_kwargs": env_kwargs or {}, "depth": depth,
            "width": width, "sb3_kwargs": sb3_kwargs}


def run_sb3(algo: str, env_id: str, seed: int, timesteps: int, eval_every: int, eval_episodes: int, eval_env: str,
            env_kwargs: dict[str, Any] | None = None, depth: int | None = None, width: int = 256,
            run_dir: str | os.PathLike | None = None, resume: bool = True, wandb_project: str | None = None,
            **sb3_kwargs: Any) -> list[dict[str, Any]]:
    """Train an SB3 baseline with HER in chunks of ``eval_every`` env steps, evaluating after each.

    With ``run_dir`` the run keeps its folder (:mod:`gcrl_depth.run_dirs`): metadata, the rows so
    far in ``curve.csv``, after every evaluation the model and its replay buffer in
    ``checkpoints/`` (continued from with ``resume``), and ``final_model.zip``. With
    ``wandb_project`` every evaluation is also logged there (``eval/<metric>``)."""
    env_kwargs = env_kwargs or {}
    settings = sb3_settings(algo, env_id, seed, timesteps, eval_every, eval_episodes, eval_env, env_kwargs, depth, width,
                            **sb3_kwargs)
    resuming = run_dir is not None and run_dirs.open_run_dir(run_dir, settings, resume)
    train_env = gym.make(env_id, **env_kwargs)
    physics = physics_of(getattr(train_env.unwrapped, "core", None))  # None for an env not of gcrl_depth
    model = make_baseline(algo, train_env, seed=seed, depth=depth, width=width, **sb3_kwargs)
    rows: list[dict[str, Any]] = []
    if resuming:
        model = run_dirs.resume_sb3(model, run_dir)  # type: ignore[arg-type]
        rows = run_dirs.read_curve(run_dir, model.num_timesteps)  # type: ignore[arg-type]
        print(f"{run_dir}: resuming at {model.num_timesteps:,} env steps", flush=True)
    if run_dir is not None:
        write_run_metadata(run_dir, {}, settings, physics=physics)
    eval_envs = vector_goal_env(eval_env, eval_episodes, **env_kwargs)
    params = sum(p.numel() for p in model.policy.parameters())
    run = {"algo": algo, "depth": depth if depth is not None else 2, "width": width, "env_id": env_id, "seed": seed,
           "params": int(params)}
    wall = rows[-1]["wall_s"] if rows else 0.0
    logger = None
    if wandb_project is not None:
        init = run_dirs.wandb_settings(run_dir, wandb_project, f"{algo}_{short_name(env_id)}", seed, settings)
        logger = Logger(run_dir, ("wandb",), wandb_init=init)
    try:
        while model.num_timesteps < timesteps:
            start = time.perf_counter()
            model.learn(min(eval_every, timesteps - model.num_timesteps), reset_num_timesteps=False)
            wall += time.perf_counter() - start
            result = evaluate(sb3_policy(model), eval_envs, seed=seed * 7919 + len(rows))
            rows.append(evaluation_row(run, model.num_timesteps, wall, result))
            if logger is not None:
                for metric in METRICS:
                    logger.record(f"eval/{metric}", rows[-1][metric])
                logger.record("time/wall_s", wall)
                logger.dump(model.num_timesteps)
            if run_dir is not None:
                run_dirs.write_curve(run_dir, rows)  # the rows first: a row past the checkpoint is dropped on resume
                run_dirs.checkpoint_sb3(model, run_dir)
    finally:
        eval_envs.close()
        if logger is not None:
            logger.close()
    if run_dir is not None:
        with atomic_path(Path(run_dir) / "final_model.zip") as tmp:
            model.save(tmp)
        run_dirs.finish(run_dir)
    return rows


