"""Ant in an open arena or a maze.

State part of the observation: qpos (torso xyz, quaternion, 8 hinges: 15) + qvel (14)
= 29, with no goal inside it; goal: torso (x, y); threshold 0.5; dt 0.05 s; the
episode terminates when the torso height leaves [0.2, 1.0]. See ``assets/ant.xml``
for the physics choices. ``physics="spring"`` steps it on brax's spring pipeline at the
paper's 10 x 0.005 s, with the spring constants of brax's ant.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx

from gcrl_depth.envs.core import GoalEnv, torso_height_outside
from gcrl_depth.envs.mazes import Maze, task_maze
from gcrl_depth.envs.models import compile_spec, task_spec
from gcrl_depth.envs.physics import SpringSettings

QPOS_NOISE = 0.1  # half-width of the uniform noise on every initial qpos coordinate
QVEL_NOISE = 0.1  # std of the Gaussian noise on the initial velocities
HEALTHY_Z = (0.2, 1.0)
LEGS = ("front_left", "front_right", "back_left", "back_right")


class Ant(GoalEnv):
    """Ant in an open arena; the goal lies on a circle of ``goal_radius`` around the start."""

    healthy_z = HEALTHY_Z  # torso heights outside this range end the episode
    spring = SpringSettings(timestep=0.005, n_frames=10, constants="ant.xml")

    def __init__(self, *, goal_radius: float = 10.0, episode_length: int = 1000, maze: Maze | None = None,
                 physics: str = "mjx"):
        if goal_radius <= 0:
            raise ValueError(f"goal_radius must be positive, got {goal_radius}")
        self.goal_radius = float(goal_radius)
        self.maze = maze
        spec = task_spec("ant.xml", maze)
        mj_model = compile_spec(spec)
        self._feet = np.array([mj_model.geom(f"{leg}_foot").id for leg in LEGS])
        self._foot_radius = float(mj_model.geom_size[self._feet[0], 0])
        super().__init__(
            mj_model,
            n_frames=5,
            episode_length=episode_length,
            success_threshold=0.5,
            goal_indices=(0, 1),
            physics=physics,
            spec=spec,
        )

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """World xy of the start and of the goal."""
        start = jnp.zeros(2)
        angle = jax.random.uniform(key, (), minval=0.0, maxval=2 * np.pi)
        return start, start + self.goal_radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        """The paper's start: the ``start`` keyframe at the start cell, every qpos coordinate
        + U(-0.1, 0.1) (the quaternion renormalised), qvel 0.1 N(0, 1); then the torso is
        raised as far as needed to keep the feet out of the floor."""
        place_key, qpos_key, qvel_key = jax.random.split(key, 3)
        start, goal = self._start_and_goal(place_key)
        nq, nv = self.mj_model.nq, self.mj_model.nv
        noise = jax.random.uniform(qpos_key, (nq,), minval=-QPOS_NOISE, maxval=QPOS_NOISE)
        qpos = (jnp.asarray(self.mj_model.key_qpos[0], jnp.float32) + noise).at[:2].add(start)
        qpos = qpos.at[3:7].set(qpos[3:7] / jnp.linalg.norm(qpos[3:7]))
        qvel = QVEL_NOISE * jax.random.normal(qvel_key, (nv,))
        physics = blank.replace(qpos=qpos, qvel=qvel, mocap_pos=blank.mocap_pos.at[0, :2].set(goal))
        # Lift the torso until no foot starts inside the floor: MuJoCo resolves a 0.1 m
        # penetration within a few steps and threw 1 in 5 ants above 1.0 m at the start.
        feet = mjx.kinematics(self.mjx_model, physics).geom_xpos[self._feet, 2] - self._foot_radius
        lift = jnp.maximum(0.0, -jnp.min(feet))
        return physics.replace(qpos=physics.qpos.at[2].add(lift)), goal

    def _observe(self, physics: mjx.Data) -> jax.Array:
        return jnp.concatenate([physics.qpos, physics.qvel]).astype(jnp.float32)

    def _fallen(self, physics: mjx.Data) -> jax.Array:
        return torso_height_outside(physics, self.healthy_z)


class AntMaze(Ant):
    """Ant in a maze of cell size 4: start in an R cell, goal in a G cell (``min_pair_cells`` /
    ``max_pair_cells``: a pair of cells by maze distance, :mod:`~gcrl_depth.envs.mazes`)."""

    cell_size = 4.0

    def __init__(self, layout: str | Sequence[str] = "U", *, eval_goals: bool = False, episode_length: int = 1000,
                 min_pair_cells: int | None = None, max_pair_cells: int | None = None, physics: str = "mjx"):
        maze = task_maze(layout, self.cell_size, eval_goals, min_pair_cells=min_pair_cells, max_pair_cells=max_pair_cells)
        super().__init__(episode_length=episode_length, maze=maze, physics=physics)

    def _start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.maze.sample_start_and_goal(key)
