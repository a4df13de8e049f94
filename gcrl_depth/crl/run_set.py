"""Run sets: k DeepCRL runs of one task and config that differ only in their seed, as ONE program.

The engine's pure functions are ``vmap``-ed over a leading run axis: every kernel of a
gradient step does the work of k runs, which on a GPU costs little more than one run
(the step is bound by kernel count, not arithmetic). Evaluation is vmapped too.

>>> runs = RunSet("gcrl_depth/AntBigMaze-v0", depth=64, seeds=[0, 1, 2, 3, 4])  # doctest: +SKIP
>>> runs.learn(50_000_000, progress_bar=True)                                    # doctest: +SKIP
>>> runs.members[2].save("seed2.zip"); runs.headlines()                          # doctest: +SKIP

Each member is an ordinary :class:`~gcrl_depth.crl.agent.DeepCRL` (its own seed, curve in
``evaluations``, logger, ``predict``, ``save``); between ``learn`` calls it holds its own
training state, so a member also trains on alone. A member whose loss or parameters
become non-finite is reported by seed in :attr:`RunSet.diverged` (and a warning): it keeps
its last finite parameters and stops counting, while the others train on: members never
share a reduction, so one member's NaN cannot reach another's numbers; the others go on as a
smaller set (one recompile), so no NaN physics is stepped further.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from gcrl_depth import programs
from gcrl_depth.checks import positive_int
from gcrl_depth.crl.agent import DEFAULT_EPOCH_TIMESTEPS, DEFAULT_EVAL_EPISODES, DeepCRL
from gcrl_depth.crl.checkpoint import key_from_data
from gcrl_depth.crl.devices import run_mesh, shard_runs
from gcrl_depth.crl.divergence import non_finite_metric
from gcrl_depth.crl.engine import Engine, TrainState
from gcrl_depth.crl.env_paths import DevicePath
from gcrl_depth.crl.epochs import unstarted_copy
from gcrl_depth.crl.persistence import (
    agent_meta,
    check_include_buffer,
    physics_of,
    restore_progress,
    saved_physics,
    state_sections,
    warn_other_physics,
)
from gcrl_depth.crl.state_store import StateStore, open_checkpoint
from gcrl_depth.evaluation import evaluation_keys, summarise
from gcrl_depth.interrupts import deferred_interrupts


# ----------------------------------------------------------------- the engine over a run axis (pure)
def start_runs(states: TrainState, engine: Engine) -> TrainState:
    return jax.vmap(engine.start)(states)


def prefill_runs(states: TrainState, engine: Engine) -> TrainState:
    return jax.vmap(engine.prefill)(states)


def epoch_runs(states: TrainState, engine: Engine, iterations: int) -> tuple[TrainState, dict[str, jax.Array]]:
    """``iterations`` training iterations of every run; metrics per run, (k,) each."""
    return jax.vmap(lambda state: engine.epoch(state, iterations))(states)


def evaluate_runs(actors: Any, keys: jax.Array, engine: Engine, core: Any) -> tuple[jax.Array, jax.Array]:
    """Per run and episode: steps at the goal and final distance, (k, episodes) each."""
    return jax.vmap(lambda actor, run_keys: engine.evaluate(actor, run_keys, core))(actors, keys)


def finite_runs(tree: Any) -> jax.Array:
    """(k,) booleans: whether every floating leaf of each run's slice of ``tree`` is finite."""
    checks = [jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1)
              for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(checks), axis=0)


def stack(trees: Sequence[Any]) -> Any:
    """Pytrees of equal structure -> one pytree with a leading run axis (on the first device)."""
    device = jax.devices()[0]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack([jax.device_put(x, device) for x in xs]), *trees)


def run_slice(tree: Any, index: int) -> Any:
    """Run ``index``'s slice of a stacked pytree (a copy)."""
    return jax.tree_util.tree_map(lambda x: x[index], tree)


