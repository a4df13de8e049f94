"""What gcrl_depth reads from any Gymnasium goal env: its sizes and spaces, episode length, success and distance.

A goal env follows Gymnasium-Robotics' convention: a Dict observation with ``observation``,
``achieved_goal`` and ``desired_goal``. gcrl_depth's own envs are goal envs; so are
gymnasium-robotics' mazes and a user's own. Per step:

* success: ``info["is_success"]``, else ``info["success"]``, else the env's
  ``compute_reward(achieved_goal, desired_goal, info) > 0``;
* distance: ``info["distance"]``, else ``||achieved_goal - desired_goal||``;
* in a vector env whose episodes end with a same-step auto-reset, the returned observation
  already starts the next episode: the ended episode's last observation and info are read
  from ``info["final_obs"]`` / ``info["final_info"]``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from gcrl_depth.checks import positive_int

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
RewardFn = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]


@dataclasses.dataclass(frozen=True)
class EnvSizes:
    """What the networks and buffer need to know of an env."""

    observation_size: int
    goal_size: int
    action_size: int

    @classmethod
    def of(cls, core: Any) -> EnvSizes:
        """The sizes of a gcrl_depth env core."""
        return cls(core.observation_size, core.goal_size, core.action_size)

    @classmethod
    def of_vector_env(cls, envs: gym.vector.VectorEnv) -> EnvSizes:
        """Flat observation, goal and action sizes of a Gymnasium vector goal env."""
        space: Any = envs.single_observation_space  # a Dict space: check_goal_space
        return cls(observation_size=_flat_size(space["observation"]), goal_size=_flat_size(space["desired_goal"]),
                   action_size=_flat_size(envs.single_action_space))

    def as_dict(self) -> dict[str, int]:
        """``{"observation": ..., "goal": ..., "action": ...}``, as checkpoints record them."""
        return {"observation": self.observation_size, "goal": self.goal_size, "action": self.action_size}


def _flat_size(space: gym.Space) -> int:
    return int(np.prod(space.shape or ()))


def check_goal_space(space: gym.Space, what: str = "env") -> None:
    """Raise a TypeError naming the expected keys unless ``space`` is a goal env's Dict observation space."""
    keys = tuple(space.spaces) if isinstance(space, gym.spaces.Dict) else None
    if keys is None or not set(GOAL_KEYS) <= set(keys):
        found = f"a Dict with keys {sorted(keys)}" if keys is not None else type(space).__name__
        raise TypeError(f"{what} is not a goal env: its observation space must be a Dict with keys {list(GOAL_KEYS)} "
                        f"(Gymnasium-Robotics' GoalEnv convention); found {found}")
    assert isinstance(space, gym.spaces.Dict)
    achieved, desired = (space[key].shape for key in ("achieved_goal", "desired_goal"))
    if achieved is not None and desired is not None and int(np.prod(achieved)) != int(np.prod(desired)):
        raise ValueError(f"{what}: achieved_goal {tuple(achieved)} and desired_goal {tuple(desired)} must have the same "
                         "size (CRL relabels a state's goal with a later achieved goal)")


