"""The three CRL networks: phi(s, a), psi(g) and the actor pi(a | s, g).

Each is a residual tower followed by a head. A tower is an input projection
``Dense(W) -> LayerNorm -> swish`` and ``depth // 4`` residual blocks; a block is
4 x (``Dense(W) -> LayerNorm -> swish``) with the block input added after the 4th swish
(no norm after the add). "Depth" counts the Dense layers inside the blocks.

The blocks are identical, so they are stacked (parameters get a leading block axis)
and applied with ``nn.scan``: program size and compile time do not grow with depth.
``remat=True`` recomputes each block's activations in the backward pass instead of
storing them, trading compute for memory at large depth. ``unroll`` blocks run per scan
iteration (more compile time, less loop overhead). ``dtype`` is the matmul dtype: with
``bfloat16`` the Dense layers multiply in bfloat16 while parameters, LayerNorm statistics,
activations between layers, the residual sums and the heads stay float32 (mixed precision).

Initialisation: kernels uniform in +-1/sqrt(fan_in), biases zero, LayerNorm scale 1 and
bias 0 (learnable).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
BLOCK_SIZE = 4  # Dense layers per residual block

fan_in_uniform = jax.nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")  # U(+-1/sqrt(fan_in))


def check_depth(depth: int, name: str = "depth") -> int:
    """Return ``depth`` if it is a positive multiple of 4, else raise a clear error."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < BLOCK_SIZE or depth % BLOCK_SIZE:
        raise ValueError(f"{name} must be a positive multiple of {BLOCK_SIZE} (4 Dense layers per residual block), got {depth!r}")
    return depth


COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def dense(features: int, name: str | None = None, dtype: Any = jnp.float32) -> nn.Dense:
    return nn.Dense(features, kernel_init=fan_in_uniform, bias_init=nn.initializers.zeros, name=name, dtype=dtype,
                    param_dtype=jnp.float32)


class ResidualBlock(nn.Module):
    """4 x (Dense -> LayerNorm -> swish), plus the block input. Scan-compatible (carry, None)."""

    width: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, _: None) -> tuple[jax.Array, None]:
        y = x
        for _layer in range(BLOCK_SIZE):
            y = nn.swish(nn.LayerNorm(dtype=jnp.float32)(dense(self.width, dtype=self.dtype)(y)))
        return x + y, None


class ResidualTower(nn.Module):
    """Input projection then ``depth // 4`` scanned residual blocks; output width ``width``."""

    depth: int
    width: int
    remat: bool = False
    unroll: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.swish(nn.LayerNorm(dtype=jnp.float32)(dense(self.width, name="projection", dtype=self.dtype)(x)))
        block = nn.remat(ResidualBlock, prevent_cse=False) if self.remat else ResidualBlock
        blocks = nn.scan(
            block,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            length=self.depth // BLOCK_SIZE,
            unroll=self.unroll,
        )
        x, _ = blocks(self.width, self.dtype, name="blocks")(x, None)
        return x


class StateActionEncoder(nn.Module):
    """phi(s, a): concat(state, action) -> tower -> Dense(repr_dim)."""

    depth: int
    width: int
    repr_dim: int
    remat: bool = False
    unroll: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jax.Array, action: jax.Array) -> jax.Array:
        x = ResidualTower(self.depth, self.width, self.remat, self.unroll, self.dtype)(jnp.concatenate([state, action], axis=-1))
        return dense(self.repr_dim, name="head")(x)


class GoalEncoder(nn.Module):
    """psi(g): goal -> tower -> Dense(repr_dim)."""

    depth: int
    width: int
    repr_dim: int
    remat: bool = False
    unroll: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, goal: jax.Array) -> jax.Array:
        return dense(self.repr_dim, name="head")(ResidualTower(self.depth, self.width, self.remat, self.unroll, self.dtype)(goal))


class Actor(nn.Module):
    """pi(a | s, g): concat(state, goal) -> tower -> (mean, log_std), log_std squashed into [-5, 2]."""

    depth: int
    width: int
    action_size: int
    remat: bool = False
    unroll: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, state: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = ResidualTower(self.depth, self.width, self.remat, self.unroll, self.dtype)(jnp.concatenate([state, goal], axis=-1))
        mean = dense(self.action_size, name="mean")(x)
        raw_log_std = dense(self.action_size, name="log_std")(x)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw_log_std) + 1.0)
        return mean, log_std


def sample_action(mean: jax.Array, log_std: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Reparameterised tanh-Gaussian sample and its log-probability (summed over actions)."""
    noise = jax.random.normal(key, mean.shape)
    pre_tanh = mean + jnp.exp(log_std) * noise
    gaussian_log_prob = -0.5 * noise**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    # log |d tanh(u) / du| = log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|
    log_det = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.tanh(pre_tanh), jnp.sum(gaussian_log_prob - log_det, axis=-1)


def deterministic_action(mean: jax.Array) -> jax.Array:
    """The deterministic policy: tanh(mean)."""
    return jnp.tanh(mean)
