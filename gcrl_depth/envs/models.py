"""Loading the project's MJCF assets (found next to this file, never via the cwd)."""

from __future__ import annotations

from pathlib import Path

import mujoco

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


def compile_model(asset: str, maze: Maze | None = None) -> mujoco.MjModel:
    """Compile an asset, adding the walls of ``maze`` (if any) to its world body."""
    spec = load_spec(asset)
    if maze is not None:
        maze.add_walls(spec, contype=0, conaffinity=WALL_BIT)
    return spec.compile()
