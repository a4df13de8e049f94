"""Replay-buffer rows from any Gymnasium goal env, stepped on the host.

The MJX tasks are collected inside the jitted training program (the engine's device
path). Any other goal env (gymnasium-robotics' mazes, a user's own) steps here: one
batched policy call and one ``envs.step`` per step, and the steps come out as the replay
buffer's rows, one per env per step, ``(observation, action, achieved goal, episode id)``.

Episode boundaries, in both of Gymnasium's auto-reset modes:

* the final observation of every episode is stored as a row (it is a goal the episode
  reached; having no later step in its episode, it is never sampled as a state);
* the reset observation starts a new episode id, so no sampled (state, future goal) pair
  crosses an episode boundary;
* ``NEXT_STEP`` (Gymnasium's default): the call after an episode's end resets that env and
  ignores its action; the row of that call is the final observation. ``SAME_STEP``: the
  final observation comes in ``info["final_obs"]`` while the env already starts the next
  episode; it is written as that env's row of the next call, in place of the first state
  of the new episode (one state per episode is not stored, as one step per episode is
  spent on the reset in ``NEXT_STEP``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from gcrl_depth.goal_envs import EnvSizes, check_goal_space, reward_function, step_success, terminal_view

HostPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (observations (N, O), goals (N, G)) -> actions (N, A)


class Rows(NamedTuple):
    """``steps`` rows of every env, as the replay buffer inserts them."""

    obs: np.ndarray  # (steps, num_envs, observation size), float32
    actions: np.ndarray  # (steps, num_envs, action size), float32
    goals: np.ndarray  # (steps, num_envs, goal size), float32: the achieved goal of obs
    episode: np.ndarray  # (steps, num_envs), int32


class EnvStepper:
    """Steps a Gymnasium vector goal env with a batched policy and returns replay-buffer rows.

    Args:
        envs: a vector env whose observations are goal-env Dicts (``gym.make_vec``, sync or async).
        seed: seed of the first reset.
        episode: per-env episode ids already used (a resumed run's); the first reset starts the next ones.
    """

    def __init__(self, envs: gym.vector.VectorEnv, seed: int | None = None, episode: np.ndarray | None = None) -> None:
        if not isinstance(envs, gym.vector.VectorEnv):
            raise TypeError(f"EnvStepper needs a vector env (gym.make_vec(id, num_envs=N)), got {type(envs).__name__}")
        check_goal_space(envs.single_observation_space, f"env {getattr(envs.spec, 'id', type(envs).__name__)}")
        self.mode = AutoresetMode(envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        if self.mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"DeepCRL needs a vector env that auto-resets (NEXT_STEP or SAME_STEP), not {self.mode.name}")
        self.envs, self.num_envs = envs, envs.num_envs
        self.sizes = EnvSizes.of_vector_env(envs)
        self.reward_of = reward_function(envs)
        self.reports_success = True  # False once the env shows no success signal (collect/success is then left out)
        self.episode = np.zeros(self.num_envs, np.int32) if episode is None else np.asarray(episode, np.int32).copy()
        if self.episode.shape != (self.num_envs,):
            raise ValueError(f"episode must hold one id per env, shape ({self.num_envs},); got {self.episode.shape}")
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Start new episodes in every env (episode ids go on increasing)."""
        obs, _ = self.envs.reset(seed=seed)
        self.steps = 0  # env steps since this reset, for the messages of checked_obs
        self.obs = checked_obs(obs, self.num_envs, self.sizes, "reset")
        self.episode = self.episode + 1
        self.resetting = np.zeros(self.num_envs, bool)  # NEXT_STEP: envs whose next step() is a reset
        self.final = None  # SAME_STEP: (mask, obs) of episodes that ended at the last step

    def collect(self, policy: HostPolicy, steps: int) -> tuple[Rows, dict[str, float]]:
        """Step every env ``steps`` times; returns the rows and ``collect/`` metrics."""
        rows = {"obs": [], "actions": [], "goals": [], "episode": []}
        successes, episodes_ended = [], 0
        for _ in range(steps):
            obs = self.obs
            actions = np.asarray(policy(obs["observation"], obs["desired_goal"]), np.float32).reshape(self.num_envs, -1)
            row_obs, row_goals, row_episode = obs["observation"], obs["achieved_goal"], self.episode.copy()
            if self.final is not None:  # SAME_STEP: the episodes that ended last step store their final observation now
                mask, final = self.final
                row_obs, row_goals = _where(mask, final["observation"], row_obs), _where(mask, final["achieved_goal"], row_goals)
                self.episode = self.episode + mask
                self.final = None
            try:
                next_obs, _, terminated, truncated, info = self.envs.step(actions.reshape(self.envs.action_space.shape))
            except ValueError as error:  # e.g. a Sync/AsyncVectorEnv stacking observations of the wrong shape
                raise ValueError(f"the env's step {self.steps + 1} failed in its vector env: {error} (an observation of "
                                 "another shape than its observation space declares is a common cause)") from error
            done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
            for name, value in zip(rows, (row_obs, actions, row_goals, row_episode)):
                rows[name].append(value)
            self.steps += 1
            next_obs = checked_obs(next_obs, self.num_envs, self.sizes, f"step {self.steps}")
            if self.mode is AutoresetMode.NEXT_STEP:
                self.episode = self.episode + self.resetting  # this call reset them: their returned obs starts a new episode
                live = ~self.resetting
                self.resetting = done & live
                step_obs, step_info = next_obs, info
            else:
                live = np.ones(self.num_envs, bool)
                step_obs, step_info = terminal_view(next_obs, info, done)
                if done.any():
                    self.final = (done, {key: step_obs[key].copy() for key in ("observation", "achieved_goal")})
            if self.reports_success and live.any():
                try:
                    successes.append(float(np.mean(step_success(step_obs, step_info, self.reward_of)[live])))
                except ValueError:  # no success signal: CRL does not need one, only the metric is lost
                    self.reports_success = False
            episodes_ended += int(np.sum(done & live))
            self.obs = next_obs
        out = Rows(*(np.stack(rows[name]).astype(dtype) for name, dtype in
                     zip(rows, (np.float32, np.float32, np.float32, np.int32))))
        metrics = {"collect/episodes_ended": float(episodes_ended)}
        if self.reports_success and successes:
            metrics["collect/success"] = float(np.mean(successes))
        return out, metrics


def checked_obs(obs: dict[str, Any], num_envs: int, sizes: EnvSizes, when: str) -> dict[str, np.ndarray]:
    """The goal-env observation of every env as float32 ``(num_envs, size)`` arrays, checked against
    the declared sizes and for NaN / infinity: a misbehaving env is named as the cause, with the
    key and the step, before anything it returned reaches training."""
    out = {}
    for key, size in (("observation", sizes.observation_size), ("achieved_goal", sizes.goal_size),
                      ("desired_goal", sizes.goal_size)):
        try:
            value = np.asarray(obs[key], np.float32)
        except (TypeError, ValueError) as error:
            raise ValueError(f"the env's {key} at {when} is not an array of numbers ({error})") from None
        if value.size != num_envs * size:
            raise ValueError(f"the env returned {key} of shape {value.shape} at {when}; its observation space declares "
                             f"{size} numbers per env ({num_envs} envs)")
        value = value.reshape(num_envs, size)
        bad = ~np.isfinite(value)
        if bad.any():
            env = int(np.argwhere(bad)[0][0])
            raise ValueError(f"the env returned a non-finite {key} (NaN or infinity) at {when} in env {env}: the env's "
                             "fault, not training's")
        out[key] = value
    return out


def _where(mask: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return np.where(mask[:, None], new, old)
