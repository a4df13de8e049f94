"""The shared evaluator: metric definitions on a scripted env, and real policies on PointUMaze."""

from __future__ import annotations

import types

import gymnasium as gym
import numpy as np
import pytest

from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult, evaluate
from gcrl_depth.goal_envs import GOAL_KEYS


class ScriptedVectorEnv(gym.vector.VectorEnv):
    """Two envs over 5 steps: env 0 sits at the goal from step 2; env 1 succeeds at steps 1-2, then falls at step 3."""

    num_envs = 2
    action_space = gym.spaces.Box(-1, 1, (2, 1))
    single_observation_space = gym.spaces.Dict({key: gym.spaces.Box(-1, 1, (1,)) for key in GOAL_KEYS})

    def __init__(self):
        self.core = types.SimpleNamespace(episode_length=5)
        self.t = 0

    def reset(self, seed=None, options=None):
        self.t = 0
        return self._obs(), {}

    def step(self, actions):
        self.t += 1
        success = np.array([self.t >= 2, self.t in (1, 2)])
        terminated = np.array([False, self.t == 3])
        truncated = np.array([self.t == 5, False])
        distance = np.array([0.1, 2.0 + self.t])
        if self.t > 3:  # env 1 was auto-reset: whatever it reports now must not count
            success[1], distance[1] = True, 0.0
        return self._obs(), success.astype(np.float32), terminated, truncated, {"success": success, "distance": distance}

    def _obs(self):
        return {key: np.zeros((2, 1)) for key in GOAL_KEYS}


def test_metrics_count_only_the_first_episode():
    result = evaluate(lambda obs: np.zeros((2, 1)), ScriptedVectorEnv())
    assert result.time_at_goal == pytest.approx((4 + 2) / 2)
    assert result.success_rate == 1.0
    assert result.final_distance == pytest.approx((0.1 + 5.0) / 2)
    assert result.episodes == 2 and result.episode_length == 5


def test_real_policies_on_point_u_maze():
    def greedy(obs):
        return np.clip(obs["desired_goal"] - obs["achieved_goal"], -1, 1)

    kwargs = {"num_envs": 16, "seed": 0, "episode_length": 60}
    idle = evaluate(lambda obs: np.zeros((16, 2)), "gcrl_depth/PointUMaze-v0", **kwargs)
    steer = evaluate(greedy, "gcrl_depth/PointUMaze-v0", **kwargs)
    assert idle.time_at_goal == 0.0 and idle.success_rate == 0.0
    assert idle.final_distance >= 3.5  # every goal cell is at least one cell away from the start
    assert steer.time_at_goal > 5 and 0 < steer.success_rate < 1  # the goals in line of sight only
    assert steer.final_distance < idle.final_distance


def test_history_headline_is_the_mean_of_the_last_five():
    history = EvaluationHistory()
    with pytest.raises(ValueError, match="no evaluations"):
        history.headline()
    for i in range(7):
        history.add(i * 100, EvaluationResult(float(i), 0.0, 0.0, 1, 10))
    assert history.headline() == pytest.approx(np.mean([2, 3, 4, 5, 6]))
    assert history.env_steps[-1] == 600
    assert EvaluationResult(1.0, 0.5, 2.0, 4, 10).as_metrics()["eval/success_rate"] == 0.5
