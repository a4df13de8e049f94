"""Behaviour statistics of a policy, to see the jump at a task's critical depth.

The paper reports that behaviours appear suddenly with depth: the humanoid walks upright from
depth 16 (shallower agents throw themselves at the goal and fall), and in the humanoid U-maze
it vaults the wall from depth 256. :class:`BehaviourProbe` rolls the deterministic policy out
for a batch of episodes in one jitted program and summarizes:

* ``alive_fraction``: the share of each episode before the robot fell (1 where it never falls);
* for robots with a free-floating torso (ant, humanoid): the torso height over the steps alive,
  as its mean and 10th / 90th percentiles: upright walking against crawling or falling;
* in mazes: ``over_wall_episodes``, the share of episodes whose robot was ever above a wall
  cell (only possible by going over the wall), and ``over_wall_steps``, the share of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gcrl_depth.checks import positive_int
from gcrl_depth.envs.core import GoalEnv
from gcrl_depth.envs.gym_api import reset_key_seed
from gcrl_depth.envs.mazes import WALL
from gcrl_depth.envs.rollout import alive_before, rollout

PREFIX = "behaviour/"


def has_torso(core: GoalEnv) -> bool:
    """Whether the robot has a free-floating torso whose height qpos[2] means standing or falling."""
    return hasattr(core, "healthy_z")


class BehaviourProbe:
    """Behaviour statistics of ``policy`` over ``episodes`` episodes of ``core``.

    Args:
        core: the env's pure-JAX core.
        policy: ``policy(params, obs, goal) -> actions`` on batches, deterministic, jittable.
        episodes: episodes per measurement.
    """

    def __init__(self, core: GoalEnv, policy: Callable[..., jax.Array], episodes: int) -> None:
        episodes = positive_int(episodes, "episodes")
        self.core, self.policy, self.episodes = core, policy, int(episodes)
        maze = getattr(core, "maze", None)
        self._walls = None if maze is None else jnp.asarray(maze.grid == WALL)
        self._rollout = jax.jit(self._trajectory)

    def __call__(self, params: Any, seed: int = 0) -> dict[str, float]:
        """The statistics as ``{"behaviour/<name>": value}``."""
        keys = jax.random.split(jax.random.key(reset_key_seed(seed)), self.episodes)
        alive, height, over_wall = (np.asarray(a) for a in jax.device_get(self._rollout(params, keys)))
        stats = {"alive_fraction": float(alive.mean())}
        if has_torso(self.core):
            heights = height[alive]
            stats.update(torso_height_mean=float(heights.mean()), torso_height_p10=float(np.percentile(heights, 10)),
                         torso_height_p90=float(np.percentile(heights, 90)))
        if self._walls is not None:
            over = over_wall & alive
            stats.update(over_wall_episodes=float(over.any(axis=0).mean()), over_wall_steps=float(over.sum() / alive.sum()))
        return {PREFIX + name: value for name, value in stats.items()}

    def _trajectory(self, params: Any, keys: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Per step and episode, shape (steps, episodes): alive before the step, torso height, over a wall cell."""
        core = self.core

        def observe(state: Any, action: jax.Array, following: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
            qpos = jax.vmap(core.physics_data)(state.physics).qpos
            height = qpos[:, 2] if has_torso(core) else jnp.zeros(qpos.shape[0], jnp.float32)
            return height, self._over_wall(qpos), following.terminated | following.truncated

        _, (height, over_wall, done) = rollout(core.transition, lambda state, _: self.policy(params, state.obs, state.goal),
                                               jax.vmap(core.reset)(keys), core.episode_length, observe)
        return alive_before(done), height, over_wall

    def _over_wall(self, qpos: jax.Array) -> jax.Array:
        if self._walls is None:
            return jnp.zeros(qpos.shape[0], bool)
        cell = jnp.floor(qpos[:, :2] / self.core.maze.cell_size + 0.5).astype(jnp.int32)
        rows, cols = self._walls.shape
        inside = (cell[:, 0] >= 0) & (cell[:, 0] < rows) & (cell[:, 1] >= 0) & (cell[:, 1] < cols)
        return inside & self._walls[jnp.clip(cell[:, 0], 0, rows - 1), jnp.clip(cell[:, 1], 0, cols - 1)]


def behaviour_probe(episodes: int) -> Callable[[Any], dict[str, float]]:
    """A probe for :func:`gcrl_depth.experiments.train_runs`: the statistics of the model's
    deterministic policy on its evaluation env (a gcrl_depth vector env), a new seed each time."""
    probes: dict[tuple, BehaviourProbe] = {}

    def probe(model: Any) -> dict[str, float]:
        core = model.eval_env.unwrapped.core
        if (core, model.engine) not in probes:
            probes[core, model.engine] = BehaviourProbe(core, model.engine.act, episodes)
        return probes[core, model.engine](model.learner.params.actor, seed=model.seed + model.num_timesteps)

    return probe
