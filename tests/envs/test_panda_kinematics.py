"""The arm model is a Franka Emika Panda: the compiled model against Franka's published facts,
in plain MuJoCo (no MJX compile).

Facts, written out here independently of ``assets/arm.xml``: Franka's modified (Craig) DH
table, the joint, torque and velocity limits, the Franka Hand's mounting (-45 deg about the
flange's z, fingers from 0.0584, TCP 0.1034 past the flange), and the masses, centres of
mass and inertia tensors of Franka's ROS description (franka_description/robots/common/
inertial.yaml, from Gaz et al., RA-L 2019). The base stands at (0, 0.15, 0) facing +y.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from gcrl_depth.envs.arm import SERVO_JOINTS, arm_model

# a_{i-1}, d_i, alpha_{i-1} per joint; frame i-1 -> i = RotX(alpha) TransX(a) RotZ(theta_i) TransZ(d)
DH = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -np.pi / 2),
    (0.0, 0.316, np.pi / 2),
    (0.0825, 0.0, np.pi / 2),
    (-0.0825, 0.384, -np.pi / 2),
    (0.0, 0.0, np.pi / 2),
    (0.088, 0.0, np.pi / 2),
)
FLANGE_D = 0.107
HAND_YAW, FINGER_D, TCP_D = -np.pi / 4, 0.0584, 0.1034
LIMITS = np.array([
    (-2.8973, 2.8973), (-1.7628, 1.7628), (-2.8973, 2.8973), (-3.0718, -0.0698),
    (-2.8973, 2.8973), (-0.0175, 3.7525), (-2.8973, 2.8973),
])
SPEED_LIMITS = (2.175,) * 4 + (2.61,) * 3  # rad/s
TORQUE_LIMITS = (87.0,) * 4 + (12.0,) * 3  # N m
FINGER_RANGE = (0.0, 0.04)
# centre of mass, mass, inertia (xx, yy, zz, xy, xz, yz) about it, in the link's own frame
INERTIAL = {
    "link1": ((0.003875, 0.002081, -0.04762), 4.970684, (0.70337, 0.70661, 0.009117, -0.000139, 0.006772, 0.019169)),
    "link2": ((-0.003141, -0.02872, 0.003495), 0.646926, (0.007962, 0.02811, 0.025995, -0.003925, 0.010254, 0.000704)),
    "link3": ((0.027518, 0.039252, -0.066502), 3.228604, (0.037242, 0.036155, 0.01083, -0.004761, -0.011396, -0.012805)),
    "link4": ((-0.05317, 0.104419, 0.027454), 3.587895, (0.025853, 0.019552, 0.028323, 0.007796, -0.001332, 0.008641)),
    "link5": ((-0.011953, 0.041065, -0.038437), 1.225946, (0.035549, 0.029474, 0.008627, -0.002117, -0.004037, 0.000229)),
    "link6": ((0.060149, -0.014117, -0.010517), 1.666555, (0.001964, 0.004354, 0.005433, 0.000109, -0.001158, 0.000341)),
    "link7": ((0.010517, -0.004252, 0.061597), 0.735522, (0.012516, 0.010027, 0.004815, -0.000428, -0.001196, -0.000741)),
    "hand": ((-0.01, 0.0, 0.03), 0.73, (0.001, 0.0025, 0.0017, 0.0, 0.0, 0.0)),
    "finger": ((0.0, 0.0, 0.0), 0.015, (2.375e-6, 2.375e-6, 7.5e-7, 0.0, 0.0, 0.0)),
}
ARM_MASS = 16.062132  # link1..link7
# the model's moving bodies and the parts each carries (links whose joints share a body: arm.xml)
BODY_PARTS = {
    "upper_arm": ("link1", "link2", "link3"),
    "forearm": ("link4", "link5"),
    "wrist": ("link6", "link7", "hand"),
    "left_finger": ("left_finger",),
    "right_finger": ("right_finger",),
}


def transform(rotation=None, translation=(0.0, 0.0, 0.0)):
    t = np.eye(4)
    t[:3, :3] = np.eye(3) if rotation is None else rotation
    t[:3, 3] = translation
    return t


def rot_x(angle):
    c, s = np.cos(angle), np.sin(angle)
    return transform(np.array([[1, 0, 0], [0, c, -s], [0, s, c]]))


def rot_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return transform(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]))


def trans(x=0.0, y=0.0, z=0.0):
    return transform(translation=(x, y, z))


BASE = trans(0.0, 0.15, 0.0) @ rot_z(np.pi / 2)  # facing +y


def dh_frames(q, fingers=(0.0, 0.0)):
    """World poses (4x4) of frames 1..7, the flange, the hand, the TCP and the two fingers."""
    frames, t = {}, BASE
    for i, ((a, d, alpha), angle) in enumerate(zip(DH, q), start=1):
        t = t @ rot_x(alpha) @ trans(x=a) @ rot_z(angle) @ trans(z=d)
        frames[f"link{i}"] = t
    frames["flange"] = t @ trans(z=FLANGE_D)
    frames["hand"] = frames["flange"] @ rot_z(HAND_YAW)
    frames["tcp"] = frames["hand"] @ trans(z=TCP_D)
    frames["left_finger"] = frames["hand"] @ trans(y=fingers[0], z=FINGER_D)
    frames["right_finger"] = frames["hand"] @ trans(y=-fingers[1], z=FINGER_D)
    return frames


@pytest.fixture(scope="module")
def model():
    return arm_model()


def set_arm(model, data, q, fingers=(0.0, 0.0)):
    for i, angle in enumerate(q, start=1):
        data.qpos[model.joint(f"j{i}").qposadr[0]] = angle
    for name, opening in zip(("finger_left", "finger_right"), fingers):
        data.qpos[model.joint(name).qposadr[0]] = opening
    mujoco.mj_kinematics(model, data)


def test_flange_grip_and_fingers_follow_the_dh_table(model):
    """At 20 random joint angles inside the limits: the flange, the grip (TCP) and the hand's
    orientation within 1 mm (1e-6) of the DH table's, and the fingers slide along the hand's y."""
    data, rng = mujoco.MjData(model), np.random.default_rng(0)
    for _ in range(20):
        q, fingers = rng.uniform(LIMITS[:, 0], LIMITS[:, 1]), rng.uniform(*FINGER_RANGE, 2)
        set_arm(model, data, q, fingers)
        frames = dh_frames(q, fingers)
        np.testing.assert_allclose(data.site("flange").xpos, frames["flange"][:3, 3], atol=1e-3)
        np.testing.assert_allclose(data.site("grip").xpos, frames["tcp"][:3, 3], atol=1e-3)
        np.testing.assert_allclose(data.site("grip").xmat.reshape(3, 3), frames["hand"][:3, :3], atol=1e-6)
        for name, sign in (("left_finger", 1), ("right_finger", -1)):
            np.testing.assert_allclose(data.body(name).xpos, frames[name][:3, 3], atol=1e-3)
            np.testing.assert_allclose(data.joint(f"finger_{name[:-7]}").xaxis, sign * frames["hand"][:3, 1], atol=1e-6)


def test_joint_torque_and_speed_limits_are_the_published_ones(model):
    arm = [model.joint(f"j{i}").id for i in range(1, 8)]
    np.testing.assert_allclose(model.jnt_range[arm], LIMITS)
    for name in ("finger_left", "finger_right"):
        np.testing.assert_allclose(model.joint(name).range, FINGER_RANGE)
        assert model.joint(name).limited  # the arm's limits are kept by the servo ranges
    for name in SERVO_JOINTS:  # each servo: its range inside the joint's limits, Franka's torque
        i, act = int(name[1]) - 1, model.actuator(name)
        kp = -act.biasprm[1]
        centre, half = act.biasprm[0] / kp, act.gainprm[0] / kp
        assert LIMITS[i, 0] < centre - half and centre + half < LIMITS[i, 1], name
        np.testing.assert_allclose(act.forcerange, (-TORQUE_LIMITS[i], TORQUE_LIMITS[i]))
        # terminal speed under the full torque (gravity compensated) within the speed limit
        assert TORQUE_LIMITS[i] / model.dof_damping[model.joint(name).dofadr[0]] <= SPEED_LIMITS[i] + 1e-3, name
    # joint 7 follows joint 1 (q7 = c0 + c1 q1): inside its limits over joint 1's servo range
    c0, c1 = model.eq("wrist_follows_yaw").data[:2]
    j1 = model.actuator("j1")
    q1 = np.array([-1.0, 1.0]) * j1.gainprm[0] / -j1.biasprm[1] + j1.biasprm[0] / -j1.biasprm[1]
    assert (np.abs(c0 + c1 * q1) < LIMITS[6, 1]).all()


def test_masses_and_inertias_are_franka_s(model):
    """Each moving body's mass, centre of mass and inertia tensor (at zero angles, fingers
    closed) are those of the published links it carries, placed at their DH frames."""
    parts = {name: INERTIAL[name] for name in INERTIAL if name != "finger"}
    parts["left_finger"] = parts["right_finger"] = INERTIAL["finger"]
    assert sum(INERTIAL[f"link{i}"][1] for i in range(1, 8)) == pytest.approx(ARM_MASS)
    moving = [b for b in range(1, model.nbody) if model.body_rootid[b] == model.body("upper_arm").id]
    assert sorted(model.body(b).name for b in moving) == sorted(BODY_PARTS)
    assert model.body_mass[moving].sum() == pytest.approx(ARM_MASS + 0.73 + 2 * 0.015)

    data, frames = mujoco.MjData(model), dh_frames(np.zeros(7))
    set_arm(model, data, np.zeros(7))
    for body, names in BODY_PARTS.items():
        mass, inertia = 0.0, np.zeros((3, 3))
        coms = []
        for name in names:
            (com, m, (xx, yy, zz, xy, xz, yz)), pose = parts[name], frames[name]
            rot = pose[:3, :3]
            coms.append((m, pose[:3, :3] @ com + pose[:3, 3], rot @ np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]) @ rot.T))
            mass += m
        centre = sum(m * c for m, c, _ in coms) / mass
        for m, c, tensor in coms:  # parallel axis theorem
            r = c - centre
            inertia += tensor + m * (r @ r * np.eye(3) - np.outer(r, r))
        b = model.body(body).id
        rot = data.ximat[b].reshape(3, 3)
        assert model.body_mass[b] == pytest.approx(mass), body
        np.testing.assert_allclose(data.xipos[b], centre, atol=1e-9, err_msg=body)
        np.testing.assert_allclose(rot @ np.diag(model.body_inertia[b]) @ rot.T, inertia, atol=1e-9, err_msg=body)
