"""record_video counts steps at the goal as the evaluator does, whatever success signal the env gives."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from benchmarks.batteries.line_goal_env import LineGoalEnv
from gcrl_depth.video import record_video


class RenderedLine(LineGoalEnv):
    """LineGoalEnv with frames, reporting success under ``key`` (None: only through compute_reward)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None, width=8, height=8, key=None):
        super().__init__()
        self.render_mode, self.size, self.key = render_mode, (height, width), key

    def reset(self, seed=None, options=None):
        _obs, info = super().reset(seed=seed)
        self.goal = np.array([1.0])  # two pushes of +1 reach it
        return self._obs(), info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.key is not None:
            info[self.key] = bool(reward > 0)
        return obs, reward, terminated, truncated, info

    def render(self):
        return np.zeros((*self.size, 3), np.uint8)


gym.register("gcrl_test/RenderedLine-v0", entry_point=RenderedLine, max_episode_steps=6)


@pytest.mark.parametrize("key", ["is_success", "success", None])
def test_steps_at_goal_come_from_any_success_signal(tmp_path, key):
    stats = record_video(lambda obs: np.ones(1, np.float32), "gcrl_test/RenderedLine-v0", tmp_path / "line.gif",
                         frame_every=1, key=key)
    # at 0.5 after one push, at the goal (1.0) after two, past it (1.5, 2.0, ...) after: one step within 0.25
    assert stats == [{"steps": 6, "steps_at_goal": 1.0, "final_distance": stats[0]["final_distance"]}]
    assert (tmp_path / "line.gif").read_bytes()[:3] == b"GIF"
