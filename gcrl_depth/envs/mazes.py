"""Maze layouts as data, wall geometry for MJCF, and start/goal cell sampling.

A layout is a grid of characters: ``1`` wall, ``0`` free, ``R`` start cell, ``G`` goal
cell. Cell (row i, col j) has its centre at world (x = i * s, y = j * s) where s is
the robot family's cell size. Walls are boxes of half-size (s/2, s/2, s/4) standing
on the floor; adjacent wall cells are merged into larger boxes, which renders the same
but leaves MJX far fewer collision pairs to test, unless the robot's asset caps MJX's
contact pairs (ant, humanoid): then each wall cell is a box of its own (see models.py).

The U / BIG / HARDEST layouts equal Gymnasium-Robotics' U_MAZE / MEDIUM_MAZE /
LARGE_MAZE walls; the ``*_EVAL`` layouts keep only the farthest goal cells and are used
for evaluation (HARDEST has no separate evaluation layout: it evaluates on its own). As in
the paper's code, the big maze's evaluation goals differ per robot: 9 cells for the ant
(``BIG_EVAL``), 10 for the humanoid (``BIG_EVAL_HUMANOID``).

For the paper's stitching test a maze can instead draw start and goal as one pair of free
cells whose shortest-path (BFS) distance lies in a range: ``max_pair_cells=3`` trains on
nearby pairs, ``min_pair_cells=4`` evaluates on the farther ones (:meth:`Maze.with_pairs`).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

WALL, FREE, START, GOAL = "1", "0", "R", "G"
_VALID_CELLS = frozenset((WALL, FREE, START, GOAL))


def _grid(text: str) -> tuple[str, ...]:
    return tuple("".join(line.split()) for line in text.strip().splitlines())


LAYOUTS: dict[str, tuple[str, ...]] = {
    "U": _grid("""
        1 1 1 1 1
        1 R G G 1
        1 1 1 G 1
        1 G G G 1
        1 1 1 1 1"""),
    "U_EVAL": _grid("""
        1 1 1 1 1
        1 R 0 0 1
        1 1 1 0 1
        1 G G G 1
        1 1 1 1 1"""),
    "BIG": _grid("""
        1 1 1 1 1 1 1 1
        1 R G 1 1 G G 1
        1 G G 1 G G G 1
        1 1 G G G 1 1 1
        1 G G 1 G G G 1
        1 G 1 G G 1 G 1
        1 G G G 1 G G 1
        1 1 1 1 1 1 1 1"""),
    "BIG_EVAL": _grid("""
        1 1 1 1 1 1 1 1
        1 R 0 1 1 G G 1
        1 0 0 1 0 0 G 1
        1 1 0 0 0 1 1 1
        1 0 0 1 0 0 0 1
        1 0 1 G 0 1 G 1
        1 0 G G 1 G G 1
        1 1 1 1 1 1 1 1"""),
    "BIG_EVAL_HUMANOID": _grid("""
        1 1 1 1 1 1 1 1
        1 R 0 1 1 G G 1
        1 0 0 1 0 G G 1
        1 1 0 0 0 1 1 1
        1 0 0 1 0 0 0 1
        1 0 1 G 0 1 G 1
        1 0 G G 1 G G 1
        1 1 1 1 1 1 1 1"""),
    "HARDEST": _grid("""
        1 1 1 1 1 1 1 1 1 1 1 1
        1 R G G G 1 G G G G G 1
        1 G 1 1 G 1 G 1 G 1 G 1
        1 G G G G G G 1 G G G 1
        1 G 1 1 1 1 G 1 1 1 G 1
        1 G G 1 G 1 G G G G G 1
        1 1 G 1 G 1 G 1 G 1 1 1
        1 G G 1 G G G 1 G G G 1
        1 1 1 1 1 1 1 1 1 1 1 1"""),
    "U4": _grid("""
        1 1 1 1 1
        1 G G G 1
        1 R 1 G 1
        1 1 1 G 1
        1 G 1 G 1
        1 G G G 1
        1 1 1 1 1"""),
    "U4_EVAL": _grid("""
        1 1 1 1 1
        1 0 0 0 1
        1 R 1 0 1
        1 1 1 0 1
        1 G 1 0 1
        1 G G G 1
        1 1 1 1 1"""),
    "U5": _grid("""
        1 1 1 1 1 1 1 1
        1 G G G G G G 1
        1 R 1 1 1 1 G 1
        1 1 1 1 1 1 G 1
        1 G 1 1 1 1 G 1
        1 G G G G G G 1
        1 1 1 1 1 1 1 1"""),
    "U5_EVAL": _grid("""
        1 1 1 1 1 1 1 1
        1 0 0 0 0 0 0 1
        1 R 1 1 1 1 0 1
        1 1 1 1 1 1 0 1
        1 G 1 1 1 1 G 1
        1 G G G G G G 1
        1 1 1 1 1 1 1 1"""),
}

# Training layout name -> evaluation layout name, as the paper's ant (and our point mass) evaluates.
EVAL_LAYOUTS = {"U": "U_EVAL", "BIG": "BIG_EVAL", "HARDEST": "HARDEST", "U4": "U4_EVAL", "U5": "U5_EVAL"}
# The paper's humanoid evaluates its big maze on one more (nearer) goal cell than the ant: (2, 5).
HUMANOID_EVAL_LAYOUTS = {**EVAL_LAYOUTS, "BIG": "BIG_EVAL_HUMANOID"}


def parse_layout(rows: Sequence[str]) -> np.ndarray:
    """Validate a layout and return it as a 2-D array of single characters.

    Raises:
        ValueError: on ragged rows, unknown characters, or no ``R`` / ``G`` cell.
    """
    rows = ["".join(str(r).split()) for r in rows]
    if not rows or not rows[0]:
        raise ValueError("maze layout is empty; expected rows of '1', '0', 'R', 'G'")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"maze layout rows must all have the same length, got lengths {sorted(widths)}")
    unknown = sorted({c for r in rows for c in r} - _VALID_CELLS)
    if unknown:
        raise ValueError(
            f"unknown maze layout characters {unknown}; expected only '1' (wall), '0' (free), "
            "'R' (start) and 'G' (goal)"
        )
    grid = np.array([list(r) for r in rows])
    for cell, name in ((START, "start"), (GOAL, "goal")):
        if not (grid == cell).any():
            raise ValueError(f"maze layout has no {cell!r} ({name}) cell; at least one is required")
    return grid


def merge_walls(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cover the wall cells with few rectangles ``(row0, col0, row1, col1)``, inclusive.

    Greedy: grow each uncovered wall cell right, then down while the full span is wall.
    """
    wall = grid == WALL
    covered = np.zeros_like(wall)
    rects = []
    n_rows, n_cols = wall.shape
    for i in range(n_rows):
        for j in range(n_cols):
            if not wall[i, j] or covered[i, j]:
                continue
            j1 = j
            while j1 + 1 < n_cols and wall[i, j1 + 1] and not covered[i, j1 + 1]:
                j1 += 1
            i1 = i
            while i1 + 1 < n_rows and (wall[i1 + 1, j : j1 + 1] & ~covered[i1 + 1, j : j1 + 1]).all():
                i1 += 1
            covered[i : i1 + 1, j : j1 + 1] = True
            rects.append((i, j, i1, j1))
    return rects


