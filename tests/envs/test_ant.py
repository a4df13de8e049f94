"""Ant tasks as the paper's model: start pose and noise, foot-only floor contacts (a flipped ant
terminates), and legs that maze walls stop. Physics checks needing many steps run in plain MuJoCo."""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from wall_geometry import deepest_while_stepping, robot_geoms, wall_penetration

from gcrl_depth.envs.mazes import task_maze
from gcrl_depth.envs.models import FLOOR_BIT, WALL_BIT, compile_model

FEET = {f"{leg}_foot" for leg in ("front_left", "front_right", "back_left", "back_right")}
HIPS = {f"{leg}_hip_tip" for leg in ("front_left", "front_right", "back_left", "back_right")}


def test_only_the_feet_touch_the_floor_and_walls_stop_torso_hips_and_feet():
    model = compile_model("ant.xml")
    robot = robot_geoms(model)
    assert {model.geom(g).name for g in robot if model.geom_contype[g] & FLOOR_BIT} == FEET
    assert {model.geom(g).name for g in robot if model.geom_contype[g] & WALL_BIT} == FEET | HIPS | {"torso"}
    assert all(model.geom_conaffinity[g] == 0 for g in robot)  # no self-collisions
    for sphere in FEET | HIPS:
        assert model.geom(sphere).type == mujoco.mjtGeom.mjGEOM_SPHERE and model.geom(sphere).size[0] == pytest.approx(0.08)
    for leg in ("front_left", "front_right", "back_left", "back_right"):  # a hip sphere sits at the end of its capsule
        capsule, tip = model.geom(f"{leg}_aux"), model.geom(f"{leg}_hip_tip")
        np.testing.assert_allclose(tip.pos, capsule.pos + capsule.size[1] * (tip.pos - capsule.pos) / np.linalg.norm(tip.pos - capsule.pos))


def test_start_pose_and_noise_as_the_paper(ant_core):
    state = jax.jit(jax.vmap(ant_core.reset))(jax.random.split(jax.random.key(0), 256))
    qpos, qvel = np.asarray(state.physics.qpos), np.asarray(state.physics.qvel)
    start = ant_core.maze.start_cells[0]
    assert np.abs(qpos[:, :2] - start).max() <= 0.1 and qpos[:, 2].min() >= 0.45
    model, data = ant_core.mj_model, mujoco.MjData(ant_core.mj_model)
    feet = [model.geom(name).id for name in FEET]
    lowest = []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        lowest.append(data.geom_xpos[feet, 2].min() - 0.08)
    lowest = np.array(lowest)
    assert lowest.min() > -1e-4  # no foot starts inside the floor ...
    assert np.abs(lowest[qpos[:, 2] > 0.65 + 1e-4]).max() < 1e-4  # ... and a torso above 0.55 + noise was lifted just enough
    np.testing.assert_allclose(np.linalg.norm(qpos[:, 3:7], axis=1), 1.0, rtol=1e-5)
    hips, ankles = qpos[:, 7::2], qpos[:, 8::2]
    assert np.abs(hips).max() <= 0.1 and np.abs(ankles - 1.0).max() <= 0.1
    low, high = np.radians(30), np.radians(70)
    assert (ankles > low).all() and (ankles < high).all()  # inside the joint range from the first step
    assert np.delete(qpos.std(axis=0), 3).min() > 0.02  # noise on every coordinate (w follows from x, y, z)
    assert 0.07 < qvel.std() < 0.13  # 0.1 N(0, 1)


def test_a_flipped_ant_sinks_below_the_healthy_height_and_terminates(ant_core):
    state = ant_core.reset(jax.random.key(1))
    upside_down = jnp.array([0.0, 1.0, 0.0, 0.0])  # rotated by pi about x
    state = state.replace(physics=state.physics.replace(qpos=state.physics.qpos.at[3:7].set(upside_down).at[2].set(0.5),
                                                        qvel=jnp.zeros_like(state.physics.qvel)))
    transition = jax.jit(ant_core.transition)
    for step in range(1, 41):  # noqa: B007  (2 s; the step of the fall is checked below)
        state = transition(state, jnp.zeros(ant_core.action_size))
        if bool(state.terminated):
            break
    assert bool(state.terminated), "a flipped ant must not rest on its back inside the healthy range"
    assert float(state.physics.qpos[2]) < 0.2 and step <= 20


@pytest.mark.parametrize("start, velocity", [((3.0, 4.0), (-4.0, 0.0)), ((4.0, 3.0), (0.0, -4.0))])
def test_maze_walls_stop_the_legs(start, velocity):
    """Thrown at a wall legs first, no part of the ant enters it (the old model's legs went 0.4 m in)."""
    model = compile_model("ant.xml", task_maze("U", 4.0, False))
    data = mujoco.MjData(model)
    data.qpos[:] = model.key_qpos[0]
    data.qpos[:2] = start  # in the R cell (centre (4, 4)); its walls have faces at x = 2 and y = 2
    data.qvel[:2] = velocity
    initial, depth = deepest_while_stepping(model, data, seconds=1.5)
    assert initial == 0.0 and depth < 0.05, f"a leg went {depth:.2f} m into a wall"


def test_walls_stop_the_legs_in_mjx_with_its_contact_budget(ant_core):
    """The same throw in the MJX env, where only the nearest wall pairs are collided (max_geom_pairs)."""
    state = ant_core.reset(jax.random.key(2))
    qpos = jnp.asarray(ant_core.mj_model.key_qpos[0]).at[:2].set(jnp.array([3.0, 4.0]))
    qvel = jnp.zeros_like(state.physics.qvel).at[0].set(-4.0)
    state = state.replace(physics=state.physics.replace(qpos=qpos, qvel=qvel))
    transition = jax.jit(ant_core.transition)
    geoms, depth = robot_geoms(ant_core.mj_model), 0.0
    for _ in range(30):  # 1.5 s
        state = transition(state, jnp.zeros(ant_core.action_size))
        pose = SimpleNamespace(geom_xpos=np.asarray(state.physics.geom_xpos), geom_xmat=np.asarray(state.physics.geom_xmat))
        depth = max(depth, wall_penetration(ant_core.mj_model, pose, geoms))
    assert float(state.physics.qpos[0]) < 3.0  # it did travel towards the wall
    assert depth < 0.05, f"a leg went {depth:.2f} m into a wall"
