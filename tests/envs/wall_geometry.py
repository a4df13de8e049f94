"""Test helper: how deep robot geoms (spheres, capsules) reach into a maze's axis-aligned wall boxes."""

from __future__ import annotations

import mujoco
import numpy as np


def _ball_depth(centre: np.ndarray, radius: float, box_centre: np.ndarray, half: np.ndarray) -> float:
    """Penetration depth of a ball into an axis-aligned box (0 when they do not overlap)."""
    offset = np.abs(centre - box_centre) - half
    outside = np.linalg.norm(np.maximum(offset, 0.0))
    inside = min(0.0, float(offset.max()))  # negative: the centre is inside, this far from the nearest face
    return max(0.0, radius - outside - inside)


def wall_penetration(model: mujoco.MjModel, data: mujoco.MjData, geoms: list[int]) -> float:
    """Largest depth any of ``geoms`` reaches into any ``wall_*`` box, in metres."""
    walls = [g for g in range(model.ngeom) if model.geom(g).name.startswith("wall_")]
    deepest = 0.0
    for g in geoms:
        radius, kind = model.geom_size[g, 0], model.geom_type[g]
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            centres = [data.geom_xpos[g]]
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            axis = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1]
            centres = [data.geom_xpos[g] + t * axis for t in np.linspace(-1, 1, 9)]
        else:
            raise ValueError(f"geom {model.geom(g).name}: only spheres and capsules are measured")
        for w in walls:
            for centre in centres:
                deepest = max(deepest, _ball_depth(centre, radius, data.geom_xpos[w], model.geom_size[w]))
    return deepest


def robot_geoms(model: mujoco.MjModel) -> list[int]:
    """Geoms of the robot: every geom of a body other than the world and mocap bodies."""
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] > 0 and model.body_mocapid[model.geom_bodyid[g]] < 0]


def deepest_while_stepping(model: mujoco.MjModel, data: mujoco.MjData, seconds: float) -> tuple[float, float]:
    """(penetration of the robot into the walls now, deepest one while stepping plain MuJoCo for ``seconds``)."""
    geoms = robot_geoms(model)
    mujoco.mj_forward(model, data)
    initial = deepest = wall_penetration(model, data, geoms)
    while data.time < seconds:
        mujoco.mj_step(model, data)
        deepest = max(deepest, wall_penetration(model, data, geoms))
    return initial, deepest
