"""Point mass in a maze: the cheapest task, trainable on a CPU in minutes.

State part of the observation: (x, y, vx, vy); goal: (x, y); threshold 0.5; dt 0.05 s;
the point never falls, so episodes end only by truncation. Same layouts and cell size
(4) as the ant mazes. See ``assets/point.xml`` for the physics choices.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from mujoco import mjx

from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.envs.mazes import task_maze
from gcrl_depth.envs.models import compile_model

START_JITTER = 0.1  # half-width of the uniform noise added to the start position


class PointMaze(GoalEnv):
    """A ball pushed by two motors through a maze to a goal cell (``min_pair_cells`` /
    ``max_pair_cells``: start and goal as a pair of cells by maze distance, :mod:`~gcrl_depth.envs.mazes`)."""

    cell_size = 4.0

    def __init__(self, layout: str | Sequence[str] = "U", *, eval_goals: bool = False, episode_length: int = 1000,
                 min_pair_cells: int | None = None, max_pair_cells: int | None = None, physics: str = "mjx"):
        self.maze = task_maze(layout, self.cell_size, eval_goals, min_pair_cells=min_pair_cells,
                              max_pair_cells=max_pair_cells)
        super().__init__(
            compile_model("point.xml", self.maze),
            n_frames=2,
            episode_length=episode_length,
            success_threshold=0.5,
            goal_indices=(0, 1),
            physics=physics,
        )

    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        start_key, jitter_key, goal_key = jax.random.split(key, 3)
        start, goal = self.maze.draw_start_and_goal(start_key, goal_key)
        start = start + jax.random.uniform(jitter_key, (2,), minval=-START_JITTER, maxval=START_JITTER)
        physics = blank.replace(
            qpos=start,
            qvel=jnp.zeros_like(blank.qvel),
            mocap_pos=blank.mocap_pos.at[0, :2].set(goal),
        )
        return physics, goal

    def _observe(self, physics: mjx.Data) -> jax.Array:
        return jnp.concatenate([physics.qpos, physics.qvel]).astype(jnp.float32)

    def _fallen(self, physics: mjx.Data) -> jax.Array:
        return jnp.zeros((), bool)
