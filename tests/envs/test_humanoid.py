"""Humanoid tasks: observation layout, goals, mazes, falling, and the MJCF's contact choices.

Few envs and one compiled ``vmap(step)`` per module keep MJX on CPU affordable; the
physics checks that need many steps run in plain MuJoCo.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from wall_geometry import deepest_while_stepping, robot_geoms

from gcrl_depth.envs.humanoid import GOAL_Z, HEALTHY_Z, Humanoid, HumanoidMaze
from gcrl_depth.envs.mazes import HUMANOID_EVAL_LAYOUTS, task_maze
from gcrl_depth.envs.models import FLOOR_BIT, WALL_BIT, compile_model

N_ENVS = 4


@pytest.fixture(scope="module")
def humanoid():
    """A Humanoid core with its jitted batched reset and step (compiled once per module)."""
    core = Humanoid(episode_length=200)
    return core, jax.jit(jax.vmap(core.reset)), jax.jit(jax.vmap(core.step))


def test_sizes_and_control_step(humanoid):
    core, _, _ = humanoid
    assert core.observation_size == 24 + 23 + 11 * 10 + 11 * 6 + 23 == 246
    assert core.action_size == 17
    assert core.goal_indices == (0, 1, 2)
    assert core.dt == pytest.approx(0.03)  # Table 1's Humanoid control step
    assert HumanoidMaze("U").dt == pytest.approx(0.015)  # the humanoid mazes'


# The paper's humanoid (reference section 5): joint -> (armature, damping, stiffness).
PAPER_JOINTS = {
    "abdomen_z": (0.02, 5, 20), "abdomen_y": (0.02, 5, 10), "abdomen_x": (0.02, 5, 10),
    "right_hip_x": (0.01, 5, 10), "right_hip_z": (0.01, 5, 10), "right_hip_y": (0.008, 5, 20),
    "left_hip_x": (0.01, 5, 10), "left_hip_z": (0.01, 5, 10), "left_hip_y": (0.01, 5, 20),
    "right_knee": (0.006, 1, 0), "left_knee": (0.006, 1, 1),
    "right_shoulder_a": (0.0068, 1, 1), "left_shoulder_a": (0.0068, 1, 1),
    "right_shoulder_b": (0.0051, 1, 1), "left_shoulder_b": (0.0051, 1, 1),
    "right_elbow": (0.0028, 1, 0), "left_elbow": (0.0028, 1, 0),
}


def test_joints_and_motors_as_the_paper_trained():
    model = compile_model("humanoid.xml")
    hinges = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
    assert {model.joint(j).name for j in hinges} == set(PAPER_JOINTS)
    for j in hinges:
        dof = model.jnt_dofadr[j]
        actual = (model.dof_armature[dof], model.dof_damping[dof], model.jnt_stiffness[j])
        np.testing.assert_allclose(actual, PAPER_JOINTS[model.joint(j).name], err_msg=model.joint(j).name)
    for a in range(model.nu):
        arm = any(part in model.actuator(a).name for part in ("shoulder", "elbow"))
        assert model.actuator_gear[a, 0] == (100 if arm else 350), model.actuator(a).name
        np.testing.assert_allclose(model.actuator_ctrlrange[a], (-0.4, 0.4))  # peak torque 140 / 40 N m
    robot = [b for b in range(1, model.nbody) if model.body_mocapid[b] < 0]
    np.testing.assert_allclose(model.body_inertia[robot], 1.0)  # brax spring: unit inertia per link
    assert 35 < model.body_mass[robot].sum() < 45  # masses from the geoms (~40 kg)


def test_reset_goals_and_achieved_goal_is_torso_xyz(humanoid):
    core, reset, _ = humanoid
    state = reset(jax.random.split(jax.random.key(0), 16))
    obs, goal = np.asarray(state.obs), np.asarray(state.goal)
    assert obs.shape == (16, core.observation_size) and goal.shape == (16, 3)
    assert np.isfinite(obs).all()
    np.testing.assert_array_equal(state.achieved_goal, obs[:, :3])
    np.testing.assert_allclose(obs[:, :3], np.asarray(state.physics.xpos)[:, 1])  # body 1 is the torso
    np.testing.assert_allclose(goal[:, 2], GOAL_Z)
    distance = np.linalg.norm(goal[:, :2] - obs[:, :2], axis=1)
    assert (distance > 1.0 - 0.02).all() and (distance < 5.0 + 0.02).all()  # start xy noise is 0.01
    assert len(np.unique(goal[:, 0])) == 16  # a different goal per env
    np.testing.assert_allclose(np.asarray(state.physics.mocap_pos)[:, 0], goal)  # the marker sits on the goal
    assert np.abs(obs[:, 47:]).sum(axis=1).min() > 0  # cinert / cvel are filled at reset


def test_step_shapes_and_finite_under_random_actions(humanoid):
    core, reset, step = humanoid
    key = jax.random.key(1)
    state = reset(jax.random.split(key, N_ENVS))
    for k in jax.random.split(key, 10):
        state = step(state, jax.random.uniform(k, (N_ENVS, core.action_size), minval=-1, maxval=1))
    assert state.obs.shape == (N_ENVS, core.observation_size)
    assert np.isfinite(np.asarray(state.obs)).all()
    np.testing.assert_array_equal(state.achieved_goal, state.obs[:, :3])


def test_zero_action_falls_and_terminates(humanoid):
    core, reset, step = humanoid
    state = reset(jax.random.split(jax.random.key(2), N_ENVS))
    zeros = jnp.zeros((N_ENVS, core.action_size))
    heights, ended = [], np.zeros(N_ENVS, bool)
    for _ in range(120):  # 3.6 s; the passive humanoid collapses in about 1.4 s
        before = np.asarray(state.obs[:, 2])
        state = step(state, zeros)
        ended |= np.asarray(state.terminated)
        heights.append(before)
        if ended.all():
            break
    assert ended.all()
    assert not bool(state.truncated.any())
    assert np.min(heights) < 1.1  # it was sinking towards the 1.0 limit ...
    assert (np.asarray(state.obs[:, 2]) > 1.2).all()  # ... and auto-reset stood it up again


def test_fallen_is_the_healthy_torso_height(humanoid):
    core, reset, _ = humanoid
    physics = jax.tree_util.tree_map(lambda x: x[0], reset(jax.random.split(jax.random.key(3), 1)).physics)
    for z, expected in ((0.9, True), (2.1, True), (1.3, False), (HEALTHY_Z[0], False)):
        assert bool(core._fallen(physics.replace(qpos=physics.qpos.at[2].set(z)))) == expected, z


@pytest.mark.parametrize("layout, eval_goals", [("U", False), ("BIG", True)])
def test_maze_starts_in_r_and_goals_at_g_cell_centres(layout, eval_goals):
    core = HumanoidMaze(layout, eval_goals=eval_goals, episode_length=30)
    state = jax.jit(jax.vmap(core.reset))(jax.random.split(jax.random.key(4), 16))
    maze = core.maze
    expected = task_maze(layout, 2.0, eval_goals, HUMANOID_EVAL_LAYOUTS)
    assert maze.cell_size == 2.0 and maze.grid.tolist() == expected.grid.tolist()
    goal = np.asarray(state.goal)
    np.testing.assert_allclose(goal[:, 2], GOAL_Z)
    assert {maze.grid[maze.cell_of(g)] for g in goal[:, :2]} == {"G"}
    np.testing.assert_allclose(goal[:, :2], np.round(goal[:, :2] / 2.0) * 2.0, atol=1e-6)  # cell centres
    assert {maze.grid[maze.cell_of(xy)] for xy in np.asarray(state.achieved_goal)[:, :2]} == {"R"}
    assert np.isfinite(np.asarray(state.obs)).all()


def test_walls_stop_the_humanoid_in_plain_mujoco():
    model = compile_model("humanoid.xml", task_maze("U", 2.0, False))
    data = mujoco.MjData(model)
    data.qpos[:2] = (2.0, 2.0)  # R cell centre; the wall of row 0 ends at x = 1
    data.qvel[0] = -3.0  # thrown towards it
    pelvis = model.geom("pelvis").id
    fronts = []
    while data.qpos[2] >= HEALTHY_Z[0] and data.time < 2.0:  # until it falls
        mujoco.mj_step(model, data)
        fronts.append(data.geom_xpos[pelvis, 0] - model.geom_size[pelvis, 0])
    assert 0.95 < min(fronts) < 1.05  # the pelvis reached the wall face and stopped there


def test_contact_bits_feet_on_the_floor_every_body_geom_on_walls_no_self_collisions():
    model = compile_model("humanoid.xml")
    robot = robot_geoms(model)
    assert {model.geom(g).name for g in robot if model.geom_contype[g] & FLOOR_BIT} == {"right_foot", "left_foot"}
    assert all(model.geom_contype[g] & WALL_BIT for g in robot)
    assert all(model.geom_conaffinity[g] == 0 for g in robot)


def test_walls_stop_a_leg_kicked_into_them():
    """Right thigh raised forward, knee bent back so the knee leads, thrown at the wall: no geom
    enters it (the old model stopped only the pelvis and feet: the knee went 0.4 m in)."""
    model = compile_model("humanoid.xml", task_maze("U", 2.0, False))
    data = mujoco.MjData(model)
    data.qpos[:2] = (2.45, 2.0)  # in the R cell (centre (2, 2)); the wall ahead has its face at x = 3
    data.qpos[model.joint("right_hip_y").qposadr[0]] = np.radians(-90)
    data.qpos[model.joint("right_knee").qposadr[0]] = np.radians(-135)
    data.qvel[0] = 3.0
    mujoco.mj_forward(model, data)
    knee = data.xpos[model.body("right_shin").id]
    assert 2.8 < knee[0] < 3.0 and knee[2] < 1.0  # the knee leads, below the top of the wall
    initial, depth = deepest_while_stepping(model, data, seconds=0.5)
    assert initial == 0.0 and depth < 0.05, f"a leg went {depth:.2f} m into a wall"
