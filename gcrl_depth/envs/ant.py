"""Ant in an open arena or a maze.

State part of the observation: qpos (torso xyz, quaternion, 8 hinges: 15) + qvel (14)
= 29, with no goal inside it; goal: torso (x, y); threshold 0.5; dt 0.05 s; the
episode terminates when the torso height leaves [0.2, 1.0]. See ``assets/ant.xml``
for the physics choices.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx

from gcrl_depth.envs.core import GoalEnv, torso_height_outside
from gcrl_depth.envs.mazes import Maze, task_maze
from gcrl_depth.envs.models import compile_model

QPOS_NOISE = 0.1  # half-width of uniform noise on the initial joint positions and xy
QVEL_NOISE = 0.1  # std of Gaussian noise on the initial velocities
HEALTHY_Z = (0.2, 1.0)


class Ant(GoalEnv):
    """Ant in an open arena; the goal lies on a circle of ``goal_radius`` around the start."""

    def __init__(self, *, goal_radius: float = 10.0, episode_length: int = 1000, maze: Maze | None = None):
        if goal_radius <= 0:
            raise ValueError(f"goal_radius must be positive, got {goal_radius}")
        self.goal_radius = float(goal_radius)
        self.maze = maze
        super().__init__(
            compile_model("ant.xml", maze),
            n_frames=5,
            episode_length=episode_length,
            success_threshold=0.5,
            goal_indices=(0, 1),
        )

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """World xy of the start and of the goal."""
        start = jnp.zeros(2)
        angle = jax.random.uniform(key, (), minval=0.0, maxval=2 * np.pi)
        return start, start + self.goal_radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        place_key, qpos_key, qvel_key = jax.random.split(key, 3)
        start, goal = self._start_and_goal(place_key)
        qpos0 = jnp.asarray(self.mj_model.qpos0, jnp.float32)
        nq, nv = self.mj_model.nq, self.mj_model.nv
        noise = jax.random.uniform(qpos_key, (nq,), minval=-QPOS_NOISE, maxval=QPOS_NOISE)
        noise = noise.at[2:7].set(0.0)  # keep the torso height and orientation
        qpos = (qpos0 + noise).at[:2].add(start)
        qvel = QVEL_NOISE * jax.random.normal(qvel_key, (nv,))
        physics = blank.replace(qpos=qpos, qvel=qvel, mocap_pos=blank.mocap_pos.at[0, :2].set(goal))
        return physics, goal

    def _observe(self, physics: mjx.Data) -> jax.Array:
        return jnp.concatenate([physics.qpos, physics.qvel]).astype(jnp.float32)

    def _fallen(self, physics: mjx.Data) -> jax.Array:
        return torso_height_outside(physics, HEALTHY_Z)


class AntMaze(Ant):
    """Ant in a maze of cell size 4: start in an R cell, goal in a G cell."""

    cell_size = 4.0

    def __init__(self, layout: str | Sequence[str] = "U", *, eval_goals: bool = False, episode_length: int = 1000):
        super().__init__(episode_length=episode_length, maze=task_maze(layout, self.cell_size, eval_goals))

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.maze.sample_start_and_goal(key)
