"""physics="spring": brax's spring pipeline under the Ant and Humanoid tasks.

The same observations, goals, termination and layouts as MJX (only the pipeline differs), the
paper's timesteps and spring constants, and the dynamics that set the paper's envs apart from
our MJX ones (a flipped ant terminates; a passive humanoid falls after ~1.6 s). Spring programs
compile slowly on a CPU, so the stepping tests use the open-arena Ant and the Humanoid U-maze,
through the Gymnasium layer's jitted functions (the programs test_gym_api's env checkers compile
too: the persistent cache shares them), and every other id is checked by its layout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.envs import TASKS, make_core
from gcrl_depth.envs import spring as spring_module
from gcrl_depth.envs.gym_api import core_functions
from gcrl_depth.envs.spring import SPRING_CONSTANTS, brax_constants, spring_model

LEGGED = sorted(name for name in TASKS if name.startswith(("Ant", "Humanoid")))


@pytest.fixture(scope="module")
def ant_pair():
    return make_core("Ant", physics="mjx"), make_core("Ant", physics="spring")


@pytest.mark.parametrize("name", LEGGED)
def test_every_ant_and_humanoid_task_has_the_same_layout_under_spring(name):
    mjx_core, spring_core = make_core(name), make_core(name, physics="spring")
    assert (mjx_core.physics, spring_core.physics) == ("mjx", "spring")
    for attribute in ("observation_size", "goal_size", "goal_indices", "action_size", "episode_length",
                      "success_threshold", "healthy_z"):
        assert getattr(spring_core, attribute) == getattr(mjx_core, attribute), attribute
    if mjx_core.maze is not None:
        np.testing.assert_array_equal(spring_core.maze.grid, mjx_core.maze.grid)
        np.testing.assert_array_equal(spring_core.maze.goal_cells, mjx_core.maze.goal_cells)
    # The paper's control steps: ant 10 x 0.005 s, open-arena humanoid 10 x 0.003 s, humanoid mazes 10 x 0.0015 s.
    expected_dt = 0.05 if name.startswith("Ant") else 0.015 if "Maze" in name else 0.03
    assert spring_core.n_frames == 10 and spring_core.dt == pytest.approx(expected_dt)
    assert mjx_core.dt == pytest.approx(expected_dt)


def test_spring_model_takes_brax_constants_and_drops_the_goal_marker():
    core = make_core("AntUMaze", physics="spring")
    system, model = core.pipeline.system, spring_model(_spec("AntUMaze"), type(core).spring)
    constants = brax_constants("ant.xml")
    assert set(constants) <= set(SPRING_CONSTANTS) and "constraint_stiffness" in constants
    np.testing.assert_allclose(np.asarray(system.link.constraint_stiffness), constants["constraint_stiffness"][0])
    assert model.nmocap == 0 and (model.body_jntnum[1:] > 0).all()  # no marker; jointless hips fused into the torso
    assert model.nq == core.mj_model.nq and model.nu == core.mj_model.nu
    assert float(system.opt.timestep) == pytest.approx(0.005)
    # Masses as the MJX model has them (brax's spring scaling applied once): every jointed link 1 kg.
    assert float(system.spring_mass_scale) == 0.0
    np.testing.assert_allclose(np.asarray(system.link.inertia.mass), 1.0)
    assert int((model.geom_conaffinity == 2).sum()) == int((core.mj_model.geom_conaffinity == 2).sum())  # maze walls kept


def _spec(task):
    from gcrl_depth.envs.mazes import task_maze
    from gcrl_depth.envs.models import task_spec

    return task_spec("ant.xml", task_maze("U", 4.0, False) if "Maze" in task else None)


def test_other_tasks_and_unknown_physics_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"PointMaze runs on MJX only.*Ant and Humanoid") as error:
        make_core("PointUMaze", physics="spring")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"runs on MJX only"):
        make_core("ArmReach", physics="spring")
    with pytest.raises(ValueError, match=r"physics must be one of \('mjx', 'spring'\), got 'brax'"):
        make_core("Ant", physics="brax")


def test_without_brax_spring_names_the_extra(monkeypatch):
    monkeypatch.setattr(spring_module, "pipeline", None)
    with pytest.raises(ImportError, match=r"extra 'spring': pip install 'gcrl_depth\[spring\]'") as error:
        make_core("Ant", physics="spring")
    assert "\n" not in str(error.value)
    assert make_core("Ant").physics == "mjx"  # MJX needs no brax


def test_reset_is_the_same_start_under_both_physics_and_steps_differ(ant_pair):
    mjx_fns, spring_fns = (core_functions(core) for core in ant_pair)
    for seed in (3, 4):
        (a, _), (b, _) = mjx_fns.reset(jax.random.key(seed)), spring_fns.reset(jax.random.key(seed))
        for field in ("obs", "goal", "achieved_goal", "step", "terminated"):
            np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)
        np.testing.assert_allclose(np.asarray(ant_pair[1].physics_data(b.physics).qpos), np.asarray(a.physics.qpos),
                                   atol=1e-6)  # brax renormalises the quaternion
        action = jnp.full(8, 0.5)
        (a, _), (b, _) = mjx_fns.transition(a, action), spring_fns.transition(b, action)
        assert np.abs(np.asarray(a.obs) - np.asarray(b.obs)).max() > 1e-3  # another pipeline, other dynamics
        np.testing.assert_array_equal(np.asarray(b.achieved_goal), np.asarray(b.obs)[:2])


def test_a_flipped_ant_terminates_under_spring_as_in_the_paper(ant_pair):
    core = ant_pair[1]
    state = core.reset(jax.random.key(1))
    data = core.physics_data(state.physics)
    upside_down = jnp.array([0.0, 1.0, 0.0, 0.0])  # rotated by pi about x
    flipped = data.replace(qpos=data.qpos.at[3:7].set(upside_down).at[2].set(0.5), qvel=jnp.zeros_like(data.qvel))
    state = state.replace(physics=core.pipeline.start(flipped))
    transition = core_functions(core).transition
    for step in range(1, 41):  # noqa: B007  (2 s; the paper's flipped ants ended 5-11 steps after flipping)
        state, _ = transition(state, jnp.zeros(core.action_size))
        if bool(state.terminated):
            break
    assert bool(state.terminated) and float(core.physics_data(state.physics).qpos[2]) < 0.2 and step <= 20


def test_auto_reset_under_spring_starts_a_new_episode_with_a_new_goal(ant_pair):
    core = ant_pair[1]
    state = core.reset(jax.random.key(5))
    ended = state.replace(truncated=jnp.array(True), step=jnp.array(7))
    fresh = jax.jit(core.auto_reset)(ended)
    assert int(fresh.step) == 0 and not np.allclose(np.asarray(fresh.goal), np.asarray(state.goal))
    np.testing.assert_allclose(np.asarray(core.physics_data(fresh.physics).qpos[:7]), np.asarray(fresh.obs[:7]))


@pytest.mark.slow
def test_a_passive_humanoid_falls_after_the_papers_time_and_observations_read_the_same_fields():
    core = make_core("HumanoidUMaze", physics="spring")
    functions = core_functions(core)
    state, _ = functions.reset(jax.random.key(0))
    # The first observation is the MJX one: qpos, qvel, com-frame inertias and velocities, actuator forces.
    np.testing.assert_allclose(np.asarray(state.obs), np.asarray(make_core("HumanoidUMaze").reset(jax.random.key(0)).obs),
                               rtol=1e-5, atol=1e-5)  # one program against op by op: float rounding
    for step in range(1, 201):  # noqa: B007  (3 s)
        state, _ = functions.transition(state, jnp.zeros(core.action_size))
        if bool(state.terminated):
            break
    seconds = step * core.dt
    assert bool(state.terminated) and 1.0 < seconds < 2.4, seconds  # the paper's: 107 steps = 1.6 s
    forces = np.asarray(state.obs[-core.mj_model.nv:])
    assert np.abs(forces).max() == 0.0  # zero action: no actuator force
    pushed, _ = functions.transition(state, jnp.ones(core.action_size))
    gears = core.mj_model.actuator_gear[:, 0] * 0.4  # ctrl range +-0.4
    np.testing.assert_allclose(np.sort(np.asarray(pushed.obs[-core.mj_model.nv:]))[-core.action_size:], np.sort(gears), rtol=1e-5)


@pytest.mark.slow
def test_a_tiny_deep_crl_trains_on_spring_physics_and_its_checkpoint_says_so(tmp_path):
    import gymnasium as gym

    from gcrl_depth import DeepCRL
    from gcrl_depth.crl.engine.config import PRESETS

    envs = gym.make_vec("gcrl_depth/Ant-v0", num_envs=4, episode_length=12, physics="spring")
    model = DeepCRL(envs, depth=4, seed=0, eval_episodes=2, epoch_timesteps=40, verbose=0, **PRESETS["tiny"])
    model.learn(120)
    assert model.num_timesteps == 120 and model.core.physics == "spring"
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(jax.device_get(model.learner.params)))
    assert model.path.evaluation(2)[0].physics == "spring"  # evaluation runs the physics it trained on
    model.save(tmp_path / "ant_spring.zip")
    loaded = DeepCRL.load(tmp_path / "ant_spring.zip")
    assert loaded.core.physics == "spring" and loaded.task_kwargs["physics"] == "spring"
