"""Where training steps come from: one interface, a device and a host implementation.

A :class:`Collector` gives DeepCRL its running :class:`~gcrl_depth.crl.training.TrainState`
and advances it: ``start`` (an empty buffer around the learner), ``prefill`` (the buffer's
first steps, initial policy) and ``train`` (iterations of collection and gradient steps).
Both implementations share one trainer: its networks, replay buffer and update program.

* :class:`DeviceCollector`, for gcrl_depth's MJX tasks: collection is a ``lax.scan`` over
  the env's pure-JAX core inside the jitted training program, one call per epoch.
* :class:`HostCollector`, for any Gymnasium goal env: the env steps on the host
  (:class:`~gcrl_depth.crl.env_stepper.EnvStepper`, one batched policy call per step), and
  each iteration's rows go to the device buffer with its gradient steps in one jitted call.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.crl.env_stepper import EnvStepper, Rows
from gcrl_depth.crl.training import CRLTrainer, TrainState


class Collector(Protocol):
    """How training states are started and advanced (see the module docstring)."""

    def start(self, learner: dict[str, Any], key: jax.Array) -> TrainState:
        """A training state around ``learner`` with an empty replay buffer."""

    def prefill(self, state: TrainState) -> TrainState:
        """``prefill_steps`` steps per env with the current policy, into the buffer (``state`` is donated)."""

    def compile(self, state: TrainState, iterations: int) -> float:
        """Compile what :meth:`train` runs; the seconds it took (0 if already compiled)."""

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        """``iterations`` training iterations (``state`` is donated); metrics averaged over them."""


class DeviceCollector:
    """Collection inside the jitted training program (envs with a pure-JAX core)."""

    def __init__(self, trainer: CRLTrainer) -> None:
        self.trainer = trainer

    def start(self, learner: dict[str, Any], key: jax.Array) -> TrainState:
        return self.trainer.start(learner, key)

    def prefill(self, state: TrainState) -> TrainState:
        return self.trainer.prefill(state)

    def compile(self, state: TrainState, iterations: int) -> float:
        return self.trainer.compiled_train(state, iterations)[1]

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        state, metrics = self.trainer.compiled_train(state, iterations)[0](state)
        return state, {k: float(v) for k, v in jax.device_get(metrics).items()}


class HostCollector:
    """Collection from a Gymnasium vector goal env stepped on the host.

    The envs are reset when a training state first collects (their seed drawn from the
    state's key); episode ids continue from the state's, so a resumed buffer's episodes
    stay apart from the new ones. The envs' own state is not part of the training state: a
    resumed run starts new episodes.
    """

    def __init__(self, trainer: CRLTrainer, envs: gym.vector.VectorEnv) -> None:
        self.trainer, self.envs = trainer, envs
        self.stepper: EnvStepper | None = None

    def start(self, learner: dict[str, Any], key: jax.Array) -> TrainState:
        self.stepper = None
        return self.trainer.start(learner, key)

    def prefill(self, state: TrainState) -> TrainState:
        state = self._ready(state)
        if self.trainer.config.prefill_steps == 0:
            return state
        rows, _, state = self._collect(state, self.trainer.config.prefill_steps)
        return self.trainer.insert(state, rows)

    def compile(self, state: TrainState, iterations: int) -> float:
        cfg, sizes = self.trainer.config, self.trainer.env
        shape = (cfg.unroll_length, cfg.num_envs)
        rows = Rows(*(jax.ShapeDtypeStruct(shape + tail, dtype) for tail, dtype in (
            ((sizes.observation_size,), jnp.float32), ((sizes.action_size,), jnp.float32),
            ((sizes.goal_size,), jnp.float32), ((), jnp.int32))))
        return self.trainer.compiled_learn_from(state, rows)[1]

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        state = self._ready(state)
        collected, updated = [], []
        for _ in range(iterations):
            rows, collect_metrics, state = self._collect(state, self.trainer.config.unroll_length)
            program, _ = self.trainer.compiled_learn_from(state, rows)
            state, update_metrics = program(state, rows)
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
        explorer = _Explorer(self.trainer, state.actor_params, state.key)
        rows, metrics = self.stepper.collect(explorer, steps)
        return rows, metrics, state.replace(key=explorer.key, episode=jnp.asarray(self.stepper.episode))


class _Explorer:
    """The stochastic actor as a host policy: one jitted call per step, the key carried along."""

    def __init__(self, trainer: CRLTrainer, actor_params: Any, key: jax.Array) -> None:
        self.trainer, self.actor_params, self.key = trainer, actor_params, key

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        actions, self.key = self.trainer.explore(self.actor_params, self.key, obs, goal)
        return np.asarray(actions)


def _stack(metrics: list[dict[str, jax.Array]]) -> dict[str, jax.Array]:
    return {k: jnp.stack([m[k] for m in metrics]) for k in metrics[0]}
