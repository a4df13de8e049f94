"""Shared fixtures. Envs are small (few parallel copies, short episodes) to keep MJX on CPU fast."""

from __future__ import annotations

import jax
import pytest

import gcrl_depth  # noqa: F401  (registers the ids, turns on the compilation cache)
from gcrl_depth.envs import make_core


@pytest.fixture(scope="session")
def point_core():
    return make_core("PointUMaze")


@pytest.fixture(scope="session")
def ant_core():
    return make_core("AntUMaze")


@pytest.fixture
def key():
    return jax.random.key(0)
