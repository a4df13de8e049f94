"""Gymnasium layer over the pure-JAX core: a GoalEnv-style ``Env`` and a ``VectorEnv``.

This is the only module of ``gcrl_depth.envs`` that imports Gymnasium. It stays thin:
each public call is one jitted function of the core, with numpy at the boundary.

* :class:`GcrlGoalEnv` is a single ``gymnasium.Env`` with a Dict observation
  (``observation``, ``achieved_goal``, ``desired_goal``) and batch-capable
  ``compute_reward`` / ``compute_terminated`` / ``compute_truncated`` (the
  gymnasium-robotics GoalEnv contract), so stable-baselines3's ``HerReplayBuffer``
  works on it (SB3 reaches ``compute_reward`` through ``get_wrapper_attr``).
* :class:`GcrlVectorEnv` runs ``num_envs`` copies in one jitted ``vmap`` per call. It
  resets finished sub-envs within the same step (``AutoresetMode.SAME_STEP``): the
  returned observation starts the new episode, and ``info["final_obs"]`` (a batched
  Dict, valid where ``info["_final_obs"]`` is True) holds the last observation of the
  finished one.

Rendering (``render_mode="rgb_array"``) uses MuJoCo's offscreen renderer. On a machine
without a display, ``gcrl_depth`` defaults ``MUJOCO_GL`` to ``egl``; that needs an EGL
library (Debian: ``apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri``; on NVIDIA
GPUs the driver provides it). ``MUJOCO_GL=osmesa`` with ``libosmesa6`` works too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from gcrl_depth.checks import positive_int
from gcrl_depth.envs.core import EnvState, GoalEnv

OBS_KEYS = ("observation", "achieved_goal", "desired_goal")
_CORE_CACHE: dict[str, GoalEnv] = {}


def shared_core(task: str | GoalEnv, task_kwargs: dict[str, Any]) -> GoalEnv:
    """The core env for ``task``; instances are shared, and with them their compiled programs (a core is a
    static argument of ``jax.jit``, hashed by identity)."""
    if isinstance(task, GoalEnv):
        if task_kwargs:
            raise TypeError(f"task options {sorted(task_kwargs)} cannot be applied to an existing {task!r}")
        return task
    from gcrl_depth.envs import make_core

    cache_key = json.dumps([task, task_kwargs], sort_keys=True, default=repr)
    if cache_key not in _CORE_CACHE:
        _CORE_CACHE[cache_key] = make_core(task, **task_kwargs)
    return _CORE_CACHE[cache_key]


def _task_spec(task: str | GoalEnv, task_kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(task name or None for a core instance, task options): enough to rebuild the env."""
    from gcrl_depth.envs import task_name

    return (task_name(task) if isinstance(task, str) else None), dict(task_kwargs)


def goal_dict_space(core: GoalEnv) -> spaces.Dict:
    """Observation space of one env."""

    def box(size: int) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)

    return spaces.Dict(
        {
            "observation": box(core.observation_size),
            "achieved_goal": box(core.goal_size),
            "desired_goal": box(core.goal_size),
        }
    )


def _obs_arrays(state: EnvState) -> tuple[jax.Array, jax.Array, jax.Array]:
    return state.obs, state.achieved_goal, state.goal


