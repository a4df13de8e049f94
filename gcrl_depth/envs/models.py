"""Loading the project's MJCF assets (found next to this file, never via the cwd).

An asset may declare brax's spring-backend mass and inertia scaling as custom numerics,
``spring_mass_scale`` and ``spring_inertia_scale`` (s): every body with a joint then gets
mass ``m ** (1 - s_mass)`` and principal inertia ``I ** (1 - s_inertia)``, which is what
brax's spring pipeline simulated (s = 1: every link 1 kg, or unit inertia). The paper
trained its ant and humanoid on that pipeline; see ``assets/ant.xml`` for what it changes.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from gcrl_depth.envs.mazes import Maze

ASSETS_DIR = Path(__file__).resolve().parent / "assets"

# Contact bit masks shared by the assets: the floor answers bit 1, maze walls bit 2.
FLOOR_BIT = 1
WALL_BIT = 2


def load_spec(asset: str) -> mujoco.MjSpec:
    """Parse an asset of ``assets/`` into an editable MjSpec."""
    path = ASSETS_DIR / asset
    if not path.is_file():
        raise FileNotFoundError(f"no MJCF asset {asset!r} in {ASSETS_DIR}")
    return mujoco.MjSpec.from_file(str(path))


def task_spec(asset: str, maze: Maze | None = None) -> mujoco.MjSpec:
    """An asset with the walls of ``maze`` (if any) added to its world body."""
    spec = load_spec(asset)
    if maze is not None:
        # MJX's broad phase (the asset's max_geom_pairs) keeps the pairs whose bounding spheres
        # are nearest; a long merged wall has a huge one and would crowd out the nearby walls,
        # so assets that cap pairs get one box per wall cell.
        capped = any(numeric.name == "max_geom_pairs" for numeric in spec.numerics)
        maze.add_walls(spec, contype=0, conaffinity=WALL_BIT, merge=not capped)
    return spec


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compile a task's spec, with the spring mass and inertia scaling it declares applied."""
    model = spec.compile()
    apply_spring_scaling(model)
    return model


def compile_model(asset: str, maze: Maze | None = None) -> mujoco.MjModel:
    """Compile an asset, adding the walls of ``maze`` (if any) to its world body."""
    return compile_spec(task_spec(asset, maze))


def custom_numeric(model: mujoco.MjModel, name: str, default: float) -> float:
    """The value of a ``<custom><numeric name=...>`` of the model, or ``default``."""
    for i in range(model.nnumeric):
        if model.numeric(i).name == name:
            return float(model.numeric(i).data[0])
    return default


def apply_spring_scaling(model: mujoco.MjModel) -> None:
    """Scale the masses and inertias of the jointed bodies as the asset declares (in place)."""
    mass_scale = custom_numeric(model, "spring_mass_scale", 0.0)
    inertia_scale = custom_numeric(model, "spring_inertia_scale", 0.0)
    if mass_scale == inertia_scale == 0.0:
        return
    jointed = np.flatnonzero(model.body_jntnum > 0)
    model.body_mass[jointed] **= 1.0 - mass_scale
    model.body_inertia[jointed] **= 1.0 - inertia_scale
    mujoco.mj_setConst(model, mujoco.MjData(model))  # subtree masses, inverse weights, ...
