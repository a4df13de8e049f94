"""Pure-JAX goal-conditioned environments: state, reset, step, auto-reset.

Everything here is a pure function of explicit state (``EnvState``) and a PRNG key, so
it composes with ``jit``, ``vmap`` and ``lax.scan``; this module never imports
Gymnasium (see ``gym_api.py`` for that layer).

Semantics shared by every task:

* ``reset(key)`` draws a start and a goal and returns the first state.
* ``transition(state, action)`` clips the action to [-1, 1], steps the physics
  ``n_frames`` times (control dt = ``n_frames * timestep``) on the task's pipeline
  (``physics="mjx"``, the default, or ``"spring"``: :mod:`~gcrl_depth.envs.physics`), and reports the sparse
  reward (1 within ``success_threshold`` of the goal), ``terminated`` (the robot fell,
  as defined by the task) and ``truncated`` (``episode_length`` steps reached).
  Reaching the goal does not end an episode.
* ``auto_reset(state)`` replaces a finished episode with a fresh one drawn from the
  state's own key: a NEW start and goal every episode. Fields describing the last
  transition (``reward``, ``terminated``, ``truncated``, ``metrics``) are kept so the
  caller still sees that the episode ended; fields describing the present (``physics``,
  ``obs``, ``goal``, ``achieved_goal``, ``step``) come from the new episode (of an MJX
  ``physics`` only the fields that determine the next step: ``MjxPipeline.select``).
* ``step = auto_reset o transition``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from gcrl_depth.checks import positive_int
from gcrl_depth.envs.physics import SpringSettings, make_pipeline


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EnvState:
    """State of one environment (add a leading axis for a batch).

    Attributes:
        physics: the pipeline's state: ``mjx.Data`` under MJX, a ``SpringState`` under spring
            (``GoalEnv.physics_data`` shows either as ``mjx.Data``).
        obs: state part of the observation, shape (observation_size,).
        goal: desired goal, shape (goal_size,).
        achieved_goal: goal part of the current state, shape (goal_size,).
        reward: sparse reward of the last transition (1.0 on success), shape ().
        terminated: the last transition ended the episode (the robot fell), shape ().
        truncated: the last transition hit the time limit, shape ().
        step: steps taken in the current episode, shape (), int32.
        key: PRNG key consumed by auto-reset.
        metrics: ``success`` (0/1) and ``distance`` to the goal after the last transition.
    """

    physics: mjx.Data
    obs: jax.Array
    goal: jax.Array
    achieved_goal: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    step: jax.Array
    key: jax.Array
    metrics: dict[str, jax.Array]

    def replace(self, **changes: Any) -> EnvState:
        """Return a copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    @property
    def done(self) -> jax.Array:
        """The last transition ended the episode (terminated or truncated)."""
        return jnp.logical_or(self.terminated, self.truncated)


def goal_distance(achieved_goal: jax.Array, desired_goal: jax.Array) -> jax.Array:
    """Euclidean distance between goals over the last axis (works on batches)."""
    return jnp.linalg.norm(jnp.asarray(achieved_goal) - jnp.asarray(desired_goal), axis=-1)


def torso_height_outside(physics: Any, bounds: tuple[float, float]) -> jax.Array:
    """True when the free root body's height ``qpos[2]`` leaves ``[low, high]`` (a fall)."""
    z = physics.qpos[2]
    return jnp.logical_or(z < bounds[0], z > bounds[1])


def with_kinematics(mjx_model: Any, physics: Any) -> Any:
    """``physics`` with positions, com-frame inertias and velocities computed from qpos/qvel
    (no contacts or solver): for observations read at reset, before any step has run."""
    return mjx.com_vel(mjx_model, mjx.com_pos(mjx_model, mjx.kinematics(mjx_model, physics)))


def sparse_reward(achieved_goal: jax.Array, desired_goal: jax.Array, threshold: float) -> jax.Array:
    """1.0 where the achieved goal is within ``threshold`` of the desired goal, else 0.0."""
    return (goal_distance(achieved_goal, desired_goal) < threshold).astype(jnp.float32)


# Fields of EnvState besides ``physics`` that describe the present episode; auto-reset replaces them.
_EPISODE_FIELDS = ("obs", "goal", "achieved_goal", "step")


