"""Arm tasks (on the Franka Emika Panda): shapes, goal boxes, the action mapping, the servo
ranges' reach over the goal boxes, and scripted controllers proving each task physically
solvable (reach a goal, push the cube to a goal, grasp and lift the cube). The robot itself
against Franka's published facts: ``test_panda_kinematics.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from gcrl_depth.envs.arm import REACH_CENTRE, REACH_NOISE, SERVO_JOINTS, ArmBinpick, ArmPush, ArmReach

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
def angle(v):
    """Tilt (rad) of a (forward, up) vector of the arm's vertical plane from straight up."""
    return np.arctan2(v[0], v[1])


def pitch(theta, v):
    """``v`` (forward, up) in the arm's vertical plane, tilted forward by ``theta`` (rad)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([v[0] * c + v[1] * s, -v[0] * s + v[1] * c])


def ik(core, target, tilt=0.0, strict=False):
    """Angles of joints 1, 2, 4, 6 putting the grip at ``target`` with the hand tilted ``tilt``
    (rad) from pointing straight down (> 0 swings the fingers back toward the base).

    Joints 3 and 5 stay at zero, so joints 2, 4, 6 pitch in the vertical plane that joint 1
    turns (joint 2 about +y of the arm frame, joints 4 and 6 about -y). Geometry read from the
    model, whose bodies sit in the arm frame (x forward, z up) at zero angles: shoulder ->
    elbow (the forearm body), elbow -> wrist (the wrist body), wrist -> grip (hand down);
    the elbow stays above the line from the shoulder to the wrist, as the Panda works. A
    target out of reach gives the arm stretched toward it, or NaN if ``strict``."""
    m = core.mj_model
    shoulder = m.body("upper_arm").pos
    upper, fore, hand = m.body("forearm").pos[[0, 2]], m.body("wrist").pos[[0, 2]], m.site("grip").pos[[0, 2]]
    dx, dy = target[0] - shoulder[0], target[1] - shoulder[1]
    wrist = np.array([np.hypot(dx, dy), target[2] - shoulder[2]]) - pitch(tilt, hand)  # from the shoulder
    lu, lf = np.linalg.norm(upper), np.linalg.norm(fore)
    cos_between = (wrist @ wrist - lu**2 - lf**2) / (2 * lu * lf)
    if strict and abs(cos_between) > 1.0:
        return np.full(4, np.nan)
    bend = angle(upper) - angle(fore) + np.arccos(np.clip(cos_between, -1.0, 1.0))  # = -q4
    q2 = angle(wrist) - angle(upper + pitch(bend, fore))
    return np.array([np.arctan2(-dx, dy), q2, -bend, q2 + bend - tilt])


TILTS = np.radians([0, 10, -10, 20, -20, 30, -30, 40, -40])


def reachable_ik(core, target):
    """The IK solution with the least hand tilt (up to 40 deg) inside the servo ranges, or None."""
    for tilt in TILTS:
        angles = ik(core, target, tilt, strict=True)
        if np.all(np.abs(core.joint_command(angles)[:4]) <= 1.0):  # False for NaN
            return angles
    return None


def servo_to(core, target, grip=-1.0):
    """Action for the grip at ``target``, the hand as little tilted as the servo ranges allow
    (pointing down, stretched toward it, where it is out of reach)."""
    angles = reachable_ik(core, target)
    return core.joint_command(ik(core, target) if angles is None else angles, grip)


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
    return servo_to(core, toward(grip, target, speed), 1.0)


def pick_action(core, obs, phase):
    """Above the cube, settle, down, close for 4 steps, lift; returns (action, next phase)."""
    cube, grip, speed = obs[0:3], obs[3:6], np.linalg.norm(obs[6:9])
    if phase == "approach":
        target, close = np.r_[cube[:2], 0.08], -1.0
        phase = "descend" if np.linalg.norm(grip[:2] - cube[:2]) < 0.012 and speed < 0.05 else phase
    elif phase == "descend":
        target, close = np.r_[cube[:2], 0.03], -1.0
        phase = 0 if grip[2] < 0.04 else phase
    elif phase < 4:  # closing, counted in steps
        target, close, phase = grip, 1.0, phase + 1
    else:
        target, close = np.r_[grip[:2], 0.25], 1.0
    return servo_to(core, toward(grip, target, 0.1), close), phase


def reach_action(core, goal):
    """Servo to the IK solution for the goal, hand down (tilted where the goal needs it)."""
    return servo_to(core, goal)


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
    np.testing.assert_allclose(np.degrees(low), [-75, -90, -174, 60], atol=0.1)
    np.testing.assert_allclose(np.degrees(high), [75, 90, -30, 210], atol=0.1)
    np.testing.assert_allclose(push_core.joint_command(high, 1.0), [1, 1, 1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(push_core.joint_command(push_core.servo_centre, -1.0), [0, 0, 0, 0, -1], atol=1e-6)


def grid(centre, half_widths, n=9):
    """An n-per-axis grid over the box ``centre +- half_widths`` (a zero half-width: one value)."""
    axes = [np.linspace(c - h, c + h, n if h else 1) for c, h in zip(centre, half_widths)]
    return np.stack(np.meshgrid(*axes), -1).reshape(-1, 3)


def test_servo_ranges_cover_the_goal_boxes(push_core):
    """Every point of the reach box, and of each task's cube and goal boxes at the cube's
    height, has an IK solution inside the servo ranges with the hand down or tilted up to
    40 deg; the only exception: push hard's far corners, beyond the Panda's reach."""
    core, z = push_core, 0.03
    boxes = [(ArmReach, REACH_CENTRE, (REACH_NOISE,) * 3)]
    for cls in (ArmPush, ArmBinpick):
        for name, (cube, cube_noise, goal, goal_noise) in cls.layouts.items():
            boxes += [((cls, name), (*cube, z), (cube_noise, cube_noise, 0)), ((cls, name), (*goal, z), (goal_noise, goal_noise, 0))]
    m = core.mj_model
    data, base = mujoco.MjData(m), m.body("upper_arm").pos[:2]
    servo_qpos = [m.joint(j).qposadr[0] for j in SERVO_JOINTS]

    def reaches(point):  # and the solution puts the grip there (joints 3, 5 at zero; the grip is on joint 7's axis)
        angles = reachable_ik(core, point)
        if angles is None:
            return False
        data.qpos[:] = core._home_qpos
        data.qpos[servo_qpos] = angles
        mujoco.mj_kinematics(m, data)
        np.testing.assert_allclose(data.site("grip").xpos, point, atol=1e-6)
        return True

    for task, centre, half_widths in boxes:
        points = grid(centre, half_widths)
        reached = np.array([reaches(p) for p in points])
        far = np.hypot(*(points[:, :2] - base).T)
        if task == (ArmPush, "hard"):
            assert reached[far < 0.87].all() and not reached[far > 0.89].any(), task
            assert reached.mean() > 0.98, reached.mean()
        else:
            assert reached.all(), (task, points[~reached])


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
    for _ in range(40):  # lifted after 30 steps (the Panda waits until it settles above the cube)
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

