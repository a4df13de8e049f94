"""CRL networks: depth validation, stacked residual blocks, the stacked phi/psi tower, init, squashing."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.crl.engine.networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    PHI,
    PSI,
    TowerSpec,
    actor_forward,
    check_depth,
    deterministic_action,
    encode,
    encode_with_policy,
    init_actor,
    init_critic,
    parameter_count,
    run_blocks,
    sample_action,
)

OBS, GOAL, ACTION, REPR = 5, 3, 2, 8


def critic(depth, width=16, seed=0, **spec):
    spec = TowerSpec(depth, width, **spec)
    return init_critic(jax.random.key(seed), spec, OBS, GOAL, ACTION, REPR), spec


def batch(n=6, seed=1):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return jax.random.normal(k1, (n, OBS)), jax.random.normal(k2, (n, ACTION)), jax.random.normal(k3, (n, GOAL))


@pytest.mark.parametrize("bad", [0, 2, 6, -4, 4.0, True, "8"])
def test_depth_must_be_a_positive_multiple_of_four(bad):
    with pytest.raises(ValueError, match="positive multiple of 4"):
        check_depth(bad)


def test_parameter_count_is_linear_in_depth_and_matches_the_architecture():
    width = 16
    per_block = 4 * (width * width + width + 2 * width)  # 4 x (Dense + LayerNorm)
    inputs = ((OBS + ACTION) * width + width) + (GOAL * width + width) + 2 * 2 * width  # projections + their norms
    heads = 2 * (width * REPR + REPR)
    for depth in (4, 8, 16, 32):
        params, _ = critic(depth, width)
        assert parameter_count(params) == inputs + heads + 2 * (depth // 4) * per_block


def test_blocks_are_one_array_per_kind_and_phi_psi_are_stacked():
    params, _ = critic(12)
    assert params.blocks.kernel.shape == (2, 3, 4, 16, 16)  # (towers, 12 // 4 blocks, 4 layers, W, W)
    assert params.blocks.bias.shape == params.blocks.scale.shape == params.blocks.offset.shape == (2, 3, 4, 16)
    actor = init_actor(jax.random.key(0), TowerSpec(12, 16), OBS, GOAL, ACTION)
    assert actor.blocks.kernel.shape == (3, 4, 16, 16)


def test_stacked_tower_equals_each_tower_run_alone():
    params, spec = critic(8)
    obs, action, goal = batch()
    phi, psi = encode(params, obs, action, goal, spec)

    def alone(index, x, projection):
        h = jax.nn.swish(_norm(x @ projection.kernel + projection.bias, params.input_norms, index))
        h = run_blocks(jax.tree_util.tree_map(lambda a: a[index], params.blocks), h, spec)
        return h @ params.heads.kernel[index] + params.heads.bias[index]

    np.testing.assert_allclose(phi, alone(PHI, jnp.concatenate([obs, action], -1), params.sa_input), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(psi, alone(PSI, goal, params.goal_input), rtol=1e-5, atol=1e-6)


def _norm(x, norms, index):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-6) * norms.scale[index] + norms.offset[index]


def test_frozen_phi_member_passes_gradients_to_actions_only():
    params, spec = critic(8)
    obs, action, goal = batch()
    policy_action = jnp.tanh(action + 0.3)
    phi, psi, phi_policy = encode_with_policy(params, obs, action, policy_action, goal, spec)
    np.testing.assert_allclose((phi, psi), encode(params, obs, action, goal, spec), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(phi_policy, encode(params, obs, policy_action, goal, spec)[0], rtol=1e-5, atol=1e-6)
    grad_params, grad_action = jax.grad(lambda p, a: encode_with_policy(p, obs, action, a, goal, spec)[2].sum(),
                                        argnums=(0, 1))(params, policy_action)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grad_params))
    assert float(jnp.abs(grad_action).max()) > 0.0


def test_program_size_does_not_grow_with_depth():
    def hlo_size(depth):
        params, spec = jax.eval_shape(lambda: critic(depth, 32)[0]), TowerSpec(depth, 32)
        return len(jax.jit(lambda p, o, a, g: encode(p, o, a, g, spec)).lower(params, *batch(4)).as_text())

    assert hlo_size(1024) < 1.2 * hlo_size(8)


def test_depth_1024_initialises_and_runs():
    params, spec = critic(1024, 32, remat=True)
    obs, action, goal = batch(2)
    phi, psi = jax.jit(lambda p: encode(p, obs, action, goal, spec))(params)
    assert phi.shape == psi.shape == (2, REPR) and bool(jnp.isfinite(phi).all() & jnp.isfinite(psi).all())
    grads = jax.jit(jax.grad(lambda p: sum(x.sum() for x in encode(p, obs, action, goal, spec))))(params)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))


def test_kernel_init_is_fan_in_uniform_and_biases_zero():
    actor = init_actor(jax.random.key(0), TowerSpec(4, 64), 60, 40, ACTION)
    bound = 1 / math.sqrt(100)
    assert 0.9 * bound < float(jnp.abs(actor.input.kernel).max()) <= bound
    assert float(jnp.abs(actor.input.bias).max()) == 0.0
    block_bound = 1 / math.sqrt(64)
    assert 0.9 * block_bound < float(jnp.abs(actor.blocks.kernel).max()) <= block_bound
    assert float(jnp.abs(actor.blocks.bias).max()) == 0.0 and bool((actor.blocks.scale == 1).all())


def test_actor_log_std_is_squashed_and_actions_bounded():
    spec = TowerSpec(4, 16)
    params = init_actor(jax.random.key(0), spec, 4, 2, 3)
    state, goal = jnp.full((5, 4), 100.0), jnp.full((5, 2), -100.0)
    mean, log_std = actor_forward(params, state, goal, spec)
    assert mean.shape == log_std.shape == (5, 3)
    assert float(log_std.min()) >= LOG_STD_MIN and float(log_std.max()) <= LOG_STD_MAX
    action, log_prob = sample_action(mean, log_std, jax.random.key(1))
    assert float(jnp.abs(action).max()) <= 1.0 and log_prob.shape == (5,)
    np.testing.assert_allclose(deterministic_action(mean), jnp.tanh(mean))


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean, log_std = jnp.array([[0.3, -0.2]]), jnp.array([[-0.5, 0.1]])
    action, log_prob = sample_action(mean, log_std, jax.random.key(3))
    pre_tanh = jnp.arctanh(action)
    std = jnp.exp(log_std)
    gaussian = -0.5 * ((pre_tanh - mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi)
    expected = jnp.sum(gaussian - jnp.log(1 - action**2), axis=-1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-4)


@pytest.mark.parametrize("unroll", [2, 4, 64])
def test_unroll_and_remat_change_no_output(unroll):
    params, spec = critic(16, 32)
    obs, action, goal = batch()
    reference = encode(params, obs, action, goal, spec)
    for variant in (TowerSpec(16, 32, unroll=unroll), TowerSpec(16, 32, unroll=unroll, remat=True)):
        np.testing.assert_allclose(encode(params, obs, action, goal, variant), reference, rtol=1e-5, atol=1e-6)


def test_bfloat16_matmuls_keep_float32_parameters_and_outputs_close():
    params, spec = critic(16, 64)
    obs, action, goal = batch(64)
    exact = encode(params, obs, action, goal, spec)[PHI]
    approx = encode(params, obs, action, goal, TowerSpec(16, 64, dtype="bfloat16"))[PHI]
    assert approx.dtype == jnp.float32
    error = float(jnp.linalg.norm(approx - exact) / jnp.linalg.norm(exact))
    assert 0 < error < 0.05, error  # bfloat16 keeps ~3 significant digits per matmul


def test_the_default_unroll_follows_the_platform():
    from gcrl_depth.crl.engine.networks import UNROLL_LIMIT, default_unroll

    assert [default_unroll(n, "gpu") for n in (1, 4, 16, 256)] == [1, 4, UNROLL_LIMIT, UNROLL_LIMIT]
    assert [default_unroll(n, "cpu") for n in (1, 16, 256)] == [1, 1, 1]


def _reference_tower(blocks, h, *, layer_norm=True, relu=False, residual=True):
    """The tower's blocks written out layer by layer, with the paper's ablation switches."""
    act = jax.nn.relu if relu else jax.nn.swish
    for b in range(blocks.kernel.shape[0]):
        y = h
        for layer in range(4):
            y = y @ blocks.kernel[b, layer] + blocks.bias[b, layer]
            if layer_norm:
                mean, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
                y = (y - mean) / jnp.sqrt(var + 1e-6) * blocks.scale[b, layer] + blocks.offset[b, layer]
            y = act(y)
        h = h + y if residual else y
    return h


@pytest.mark.parametrize("switches", [{}, {"layer_norm": False}, {"activation": "relu"}, {"residual": False},
                                      {"layer_norm": False, "activation": "relu", "residual": False}])
def test_ablation_switches_run_the_layers_they_name(switches):
    spec = TowerSpec(8, 16, **switches)
    blocks = init_actor(jax.random.key(3), spec, OBS, GOAL, ACTION).blocks
    keys = jax.random.split(jax.random.key(4), 3)  # non-trivial LayerNorm parameters, so dropping them shows
    blocks = blocks.__class__(blocks.kernel, 0.1 * jax.random.normal(keys[0], blocks.bias.shape),
                              1 + 0.3 * jax.random.normal(keys[1], blocks.scale.shape),
                              0.2 * jax.random.normal(keys[2], blocks.offset.shape))
    h = jax.random.normal(jax.random.key(5), (6, 16))
    expected = _reference_tower(blocks, h, layer_norm=switches.get("layer_norm", True),
                                relu=switches.get("activation") == "relu", residual=switches.get("residual", True))
    np.testing.assert_allclose(run_blocks(blocks, h, spec), expected, rtol=1e-5, atol=1e-5)
    if switches:  # each switch changes the output
        assert not np.allclose(run_blocks(blocks, h, TowerSpec(8, 16)), expected, atol=1e-3)


def test_without_layer_norm_its_parameters_get_no_gradient_and_the_actor_runs():
    spec = TowerSpec(8, 16, layer_norm=False)
    actor = init_actor(jax.random.key(0), spec, OBS, GOAL, ACTION)
    obs, _, goal = batch()
    grads = jax.grad(lambda p: actor_forward(p, obs, goal, spec)[0].sum())(actor)
    assert float(jnp.abs(grads.blocks.scale).max()) == 0.0 and float(jnp.abs(grads.input_norm.offset).max()) == 0.0
    assert float(jnp.abs(grads.blocks.kernel).max()) > 0.0


def test_the_fused_kernel_refuses_the_ablations():
    params, spec = critic(4, 64, kernel="pallas", residual=False)
    obs, action, goal = batch()
    with pytest.raises(ValueError, match="tower_kernel='xla' for the ablations"):
        encode(params, obs, action, goal, spec)
