"""Record a policy's episodes in a single goal env as a GIF or an MP4 (by the file's suffix)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np

from gcrl_depth.checks import positive_int
from gcrl_depth.files import atomic_path
from gcrl_depth.goal_envs import SUCCESS_KEYS, episode_length, step_success

VIDEO_SUFFIXES = (".gif", ".mp4")


def record_video(
    policy: Callable[[dict[str, np.ndarray]], np.ndarray],
    env_id: str,
    path: str | os.PathLike,
    episodes: int = 1,
    steps: int | None = None,
    frame_every: int = 5,
    seed: int = 0,
    size: int = 240,
    **env_kwargs,
) -> list[dict[str, float]]:
    """Run ``policy`` (single Dict observation -> action) for ``episodes`` episodes of ``steps``
    steps each (default: whole episodes) and save every ``frame_every``-th frame, episode after
    episode, as one GIF or MP4 that plays ``frame_every`` times faster than real time.

    Returns per episode ``{"steps", "steps_at_goal", "final_distance"}`` (NaN where the env
    reports no distance); a step is at the goal as the evaluator counts it (``info["is_success"]``,
    ``info["success"]``, or the env's ``compute_reward`` > 0).
    """
    if Path(path).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"video path must end in one of {list(VIDEO_SUFFIXES)}, got {os.fspath(path)!r}")
    frames, stats, fps = render_episodes(policy, env_id, episodes, steps, frame_every, seed, size, **env_kwargs)
    write_video(frames, path, fps)
    return stats


def render_episodes(
    policy: Callable[[dict[str, np.ndarray]], np.ndarray],
    env_id: str,
    episodes: int = 1,
    steps: int | None = None,
    frame_every: int = 5,
    seed: int = 0,
    size: int = 240,
    **env_kwargs,
) -> tuple[list[np.ndarray], list[dict[str, float]], float]:
    """:func:`record_video`'s episodes in memory: (frames, per-episode stats, frames per second
    that play ``frame_every`` times faster than real time)."""
    for name, value in (("episodes", episodes), ("frame_every", frame_every), ("size", size), ("steps", steps)):
        if value is None and name == "steps":
            continue
        positive_int(value, name)
    env = gym.make(env_id, render_mode="rgb_array", width=size, height=size, **env_kwargs)
    reward_of = functools.cache(lambda: getattr(env.unwrapped, "compute_reward", None))
    frames, stats = [], []
    try:
        length = steps or episode_length(env)
        if length is None:
            raise ValueError(f"{env_id} registers no episode length: pass steps=")
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            frames.append(env.render())
            at_goal, distance, step = 0, float("nan"), -1
            for step in range(length):
                obs, _, terminated, truncated, info = env.step(policy(obs))
                at_goal += int(step_success({key: np.asarray(value)[None] for key, value in obs.items()},
                                            {key: [info[key]] for key in SUCCESS_KEYS if key in info}, reward_of)[0] > 0)
                distance = float(info.get("distance", float("nan")))
                if step % frame_every == frame_every - 1:
                    frames.append(env.render())
                if terminated or truncated:
                    break
            stats.append({"steps": step + 1, "steps_at_goal": float(at_goal), "final_distance": distance})
        fps = env.metadata.get("render_fps", 20)
    finally:
        env.close()
    return frames, stats, fps


def write_video(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float) -> str:
    """Write RGB frames as a GIF or MP4 (H.264, through imageio-ffmpeg) at ``fps`` frames per
    second; atomically: a crash leaves no half-written video under ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"video path must end in one of {list(VIDEO_SUFFIXES)}, got {os.fspath(path)!r}")
    with atomic_path(path) as partial:  # ffmpeg writes to a name
        if suffix == ".gif":
            imageio.mimsave(partial, list(frames), duration=1000 / fps, loop=0)
        else:  # H.264 needs even sizes: pad to a multiple of 2, not of imageio's default 16
            imageio.mimsave(partial, list(frames), fps=fps, codec="libx264", quality=7, macro_block_size=2)
    return os.fspath(path)
