"""The fused Pallas tower (interpret mode on the CPU) against the XLA tower: outputs, every gradient,
padding, stacking, remat, bfloat16; every output element written; the GPU program lowers."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import pallas as pl

from gcrl_depth.crl.engine import fused_tower
from gcrl_depth.crl.engine.buffer import Transition
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.learner import gradient_step, init_learner
from gcrl_depth.crl.engine.networks import (
    BLOCK_SIZE,
    LAYER_NORM_EPS,
    Blocks,
    TowerSpec,
    encode,
    init_blocks,
    init_critic,
    run_blocks,
)
from gcrl_depth.crl.engine.train import EnvSizes, make_train

FP32_TOL, BF16_TOL = 1e-5, 2e-2  # relative to the largest magnitude of each compared array


def random_blocks(key, depth, width, lead=()):
    """Blocks with non-trivial biases and LayerNorm parameters (the initial ones are 0 and 1)."""
    base = init_blocks(key, TowerSpec(depth, width), lead)
    k_bias, k_scale, k_offset = jax.random.split(jax.random.fold_in(key, 1), 3)
    return Blocks(base.kernel, 0.1 * jax.random.normal(k_bias, base.bias.shape),
                  1.0 + 0.2 * jax.random.normal(k_scale, base.scale.shape),
                  0.1 * jax.random.normal(k_offset, base.offset.shape))


def fused(blocks, x, dtype="float32", remat=False, interpret=None):
    return fused_tower.residual_blocks(blocks.kernel, blocks.bias, blocks.scale, blocks.offset, x,
                                       block_size=BLOCK_SIZE, eps=LAYER_NORM_EPS, dtype=dtype, remat=remat,
                                       interpret=interpret)


def value_and_grads(tower, blocks, x, weights):
    """A scalar of the tower's output, and its gradients w.r.t. every parameter and the input."""
    return jax.jit(jax.value_and_grad(lambda b, x: jnp.sum(tower(b, x) * weights), argnums=(0, 1)))(blocks, x)


def assert_close(actual, expected, tol, name):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, name
    assert np.isfinite(actual).all(), f"{name}: not finite"
    error = np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-30)
    assert error <= tol, f"{name}: relative error {error:.2e} > {tol:.0e}"


def compare(blocks, x, dtype, tol, remat=False):
    # float32 in full precision on both sides (on a GPU both would otherwise multiply in TF32, each its own way)
    with jax.default_matmul_precision("highest" if dtype == "float32" else None):
        compare_as_traced(blocks, x, dtype, tol, remat)


def compare_as_traced(blocks, x, dtype, tol, remat):
    weights = jax.random.normal(jax.random.key(7), x.shape)
    spec = TowerSpec(blocks.kernel.shape[0] * BLOCK_SIZE, x.shape[-1], dtype=dtype)
    out_xla = run_blocks(blocks, x, spec)
    out_fused = jax.jit(lambda b, x: fused(b, x, dtype, remat))(blocks, x)
    assert_close(out_fused, out_xla, tol, "output")
    (_, grads_xla), (_, grads_fused) = (value_and_grads(lambda b, x: run_blocks(b, x, spec), blocks, x, weights),
                                        value_and_grads(lambda b, x: fused(b, x, dtype, remat), blocks, x, weights))
    names = ["d kernel", "d bias", "d scale", "d offset"]
    for name, a, b in zip(names, jax.tree_util.tree_leaves(grads_fused[0]), jax.tree_util.tree_leaves(grads_xla[0])):
        assert_close(a, b, tol, name)
    assert_close(grads_fused[1], grads_xla[1], tol, "d input")


@pytest.mark.parametrize("depth, width, batch", [(8, 128, 37), (12, 192, 16), (4, 64, 5)])
def test_float32_outputs_and_every_gradient_match_the_xla_tower(depth, width, batch):
    # 128: chunks of 128 columns; 192 and 64: chunks of 64; batches 37 and 5 are padded to the row tile
    blocks = random_blocks(jax.random.key(depth), depth, width)
    compare(blocks, jax.random.normal(jax.random.key(1), (batch, width)), "float32", FP32_TOL)


def test_remat_recomputes_the_forward_and_gives_the_same_gradients():
    blocks = random_blocks(jax.random.key(3), 8, 64)
    compare(blocks, jax.random.normal(jax.random.key(2), (20, 64)), "float32", FP32_TOL, remat=True)


def test_bfloat16_matmuls_match_the_xla_bfloat16_tower():
    blocks = random_blocks(jax.random.key(4), 8, 128)
    compare(blocks, jax.random.normal(jax.random.key(5), (24, 128)), "bfloat16", BF16_TOL)


def test_stacked_phi_psi_towers_run_through_the_fused_kernels():
    params = dataclasses.replace(init_critic(jax.random.key(0), TowerSpec(8, 64), 5, 3, 2, 16),
                                 blocks=random_blocks(jax.random.key(9), 8, 64, (2,)))
    obs, action, goal = (jax.random.normal(jax.random.key(i), (21, n)) for i, n in enumerate((5, 2, 3)))

    def loss(p, spec):
        phi, psi = encode(p, obs, action, goal, spec)
        return jnp.sum(phi @ psi.T)

    xla_spec, pallas_spec = TowerSpec(8, 64), TowerSpec(8, 64, kernel="pallas")
    with jax.default_matmul_precision("highest"):
        (value_xla, grads_xla) = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, xla_spec)
        (value_pallas, grads_pallas) = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, pallas_spec)
    assert_close(value_pallas, value_xla, FP32_TOL, "phi psi^T")
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(grads_pallas), jax.tree_util.tree_leaves(grads_xla)):
        assert_close(a, b, FP32_TOL, jax.tree_util.keystr(path))


