"""``make demo``: a random-policy rollout on AntBigMaze that shows what the env is and how fast it steps.

Run ``python -m gcrl_depth.demo --help`` for options.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import gcrl_depth  # noqa: F401  (registers the ids)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="gcrl_depth/AntBigMaze-v0", help="Gymnasium id")
    parser.add_argument("--num-envs", type=int, default=32, help="parallel environments")
    parser.add_argument("--steps", type=int, default=200, help="vector steps to time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    envs = gym.make_vec(args.env, num_envs=args.num_envs)
    core = envs.unwrapped.core
    print(f"{args.env}: {core}")
    print(f"  observation space: {envs.single_observation_space}")
    print(f"  action space:      {envs.single_action_space}")
    print(f"  success threshold: {core.success_threshold}, episode length: {core.episode_length}, control dt: {core.dt} s")

    start = time.perf_counter()
    obs, _ = envs.reset(seed=args.seed)
    envs.step(envs.action_space.sample())  # compiles the batched step
    compile_s = time.perf_counter() - start
    print(f"  compile + first step: {compile_s:.1f} s (cached on disk for the next run)")

    rng = np.random.default_rng(args.seed)
    distances, successes, episodes = [], 0.0, 0
    start = time.perf_counter()
    for _ in range(args.steps):
        actions = rng.uniform(-1, 1, size=envs.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = envs.step(actions)
        distances.append(info["distance"].mean())
        successes += float(reward.sum())
        episodes += int(np.logical_or(terminated, truncated).sum())
    elapsed = time.perf_counter() - start
    steps = args.steps * args.num_envs
    print(f"  random policy: {steps} env steps in {elapsed:.2f} s = {steps / elapsed:,.0f} env steps/s "
          f"({steps * core.n_frames / elapsed:,.0f} physics steps/s)")
    print(f"  mean goal distance {np.mean(distances):.2f}, steps at goal {successes:.0f}, episodes ended {episodes}")
    envs.close()


if __name__ == "__main__":
    main()
