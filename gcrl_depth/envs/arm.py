"""Franka Emika Panda on a table: reach, push and binpick.

A 7-DoF Franka Emika Panda with the Franka Hand (see ``assets/arm.xml`` for the facts used
and the physics choices). Actions in [-1, 1]: target angles of joints 1, 2, 4, 6 (linearly
mapped onto their commanded ranges, which lie inside the Panda's joint limits) plus, except
in reach, a gripper command (> 0 closes, < 0 opens); joints 3 and 5 are held at zero and
joint 7 follows joint 1, so the fingers close along world x. Threshold 0.1; dt 0.05 s;
episodes of 1000 steps (the reference's default); no termination (the table is an
infinite plane, the cube cannot fall off).

State part of the observation (no goal inside it; the goal part comes first):

* push, binpick (17): cube xyz (3), grip xyz (3), grip velocity (3), 7 joint angles,
  finger gap (1); goal = cube xyz.
* reach (13): grip xyz (3), grip velocity (3), 7 joint angles; goal = grip xyz.

"grip" is the end-effector point between the finger pads (Franka's TCP, 0.1034 past the
flange). Its position and velocity come from the kinematics of the last physics substep (as
``mjx.step`` leaves them), i.e. they lag the joint angles by one 0.01 s substep.

Start and goal: the arm starts in a fixed home pose, the hand pointing down with the grip
at (0, 0.5, 0.12); the cube's xy is uniform in a square of half-width ``cube_noise`` around
its nominal start, and the goal's xy is uniform in a square of half-width ``goal_noise``
around the goal centre of the reference (push easy (0.1, 0.6), push hard (0.25, 0.65),
binpick easy (0.17, 0.6), binpick hard (0.3, 0.6); goal z = 0.03, the cube's resting
height up to 5 mm). The cube starts on the mirror image of the goal centre (x -> -x), next
to the goal region (push) or in a second bin (binpick). Reach draws the goal in the cube
(0, 0.5, 0.3) +- 0.2. The servo ranges reach all of these boxes except push hard's two far
corners (beyond 0.88 from the base, out of the Panda's reach; the goal counts as reached
0.1 short of it).
"""

from __future__ import annotations

import abc

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from gcrl_depth.envs.core import GoalEnv, with_kinematics
from gcrl_depth.envs.models import load_spec

ARM_JOINTS = ("j1", "j2", "j3", "j4", "j5", "j6", "j7")
FINGER_JOINTS = ("finger_left", "finger_right")
SERVO_JOINTS = ("j1", "j2", "j4", "j6")  # the commanded joints, in action order
HOME_DEG = (0.0, -7.0, -165.3, 158.3)  # their home angles: grip at (0, 0.5, 0.12), hand down
CUBE_HALF = 0.025
GOAL_Z = 0.03
BIN_WALL_RADIUS = 0.03  # bin walls are capsules lying on the table: 0.06 high

# difficulty -> (cube nominal xy, cube noise, goal centre xy, goal noise)
PUSH_LAYOUTS = {
    "easy": ((-0.1, 0.6), 0.1, (0.1, 0.6), 0.1),
    "hard": ((-0.25, 0.65), 0.25, (0.25, 0.65), 0.25),
}
BINPICK_LAYOUTS = {
    "easy": ((-0.17, 0.6), 0.07, (0.17, 0.6), 0.005),
    "hard": ((-0.3, 0.6), 0.15, (0.3, 0.6), 0.15),
}
REACH_CENTRE, REACH_NOISE = (0.0, 0.5, 0.3), 0.2


Bin = tuple[tuple[float, float], float]  # ((centre x, centre y), inner half-width)


