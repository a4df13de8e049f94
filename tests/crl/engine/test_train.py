"""The pure engine on a tiny PointUMaze setup: init, start, prefill, epochs, counts, determinism, shared programs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.compile_clock import compile_seconds
from gcrl_depth.crl.engine import compiled
from gcrl_depth.crl.engine.config import PRESETS, CRLConfig
from gcrl_depth.crl.engine.train import AgentState, EnvSizes, make_train
from gcrl_depth.envs import make_core

TINY = PRESETS["tiny"]  # 4 envs, width 16: trains in seconds


@pytest.fixture(scope="module")
def engine():
    core = make_core("PointUMaze", episode_length=12)
    return make_train(CRLConfig(**TINY), EnvSizes.of(core), core)


def run(engine, seed, iterations=2):
    state = compiled.init(jax.random.key(seed), engine)
    state = compiled.prefill(compiled.start(state, engine), engine)
    return compiled.epoch(state, engine, iterations)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def test_prefill_and_iterations_fill_the_buffer_and_learn(engine):
    initial = compiled.init(jax.random.key(0), engine)
    assert isinstance(initial, AgentState) and not hasattr(initial, "buffer")
    before = leaves(initial.learner.params.critic)
    state, metrics = run(engine, 0)
    assert int(state.buffer.size) == 10 + 2 * 5
    assert int(state.iterations) == 2
    assert engine.config.updates_per_iteration == 2  # 4 envs x 5 steps / 10
    for name, value in metrics.items():
        assert np.isfinite(np.asarray(value)).all(), name
    assert float(metrics["train/valid_goal_fraction"]) == 1.0
    assert int(state.episode.max()) >= 1  # episodes of 12 steps ended within 20 steps
    assert all(not np.allclose(a, b) for a, b in zip(before, leaves(state.learner.params.critic)))


def test_same_seed_same_result_and_no_recompilation(engine):
    state_a, _ = run(engine, 3)
    before = compile_seconds()
    state_b, _ = run(engine, 3)
    for a, b in zip(leaves(state_a.learner), leaves(state_b.learner)):
        np.testing.assert_array_equal(a, b)
    assert compile_seconds() == before  # JAX's own cache served every program


def test_equal_settings_share_their_programs(engine):
    core = engine.core
    other = make_train(CRLConfig(**TINY), EnvSizes.of(core), core)
    assert other is not engine and other == engine and hash(other) == hash(engine)
    run(engine, 4)
    before = compile_seconds()
    run(other, 4)
    assert compile_seconds() == before


def test_the_compile_clock_counts_a_new_program_and_not_a_cached_one():
    def mix(x):  # a function of its own: nothing else compiled it
        return jnp.tanh(x @ x.T) @ x + jnp.cumsum(x, 0)

    program = jax.jit(mix)
    before = compile_seconds()
    program(np.ones((3, 4), np.float32))
    after = compile_seconds()
    assert after > before
    program(np.ones((3, 4), np.float32))
    assert compile_seconds() == after


def test_programs_are_keyed_by_dtype_not_only_by_shape(engine):
    """A float16 copy of the parameters gets its own program instead of an XLA 'argument types differ' error."""
    state = compiled.init(jax.random.key(0), engine)
    obs, goal = jnp.zeros((3, 4)), jnp.zeros((3, 2))
    actor = state.learner.params.actor
    half = jax.tree_util.tree_map(lambda x: x.astype(jnp.float16), actor)
    full_actions = compiled.act(actor, obs, goal, engine)
    half_actions = compiled.act(half, obs, goal, engine)
    assert full_actions.shape == half_actions.shape == (3, 2)
    np.testing.assert_allclose(full_actions, half_actions, atol=1e-2)


def test_act_is_deterministic_without_a_key(engine):
    state = compiled.start(compiled.init(jax.random.key(1), engine), engine)
    actor, obs, goal = state.learner.params.actor, state.env.obs, state.env.goal
    np.testing.assert_array_equal(engine.act(actor, obs, goal), engine.act(actor, obs, goal))
    sampled = engine.act(actor, obs, goal, jax.random.key(2))
    assert sampled.shape == (4, 2) and float(abs(sampled).max()) <= 1.0


def test_core_sizes_must_match(engine):
    with pytest.raises(ValueError, match="sizes"):
        make_train(engine.config, EnvSizes(1, 1, 1), engine.core)


def test_the_removed_program_cache_names_its_replacement():
    with pytest.raises(ImportError, match=r"jax\.clear_caches"):
        import gcrl_depth.programs  # noqa: F401
