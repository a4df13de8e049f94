"""Replay buffer: ring insertion without copies, same-episode future goals, geometric offsets."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gcrl_depth.crl.engine.buffer import ReplayBuffer, truncated_geometric


def fill(buffer, steps_per_chunk, n_chunks, reset_prob, seed, goal_of=lambda obs: obs):
    """Insert chunks whose obs record (global time, episode id), achieved goals ``goal_of(obs)``;
    episodes end at random."""
    rng = np.random.default_rng(seed)
    n_envs = buffer.num_envs
    episode = np.zeros(n_envs, np.int32)
    time = 0
    for _ in range(n_chunks):
        obs, eps = [], []
        for _ in range(steps_per_chunk):
            obs.append(np.stack([np.full(n_envs, time, np.float32), episode.astype(np.float32)], axis=1))
            eps.append(episode.copy())
            episode = episode + (rng.random(n_envs) < reset_prob)
            time += 1
        obs, eps = np.stack(obs), np.stack(eps)
        actions = np.zeros((steps_per_chunk, n_envs, 1), np.float32)
        buffer = buffer.insert(jnp.asarray(obs), jnp.asarray(actions), jnp.asarray(goal_of(obs)), jnp.asarray(eps))
    return buffer


def test_insert_wraps_the_ring_and_keeps_the_newest_steps():
    buffer = fill(ReplayBuffer.create(capacity=10, num_envs=2, obs_size=2, action_size=1, goal_size=2), 4, 4, 0.0, 0)
    assert int(buffer.size) == 10 and int(buffer.insert_pos) == 16 % 10
    stored_times = sorted(np.asarray(buffer.obs[:, 0, 0]).tolist())
    assert stored_times == list(range(6, 16))


def test_samples_only_same_episode_future_goals():
    buffer = fill(ReplayBuffer.create(capacity=64, num_envs=3, obs_size=2, action_size=1, goal_size=2), 10, 9, 0.08, 1)
    batch = jax.jit(lambda k: buffer.sample(k, 4096, 0.9))(jax.random.key(0))
    assert bool(batch.valid.all())
    time, episode = np.asarray(batch.obs[:, 0]), np.asarray(batch.obs[:, 1])
    goal_time, goal_episode = np.asarray(batch.goal[:, 0]), np.asarray(batch.goal[:, 1])
    np.testing.assert_array_equal(goal_episode, episode)
    assert (goal_time > time).all()
    np.testing.assert_array_equal(goal_time - time, np.asarray(batch.offset))
    assert time.min() >= 90 - 64  # only steps still in the ring


def test_goals_are_the_stored_achieved_goals_not_a_slice_of_the_observation():
    buffer = ReplayBuffer.create(capacity=32, num_envs=2, obs_size=2, action_size=1, goal_size=3)
    buffer = fill(buffer, 8, 4, 0.1, 3, goal_of=lambda obs: np.concatenate([-obs, obs[..., :1] + 0.5], axis=-1))
    batch = jax.jit(lambda k: buffer.sample(k, 512, 0.9))(jax.random.key(2))
    time, goal = np.asarray(batch.obs[:, 0]), np.asarray(batch.goal)
    np.testing.assert_array_equal(-goal[:, 0], time + np.asarray(batch.offset))  # the goal of step t + k
    np.testing.assert_array_equal(goal[:, 2], -goal[:, 0] + 0.5)


def test_truncated_geometric_matches_its_pmf():
    gamma, max_offset, n = 0.9, 30, 200_000
    k = np.asarray(truncated_geometric(jax.random.key(5), jnp.full((n,), max_offset), gamma))
    assert k.min() >= 1 and k.max() <= max_offset
    pmf = gamma ** np.arange(1, max_offset + 1)
    pmf /= pmf.sum()
    counts = np.bincount(k, minlength=max_offset + 1)[1:]
    assert stats.chisquare(counts, pmf * n).pvalue > 1e-3


def test_buffer_offsets_follow_the_discounted_law():
    """One long episode: P(k) = mean_t gamma^k / sum_{j<=L_t} gamma^j over the t with L_t >= k."""
    capacity, gamma, n = 200, 0.95, 100_000
    buffer = fill(ReplayBuffer.create(capacity=capacity, num_envs=1, obs_size=2, action_size=1, goal_size=2), 50, 4, 0.0, 2)
    offsets = np.asarray(jax.jit(lambda key: buffer.sample(key, n, gamma).offset)(jax.random.key(1)))
    expected = np.zeros(capacity)
    for t in range(capacity - 1):
        horizon = capacity - 1 - t
        weights = gamma ** np.arange(1, horizon + 1)
        expected[1 : horizon + 1] += weights / weights.sum() / (capacity - 1)
    cutoff = 60  # pool the far tail so every bin expects enough samples
    counts = np.bincount(offsets, minlength=capacity)
    observed = np.append(counts[1:cutoff], counts[cutoff:].sum())
    predicted = np.append(expected[1:cutoff], expected[cutoff:].sum()) * n
    assert stats.chisquare(observed, predicted).pvalue > 1e-3


def test_too_small_buffer_and_oversized_chunk_are_errors():
    with pytest.raises(ValueError, match="at least 2"):
        ReplayBuffer.create(capacity=1, num_envs=1, obs_size=1, action_size=1, goal_size=1)
    buffer = ReplayBuffer.create(capacity=4, num_envs=1, obs_size=1, action_size=1, goal_size=1)
    with pytest.raises(ValueError, match="cannot insert 5 steps"):
        buffer.insert(jnp.zeros((5, 1, 1)), jnp.zeros((5, 1, 1)), jnp.zeros((5, 1, 1)), jnp.zeros((5, 1)))


def test_sampling_has_no_data_dependent_loop():
    buffer = ReplayBuffer.create(16, 4, 2, 1, 2)
    jaxpr = str(jax.make_jaxpr(lambda b, k: b.sample(k, 32, 0.9))(buffer, jax.random.key(0)))
    assert "while[" not in jaxpr  # a while_loop would sync device and host on every gradient step
