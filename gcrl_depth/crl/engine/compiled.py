"""The engine's functions as compiled programs: module-level ``jax.jit``, the Engine a static argument.

An :class:`~gcrl_depth.crl.engine.train.Engine` is a frozen, hashable value, so JAX's own cache shares
a program between engines of equal config, sizes and core, and compiles anew for any other
shape, dtype or sharding of the arguments. Functions that replace a training state *donate*
it (its buffers are reused; the caller keeps no reference). Three families:

* one run: :func:`init`, :func:`start`, :func:`prefill`, :func:`epoch`, :func:`act`,
  :func:`explore` and the host path's :func:`insert` and :func:`learn_from`;
* one run split over devices (data parallel, :mod:`gcrl_depth.crl.engine.devices`):
  :func:`data_parallel_start`, :func:`data_parallel_prefill`, :func:`data_parallel_epoch`;
* k runs stacked on a leading axis (run sets): :func:`runs_start`, :func:`runs_prefill`,
  :func:`runs_epoch`, :func:`runs_evaluate`, :func:`runs_finite`; each run split over devices:
  :func:`runs_data_parallel_start`, :func:`runs_data_parallel_prefill`, :func:`runs_data_parallel_epoch`.

On the CPU compiled code holds memory mappings until freed; a long sweep frees it between
runs with ``jax.clear_caches()``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from gcrl_depth.crl.engine import devices
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState

Metrics = dict[str, jax.Array]


# ----------------------------------------------------------------- one run
@functools.partial(jax.jit, static_argnums=1)
def init(key: jax.Array, engine: Engine) -> AgentState:
    return engine.init(key)


@functools.partial(jax.jit, static_argnums=1)
def start(state: AgentState | TrainState, engine: Engine) -> TrainState:
    return engine.start(state)


@functools.partial(jax.jit, static_argnums=1, donate_argnums=0)
def prefill(state: TrainState, engine: Engine) -> TrainState:
    return engine.prefill(state)


@functools.partial(jax.jit, static_argnums=(1, 2), donate_argnums=0)
def epoch(state: TrainState, engine: Engine, iterations: int) -> tuple[TrainState, Metrics]:
    return engine.epoch(state, iterations)


@functools.partial(jax.jit, static_argnums=3)
def act(actor: Any, obs: jax.Array, goal: jax.Array, engine: Engine, key: jax.Array | None = None) -> jax.Array:
    return engine.act(actor, obs, goal, key)


@functools.partial(jax.jit, static_argnums=4)
def explore(actor: Any, key: jax.Array, obs: jax.Array, goal: jax.Array, engine: Engine) -> tuple[jax.Array, jax.Array]:
    return engine.explore(actor, key, obs, goal)


@functools.partial(jax.jit, static_argnums=(2, 3))
def evaluate(actor: Any, keys: jax.Array, engine: Engine, core: Any) -> tuple[jax.Array, jax.Array]:
    return engine.evaluate(actor, keys, core)


@functools.partial(jax.jit, static_argnums=2, donate_argnums=0)
def insert(state: TrainState, rows: Any, engine: Engine) -> TrainState:
    return engine.insert(state, rows)


@functools.partial(jax.jit, static_argnums=2, donate_argnums=0)
def learn_from(state: TrainState, rows: Any, engine: Engine) -> tuple[TrainState, Metrics]:
    return engine.learn_from(state, rows)


# ----------------------------------------------------------------- one run over devices
@functools.partial(jax.jit, static_argnums=(1, 2))
def data_parallel_start(state: AgentState | TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    return devices.data_parallel_start(state, engine, mesh)


@functools.partial(jax.jit, static_argnums=(1, 2), donate_argnums=0)
def data_parallel_prefill(state: TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    return devices.data_parallel_prefill(state, engine, mesh)


@functools.partial(jax.jit, static_argnums=(1, 2, 3), donate_argnums=0)
def data_parallel_epoch(state: TrainState, engine: Engine, mesh: Mesh, iterations: int) -> tuple[TrainState, Metrics]:
    return devices.data_parallel_epoch(state, engine, mesh, iterations)


# ----------------------------------------------------------------- k runs on a leading axis
@functools.partial(jax.jit, static_argnums=1)
def runs_start(states: AgentState | TrainState, engine: Engine) -> TrainState:
    return jax.vmap(engine.start)(states)


@functools.partial(jax.jit, static_argnums=1, donate_argnums=0)
def runs_prefill(states: TrainState, engine: Engine) -> TrainState:
    return jax.vmap(engine.prefill)(states)


@functools.partial(jax.jit, static_argnums=(1, 2), donate_argnums=0)
def runs_epoch(states: TrainState, engine: Engine, iterations: int) -> tuple[TrainState, Metrics]:
    """``iterations`` training iterations of every run; metrics per run, (k,) each."""
    return jax.vmap(lambda state: engine.epoch(state, iterations))(states)


@functools.partial(jax.jit, static_argnums=(2, 3))
def runs_evaluate(actors: Any, keys: jax.Array, engine: Engine, core: Any) -> tuple[jax.Array, jax.Array]:
    """Per run and episode: steps at the goal and final distance, (k, episodes) each."""
    return jax.vmap(lambda actor, run_keys: engine.evaluate(actor, run_keys, core))(actors, keys)


@jax.jit
def runs_finite(tree: Any) -> jax.Array:
    """(k,) booleans: whether every floating leaf of each run's slice of ``tree`` is finite."""
    checks = [jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1)
              for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(checks), axis=0)


# ----------------------------------------------------------------- k runs, each over devices
@functools.partial(jax.jit, static_argnums=(1, 2))
def runs_data_parallel_start(states: AgentState | TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    return devices.runs_data_parallel_start(states, engine, mesh)


@functools.partial(jax.jit, static_argnums=(1, 2), donate_argnums=0)
def runs_data_parallel_prefill(states: TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    return devices.runs_data_parallel_prefill(states, engine, mesh)


@functools.partial(jax.jit, static_argnums=(1, 2, 3), donate_argnums=0)
def runs_data_parallel_epoch(states: TrainState, engine: Engine, mesh: Mesh, iterations: int) -> tuple[TrainState, Metrics]:
    return devices.runs_data_parallel_epoch(states, engine, mesh, iterations)
