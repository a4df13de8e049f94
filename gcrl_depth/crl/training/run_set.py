"""Run sets: k DeepCRL runs of one task and config that differ only in their seed, as ONE program.

The seeds are an axis of the training state: the engine's pure functions are ``vmap``-ed over a
leading run axis (:class:`~gcrl_depth.crl.training.runners.StackedRuns`) and the same host loop as one
DeepCRL's (:mod:`gcrl_depth.crl.training.loop`) trains them. Every kernel of a gradient step does the work
of k runs, which on a GPU costs little more than one run (the step is bound by kernel count, not
arithmetic). Evaluation is vmapped too.

>>> runs = RunSet("gcrl_depth/AntBigMaze-v0", depth=64, seeds=[0, 1, 2, 3, 4])  # doctest: +SKIP
>>> runs.learn(50_000_000, progress_bar=True)                                    # doctest: +SKIP
>>> runs.members[2].save("seed2.zip"); runs.headlines()                          # doctest: +SKIP

A set of one seed also trains an env of the host path (any Gymnasium goal env), on that
member's own runner, and checkpoints as that member alone would (:func:`~gcrl_depth.crl.training.persistence.save_state`),
so campaigns train any env through one face.

Each member is an ordinary :class:`~gcrl_depth.crl.training.agent.DeepCRL` (its own seed, curve in
``evaluations``, logger, ``predict``, ``save``); between ``learn`` calls it holds its own
training state (its public ``run``), so a member also trains on alone. A member whose loss or
parameters become non-finite is reported by seed in :attr:`RunSet.diverged` (and a warning):
it keeps its last finite parameters and stops counting, while the others train on as a
smaller set (one recompile), so no NaN physics is stepped further.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.checks import positive_int
from gcrl_depth.crl.checkpoints.checkpoint import key_from_data
from gcrl_depth.crl.checkpoints.state_store import StateStore, open_checkpoint
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState
from gcrl_depth.crl.env_paths import DevicePath
from gcrl_depth.crl.training.agent import DEFAULT_EPOCH_TIMESTEPS, DEFAULT_EVAL_EPISODES, DeepCRL
from gcrl_depth.crl.training.loop import Epoch, train
from gcrl_depth.crl.training.persistence import (
    agent_meta,
    check_include_buffer,
    physics_of,
    restore_progress,
    restored_state,
    save_state,
    saved_physics,
    state_sections,
    warn_other_physics,
)
from gcrl_depth.crl.training.runners import Runner, StackedRuns, run_slice


# ----------------------------------------------------------------- the user API
class RunSet:
    """k DeepCRL runs (one per seed) of one env and config, trained as one compiled program.

    Args:
        env: a gcrl_depth env id or Gymnasium env; several seeds need gcrl_depth's envs (the
            device path), one seed takes any goal env.
        depth: as :class:`~gcrl_depth.crl.training.agent.DeepCRL`.
        seeds: one run per seed (distinct integers).
        eval_env, eval_episodes, epoch_timesteps: as DeepCRL, shared by every member.
        verbose: 1 prints a line per epoch with every member's time at goal.
        devices: the devices the run axis may spread over (default ``jax.devices()``; as many
            as divide the number of training members evenly).
        data_parallel: devices to split each run over (as DeepCRL's); the runs spread over
            groups of that many devices.
        log_dir: each member logs to ``<log_dir>/seed_<seed>``; None writes nothing.
        **config: any CRLConfig field.
    """

    def __init__(self, env: Any, depth: int = 4, seeds: Sequence[int] = (0, 1, 2), *, eval_env: Any = None,
                 eval_episodes: int = DEFAULT_EVAL_EPISODES, epoch_timesteps: int = DEFAULT_EPOCH_TIMESTEPS,
                 verbose: int = 0, log_dir: str | os.PathLike | None = None, devices: Sequence[Any] | None = None,
                 data_parallel: int = 1, **config: Any) -> None:
        seeds = list(seeds) if not isinstance(seeds, (str, bytes)) else seeds
        if not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
        self.members: list[DeepCRL] = []
        try:
            for seed in seeds:
                folder = None if log_dir is None else os.path.join(os.fspath(log_dir), f"seed_{seed}")
                self.members.append(DeepCRL(env, depth, seed, eval_env=eval_env, eval_episodes=eval_episodes,
                                            epoch_timesteps=epoch_timesteps, verbose=0, log_dir=folder,
                                            data_parallel=data_parallel, **config))
            if self.members[0].host is not None and (len(seeds) > 1 or devices is not None):
                raise TypeError("a RunSet of several seeds, or spread over devices, trains gcrl_depth's own envs "
                                "(the device path); train other envs one seed at a time")
        except BaseException:
            self.close()
            raise
        self.engine: Engine = self.members[0].engine
        path = self.members[0].path
        self.runner: Runner = (StackedRuns(self.engine, lambda: path.evaluation(eval_episodes), len(self.members), devices)
                               if isinstance(path, DevicePath) else self.members[0].runner)
        self.verbose: int = verbose
        self.diverged: dict[int, str] = {}  # seed -> what went non-finite
        self._live: Epoch | None = None  # the epoch, while a callback runs

    @property
    def mesh(self) -> Any:
        """The mesh the run axis spreads over (None on one device, or on the host path)."""
        return getattr(self.runner, "mesh", None)

    @property
    def seeds(self) -> list[int]:
        return [m.seed for m in self.members]

    @property
    def config(self):
        return self.members[0].config

    def headlines(self, metric: str = "time_at_goal") -> dict[int, float]:
        """Each member's headline (mean of its last 5 evaluations), by seed."""
        return {m.seed: m.evaluations.headline(metric) for m in self.members if m.evaluations.results}

    # ----------------------------------------------------------------- learning
    def learn(self, total_timesteps: int, callback: Callable[[RunSet], Any] | None = None, progress_bar: bool = False,
              reset_num_timesteps: bool = True) -> RunSet:
        """Train every member for ``total_timesteps`` env steps (as DeepCRL.learn, per member).

        Members that diverged (in this call or before) do not train: the others run as a
        smaller set. ``callback(run_set)`` runs after every epoch's evaluation; each member
        then holds its current parameters (``predict``, ``evaluations``, ``learner`` work;
        not ``save``'s buffer). Returning False stops training.
        """
        total_timesteps = positive_int(total_timesteps, "total_timesteps")
        active = [m for m in self.members if m.seed not in self.diverged]
        if not active:
            raise ValueError(f"every member of this run set diverged: {self.diverged}")

        def progress(epoch: Epoch) -> bool:
            if self.verbose:
                scores = ", ".join(f"{run.seed}: {e.time_at_goal:.1f}" for run, e in zip(epoch.runs, epoch.evaluations)
                                   if e is not None)
                steps_per_s = sum(m["time/env_steps_per_s"] for m in epoch.metrics)
                print(f"RunSet epoch {epoch.number}: {epoch.runs[0].num_timesteps:,} env steps, {steps_per_s:,.0f} env "
                      f"steps/s in all; time at goal by seed {{{scores}}}", flush=True)
            if callback is None:
                return True
            self._live = epoch
            try:
                return callback(self) is not False
            finally:
                self._live = None

        train(self.runner, [m.run for m in active], self.config, total_timesteps,
              epoch_timesteps=active[0].epoch_timesteps, evaluate=active[0].eval_episodes > 0, progress=progress,
              progress_bar=progress_bar, reset_num_timesteps=reset_num_timesteps, diverged=self.diverged)
        return self

    # ----------------------------------------------------------------- checkpoints
    def save_state(self, store: StateStore, include_buffer: bool = True) -> None:
        """Start writing the training members' stacked state (with the replay buffers unless told
        not to) as ``store``'s checkpoint at their env-step count; inside a ``learn`` callback (the
        live state), or between ``learn`` calls."""
        if not isinstance(self.runner, StackedRuns):  # one member of the host path: its own checkpoint
            save_state(self.members[0], store, include_buffer)
            return
        training = [m for m in self.members if m.seed not in self.diverged]
        if self._live is not None:
            states = self._live.state
            live = {id(run) for run in self._live.runs}
            active = [m for m in training if id(m.run) in live]
        else:
            active = training
            states = self.runner.join([m.run.state for m in active])
        check_include_buffer(states, include_buffer)
        scores = [m.evaluations.results[-1].time_at_goal for m in active if m.evaluations.results]
        meta = {"seeds": [m.seed for m in active], "physics": physics_of(active[0].core),
                "members": [agent_meta(m) for m in active]}
        store.save(active[0].num_timesteps, self.config.to_dict(), meta, state_sections(states, include_buffer),
                   score=float(np.mean(scores)) if len(scores) == len(active) else None)

    def resume(self, path: str | os.PathLike) -> RunSet:
        """Continue from the newest checkpoint :meth:`save_state` wrote into ``path``: every member's
        parameters, optimizer state, key, counts, evaluations and (if saved) replay buffer and envs."""
        stored = open_checkpoint(path)
        if "members" not in stored.meta and len(self.members) == 1:  # one model's checkpoint
            member = self.members[0]
            warn_other_physics(saved_physics(stored.meta), physics_of(member.core), repr(stored.path))
            member.run.state = restored_state(member, stored)
            restore_progress(member.run, stored.meta)
            member.lineage = stored.meta.get("lineage")
            return self
        held = stored.meta.get("seeds", [stored.meta.get("seed")])
        if held != self.seeds or not isinstance(self.runner, StackedRuns):
            raise ValueError(f"{stored.path!r} holds runs of seeds {held}; this run set has {self.seeds}")
        warn_other_physics(saved_physics(stored.meta), physics_of(self.members[0].core), repr(stored.path))
        unstarted = self.runner.join([m.run.state for m in self.members])
        like = jax.eval_shape(self.runner.start, unstarted)
        learner = stored.learner(like.learner)
        training = stored.training({"buffer": like.buffer, "env": like.env, "episode": like.episode}) or {}
        for index, (member, meta) in enumerate(zip(self.members, stored.meta["members"])):
            key = key_from_data(meta["key"])
            rest = {name: run_slice(tree, index) for name, tree in training.items()}
            agent = AgentState(learner=jax.device_put(run_slice(learner, index)), key=key,
                               iterations=jnp.asarray(meta["iterations"], jnp.int32))
            member.run.state = TrainState(**vars(agent), **jax.device_put(rest)) if rest else agent
            restore_progress(member.run, meta)
            member.lineage = meta.get("lineage")
        return self

    def close(self) -> None:
        for member in self.members:
            member.close()
