"""The pure engine on a tiny PointUMaze setup: init, start, prefill, epochs, counts, determinism, program cache."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth import programs
from gcrl_depth.crl.config import PRESETS, CRLConfig
from gcrl_depth.crl.engine import EnvSizes, make_train
from gcrl_depth.envs import make_core

TINY = PRESETS["tiny"]  # 4 envs, width 16: trains in seconds


@pytest.fixture(scope="module")
def engine():
    core = make_core("PointUMaze", episode_length=12)
    return make_train(CRLConfig(**TINY), EnvSizes.of(core), core)


def run(engine, seed, iterations=2):
    state = programs.run(engine.init, jax.random.key(seed))
    state = programs.run(engine.prefill, programs.run(engine.start, state), donate=(0,))
    return programs.run(engine.epoch, state, static=(iterations,), donate=(0,))


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


def test_prefill_and_iterations_fill_the_buffer_and_learn(engine):
    initial = programs.run(engine.init, jax.random.key(0))
    assert not initial.started and initial.buffer is None and initial.env is None
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
    state_b, _ = run(engine, 3)
    for a, b in zip(leaves(state_a.learner), leaves(state_b.learner)):
        np.testing.assert_array_equal(a, b)
    assert programs.compiled(engine.epoch, state_b, static=(2,), donate=(0,))[1] == 0.0  # cached


def test_cleared_programs_are_compiled_again_and_free_their_memory_mappings():
    maps = Path("/proc/self/maps")

    def mix(x):  # a function of its own: nothing else compiled it
        for _ in range(4):
            x = jnp.tanh(x @ x.T) @ x + jnp.cumsum(x, 0)
        return x

    programs.clear()
    before = len(maps.read_text().splitlines())
    compiled = [programs.compiled(mix, np.ones((n, 4), np.float32))[0] for n in range(1, 41)]
    assert programs.compiled(mix, np.ones((1, 4), np.float32))[0] is compiled[0]  # cached
    grown = len(maps.read_text().splitlines())
    del compiled
    assert programs.clear() == 40 and programs.compiled(mix, np.ones((1, 4), np.float32))[1] > 0  # compiled anew
    assert len(maps.read_text().splitlines()) < before + (grown - before) / 4  # the 40 programs' mappings went back


def test_a_crowded_process_frees_the_cached_programs_before_the_next_compile(monkeypatch):
    monkeypatch.setattr(programs, "_crowded_above", 0.0)  # restored after the test, with what it sets
    used, limit = programs.memory_mappings()
    assert 0 < used < limit
    first = programs.compiled(jnp.sin, np.ones(3, np.float32))[0]
    monkeypatch.setattr(programs, "CROWDED_SHARE", used / limit / 2)  # as if past half of vm.max_map_count
    programs.compiled(jnp.cos, np.ones(3, np.float32))
    assert list(programs._PROGRAMS.values()) != [first] and len(programs._PROGRAMS) == 1  # sin's went first
    assert programs.compiled(jnp.sin, np.ones(3, np.float32))[1] > 0  # compiled again, and this time cached beside
    assert len(programs._PROGRAMS) == 2  # cos: the process is not past halfway from what was left to the limit

    monkeypatch.setattr(programs, "memory_mappings", lambda: (limit - 10, limit))  # live programs alone near the limit
    programs.compiled(jnp.tan, np.ones(3, np.float32))
    programs.compiled(jnp.exp, np.ones(3, np.float32))
    assert len(programs._PROGRAMS) == 2  # tan's compile freed the cache once; exp's did not free it again


def test_equal_settings_share_an_engine_and_its_programs():
    core = make_core("PointUMaze", episode_length=12)
    a = make_train(CRLConfig(**TINY), EnvSizes.of(core), core)
    b = make_train(CRLConfig(**TINY), EnvSizes.of(core), core)
    assert a is b and a.act == b.act


def test_programs_are_keyed_by_dtype_not_only_by_shape(engine):
    """A float16 copy of the parameters gets its own program instead of an XLA 'argument types differ' error."""
    state = programs.run(engine.init, jax.random.key(0))
    obs, goal = jnp.zeros((3, 4)), jnp.zeros((3, 2))
    actor = state.learner.params.actor
    half = jax.tree_util.tree_map(lambda x: x.astype(jnp.float16), actor)
    full_actions = programs.run(engine.act, actor, obs, goal)
    half_actions = programs.run(engine.act, half, obs, goal)
    assert full_actions.shape == half_actions.shape == (3, 2)
    np.testing.assert_allclose(full_actions, half_actions, atol=1e-2)


def test_act_is_deterministic_without_a_key(engine):
    state = programs.run(engine.start, programs.run(engine.init, jax.random.key(1)))
    actor, obs, goal = state.learner.params.actor, state.env.obs, state.env.goal
    np.testing.assert_array_equal(engine.act(actor, obs, goal), engine.act(actor, obs, goal))
    sampled = engine.act(actor, obs, goal, jax.random.key(2))
    assert sampled.shape == (4, 2) and float(abs(sampled).max()) <= 1.0


def test_core_sizes_must_match(engine):
    with pytest.raises(ValueError, match="sizes"):
        make_train(engine.config, EnvSizes(1, 1, 1), engine.core)