def arm_model(*, cube: bool = True, gripper: bool = True, bins: tuple[Bin, ...] = ()) -> mujoco.MjModel:
    """Compile ``arm.xml``, optionally without the cube or the gripper command, with bins.

    Args:
        cube: keep the cube (and its contact pairs).
        gripper: keep the gripper actuator (without it the fingers are passive).
        bins: ``((centre_x, centre_y), inner_half_width)`` of square bins to add; their
            walls collide with the cube only.
    """
    spec = load_spec("arm.xml")
    if not cube:
        for pair in list(spec.pairs):
            if "cube" in (pair.geomname1, pair.geomname2):
                spec.delete(pair)
        spec.delete(spec.body("cube"))
    if not gripper:
        spec.delete(spec.actuator("gripper"))
    for b, ((cx, cy), half) in enumerate(bins):
        r = half + BIN_WALL_RADIUS  # wall axis, so the inner faces are `half` from the centre
        corners = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        for w in range(4):
            (x0, y0), (x1, y1) = corners[w], corners[(w + 1) % 4]
            name = f"bin{b}_wall{w}"
            spec.worldbody.add_geom(
                name=name,
                type=mujoco.mjtGeom.mjGEOM_CAPSULE,
                fromto=[x0, y0, BIN_WALL_RADIUS, x1, y1, BIN_WALL_RADIUS],
                size=[BIN_WALL_RADIUS, 0, 0],
                contype=0,
                conaffinity=0,
                rgba=[0.8, 0.2, 0.2, 1] if b else [0.2, 0.3, 0.8, 1],
            )
            friction = [0.5, 0.5, 0.005, 0.0001, 0.0001]
            spec.add_pair(name=f"cube_{name}", geomname1="cube", geomname2=name, condim=3, friction=friction)
    return spec.compile()


