"""The three CRL networks as pure functions of stacked parameters: phi(s, a), psi(g), pi(a | s, g).

Each network is a residual tower and a head. A tower is an input projection
``Dense(W) -> LayerNorm -> swish`` and ``depth // 4`` residual blocks; a block is
4 x (``Dense(W) -> LayerNorm -> swish``) with the block input added after the 4th swish
(no norm after the add). "Depth" counts the Dense layers inside the blocks. The paper's
ablations are ``TowerSpec`` switches: LayerNorm off, ReLU for swish, no residual sums.

Parameters are pytrees of arrays, not modules. A tower's blocks are ONE array per kind:
kernels ``(n_blocks, 4, W, W)``, biases, LayerNorm scales and offsets ``(n_blocks, 4, W)``;
the blocks run as a ``lax.scan`` (``unroll`` blocks per loop iteration; ``remat``
recomputes a block's activations in the backward pass), or with ``kernel="pallas"`` as one
fused kernel per pass over all blocks (:mod:`gcrl_depth.crl.engine.fused_tower`). The critic's two encoders
always share depth and width, so their towers are stacked once more along a leading
tower axis (index :data:`PHI`, :data:`PSI`) and run as one batched tower: one loop over
the blocks, each matmul doing the work of both. The update adds a third member, phi with
its parameters frozen, for the actor's Q(s, a_pi, g) (:func:`encode_with_policy`).

``TowerSpec.dtype`` is the matmul dtype: with bfloat16 the Dense layers of the towers
multiply in bfloat16 (float32 accumulation) while parameters, LayerNorm statistics,
activations between layers, the residual sums and the heads stay float32.

Initialisation: kernels uniform in +-1/sqrt(fan_in), biases zero, LayerNorm scale 1 and
offset 0 (learnable).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from gcrl_depth.crl.engine import fused_tower

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
BLOCK_SIZE = 4  # Dense layers per residual block
LAYER_NORM_EPS = 1e-6
PHI, PSI = 0, 1  # the critic's tower axis: phi(s, a), psi(g)
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
TOWER_KERNELS = ("xla", "pallas")  # how residual blocks run: XLA ops in a scan, or fused Pallas kernels
ACTIVATIONS = {"swish": jax.nn.swish, "relu": jax.nn.relu}  # the paper's choice, and its ablation


def check_depth(depth: int, name: str = "depth") -> int:
    """Return ``depth`` if it is a positive multiple of 4, else raise a clear error."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < BLOCK_SIZE or depth % BLOCK_SIZE:
        raise ValueError(f"{name} must be a positive multiple of {BLOCK_SIZE} (4 Dense layers per residual block), got {depth!r}")
    return depth


def check_kernel_layers(kernel: str, layer_norm: bool, activation: str, residual: bool) -> None:
    """Raise unless ``kernel`` runs these layers: the fused kernels run the paper's only."""
    if kernel == "pallas" and not (layer_norm and activation == "swish" and residual):
        raise ValueError("tower_kernel='pallas' fuses the paper's layers only (layer_norm=True, activation='swish', "
                         "residual=True); use tower_kernel='xla' for the ablations")


def _pytree(cls: type) -> type:
    return jax.tree_util.register_dataclass(dataclasses.dataclass(frozen=True)(cls))


@_pytree
class Dense:
    """kernel (..., in, out), bias (..., out)."""

    kernel: jax.Array
    bias: jax.Array


@_pytree
class Norm:
    """LayerNorm scale and offset, (..., W)."""

    scale: jax.Array
    offset: jax.Array


@_pytree
class Blocks:
    """A tower's residual blocks: kernel (n_blocks, 4, W, W); bias, scale, offset (n_blocks, 4, W)."""

    kernel: jax.Array
    bias: jax.Array
    scale: jax.Array
    offset: jax.Array


@_pytree
class ActorParams:
    """pi(a | s, g): input projection and norm, blocks, mean and log-std heads."""

    input: Dense
    input_norm: Norm
    blocks: Blocks
    mean: Dense
    log_std: Dense


@_pytree
class CriticParams:
    """phi and psi, stacked on a leading tower axis (PHI, PSI) except their input projections."""

    sa_input: Dense  # (obs + action, W)
    goal_input: Dense  # (goal, W)
    input_norms: Norm  # (2, W)
    blocks: Blocks  # (2, n_blocks, 4, W, W) ...
    heads: Dense  # (2, W, repr_dim)


UNROLL_LIMIT = 16  # blocks per loop iteration at most, when the platform's default unrolls


