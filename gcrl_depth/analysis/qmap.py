"""Q-value maps: what a critic believes about distance in a maze.

For a fixed goal, Q(s, a*, g) (a* the actor's deterministic action) is evaluated with the
robot moved to points spread over the maze, every other state feature kept from a reset
state. A critic that has learned the maze ranks points by their shortest-path (geodesic)
distance to the goal; one that has not ranks them by straight-line distance, through walls.
:class:`QMap` holds the map and both Spearman rank correlations of -Q, over the free points.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from gcrl_depth.checks import positive_int
from gcrl_depth.envs.mazes import WALL, Maze, cell_distances
from gcrl_depth.files import save_figure

QFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (observations (n, obs), goal (goal,)) -> Q (n,)


@dataclasses.dataclass(frozen=True)
class QMap:
    """A critic's values over a maze for one goal.

    Attributes:
        label: what the map shows (e.g. ``depth 4``).
        values: Q at each point, shape (rows * per_cell, cols * per_cell); NaN inside walls.
        geodesic: shortest-path distance of each point to the goal through the maze (world units).
        euclidean: straight-line distance of each point to the goal (world units).
        maze: the maze the points lie in.
        goal_cell: grid (row, col) of the goal.
        per_cell: points per cell along each axis.
        spearman_geodesic: rank correlation of -Q with ``geodesic`` over the free points.
        spearman_euclidean: rank correlation of -Q with ``euclidean`` over the free points.
        spearman_distances: rank correlation of ``geodesic`` with ``euclidean``: what a critic
            that follows one distance exactly scores on the other (the maze's own overlap).
    """

    label: str
    values: np.ndarray
    geodesic: np.ndarray
    euclidean: np.ndarray
    maze: Maze
    goal_cell: tuple[int, int]
    per_cell: int
    spearman_geodesic: float
    spearman_euclidean: float
    spearman_distances: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers: label, goal cell, points and both correlations."""
        return {"label": self.label, "goal_cell": list(self.goal_cell), "points": int(np.isfinite(self.values).sum()),
                "spearman_geodesic": self.spearman_geodesic, "spearman_euclidean": self.spearman_euclidean,
                "spearman_distances": self.spearman_distances}


def point_positions(maze: Maze, per_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """World xy of ``per_cell`` x ``per_cell`` evenly spaced points in every cell, shape
    (rows * per_cell, cols * per_cell, 2), and the mask of those in free cells."""
    per_cell = positive_int(per_cell, "per_cell")
    rows, cols = maze.grid.shape
    offsets = ((np.arange(per_cell) + 0.5) / per_cell - 0.5) * maze.cell_size
    x = (np.arange(rows)[:, None] * maze.cell_size + offsets).reshape(-1)
    y = (np.arange(cols)[:, None] * maze.cell_size + offsets).reshape(-1)
    positions = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1)
    free = np.kron(maze.grid != WALL, np.ones((per_cell, per_cell), bool))
    return positions, free


def geodesic_distances(maze: Maze, goal_cell: tuple[int, int], per_cell: int) -> np.ndarray:
    """Shortest-path distance (world units) from each point of :func:`point_positions` to the
    point of ``goal_cell`` at (or, for even ``per_cell``, next to) its centre, in steps between
    neighbouring points of free cells (4-connected: L1 in open space); NaN in walls."""
    fine = np.repeat(np.repeat(maze.grid, per_cell, axis=0), per_cell, axis=1)
    rows, cols = maze.grid.shape
    row, col = goal_cell
    if not (0 <= row < rows and 0 <= col < cols) or maze.grid[row, col] == WALL:
        free = [tuple(int(v) for v in cell) for cell in np.argwhere(maze.grid != WALL)[:4]]
        raise ValueError(f"goal cell ({row}, {col}) is not a free cell of this {rows}x{cols} maze (rows 0-{rows - 1}, "
                         f"columns 0-{cols - 1}); free cells are e.g. {', '.join(map(str, free))}")
    source = (goal_cell[0] * per_cell + per_cell // 2, goal_cell[1] * per_cell + per_cell // 2)
    steps = cell_distances(fine, source).astype(float)
    steps[steps < 0] = np.nan
    return steps * maze.cell_size / per_cell


def q_map(maze: Maze, q_function: QFunction, goal_cell: tuple[int, int], template: np.ndarray,
          position_indices: Sequence[int] = (0, 1), per_cell: int = 5, label: str = "",
          goal_template: np.ndarray | None = None) -> QMap:
    """Evaluate ``q_function`` with the robot at every point of the maze and the goal at the
    centre of ``goal_cell``.

    Args:
        maze: the maze.
        q_function: (observations (n, obs_size), goal (goal_size,)) -> Q values (n,).
        goal_cell: grid (row, col) of a free cell.
        template: an observation (e.g. a reset state's): every feature but the position is kept.
        position_indices: where x and y sit in the observation.
        per_cell: points per cell along each axis.
        label: the map's name in plots.
        goal_template: a goal whose first two entries are replaced by the cell centre (e.g. the
            humanoid's x, y, z goal keeps its z); default the 2-D goal (x, y).
    """
    goal_cell = (int(goal_cell[0]), int(goal_cell[1]))
    positions, free = point_positions(maze, per_cell)  # also checks per_cell
    geodesic = geodesic_distances(maze, goal_cell, per_cell)  # also checks goal_cell is free
    free &= np.isfinite(geodesic)  # free cells the goal cannot be reached from (a maze in pieces) are left out
    goal_xy = np.asarray(goal_cell, np.float32) * maze.cell_size
    goal = np.array(goal_xy if goal_template is None else goal_template, np.float32)
    goal[:2] = goal_xy
    observations = np.repeat(np.asarray(template, np.float32)[None], free.sum(), axis=0)
    observations[:, list(position_indices)] = positions[free]
    values = np.full(free.shape, np.nan)
    values[free] = np.asarray(q_function(observations, goal), dtype=float).reshape(-1)
    if not np.isfinite(values[free]).all():
        raise ValueError("the critic returned NaN or infinite Q values")
    euclidean = np.where(free, np.linalg.norm(positions - goal_xy, axis=-1), np.nan)
    geodesic = np.where(free, geodesic, np.nan)
    return QMap(label=label, values=values, geodesic=geodesic, euclidean=euclidean, maze=maze, goal_cell=goal_cell,
                per_cell=per_cell, spearman_geodesic=_spearman(-values[free], geodesic[free]),
                spearman_euclidean=_spearman(-values[free], euclidean[free]),
                spearman_distances=_spearman(geodesic[free], euclidean[free]))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # a constant map ranks nothing
    return float(stats.spearmanr(a, b)[0])


def farthest_cell(maze: Maze) -> tuple[int, int]:
    """The free cell farthest (by maze distance) from the first start cell: the default goal."""
    start = maze.cell_of(maze.start_cells[0])
    distance = cell_distances(maze.grid, start)
    return tuple(int(v) for v in np.unravel_index(np.argmax(distance), distance.shape))


def model_q_map(model: Any, goal_cell: tuple[int, int] | None = None, per_cell: int = 5, seed: int = 0,
                label: str | None = None) -> QMap:
    """The Q-value map of a :class:`~gcrl_depth.crl.training.agent.DeepCRL` trained on a gcrl_depth maze:
    Q(s, a*, g) with the non-position features of a reset state (drawn with ``seed``) and the
    goal at ``goal_cell`` (default: :func:`farthest_cell`; a 3-D goal keeps the reset's height)."""
    core = getattr(model, "core", None)
    maze = getattr(core, "maze", None)
    if maze is None:
        raise ValueError(f"Q-value maps need a model trained on a gcrl_depth maze task (PointUMaze, AntBigMaze, ...); "
                         f"this one trained on {model.env_id}")
    reset = jax.jit(core.reset)(jax.random.key(seed))
    params = model.learner.params
    return q_map(maze, lambda obs, goal: np.asarray(q_values(params.actor, params.critic, jnp.asarray(obs),
                                                             jnp.asarray(goal), model.engine)),
                 goal_cell or farthest_cell(maze), np.asarray(reset.obs), position_indices=tuple(core.goal_indices[:2]),
                 per_cell=per_cell, goal_template=np.asarray(reset.goal),
                 label=label if label is not None else _depth_label(model.config))


def _depth_label(config: Any) -> str:
    actor, critic = config.resolved_actor_depth, config.resolved_critic_depth
    return f"depth {critic}" if actor == critic else f"critic depth {critic}, actor depth {actor}"


@functools.partial(jax.jit, static_argnums=4)
def q_values(actor: Any, critic: Any, observations: jax.Array, goal: jax.Array, engine: Any) -> jax.Array:
    """Q(s, a*, g) for a batch of states and one goal (a* the deterministic actor's action)."""
    goals = jnp.broadcast_to(goal, (observations.shape[0], goal.shape[-1]))
    return engine.q_value(critic, observations, engine.act(actor, observations, goals), goals)


def plot_q_maps(maps: Sequence[QMap], path: str | os.PathLike, title: str = "") -> str:
    """Draw the maps side by side (walls dark, goal starred, each map's own colour scale,
    correlations in the panel titles) into one PNG, written atomically; returns its path."""
    return save_figure(q_map_figure(maps, title), path)


def q_map_figure(maps: Sequence[QMap], title: str = "") -> Any:
    """:func:`plot_q_maps`'s matplotlib figure (the caller closes it)."""
    from gcrl_depth.plotting import plt

    if not maps:
        raise ValueError("plot_q_maps needs at least one map")
    fig, axes = plt.subplots(1, len(maps), figsize=(3.6 * len(maps) + 0.6, 3.9), dpi=120, squeeze=False)
    for ax, qmap in zip(axes[0], maps):
        rows, cols = qmap.maze.grid.shape
        extent = (-0.5, cols - 0.5, rows - 0.5, -0.5)  # cell units: column across, row down, as the layout reads
        image = ax.imshow(qmap.values, cmap="viridis", extent=extent, interpolation="nearest")
        ax.imshow(np.where(qmap.maze.grid == WALL, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1.2, extent=extent,
                  interpolation="nearest")
        ax.plot(qmap.goal_cell[1], qmap.goal_cell[0], marker="*", markersize=16, color="red", markeredgecolor="white")
        ax.set_title(f"{qmap.label}\nSpearman(-Q, geodesic) {qmap.spearman_geodesic:.2f}\n"
                     f"Spearman(-Q, straight line) {qmap.spearman_euclidean:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Q(s, a*, g)")
    title = f"{title}\n" if title else ""
    fig.suptitle(f"{title}(geodesic and straight-line distance themselves correlate {maps[0].spearman_distances:.2f})",
                 fontsize=10)
    fig.tight_layout()
    return fig
