"""Q-value maps: the maze's points, geodesic distances, and the correlations that tell a maze-following critic apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gcrl_depth.analysis.qmap import farthest_cell, geodesic_distances, plot_q_maps, point_positions, q_map
from gcrl_depth.envs.mazes import Maze

MAZE = Maze.from_layout("U", cell_size=4.0)
GOAL = (3, 1)  # the U's far end: next to the start through the wall, 6 cells away along the corridor
TEMPLATE = np.array([0.0, 0.0, 0.25, -0.5], np.float32)  # x, y, then features the map must keep
PER_CELL = 5


def point_index(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the map point at world xy (points are spaced cell_size / PER_CELL apart)."""
    step = MAZE.cell_size / PER_CELL
    index = np.floor((xy + MAZE.cell_size / 2) / step).astype(int)
    return index[:, 0], index[:, 1]


def geodesic_critic(observations: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Hand-made critic: Q is minus the shortest-path distance through the maze."""
    np.testing.assert_array_equal(observations[:, 2:], np.broadcast_to(TEMPLATE[2:], observations[:, 2:].shape))
    return -geodesic_distances(MAZE, MAZE.cell_of(goal), PER_CELL)[point_index(observations[:, :2])]


def euclidean_critic(observations: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Hand-made critic: Q is minus the straight-line distance, through walls."""
    return -np.linalg.norm(observations[:, :2] - goal, axis=-1)


def test_points_fill_every_cell_and_only_free_ones_count():
    positions, free = point_positions(MAZE, PER_CELL)
    assert positions.shape == (25, 25, 2) and free.sum() == 7 * 25  # 7 free cells in the U
    np.testing.assert_allclose(positions[PER_CELL // 2, PER_CELL // 2], [0.0, 0.0])  # cell (0, 0)'s centre
    assert MAZE.cell_of(positions[17, 7]) == (3, 1)


def test_geodesic_distance_goes_around_the_wall():
    geodesic = geodesic_distances(MAZE, GOAL, PER_CELL)
    start = (1 * PER_CELL + 2, 1 * PER_CELL + 2)  # centre of the start cell (1, 1)
    # 6 cells along the corridor (2 in a straight line), less what hugging the wall's inner corners saves:
    # 26 steps of cell_size / PER_CELL
    assert geodesic[start] == pytest.approx(26 * MAZE.cell_size / PER_CELL)
    assert np.isnan(geodesic[0, 0]) and geodesic[GOAL[0] * PER_CELL + 2, GOAL[1] * PER_CELL + 2] == 0


def test_a_critic_that_knows_the_maze_correlates_one_with_geodesic_distance():
    result = q_map(MAZE, geodesic_critic, GOAL, TEMPLATE, per_cell=PER_CELL, label="geodesic")
    assert result.spearman_geodesic == pytest.approx(1.0)
    assert result.spearman_euclidean == pytest.approx(result.spearman_distances)  # the maze's own overlap
    assert result.spearman_euclidean < 0.8
    assert np.isnan(result.values[~point_positions(MAZE, PER_CELL)[1]]).all()


def test_a_critic_that_ignores_walls_correlates_one_with_straight_line_distance():
    result = q_map(MAZE, euclidean_critic, GOAL, TEMPLATE, per_cell=PER_CELL, label="euclidean")
    assert result.spearman_euclidean == pytest.approx(1.0, abs=1e-3)  # float32 observations break a few ties
    assert result.spearman_geodesic < 0.8


def test_plot_writes_one_png_with_every_map(tmp_path):
    maps = [q_map(MAZE, critic, GOAL, TEMPLATE, per_cell=PER_CELL, label=name)
            for name, critic in (("geodesic", geodesic_critic), ("euclidean", euclidean_critic))]
    path = plot_q_maps(maps, tmp_path / "qmap.png", title="hand-made critics")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["qmap.png"]  # no temporary file left behind


def test_default_goal_is_the_cell_farthest_along_the_maze():
    assert farthest_cell(MAZE) == GOAL


def test_bad_input_is_a_clear_error():
    rows, cols = MAZE.grid.shape
    with pytest.raises(ValueError, match=rf"goal cell \(0, 0\) is not a free cell of this {rows}x{cols} maze"):
        q_map(MAZE, euclidean_critic, (0, 0), TEMPLATE)  # in the maze's cells, not the map's finer grid
    with pytest.raises(ValueError, match=rf"rows 0-{rows - 1}, columns 0-{cols - 1}"):
        q_map(MAZE, euclidean_critic, (rows + 3, 1), TEMPLATE)
    with pytest.raises(ValueError, match="NaN or infinite"):
        q_map(MAZE, lambda obs, goal: np.full(len(obs), np.nan), GOAL, TEMPLATE)
    with pytest.raises(ValueError, match="per_cell must be a positive integer"):
        q_map(MAZE, euclidean_critic, GOAL, TEMPLATE, per_cell=0)
    with pytest.raises(ValueError, match="at least one map"):
        plot_q_maps([], "unused.png")


def test_a_three_dimensional_goal_keeps_its_height():
    """The humanoid's goal is (x, y, z): the map moves x, y to the goal cell and keeps z."""
    seen = []

    def critic(observations, goal):
        seen.append(goal)
        return euclidean_critic(observations, goal[:2])

    result = q_map(MAZE, critic, GOAL, TEMPLATE, per_cell=PER_CELL, goal_template=np.array([9.0, 9.0, 1.25]))
    np.testing.assert_allclose(seen[0], [12.0, 4.0, 1.25])  # cell (3, 1) at cell size 4, the template's height
    assert result.spearman_euclidean == pytest.approx(1.0, abs=1e-3)


def test_free_cells_the_goal_cannot_reach_are_left_out():
    maze = Maze.from_layout(["11111", "1R1G1", "11111"], cell_size=4.0)  # two cells, a wall between them
    result = q_map(maze, euclidean_critic, (1, 3), TEMPLATE[:4], per_cell=3)
    assert np.isfinite(result.values).sum() == 9 and np.isnan(result.values[3:6, 3:6]).all()  # only the goal's cell
