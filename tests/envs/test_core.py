"""The pure-JAX env core: shapes, jit/vmap, determinism, time limit, termination, auto-reset."""

from __future__ import annotations

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gcrl_depth
from gcrl_depth.envs import make_core
from gcrl_depth.envs.core import goal_distance, sparse_reward


def test_reset_shapes_and_goal_slice(point_core, key):
    state = point_core.reset(key)
    assert state.obs.shape == (point_core.observation_size,) == (4,)
    assert state.goal.shape == state.achieved_goal.shape == (2,)
    np.testing.assert_array_equal(state.achieved_goal, state.obs[:2])
    assert int(state.step) == 0 and not bool(state.done)


def test_same_key_same_rollout_and_different_key_differs(point_core):
    def rollout(key):
        state = jax.vmap(point_core.reset)(jax.random.split(key, 4))

        def body(state, k):
            action = jax.random.uniform(k, (4, 2), minval=-1, maxval=1)
            state = jax.vmap(point_core.step)(state, action)
            return state, state.obs

        return jax.lax.scan(body, state, jax.random.split(key, 20))[1]

    run = jax.jit(rollout)
    a, b, c = run(jax.random.key(3)), run(jax.random.key(3)), run(jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_truncation_at_episode_length_and_auto_reset_draws_new_goals():
    core = make_core("PointBigMaze", episode_length=3)
    n = 64
    state = jax.vmap(core.reset)(jax.random.split(jax.random.key(0), n))
    step = jax.jit(jax.vmap(core.step))
    zeros = jnp.zeros((n, core.action_size))
    first_goals = np.asarray(state.goal)
    for t in range(3):
        state = step(state, zeros)
        assert bool(state.truncated.all()) == (t == 2)
    assert not bool(state.terminated.any())
    assert (np.asarray(state.step) == 0).all()  # new episodes started
    new_goals = np.asarray(state.goal)
    assert (np.abs(new_goals - first_goals).sum(axis=1) > 0).mean() > 0.5  # fresh goals, not replayed
    maze = core.maze
    assert {maze.grid[maze.cell_of(g)] for g in new_goals} == {"G"}
    assert {maze.cell_of(xy) for xy in np.asarray(state.achieved_goal)} == {(1, 1)}  # back at the R cell


def test_ant_terminates_when_the_torso_leaves_the_healthy_range(ant_core, key):
    state = ant_core.reset(key)

    def at_height(z):
        return state.replace(physics=state.physics.replace(qpos=state.physics.qpos.at[2].set(z)))

    for z, expected in ((0.15, True), (1.2, True), (0.6, False)):
        assert bool(ant_core._fallen(at_height(z).physics)) == expected, z
    transition = jax.jit(ant_core.transition)
    thrown = transition(at_height(1.5), jnp.zeros(ant_core.action_size))
    assert bool(thrown.terminated) and not bool(thrown.truncated)
    assert not bool(transition(at_height(0.6), jnp.zeros(ant_core.action_size)).terminated)
    reset = jax.jit(ant_core.step)(at_height(1.5), jnp.zeros(ant_core.action_size))
    assert bool(reset.terminated) and int(reset.step) == 0 and 0.45 <= float(reset.obs[2]) <= 0.85


def test_stepping_after_auto_reset_matches_stepping_a_fresh_episode(ant_core, key):
    """Auto-reset replaces only the physics fields that determine the next step; the
    stale derived ones (contacts, body poses) must not change what happens next."""
    state = ant_core.reset(key)
    thrown = state.replace(physics=state.physics.replace(qpos=state.physics.qpos.at[2].set(1.5)))
    done = jax.jit(ant_core.transition)(thrown, jnp.zeros(ant_core.action_size))
    assert bool(done.terminated)
    reset = jax.jit(ant_core.auto_reset)(done)
    fresh_physics, fresh_obs, _, _ = ant_core._new_episode(jax.random.split(done.key)[1])
    np.testing.assert_allclose(reset.obs, fresh_obs, rtol=1e-6, atol=1e-7)  # jit vs eager rounding
    fresh = reset.replace(physics=fresh_physics)
    transition = jax.jit(ant_core.transition)
    for action in jax.random.uniform(key, (5, ant_core.action_size), minval=-1, maxval=1):
        reset, fresh = transition(reset, action), transition(fresh, action)
        np.testing.assert_allclose(reset.obs, fresh.obs, rtol=1e-4, atol=1e-4)  # float32 rounding; a lost field is ~0.1
    assert float(jnp.abs(reset.obs - fresh_obs).max()) > 1e-3  # it did move


def test_reward_is_success_within_threshold(point_core, key):
    state = point_core.reset(key)
    at_goal = state.replace(physics=state.physics.replace(qpos=state.goal + 0.1))
    after = jax.jit(point_core.transition)(at_goal, jnp.zeros(2))
    assert float(after.reward) == 1.0 == float(after.metrics["success"])
    assert float(after.metrics["distance"]) < 0.5
    assert float(point_core.compute_reward(after.achieved_goal, after.goal)) == 1.0


def test_goal_functions_on_hand_computed_batches():
    achieved = jnp.array([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4]])
    desired = jnp.zeros((3, 2))
    np.testing.assert_allclose(goal_distance(achieved, desired), [0.0, 5.0, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(sparse_reward(achieved, desired, 0.5), [1.0, 0.0, 0.0])  # strict <


def test_point_pushed_into_a_wall_does_not_pass_through(point_core, key):
    state = point_core.reset(key)  # R cell centre is x = y = 4; the wall cell row 0 ends at x = 2
    step = jax.jit(point_core.transition)
    xs = []
    for _ in range(60):
        state = step(state, jnp.array([-1.0, 0.0]))
        xs.append(float(state.obs[0]))
    assert min(xs) < 2.7  # it did reach the wall ...
    assert min(xs) > 2.5 - 0.1  # ... and stops there (ball radius 0.5, soft contact)


def test_actions_are_clipped_to_the_action_space(point_core, key):
    state = point_core.reset(key)
    step = jax.jit(point_core.transition)
    np.testing.assert_allclose(step(state, jnp.array([5.0, -9.0])).obs, step(state, jnp.array([1.0, -1.0])).obs)


def test_step_does_not_retrace(point_core, key):
    step = jax.jit(point_core.step)
    state = jax.jit(point_core.reset)(key)  # jitted like every caller's: all leaves committed
    for i in range(5):
        state = step(state, jnp.full((2,), 0.1 * i))
    assert step._cache_size() == 1


@pytest.mark.parametrize("bad", [0, -5])
def test_bad_episode_length(bad):
    with pytest.raises(ValueError, match="episode_length must be a positive integer"):
        make_core("PointUMaze", episode_length=bad)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown task 'Nope'.*PointUMaze"):
        make_core("Nope")


CORE_MODULES = ["core.py", "mazes.py", "models.py", "point.py", "ant.py", "humanoid.py", "arm.py"]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_env_core_never_imports_gymnasium(module):
    source = (Path(gcrl_depth.__file__).parent / "envs" / module).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"gymnasium", "stable_baselines3", "torch"}
