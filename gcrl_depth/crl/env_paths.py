"""Where DeepCRL's steps come from, behind one interface: the device path and the host path.

:func:`open_env_path` turns what DeepCRL was given into an :class:`EnvPath`:

* :class:`DevicePath`, gcrl_depth's own envs: training steps the env's pure-JAX core inside
  the compiled epoch (:class:`~gcrl_depth.crl.collectors.DeviceCollector`), evaluation is
  one compiled rollout (:func:`~gcrl_depth.envs.rollout.episode_sums`);
* :class:`HostPath`, any other Gymnasium goal env: ``num_envs`` copies stepped on the host
  (:class:`~gcrl_depth.crl.collectors.HostCollector`), evaluated by
  :func:`~gcrl_depth.evaluation.evaluate`.

Both give the agent the same things: ``sizes``, ``collector(engine)``, ``evaluate`` and
``evaluate_on`` (of an engine's deterministic actor), ``get_env``, ``record`` (what a checkpoint stores to rebuild the env) and
``close`` (the envs the path built; never one it was given).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from gcrl_depth.crl import compiled
from gcrl_depth.crl.collectors import Collector, DeviceCollector, HostCollector
from gcrl_depth.crl.config import CRLConfig
from gcrl_depth.crl.devices import data_mesh
from gcrl_depth.crl.engine import Engine, EnvSizes
from gcrl_depth.crl.env_source import eval_core, is_device_env, resolve_eval_env, unwrap_env
from gcrl_depth.crl.env_stepper import goal_env_sizes
from gcrl_depth.crl.host_env import HostEnv, check_eval_env, close_built, evaluation_length, host_env
from gcrl_depth.envs import env_id
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.envs.gym_api import GcrlVectorEnv
from gcrl_depth.evaluation import EvaluationResult, evaluate, evaluation_keys, summarise
from gcrl_depth.goal_envs import vector_goal_env


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


def open_env_path(env: Any, configure: Callable[[int | None], CRLConfig], eval_env: Any, eval_episodes: int,
                  data_parallel: int = 1) -> tuple[EnvPath, CRLConfig]:
    """The path DeepCRL trains ``env`` on (gcrl_depth envs: the device; any other goal env: the
    host) and the config, which ``configure`` makes from the ``num_envs`` a given vector env
    fixes (None where DeepCRL's ``num_envs`` decides)."""
    if is_device_env(env):
        config = configure(unwrap_env(env)[3])
        return DevicePath(env, eval_env, eval_episodes, data_parallel), config
    if data_parallel > 1:
        raise ValueError("data_parallel needs a gcrl_depth env (the device path); other envs step on the host")
    host = host_env(env)
    config = configure(host.num_envs)
    return HostPath(host, config.num_envs, eval_env, eval_episodes), config


class _Closers:
    """Envs a path built (or was handed to own), closed by :meth:`close`, newest first."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []

    def own(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


class DevicePath(_Closers):
    """gcrl_depth's own envs: the pure-JAX core steps inside the compiled programs."""

    def __init__(self, env: Any, eval_env: Any, eval_episodes: int, data_parallel: int = 1) -> None:
        super().__init__()
        self.core, self.task, self.task_kwargs, _ = unwrap_env(env)
        self.given = env if isinstance(env, gym.vector.VectorEnv) else None
        self.sizes = EnvSizes.of(self.core)
        self.data_parallel = data_parallel
        self.eval_env = resolve_eval_env(eval_env, self.task, self.task_kwargs, self.core) if eval_episodes > 0 else eval_env

    @property
    def env_id(self) -> str | None:
        return None if self.task is None else env_id(self.task)

    def collector(self, engine: Engine) -> Collector:
        return DeviceCollector(engine, data_mesh(self.data_parallel) if self.data_parallel > 1 else None)

    def evaluation(self, episodes: int) -> tuple[GoalEnv, int]:
        """The evaluation env's core and the episodes per evaluation (a vector eval env fixes them)."""
        if self.eval_env is None:
            self.eval_env = resolve_eval_env(None, self.task, self.task_kwargs, self.core)
        if not isinstance(self.eval_env, str):
            episodes = self.eval_env.unwrapped.num_envs
        return eval_core(self.eval_env, self.task_kwargs), max(1, episodes)

    def evaluate(self, engine: Engine, actor: Any, episodes: int, seed: int) -> EvaluationResult:
        core, episodes = self.evaluation(episodes)
        return device_evaluation(engine, actor, core, episodes, seed)

    def evaluate_on(self, engine: Engine, actor: Any, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        if isinstance(env.unwrapped, GcrlVectorEnv):
            sizes = EnvSizes.of(env.unwrapped.core)
            if sizes != self.sizes:
                raise ValueError(f"evaluate(env=...): env sizes {sizes.as_dict()} differ from the model's {self.sizes.as_dict()}")
            return device_evaluation(engine, actor, env.unwrapped.core, env.unwrapped.num_envs, seed)
        check_eval_env(env, self.sizes, self.given)
        return evaluate(actor_policy(engine, actor), env, seed=seed, max_steps=evaluation_length(env))

    def get_env(self, num_envs: int) -> gym.vector.VectorEnv:
        if self.given is None:
            self.given = GcrlVectorEnv(self.task or self.core, num_envs=num_envs, **self.task_kwargs)
        return self.given

    def record(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "task_kwargs": self.task_kwargs}


class HostPath(_Closers):
    """Any other Gymnasium goal env: ``num_envs`` copies stepped on the host."""

    def __init__(self, host: HostEnv, num_envs: int, eval_env: Any, eval_episodes: int) -> None:
        super().__init__()
        self.host, self.core, self.task_kwargs = host, None, host.env_kwargs
        self.envs = host.training_envs(num_envs)
        self.own(functools.partial(close_built, self.envs, host))
        try:
            self.sizes = goal_env_sizes(self.envs)
            self.eval_env = check_eval_env(eval_env, self.sizes, self.envs) if eval_episodes > 0 else eval_env
            self._eval_envs = self._build_eval_envs(eval_episodes) if eval_episodes > 0 else None
        except BaseException:
            self.close()
            raise

    @property
    def env_id(self) -> str | None:
        return self.host.env_id

    def collector(self, engine: Engine) -> Collector:
        return HostCollector(engine, self.envs)

    def _build_eval_envs(self, episodes: int) -> gym.vector.VectorEnv:
        """``eval_env`` as given or built, else copies of the training env."""
        if isinstance(self.eval_env, gym.vector.VectorEnv):
            envs = self.eval_env
        else:
            episodes = max(1, episodes)
            envs = vector_goal_env(self.eval_env, episodes) if self.eval_env else self.host.eval_envs(episodes)
            self.own(envs.close)
            check_eval_env(envs, self.sizes, self.envs)
        evaluation_length(envs)
        return envs

    def evaluate(self, engine: Engine, actor: Any, episodes: int, seed: int) -> EvaluationResult:
        if self._eval_envs is None:
            self.eval_env = check_eval_env(self.eval_env, self.sizes, self.envs)
            self._eval_envs = self._build_eval_envs(episodes)
        return evaluate(actor_policy(engine, actor), self._eval_envs, seed=seed,
                        max_steps=evaluation_length(self._eval_envs))

    def evaluate_on(self, engine: Engine, actor: Any, env: gym.vector.VectorEnv, seed: int) -> EvaluationResult:
        check_eval_env(env, self.sizes, self.envs)
        return evaluate(actor_policy(engine, actor), env, seed=seed, max_steps=evaluation_length(env))

    def get_env(self, num_envs: int) -> gym.vector.VectorEnv:
        return self.envs

    def record(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "task_kwargs": self.task_kwargs, **self.host.record()}


def device_evaluation(engine: Engine, actor: Any, core: GoalEnv, episodes: int, seed: int) -> EvaluationResult:
    """``episodes`` episodes of ``core`` as one compiled rollout; with the same ``seed`` the same starts
    and goals as :func:`~gcrl_depth.evaluation.evaluate` on a vector env of ``core``."""
    at_goal, distance = compiled.evaluate(actor, evaluation_keys(seed, episodes), engine, core)
    return summarise(np.asarray(at_goal), np.asarray(distance), core.episode_length)


def actor_policy(engine: Engine, actor: Any) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The deterministic actor as a host policy of batched Dict observations."""

    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(compiled.act(actor, np.asarray(obs["observation"], np.float32),
                                       np.asarray(obs["desired_goal"], np.float32), engine))

    return policy