# ----------------------------------------------------------------- the user API
class RunSet:
    """k DeepCRL runs (one per seed) of one env and config, trained as one compiled program.

    Args:
        env: a gcrl_depth env id or Gymnasium env (run sets train on the device path).
        depth: as :class:`~gcrl_depth.crl.agent.DeepCRL`.
        seeds: one run per seed (distinct integers).
        eval_env, eval_episodes, epoch_timesteps: as DeepCRL, shared by every member.
        verbose: 1 prints a line per epoch with every member's time at goal.
        devices: the devices the run axis may spread over (default ``jax.devices()``; as many
            as divide the number of training members evenly).
        log_dir: each member logs to ``<log_dir>/seed_<seed>``; None writes nothing.
        **config: any CRLConfig field.
    """

    def __init__(self, env: Any, depth: int = 4, seeds: Sequence[int] = (0, 1, 2), *, eval_env: Any = None,
                 eval_episodes: int = DEFAULT_EVAL_EPISODES, epoch_timesteps: int = DEFAULT_EPOCH_TIMESTEPS,
                 verbose: int = 0, log_dir: str | os.PathLike | None = None, devices: Sequence[Any] | None = None,
                 **config: Any) -> None:
        seeds = list(seeds) if not isinstance(seeds, (str, bytes)) else seeds
        if not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
        self.members: list[DeepCRL] = []
        try:
            for seed in seeds:
                folder = None if log_dir is None else os.path.join(os.fspath(log_dir), f"seed_{seed}")
                self.members.append(DeepCRL(env, depth, seed, eval_env=eval_env, eval_episodes=eval_episodes,
                                            epoch_timesteps=epoch_timesteps, verbose=0, log_dir=folder, **config))
            if self.members[0].host is not None:
                raise TypeError("a RunSet trains gcrl_depth's own envs (the device path); train other envs one "
                                "DeepCRL at a time")
        except BaseException:
            self.close()
            raise
        self.engine: Engine = self.members[0].engine
        self.devices = devices
        self.mesh = run_mesh(len(self.members), devices)  # the runs spread over the devices that divide them evenly
        self.verbose = verbose
        self.diverged: dict[int, str] = {}  # seed -> what went non-finite
        self._live: tuple[TrainState, list[DeepCRL]] | None = None  # the stacked state, while a callback runs

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
        if {m._state.started for m in active} != {True}:
            for m in active:  # all members refill together
                m._state = unstarted_copy(m._state) if m._state.started else m._state
        for m in active:
            m._check_budget(total_timesteps)
            if reset_num_timesteps:
                m.num_timesteps = 0
        lead = active[0]
        base = lead.num_timesteps
        target = base + total_timesteps
        bar = tqdm(total=lead._planned_timesteps(target) - base, unit="step", dynamic_ncols=True,
                   disable=not progress_bar)
        self.mesh = run_mesh(len(active), self.devices)
        states = shard_runs(stack([m._state for m in active]), self.mesh)
        for m in active:
            m._state = None  # type: ignore[assignment]  # the stacked state owns the data now; members get their slices back below
        self._fallback: TrainState | None = None
        try:
            if not states.started:
                states = self._start(states, active, bar)
            epoch = 0
            while active and lead.num_timesteps < target:
                epoch += 1
                remaining = math.ceil((target - lead.num_timesteps) / self.config.env_steps_per_iteration)
                states, active = self._epoch(states, active, min(lead.iterations_per_epoch, remaining), epoch)
                if not active:
                    break
                lead = active[0]
                bar.update(lead.num_timesteps - base - bar.n)
                if callback is not None:
                    for index, member in enumerate(active):  # views of the parameters for the callback
                        member._state = TrainState(learner=run_slice(states.learner, index), key=states.key[index],
                                                   iterations=states.iterations[index])
                    self._live = states, active
                    try:
                        if callback(self) is False:
                            break
                    finally:
                        self._live = None
        finally:
            bar.close()
            self._unstack(states, active)
        return self

    # ----------------------------------------------------------------- checkpoints
    def save_state(self, store: StateStore, include_buffer: bool = True) -> None:
        """Start writing the training members' stacked state (with the replay buffers unless told
        not to) as ``store``'s checkpoint at their env-step count; inside a ``learn`` callback (the
        live state), or between ``learn`` calls."""
        if self._live is not None:
            states, active = self._live
        else:
            active = [m for m in self.members if m.seed not in self.diverged]
            states = stack([m._state for m in active])
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
        if stored.meta.get("seeds") != self.seeds:
            raise ValueError(f"{stored.path!r} holds runs of seeds {stored.meta.get('seeds')}; this run set has {self.seeds}")
        warn_other_physics(saved_physics(stored.meta), physics_of(self.members[0].core), repr(stored.path))
        unstarted = stack([m._state for m in self.members])
        like = jax.eval_shape(functools.partial(start_runs, engine=self.engine), unstarted)
        learner = stored.learner(like.learner)
        training = stored.training({"buffer": like.buffer, "env": like.env, "episode": like.episode}) or {}
        for index, (member, meta) in enumerate(zip(self.members, stored.meta["members"])):
            key = key_from_data(meta["key"])
            rest = {name: run_slice(tree, index) for name, tree in training.items()}
            member._state = TrainState(learner=jax.device_put(run_slice(learner, index)), key=key,
                                       iterations=jnp.asarray(meta["iterations"], jnp.int32), **jax.device_put(rest))
            restore_progress(member, meta)
            member.logger.rewind(member.num_timesteps)
        return self

    def _start(self, states: TrainState, active: list[DeepCRL], bar: tqdm) -> TrainState:
        last_good = unstarted_copy(states)
        states = programs.run(start_runs, states, static=(self.engine,))
        with deferred_interrupts():
            try:
                states = programs.run(prefill_runs, states, static=(self.engine,), donate=(0,))
            except BaseException:
                self._fallback = last_good
                raise
            for m in active:
                m.num_timesteps += self.config.prefill_env_steps
        bar.update(self.config.prefill_env_steps)
        return states

    def _epoch(self, states: TrainState, active: list[DeepCRL], iterations: int,
               epoch: int) -> tuple[TrainState, list[DeepCRL]]:
        """One epoch of the active members; returns the state and members that go on (the diverged dropped)."""
        cfg = self.config
        compile_s = programs.compiled(epoch_runs, states, static=(self.engine, iterations), donate=(0,))[1]
        last_good = unstarted_copy(states)
        env_steps, updates = iterations * cfg.env_steps_per_iteration, iterations * cfg.updates_per_iteration
        start = time.perf_counter()
        with deferred_interrupts():
            try:
                states, metrics = programs.run(epoch_runs, states, static=(self.engine, iterations), donate=(0,))
            except BaseException:
                self._fallback = last_good  # the donated states are gone: members fall back to these
                raise
            for m in active:
                m.num_timesteps += env_steps
                m.num_updates += updates
        metrics = jax.device_get(metrics)
        elapsed = time.perf_counter() - start
        finite = np.asarray(programs.run(finite_runs, states.learner))
        going_on = []
        for index, member in enumerate(active):
            values = {k: float(v[index]) for k, v in metrics.items()}
            what = non_finite_metric(values) if finite[index] else "a parameter became non-finite"
            if what is None:
                member._record_epoch(values, env_steps, updates, elapsed, compile_s)
                going_on.append(index)
                continue
            member.num_timesteps -= env_steps
            member.num_updates -= updates
            member._state = run_slice(last_good, index)  # its last finite parameters, without buffer or envs
            self.diverged[member.seed] = f"epoch {epoch} (from env step {member.num_timesteps:,}): {what}"
            warnings.warn(f"run set member seed {member.seed} diverged in {self.diverged[member.seed]}; it keeps "
                          "its last finite parameters, the other members train on", RuntimeWarning, stacklevel=3)
        if len(going_on) < len(active):  # the others go on as a smaller set (a new program, no NaN physics)
            active = [active[i] for i in going_on]
            if not active:
                return states, active
            self.mesh = run_mesh(len(active), self.devices)
            states = shard_runs(jax.tree_util.tree_map(lambda x: x[np.asarray(going_on)], states), self.mesh)
        self._evaluate(states, active)
        for member in active:
            member.logger.dump(member.num_timesteps)
        if self.verbose:
            scores = ", ".join(f"{m.seed}: {m.evaluations.results[-1].time_at_goal:.1f}" for m in active
                               if m.evaluations.results)
            print(f"RunSet epoch {epoch}: {active[0].num_timesteps:,} env steps, "
                  f"{env_steps * len(active) / elapsed:,.0f} env steps/s in all; time at goal by seed {{{scores}}}",
                  flush=True)
        return states, active

    def _evaluate(self, states: TrainState, active: list[DeepCRL]) -> None:
        lead = active[0]
        if lead.eval_episodes == 0:
            return
        start = time.perf_counter()
        assert isinstance(lead.path, DevicePath)  # run sets train on the device path only
        core, episodes = lead.path.evaluation(lead.eval_episodes)
        keys = shard_runs(jnp.stack([evaluation_keys(m._next_evaluation_seed(), episodes) for m in active]), self.mesh)
        at_goal, distance = jax.device_get(programs.run(evaluate_runs, states.learner.params.actor, keys,
                                                        static=(self.engine, core)))
        elapsed = (time.perf_counter() - start) / len(active)
        for index, member in enumerate(active):
            member._record_evaluation(summarise(at_goal[index], distance[index], core.episode_length), elapsed)

    def _unstack(self, states: TrainState, active: list[DeepCRL]) -> None:
        """Give every active member its slice of the run set's state (the last good one after a failed program)."""
        source = self._fallback if self._fallback is not None else states
        self._fallback = None
        for index, member in enumerate(active):
            member._state = run_slice(source, index)

    def close(self) -> None:
        for member in self.members:
            member.close()
