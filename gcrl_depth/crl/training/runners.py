"""How the host loop advances its runs' training states: one run as it is, or k runs stacked.

The loop (:mod:`gcrl_depth.crl.training.loop`) sees one *joined* state for all its runs and asks a
:class:`Runner` to start, prefill, train, check and evaluate it:

* :class:`OneRun`: a single run's state, advanced by its env path's collector (the device,
  the device split over a data mesh, or the host);
* :class:`StackedRuns`: k runs of the device path stacked on a leading run axis and advanced
  by one vmapped program (run sets: seeds are an axis of the state), the axis spread over
  the devices that divide it; with ``data_parallel`` > 1 each run also splits over that many devices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.devices import host_value, run_mesh, same_on_every_process, shard_runs
from gcrl_depth.crl.engine.divergence import all_finite
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState
from gcrl_depth.crl.env_paths.protocol import Collector
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.evaluation import EvaluationResult, evaluation_keys, summarise


class Runner(Protocol):
    """Advances the joined training state of a list of runs (see the module docstring)."""

    def join(self, states: list[State]) -> Any: ...

    def split(self, joined: Any) -> list[State]: ...

    def views(self, joined: Any) -> list[State]:
        """What each run shows while the loop holds the state (its current parameters at least)."""

    def keep(self, joined: Any, indices: list[int]) -> Any: ...

    def start(self, joined: Any) -> Any:
        """Empty replay buffers (and fresh envs) around the learners."""

    def prefill(self, joined: Any) -> Any:
        """The buffers' first steps (``joined`` is donated)."""

    def epoch(self, joined: Any, iterations: int) -> tuple[Any, list[dict[str, float]]]:
        """``iterations`` training iterations (``joined`` is donated); each run's mean metrics."""

    def finite(self, joined: Any) -> list[bool]: ...

    def evaluate(self, joined: Any, seeds: list[int]) -> list[EvaluationResult]: ...


State = AgentState | TrainState  # a run's state: collecting (TrainState) or not
EvaluateActor = Callable[[Any, int], EvaluationResult]  # (actor parameters, seed) -> one evaluation


class OneRun:
    """One run: its state as it is, advanced by ``collector``, evaluated by ``evaluate``."""

    def __init__(self, collector: Collector, evaluate: EvaluateActor) -> None:
        self.collector, self._evaluate = collector, evaluate

    def join(self, states: list[State]) -> State:
        (state,) = states
        return state

    def split(self, joined: State) -> list[State]:
        return [joined]

    views = split

    def keep(self, joined: State, indices: list[int]) -> State:
        if indices != [0]:
            raise ValueError(f"one run has only index 0, got {indices}")
        return joined

    def start(self, joined: State) -> TrainState:
        return self.collector.start(joined)

    def prefill(self, joined: TrainState) -> TrainState:
        return self.collector.prefill(joined)

    def epoch(self, joined: TrainState, iterations: int) -> tuple[TrainState, list[dict[str, float]]]:
        state, metrics = self.collector.train(joined, iterations)
        return state, [metrics]

    def finite(self, joined: TrainState) -> list[bool]:
        return [bool(all_finite((joined.learner, joined.peer)))]  # a learning peer (a collector) too

    def evaluate(self, joined: TrainState, seeds: list[int]) -> list[EvaluationResult]:
        (seed,) = seeds
        return [self._evaluate(joined.learner.params.actor, seed)]


class StackedRuns:
    """k runs of ``engine`` on a leading run axis (device path), spread over ``devices`` (default all);
    each run split over ``engine.data_shards`` devices when that is more than one.

    ``evaluation()`` gives the evaluation env's core and episodes per evaluation. ``mesh`` is the
    mesh of the last joined state (of ``runs`` runs until then; None on one device).
    """

    def __init__(self, engine: Engine, evaluation: Callable[[], tuple[GoalEnv, int]], runs: int,
                 devices: Sequence[Any] | None = None) -> None:
        self.engine, self.evaluation, self.devices = engine, evaluation, devices
        self.mesh = run_mesh(runs, devices, engine.data_shards)

    def _placed(self, joined: State, runs: int) -> State:
        self.mesh = run_mesh(runs, self.devices, self.engine.data_shards)  # as many groups as divide the runs evenly
        return shard_runs(joined, self.mesh)

    def join(self, states: list[State]) -> State:
        device = jax.local_devices()[0]
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack([jax.device_put(x, device) for x in xs]), *states)
        if jax.process_count() > 1:  # every process of a jax.distributed job must hold the same runs
            keys = stacked.key
            keys = np.asarray(host_value(jax.random.key_data(keys) if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) else keys))
            same_on_every_process(json.dumps([self.engine.config.to_dict(), keys.tolist()], sort_keys=True, default=str),
                                  "the run set (its config and seeds)")
        return self._placed(stacked, len(states))

    def split(self, joined: State) -> list[State]:
        return [run_slice(joined, index) for index in range(joined.iterations.shape[0])]

    def views(self, joined: State) -> list[State]:
        return [AgentState(learner=run_slice(joined.learner, index), key=joined.key[index],
                           iterations=joined.iterations[index], peer=run_slice(joined.peer, index))
                for index in range(joined.iterations.shape[0])]

    def keep(self, joined: State, indices: list[int]) -> State:
        return self._placed(jax.tree_util.tree_map(lambda x: x[np.asarray(indices)], joined), len(indices))

    def start(self, joined: State) -> TrainState:
        if self.engine.data_shards > 1:
            return compiled.runs_data_parallel_start(joined, self.engine, self.mesh)
        return compiled.runs_start(joined, self.engine)

    def prefill(self, joined: TrainState) -> TrainState:
        if self.engine.data_shards > 1:
            return compiled.runs_data_parallel_prefill(joined, self.engine, self.mesh)
        return compiled.runs_prefill(joined, self.engine)

    def epoch(self, joined: TrainState, iterations: int) -> tuple[TrainState, list[dict[str, float]]]:
        if self.engine.data_shards > 1:
            joined, metrics = compiled.runs_data_parallel_epoch(joined, self.engine, self.mesh, iterations)
        else:
            joined, metrics = compiled.runs_epoch(joined, self.engine, iterations)
        metrics = host_value(metrics)
        return joined, [{k: float(v[index]) for k, v in metrics.items()} for index in range(joined.iterations.shape[0])]

    def finite(self, joined: TrainState) -> list[bool]:
        return [bool(x) for x in host_value(compiled.runs_finite((joined.learner, joined.peer)))]

    def evaluate(self, joined: TrainState, seeds: list[int]) -> list[EvaluationResult]:
        return self.evaluate_actors(joined.learner.params.actor, seeds, self.engine)

    def evaluate_actors(self, actors: Any, seeds: list[int], engine: Engine) -> list[EvaluationResult]:
        """One evaluation per run of stacked ``actors`` (placed as the joined state), acting as ``engine``'s actor."""
        core, episodes = self.evaluation()
        keys = shard_runs(jnp.stack([evaluation_keys(seed, episodes) for seed in seeds]), self.mesh)
        at_goal, distance = host_value(compiled.runs_evaluate(actors, keys, engine, core))
        return [summarise(at_goal[index], distance[index], core.episode_length) for index in range(len(seeds))]


def run_slice(tree: Any, index: int) -> Any:
    """Run ``index``'s slice of a stacked pytree (a copy)."""
    return jax.tree_util.tree_map(lambda x: x[index], tree)
