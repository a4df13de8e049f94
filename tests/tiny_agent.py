"""A tiny DeepCRL on PointUMaze (4 envs, width 16: trains in seconds), shared by the agent's and the state store's tests."""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np

from gcrl_depth import DeepCRL
from gcrl_depth.crl.engine.config import PRESETS

TINY = PRESETS["tiny"]
NUM_ENVS = 4
PREFILL = 10 * NUM_ENVS  # env steps of the prefill
PER_ITERATION = NUM_ENVS * 5  # env steps of a training iteration


def tiny_model(seed: int = 0, **overrides) -> DeepCRL:
    envs = gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=NUM_ENVS, episode_length=12)
    settings = dict(depth=4, seed=seed, eval_episodes=3, epoch_timesteps=2 * PER_ITERATION, verbose=0, **TINY)
    return DeepCRL(envs, **{**settings, **overrides})


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]
