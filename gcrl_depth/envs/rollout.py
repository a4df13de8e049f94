"""One rollout function for every batch of env steps on the device: training's collection,
evaluation (:func:`episode_sums`) and the behaviour probe.

:func:`rollout` steps a batch of envs (an ``EnvState`` with a leading env axis) ``length``
times with a policy as one ``lax.scan`` and returns the last state and what ``observe``
saw at every step, stacked on a leading time axis. What the callers derive from that
(episode ids, steps at the goal, alive masks) comes from :func:`alive_before` and
:func:`episode_ids` on those stacked arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gcrl_depth.envs.core import EnvState, GoalEnv

Step = Callable[[EnvState, jax.Array], EnvState]  # one env's (state, action) -> next state: core.step or core.transition
BatchPolicy = Callable[[EnvState, Any], jax.Array]  # (batched state, this step's key or None) -> actions (N, A)
JaxPolicy = Callable[[Any, jax.Array, jax.Array], jax.Array]  # (params, obs batch, goal batch) -> actions
Observe = Callable[[EnvState, jax.Array, EnvState], Any]  # (state, action, next state) -> what to keep of the step


def rollout(step: Step, policy: BatchPolicy, state: EnvState, length: int, observe: Observe,
            keys: jax.Array | None = None) -> tuple[EnvState, Any]:
    """``length`` steps of every env; returns (last state, ``observe`` per step, leaves (length, N, ...)).

    ``keys`` (length,) gives the policy one key per step (None: the policy gets None).
    """

    def one_step(current: EnvState, key: Any) -> tuple[EnvState, Any]:
        action = policy(current, key)
        following = jax.vmap(step)(current, action)
        return following, observe(current, action, following)

    return jax.lax.scan(one_step, state, keys, length=length if keys is None else None)


def alive_before(done: jax.Array) -> jax.Array:
    """(T, N) booleans: whether each env's episode had not yet ended before step t (``done`` of each step)."""
    ended_before = jnp.cumsum(done.astype(jnp.int32), axis=0) - done.astype(jnp.int32)
    return ended_before == 0


def episode_ids(first: jax.Array, done: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Episode id of every step (T, N) from the ids at the first step (N,) and each step's ``done``;
    and the ids after the last step (N,)."""
    counts = jnp.cumsum(done.astype(jnp.int32), axis=0)
    return first + counts - done.astype(jnp.int32), first + counts[-1]


def episode_sums(params: Any, keys: jax.Array, core: GoalEnv, policy: JaxPolicy) -> tuple[jax.Array, jax.Array]:
    """Per episode (one per key) of ``core`` with a deterministic ``policy``: the steps at the goal while
    alive, and the goal distance where it ended (pure; the device twin of ``gcrl_depth.evaluate``)."""

    def observe(state: Any, action: jax.Array, following: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
        return following.metrics["success"], following.terminated | following.truncated, following.metrics["distance"]

    _, (success, done, distance) = rollout(core.transition, lambda state, _: policy(params, state.obs, state.goal),
                                           jax.vmap(core.reset)(keys), core.episode_length, observe)
    alive = alive_before(done)  # (T, N)
    at_goal = jnp.sum(jnp.where(alive, success, 0.0), axis=0, dtype=jnp.float32)
    ended = alive & done
    ended_at = jnp.argmax(ended, axis=0)  # the step each episode ended at (0 if it never did)
    final_distance = jnp.where(ended.any(axis=0), distance[ended_at, jnp.arange(keys.shape[0])], distance[-1])
    return at_goal, final_distance
