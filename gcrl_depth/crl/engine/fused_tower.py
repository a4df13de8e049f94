"""Residual towers as fused Pallas kernels (Triton on NVIDIA GPUs), differentiated by a custom VJP.

A tower's ``L = 4 * n_blocks`` layers (``Dense -> LayerNorm -> swish``, the block input added
after every 4th) run in ONE kernel launch forward and one backward, instead of XLA's handful
of small kernels per layer:

* **forward**: each program owns a tile of :data:`ROW_TILE` batch rows and walks all L layers
  with the tile in registers, streaming each layer's weight in 64 x 64 (or 128 x 128) chunks;
  the activations stay chunked by columns, so any width that is a multiple of 64 works and no
  weight has to fit in shared memory whole. When differentiated, it also writes every layer's
  input (in the matmul dtype, exactly what the matmuls read).
* **backward**: the same walk in reverse recomputes each layer's pre-activation from its saved
  input (one matmul, cheaper than storing it), and produces the input gradient, each layer's
  pre-activation gradient and per-tile partial sums of the LayerNorm gradients. The weight and
  bias gradients of all layers then come from one batched product over the layer axis.
* with ``remat``, nothing but the tower input is kept between the passes: the backward runs
  the forward kernel again.

Off NVIDIA GPUs the kernels run in Pallas interpret mode (slow; for checking on a CPU). The
batch is padded to the row tile; padded rows are dropped and contribute no gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pl_triton

ROW_TILE = 16  # batch rows per program (Triton dots need at least 16)
MAX_WIDTH = 1024
WIDTH_STEP = 64
NUM_WARPS = 4


def check_width(width: int, name: str = "width") -> int:
    """Return ``width`` if the fused kernels take it (a multiple of 64 up to 1024), else raise."""
    if isinstance(width, bool) or not isinstance(width, int) or width < WIDTH_STEP or width % WIDTH_STEP \
            or width > MAX_WIDTH:
        raise ValueError(f"{name} must be a multiple of {WIDTH_STEP} up to {MAX_WIDTH} for tower_kernel='pallas', "
                         f"got {width!r}")
    return width


def _chunk(width: int, dtype) -> int:
    """Columns per chunk: 128 for bfloat16 where the width allows (fewer, larger dots; a 128 x 128
    tile is 32 KB), else 64 (a float32 tile of 128 x 128 would take 128 registers per thread)."""
    return 128 if dtype == jnp.bfloat16 and width % 128 == 0 else WIDTH_STEP


def _columns(width: int, dtype) -> list:
    chunk = _chunk(width, dtype)
    return [pl.ds(c, chunk) for c in range(0, width, chunk)]


# ----------------------------------------------------------------- kernel pieces (values are row tiles)
def _pre_activation(h, kernel_ref, bias_ref, layer, cols, dtype):
    """z_j = sum_i h_i @ K[layer, i, j] + b[layer, j] over column chunks (float32 accumulation);
    input chunks outermost, so one of them is live at a time beside the accumulators."""
    acc = [bias_ref[layer, j].astype(jnp.float32)[None, :] for j in cols]
    for i, h_i in zip(cols, h):
        a = h_i.astype(dtype)
        acc = [z + jnp.dot(a, kernel_ref[layer, i, j], preferred_element_type=jnp.float32) for z, j in zip(acc, cols)]
    return acc


def _input_gradient(g_z, kernel_ref, layer, cols, dtype):
    """g_i = sum_j g_z_j @ K[layer, i, j]^T over column chunks, gradient chunks outermost."""
    acc = [None] * len(cols)
    for j, g_j in zip(cols, g_z):
        a = g_j.astype(dtype)
        for n, i in enumerate(cols):
            term = jax.lax.dot_general(a, kernel_ref[layer, i, j], (((1,), (1,)), ((), ())),
                                       preferred_element_type=jnp.float32)
            acc[n] = term if acc[n] is None else acc[n] + term
    return acc


def _row_mean(parts, width):
    """The mean over all columns of chunked rows (one cross-thread reduction)."""
    return jnp.sum(functools.reduce(jnp.add, parts), axis=1, keepdims=True) / width


def _normalize(z, width, eps):
    """LayerNorm's x_hat and 1/std per row, statistics as the XLA tower's (E[z^2] - E[z]^2)."""
    mean = _row_mean(z, width)
    var = jnp.maximum(_row_mean([p * p for p in z], width) - mean * mean, 0.0)
    rstd = jax.lax.rsqrt(var + eps)
    return [(p - mean) * rstd for p in z], rstd


def _sigmoid(x):
    return 1.0 / (1.0 + jnp.exp(-x))


def _norm_affine(xhat, scale_ref, offset_ref, layer, cols):
    return [x * scale_ref[layer, j][None, :] + offset_ref[layer, j][None, :] for x, j in zip(xhat, cols)]


def _forward_kernel(x_ref, kernel_ref, bias_ref, scale_ref, offset_ref, out_ref, *saved_ref,
                    n_layers, block_size, width, dtype, eps):
    rows = pl.ds(pl.program_id(0) * ROW_TILE, ROW_TILE)
    cols = _columns(width, dtype)
    x = [x_ref[rows, c].astype(jnp.float32) for c in cols]

    def layer(index, carry):
        h, block_input = carry
        if saved_ref:
            for c, h_c in zip(cols, h):
                saved_ref[0][index, rows, c] = h_c.astype(saved_ref[0].dtype)
        xhat, _ = _normalize(_pre_activation(h, kernel_ref, bias_ref, index, cols, dtype), width, eps)
        s = [a * _sigmoid(a) for a in _norm_affine(xhat, scale_ref, offset_ref, index, cols)]
        position = jax.lax.rem(index, block_size)  # the layer's place in its block (index >= 0)
        last = position == block_size - 1
        h = [jnp.where(last, r + s_c, s_c) for r, s_c in zip(block_input, s)]
        return h, [jnp.where(last, h_c, r) for h_c, r in zip(h, block_input)]

    h, _ = jax.lax.fori_loop(0, n_layers, layer, (x, x))
    for c, h_c in zip(cols, h):
        out_ref[rows, c] = h_c


def _backward_kernel(saved_ref, kernel_ref, bias_ref, scale_ref, offset_ref, grad_ref,
                     dx_ref, dz_ref, dscale_ref, doffset_ref, *, n_layers, block_size, width, dtype, eps):
    tile = pl.program_id(0)
    rows = pl.ds(tile * ROW_TILE, ROW_TILE)
    cols = _columns(width, dtype)
    grad = [grad_ref[rows, c] for c in cols]

    def layer(step, carry):
        g, g_residual = carry  # d loss / d (this layer's output), d loss / d (its block's input) via the skip
        index = n_layers - 1 - step
        position = jax.lax.rem(index, block_size)
        last, first = position == block_size - 1, position == 0
        g_residual = [jnp.where(last, g_c, r) for g_c, r in zip(g, g_residual)]
        h = [saved_ref[index, rows, c] for c in cols]
        xhat, rstd = _normalize(_pre_activation(h, kernel_ref, bias_ref, index, cols, dtype), width, eps)
        g_norm = []
        for g_c, a, x_c, c in zip(g, _norm_affine(xhat, scale_ref, offset_ref, index, cols), xhat, cols):
            sig = _sigmoid(a)
            g_a = g_c * sig * (1.0 + a * (1.0 - sig))  # swish'
            doffset_ref[tile, index, c] = jnp.sum(g_a, axis=0)
            dscale_ref[tile, index, c] = jnp.sum(g_a * x_c, axis=0)
            g_norm.append(g_a * scale_ref[index, c][None, :])
        mean_g = _row_mean(g_norm, width)
        mean_gx = _row_mean([g_c * x_c for g_c, x_c in zip(g_norm, xhat)], width)
        g_z = [rstd * (g_c - mean_g - x_c * mean_gx) for g_c, x_c in zip(g_norm, xhat)]
        for c, g_c in zip(cols, g_z):
            dz_ref[index, rows, c] = g_c
        g_in = _input_gradient(g_z, kernel_ref, index, cols, dtype)
        g = [jnp.where(first, g_c + r, g_c) for g_c, r in zip(g_in, g_residual)]
        return g, g_residual

    g, _ = jax.lax.fori_loop(0, n_layers, layer, (grad, [jnp.zeros_like(g_c) for g_c in grad]))
    for c, g_c in zip(cols, g):
        dx_ref[rows, c] = g_c


TRITON_CALL = getattr(pl_triton, "CUSTOM_CALL_TARGET_NAME", "__gpu$xla.gpu.triton")  # what the kernels lower to


def export_for_cuda(fn, *args, device_kind: str = "NVIDIA H200"):
    """``jax.export`` of ``jit(fn)(*args)`` for NVIDIA GPUs, on any machine (a CPU-only one too),
    with the fused kernels lowered to Triton IR: lowering errors show without a GPU (Triton
    compiles the IR to machine code only on one). JAX from 0.11 reads the GPU's kind from the
    current device, so an abstract one of ``device_kind`` stands in for it."""
    from jax import export

    device = jax.sharding.AbstractDevice(device_kind=device_kind, num_cores=None, platform="cuda")
    mesh = jax.sharding.AbstractMesh((1,), ("x",), (jax.sharding.AxisType.Explicit,), abstract_device=device)
    with jax.sharding.use_abstract_mesh(mesh):
        return export.export(jax.jit(fn), platforms=("cuda",),
                             disabled_checks=[export.DisabledSafetyCheck.custom_call(TRITON_CALL)])(*args)


# ----------------------------------------------------------------- pallas calls
def _interpret(interpret: bool | None) -> bool:
    return jax.default_backend() != "gpu" if interpret is None else interpret


def _call(kernel, out_shape, grid, interpret):
    return pl.pallas_call(kernel, out_shape=out_shape, grid=grid, interpret=_interpret(interpret),
                          compiler_params=pl_triton.CompilerParams(num_warps=NUM_WARPS, num_stages=1))


def _forward(params, x, *, dtype, eps, block_size, interpret, save):
    """(out (Bp, W), saved layer inputs (L, Bp, W) or None) for x already padded to the row tile."""
    kernel, bias, scale, offset = params
    n_layers, width = kernel.shape[0], kernel.shape[-1]
    shapes = [jax.ShapeDtypeStruct(x.shape, jnp.float32)]
    if save:
        shapes.append(jax.ShapeDtypeStruct((n_layers, *x.shape), dtype))
    body = functools.partial(_forward_kernel, n_layers=n_layers, block_size=block_size, width=width, dtype=dtype,
                             eps=eps)
    out = _call(body, shapes, (x.shape[0] // ROW_TILE,), interpret)(x, kernel.astype(dtype), bias, scale, offset)
    return out[0], (out[1] if save else None)


def _backward(params, saved, grad, *, dtype, eps, block_size, interpret):
    """(dx, dz (L, Bp, W), d scale, d offset) of the padded tile rows."""
    kernel, bias, scale, offset = params
    n_layers, width = kernel.shape[0], kernel.shape[-1]
    tiles = grad.shape[0] // ROW_TILE
    shapes = [jax.ShapeDtypeStruct(grad.shape, jnp.float32), jax.ShapeDtypeStruct((n_layers, *grad.shape), jnp.float32),
              jax.ShapeDtypeStruct((tiles, n_layers, width), jnp.float32),
              jax.ShapeDtypeStruct((tiles, n_layers, width), jnp.float32)]
    body = functools.partial(_backward_kernel, n_layers=n_layers, block_size=block_size, width=width, dtype=dtype,
                             eps=eps)
    dx, dz, dscale, doffset = _call(body, shapes, (tiles,), interpret)(
        saved, kernel.astype(dtype), bias, scale, offset, grad)
    return dx, dz, dscale.sum(0), doffset.sum(0)


def _pad_rows(x: jax.Array) -> jax.Array:
    return jnp.pad(x, ((0, -x.shape[0] % ROW_TILE), (0, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _tower(params, x, dtype, eps, block_size, remat, interpret):
    out, _ = _forward(params, _pad_rows(x), dtype=dtype, eps=eps, block_size=block_size, interpret=interpret,
                      save=False)
    return out[:x.shape[0]]


def _tower_forward(params, x, dtype, eps, block_size, remat, interpret):
    padded = _pad_rows(x)
    out, saved = _forward(params, padded, dtype=dtype, eps=eps, block_size=block_size, interpret=interpret,
                          save=not remat)
    return out[:x.shape[0]], (params, padded if remat else None, saved, x.shape[0])


def _tower_backward(dtype, eps, block_size, remat, interpret, residuals, grad):
    params, padded, saved, batch = residuals
    options = {"dtype": dtype, "eps": eps, "block_size": block_size, "interpret": interpret}
    if remat:
        _, saved = _forward(params, padded, save=True, **options)
    dx, dz, dscale, doffset = _backward(params, saved, _pad_rows(grad), **options)
    dkernel = jnp.einsum("lbi,lbo->lio", saved, dz.astype(dtype), preferred_element_type=jnp.float32)
    return (dkernel, dz.sum(axis=1), dscale, doffset), dx[:batch]


_tower.defvjp(_tower_forward, _tower_backward)


def residual_blocks(kernel: jax.Array, bias: jax.Array, scale: jax.Array, offset: jax.Array, x: jax.Array, *,
                    block_size: int, eps: float, dtype: str = "float32", remat: bool = False,
                    interpret: bool | None = None) -> jax.Array:
    """A tower's residual blocks on x (B, W) as fused kernels.

    Args:
        kernel: (n_blocks, block_size, W, W); bias, scale, offset: (n_blocks, block_size, W).
        x: (B, W), any B.
        block_size: Dense layers per residual block; eps: LayerNorm's epsilon.
        dtype: ``"float32"`` or ``"bfloat16"``: the matmul inputs (float32 accumulation,
            statistics and activations).
        remat: keep only the input between forward and backward (the backward reruns the forward).
        interpret: Pallas interpret mode; None: everywhere but on a GPU.
    """
    width = check_width(int(x.shape[-1]))
    n_layers = kernel.shape[0] * kernel.shape[1]
    params = (kernel.reshape(n_layers, width, width), bias.reshape(n_layers, width),
              scale.reshape(n_layers, width), offset.reshape(n_layers, width))
    compute = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[dtype]
    return _tower(params, x.astype(jnp.float32), compute, eps, block_size, remat, interpret)
