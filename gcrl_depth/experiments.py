"""Experiment runs shared by the campaign scripts: DeepCRL learning curves as tidy rows.

Every run records one row per evaluation with the columns of :data:`~gcrl_depth.rows.COLUMNS`;
``wall_s`` is training time only (evaluation time excluded), so algorithms compare on what
training costs. Reporting on the rows is :mod:`gcrl_depth.reports`; SB3 baselines' runs are
:func:`gcrl_depth.baselines.runs.run_sb3`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gcrl_depth import run_dirs
from gcrl_depth.callbacks import SaveBestModel
from gcrl_depth.cli.config_flags import with_physics
from gcrl_depth.crl.checkpoints.state_store import StateStore
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.training.persistence import physics_of
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


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """What one cell of a campaign trains: DeepCRL of ``depth`` on ``env_id``, one run per seed, for
    ``timesteps`` env steps, evaluated on ``eval_env`` (default ``env_id``) with ``eval_episodes``
    episodes every ``eval_every`` env steps.

    ``env_kwargs`` are task options (e.g. ``episode_length``) for training and, unless
    ``eval_env_kwargs`` are given, evaluation; ``config`` holds CRLConfig fields.
    """

    env_id: str
    depth: int
    seeds: tuple[int, ...]
    timesteps: int
    eval_every: int
    eval_episodes: int
    eval_env: str | None = None
    env_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    eval_env_kwargs: Mapping[str, Any] | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(self.seeds))

    def settings(self) -> dict[str, Any]:
        """What a run folder records of this spec (another spec is another run: no resuming into it)."""
        return {"env_id": self.env_id, "depth": self.depth, "seeds": list(self.seeds), "timesteps": self.timesteps,
                "eval_every": self.eval_every, "eval_episodes": self.eval_episodes,
                "eval_env": self.eval_env or self.env_id, "env_kwargs": dict(self.env_kwargs),
                "eval_env_kwargs": None if self.eval_env_kwargs is None else dict(self.eval_env_kwargs),
                "config": dict(self.config)}


Rows = dict[int, list[dict[str, Any]]]  # a campaign cell's curve rows by seed


@dataclasses.dataclass(frozen=True)
class _Options:
    """:func:`train_runs`' keyword arguments, handed on whole (``run_dir`` is the campaign's folder)."""

    run_dir: str | os.PathLike | None
    resume: bool
    progress_bar: bool
    probe: Probe | None
    on_evaluation: Callable[[Rows], None] | None
    time_limit_s: float | None
    wandb_project: str | None
    checkpoints: Checkpoints
    data_parallel: int


@dataclasses.dataclass(frozen=True)
class Checkpoints:
    """When a run folder's training state is checkpointed: every ``every`` env steps (None: after
    every evaluation, what campaigns do; 0: never, and no SIGTERM handling), with the replay
    buffers if ``buffer``, keeping the latest ``keep`` (and the best)."""

    every: int | None = None
    buffer: bool = True
    keep: int = 2

    def due(self, steps: int, last: int) -> bool:
        """Whether a run at ``steps`` env steps, last checkpointed (or started) at ``last``, checkpoints now."""
        return self.every is None or (self.every > 0 and steps // self.every > last // self.every)


def train_runs(spec: RunSpec, *, run_dir: str | os.PathLike | None = None, resume: bool = True, serial: bool = False,
               progress_bar: bool = False, probe: Probe | None = None, on_evaluation: Callable[[Rows], None] | None = None,
               time_limit_s: float | None = None, wandb_project: str | None = None,
               checkpoints: Checkpoints = Checkpoints(), data_parallel: int = 1) -> Rows:
    """Train ``spec``'s seeds as one run set (one vmapped program); the curve rows by seed.

    With ``serial`` (and always for envs stepped on the host, which train one seed at a time)
    the seeds train one after another, each as a set of one in ``run_dir/seed_<s>``.
    ``wall_s`` is a set's training time, shared by its seeds (a seed's own cost is that divided
    by the number of seeds). ``progress_bar`` shows the bar; ``probe(model)`` adds its
    measurements (``"name/metric"`` keys) to every row; ``on_evaluation(rows)`` sees the rows so
    far after every evaluation (to write them as they come); with ``time_limit_s`` a set stops
    at the first evaluation after that many seconds (compile included), short of ``timesteps``.
    With ``run_dir`` the runs train in a run folder (:mod:`gcrl_depth.run_dirs`): logged,
    checkpointed after every evaluation and, with ``resume``, continued from the last checkpoint;
    a SIGTERM checkpoints and raises :class:`~gcrl_depth.interrupts.Preempted`. With
    ``wandb_project`` each seed also logs to that Weights & Biases project (a resumed run into
    the same wandb run). ``checkpoints`` says how often the run folder checkpoints (default: after
    every evaluation, replay buffers included). ``data_parallel`` splits each run over that many
    devices (a placement: the settings, and so resuming, do not depend on it). Compiled programs
    are freed after every set (``jax.clear_caches``).
    """
    options = _Options(run_dir, resume, progress_bar, probe, on_evaluation, time_limit_s, wandb_project, checkpoints,
                       data_parallel)
    if not serial and is_gcrl_id(spec.env_id):
        return _train_set(spec, run_dir, options)
    rows: Rows = {}
    for seed in spec.seeds:
        folder = None if run_dir is None else Path(run_dir) / f"seed_{seed}"
        seen = None if on_evaluation is None else lambda so_far: on_evaluation({**rows, **so_far})
        rows.update(_train_set(dataclasses.replace(spec, seeds=(seed,)), folder,
                               dataclasses.replace(options, on_evaluation=seen)))
    return rows


def finished_rows(spec: RunSpec, run_dir: str | os.PathLike, serial: bool = False) -> Rows | None:
    """The rows of ``spec``'s seeds if :func:`train_runs` (with the same ``serial``) has finished them
    in ``run_dir``, else None; a folder of other settings is refused (a SystemExit naming them)."""
    if not serial and is_gcrl_id(spec.env_id):
        members = [run_dirs.member_dir(run_dir, seed) for seed in spec.seeds]
        curves = run_dirs.finished_curves(run_dir, spec.settings(), members)
        return None if curves is None else dict(zip(spec.seeds, curves))
    rows: Rows = {}
    for seed in spec.seeds:
        folder = run_dirs.member_dir(run_dir, seed)
        curves = run_dirs.finished_curves(folder, dataclasses.replace(spec, seeds=(seed,)).settings(), [folder])
        if curves is None:
            return None
        rows[seed] = curves[0]
    return rows


def _train_set(spec: RunSpec, folder: str | os.PathLike | None, options: _Options) -> Rows:
    """``spec`` as one run set whose run folder (settings, checkpoints) is ``folder`` and whose
    members keep their logs, curves and models in ``options.run_dir/seed_<s>``."""
    settings = spec.settings()
    resuming = folder is not None and run_dirs.open_run_dir(folder, settings, options.resume)
    config = dict(spec.config)
    env = vector_goal_env(spec.env_id, config.pop("num_envs", CRLConfig.num_envs), **spec.env_kwargs)
    eval_kwargs = spec.env_kwargs if spec.eval_env_kwargs is None else spec.eval_env_kwargs
    eval_envs = vector_goal_env(spec.eval_env or spec.env_id, spec.eval_episodes, **eval_kwargs)
    try:
        runs = RunSet(env, depth=spec.depth, seeds=spec.seeds, eval_env=eval_envs, eval_episodes=spec.eval_episodes,
                      epoch_timesteps=spec.eval_every, log_dir=options.run_dir, data_parallel=options.data_parallel,
                      **config)
        try:
            rows = _train(runs, spec, folder, resuming, options)
        finally:
            runs.close()
    finally:
        env.close()
        eval_envs.close()
        jax.clear_caches()  # a campaign's runs compile programs of their own: free them before the next run
    for seed, why in runs.diverged.items():
        print(f"{spec.env_id} depth {spec.depth} seed {seed} diverged: {why}", flush=True)
    return rows


def _train(runs: RunSet, spec: RunSpec, folder: str | os.PathLike | None, resuming: bool, options: _Options) -> Rows:
    """Train ``runs`` to ``spec.timesteps`` env steps, a row per member and evaluation; in ``folder``
    checkpointed after every evaluation (and on SIGTERM, which then stops and raises Preempted);
    each member also logging to ``options.wandb_project`` if given."""
    root, probe, on_evaluation, wandb_project = options.run_dir, options.probe, options.on_evaluation, options.wandb_project

    def files(seed: int) -> Path:  # where a member's logs, curve and models go
        assert root is not None
        return run_dirs.member_dir(root, seed)

    first = runs.members[0]
    params = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves((first.learner.params.actor, first.learner.params.critic)))
    rows: Rows = {seed: [] for seed in runs.seeds}
    if resuming:
        runs.resume(Path(folder) / run_dirs.CHECKPOINTS)  # type: ignore[arg-type]
        rows = {m.seed: run_dirs.read_curve(files(m.seed), m.num_timesteps) for m in runs.members}
        print(f"{folder}: resuming at {runs.members[0].num_timesteps:,} env steps", flush=True)
    first = runs.members[0]
    if wandb_project is not None:
        group = f"{short_name(spec.env_id)}_d{spec.depth}"
        for member in runs.members:
            init = run_dirs.wandb_settings(None if folder is None else files(member.seed), wandb_project, group,
                                           member.seed, {**spec.settings(), **member.config.to_dict(), "seed": member.seed})
            member.set_logger(member.logger.with_wandb(init))
    store = notice = None
    best: dict[int, SaveBestModel] = {}
    policy, last_saved = options.checkpoints, first.num_timesteps
    if folder is not None:
        write_run_metadata(folder, first.config.to_dict(), spec.settings(), physics=physics_of(first.core))
        if policy.every != 0:
            store, notice = StateStore(Path(folder) / run_dirs.CHECKPOINTS, keep=policy.keep), PreemptionNotice()
        for member in runs.members:
            best[member.seed] = SaveBestModel(files(member.seed) / "best")
            best[member.seed].init_callback(member)  # a resumed member's best so far comes from its history
        if notice is not None:
            notice.install()
    offset = max((r[-1]["wall_s"] for r in rows.values() if r), default=0.0)
    start, probe_seconds = time.perf_counter(), 0.0

    def record(run_set: RunSet) -> bool:
        nonlocal probe_seconds, last_saved
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
            run = {"algo": "crl", "depth": spec.depth, "width": member.config.width, "env_id": spec.env_id, "seed": member.seed,
                   "params": params}
            rows[member.seed].append({**evaluation_row(run, member.num_timesteps, wall, member.evaluations.results[-1]), **measured})
            if folder is not None:
                run_dirs.write_curve(files(member.seed), rows[member.seed])
                best[member.seed].update_locals({"evaluation": member.evaluations.results[-1]})
                best[member.seed].on_step()
        if on_evaluation is not None:
            on_evaluation(rows)
        steps = max(m.num_timesteps for m in run_set.members)
        if store is not None and (policy.due(steps, last_saved) or (notice is not None and notice.received)):
            run_set.save_state(store, include_buffer=policy.buffer)  # on SIGTERM too: training stops right after
            last_saved = steps
        if notice is not None and notice.received:
            return False
        return options.time_limit_s is None or time.perf_counter() - start < options.time_limit_s

    try:
        left = spec.timesteps - first.num_timesteps
        if left > 0:
            runs.learn(left, callback=record, progress_bar=options.progress_bar, reset_num_timesteps=not resuming)
    finally:
        if notice is not None:
            notice.remove()
        if store is not None:
            store.close()
    if notice is not None and notice.received:
        raise Preempted(f"{folder}: stopped by SIGTERM at {runs.members[0].num_timesteps:,} env steps, after "
                        "checkpointing; run the same command again to resume")
    if folder is not None:
        for member in runs.members:
            if member.seed not in runs.diverged:
                member.save(files(member.seed) / "final_model.zip")
        run_dirs.finish(folder)
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
