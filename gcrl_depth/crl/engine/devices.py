"""Devices: a run set's runs spread over devices, and one run split over devices (data parallel).

* **Run axis.** A run set's stacked state has a leading run axis; :func:`shard_runs` places
  it on a ``Mesh`` of :func:`run_mesh` with ``NamedSharding(mesh, P("runs"))``, and the
  compiled programs follow their inputs' sharding: 8 GPUs train 8x the seeds, with no
  communication (runs never share a reduction).
* **Data parallel.** One run's envs, replay slots and minibatch split over the mesh axis
  :data:`~gcrl_depth.crl.engine.train.DATA_AXIS`, the learner replicated
  (:func:`data_parallel_start`, :func:`data_parallel_prefill`, :func:`data_parallel_epoch`
  run an engine made with ``data_shards`` under ``shard_map``). psi(g) is all-gathered,
  so InfoNCE contrasts with all B goals, and the update equals the single-device update on
  the whole minibatch (tested to float tolerance). The maps run with ``check_vma=False``
  (MJX's solver is not written for JAX's varying-axis types); the learner therefore
  averages the shards' gradients itself (:func:`~gcrl_depth.crl.engine.learner.gradient_step`).
* **Both.** A run set whose runs are each split over ``data_shards`` devices: a 2-D mesh
  (``runs`` x ``data``) from :func:`run_mesh`; every device holds its runs' share of the envs
  and buffer slots, and :func:`runs_data_parallel_start`, :func:`runs_data_parallel_prefill` and
  :func:`runs_data_parallel_epoch` vmap the data-parallel engine over its runs inside one ``shard_map``.

Several hosts: start every process with ``jax.distributed.initialize()`` (see the
README's GPU section); ``jax.devices()`` then lists every host's devices and the same
meshes span them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from gcrl_depth.crl.engine.train import DATA_AXIS, AgentState, Engine, TrainState, make_train

RUN_AXIS = "runs"


def run_mesh(runs: int, devices: Sequence[Any] | None = None, data_shards: int = 1) -> Mesh | None:
    """A mesh over as many devices as evenly divide ``runs`` (None when that is one device); with
    ``data_shards`` > 1, a (runs x data) mesh: each run split over ``data_shards`` devices, as many
    such groups as divide ``runs`` evenly."""
    devices = list(jax.devices() if devices is None else devices)
    if data_shards > 1:
        data_mesh(data_shards, devices)  # refuses more shards than devices
        groups = math.gcd(runs, len(devices) // data_shards)
        return Mesh(np.asarray(devices[:groups * data_shards]).reshape(groups, data_shards), (RUN_AXIS, DATA_AXIS))
    count = math.gcd(runs, len(devices))
    return None if count == 1 else Mesh(np.asarray(devices[:count]), (RUN_AXIS,))


def shard_runs(tree: Any, mesh: Mesh | None) -> Any:
    """Place a stacked pytree's leading run axis over ``mesh`` (unchanged without one); on a mesh with
    a data axis, each run's envs and buffer slots also split as :func:`state_specs` says. A mesh over
    several processes' devices (``jax.distributed``) takes every process's whole value, the same
    on each, and keeps the shards of this process's devices."""
    if mesh is None:
        return tree
    specs = runs_specs(tree) if DATA_AXIS in mesh.axis_names else jax.tree_util.tree_map(lambda _: P(RUN_AXIS), tree)
    shardings = jax.tree_util.tree_map(lambda spec: NamedSharding(mesh, spec), specs, is_leaf=_is_spec)
    if all(s.is_fully_addressable for s in jax.tree_util.tree_leaves(shardings)):
        return jax.device_put(tree, shardings)

    def spread(x: Any, sharding: NamedSharding) -> jax.Array:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # typed keys travel as their data
            return jax.random.wrap_key_data(spread(jax.random.key_data(x), sharding), impl=jax.random.key_impl(x))
        whole = np.asarray(host_value(x))
        return jax.make_array_from_callback(whole.shape, sharding, lambda index: whole[index])

    return jax.tree_util.tree_map(spread, tree, shardings)


