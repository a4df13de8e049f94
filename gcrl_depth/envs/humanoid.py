"""Humanoid in an open arena or a maze.

State part of the observation (246 numbers, no goal inside it): qpos (torso xyz,
quaternion, 17 hinges: 24), qvel (23), then for the 11 robot bodies their com-frame
inertia (``cinert``, 110) and velocity (``cvel``, 66), then the actuator forces in
joint space (``qfrc_actuator``, 23). Goal: torso (x, y, z), the first three numbers of
the observation; threshold 0.5; dt 0.03 s in the open arena and 0.015 s in the mazes
(the paper's control steps); the episode terminates when the torso height leaves
[1.0, 2.0]. See ``assets/humanoid.xml`` for the physics choices. ``physics="spring"``
steps it on brax's spring pipeline as the paper did: 10 x 0.003 s in the open arena (the
step Table 1's Humanoid row was trained at), 10 x 0.0015 s in the mazes, with the spring
constants of brax's humanoid.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx

from gcrl_depth.envs.core import GoalEnv, torso_height_outside, with_kinematics
from gcrl_depth.envs.mazes import HUMANOID_EVAL_LAYOUTS, Maze, task_maze
from gcrl_depth.envs.models import compile_spec, task_spec
from gcrl_depth.envs.physics import SpringSettings

QPOS_NOISE = 0.01  # half-width of uniform noise on the initial joint positions and xy
QVEL_NOISE = 0.01  # half-width of uniform noise on the initial velocities
HEALTHY_Z = (1.0, 2.0)
GOAL_Z = 1.25  # goal height of the torso
GOAL_DISTANCE = (1.0, 5.0)  # range of the uniform start-to-goal distance in the open arena


class Humanoid(GoalEnv):
    """Humanoid in an open arena; the goal lies at a distance U(1, 5) in a uniform direction."""

    healthy_z = HEALTHY_Z  # torso heights outside this range end the episode
    # 6 x 0.005 s = 0.03 s per control step: the step Table 1's Humanoid row was trained at.
    frames_per_step = 6
    spring = SpringSettings(timestep=0.003, n_frames=10, constants="humanoid.xml")

    def __init__(self, *, episode_length: int = 1000, maze: Maze | None = None, physics: str = "mjx"):
        self.maze = maze
        spec = task_spec("humanoid.xml", maze)
        mj_model = compile_spec(spec)
        # Robot bodies: every body but the world (0) and mocap bodies (the goal marker).
        self._robot_bodies = np.flatnonzero((np.arange(mj_model.nbody) > 0) & (mj_model.body_mocapid < 0))
        super().__init__(
            mj_model,
            n_frames=self.frames_per_step,
            episode_length=episode_length,
            success_threshold=0.5,
            goal_indices=(0, 1, 2),
            physics=physics,
            spec=spec,
        )

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """World xy of the start and of the goal."""
        angle_key, distance_key = jax.random.split(key)
        start = jnp.zeros(2)
        angle = jax.random.uniform(angle_key, (), minval=0.0, maxval=2 * np.pi)
        distance = jax.random.uniform(distance_key, (), minval=GOAL_DISTANCE[0], maxval=GOAL_DISTANCE[1])
        return start, start + distance * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        place_key, qpos_key, qvel_key = jax.random.split(key, 3)
        start, goal_xy = self._start_and_goal(place_key)
        goal = jnp.concatenate([goal_xy, jnp.full((1,), GOAL_Z)])
        qpos0 = jnp.asarray(self.mj_model.qpos0, jnp.float32)
        nq, nv = self.mj_model.nq, self.mj_model.nv
        noise = jax.random.uniform(qpos_key, (nq,), minval=-QPOS_NOISE, maxval=QPOS_NOISE)
        noise = noise.at[2:7].set(0.0)  # keep the torso height and orientation
        qpos = (qpos0 + noise).at[:2].add(start)
        qvel = jax.random.uniform(qvel_key, (nv,), minval=-QVEL_NOISE, maxval=QVEL_NOISE)
        physics = blank.replace(qpos=qpos, qvel=qvel, mocap_pos=blank.mocap_pos.at[0].set(goal))
        # Fill cinert and cvel for the first observation (kinematics only: no contacts or solver).
        return with_kinematics(self.mjx_model, physics), goal

    def _observe(self, physics: mjx.Data) -> jax.Array:
        bodies = self._robot_bodies
        return jnp.concatenate(
            [
                physics.qpos,
                physics.qvel,
                physics._impl.cinert[bodies].ravel(),  # (11 * 10,)
                physics.cvel[bodies].ravel(),  # (11 * 6,)
                physics.qfrc_actuator,
            ]
        ).astype(jnp.float32)

    def _fallen(self, physics: mjx.Data) -> jax.Array:
        return torso_height_outside(physics, self.healthy_z)


class HumanoidMaze(Humanoid):
    """Humanoid in a maze of cell size 2: start in an R cell, goal at a G cell centre (z 1.25)
    (``min_pair_cells`` / ``max_pair_cells``: a pair of cells by maze distance, :mod:`~gcrl_depth.envs.mazes`)."""

    cell_size = 2.0
    frames_per_step = 3  # 0.015 s per control step, as the paper's humanoid mazes
    spring = SpringSettings(timestep=0.0015, n_frames=10, constants="humanoid.xml")

    def __init__(self, layout: str | Sequence[str] = "U", *, eval_goals: bool = False, episode_length: int = 1000,
                 min_pair_cells: int | None = None, max_pair_cells: int | None = None, physics: str = "mjx"):
        maze = task_maze(layout, self.cell_size, eval_goals, HUMANOID_EVAL_LAYOUTS, min_pair_cells, max_pair_cells)
        super().__init__(episode_length=episode_length, maze=maze, physics=physics)

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.maze.sample_start_and_goal(key)