def registered_spec(name: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of an env id; ``"module:Id"`` first imports ``module`` (Gymnasium's convention)."""
    module, sep, env_id = name.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ValueError(f"env id {name!r}: cannot import {module!r}, which should register {env_id!r} ({error})") from error
    try:
        return gym.spec(env_id if sep else name)
    except gym.error.Error as error:
        raise ValueError(f"unknown env id {name!r}: {error}") from error


def vector_goal_env(env: str | gym.vector.VectorEnv, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """A vector env of an id (gcrl_depth's own vector env, else Gymnasium's sync vectorization), or ``env`` as given."""
    from gcrl_depth.envs import env_id, is_gcrl_id, task_name

    if isinstance(env, str):
        num_envs = positive_int(num_envs, "num_envs")
        if is_gcrl_id(env):
            return gym.make_vec(env_id(task_name(env)), num_envs=num_envs, **env_kwargs)
        return gym.make_vec(registered_spec(env).id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)
    if not isinstance(env, gym.vector.VectorEnv):
        raise TypeError(f"expected an env id or a vector env (gym.make_vec(id, num_envs=N)), got {type(env).__name__}")
    return env


@dataclasses.dataclass(frozen=True)
class GivenEnv:
    """An env as DeepCRL was given it (an id, an env or a vector env), read once: the wrappers
    around it (outermost first), the env inside them, and for a vector env of sub-envs its
    first one; ``spec`` is the env's own spec, else that sub-env's."""

    env: Any
    wrappers: tuple[Any, ...]
    inner: Any
    first: Any
    spec: gym.envs.registration.EnvSpec | None

    @classmethod
    def of(cls, env: Any) -> GivenEnv:
        *wrappers, inner = wrapper_layers(env)
        first = first_env(env)
        spec = getattr(env, "spec", None) or getattr(first, "spec", None)
        return cls(env, tuple(wrappers), inner, first, spec)


def first_env(envs: Any) -> Any:
    """A vector env's first sub-env (sync vector envs hold theirs in ``envs``), else None."""
    subs = getattr(envs, "envs", None)
    return subs[0] if subs else None


def wrapper_layers(env: Any) -> Iterator[Any]:
    """``env`` and every env it wraps, outermost first (Gymnasium wrappers and vector wrappers)."""
    layer = env
    while isinstance(layer, (gym.Wrapper, gym.vector.VectorWrapper)):
        yield layer
        layer = layer.env
    yield layer


def episode_length(envs: gym.vector.VectorEnv | gym.Env) -> int | None:
    """Steps per episode: a gcrl_depth core's, else a ``TimeLimit``'s, else the registered
    ``max_episode_steps``, else None."""
    layers = (first_env(envs), envs)  # a sync vector env's first env (its own time limit), the env
    for layer in layers:
        core = getattr(getattr(layer, "unwrapped", None), "core", None)
        if core is not None:
            return int(core.episode_length)
    for layer in layers:
        for wrapper in wrapper_layers(layer):
            if isinstance(wrapper, gym.wrappers.TimeLimit):
                return int(wrapper._max_episode_steps)
    for layer in layers:
        spec = getattr(layer, "spec", None)
        if spec is not None and spec.max_episode_steps:
            return int(spec.max_episode_steps)
    return None


def reward_function(envs: gym.vector.VectorEnv) -> Callable[[], RewardFn | None]:
    """A function giving the env's batched ``compute_reward`` (found on first call, then kept), or None."""
    return functools.cache(lambda: _find_reward_function(envs))


def _find_reward_function(envs: gym.vector.VectorEnv) -> RewardFn | None:
    single = first_env(envs)
    spec = getattr(envs, "spec", None)
    if single is None and spec is not None:
        single = gym.make(spec.id)
    return getattr(getattr(single, "unwrapped", None), "compute_reward", None)


def terminal_view(obs: dict[str, np.ndarray], info: dict[str, Any], done: np.ndarray) -> tuple[dict, dict]:
    """(obs, info) of the step just taken: for envs that ended with a same-step auto-reset, their final ones."""
    ended = done & np.asarray(info.get("_final_obs", np.zeros_like(done)), bool)
    if not ended.any():
        return obs, info
    final_obs = info["final_obs"]
    obs = {key: np.array(value, copy=True) for key, value in obs.items()}
    for key in GOAL_KEYS:
        if isinstance(final_obs, dict):  # a batched Dict (gcrl_depth's vector env)
            obs[key][ended] = np.asarray(final_obs[key])[ended]
        else:  # an object array of per-env dicts (Gymnasium's sync and async vector envs)
            for index in np.flatnonzero(ended):
                obs[key][index] = final_obs[index][key]
    final_info = info.get("final_info")
    if isinstance(final_info, dict):
        info = dict(info)
        for key, value in final_info.items():
            if not key.startswith("_") and key in info:
                mask = ended & np.asarray(final_info.get(f"_{key}", ended), bool)
                merged = np.array(info[key], copy=True)
                merged[mask] = np.asarray(value)[mask]
                info[key] = merged
            elif not key.startswith("_"):
                info[key] = value
    return obs, info


SUCCESS_KEYS = ("is_success", "success")  # info keys of a step's success, in the order they are read


def step_success(obs: dict[str, np.ndarray], info: dict[str, Any], reward_of: Callable[[], RewardFn | None]) -> np.ndarray:
    """Per env: is the achieved goal at the desired goal after this step?

    ``reward_of()`` gives the env's ``compute_reward``; it is asked for only when info has no success key.
    """
    for key in SUCCESS_KEYS:
        if key in info:
            value = np.asarray(info[key])
            if value.dtype.kind not in "biuf":
                raise TypeError(f"the env's info[{key!r}] must be booleans or numbers (one per env), got {value.dtype} "
                                f"values such as {value.ravel()[:1].tolist()}")
            return value.astype(float)
    reward_fn = reward_of()
    if reward_fn is None:
        raise ValueError("cannot tell success: the env's info has neither 'is_success' nor 'success', "
                         "and it has no compute_reward(achieved_goal, desired_goal, info)")
    rewards = reward_fn(obs["achieved_goal"], obs["desired_goal"], {})
    return (np.asarray(rewards) > 0).astype(float)


def step_distance(obs: dict[str, np.ndarray], info: dict[str, Any]) -> np.ndarray:
    """Per env: distance from the achieved goal to the desired goal after this step."""
    if "distance" in info:
        return np.asarray(info["distance"], dtype=float)
    difference = np.asarray(obs["achieved_goal"], float) - np.asarray(obs["desired_goal"], float)
    return np.linalg.norm(difference.reshape(len(difference), -1), axis=-1)


def policy_inputs(observation: Any, observation_size: int, goal_size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(observations, desired goals, single)`` of one Dict observation or a batch of them, as float32
    batches (one goal for a batch of observations is every observation's goal); a clear ValueError
    for anything else (a policy's ``predict`` input)."""
    if not isinstance(observation, Mapping) or not {"observation", "desired_goal"} <= set(observation):
        raise ValueError("predict expects a Dict observation with 'observation' and 'desired_goal' (numpy arrays)")
    obs, goal = _float_array(observation, "observation"), _float_array(observation, "desired_goal")
    single = obs.ndim == 1
    if obs.ndim == 2 and goal.ndim == 1 and goal.shape == (goal_size,):  # one goal for the whole batch
        goal = np.broadcast_to(goal, (obs.shape[0], goal_size))
    for name, array, size in (("observation", obs, observation_size), ("desired_goal", goal, goal_size)):
        if array.ndim not in (1, 2) or array.shape[-1] != size or array.ndim != obs.ndim:
            raise ValueError(f"{name} must have shape ({size},) or (batch, {size}); got {array.shape}")
    if not single and goal.shape[0] != obs.shape[0]:
        raise ValueError(f"observation and desired_goal batch sizes differ: {obs.shape[0]} vs {goal.shape[0]}")
    for name, array in (("observation", obs), ("desired_goal", goal)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers")
    return np.atleast_2d(obs), np.atleast_2d(goal), single


def _float_array(observation: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(observation[name], dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"predict: {name} must be numbers (a float array); {error}") from error
