"""Third-party goal envs for DeepCRL: what to step on the host, and how to rebuild it.

Any Gymnasium env whose observation is a goal-env Dict (gymnasium-robotics' mazes, a
user's own) trains through :class:`~gcrl_depth.crl.collectors.HostCollector`. A
:class:`HostEnv` holds what DeepCRL was given (an id, a single env or a vector env),
builds the training vector env of ``num_envs`` copies and the evaluation env, and records
the id and kwargs that rebuild both in a checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from typing import Any

import gymnasium as gym

from gcrl_depth.crl.env_stepper import goal_env_sizes
from gcrl_depth.crl.training import EnvSizes
from gcrl_depth.goal_envs import check_goal_space, episode_length

VECTOR_ONLY_KWARGS = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")
VECTORIZATION_MODES = ("sync", "async")


@dataclasses.dataclass
class HostEnv:
    """A goal env stepped on the host.

    Attributes:
        env_id: its registered id (None for an env that was never registered).
        env_kwargs: the kwargs that, with ``env_id``, rebuild it (``gym.make_vec(env_id, n, **env_kwargs)``).
        vectorization_mode: ``"sync"`` or ``"async"``, how a rebuilt vector env steps its copies.
        given: the env object DeepCRL was given, if any (a single env or a vector env).
        module: the package whose import registers ``env_id`` (from its entry point), if known.
    """

    env_id: str | None
    env_kwargs: dict[str, Any]
    vectorization_mode: str = "sync"
    given: gym.Env | gym.vector.VectorEnv | None = None
    module: str | None = None

    @property
    def num_envs(self) -> int | None:
        """The copies a given vector env fixes (None: DeepCRL's ``num_envs`` decides)."""
        return self.given.num_envs if isinstance(self.given, gym.vector.VectorEnv) else None

    def training_envs(self, num_envs: int) -> gym.vector.VectorEnv:
        """The vector env training steps: the given one, or ``num_envs`` copies of the env."""
        if isinstance(self.given, gym.vector.VectorEnv):
            envs = self.given
        elif self.given is not None:
            envs = _copies(self.given, num_envs)
        else:
            envs = gym.make_vec(self.env_id, num_envs=num_envs, vectorization_mode=self.vectorization_mode, **self.env_kwargs)
        check_goal_space(envs.single_observation_space, f"env {self.env_id or type(envs).__name__}")
        return envs

    def eval_envs(self, episodes: int) -> gym.vector.VectorEnv:
        """``episodes`` fresh copies of the env (one evaluation episode each), stepped in this process."""
        if self.env_id is None:
            raise ValueError("DeepCRL evaluates on fresh copies of the training env, built from its registered id, "
                             "and this env has none: register it (gym.register(id, entry_point=..., "
                             "max_episode_steps=...)), or pass eval_env= (an id or vector env), or eval_episodes=0")
        return gym.make_vec(self.env_id, num_envs=episodes, vectorization_mode="sync", **self.env_kwargs)

    def record(self) -> dict[str, Any]:
        """What a checkpoint keeps to rebuild the env (``env_kwargs`` None where they are not JSON)."""
        try:
            kwargs = json.loads(json.dumps(self.env_kwargs))
        except (TypeError, ValueError):
            kwargs = None
        return {"env_id": self.env_id, "task_kwargs": kwargs, "env_path": "host",
                "vectorization_mode": self.vectorization_mode, "env_module": self.module}


def host_env(env: Any) -> HostEnv:
    """The :class:`HostEnv` of an env id, a single Gymnasium env or a vector env (goal envs only)."""
    if isinstance(env, str):
        spec = _registered_spec(env)
        return HostEnv(spec.id, {}, given=None, module=_entry_module(spec))
    if isinstance(env, gym.vector.VectorEnv):
        spec = env.spec if env.spec is not None else getattr(getattr(env, "envs", [None])[0], "spec", None)
        check_goal_space(env.single_observation_space, f"env {getattr(spec, 'id', type(env).__name__)}")
        mode = (spec.kwargs.get("vectorization_mode") if spec is not None else None) or _mode_of(env)
        return _from_spec(spec, mode, env)
    if isinstance(env, gym.Env):
        spec = env.spec
        check_goal_space(env.observation_space, f"env {getattr(spec, 'id', type(env.unwrapped).__name__)}")
        return _from_spec(spec, "sync", env)
    raise TypeError(f"DeepCRL needs an env id, a Gymnasium goal env or a vector goal env; got {type(env).__name__}")


def rebuild(record: dict[str, Any], num_envs: int, path: str) -> gym.vector.VectorEnv:
    """The training vector env of a checkpoint's :meth:`HostEnv.record`; says what to pass where it cannot."""
    env_id, kwargs = record.get("env_id"), record.get("task_kwargs")
    if env_id is None or kwargs is None:
        why = "an env without a registered id" if env_id is None else f"{env_id} with kwargs that are not JSON"
        raise ValueError(f"{path!r} was trained on {why}, which cannot be rebuilt: pass env= to load")
    if env_id not in gym.registry and record.get("env_module"):
        try:
            importlib.import_module(record["env_module"])  # the package that registers the id (as gym.make("module:id") does)
        except ImportError:
            pass
    if env_id not in gym.registry:
        where = f" (registered by {record['env_module']!r}, which is not installed)" if record.get("env_module") else ""
        raise ValueError(f"{path!r} was trained on {env_id!r}, which is not registered in this process{where}: "
                         "import or install what registers it, or pass env= to load")
    mode = record.get("vectorization_mode", "sync")
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def check_eval_env(eval_env: Any, sizes: EnvSizes) -> Any:
    """``eval_env`` (None, an id or a vector goal env) if it fits the training env's sizes."""
    if eval_env is None or isinstance(eval_env, str):
        if isinstance(eval_env, str):
            _registered_spec(eval_env)
        return eval_env
    if not isinstance(eval_env, gym.vector.VectorEnv):
        raise TypeError(f"eval_env must be an env id or a vector goal env (gym.make_vec), got {type(eval_env).__name__}")
    check_goal_space(eval_env.single_observation_space, "eval_env")
    if goal_env_sizes(eval_env) != sizes:
        raise ValueError(f"eval_env sizes {goal_env_sizes(eval_env)} differ from the training env's {sizes}")
    return eval_env


def evaluation_length(envs: gym.vector.VectorEnv) -> int:
    """Steps per evaluation episode of a host env; a clear error where the env registers none."""
    length = episode_length(envs)
    if length is None:
        raise ValueError("DeepCRL's evaluation needs the episode length and this env registers no max_episode_steps: "
                         "register it with max_episode_steps=N, wrap it in gym.wrappers.TimeLimit, or pass eval_episodes=0")
    return length


def _registered_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    try:
        return gym.spec(env_id)
    except gym.error.Error as error:
        raise ValueError(f"unknown env id {env_id!r}: {error}") from error


def _from_spec(spec: gym.envs.registration.EnvSpec | None, mode: str, given: Any) -> HostEnv:
    if spec is None:
        return HostEnv(None, {}, mode, given)
    kwargs = {k: v for k, v in spec.kwargs.items() if k not in VECTOR_ONLY_KWARGS}
    registered = gym.registry.get(spec.id)
    if spec.max_episode_steps is not None and registered is not None and registered.max_episode_steps != spec.max_episode_steps:
        kwargs.setdefault("max_episode_steps", spec.max_episode_steps)
    return HostEnv(spec.id if registered is not None else None, kwargs, mode if mode in VECTORIZATION_MODES else "sync",
                   given, _entry_module(spec))


def _mode_of(envs: gym.vector.VectorEnv) -> str:
    return "async" if isinstance(envs, gym.vector.AsyncVectorEnv) else "sync"


def _entry_module(spec: gym.envs.registration.EnvSpec) -> str | None:
    """The top-level package of a string entry point (``pkg.mod:Class`` -> ``pkg``), if it is importable by name."""
    if not isinstance(spec.entry_point, str):
        return None
    module = spec.entry_point.split(":")[0].split(".")[0]
    return None if module == "__main__" else module


def _copies(env: gym.Env, num_envs: int) -> gym.vector.VectorEnv:
    """A sync vector env of ``env`` and ``num_envs - 1`` copies made from its spec."""
    if num_envs == 1:
        return gym.vector.SyncVectorEnv([lambda: env])
    if env.spec is None or env.spec.id not in gym.registry:
        raise ValueError(f"DeepCRL needs num_envs={num_envs} copies of this env and cannot make them: it has no "
                         "registered id. Register it (gym.register), pass a vector env (gym.vector.SyncVectorEnv"
                         "([make_env] * N)), or num_envs=1")
    return gym.vector.SyncVectorEnv([lambda: env] + [functools.partial(gym.make, env.spec)] * (num_envs - 1))
