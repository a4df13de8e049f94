"""Shared fixtures. Envs are small (few parallel copies, short episodes) to keep MJX on CPU fast.

Also the ``isolated`` marker. XLA's CPU backend JIT-links every compiled program into the
process with memory mappings that are never returned; a long pytest process that compiles
dozens of MJX programs reaches Linux's ``vm.max_map_count`` (65,530 by default) and XLA
then fails ("LLVM compilation error: Cannot allocate memory", or a SIGSEGV/SIGABRT inside
the compiler). Tests marked ``isolated`` therefore run in a fresh pytest process of their
own, and the session ends with a report of the mappings used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


IN_ISOLATION = "GCRL_DEPTH_ISOLATED_TEST"


def pytest_pyfunc_call(pyfuncitem):
    """Run an ``isolated`` test in a child pytest process (unless this is that child)."""
    if pyfuncitem.get_closest_marker("isolated") is None or os.environ.get(IN_ISOLATION):
        return None
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0", pyfuncitem.nodeid]
    env = {**os.environ, IN_ISOLATION: "1"}
    result = subprocess.run(command, cwd=pyfuncitem.config.rootpath, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"isolated run of {pyfuncitem.nodeid} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}",
                    pytrace=False)
    return True


def memory_map_usage() -> tuple[int, int] | None:
    """(memory mappings of this process, the kernel's limit), or None where /proc has neither."""
    try:
        used = sum(1 for _ in open("/proc/self/maps"))
        limit = int(Path("/proc/sys/vm/max_map_count").read_text())
    except OSError:
        return None
    return used, limit


def pytest_terminal_summary(terminalreporter):
    usage = memory_map_usage()
    if usage is not None and not os.environ.get(IN_ISOLATION):
        used, limit = usage
        terminalreporter.write_line(f"memory mappings at the end: {used:,} of vm.max_map_count {limit:,} "
                                    "(XLA fails near the limit; mark tests compiling big programs 'isolated')")
