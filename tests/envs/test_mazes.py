"""Maze layouts as data: parsing, validation, wall geometry, and start/goal sampling."""

from __future__ import annotations

import jax
import mujoco
import numpy as np
import pytest

from gcrl_depth.envs import TASKS, make_core, mazes
from gcrl_depth.envs.mazes import EVAL_LAYOUTS, HUMANOID_EVAL_LAYOUTS, LAYOUTS, Maze, merge_walls, parse_layout


def test_walls_equal_gymnasium_robotics_mazes():
    maps = pytest.importorskip("gymnasium_robotics.envs.maze.maps")
    for ours, theirs in (("U", maps.U_MAZE), ("BIG", maps.MEDIUM_MAZE), ("HARDEST", maps.LARGE_MAZE)):
        their_walls = np.array([[cell == 1 for cell in row] for row in theirs])
        np.testing.assert_array_equal(parse_layout(LAYOUTS[ours]) == "1", their_walls, err_msg=ours)


@pytest.mark.parametrize("name, eval_name", sorted({*EVAL_LAYOUTS.items(), *HUMANOID_EVAL_LAYOUTS.items()}))
def test_eval_layouts_keep_the_walls_and_the_start(name, eval_name):
    train, evaluation = parse_layout(LAYOUTS[name]), parse_layout(LAYOUTS[eval_name])
    np.testing.assert_array_equal(train == "1", evaluation == "1")
    np.testing.assert_array_equal(train == "R", evaluation == "R")
    assert set(map(tuple, np.argwhere(evaluation == "G"))) <= set(map(tuple, np.argwhere(train == "G")))


# Goal cells of every evaluation id, as in the paper's code: the ant's big maze has 9, the humanoid's 10.
EVAL_GOAL_CELLS = {
    "PointUMazeEval": 3, "PointBigMazeEval": 9, "PointHardestMazeEval": 45,
    "AntUMazeEval": 3, "AntBigMazeEval": 9, "AntHardestMazeEval": 45, "AntU4MazeEval": 4, "AntU5MazeEval": 8,
    "HumanoidUMazeEval": 3, "HumanoidBigMazeEval": 10, "HumanoidHardestMazeEval": 45,
}


def test_every_evaluation_id_has_the_papers_goal_cells():
    assert {name for name in TASKS if name.endswith("Eval")} == set(EVAL_GOAL_CELLS)
    for name, cells in EVAL_GOAL_CELLS.items():
        assert len(make_core(name).maze.goal_cells) == cells, name


def test_the_ant_big_maze_evaluates_without_the_humanoids_nearer_goal():
    ant, humanoid = (parse_layout(LAYOUTS[name]) for name in ("BIG_EVAL", "BIG_EVAL_HUMANOID"))
    assert [tuple(c) for c in np.argwhere(ant != humanoid)] == [(2, 5)]
    assert ant[2, 5] == "0" and humanoid[2, 5] == "G"


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_merged_walls_cover_exactly_the_wall_cells(name):
    grid = parse_layout(LAYOUTS[name])
    covered = np.zeros(grid.shape, int)
    for i0, j0, i1, j1 in merge_walls(grid):
        covered[i0 : i1 + 1, j0 : j1 + 1] += 1
    np.testing.assert_array_equal(covered, (grid == "1").astype(int))
    assert len(merge_walls(grid)) < (grid == "1").sum()


def test_wall_boxes_in_world_coordinates():
    maze = Maze.from_layout("U", cell_size=4.0)
    spec = mujoco.MjSpec()
    maze.add_walls(spec, contype=0, conaffinity=2)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    # every wall cell centre is inside some box, no free cell centre is
    lows = data.geom_xpos - model.geom_size
    highs = data.geom_xpos + model.geom_size
    for (i, j), cell in np.ndenumerate(maze.grid):
        point = np.array([i * 4.0, j * 4.0, 0.5])
        inside = ((point >= lows) & (point <= highs)).all(axis=1).any()
        assert inside == (cell == "1"), (i, j, cell)
    assert np.allclose(model.geom_size[:, 2], 1.0)  # half-height s / 4


@pytest.mark.parametrize(
    "rows, message",
    [
        (["111", "1R1", "1X1"], "unknown maze layout characters"),
        (["111", "1G1", "111"], "no 'R'"),
        (["111", "1R1", "111"], "no 'G'"),
        (["111", "1RG1"], "same length"),
        ([], "empty"),
    ],
)
def test_bad_layouts_are_rejected_with_a_clear_error(rows, message):
    with pytest.raises(ValueError, match=message):
        parse_layout(rows)


