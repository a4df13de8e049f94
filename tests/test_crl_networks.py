"""CRL networks: depth validation, stacked/scanned residual blocks, heads, init, action squashing."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.crl.networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Actor,
    GoalEncoder,
    StateActionEncoder,
    check_depth,
    deterministic_action,
    sample_action,
)


def n_params(params) -> int:
    return sum(x.size for x in jax.tree_util.tree_leaves(params))


@pytest.mark.parametrize("bad", [0, 2, 6, -4, 4.0, True, "8"])
def test_depth_must_be_a_positive_multiple_of_four(bad):
    with pytest.raises(ValueError, match="positive multiple of 4"):
        check_depth(bad)


def test_parameter_count_is_linear_in_depth_and_matches_the_architecture():
    state, action, width, repr_dim = jnp.zeros((1, 5)), jnp.zeros((1, 2)), 16, 8
    counts = {}
    for depth in (4, 8, 16, 32):
        params = StateActionEncoder(depth, width, repr_dim).init(jax.random.key(0), state, action)
        counts[depth] = n_params(params)
    per_block = 4 * (width * width + width + 2 * width)  # 4 x (Dense + LayerNorm)
    fixed = (7 * width + width + 2 * width) + (width * repr_dim + repr_dim)  # projection + LN, head
    for depth, count in counts.items():
        assert count == fixed + depth // 4 * per_block


def test_blocks_are_stacked_on_a_leading_axis():
    params = GoalEncoder(12, 16, 8).init(jax.random.key(0), jnp.zeros((1, 3)))["params"]
    kernel = params["ResidualTower_0"]["blocks"]["Dense_0"]["kernel"]
    assert kernel.shape == (3, 16, 16)  # 12 // 4 blocks


def test_program_size_does_not_grow_with_depth():
    def hlo_size(depth):
        model = GoalEncoder(depth, 32, 8)
        params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((4, 3)))
        return len(jax.jit(model.apply).lower(params, jnp.zeros((4, 3))).as_text())

    assert hlo_size(1024) < 1.2 * hlo_size(8)


def test_depth_1024_initialises_and_runs():
    model = GoalEncoder(1024, 32, 8, remat=True)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((2, 3)))
    out = jax.jit(model.apply)(params, jnp.ones((2, 3)))
    assert out.shape == (2, 8) and bool(jnp.isfinite(out).all())
    grads = jax.jit(jax.grad(lambda p: model.apply(p, jnp.ones((2, 3))).sum()))(params)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))


def test_kernel_init_is_fan_in_uniform_and_biases_zero():
    params = GoalEncoder(4, 64, 8).init(jax.random.key(0), jnp.zeros((1, 100)))["params"]
    projection = params["ResidualTower_0"]["projection"]
    bound = 1 / math.sqrt(100)
    assert float(jnp.abs(projection["kernel"]).max()) <= bound
    assert float(jnp.abs(projection["kernel"]).max()) > 0.9 * bound
    assert float(jnp.abs(projection["bias"]).max()) == 0.0


def test_actor_log_std_is_squashed_and_actions_bounded():
    actor = Actor(4, 16, action_size=3)
    state, goal = jnp.full((5, 4), 100.0), jnp.full((5, 2), -100.0)
    params = actor.init(jax.random.key(0), state, goal)
    mean, log_std = actor.apply(params, state, goal)
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


def test_scan_unroll_changes_neither_parameters_nor_outputs():
    state, goal = jax.random.normal(jax.random.key(1), (3, 5)), jax.random.normal(jax.random.key(2), (3, 2))
    rolled = Actor(16, 32, 2)
    params = rolled.init(jax.random.key(0), state, goal)
    for unroll in (2, 4):
        unrolled = Actor(16, 32, 2, unroll=unroll)
        assert jax.tree_util.tree_map(jnp.shape, unrolled.init(jax.random.key(0), state, goal)) == jax.tree_util.tree_map(
            jnp.shape, params)
        for a, b in zip(rolled.apply(params, state, goal), unrolled.apply(params, state, goal)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bfloat16_matmuls_keep_float32_parameters_and_outputs_close():
    state, action = jax.random.normal(jax.random.key(1), (64, 5)), jax.random.normal(jax.random.key(2), (64, 2))
    full = StateActionEncoder(16, 64, 8)
    params = full.init(jax.random.key(0), state, action)
    mixed = StateActionEncoder(16, 64, 8, dtype=jnp.bfloat16)
    assert {x.dtype for x in jax.tree_util.tree_leaves(mixed.init(jax.random.key(0), state, action))} == {jnp.dtype("float32")}
    exact, approx = full.apply(params, state, action), mixed.apply(params, state, action)
    assert approx.dtype == jnp.float32
    error = float(jnp.linalg.norm(approx - exact) / jnp.linalg.norm(exact))
    assert 0 < error < 0.05, error  # bfloat16 keeps ~3 significant digits per matmul