def test_interpret_mode_poisons_outputs_and_every_element_of_every_output_is_written():
    # the premise: an output element no program writes reads back as NaN in interpret mode
    def half(x_ref, o_ref):
        o_ref[pl.ds(0, 8), :] = x_ref[pl.ds(0, 8), :]

    partial = pl.pallas_call(half, out_shape=jax.ShapeDtypeStruct((16, 64), jnp.float32), interpret=True)
    assert np.isnan(np.asarray(partial(jnp.ones((16, 64))))[8:]).all()
    # so: no NaN in the forward's output and saved inputs, nor in any backward output, padded rows included
    blocks = random_blocks(jax.random.key(0), 8, 192)
    params = (blocks.kernel.reshape(8, 192, 192), blocks.bias.reshape(8, 192), blocks.scale.reshape(8, 192),
              blocks.offset.reshape(8, 192))
    x = fused_tower._pad_rows(jax.random.normal(jax.random.key(1), (40, 192)))
    options = {"dtype": jnp.float32, "eps": LAYER_NORM_EPS, "block_size": BLOCK_SIZE, "interpret": True}
    out, saved = fused_tower._forward(params, x, save=True, **options)
    outputs = [out, saved, *fused_tower._backward(params, saved, jnp.ones_like(x), **options)]
    assert x.shape[0] == 48 and saved.shape == (8, 48, 192)
    for index, array in enumerate(outputs):
        assert np.isfinite(np.asarray(array)).all(), f"output {index} has unwritten (NaN) elements"


@pytest.mark.parametrize("width, dtype", [(64, "float32"), (256, "bfloat16"), (320, "float32"), (1024, "bfloat16")])
def test_the_gpu_program_lowers_for_cuda(width, dtype):
    """The Triton lowering runs on the CPU; a lowering error shows here, not on a rare GPU."""
    blocks = jax.eval_shape(lambda: init_blocks(jax.random.key(0), TowerSpec(1024, width), (2,)))
    x = jax.ShapeDtypeStruct((2, 1536, width), jnp.float32)

    def loss(b, x):
        return jnp.sum(jax.vmap(lambda b, x: fused(b, x, dtype, interpret=False))(b, x))

    exported = fused_tower.export_for_cuda(jax.grad(loss, argnums=(0, 1)), blocks, x)
    assert exported.platforms == ("cuda",)
    assert exported.mlir_module().count(fused_tower.TRITON_CALL) == 2  # the forward and the backward kernel


@pytest.mark.parametrize("width", [32, 100, 2048])
def test_widths_the_kernels_cannot_take_are_refused_with_the_rule(width):
    with pytest.raises(ValueError, match="multiple of 64 up to 1024"):
        fused(init_blocks(jax.random.key(0), TowerSpec(4, width)), jnp.zeros((4, width)))
    with pytest.raises(ValueError, match="multiple of 64 up to 1024"):
        CRLConfig(width=width, tower_kernel="pallas")
    with pytest.raises(ValueError, match="tower_kernel must be one of"):
        CRLConfig(tower_kernel="triton")


def test_training_with_pallas_towers_matches_training_with_xla_towers():
    """Gradient steps of the whole learner (actor, critic, temperature; Adam) built from a config with either kernel."""
    sizes = EnvSizes(observation_size=6, goal_size=2, action_size=3)
    tiny = {"depth": 8, "width": 64, "repr_dim": 16, "batch_size": 12}

    def minibatch(key):
        k_obs, k_action, k_goal = jax.random.split(key, 3)
        return Transition(obs=jax.random.normal(k_obs, (12, 6)), action=jax.random.uniform(k_action, (12, 3), minval=-1),
                          goal=jax.random.normal(k_goal, (12, 2)), offset=jnp.ones(12, jnp.int32), valid=jnp.ones(12, bool))

    def train(spec):
        def step(learner, key):
            return gradient_step(learner, minibatch(key), jax.random.fold_in(key, 1), spec)[0], None

        return jax.lax.scan(step, init_learner(spec, jax.random.key(0)), jax.random.split(jax.random.key(1), 8))[0]

    learners = []
    for kernel in ("xla", "pallas"):
        spec = make_train(CRLConfig(**tiny, tower_kernel=kernel), sizes).learner_spec
        with jax.default_matmul_precision("highest"):  # float32 in full precision (on a GPU too)
            learners.append(jax.jit(train, static_argnums=0)(spec))
    assert spec.actor.kernel == spec.critic.kernel == "pallas"
    initial = init_learner(spec, jax.random.key(0)).params
    for (path, a), b, first in zip(jax.tree_util.tree_leaves_with_path(learners[1].params),
                                   jax.tree_util.tree_leaves(learners[0].params), jax.tree_util.tree_leaves(initial)):
        assert not np.allclose(np.asarray(b), np.asarray(first)), f"{jax.tree_util.keystr(path)} did not train"
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5, err_msg=jax.tree_util.keystr(path))