def default_unroll(n_blocks: int, platform: str) -> int:
    """Residual blocks per loop iteration when ``scan_unroll`` is None, from measurements.

    GPUs: every block, up to :data:`UNROLL_LIMIT` per iteration. On one H200 (the previous
    engine, batch 512, width 256) depth 64 took 8.7 ms per gradient step with its 16 blocks
    unrolled against 17.2 ms scanned (compile 57 s against 21 s); on one H100, 8 blocks per
    iteration were 29% faster than 1 (compile 69 s against 48 s). CPUs: 1, which compiles
    fastest (``benchmarks/results/engine_v2_cpu.md`` measures both on the CPU).
    """
    return min(n_blocks, UNROLL_LIMIT) if platform in ("gpu", "cuda", "rocm") else 1


@dataclasses.dataclass(frozen=True)
class TowerSpec:
    """How a tower is shaped and run (hashable: part of what shapes a compiled program)."""

    depth: int
    width: int
    dtype: str = "float32"
    unroll: int = 1
    remat: bool = False
    kernel: str = "xla"
    layer_norm: bool = True  # the paper's ablations: LayerNorm off, ReLU, no residual connections
    activation: str = "swish"
    residual: bool = True


    @property
    def n_blocks(self) -> int:
        return self.depth // BLOCK_SIZE


# ----------------------------------------------------------------- initialisation
def init_dense(key: jax.Array, n_in: int, n_out: int, lead: tuple[int, ...] = ()) -> Dense:
    """Kernel uniform in +-1/sqrt(n_in), zero bias; ``lead`` stacks independent layers."""
    bound = 1.0 / jnp.sqrt(n_in)
    kernel = jax.random.uniform(key, (*lead, n_in, n_out), jnp.float32, -bound, bound)
    return Dense(kernel, jnp.zeros((*lead, n_out), jnp.float32))


def init_norm(width: int, lead: tuple[int, ...] = ()) -> Norm:
    return Norm(jnp.ones((*lead, width), jnp.float32), jnp.zeros((*lead, width), jnp.float32))


def init_blocks(key: jax.Array, spec: TowerSpec, lead: tuple[int, ...] = ()) -> Blocks:
    shape = (*lead, spec.n_blocks, BLOCK_SIZE)
    dense = init_dense(key, spec.width, spec.width, shape)
    norm = init_norm(spec.width, shape)
    return Blocks(dense.kernel, dense.bias, norm.scale, norm.offset)


def init_actor(key: jax.Array, spec: TowerSpec, obs_size: int, goal_size: int, action_size: int) -> ActorParams:
    k_input, k_blocks, k_mean, k_std = jax.random.split(key, 4)
    return ActorParams(
        input=init_dense(k_input, obs_size + goal_size, spec.width),
        input_norm=init_norm(spec.width),
        blocks=init_blocks(k_blocks, spec),
        mean=init_dense(k_mean, spec.width, action_size),
        log_std=init_dense(k_std, spec.width, action_size),
    )


def init_critic(key: jax.Array, spec: TowerSpec, obs_size: int, goal_size: int, action_size: int,
                repr_dim: int) -> CriticParams:
    k_sa, k_goal, k_blocks, k_heads = jax.random.split(key, 4)
    return CriticParams(
        sa_input=init_dense(k_sa, obs_size + action_size, spec.width),
        goal_input=init_dense(k_goal, goal_size, spec.width),
        input_norms=init_norm(spec.width, (2,)),
        blocks=init_blocks(k_blocks, spec, (2,)),
        heads=init_dense(k_heads, spec.width, repr_dim, (2,)),
    )


# ----------------------------------------------------------------- layers
def _matmul(x: jax.Array, kernel: jax.Array, dtype: str) -> jax.Array:
    compute = COMPUTE_DTYPES[dtype]
    return jnp.matmul(x.astype(compute), kernel.astype(compute), preferred_element_type=jnp.float32)


def dense(p: Dense, x: jax.Array, dtype: str = "float32") -> jax.Array:
    return _matmul(x, p.kernel, dtype) + p.bias


def layer_norm(x: jax.Array, scale: jax.Array, offset: jax.Array) -> jax.Array:
    """LayerNorm over the last axis, statistics in float32."""
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(x), axis=-1, keepdims=True) - jnp.square(mean), 0.0)
    return (x - mean) * jax.lax.rsqrt(var + LAYER_NORM_EPS) * scale + offset


def norm_act(y: jax.Array, scale: jax.Array, offset: jax.Array, spec: TowerSpec) -> jax.Array:
    """A layer's LayerNorm (unless ablated: its scale and offset then go unused) and activation."""
    y = layer_norm(y, scale, offset) if spec.layer_norm else y.astype(jnp.float32)
    return ACTIVATIONS[spec.activation](y)


def _block(x: jax.Array, block: Blocks, spec: TowerSpec) -> jax.Array:
    """One residual block; ``block`` holds one block's (4, ...) parameters."""
    y = x
    for layer in range(BLOCK_SIZE):
        y = _matmul(y, block.kernel[layer], spec.dtype) + block.bias[layer]
        y = norm_act(y, block.scale[layer], block.offset[layer], spec)
    return x + y if spec.residual else y