def test_unknown_layout_name_and_eval_of_custom_layout():
    with pytest.raises(ValueError, match="unknown maze layout"):
        Maze.from_layout("NOPE", 4.0)
    with pytest.raises(ValueError, match="eval_goals needs a named layout"):
        mazes.task_maze(["111", "1RG", "111"], 4.0, eval_goals=True)


def test_sampling_only_returns_cell_centres_of_the_right_kind():
    maze = Maze.from_layout("BIG", cell_size=4.0)
    keys = jax.random.split(jax.random.key(1), 300)
    goals = np.asarray(jax.vmap(maze.sample_goal)(keys))
    starts = np.asarray(jax.vmap(maze.sample_start)(keys))
    assert {maze.grid[maze.cell_of(g)] for g in goals} == {"G"}
    assert {maze.grid[maze.cell_of(s)] for s in starts} == {"R"}
    # every goal cell gets drawn: the distribution covers all G cells
    assert len({maze.cell_of(g) for g in goals}) == len(maze.goal_cells)


def test_cell_distances_follow_the_corridor_not_the_straight_line():
    grid = parse_layout(LAYOUTS["U"])
    distance = mazes.cell_distances(grid, (1, 1))
    expected = {(1, 1): 0, (1, 2): 1, (1, 3): 2, (2, 3): 3, (3, 3): 4, (3, 2): 5, (3, 1): 6}
    assert {tuple(c): int(distance[tuple(c)]) for c in np.argwhere(distance >= 0)} == expected
    assert (distance[grid == "1"] == -1).all()
    with pytest.raises(ValueError, match="not a free cell"):
        mazes.cell_distances(grid, (0, 0))


def test_stitching_pairs_are_within_or_beyond_three_cells_and_together_cover_every_pair():
    grid = parse_layout(LAYOUTS["BIG"])
    near, far = mazes.cell_pairs(grid, None, 3), mazes.cell_pairs(grid, 4, None)

    def distance(row):
        return mazes.cell_distances(grid, tuple(row[:2]))[tuple(row[2:])]

    assert all(1 <= distance(row) <= 3 for row in near)
    assert all(distance(row) >= 4 for row in far)
    free = len(np.argwhere(grid != "1"))
    assert len(near) + len(far) == free * (free - 1)  # the big maze is connected: every ordered pair once
    assert not {tuple(r) for r in near} & {tuple(r) for r in far}


def test_a_stitching_maze_draws_start_and_goal_as_one_near_pair():
    maze = Maze.from_layout("BIG", cell_size=4.0).with_pairs(max_cells=3)
    keys = jax.random.split(jax.random.key(2), 400)
    starts, goals = (np.asarray(a) for a in jax.vmap(maze.sample_start_and_goal)(keys))
    cells = [(maze.cell_of(s), maze.cell_of(g)) for s, g in zip(starts, goals)]
    assert all(1 <= mazes.cell_distances(maze.grid, s)[g] <= 3 for s, g in cells)
    assert {maze.grid[s] for s, _ in cells} >= {"R", "G"}  # starts come from every free cell, not only R


def test_point_maze_resets_on_far_pairs_with_the_option():
    core = make_core("PointBigMaze", min_pair_cells=4)
    states = jax.vmap(core.reset)(jax.random.split(jax.random.key(3), 64))
    for obs, goal in zip(np.asarray(states.obs), np.asarray(states.goal)):
        start, end = core.maze.cell_of(obs[:2]), core.maze.cell_of(goal)
        assert mazes.cell_distances(core.maze.grid, start)[end] >= 4


@pytest.mark.parametrize("kwargs, message", [
    ({"eval_goals": True, "max_pair_cells": 3}, "both choose the goals"),
    ({"min_pair_cells": 5, "max_pair_cells": 3}, "greater than"),
    ({"max_pair_cells": 0}, "positive integer"),
    ({"min_pair_cells": 2.5}, "positive integer"),
    ({"min_pair_cells": 50}, r"no two free cells of this maze are at least 50 cells apart \(the farthest pair is 11\)"),
])
def test_bad_pair_options_are_rejected_with_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mazes.task_maze("BIG", 4.0, **{"eval_goals": False, **kwargs})