class ArmEnv(GoalEnv):
    """Shared machinery of the arm tasks; subclasses draw the cube and the goal."""

    has_cube = True
    camera = {"lookat": (0.0, 0.45, 0.25), "distance": 1.9, "elevation": -30.0, "azimuth": -60.0}  # from across the table

    def __init__(self, mj_model: mujoco.MjModel, *, episode_length: int, physics: str = "mjx"):
        m = mj_model
        self._arm_qpos = np.array([m.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._finger_qpos = np.array([m.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self._cube_qpos = int(m.joint("cube").qposadr[0]) if self.has_cube else None
        self._grip_site = int(m.site("grip").id)
        self._grip_body = int(m.site_bodyid[self._grip_site])
        self._grip_root = int(m.body_rootid[self._grip_body])
        # servo j: target = centre + half_range * action (see arm.xml)
        servos = np.array([m.actuator(j).id for j in SERVO_JOINTS])
        kp = -m.actuator_biasprm[servos, 1]
        self.servo_centre = m.actuator_biasprm[servos, 0] / kp
        self.servo_half_range = m.actuator_gainprm[servos, 0] / kp
        home = m.qpos0.copy()  # joints 3 and 5 at zero
        for name, deg in zip(SERVO_JOINTS, HOME_DEG):
            home[m.joint(name).qposadr[0]] = np.radians(deg)
        # joint 7 where its equality puts it: q7 = c0 + c1 * q1
        c0, c1 = m.eq("wrist_follows_yaw").data[:2]
        home[m.joint("j7").qposadr[0]] = c0 + c1 * home[m.joint("j1").qposadr[0]]
        home[self._finger_qpos] = 0.04
        self._home_qpos = home
        super().__init__(m, n_frames=5, episode_length=episode_length, success_threshold=0.1, goal_indices=(0, 1, 2),
                         physics=physics)
        self._home_ctrl = self.joint_command(np.radians(HOME_DEG), -1.0)

    def joint_command(self, angles, grip: float = -1.0) -> np.ndarray:
        """Action commanding target angles (rad) of joints 1, 2, 4, 6 and a gripper command."""
        arm = (np.asarray(angles, np.float64) - self.servo_centre) / self.servo_half_range
        return np.append(arm, grip).astype(np.float32)[: self.action_size]

    # ----------------------------------------------------------------- task hooks
    @abc.abstractmethod
    def _draw(self, key: jax.Array) -> tuple[jax.Array | None, jax.Array]:
        """Cube xy (None without a cube) and goal xyz."""

    def _initial_physics(self, key: jax.Array, blank: mjx.Data) -> tuple[mjx.Data, jax.Array]:
        cube_xy, goal = self._draw(key)
        qpos = jnp.asarray(self._home_qpos, jnp.float32)
        if cube_xy is not None:
            qpos = qpos.at[self._cube_qpos : self._cube_qpos + 3].set(jnp.append(cube_xy, CUBE_HALF))
        physics = blank.replace(
            qpos=qpos,
            qvel=jnp.zeros_like(blank.qvel),
            ctrl=jnp.asarray(self._home_ctrl, jnp.float32),
            mocap_pos=blank.mocap_pos.at[0].set(goal),
        )
        # fill the maximal coordinates the observation reads (site position, velocities)
        return with_kinematics(self.mjx_model, physics), goal

    def _grip_state(self, physics: mjx.Data) -> tuple[jax.Array, jax.Array]:
        """World position and linear velocity of the grip site."""
        pos = physics.site_xpos[self._grip_site]
        cvel = physics.cvel[self._grip_body]  # (angular, linear) at the subtree com of the root
        vel = cvel[3:] + jnp.cross(cvel[:3], pos - physics.subtree_com[self._grip_root])
        return pos, vel

    def _observe(self, physics: mjx.Data) -> jax.Array:
        pos, vel = self._grip_state(physics)
        joints = physics.qpos[self._arm_qpos]
        if not self.has_cube:
            return jnp.concatenate([pos, vel, joints]).astype(jnp.float32)
        cube = physics.qpos[self._cube_qpos : self._cube_qpos + 3]
        gap = physics.qpos[self._finger_qpos].sum(keepdims=True)
        return jnp.concatenate([cube, pos, vel, joints, gap]).astype(jnp.float32)

    def _fallen(self, physics: mjx.Data) -> jax.Array:
        return jnp.zeros((), bool)


def _uniform_square(key: jax.Array, centre, half_width: float) -> jax.Array:
    """Uniform point in the axis-aligned box ``centre +- half_width``."""
    centre = jnp.asarray(centre, jnp.float32)
    return centre + jax.random.uniform(key, centre.shape, minval=-half_width, maxval=half_width)


class ArmReach(ArmEnv):
    """Bring the grip point to a goal in the box (0, 0.5, 0.3) +- 0.2 (4 actions, no cube)."""

    has_cube = False

    def __init__(self, *, episode_length: int = 1000, physics: str = "mjx"):
        super().__init__(arm_model(cube=False, gripper=False), episode_length=episode_length, physics=physics)

    def _draw(self, key: jax.Array) -> tuple[None, jax.Array]:
        return None, _uniform_square(key, REACH_CENTRE, REACH_NOISE)


class ArmPush(ArmEnv):
    """Push the cube from its start region to a goal on the table."""

    layouts = PUSH_LAYOUTS

    def __init__(self, difficulty: str = "easy", *, episode_length: int = 1000, physics: str = "mjx"):
        if difficulty not in self.layouts:
            raise ValueError(f"difficulty must be one of {sorted(self.layouts)}, got {difficulty!r}")
        self.difficulty = difficulty
        self.cube_centre, self.cube_noise, self.goal_centre, self.goal_noise = self.layouts[difficulty]
        super().__init__(self._model(), episode_length=episode_length, physics=physics)

    def _model(self) -> mujoco.MjModel:
        return arm_model()

    def _draw(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        cube_key, goal_key = jax.random.split(key)
        cube_xy = _uniform_square(cube_key, self.cube_centre, self.cube_noise)
        goal_xy = _uniform_square(goal_key, self.goal_centre, self.goal_noise)
        return cube_xy, jnp.append(goal_xy, GOAL_Z)


class ArmBinpick(ArmPush):
    """Pick the cube out of one bin and place it at a goal in the other bin."""

    layouts = BINPICK_LAYOUTS

    def _model(self) -> mujoco.MjModel:
        # inner half-width: the noise plus the cube and 5 mm of play, at least 0.1
        regions = ((self.cube_centre, self.cube_noise), (self.goal_centre, self.goal_noise))
        bins = tuple((centre, max(noise + CUBE_HALF + 0.005, 0.1)) for centre, noise in regions)
        return arm_model(bins=bins)