def run_blocks(blocks: Blocks, x: jax.Array, spec: TowerSpec) -> jax.Array:
    """The residual blocks of one tower on x (B, W): a scan over the stacked blocks, or fused kernels."""
    if spec.kernel == "pallas":
        check_kernel_layers(spec.kernel, spec.layer_norm, spec.activation, spec.residual)
        return fused_tower.residual_blocks(blocks.kernel, blocks.bias, blocks.scale, blocks.offset, x,
                                           block_size=BLOCK_SIZE, eps=LAYER_NORM_EPS, dtype=spec.dtype,
                                           remat=spec.remat)

    def step(h, block):
        return _block(h, block, spec), None

    if spec.remat:
        step = jax.checkpoint(step, prevent_cse=False)
    return jax.lax.scan(step, x, blocks, unroll=max(1, min(spec.unroll, spec.n_blocks)))[0]


def _stacked_towers(norms: Norm, blocks: Blocks, heads: Dense, h: jax.Array, spec: TowerSpec) -> jax.Array:
    """Towers stacked on axis 0 applied to their input projections h (T, B, W): (T, B, repr_dim)."""
    h = norm_act(h, norms.scale[:, None], norms.offset[:, None], spec)
    h = jax.vmap(functools.partial(run_blocks, spec=spec))(blocks, h)
    return jnp.einsum("tbw,twr->tbr", h, heads.kernel) + heads.bias[:, None]


# ----------------------------------------------------------------- networks
def actor_forward(p: ActorParams, obs: jax.Array, goal: jax.Array, spec: TowerSpec) -> tuple[jax.Array, jax.Array]:
    """(mean, log_std) of pi(. | s, g) for a batch; log_std squashed into [-5, 2]."""
    x = jnp.concatenate([obs, goal], axis=-1)
    h = norm_act(dense(p.input, x, spec.dtype), p.input_norm.scale, p.input_norm.offset, spec)
    h = run_blocks(p.blocks, h, spec)
    mean = dense(p.mean, h)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(dense(p.log_std, h)) + 1.0)
    return mean, log_std


def encode(p: CriticParams, obs: jax.Array, action: jax.Array, goal: jax.Array, spec: TowerSpec) -> tuple[jax.Array, jax.Array]:
    """(phi(s, a), psi(g)) for paired batches (B, ...), as one stacked tower."""
    h = jnp.stack([dense(p.sa_input, jnp.concatenate([obs, action], axis=-1), spec.dtype),
                   dense(p.goal_input, goal, spec.dtype)])
    out = _stacked_towers(p.input_norms, p.blocks, p.heads, h, spec)
    return out[PHI], out[PSI]


def encode_with_policy(p: CriticParams, obs: jax.Array, action: jax.Array, policy_action: jax.Array, goal: jax.Array,
                       spec: TowerSpec) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(phi(s, a), psi(g), phi_frozen(s, a_pi)) as one stacked tower of three members.

    The third member runs phi with its parameters behind ``stop_gradient``: gradients reach
    the policy's actions through it, never the critic's parameters.
    """
    frozen = jax.lax.stop_gradient(p)

    def with_frozen_phi(live: jax.Array, fixed: jax.Array) -> jax.Array:
        return jnp.concatenate([live, fixed[PHI:PHI + 1]])

    stack = functools.partial(jax.tree_util.tree_map, with_frozen_phi)
    h = jnp.stack([dense(p.sa_input, jnp.concatenate([obs, action], axis=-1), spec.dtype),
                   dense(p.goal_input, goal, spec.dtype),
                   dense(frozen.sa_input, jnp.concatenate([obs, policy_action], axis=-1), spec.dtype)])
    out = _stacked_towers(stack(p.input_norms, frozen.input_norms), stack(p.blocks, frozen.blocks),
                          stack(p.heads, frozen.heads), h, spec)
    return out[PHI], out[PSI], out[2]


def sample_action(mean: jax.Array, log_std: jax.Array, key: jax.Array | None = None,
                  noise: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Reparameterised tanh-Gaussian sample and its log-probability (summed over actions);
    the standard normal ``noise`` is drawn with ``key`` unless given."""
    noise = jax.random.normal(key, mean.shape) if noise is None else noise
    pre_tanh = mean + jnp.exp(log_std) * noise
    gaussian_log_prob = -0.5 * noise**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    # log |d tanh(u) / du| = log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|
    log_det = 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))
    return jnp.tanh(pre_tanh), jnp.sum(gaussian_log_prob - log_det, axis=-1)


def deterministic_action(mean: jax.Array) -> jax.Array:
    """The deterministic policy: tanh(mean)."""
    return jnp.tanh(mean)


def parameter_count(tree: Any) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))
