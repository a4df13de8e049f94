"""Experiment runs shared by the campaign scripts: DeepCRL learning curves as tidy rows.

Every run records one row per evaluation with the columns of :data:`~gcrl_depth.rows.COLUMNS`;
``wall_s`` is training time only (evaluation time excluded), so algorithms compare on what
training costs. Reporting on the rows is :mod:`gcrl_depth.reports`; SB3 baselines' runs are
:func:`gcrl_depth.baselines.runs.run_sb3`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gcrl_depth import run_dirs
from gcrl_depth.callbacks import SaveBestModel
from gcrl_depth.cli.config_flags import with_physics
from gcrl_depth.crl.checkpoints.state_store import StateStore
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.training.agent import DeepCRL
from gcrl_depth.crl.training.persistence import physics_of, save_state
from gcrl_depth.crl.training.run_set import RunSet
from gcrl_depth.envs import env_id as gcrl_env_id
from gcrl_depth.envs import eval_env_id, is_gcrl_id, task_name
from gcrl_depth.goal_envs import registered_spec, vector_goal_env
from gcrl_depth.interrupts import Preempted, PreemptionNotice
from gcrl_depth.machine import write_run_metadata
from gcrl_depth.rows import evaluation_row

# A probe measures a model at each evaluation: {"name/metric": value}; keys with "/" are measurements, not run keys.
Probe = Callable[[Any], dict[str, float]]


def resolve_env(name: str, eval_goals: str = "train", episode_length: int | None = None,
                physics: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """(training id, evaluation id, env kwargs) of a gcrl_depth task name or id, or of any Gymnasium goal env id.

    ``eval_goals="eval"`` picks a gcrl_depth maze's ``...Eval`` twin; ``episode_length``
    becomes the task option of a gcrl_depth task and ``max_episode_steps`` of another env;
    ``physics`` (the scripts' ``--physics``) the task option of a gcrl_depth task, a ValueError
    for another env or a task without that physics (:func:`~gcrl_depth.cli.config_flags.with_physics`).
    """

    if is_gcrl_id(name):
        task = task_name(name)
        kwargs = with_physics(name, {} if episode_length is None else {"episode_length": episode_length}, physics)
        return gcrl_env_id(task), eval_env_id(task) if eval_goals == "eval" else gcrl_env_id(task), kwargs
    with_physics(name, {}, physics)  # refused: the physics choice is gcrl_depth's
    train_id = registered_spec(name).id
    return train_id, train_id, {} if episode_length is None else {"max_episode_steps": episode_length}


def resolve_envs(names: Iterable[str], eval_goals: str = "train", episode_length: int | None = None,
                 physics: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """:func:`resolve_env` of every name, all before a multi-run command's first run: a bad one
    (``--physics spring`` for a task without it, ...) raises a SystemExit with its one-line message."""
    try:
        return [resolve_env(name, eval_goals, episode_length, physics) for name in names]
    except ValueError as error:
        raise SystemExit(str(error)) from None


def short_name(env_id: str) -> str:
    """A file-name friendly name of an env id: ``gcrl_depth/PointUMaze-v0`` -> ``PointUMaze``; others kept whole."""

    return task_name(env_id) if is_gcrl_id(env_id) else env_id.replace("/", "_")


def run_deep_crl(env_id: str, depth: int, seed: int, timesteps: int, eval_every: int, eval_episodes: int,
                 eval_env: str, env_kwargs: dict[str, Any] | None = None, progress_bar: bool = False,
                 eval_env_kwargs: dict[str, Any] | None = None, probe: Probe | None = None,
                 run_dir: str | os.PathLike | None = None, resume: bool = True, wandb_project: str | None = None,
                 **config: Any) -> list[dict[str, Any]]:
    """Train DeepCRL, evaluating every ``eval_every`` env steps; returns the curve rows.

    ``env_kwargs`` are task options (e.g. ``episode_length``) for training and, unless
    ``eval_env_kwargs`` are given, evaluation; ``progress_bar`` shows DeepCRL's bar;
    ``probe(model)`` adds its measurements (``"name/metric"`` keys) to every row. With
    ``run_dir`` the run trains in a run folder (:mod:`gcrl_depth.run_dirs`): logged, checkpointed
    after every evaluation and, with ``resume``, continued from its last checkpoint; a SIGTERM
    checkpoints and raises :class:`~gcrl_depth.interrupts.Preempted`. With ``wandb_project`` the
    agent also logs to that Weights & Biases project (a resumed run into the same wandb run)."""
    return run_deep_crl_set(env_id, depth, [seed], timesteps, eval_every, eval_episodes, eval_env, env_kwargs,
                            progress_bar, eval_env_kwargs, probe, run_dir=run_dir, resume=resume, as_set=False,
                            wandb_project=wandb_project, **config)[seed]


def run_deep_crl_set(env_id: str, depth: int, seeds: Sequence[int], timesteps: int, eval_every: int, eval_episodes: int,
                     eval_env: str, env_kwargs: dict[str, Any] | None = None, progress_bar: bool = False,
                     eval_env_kwargs: dict[str, Any] | None = None, probe: Probe | None = None,
                     on_evaluation: Callable[[dict[int, list[dict[str, Any]]]], None] | None = None,
                     time_limit_s: float | None = None, run_dir: str | os.PathLike | None = None, resume: bool = True,
                     as_set: bool = True, wandb_project: str | None = None, **config: Any) -> dict[int, list[dict[str, Any]]]:
    """:func:`run_deep_crl` for several seeds as one run set (one vmapped program); the curve rows by seed.

    ``wall_s`` is the run set's training time, shared by its seeds (a seed's own cost is
    that divided by the number of seeds). ``on_evaluation(rows)`` sees the rows so far after
    every evaluation (to write them as they come); with ``time_limit_s`` the set stops at
    the first evaluation after that many seconds (compile included), short of ``timesteps``.
    ``run_dir``, ``resume`` and ``wandb_project`` as :func:`run_deep_crl` (a wandb run per seed);
    ``as_set=False`` trains one seed as a plain DeepCRL (any env) rather than a run set (gcrl_depth's envs)."""

    env_kwargs = env_kwargs or {}
    seeds = list(seeds)
    settings = {"env_id": env_id, "depth": depth, "seeds": seeds, "timesteps": timesteps, "eval_every": eval_every,
                "eval_episodes": eval_episodes, "eval_env": eval_env, "env_kwargs": env_kwargs,
                "eval_env_kwargs": eval_env_kwargs, "config": config}
    resuming = run_dir is not None and run_dirs.open_run_dir(run_dir, settings, resume)
    env = vector_goal_env(env_id, config.get("num_envs", CRLConfig.num_envs), **env_kwargs)
    eval_envs = vector_goal_env(eval_env, eval_episodes, **(env_kwargs if eval_env_kwargs is None else eval_env_kwargs))
    try:
        runs = _runs(env, depth, seeds, eval_envs, eval_episodes, eval_every, run_dir, as_set, config)
        try:
            rows = _train(runs, env_id, depth, timesteps, progress_bar, probe, on_evaluation, time_limit_s, run_dir,
                          resuming, settings, wandb_project)
        finally:
            runs.close()
    finally:
        env.close()
        eval_envs.close()
    for seed, why in getattr(runs, "diverged", {}).items():
        print(f"{env_id} depth {depth} seed {seed} diverged: {why}", flush=True)
    return rows


def _runs(env: Any, depth: int, seeds: list[int], eval_envs: Any, eval_episodes: int, eval_every: int,
          run_dir: str | os.PathLike | None, as_set: bool, config: dict[str, Any]) -> Any:
    """A RunSet of ``seeds``, or (``as_set=False``) a one-member stand-in around a plain DeepCRL."""

    config = {k: v for k, v in config.items() if k != "num_envs"}  # the vector env has them
    if as_set:
        return RunSet(env, depth=depth, seeds=seeds, eval_env=eval_envs, eval_episodes=eval_episodes,
                      epoch_timesteps=eval_every, log_dir=run_dir, **config)
    (seed,) = seeds
    log_dir = None if run_dir is None else str(run_dir)
    return _SingleRun(DeepCRL(env, depth=depth, seed=seed, eval_env=eval_envs, eval_episodes=eval_episodes,
                              epoch_timesteps=eval_every, verbose=0, log_dir=log_dir, **config), env)


class _SingleRun:
    """One DeepCRL with a run set's training surface (members, learn with a callback, save_state, resume)."""

    def __init__(self, model: Any, env: Any) -> None:
        self.members, self.env = [model], env
        self.diverged: dict[int, str] = {}

    @property
    def seeds(self) -> list[int]:
        return [self.members[0].seed]

    def learn(self, total_timesteps: int, callback: Callable[[Any], Any], progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> None:
        self.members[0].learn(total_timesteps, callback=lambda locals_, globals_: callback(self),
                              progress_bar=progress_bar, reset_num_timesteps=reset_num_timesteps)

    def save_state(self, store: Any) -> None:
        save_state(self.members[0], store)

    def resume(self, path: str | os.PathLike) -> _SingleRun:
        model = self.members[0]
        loaded = DeepCRL.load(path, env=self.env, eval_env=model.eval_env, eval_episodes=model.eval_episodes,
                              epoch_timesteps=model.epoch_timesteps, verbose=0, log_dir=model.log_dir)
        model.close()
        self.members = [loaded]
        return self

    def close(self) -> None:
        self.members[0].close()


def _train(runs: Any, env_id: str, depth: int, timesteps: int, progress_bar: bool, probe: Probe | None,
           on_evaluation: Callable[[dict[int, list[dict[str, Any]]]], None] | None, time_limit_s: float | None,
           run_dir: str | os.PathLike | None, resuming: bool, settings: dict[str, Any],
           wandb_project: str | None = None) -> dict[int, list[dict[str, Any]]]:
    """Train ``runs`` to ``timesteps`` env steps, a row per member and evaluation; in ``run_dir``
    checkpointed after every evaluation (and on SIGTERM, which then stops and raises Preempted);
    each member also logging to ``wandb_project`` if given."""

    def files(seed: int) -> Path:  # where a member's logs, curve and models go
        assert run_dir is not None
        return run_dirs.member_dir(run_dir, seed) if isinstance(runs, RunSet) else Path(run_dir)

    first = runs.members[0]
    params = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves((first.learner.params.actor, first.learner.params.critic)))
    rows: dict[int, list[dict[str, Any]]] = {seed: [] for seed in runs.seeds}
    if resuming:
        runs.resume(Path(run_dir) / run_dirs.CHECKPOINTS)  # type: ignore[arg-type]
        rows = {m.seed: run_dirs.read_curve(files(m.seed), m.num_timesteps) for m in runs.members}
        print(f"{run_dir}: resuming at {runs.members[0].num_timesteps:,} env steps", flush=True)
    first = runs.members[0]
    if wandb_project is not None:
        group = f"{short_name(env_id)}_d{depth}"
        for member in runs.members:
            init = run_dirs.wandb_settings(None if run_dir is None else files(member.seed), wandb_project, group,
                                           member.seed, {**settings, **member.config.to_dict(), "seed": member.seed})
            member.set_logger(member.logger.with_wandb(init))
    store = notice = None
    best: dict[int, SaveBestModel] = {}
    if run_dir is not None:
        write_run_metadata(run_dir, first.config.to_dict(), settings, physics=physics_of(first.core))
        store, notice = StateStore(Path(run_dir) / run_dirs.CHECKPOINTS), PreemptionNotice()
        for member in runs.members:
            best[member.seed] = SaveBestModel(files(member.seed) / "best")
            best[member.seed].init_callback(member)  # a resumed member's best so far comes from its history
        notice.install()
    offset = max((r[-1]["wall_s"] for r in rows.values() if r), default=0.0)
    start, probe_seconds = time.perf_counter(), 0.0

    def record(run_set: Any) -> bool:
        nonlocal probe_seconds
        wall = offset + time.perf_counter() - start - first.eval_seconds * len(run_set.members) - probe_seconds
        for member in run_set.members:
            if member.seed in run_set.diverged:
                continue
            probed = time.perf_counter()
            measured = probe(member) if probe else {}
            probe_seconds += time.perf_counter() - probed
            unnamed = sorted(k for k in measured if "/" not in k)
            if unnamed:
                raise ValueError(f"probe measurements need 'name/metric' keys (e.g. 'near/time_at_goal'), got {unnamed}")
            run = {"algo": "crl", "depth": depth, "width": member.config.width, "env_id": env_id, "seed": member.seed,
                   "params": params}
            rows[member.seed].append({**evaluation_row(run, member.num_timesteps, wall, member.evaluations.results[-1]), **measured})
            if run_dir is not None:
                run_dirs.write_curve(files(member.seed), rows[member.seed])
                best[member.seed].update_locals({"evaluation": member.evaluations.results[-1]})
                best[member.seed].on_step()
        if store is not None:
            run_set.save_state(store)
        if on_evaluation is not None:
            on_evaluation(rows)
        if notice is not None and notice.received:
            return False
        return time_limit_s is None or time.perf_counter() - start < time_limit_s

    try:
        left = timesteps - first.num_timesteps
        if left > 0:
            runs.learn(left, callback=record, progress_bar=progress_bar, reset_num_timesteps=not resuming)
    finally:
        if notice is not None:
            notice.remove()
        if store is not None:
            store.close()
    if notice is not None and notice.received:
        raise Preempted(f"{run_dir}: stopped by SIGTERM at {runs.members[0].num_timesteps:,} env steps, after "
                        "checkpointing; run the same command again to resume")
    if run_dir is not None:
        for member in runs.members:
            if member.seed not in runs.diverged:
                member.save(files(member.seed) / "final_model.zip")
        run_dirs.finish(run_dir)
    return rows


def check_configs(configs: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Every DeepCRL config of a multi-run command built before its first run: ``(label, config)``
    pairs (the label names the flag and value, e.g. ``"--depths 6"``); a bad one raises a
    SystemExit naming its label, so no run is trained and thrown away before it shows."""

    for label, config in configs:
        try:
            CRLConfig.from_dict(config)
        except (TypeError, ValueError) as error:
            raise SystemExit(f"{label}: {error}") from None


def run_deep_crl_seeds(env_id: str, depth: int, seeds: Sequence[int], timesteps: int, eval_every: int, eval_episodes: int,
                       eval_env: str, env_kwargs: dict[str, Any] | None = None, *, serial: bool = False,
                       run_dir: str | os.PathLike | None = None, **kwargs: Any) -> dict[int, list[dict[str, Any]]]:
    """The curve rows of ``seeds`` by seed: one run set (:func:`run_deep_crl_set`) in the run folder
    ``run_dir``, or with ``serial`` (and for envs stepped on the host, which run sets do not take)
    one :func:`run_deep_crl` after another, each in ``run_dir/seed_<s>``. Other arguments as those take them."""

    run = (timesteps, eval_every, eval_episodes, eval_env, env_kwargs)
    try:
        if serial or not is_gcrl_id(env_id):
            return {seed: run_deep_crl(env_id, depth, seed, *run,
                                       run_dir=None if run_dir is None else Path(run_dir) / f"seed_{seed}", **kwargs)
                    for seed in seeds}
        return run_deep_crl_set(env_id, depth, seeds, *run, run_dir=run_dir, **kwargs)
    finally:
        jax.clear_caches()  # a campaign's runs compile programs of their own: free them before the next run
