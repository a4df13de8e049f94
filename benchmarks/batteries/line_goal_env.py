"""A tiny custom goal env written as a user would (a point on a line moving toward a goal), and a misbehaving one."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class LineGoalEnv(gym.Env):
    """A point on a line that moves by its action; the goal is a point of the line (no time limit registered)."""

    def __init__(self):
        box = gym.spaces.Box(-10, 10, (1,), np.float64)
        self.observation_space = gym.spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.goal = np.zeros(1), self.np_random.uniform(2, 4, 1)
        return self._obs(), {}

    def step(self, action):
        self.position = self.position + 0.5 * np.asarray(action, float)
        reward = float(self.compute_reward(self.position, self.goal, {}))
        return self._obs(), reward, False, False, {}

    def compute_reward(self, achieved_goal, desired_goal, info):
        return (np.abs(np.asarray(achieved_goal) - desired_goal).sum(-1) < 0.25).astype(float)

    def _obs(self):
        return {"observation": self.position.copy(), "achieved_goal": self.position.copy(), "desired_goal": self.goal.copy()}


class Misbehaving(LineGoalEnv):
    """LineGoalEnv going wrong at its 3rd step in one of the ways a third-party env can (``fault``: "nan",
    "shape", "success_text" or "goal_sizes")."""

    def __init__(self, fault):
        super().__init__()
        self.fault, self.steps = fault, 0
        if fault == "goal_sizes":
            self.observation_space = gym.spaces.Dict({**self.observation_space.spaces,
                                                      "desired_goal": gym.spaces.Box(-10, 10, (2,), np.float64)})

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        if self.steps == 3 and self.fault == "nan":
            obs["observation"] = np.array([np.nan])
        if self.steps == 3 and self.fault == "shape":
            obs["observation"] = np.zeros(3)
        if self.fault == "success_text":
            info["is_success"] = "yes"
        return obs, reward, terminated, truncated, info
