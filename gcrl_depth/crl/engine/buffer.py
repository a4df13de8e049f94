"""On-device trajectory replay buffer with hindsight future-state goals.

Storage is a ring per env slot: arrays of shape (capacity, num_envs, ...). Inserting a
chunk of T steps writes T rows at the write position (modulo capacity) with a scatter,
so nothing is copied or rolled; with the buffer donated to a jitted function XLA updates
it in place.

Every stored step carries its env slot's episode counter. Because a slot writes its
steps in time order, the steps of one episode are contiguous in that slot's logical
(oldest-to-newest) order, and "same episode as step t" is true for t+1, ..., t+L and false
after. Sampling:

1. draw an env slot and a logical time t uniformly; find L, the number of later steps of
   the same episode still in the buffer, by binary search; (rare) draws with L = 0 (the
   last stored step of an episode, or the newest step of the slot) are replaced by the
   next of several candidates drawn at once;
2. draw the offset k in {1, ..., L} with P(k) proportional to gamma^k (a truncated
   geometric distribution, by its inverse CDF);
3. the goal is the achieved goal stored with step t + k (stored explicitly, so a goal need
   not be a slice of the observation: any goal env's ``achieved_goal`` works).

Episodes that wrap around the ring, or that were cut by an auto-reset, are handled by the
episode counter: a future step is only ever taken from the same episode.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

CANDIDATES = 16  # (env slot, time) draws per sample; the first with a future step in its episode is kept


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ReplayBuffer:
    """Ring buffer state (a pytree).

    Attributes:
        obs: state part of the observations, (capacity, num_envs, obs_size).
        actions: actions taken from those states, (capacity, num_envs, action_size).
        goals: goals achieved in those states, (capacity, num_envs, goal_size).
        episode: per-slot episode counter of each step, (capacity, num_envs), int32.
        insert_pos: physical row the next step is written to, (), int32.
        size: steps stored per slot (<= capacity), (), int32.
    """

    obs: jax.Array
    actions: jax.Array
    goals: jax.Array
    episode: jax.Array
    insert_pos: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return self.obs.shape[0]

    @property
    def num_envs(self) -> int:
        return self.obs.shape[1]

    @classmethod
    def create(cls, capacity: int, num_envs: int, obs_size: int, action_size: int, goal_size: int) -> ReplayBuffer:
        """An empty buffer holding ``capacity`` steps for each of ``num_envs`` slots."""
        if capacity < 2:
            raise ValueError(f"buffer capacity must be at least 2 steps per env, got {capacity}")
        return cls(
            obs=jnp.zeros((capacity, num_envs, obs_size), jnp.float32),
            actions=jnp.zeros((capacity, num_envs, action_size), jnp.float32),
            goals=jnp.zeros((capacity, num_envs, goal_size), jnp.float32),
            episode=jnp.zeros((capacity, num_envs), jnp.int32),
            insert_pos=jnp.zeros((), jnp.int32),
            size=jnp.zeros((), jnp.int32),
        )

    def insert(self, obs: jax.Array, actions: jax.Array, goals: jax.Array, episode: jax.Array) -> ReplayBuffer:
        """Append a chunk of T steps: obs (T, num_envs, obs_size), actions (T, num_envs, action_size),
        achieved goals (T, num_envs, goal_size), episode (T, num_envs)."""
        steps = obs.shape[0]
        if steps > self.capacity:
            raise ValueError(f"cannot insert {steps} steps into a buffer of capacity {self.capacity}")
        rows = (self.insert_pos + jnp.arange(steps)) % self.capacity
        return dataclasses.replace(
            self,
            obs=self.obs.at[rows].set(obs),
            actions=self.actions.at[rows].set(actions),
            goals=self.goals.at[rows].set(goals),
            episode=self.episode.at[rows].set(episode.astype(jnp.int32)),
            insert_pos=(self.insert_pos + steps) % self.capacity,
            size=jnp.minimum(self.size + steps, self.capacity),
        )

    def _row(self, logical: jax.Array) -> jax.Array:
        """Physical row of a logical index (0 = oldest stored step)."""
        return (self.insert_pos - self.size + logical) % self.capacity

    def _future_steps(self, env: jax.Array, logical: jax.Array) -> jax.Array:
        """Number of later steps of the same episode in the buffer, by binary search."""
        episode = self.episode[self._row(logical), env]
        low = jnp.zeros_like(logical)  # same episode at offset `low` (offset 0 trivially)
        high = self.size - 1 - logical  # largest offset still inside the buffer
        n_rounds = int(self.capacity).bit_length() + 1  # enough halvings for any offset range

        def halve(_, bounds):
            low, high = bounds
            mid = (low + high + 1) // 2
            same = self.episode[self._row(logical + mid), env] == episode
            return jnp.where(same, mid, low), jnp.where(same, high, mid - 1)

        low, _ = jax.lax.fori_loop(0, n_rounds, halve, (low, high))
        return low

    def sample(self, key: jax.Array, batch_size: int, gamma: float) -> Transition:
        """Sample transitions with hindsight goals from the future of the same episode.

        Each sample draws :data:`CANDIDATES` (env slot, time) pairs at once and keeps the
        first that has a later step in its episode: uniform over such steps, with no
        data-dependent loop (a ``while_loop`` would cost a device-to-host sync per gradient
        step on GPUs; the binary searches of all candidates run together, so more candidates
        cost no more kernels). ``valid`` is False only where no candidate had one (e.g. a
        buffer holding a single step, or episodes of one or two steps); such a sample takes
        its own achieved goal (offset 0, as the paper's code does for an episode's last step),
        never a step of another episode.
        """
        draw_key, offset_key = jax.random.split(key)
        env_key, time_key = jax.random.split(draw_key)
        shape = (CANDIDATES, batch_size)
        envs = jax.random.randint(env_key, shape, 0, self.num_envs)
        times = jax.random.randint(time_key, shape, 0, jnp.maximum(self.size - 1, 1))
        futures = self._future_steps(envs, times)  # (CANDIDATES, B)
        pick = jnp.argmax(futures > 0, axis=0)  # the first candidate with a future step (0 if none)
        env, logical, future = (jnp.take_along_axis(x, pick[None], axis=0)[0] for x in (envs, times, futures))
        valid = future > 0
        offset = jnp.where(valid, truncated_geometric(offset_key, jnp.maximum(future, 1), gamma), 0)
        rows, goal_rows = self._row(logical), self._row(logical + offset)
        return Transition(obs=self.obs[rows, env], action=self.actions[rows, env], goal=self.goals[goal_rows, env],
                          offset=offset, valid=valid)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Transition:
    """A minibatch of hindsight-relabelled transitions (B rows)."""

    obs: jax.Array  # (B, obs_size)
    action: jax.Array  # (B, action_size)
    goal: jax.Array  # (B, goal_size): the achieved goal of a later step of the same episode
    offset: jax.Array  # (B,) int32: t' - t (0 where not valid)
    valid: jax.Array  # (B,) bool: False where no later step of the episode was found


def truncated_geometric(key: jax.Array, max_offset: jax.Array, gamma: float) -> jax.Array:
    """Offsets k in {1, ..., max_offset} with P(k) proportional to gamma^k (inverse CDF)."""
    u = jax.random.uniform(key, jnp.shape(max_offset))
    tail = 1.0 - jnp.power(gamma, max_offset.astype(jnp.float32))
    k = jnp.ceil(jnp.log1p(-u * tail) / jnp.log(gamma))
    return jnp.clip(k.astype(jnp.int32), 1, max_offset)
