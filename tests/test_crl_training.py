"""The jitted trainer on a tiny PointUMaze setup: prefill, iterations, counts, determinism."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gcrl_depth.crl.config import CRLConfig
from gcrl_depth.crl.training import CRLTrainer
from gcrl_depth.envs import make_core

TINY = dict(depth=4, width=16, repr_dim=8, num_envs=4, unroll_length=5, batch_size=8,
            env_steps_per_update=10.0, buffer_size=64, prefill_steps=10)


@pytest.fixture(scope="module")
def trainer():
    return CRLTrainer(make_core("PointUMaze", episode_length=12), CRLConfig(**TINY))


def run(trainer, seed, iterations=2):
    state = trainer.prefill(trainer.init(jax.random.key(seed)))
    return trainer.train(state, iterations)


def test_prefill_and_iterations_fill_the_buffer_and_learn(trainer):
    initial = trainer.init(jax.random.key(0))
    before = jax.tree_util.tree_map(np.asarray, initial.critic_params)
    state, metrics = run(trainer, 0)
    assert int(state.buffer.size) == 10 + 2 * 5
    assert trainer.config.updates_per_iteration == 2  # 4 envs x 5 steps / 10
    for name, value in metrics.items():
        assert np.isfinite(np.asarray(value)).all(), name
    assert float(metrics["train/valid_goal_fraction"]) == 1.0
    assert int(state.episode.max()) >= 1  # episodes of 12 steps ended within 20 steps
    after = jax.tree_util.tree_map(np.asarray, state.critic_params)
    changed = jax.tree_util.tree_map(lambda a, b: not np.allclose(a, b), before, after)
    assert all(jax.tree_util.tree_leaves(changed))


def test_same_seed_same_result_and_no_recompilation(trainer):
    state_a, _ = run(trainer, 3)
    state_b, _ = run(trainer, 3)
    for a, b in zip(jax.tree_util.tree_leaves(state_a.actor_params), jax.tree_util.tree_leaves(state_b.actor_params)):
        np.testing.assert_array_equal(a, b)
    assert trainer.train._cache_size() == 1


def test_act_is_deterministic_without_a_key(trainer):
    state = trainer.init(jax.random.key(1))
    obs, goal = state.env_state.obs, state.env_state.goal
    np.testing.assert_array_equal(trainer.act(state.actor_params, obs, goal), trainer.act(state.actor_params, obs, goal))
    sampled = trainer.act(state.actor_params, obs, goal, jax.random.key(2))
    assert sampled.shape == (4, 2) and float(abs(sampled).max()) <= 1.0
