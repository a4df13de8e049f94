"""Maze layouts as data: parsing, validation, wall geometry, and start/goal sampling."""

from __future__ import annotations

import jax
import mujoco
import numpy as np
import pytest

from gcrl_depth.envs import mazes
from gcrl_depth.envs import TASKS, make_core
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