def cell_distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """Shortest-path steps from ``source`` to every cell through non-wall cells (4-connected
    moves); -1 for walls and unreachable cells.

    Raises:
        ValueError: if ``source`` is outside the grid or a wall.
    """
    n_rows, n_cols = grid.shape
    i, j = source
    if not (0 <= i < n_rows and 0 <= j < n_cols) or grid[i, j] == WALL:
        raise ValueError(f"cell {tuple(source)} is not a free cell of the {n_rows}x{n_cols} maze")
    distance = np.full(grid.shape, -1, dtype=np.int64)
    distance[i, j] = 0
    queue = collections.deque([(i, j)])
    while queue:
        i, j = queue.popleft()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < n_rows and 0 <= b < n_cols and grid[a, b] != WALL and distance[a, b] < 0:
                distance[a, b] = distance[i, j] + 1
                queue.append((a, b))
    return distance


def cell_pairs(grid: np.ndarray, min_cells: int | None, max_cells: int | None) -> np.ndarray:
    """Every ordered pair of free cells whose BFS distance is in ``[min_cells, max_cells]``
    (defaults 1 and unbounded), as ``(start_row, start_col, goal_row, goal_col)`` rows.

    Raises:
        ValueError: on a bound that is not a positive integer, ``min_cells > max_cells``, or
            a range no pair of the maze falls in.
    """
    for name, bound in (("min_pair_cells", min_cells), ("max_pair_cells", max_cells)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, np.integer)) or bound < 1):
            raise ValueError(f"{name} must be a positive integer (maze cells) or None, got {bound!r}")
    low, high = min_cells or 1, max_cells if max_cells is not None else grid.size
    if low > high:
        raise ValueError(f"min_pair_cells={low} is greater than max_pair_cells={high}")
    rows, farthest = [], 0
    for start in map(tuple, np.argwhere(grid != WALL)):
        distance = cell_distances(grid, start)
        farthest = max(farthest, int(distance.max()))
        rows += [(*start, *goal) for goal in map(tuple, np.argwhere((distance >= low) & (distance <= high)))]
    if not rows:
        wanted = f"at least {low}" if max_cells is None else f"{low} to {high}"
        raise ValueError(f"no two free cells of this maze are {wanted} cells apart (the farthest pair is {farthest})")
    return np.array(rows, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class Maze:
    """A parsed maze in world coordinates.

    Attributes:
        grid: the layout characters, shape (rows, cols).
        cell_size: world length of one cell (4 for ant and point, 2 for humanoid).
        start_cells: world xy of the R cell centres, shape (n_start, 2).
        goal_cells: world xy of the G cell centres, shape (n_goal, 2).
        pairs: None (start from an R cell, goal at a G cell, drawn independently), or the
            start and goal cell centres drawn together, shape (n_pairs, 2, 2): see
            :meth:`with_pairs`.
    """

    grid: np.ndarray
    cell_size: float
    start_cells: np.ndarray
    goal_cells: np.ndarray
    pairs: np.ndarray | None = None

    @classmethod
    def from_layout(cls, layout: str | Sequence[str], cell_size: float) -> Maze:
        """Build from a layout name in :data:`LAYOUTS` or from explicit rows."""
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ValueError(f"unknown maze layout {layout!r}; expected one of {sorted(LAYOUTS)} or a list of rows")
            layout = LAYOUTS[layout]
        if cell_size <= 0:
            raise ValueError(f"cell_size must be positive, got {cell_size}")
        grid = parse_layout(layout)
        return cls(
            grid=grid,
            cell_size=float(cell_size),
            start_cells=cls._centres(grid, START, cell_size),
            goal_cells=cls._centres(grid, GOAL, cell_size),
        )

    def with_pairs(self, min_cells: int | None = None, max_cells: int | None = None) -> Maze:
        """This maze drawing start and goal as one pair of free cells (``R``, ``G`` or ``0``)
        whose BFS distance is ``min_cells`` to ``max_cells`` cells (the stitching test);
        with both None, the maze itself."""
        if min_cells is None and max_cells is None:
            return self
        cells = cell_pairs(self.grid, min_cells, max_cells)
        pairs = (cells.reshape(-1, 2, 2) * self.cell_size).astype(np.float32)
        return dataclasses.replace(self, pairs=pairs)

    @staticmethod
    def _centres(grid: np.ndarray, cell: str, cell_size: float) -> np.ndarray:
        return (np.argwhere(grid == cell) * cell_size).astype(np.float32)

    def cell_of(self, xy: np.ndarray) -> tuple[int, int]:
        """Grid (row, col) containing the world point ``xy``."""
        i, j = np.floor(np.asarray(xy, dtype=np.float64) / self.cell_size + 0.5).astype(int)
        return int(i), int(j)

    @property
    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """World xy of the lower and upper corners of the whole maze."""
        half = self.cell_size / 2
        low = np.array([-half, -half])
        high = (np.array(self.grid.shape) - 1) * self.cell_size + half
        return low, high

    def add_walls(self, spec: mujoco.MjSpec, *, contype: int, conaffinity: int, merge: bool = True,
                  rgba=(0.55, 0.5, 0.45, 1.0)) -> None:
        """Add the wall boxes to the world body of an MjSpec: merged into few boxes, or one per wall cell."""
        s = self.cell_size
        rects = merge_walls(self.grid) if merge else [(i, j, i, j) for i, j in np.argwhere(self.grid == WALL)]
        for k, (i0, j0, i1, j1) in enumerate(rects):
            spec.worldbody.add_geom(
                name=f"wall_{k}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                pos=[(i0 + i1) / 2 * s, (j0 + j1) / 2 * s, s / 4],
                size=[(i1 - i0 + 1) * s / 2, (j1 - j0 + 1) * s / 2, s / 4],
                contype=contype,
                conaffinity=conaffinity,
                rgba=list(rgba),
            )

    def sample_start(self, key: jax.Array) -> jax.Array:
        """World xy of a uniformly drawn R cell centre, shape (2,)."""
        return _uniform_row(key, self.start_cells)

    def sample_goal(self, key: jax.Array) -> jax.Array:
        """World xy of a uniformly drawn G cell centre, shape (2,)."""
        return _uniform_row(key, self.goal_cells)

    def draw_start_and_goal(self, start_key: jax.Array, goal_key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """World xy of an R cell centre and of an independently drawn G cell centre, or,
        with :attr:`pairs`, of one uniformly drawn pair (from ``start_key`` alone)."""
        if self.pairs is not None:
            pair = _uniform_row(start_key, self.pairs)
            return pair[0], pair[1]
        return self.sample_start(start_key), self.sample_goal(goal_key)

    def sample_start_and_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """:meth:`draw_start_and_goal` with two keys split from ``key``."""
        return self.draw_start_and_goal(*jax.random.split(key))


def _uniform_row(key: jax.Array, table: np.ndarray) -> jax.Array:
    index = jax.random.randint(key, (), 0, table.shape[0])
    return jnp.asarray(table)[index]


def task_maze(layout: str | Sequence[str], cell_size: float, eval_goals: bool,
              eval_layouts: dict[str, str] = EVAL_LAYOUTS, min_pair_cells: int | None = None,
              max_pair_cells: int | None = None) -> Maze:
    """The maze a task trains on, or, with ``eval_goals``, its evaluation goal set
    (``eval_layouts`` maps training layouts to the robot family's evaluation layouts), or,
    with ``min_pair_cells`` / ``max_pair_cells``, start-goal pairs by maze distance."""
    if eval_goals and (min_pair_cells is not None or max_pair_cells is not None):
        raise ValueError("eval_goals and min_pair_cells / max_pair_cells both choose the goals; pass one of them "
                         "(evaluate a stitching run on min_pair_cells=max_pair_cells + 1)")
    if eval_goals:
        if not isinstance(layout, str) or layout not in eval_layouts:
            raise ValueError(f"eval_goals needs a named layout with an evaluation set, one of {sorted(eval_layouts)}")
        layout = eval_layouts[layout]
    return Maze.from_layout(layout, cell_size).with_pairs(min_pair_cells, max_pair_cells)
