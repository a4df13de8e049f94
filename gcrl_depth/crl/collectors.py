"""Where training steps come from: one interface, a device and a host implementation.

A :class:`Collector` advances DeepCRL's :class:`~gcrl_depth.crl.engine.TrainState`:
``start`` (an empty buffer around the learner), ``prefill`` (the buffer's first steps,
initial policy) and ``train`` (iterations of collection and gradient steps). Both
implementations run the same :class:`~gcrl_depth.crl.engine.Engine` through the programs of
:mod:`gcrl_depth.crl.compiled`.

* :class:`DeviceCollector`, for gcrl_depth's MJX tasks: collection is a ``lax.scan`` over
  the env's pure-JAX core inside the compiled epoch program, one call per epoch.
* :class:`HostCollector`, for any Gymnasium goal env: the env steps on the host
  (:class:`~gcrl_depth.crl.env_stepper.EnvStepper`, one batched policy call per step), and
  each iteration's rows go to the device buffer with its gradient steps in one compiled call.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl import compiled, devices
from gcrl_depth.crl.engine import Engine, TrainState
from gcrl_depth.crl.env_stepper import EnvStepper, Rows


class Collector(Protocol):
    """How training states are started and advanced (see the module docstring)."""

    def start(self, state: TrainState) -> TrainState:
        """``state`` with an empty replay buffer (and fresh envs)."""

    def prefill(self, state: TrainState) -> TrainState:
        """``prefill_steps`` steps per env with the current policy, into the buffer (``state`` is donated)."""

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        """``iterations`` training iterations (``state`` is donated); metrics averaged over them."""


class DeviceCollector:
    """Collection inside the compiled training program (envs with a pure-JAX core); with a
    ``mesh``, the engine's data shards run on its devices (:mod:`gcrl_depth.crl.devices`)."""

    def __init__(self, engine: Engine, mesh: Any = None) -> None:
        self.engine, self.mesh = engine, mesh

    def _placed(self, state: TrainState) -> TrainState:
        """Data parallel: the state laid out over the mesh as the programs expect (a no-op when it is)."""
        return state if self.mesh is None else devices.place(state, self.mesh)

    def start(self, state: TrainState) -> TrainState:
        if self.mesh is not None:
            return compiled.data_parallel_start(self._placed(state), self.engine, self.mesh)
        return compiled.start(state, self.engine)

    def prefill(self, state: TrainState) -> TrainState:
        if self.mesh is not None:
            return compiled.data_parallel_prefill(self._placed(state), self.engine, self.mesh)
        return compiled.prefill(state, self.engine)

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        if self.mesh is not None:
            state, metrics = compiled.data_parallel_epoch(self._placed(state), self.engine, self.mesh, iterations)
        else:
            state, metrics = compiled.epoch(state, self.engine, iterations)
        return state, {k: float(v) for k, v in jax.device_get(metrics).items()}


class HostCollector:
    """Collection from a Gymnasium vector goal env stepped on the host.

    The envs are reset when a training state first collects (their seed drawn from the
    state's key); episode ids continue from the state's, so a resumed buffer's episodes
    stay apart from the new ones. The envs' own state is not part of the training state: a
    resumed run starts new episodes.
    """

    def __init__(self, engine: Engine, envs: gym.vector.VectorEnv) -> None:
        self.engine, self.envs = engine, envs
        self.stepper: EnvStepper | None = None

    def start(self, state: TrainState) -> TrainState:
        self.stepper = None
        return compiled.start(state, self.engine)

    def prefill(self, state: TrainState) -> TrainState:
        state = self._ready(state)
        if self.engine.config.prefill_steps == 0:
            return state
        rows, _, state = self._collect(state, self.engine.config.prefill_steps)
        return compiled.insert(state, rows, self.engine)

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        state = self._ready(state)
        collected, updated = [], []
        for _ in range(iterations):
            rows, collect_metrics, state = self._collect(state, self.engine.config.unroll_length)
            state, update_metrics = compiled.learn_from(state, rows, self.engine)
            collected.append(collect_metrics)
            updated.append(update_metrics)
        metrics = {k: float(np.mean([m[k] for m in collected if k in m])) for k in dict.fromkeys(k for m in collected for k in m)}
        metrics.update({k: float(np.mean(v)) for k, v in jax.device_get(_stack(updated)).items()})
        return state, metrics

    def _ready(self, state: TrainState) -> TrainState:
        """Reset the envs for a state that has not collected yet; its episode ids continue
        after every id the state and its buffer hold."""
        if self.stepper is not None:
            return state
        key, reset_key = jax.random.split(state.key)
        seed = int(jax.random.randint(reset_key, (), 0, np.iinfo(np.int32).max))
        used = np.maximum(np.asarray(state.episode), np.asarray(jnp.max(state.buffer.episode, axis=0)))
        self.stepper = EnvStepper(self.envs, seed=seed, episode=used)
        return state.replace(key=key)

    def _collect(self, state: TrainState, steps: int) -> tuple[Rows, dict[str, float], TrainState]:
        """``steps`` rows per env with the stochastic actor; the state's key and episode ids move on."""
        explorer = _Explorer(self.engine, state.learner.params.actor, state.key)
        rows, metrics = self.stepper.collect(explorer, steps)
        return rows, metrics, state.replace(key=explorer.key, episode=jnp.asarray(self.stepper.episode))


class _Explorer:
    """The stochastic actor as a host policy: one compiled call per step, the key carried along."""

    def __init__(self, engine: Engine, actor: Any, key: jax.Array) -> None:
        self.engine, self.actor, self.key = engine, actor, key

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        actions, self.key = compiled.explore(self.actor, self.key, jnp.asarray(obs), jnp.asarray(goal), self.engine)
        return np.asarray(actions)


def _stack(metrics: list[dict[str, jax.Array]]) -> dict[str, jax.Array]:
    return {k: jnp.stack([m[k] for m in metrics]) for k in metrics[0]}
