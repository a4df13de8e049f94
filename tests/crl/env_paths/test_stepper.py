"""Host collection from any goal env: rows per step, final observations stored, no episode crossed."""

from __future__ import annotations

import gymnasium as gym
import gymnasium_robotics
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from benchmarks.batteries.line_goal_env import LineGoalEnv, Misbehaving
from gcrl_depth.crl.engine.buffer import ReplayBuffer
from gcrl_depth.crl.engine.train import EnvSizes, make_train
from gcrl_depth.crl.env_paths.stepper import EnvStepper

gym.register_envs(gymnasium_robotics)
STEP = 0.5  # LineGoalEnv moves by 0.5 x action; the policy below always pushes +1


def line_envs(mode, num_envs=2, limit=5):
    make = lambda: gym.wrappers.TimeLimit(LineGoalEnv(), limit)  # noqa: E731
    return gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=mode)


def forward(obs, goal):
    return np.ones((len(obs), 1), np.float32)


def episodes_of(rows, env):
    """Positions stored per episode id, in order, for one env slot."""
    out = {}
    for position, episode in zip(rows.obs[:, env, 0], rows.episode[:, env]):
        out.setdefault(int(episode), []).append(round(float(position), 6))
    return list(out.values())


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_rows_keep_final_observations_and_split_episodes(mode):
    collector = EnvStepper(line_envs(mode), seed=0)
    rows, metrics = collector.collect(forward, 14)
    assert rows.obs.shape == (14, 2, 1) and rows.actions.shape == (14, 2, 1) and rows.goals.shape == (14, 2, 1)
    np.testing.assert_array_equal(rows.goals, rows.obs)  # the point's position is its achieved goal
    full = [STEP * i for i in range(6)]  # states 0..4 of a 5-step episode, then its final observation
    for env in range(2):
        episodes = episodes_of(rows, env)
        assert episodes[0] == full
        later = full if mode is AutoresetMode.NEXT_STEP else full[1:]  # SAME_STEP: the final obs replaces the reset state
        assert all(episode == later[: len(episode)] for episode in episodes[1:]) and len(episodes) >= 2
        assert np.all(np.diff(rows.episode[:, env]) >= 0)
    assert metrics["collect/episodes_ended"] == 2 * 2  # each env ended 2 episodes in 14 steps


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_sampled_goals_never_cross_an_episode(mode):
    collector = EnvStepper(line_envs(mode, num_envs=3), seed=1)
    rows, _ = collector.collect(forward, 40)
    buffer = ReplayBuffer.create(64, 3, 1, 1, 1).insert(*(jnp.asarray(x) for x in rows))
    batch = jax.jit(lambda key: buffer.sample(key, 2048, 0.9))(jax.random.key(0))
    start, goal, offset = (np.asarray(x) for x in (batch.obs, batch.goal, batch.offset))
    np.testing.assert_allclose(goal[:, 0], start[:, 0] + STEP * offset, atol=1e-6)  # same episode: straight ahead
    assert goal.max() <= 5 * STEP + 1e-6  # a final observation is a goal, nothing past it


def test_third_party_vector_envs_sync_and_async():
    for mode in ("sync", "async"):
        options = {"vector_kwargs": {"context": "spawn"}} if mode == "async" else {}  # no fork after JAX started threads
        envs = gym.make_vec("PointMaze_UMaze-v3", num_envs=2, vectorization_mode=mode, **options)
        collector = EnvStepper(envs, seed=0)
        assert collector.sizes == EnvSizes(observation_size=4, goal_size=2, action_size=2)
        rows, metrics = collector.collect(lambda obs, goal: np.zeros((2, 2)), 3)
        assert rows.obs.shape == (3, 2, 4) and rows.goals.shape == (3, 2, 2) and rows.obs.dtype == np.float32
        assert 0 <= metrics["collect/success"] <= 1
        envs.close()


def test_a_non_goal_env_is_refused_naming_the_keys():
    with pytest.raises(TypeError, match="'observation', 'achieved_goal', 'desired_goal'"):
        EnvStepper(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))
    with pytest.raises(TypeError, match=r"gym.make_vec"):
        EnvStepper(gym.make("CartPole-v1"))


def test_the_host_path_trains_on_collected_rows():
    from gcrl_depth.crl.engine.config import CRLConfig

    collector = EnvStepper(line_envs(AutoresetMode.NEXT_STEP, num_envs=2), seed=0)
    config = CRLConfig(depth=4, width=16, repr_dim=8, batch_size=8, num_envs=2, unroll_length=5,
                       env_steps_per_update=2.5, buffer_size=64, prefill_steps=5)
    engine = make_train(config, collector.sizes)
    state = jax.jit(engine.start)(jax.jit(engine.init)(jax.random.key(0)))
    assert state.env is None
    keys = iter(jax.random.split(jax.random.key(2), 100))
    act = jax.jit(engine.act)
    policy = lambda obs, goal: np.asarray(act(state.learner.params.actor, obs, goal, next(keys)))  # noqa: E731
    rows, _ = collector.collect(policy, config.prefill_steps)
    state = jax.jit(engine.insert)(state, rows)
    before = jax.tree_util.tree_map(np.asarray, state.learner.params.critic)
    learn_from = jax.jit(engine.learn_from)
    for _ in range(3):
        rows, _ = collector.collect(policy, config.unroll_length)
        state, metrics = learn_from(state, rows)
    assert int(state.buffer.size) == 5 + 3 * 5 and config.updates_per_iteration == 4
    assert all(np.isfinite(float(v)) for v in metrics.values()) and "train/critic_loss" in metrics
    changed = jax.tree_util.tree_map(lambda a, b: not np.array_equal(a, np.asarray(b)), before, state.learner.params.critic)
    assert all(jax.tree_util.tree_leaves(changed))


@pytest.mark.parametrize("fault, error, words", [
    ("nan", ValueError, ("non-finite observation", "step 3", "env's fault")),
    ("shape", ValueError, ("step 3", "wrong shape", "observation space declares")),
    ("success_text", TypeError, ("info['is_success']", "booleans or numbers")),
    ("goal_sizes", ValueError, ("achieved_goal (1,) and desired_goal (2,)", "same size")),
])
def test_a_misbehaving_env_is_named_as_the_cause_with_the_key_and_the_step(fault, error, words):
    def envs():
        return gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(Misbehaving(fault), 20)] * 2)

    with pytest.raises(error) as raised:
        EnvStepper(envs(), seed=0).collect(lambda obs, goals: np.zeros((len(obs), 1)), 5)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_observations_are_checked_against_the_declared_sizes():
    from gcrl_depth.crl.env_paths.stepper import checked_obs

    sizes = EnvSizes(observation_size=3, goal_size=2, action_size=1)
    good = {"observation": np.zeros((2, 3)), "achieved_goal": np.zeros((2, 2)), "desired_goal": np.ones((2, 2))}
    assert checked_obs(good, 2, sizes, "reset")["observation"].dtype == np.float32
    with pytest.raises(ValueError, match=r"achieved_goal of shape \(2, 3\) at step 7; its observation space declares 2"):
        checked_obs({**good, "achieved_goal": np.zeros((2, 3))}, 2, sizes, "step 7")
    with pytest.raises(ValueError, match="desired_goal at reset is not an array of numbers"):
        checked_obs({**good, "desired_goal": [["a", "b"], ["c", "d"]]}, 2, sizes, "reset")
