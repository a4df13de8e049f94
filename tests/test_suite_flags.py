"""The suite's own XLA setting: compiles at optimization level 0, xla_optimized tests at the caller's level."""

from __future__ import annotations

import os

import pytest

LEVEL_0 = "--xla_backend_optimization_level=0"


def caller_flags() -> str:
    return os.environ["GCRL_DEPTH_CALLER_XLA_FLAGS"]


def test_the_suite_compiles_at_optimization_level_0():
    if "xla_backend_optimization_level" in caller_flags():  # the caller chose a level: it is kept
        assert os.environ["XLA_FLAGS"].startswith(caller_flags())
    else:
        assert LEVEL_0 in os.environ["XLA_FLAGS"]


@pytest.mark.xla_optimized
def test_an_xla_optimized_test_runs_with_the_callers_flags():
    assert os.environ["XLA_FLAGS"].startswith(caller_flags())
    assert (LEVEL_0 in os.environ["XLA_FLAGS"]) == (LEVEL_0 in caller_flags())