def _as_obs_dict(arrays: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
    return {key: np.asarray(value, dtype=np.float32) for key, value in zip(OBS_KEYS, arrays)}


def _step_outputs(state: EnvState) -> tuple:
    return _obs_arrays(state), state.reward, state.terminated, state.truncated, state.metrics


def validate_actions(action: Any, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Return ``action`` as float32, raising a clear error for a wrong shape or NaN."""
    action = np.asarray(action, dtype=np.float32)
    if action.shape != expected_shape:
        raise ValueError(f"expected an action of shape {expected_shape}, got shape {action.shape}")
    if np.isnan(action).any():
        raise ValueError("action contains NaN; expected finite values in [-1, 1]")
    return action


def refuse_options(options: dict | None) -> None:
    """gcrl_depth envs take no reset options (goals and starts come from the task and the seed)."""
    if options:
        raise ValueError(f"reset options {sorted(options)} are not supported; gcrl_depth envs take options=None "
                         "(set goals through the task, e.g. gym.make(id, eval_goals=True))")


def reset_key_seed(seed: int | None) -> int:
    """The integer a ``reset(seed=seed)`` turns into its JAX key (random for None): a single env's
    key, and the key a vector env splits into its sub-envs' keys."""
    return int(gym.utils.seeding.np_random(seed)[0].integers(0, 2**63 - 1))


def _with_obs(state: EnvState):
    return state, _obs_arrays(state)


def _with_outputs(state: EnvState):
    return state, _step_outputs(state)


@functools.partial(jax.jit, static_argnames="core")
def _reset(key: jax.Array, core: GoalEnv):
    return _with_obs(core.reset(key))


@functools.partial(jax.jit, static_argnames="core")
def _transition(state: EnvState, action: jax.Array, core: GoalEnv):
    return _with_outputs(core.transition(state, action))


@functools.partial(jax.jit, static_argnames="core")
def _reset_batch(keys: jax.Array, core: GoalEnv):
    return _with_obs(jax.vmap(core.reset)(keys))


@functools.partial(jax.jit, static_argnames="core", donate_argnums=0)
def _step_batch(state: EnvState, actions: jax.Array, core: GoalEnv):
    state = jax.vmap(core.transition)(state, actions)
    final_obs = _obs_arrays(state)
    state = jax.vmap(core.auto_reset)(state)
    return state, (_step_outputs(state), final_obs)


class CoreFunctions(NamedTuple):
    """The compiled single-env and batched functions of one core env."""

    reset: Callable[..., Any]
    transition: Callable[..., Any]
    reset_batch: Callable[..., Any]
    step_batch: Callable[..., Any]


def core_functions(core: GoalEnv) -> CoreFunctions:
    """The compiled functions of ``core``: module-level ``jax.jit`` with the core static, so JAX's own
    cache shares them between every env of one core instance (:func:`shared_core`)."""
    return CoreFunctions(*(functools.partial(fn, core=core) for fn in (_reset, _transition, _reset_batch, _step_batch)))


class _FrameRenderer:
    """Draws frames of a core env's MuJoCo model from (host copies of) its state."""

    def __init__(self, core: GoalEnv, width: int, height: int) -> None:
        self.core = core
        self.model = core.mj_model
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, height=height, width=width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE

    def frame(self, physics_host: Any, achieved_goal: np.ndarray, goal: np.ndarray) -> np.ndarray:
        self.data.qpos[:] = physics_host.qpos
        self.data.qvel[:] = physics_host.qvel
        if self.model.nmocap:  # the goal marker (mocap body 0) sits on the goal
            self.data.mocap_pos[0, : goal.size] = goal
        mujoco.mj_forward(self.model, self.data)
        self._aim(np.asarray(achieved_goal), np.asarray(goal))
        self.renderer.update_scene(self.data, camera=self.camera)
        return self.renderer.render().copy()

    def _aim(self, achieved_goal: np.ndarray, goal: np.ndarray) -> None:
        maze = getattr(self.core, "maze", None)
        if self.core.camera is not None:  # a fixed workspace (the arm's table)
            view = self.core.camera
            self.camera.lookat[:] = view["lookat"]
            self.camera.distance, self.camera.elevation, self.camera.azimuth = view["distance"], view["elevation"], view["azimuth"]
        elif maze is not None:  # the whole maze from above, oriented like its layout text
            low, high = maze.extent
            centre, span = (low + high) / 2, float(np.max(high - low))
            self.camera.lookat[:] = [centre[0], centre[1], 0.0]
            self.camera.distance, self.camera.elevation, self.camera.azimuth = 1.3 * span, -70.0, 180.0
        else:  # frame the robot and its goal
            middle = (achieved_goal[:2] + goal[:2]) / 2
            span = float(np.linalg.norm(achieved_goal[:2] - goal[:2]))
            self.camera.lookat[:] = [middle[0], middle[1], 0.5]
            self.camera.distance, self.camera.elevation, self.camera.azimuth = max(4.0, 1.6 * span), -50.0, 90.0

    def close(self) -> None:
        self.renderer.close()


RENDER_MODES = ["rgb_array"]


class _LazyRendering:
    """An env's rendering: validates the mode, builds the renderer on first use, draws frames."""

    def __init__(self, core: GoalEnv, render_mode: str | None, width: int, height: int) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")
        self.core, self.render_mode, self.size = core, render_mode, (int(width), int(height))
        self._renderer: _FrameRenderer | None = None

    def draw(self, state: EnvState | None, obs: dict[str, np.ndarray] | None, batched: bool):
        """One frame (or a tuple of frames, one per sub-env) of ``state``; None without a render mode."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        if state is None or obs is None:
            raise RuntimeError("call reset() before render()")
        if self._renderer is None:
            self._renderer = _FrameRenderer(self.core, *self.size)
        view = jax.vmap(self.core.physics_data) if batched else self.core.physics_data
        physics = jax.device_get(view(state.physics))  # mjx.Data under every physics
        achieved, desired = obs["achieved_goal"], obs["desired_goal"]
        if not batched:
            return self._renderer.frame(physics, achieved, desired)
        return tuple(
            self._renderer.frame(jax.tree_util.tree_map(lambda x, i=i: x[i], physics), achieved[i], desired[i])
            for i in range(len(achieved))
        )

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class GcrlGoalEnv(gym.Env):
    """One goal-conditioned environment with the gymnasium-robotics GoalEnv contract.

    Args:
        task: a task name of ``gcrl_depth.envs.TASKS`` (or a core ``GoalEnv`` instance).
        render_mode: ``None`` or ``"rgb_array"``.
        width, height: frame size for rendering.
        **task_kwargs: options of the task (e.g. ``eval_goals=True``, ``episode_length``).

    Attributes ``core`` (the pure-JAX env), ``task`` and ``task_kwargs`` (what rebuilds it).
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 20}

    def __init__(self, task: str | GoalEnv, render_mode: str | None = None, width: int = 480, height: int = 480, **task_kwargs: Any):
        self.core = shared_core(task, task_kwargs)
        self.task, self.task_kwargs = _task_spec(task, task_kwargs)
        self._fns = core_functions(self.core)
        self.observation_space = goal_dict_space(self.core)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.core.action_size,), dtype=np.float32)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.core.dt)}
        self.render_mode = render_mode
        self._rendering = _LazyRendering(self.core, render_mode, width, height)
        self._state: EnvState | None = None
        self._last_obs: dict[str, np.ndarray] | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        refuse_options(options)
        super().reset(seed=seed)
        key = jax.random.key(int(self.np_random.integers(0, 2**63 - 1)))
        self._state, obs = self._fns.reset(key)
        self._last_obs = _as_obs_dict(jax.device_get(obs))
        return self._last_obs, {}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = validate_actions(action, (self.core.action_size,))
        self._state, outputs = self._fns.transition(self._state, action)
        obs, reward, terminated, truncated, metrics = jax.device_get(outputs)
        self._last_obs = _as_obs_dict(obs)
        info = {"success": bool(metrics["success"]), "is_success": bool(metrics["success"]), "distance": float(metrics["distance"])}
        return self._last_obs, float(reward), bool(terminated), bool(truncated), info

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """Sparse reward for (batches of) goals, by the same function the core steps with."""
        return np.asarray(self.core.compute_reward(jnp.asarray(achieved_goal), jnp.asarray(desired_goal)))

    def compute_terminated(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """Reaching a goal never ends an episode; only falling does, which no goal changes."""
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    def compute_truncated(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """Truncation depends on time alone, never on the goals."""
        return np.zeros(np.shape(achieved_goal)[:-1], dtype=bool)

    def render(self) -> np.ndarray | None:
        return self._rendering.draw(self._state, self._last_obs, batched=False)

    def close(self) -> None:
        self._rendering.close()


class GcrlVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` environments stepped by one jitted ``vmap`` call (same-step auto-reset).

    Args:
        task: a task name of ``gcrl_depth.envs.TASKS`` (or a core ``GoalEnv`` instance).
        num_envs: number of parallel environments (>= 1).
        render_mode: ``None`` or ``"rgb_array"`` (renders every sub-env; costly).
        width, height: frame size for rendering.
        **task_kwargs: options of the task.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 20, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        task: str | GoalEnv,
        num_envs: int = 1,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        **task_kwargs: Any,
    ):
        num_envs = positive_int(num_envs, "num_envs")
        self.core = shared_core(task, task_kwargs)
        self.task, self.task_kwargs = _task_spec(task, task_kwargs)
        self._fns = core_functions(self.core)
        self.num_envs = int(num_envs)
        self.single_observation_space = goal_dict_space(self.core)
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(self.core.action_size,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.core.dt)}
        self.render_mode = render_mode
        self._rendering = _LazyRendering(self.core, render_mode, width, height)
        self._state: EnvState | None = None
        self._last_obs: dict[str, np.ndarray] | None = None

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        """Reset every sub-env. One ``seed`` seeds them all (their keys are split from it); a list
        of ``num_envs`` seeds gives sub-env ``i`` the start that ``gym.make(id).reset(seed=seed[i])`` gives."""
        refuse_options(options)
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise ValueError(f"reset got {len(seed)} seeds for {self.num_envs} envs; expected one seed or a list of {self.num_envs}")
            super().reset(seed=seed[0])
            keys = jnp.stack([jax.random.key(reset_key_seed(s)) for s in seed])
        else:
            super().reset(seed=seed)
            keys = jax.random.split(jax.random.key(int(self.np_random.integers(0, 2**63 - 1))), self.num_envs)
        self._state, obs = self._fns.reset_batch(keys)
        self._last_obs = _as_obs_dict(jax.device_get(obs))
        return self._last_obs, {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = validate_actions(actions, (self.num_envs, self.core.action_size))
        self._state, (outputs, final_obs) = self._fns.step_batch(self._state, actions)
        (obs, reward, terminated, truncated, metrics), final_obs = jax.device_get((outputs, final_obs))
        self._last_obs = _as_obs_dict(obs)
        done = np.logical_or(terminated, truncated)
        info = {
            "success": np.asarray(metrics["success"], dtype=bool),
            "distance": np.asarray(metrics["distance"], dtype=np.float32),
            "final_obs": _as_obs_dict(final_obs),
            "_final_obs": done,
        }
        return self._last_obs, np.asarray(reward, np.float32), np.asarray(terminated), np.asarray(truncated), info

    def render(self) -> tuple[np.ndarray, ...] | None:
        return self._rendering.draw(self._state, self._last_obs, batched=True)

    def close_extras(self, **kwargs: Any) -> None:
        self._rendering.close()
