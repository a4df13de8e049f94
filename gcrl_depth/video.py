"""Record a policy's episode in a single gcrl_depth env as a GIF."""

from __future__ import annotations

import os
from typing import Callable

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np


def record_gif(
    policy: Callable[[dict[str, np.ndarray]], np.ndarray],
    env_id: str,
    path: str | os.PathLike,
    steps: int | None = None,
    frame_every: int = 5,
    seed: int = 0,
    size: int = 240,
    **env_kwargs,
) -> dict[str, float]:
    """Run ``policy`` (single Dict observation -> action) for ``steps`` steps (default: one
    whole episode) and save every ``frame_every``-th frame as a GIF that plays
    ``frame_every`` times faster than real time. Returns ``{"steps", "steps_at_goal",
    "final_distance"}``."""
    env = gym.make(env_id, render_mode="rgb_array", width=size, height=size, **env_kwargs)
    obs, _ = env.reset(seed=seed)
    frames, at_goal, distance = [env.render()], 0, float("nan")
    steps = env.unwrapped.core.episode_length if steps is None else steps
    for step in range(steps):
        obs, _, terminated, truncated, info = env.step(policy(obs))
        at_goal += int(info["success"])
        distance = info["distance"]
        if step % frame_every == frame_every - 1:
            frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, frames, duration=1000 / env.metadata["render_fps"], loop=0)
    return {"steps": step + 1, "steps_at_goal": float(at_goal), "final_distance": float(distance)}
