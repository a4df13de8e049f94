"""Factories for stable-baselines3 SAC / TD3 with a hindsight (HER, "future") replay buffer.

Defaults (SB3's own, plus what goal-conditioned tasks need): learning rate 3e-4, batch 256,
gamma 0.99, tau 0.005, one gradient step per env step, a 1M-transition buffer, HER with 4
relabelled goals per transition drawn from the episode's future, ``learning_starts`` = one
episode of every env (HER samples only finished episodes), TD3 exploration noise N(0, 0.2). Networks:
two hidden layers of ``width`` (default 256), or with ``depth`` the project's residual
tower (see :mod:`gcrl_depth.baselines.residual`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

ALGORITHMS = ("sac", "td3")
HER_KWARGS = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
TD3_NOISE_STD = 0.2
INSTALL_HINT = "pip install 'gcrl_depth[baselines]'  (or: make install)"


def require_sb3():
    """Import stable-baselines3, or raise an ImportError that says how to install the extra."""
    try:
        import stable_baselines3
    except ImportError as error:
        raise ImportError(f"gcrl_depth.baselines needs stable-baselines3 and torch, the 'baselines' extra: {INSTALL_HINT}") from error
    return stable_baselines3


def baseline_defaults(episode_length: int) -> dict[str, Any]:
    """SB3 keyword defaults for a task whose episodes last ``episode_length`` steps."""
    return {"learning_rate": 3e-4, "buffer_size": 1_000_000, "batch_size": 256, "gamma": 0.99, "tau": 0.005,
            "train_freq": 1, "gradient_steps": 1, "learning_starts": episode_length}


def make_baseline(
    algo: str,
    env: str | gym.Env,
    seed: int = 0,
    depth: int | None = None,
    width: int = 256,
    verbose: int = 0,
    device: str = "cpu",
    **sb3_kwargs: Any,
):
    """A stable-baselines3 ``SAC`` or ``TD3`` model with HER on a goal env (gcrl_depth's or any other).

    Args:
        algo: ``"sac"`` or ``"td3"``.
        env: an env id, a single ``gym.make`` env, or an SB3 vector env
            (``make_vec_env(id, n_envs=N)``: N envs stepped together, as HER allows), with a
            goal env's Dict observation (``observation``, ``achieved_goal``, ``desired_goal``)
            and ``compute_reward``.
        seed: seed of the model and its env.
        depth: None for an MLP of two ``width`` layers; a multiple of 4 for the residual
            tower (Dense-LayerNorm-swish blocks) on (observation, desired goal).
        width: hidden width.
        device: torch device of the networks (``"cpu"``, ``"cuda"``, ``"auto"``).
        **sb3_kwargs: override any SB3 constructor argument (e.g. ``gradient_steps``).
    """
    sb3 = require_sb3()
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import VecEnv
    from stable_baselines3.her import HerReplayBuffer

    from gcrl_depth.goal_envs import check_goal_space, episode_length

    algo = str(algo).lower()
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown baseline {algo!r}; expected one of {list(ALGORITHMS)}")
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, VecEnv):  # SB3's VecEnv is no Gymnasium env: its first env's length (a DummyVecEnv's), or the spec's
        copies = getattr(env, "envs", None)
        specs = [spec for spec in env.get_attr("spec") if spec is not None and spec.max_episode_steps]
        length = episode_length(copies[0]) if copies else int(specs[0].max_episode_steps) if specs else None
    elif isinstance(env, gym.Env):
        length = episode_length(env)
    else:
        raise TypeError("baselines need an env id, a single gym.make env or an SB3 vector env "
                        f"(make_vec_env(id, n_envs=N)), got {type(env).__name__}")
    check_goal_space(env.observation_space, "make_baseline's env")
    if length is None and "learning_starts" not in sb3_kwargs:
        raise ValueError("this env registers no max_episode_steps: pass learning_starts= (HER samples only finished "
                         "episodes, so one episode's steps)")
    kwargs = {**baseline_defaults(length or 1),
              "replay_buffer_class": HerReplayBuffer, "replay_buffer_kwargs": dict(HER_KWARGS),
              "policy_kwargs": _policy_kwargs(depth, width), "seed": seed, "verbose": verbose, "device": device}
    if isinstance(env, VecEnv):  # SB3 counts every env's steps: one episode of each before sampling
        kwargs["learning_starts"] = (length or 1) * env.num_envs
    if algo == "td3":
        size = int(np.prod(env.action_space.shape or (1,)))
        kwargs["action_noise"] = NormalActionNoise(np.zeros(size), TD3_NOISE_STD * np.ones(size))
    kwargs.update(sb3_kwargs)
    cls = sb3.SAC if algo == "sac" else sb3.TD3
    return cls("MultiInputPolicy", env, **kwargs)


def _policy_kwargs(depth: int | None, width: int) -> dict[str, Any]:
    if depth is None:
        return {"net_arch": [width, width]}
    from gcrl_depth.baselines.residual import GoalResidualExtractor
    from gcrl_depth.crl.engine.networks import check_depth

    check_depth(depth)
    # the tower encodes (observation, goal); one hidden layer after it mixes in the action (critic)
    return {"features_extractor_class": GoalResidualExtractor,
            "features_extractor_kwargs": {"depth": depth, "width": width},
            "net_arch": [width], "share_features_extractor": False}


def sb3_policy(model) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The deterministic policy of an SB3 model as the evaluator's batched policy."""
    return lambda obs: model.predict(obs, deterministic=True)[0]
