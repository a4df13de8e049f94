"""One evaluator for every algorithm: fresh goals, deterministic policy, full episodes.

A policy is any callable mapping a batched Dict observation (numpy arrays
``observation``, ``achieved_goal``, ``desired_goal`` with a leading env axis) to a batch
of actions, or to ``(actions, state)`` as stable-baselines3's ``predict`` returns; a model
with a ``predict`` method (DeepCRL, an SB3 model) is used deterministically. :func:`evaluate` runs ``num_envs`` evaluation envs for exactly one episode
each and reports:

* ``time_at_goal``: steps (out of the episode) within the success threshold, mean over
  episodes; steps after an early termination count as not at the goal;
* ``success_rate``: fraction of episodes that ever reached the goal;
* ``final_distance``: goal distance at the episode's last step, mean over episodes.

On gcrl_depth's envs DeepCRL computes the same metrics on the device, as one compiled rollout
(:func:`gcrl_depth.envs.rollout.episode_sums`, no host round trip per step); with the same seed
(:func:`evaluation_keys`) it starts from the same states and goals as :func:`evaluate` on a
vector env of the same core, and :func:`summarise` turns its sums into the same result.

:class:`EvaluationHistory` keeps the results of successive evaluations and gives the
headline number, the mean over the last 5 evaluations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import jax
import numpy as np

from gcrl_depth.envs.gym_api import reset_key_seed
from gcrl_depth.goal_envs import (
    check_goal_space,
    episode_length,
    reward_function,
    step_distance,
    step_success,
    terminal_view,
    vector_goal_env,
)

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]
HEADLINE_WINDOW = 5  # evaluations averaged for the reported number


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """Outcome of one evaluation (means over ``episodes`` episodes)."""

    time_at_goal: float
    success_rate: float
    final_distance: float
    episodes: int
    episode_length: int

    def as_metrics(self, prefix: str = "eval/") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in dataclasses.asdict(self).items()}


def evaluate(policy: Policy, env: str | gym.vector.VectorEnv, num_envs: int = 32, seed: int = 0,
             max_steps: int | None = None, **env_kwargs: Any) -> EvaluationResult:
    """Run one full episode in each of ``num_envs`` envs and summarise them.

    Args:
        policy: batched Dict observation -> batched actions (use its deterministic mode).
        env: an env id of any Gymnasium goal env (gcrl_depth's: an evaluation id such as
            ``...Eval-v0`` for mazes; another id is vectorized with Gymnasium's sync vector
            env) or an existing vector goal env (its ``num_envs`` is used). Success and
            distance are read as :mod:`gcrl_depth.goal_envs` says.
        num_envs: episodes to run when ``env`` is an id.
        seed: seed of the evaluation envs' starts and goals.
        max_steps: steps per episode (default: the env's episode length or registered
            ``max_episode_steps``; required where it has neither).
        **env_kwargs: options for ``gym.make_vec`` when ``env`` is an id.
    """
    policy = as_policy(policy)
    envs = vector_goal_env(env, num_envs, **env_kwargs)
    check_goal_space(envs.single_observation_space, f"evaluate's env {getattr(envs.spec, 'id', type(envs).__name__)}")
    length = max_steps if max_steps is not None else episode_length(envs)
    if length is None or isinstance(length, bool) or int(length) < 1:
        raise ValueError("evaluate needs the episode length: this env registers no max_episode_steps, so pass "
                         f"max_steps=N (got {max_steps!r})")
    reward_of = reward_function(envs)
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    alive = np.ones(n, bool)
    at_goal_steps = np.zeros(n)
    final_distance = np.full(n, np.nan)
    distance = final_distance
    for _ in range(int(length)):
        actions = np.asarray(policy(obs), dtype=np.float32)
        if actions.size != np.prod(envs.action_space.shape or ()):
            raise ValueError(f"the policy returned actions of shape {actions.shape}; expected {envs.action_space.shape}")
        actions = actions.reshape(envs.action_space.shape)
        obs, _, terminated, truncated, info = envs.step(actions)
        done = np.asarray(terminated) | np.asarray(truncated)
        step_obs, step_info = terminal_view(obs, info, done)
        distance = step_distance(step_obs, step_info)
        at_goal_steps += alive * step_success(step_obs, step_info, reward_of)
        ended = alive & done
        final_distance[ended] = distance[ended]
        alive &= ~done
        if not alive.any():
            break
    final_distance[alive] = distance[alive]
    return EvaluationResult(
        time_at_goal=float(at_goal_steps.mean()),
        success_rate=float((at_goal_steps > 0).mean()),
        final_distance=float(final_distance.mean()),
        episodes=n,
        episode_length=int(length),
    )


def as_policy(policy: Any) -> Policy:
    """A batched-observation -> actions function from a policy function or a model with ``predict``."""
    if hasattr(policy, "predict") and callable(policy.predict):
        model = policy
        return lambda obs: model.predict(obs, deterministic=True)[0]
    if not callable(policy):
        raise TypeError(f"policy must be a function of the observation or a model with predict(), got {type(policy).__name__}")

    def actions_only(obs: dict[str, np.ndarray]) -> Any:
        out = policy(obs)
        return out[0] if isinstance(out, tuple) and len(out) == 2 else out  # SB3-style (actions, state)

    return actions_only


def evaluation_keys(seed: int, num_envs: int) -> jax.Array:
    """The reset keys of ``num_envs`` evaluation episodes, as :func:`evaluate` draws them for ``seed``."""
    return jax.random.split(jax.random.key(reset_key_seed(seed)), num_envs)


def summarise(at_goal: np.ndarray, final_distance: np.ndarray, episode_length: int) -> EvaluationResult:
    """An :class:`EvaluationResult` from per-episode steps at the goal and final distances."""
    return EvaluationResult(
        time_at_goal=float(np.mean(at_goal)),
        success_rate=float(np.mean(at_goal > 0)),
        final_distance=float(np.mean(final_distance)),
        episodes=int(np.size(at_goal)),
        episode_length=int(episode_length),
    )


@dataclasses.dataclass
class EvaluationHistory:
    """Results of successive evaluations, indexed by env steps trained."""

    env_steps: list[int] = dataclasses.field(default_factory=list)
    results: list[EvaluationResult] = dataclasses.field(default_factory=list)

    def add(self, env_steps: int, result: EvaluationResult) -> None:
        self.env_steps.append(int(env_steps))
        self.results.append(result)

    def headline(self, metric: str = "time_at_goal", window: int = HEADLINE_WINDOW) -> float:
        """Mean of ``metric`` over the last ``window`` evaluations (the paper's reported number)."""
        if not self.results:
            raise ValueError("no evaluations recorded yet")
        return float(np.mean([getattr(r, metric) for r in self.results[-window:]]))