class GoalEnv(abc.ABC):
    """A goal-conditioned task over a MuJoCo model, as pure functions.

    Subclasses build the MuJoCo model and implement three hooks:
    :meth:`_initial_physics` (draw start and goal), :meth:`_observe` (state part of
    the observation) and :meth:`_fallen` (termination). The hooks read an ``mjx.Data``
    under every physics. The achieved goal is always ``obs[goal_indices]``, so the goal
    part of a state is a fixed slice of it.

    Attributes:
        mj_model: the compiled MuJoCo model (used for rendering and plain-MuJoCo runs).
        mjx_model: the same model on the JAX device.
        physics: the pipeline's name, ``"mjx"`` or ``"spring"``.
        pipeline: what steps the physics (:mod:`~gcrl_depth.envs.physics`).
        n_frames: physics steps per control step.
        episode_length: steps before an episode is truncated.
        success_threshold: goal distance under which the task counts as solved.
        goal_indices: indices of the goal part within ``obs``.
        action_size: number of actuators (actions lie in [-1, 1]).
        camera: None to let the renderer frame the robot and its goal, or a fixed free
            camera ``{"lookat": (x, y, z), "distance", "elevation", "azimuth"}`` for a
            fixed workspace (a class attribute).
        spring: how the paper ran the task on brax's spring pipeline, None where it did not
            (a class attribute; ``physics="spring"`` is refused then).
    """

    camera: dict | None = None
    spring: SpringSettings | None = None

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        *,
        n_frames: int,
        episode_length: int,
        success_threshold: float,
        goal_indices: tuple[int, ...],
        physics: str = "mjx",
        spec: mujoco.MjSpec | None = None,
    ) -> None:
        """``n_frames`` is the MJX pipeline's; ``spec`` (what compiled ``mj_model``) builds the spring one."""
        episode_length = positive_int(episode_length, "episode_length")
        self.mj_model = mj_model
        self.mjx_model = mjx.put_model(mj_model, device=jax.local_devices()[0], impl="jax")
        self.pipeline = make_pipeline(physics, spec, mj_model, self.mjx_model, n_frames=n_frames, spring=self.spring,
                                      task=type(self).__name__)
        self.physics = self.pipeline.name
        self.n_frames = self.pipeline.n_frames
        self.episode_length = int(episode_length)
        self.success_threshold = float(success_threshold)
        self.goal_indices = tuple(int(i) for i in goal_indices)
        self.action_size = int(mj_model.nu)
        self._blank_physics = mjx.make_data(self.mjx_model, device=jax.local_devices()[0])  # this process's (MJX: devices()[0])
        probe = jax.eval_shape(self._observe, self._blank_physics)
        self.observation_size = int(probe.shape[-1])

    # ----------------------------------------------------------------- properties
    @property
    def dt(self) -> float:
        """Control step in seconds."""
        return self.n_frames * self.pipeline.timestep

    @property
    def goal_size(self) -> int:
        """Length of the goal vector."""
        return len(self.goal_indices)

    # ----------------------------------------------------------------- task hooks
    @abc.abstractmethod
    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        """Draw a start state and a goal; return (physics data, goal of shape (goal_size,))."""

    @abc.abstractmethod
    def _observe(self, physics: mjx.Data) -> jax.Array:
        """State part of the observation, shape (observation_size,)."""

    @abc.abstractmethod
    def _fallen(self, physics: mjx.Data) -> jax.Array:
        """Whether the episode must terminate in this physics state (bool scalar)."""

    # ----------------------------------------------------------------- pure API
    def reset(self, key: jax.Array) -> EnvState:
        """Start an episode with a start and goal drawn from ``key``."""
        key, episode_key = jax.random.split(key)
        physics, obs, goal, achieved = self._new_episode(episode_key)
        distance = goal_distance(achieved, goal)
        return EnvState(
            physics=physics,
            obs=obs,
            goal=goal,
            achieved_goal=achieved,
            reward=jnp.zeros((), jnp.float32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            step=jnp.zeros((), jnp.int32),
            key=key,
            metrics={"success": (distance < self.success_threshold).astype(jnp.float32), "distance": distance},
        )

    def transition(self, state: EnvState, action: jax.Array) -> EnvState:
        """Apply one control step without auto-reset (see module docstring)."""
        action = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
        physics = self.pipeline.step(state.physics, action)
        data = self.pipeline.view(physics)
        obs = self._observe(data)
        achieved = self.achieved_goal(obs)
        distance = goal_distance(achieved, state.goal)
        success = (distance < self.success_threshold).astype(jnp.float32)
        step = state.step + 1
        terminated = jnp.asarray(self._fallen(data), bool)
        truncated = jnp.logical_and(step >= self.episode_length, jnp.logical_not(terminated))
        return state.replace(
            physics=physics,
            obs=obs,
            achieved_goal=achieved,
            reward=success,
            terminated=terminated,
            truncated=truncated,
            step=step,
            metrics={"success": success, "distance": distance},
        )

    def auto_reset(self, state: EnvState) -> EnvState:
        """Replace a finished episode by a new one with a NEW start and goal."""
        key, episode_key = jax.random.split(state.key)
        physics, obs, goal, achieved = self._new_episode(episode_key)
        fresh = {"obs": obs, "goal": goal, "achieved_goal": achieved, "step": jnp.zeros((), jnp.int32)}
        done = state.done
        chosen = {name: jnp.where(done, fresh[name], getattr(state, name)) for name in _EPISODE_FIELDS}
        physics = self.pipeline.select(done, physics, state.physics)
        return state.replace(key=key, physics=physics, **chosen)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """One control step with auto-reset at episode end."""
        return self.auto_reset(self.transition(state, action))

    def physics_data(self, physics: Any) -> mjx.Data:
        """An ``EnvState.physics`` of this env as ``mjx.Data`` (qpos, qvel, body kinematics), under any physics."""
        return self.pipeline.view(physics)

    def achieved_goal(self, obs: jax.Array) -> jax.Array:
        """Goal part of (a batch of) observations."""
        return obs[..., np.asarray(self.goal_indices)]

    def compute_reward(self, achieved_goal: jax.Array, desired_goal: jax.Array) -> jax.Array:
        """Sparse reward for (batches of) goals; the same function ``transition`` uses."""
        return sparse_reward(achieved_goal, desired_goal, self.success_threshold)

    # ----------------------------------------------------------------- helpers
    def _new_episode(self, key: jax.Array) -> tuple[mjx.Data, jax.Array, jax.Array, jax.Array]:
        data, goal = self._initial_physics(key, self._blank_physics)
        obs = self._observe(data)
        return self.pipeline.start(data), obs, jnp.asarray(goal, jnp.float32), self.achieved_goal(obs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(obs={self.observation_size}, goal={self.goal_size}, "
            f"action={self.action_size}, dt={self.dt:g}, episode_length={self.episode_length}, physics={self.physics!r})"
        )