def host_value(tree: Any) -> Any:
    """A pytree's values as numpy arrays on the host: a leaf split over several processes' devices
    is gathered from all of them (a collective: every process calls it at the same point)."""
    from jax.experimental import multihost_utils

    leaves = jax.tree_util.tree_leaves(tree)
    if any(isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated for x in leaves):
        _wait_for_every_process()

    def get(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return jax.device_get(x)

    return jax.tree_util.tree_map(get, tree)


def same_on_every_process(fingerprint: str, what: str) -> None:
    """Nothing in one process; in a ``jax.distributed`` job a ValueError naming ``what`` unless every
    process gives the same ``fingerprint`` (a process started with another command would otherwise
    hang the collectives or train something else)."""
    if jax.process_count() == 1:
        return
    import hashlib

    from jax.experimental import multihost_utils

    digest = np.frombuffer(hashlib.sha256(fingerprint.encode()).digest(), np.uint32)
    _wait_for_every_process()
    gathered = np.asarray(multihost_utils.process_allgather(digest))
    others = [index for index, row in enumerate(gathered) if not np.array_equal(row, gathered[jax.process_index()])]
    if others:
        raise ValueError(f"{what} of process {jax.process_index()} differs from that of process(es) {others}: "
                         "start every process of a jax.distributed job with the same command")


_barriers = iter(range(1 << 62))
BARRIER_TIMEOUT_MS = 3_600_000  # a process may lag by a compile (minutes): the collectives' own timeout is 30 s


def _wait_for_every_process() -> None:
    """Every process of a ``jax.distributed`` job at the same point before a collective, waiting up to an
    hour (a process still compiling would otherwise time the collective out)."""
    from jax._src import distributed

    client = distributed.global_state.client
    if client is not None:
        client.wait_at_barrier(f"gcrl_depth_host_value_{next(_barriers)}", BARRIER_TIMEOUT_MS)


def data_mesh(shards: int, devices: Sequence[Any] | None = None) -> Mesh:
    """A mesh of ``shards`` devices along :data:`DATA_AXIS`."""
    devices = list(jax.devices() if devices is None else devices)
    if shards > len(devices):
        raise ValueError(f"data parallel over {shards} devices, but only {len(devices)} are visible: {devices}")
    return Mesh(np.asarray(devices[:shards]), (DATA_AXIS,))


def state_specs(state: TrainState) -> Any:
    """How a data-parallel run's state is split: envs, episode counters and buffer slots over
    :data:`DATA_AXIS`, everything else (learner, key, counters, buffer positions) replicated."""

    def spec(path: Any, leaf: Any) -> P:
        name = jax.tree_util.keystr(path)
        if name.startswith(".buffer"):
            return P(None, DATA_AXIS) if len(np.shape(leaf)) >= 2 else P()
        if name.startswith((".env", ".episode")):
            return P(DATA_AXIS)
        return P()

    return jax.tree_util.tree_map_with_path(spec, state)


def runs_specs(states: Any) -> Any:
    """:func:`state_specs` of stacked states: the leading run axis over ``RUN_AXIS``, each run's
    envs and buffer slots over :data:`DATA_AXIS`."""
    one_run = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), states)
    return jax.tree_util.tree_map(lambda spec: P(RUN_AXIS, *spec), state_specs(one_run), is_leaf=_is_spec)


def _is_spec(x: Any) -> bool:
    return isinstance(x, P)


def place(state: TrainState, mesh: Mesh) -> TrainState:
    """A data-parallel run's state laid out over ``mesh`` by :func:`state_specs`."""
    shardings = jax.tree_util.tree_map(lambda spec: NamedSharding(mesh, spec), state_specs(state),
                                       is_leaf=lambda x: isinstance(x, P))
    return jax.device_put(state, shardings)


def _started_specs(engine: Engine, state: TrainState) -> Any:
    single = make_train(engine.config, engine.sizes, engine.core)  # the same structure, one device's shapes
    return state_specs(jax.eval_shape(single.start, state))


def data_parallel_start(state: AgentState | TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    """``engine.start`` of a data-parallel engine: each device resets its share of the envs."""
    return jax.shard_map(engine.start, mesh=mesh, in_specs=(state_specs(state),),
                         out_specs=_started_specs(engine, state), check_vma=False)(state)


def data_parallel_prefill(state: TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    specs = state_specs(state)
    return jax.shard_map(engine.prefill, mesh=mesh, in_specs=(specs,), out_specs=specs, check_vma=False)(state)


def data_parallel_epoch(state: TrainState, engine: Engine, mesh: Mesh, iterations: int) -> tuple[TrainState, Any]:
    specs = state_specs(state)
    return jax.shard_map(lambda s: engine.epoch(s, iterations), mesh=mesh, in_specs=(specs,),
                         out_specs=(specs, P()), check_vma=False)(state)


def runs_data_parallel_start(states: AgentState | TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    """``engine.start`` of every stacked run, each split over the mesh's data axis."""
    single = make_train(engine.config, engine.sizes, engine.core)
    started = jax.eval_shape(jax.vmap(single.start), states)
    return jax.shard_map(jax.vmap(engine.start), mesh=mesh, in_specs=(runs_specs(states),),
                         out_specs=runs_specs(started), check_vma=False)(states)


def runs_data_parallel_prefill(states: TrainState, engine: Engine, mesh: Mesh) -> TrainState:
    specs = runs_specs(states)
    return jax.shard_map(jax.vmap(engine.prefill), mesh=mesh, in_specs=(specs,), out_specs=specs, check_vma=False)(states)


def runs_data_parallel_epoch(states: TrainState, engine: Engine, mesh: Mesh, iterations: int) -> tuple[TrainState, Any]:
    """``iterations`` training iterations of every stacked run; metrics per run, (k,) each."""
    specs = runs_specs(states)
    return jax.shard_map(jax.vmap(lambda s: engine.epoch(s, iterations)), mesh=mesh, in_specs=(specs,),
                         out_specs=(specs, P(RUN_AXIS)), check_vma=False)(states)
