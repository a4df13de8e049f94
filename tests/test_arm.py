"""Arm tasks: shapes, goal boxes, the action mapping, and scripted controllers proving each
task physically solvable (reach a goal, push the cube to a goal, grasp and lift the cube)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.envs.arm import ArmBinpick, ArmPush, ArmReach

TASKS = {
    "reach": lambda: ArmReach(episode_length=50),
    "push_easy": lambda: ArmPush("easy", episode_length=50),
    "push_hard": lambda: ArmPush("hard", episode_length=50),
    "binpick_easy": lambda: ArmBinpick("easy", episode_length=50),
    "binpick_hard": lambda: ArmBinpick("hard", episode_length=50),
}


@pytest.fixture(scope="module")
def push_core():
    return TASKS["push_easy"]()


# ----------------------------------------------------------------- scripted control (numpy)
def ik(core, target, pitch=np.pi):
    """Angles of joints 1, 2, 4, 6 putting the grip at ``target`` with the hand pitched
    ``pitch`` (rad from straight up; pi points down). Geometry read from the model: the
    base faces +y, joint 1 yaws, joints 2, 4, 6 pitch in one vertical plane."""
    m = core.mj_model
    base, shoulder_z = m.body("link1").pos[:2], m.body("link1").pos[2]  # the shoulder, on the world
    upper, fore, hand = m.body("link4").pos[2], m.body("link6").pos[2], m.site("grip").pos[2]
    dx, dy = target[0] - base[0], target[1] - base[1]
    r = np.hypot(dx, dy) - hand * np.sin(pitch)  # wrist, in the arm's vertical plane
    z = target[2] - shoulder_z - hand * np.cos(pitch)
    elbow = np.arccos(np.clip((r**2 + z**2 - upper**2 - fore**2) / (2 * upper * fore), -1.0, 1.0))
    shoulder = np.arctan2(r, z) - np.arctan2(fore * np.sin(elbow), upper + fore * np.cos(elbow))
    return np.array([np.arctan2(-dx, dy), shoulder, elbow, pitch - shoulder - elbow])


def toward(grip, target, max_step):
    """``target``, pulled back to at most ``max_step`` from the grip (no servo jumps)."""
    delta = target - grip
    norm = np.linalg.norm(delta)
    return target if norm <= max_step else grip + delta * max_step / norm


def push_action(core, obs, goal):
    """Closed loop: get behind the cube on the cube->goal line, go down, push along it."""
    cube, grip = obs[0:3], obs[3:6]
    u = (goal[:2] - cube[:2]) / (np.linalg.norm(goal[:2] - cube[:2]) + 1e-9)
    behind = cube[:2] - 0.065 * u
    rel = grip[:2] - cube[:2]
    along, lateral = rel @ u, abs(rel[0] * u[1] - rel[1] * u[0])
    if along < -0.035 and lateral < 0.02 and grip[2] < 0.06:  # in place: push
        target, speed = np.r_[cube[:2] + 0.04 * u, 0.035], 0.04
    elif np.linalg.norm(grip[:2] - behind) < 0.02:  # above the spot: go down
        target, speed = np.r_[behind, 0.035], 0.06
    elif grip[2] < 0.08:  # low but off the line: rise first
        target, speed = np.r_[grip[:2] - 0.02 * u, 0.1], 0.06
    else:  # travel above the table to the spot
        target, speed = np.r_[behind, 0.1], 0.06
    return core.joint_command(ik(core, toward(grip, target, speed)), 1.0)


def pick_action(core, obs, phase):
    """Above the cube, down, close for 4 steps, lift; returns (action, next phase)."""
    cube, grip = obs[0:3], obs[3:6]
    if phase == "approach":
        target, close = np.r_[cube[:2], 0.08], -1.0
        phase = "descend" if np.linalg.norm(grip[:2] - cube[:2]) < 0.012 else phase
    elif phase == "descend":
        target, close = np.r_[cube[:2], 0.03], -1.0
        phase = 0 if grip[2] < 0.04 else phase
    elif phase < 4:  # closing, counted in steps
        target, close, phase = grip, 1.0, phase + 1
    else:
        target, close = np.r_[grip[:2], 0.25], 1.0
    return core.joint_command(ik(core, toward(grip, target, 0.1)), close), phase


def reach_action(core, goal):
    """Servo to the IK solution for the goal, hand down (tilted for goals out of range)."""
    for pitch in np.radians([180, 150, 120, 90]):
        angles = ik(core, goal, pitch)
        if np.all(np.abs(core.joint_command(angles)) <= 1.0):
            break
    return core.joint_command(angles)


# ----------------------------------------------------------------- tests
@pytest.mark.parametrize("task", sorted(TASKS))
def test_reset_shapes_goal_slice_and_goal_boxes(task):
    core = TASKS[task]()
    state = jax.jit(jax.vmap(core.reset))(jax.random.split(jax.random.key(1), 4))
    reach = task == "reach"
    assert core.observation_size == (13 if reach else 17) and core.action_size == (4 if reach else 5)
    assert state.obs.shape == (4, core.observation_size) and state.goal.shape == (4, 3)
    obs, goal = np.asarray(state.obs), np.asarray(state.goal)
    np.testing.assert_array_equal(state.achieved_goal, obs[:, :3])
    grip = obs[:, :3] if reach else obs[:, 3:6]
    np.testing.assert_allclose(grip, np.tile([0.0, 0.5, 0.12], (4, 1)), atol=2e-3)  # the home pose
    if reach:
        assert (np.abs(goal - [0.0, 0.5, 0.3]) <= 0.2 + 1e-6).all()
        return
    assert (np.abs(goal[:, :2] - core.goal_centre) <= core.goal_noise + 1e-6).all() and np.allclose(goal[:, 2], 0.03)
    assert (np.abs(obs[:, :2] - core.cube_centre) <= core.cube_noise + 1e-6).all() and np.allclose(obs[:, 2], 0.025)
    assert np.allclose(obs[:, -1], 0.08, atol=1e-3)  # fingers open


def test_joint_command_maps_onto_the_documented_servo_ranges(push_core):
    low = push_core.servo_centre - push_core.servo_half_range
    high = push_core.servo_centre + push_core.servo_half_range
    np.testing.assert_allclose(np.degrees(low), [-70, -30, 0, -60], atol=0.1)
    np.testing.assert_allclose(np.degrees(high), [70, 100, 160, 150], atol=0.1)
    np.testing.assert_allclose(push_core.joint_command(high, 1.0), [1, 1, 1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(push_core.joint_command(push_core.servo_centre, -1.0), [0, 0, 0, 0, -1], atol=1e-6)


def test_reach_scripted_arm_reaches_the_goal():
    core = TASKS["reach"]()
    state = jax.jit(core.reset)(jax.random.key(3))
    step = jax.jit(core.transition)
    goal = np.asarray(state.goal)
    action = reach_action(core, goal)
    for _ in range(10):
        state = step(state, action)
        if float(state.metrics["success"]) == 1.0:
            break
    assert float(state.metrics["success"]) == 1.0, float(state.metrics["distance"])


def test_push_easy_scripted_pusher_reaches_the_goal(push_core):
    core = push_core

    @jax.jit
    def placed(key, cube_xy, goal):  # cube at the left of its box, goal 0.2 to its right
        state = core.reset(key)
        a = core._cube_qpos
        qpos = state.physics.qpos.at[a : a + 2].set(cube_xy)
        physics = state.physics.replace(qpos=qpos, mocap_pos=state.physics.mocap_pos.at[0].set(goal))
        obs = core._observe(physics)
        return state.replace(physics=physics, obs=obs, goal=goal, achieved_goal=core.achieved_goal(obs))

    goal = np.array([0.15, 0.6, 0.03], np.float32)
    state = placed(jax.random.key(0), jnp.array([-0.05, 0.6]), jnp.asarray(goal))
    assert np.linalg.norm(np.asarray(state.achieved_goal) - goal) > 0.19
    step = jax.jit(core.transition)
    for _ in range(40):
        state = step(state, push_action(core, np.asarray(state.obs), goal))
        if float(state.metrics["success"]) == 1.0:
            break
    assert float(state.metrics["success"]) == 1.0, float(state.metrics["distance"])
    assert float(state.obs[2]) < 0.05 and not bool(state.terminated)  # pushed along the table, not thrown


def test_binpick_gripper_grasps_and_lifts_the_cube():
    core = TASKS["binpick_easy"]()
    state = jax.jit(core.reset)(jax.random.key(4))
    step = jax.jit(core.transition)
    phase, heights = "approach", []
    for _ in range(30):
        action, phase = pick_action(core, np.asarray(state.obs), phase)
        state = step(state, action)
        heights.append(float(state.obs[2]))
        if heights[-1] > 0.1:
            break
    assert max(heights) > 0.1, heights  # rested at 0.025
    obs = np.asarray(state.obs)
    assert abs(obs[-1] - 0.05) < 0.01  # the fingers hold the 5 cm cube
    np.testing.assert_allclose(obs[3:5], obs[0:2], atol=0.02)  # ... under the grip


def test_bad_difficulty():
    with pytest.raises(ValueError, match="difficulty must be one of"):
        ArmPush("medium")

