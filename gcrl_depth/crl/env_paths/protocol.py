"""The one interface of DeepCRL's env paths: :class:`EnvPath` (what the agent needs of its env) and
:class:`Collector` (how a path starts and advances a training state); :class:`Closers`, the envs
a path built; :func:`actor_policy`, the deterministic actor as a host policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.train import AgentState, Engine, TrainState
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.evaluation import EvaluationResult
from gcrl_depth.goal_envs import EnvSizes


class EnvPath(Protocol):
    """What the agent needs of its env, whichever path it trains on."""

    sizes: EnvSizes
    core: GoalEnv | None
    task_kwargs: dict[str, Any]
    eval_env: Any

    @property
    def env_id(self) -> str | None: ...

    def collector(self, engine: Engine) -> Collector: ...

    def evaluate(self, engine: Engine, actor: Any, episodes: int, seed: int) -> EvaluationResult:
        """One evaluation of ``engine``'s deterministic actor with parameters ``actor`` on the evaluation env."""

    def evaluate_on(self, engine: Engine, actor: Any, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        """The same on ``env``, one episode per copy."""

    def get_env(self, num_envs: int) -> gym.vector.VectorEnv: ...

    def record(self) -> dict[str, Any]: ...

    def own(self, close: Callable[[], None]) -> None: ...

    def close(self) -> None: ...


class Collector(Protocol):
    """How training states are started and advanced (see the module docstring)."""

    def start(self, state: AgentState | TrainState) -> TrainState:
        """``state`` with an empty replay buffer (and fresh envs)."""

    def prefill(self, state: TrainState) -> TrainState:
        """``prefill_steps`` steps per env with the current policy, into the buffer (``state`` is donated)."""

    def train(self, state: TrainState, iterations: int) -> tuple[TrainState, dict[str, float]]:
        """``iterations`` training iterations (``state`` is donated); metrics averaged over them."""


class Closers:
    """Envs a path built (or was handed to own), closed by :meth:`close`, newest first."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []

    def own(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def actor_policy(engine: Engine, actor: Any) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The deterministic actor as a host policy of batched Dict observations."""

    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(compiled.act(actor, np.asarray(obs["observation"], np.float32),
                                       np.asarray(obs["desired_goal"], np.float32), engine))

    return policy
