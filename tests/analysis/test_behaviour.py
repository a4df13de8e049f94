"""Behaviour statistics (critical depth): survival, torso height, passages over maze walls."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth.analysis.behaviour import BehaviourProbe
from gcrl_depth.envs import make_core


def still(action_size):
    """A policy that applies no force."""
    return lambda params, obs, goal: jnp.zeros((obs.shape[0], action_size), jnp.float32)


def test_a_standing_ant_survives_at_its_standing_height_and_never_crosses_a_wall():
    core = make_core("AntUMaze", episode_length=5)
    stats = BehaviourProbe(core, still(core.action_size), episodes=2)(None, seed=0)
    assert stats["behaviour/alive_fraction"] == 1.0
    low, high = core.healthy_z
    assert low < stats["behaviour/torso_height_p10"] <= stats["behaviour/torso_height_mean"] <= stats[
        "behaviour/torso_height_p90"] < high
    assert stats["behaviour/over_wall_episodes"] == 0 and stats["behaviour/over_wall_steps"] == 0


def test_over_wall_means_above_a_wall_cell():
    core = make_core("PointUMaze")
    probe = BehaviourProbe(core, still(2), episodes=1)
    # cell (0, 0) is wall, (1, 1) the start, (2, 2) wall inside the U, (9, 9) outside the maze
    qpos = jnp.array([[0.0, 0.0], [4.0, 4.0], [8.3, 7.6], [36.0, 36.0]])
    np.testing.assert_array_equal(np.asarray(probe._over_wall(qpos)), [True, False, True, False])
    assert "behaviour/torso_height_mean" not in BehaviourProbe(make_core("PointUMaze", episode_length=3), still(2), 1)(None)


def test_bad_episodes_is_a_clear_error():
    with pytest.raises(ValueError, match="episodes must be a positive integer"):
        BehaviourProbe(make_core("PointUMaze"), still(2), 0)
