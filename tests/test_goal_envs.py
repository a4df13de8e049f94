"""The evaluator on any Gymnasium goal env: gymnasium-robotics' mazes, a custom GoalEnv, ours read generically."""

from __future__ import annotations

import gymnasium as gym
import gymnasium_robotics
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from benchmarks.batteries.line_goal_env import LineGoalEnv
from gcrl_depth import evaluate
from gcrl_depth.goal_envs import GOAL_KEYS, check_goal_space

gym.register_envs(gymnasium_robotics)
MAZE = "PointMaze_UMaze-v3"


def toward_goal(obs):
    """A deterministic policy that pushes the point toward the desired goal."""
    return np.clip(5 * (obs["desired_goal"] - obs["achieved_goal"]), -1, 1)


class HideInfo(gym.vector.VectorWrapper):
    """Drops the env's own success and distance from info, so they are read from the goals and compute_reward."""

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return obs, reward, terminated, truncated, {k: v for k, v in info.items() if k not in ("success", "is_success", "distance")}


def test_gymnasium_robotics_maze_by_id_and_both_autoreset_modes_agree():
    result = evaluate(toward_goal, MAZE, num_envs=3, seed=1)
    assert result.episodes == 3 and result.episode_length == 300
    assert 0 <= result.time_at_goal <= 300 and 0 <= result.success_rate <= 1 and result.final_distance > 0
    short = {}
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        envs = gym.make_vec(MAZE, num_envs=3, vectorization_mode="sync", max_episode_steps=40,
                            vector_kwargs={"autoreset_mode": mode})
        short[mode] = evaluate(toward_goal, envs, seed=1)
    assert short[AutoresetMode.NEXT_STEP] == short[AutoresetMode.SAME_STEP]
    assert short[AutoresetMode.SAME_STEP].episode_length == 40


def test_our_env_read_generically_gives_the_same_numbers():
    envs = lambda: gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=16, episode_length=100)  # noqa: E731
    direct = evaluate(toward_goal, envs(), seed=3)
    generic = evaluate(toward_goal, HideInfo(envs()), seed=3)
    assert (generic.time_at_goal, generic.success_rate) == (direct.time_at_goal, direct.success_rate)
    assert direct.success_rate > 0  # the comparison includes steps at the goal
    assert generic.final_distance == pytest.approx(direct.final_distance, rel=1e-5)


def test_a_custom_goal_env_needs_its_episode_length_and_is_then_evaluated():
    envs = gym.vector.SyncVectorEnv([LineGoalEnv for _ in range(2)])
    with pytest.raises(ValueError, match="max_steps"):
        evaluate(toward_goal, envs)
    lands_on_goal = lambda obs: np.clip(2 * (obs["desired_goal"] - obs["achieved_goal"]), -1, 1)  # noqa: E731
    result = evaluate(lands_on_goal, envs, max_steps=20, seed=0)
    assert result.episode_length == 20 and result.success_rate == 1.0  # a goal 2-4 away is reached in 3-7 steps
    assert 13 <= result.time_at_goal <= 18 and result.final_distance < 1e-9


def test_a_non_goal_env_is_refused_naming_the_keys():
    with pytest.raises(TypeError, match="observation', 'achieved_goal', 'desired_goal"):
        evaluate(lambda obs: np.zeros(2, np.int64), "CartPole-v1", num_envs=2)
    with pytest.raises(TypeError, match="found a Dict with keys \\['observation'\\]"):
        check_goal_space(gym.spaces.Dict({"observation": gym.spaces.Box(0, 1, (1,))}))
    assert GOAL_KEYS == ("observation", "achieved_goal", "desired_goal")
