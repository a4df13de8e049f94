"""Shared fixtures. Envs are small (few parallel copies, short episodes) to keep MJX on CPU fast.

Also the ``isolated`` marker. XLA's CPU backend JIT-links every compiled program into the
process with memory mappings that stay until the program is freed; a long pytest process that
keeps dozens of MJX programs reaches Linux's ``vm.max_map_count`` (65,530 by default) and XLA
then fails ("LLVM compilation error: Cannot allocate memory", or a SIGSEGV/SIGABRT inside
the compiler). The programs a test file compiled are therefore freed after it
(``free_compiled_programs``), tests marked ``isolated`` run in a fresh pytest process of their
own, and the session ends with a report of the mappings used.

The suite compiles far more than it runs, so it sets XLA's CPU backend to optimization level
0 (``XLA_FLAGS``; not where the caller set a level): compiles take about a third less time,
the programs run about 1.5x slower. A test whose time is mostly running (training for
minutes) is marked ``xla_optimized``: it runs in a fresh process at XLA's default level.
"""

from __future__ import annotations

import gc
import os

CALLER_XLA_FLAGS = "GCRL_DEPTH_CALLER_XLA_FLAGS"  # the XLA_FLAGS the suite was started with, kept for its children
XLA_DEFAULT_LEVEL = "GCRL_DEPTH_TEST_XLA_DEFAULT"  # set in an xla_optimized child: leave XLA's level alone
TEST_XLA_LEVEL = "--xla_backend_optimization_level=0"
os.environ.setdefault(CALLER_XLA_FLAGS, os.environ.get("XLA_FLAGS", ""))  # xdist workers inherit the first value
if not os.environ.get(XLA_DEFAULT_LEVEL) and "xla_backend_optimization_level" not in os.environ[CALLER_XLA_FLAGS]:
    os.environ["XLA_FLAGS"] = f"{os.environ[CALLER_XLA_FLAGS]} {TEST_XLA_LEVEL}".strip()  # before JAX starts its backend

import signal
import subprocess
import sys
import tempfile
from xml.etree import ElementTree

import jax
import pytest

import gcrl_depth  # noqa: F401  (registers the ids, turns on the compilation cache)
from gcrl_depth.envs import make_core


def pytest_collection_modifyitems(items):
    """Files with a ``slow`` test first, then the ``isolated`` modules, then the rest: pytest-xdist
    (``--no-loadscope-reorder``) hands files out in this order, so the longest start first
    instead of running alone at the end."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    isolated = {item.path for item in items if item.get_closest_marker("isolated")}
    items.sort(key=lambda item: 0 if item.path in slow else 1 if item.path in isolated else 2)  # stable within a file


@pytest.fixture(scope="module", autouse=True)
def free_compiled_programs():
    """After each test file, free the programs it compiled: a pytest-xdist worker runs many
    files, and their programs' memory mappings would add up to ``vm.max_map_count``."""
    yield
    jax.clear_caches()
    gc.collect()  # programs held in reference cycles go now, not at the next collection


@pytest.fixture(scope="session")
def point_core():
    return make_core("PointUMaze")


@pytest.fixture(scope="session")
def ant_core():
    return make_core("AntUMaze")


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in a terminal's process (a pytest-xdist
    worker ignores SIGINT, and so would the test)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


IN_ISOLATION = "GCRL_DEPTH_ISOLATED_TEST"


def pytest_pyfunc_call(pyfuncitem):
    """Run an ``isolated`` test in a child pytest process (unless this is that child).

    ``isolated(module=True)`` runs the test's whole module in one child (once), and each of
    its tests reports its own result from there: for modules of many small tests that
    together compile many programs.
    """
    if os.environ.get(IN_ISOLATION):
        return None
    if pyfuncitem.get_closest_marker("xla_optimized"):
        result = _run_child(pyfuncitem.config, [pyfuncitem.nodeid], optimized=True)
        if result.returncode != 0:
            pytest.fail(f"run of {pyfuncitem.nodeid} at XLA's default optimization failed:\n{result.stdout[-6000:]}\n"
                        f"{result.stderr[-3000:]}", pytrace=False)
        return True
    marker = pyfuncitem.get_closest_marker("isolated")
    if marker is None:
        return None
    if marker.kwargs.get("module"):
        results = _module_results(pyfuncitem)
        failure = results.get(pyfuncitem.name, results.get(MODULE_CRASHED, "not run by the module's isolated child"))
        if failure:
            pytest.fail(f"isolated run of {pyfuncitem.nodeid} failed:\n{failure[-6000:]}", pytrace=False)
        return True
    result = _run_child(pyfuncitem.config, [pyfuncitem.nodeid])
    if result.returncode != 0:
        pytest.fail(f"isolated run of {pyfuncitem.nodeid} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}",
                    pytrace=False)
    return True


def _run_child(config, targets, *options, optimized=False):
    """Run pytest on ``targets`` in a child process (with the caller's own XLA flags if ``optimized``)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0", *options, *targets]
    env = {**os.environ, IN_ISOLATION: "1"}
    if optimized:
        env.update({"XLA_FLAGS": os.environ[CALLER_XLA_FLAGS], XLA_DEFAULT_LEVEL: "1"})
    return subprocess.run(command, cwd=config.rootpath, env=env, capture_output=True, text=True)


_MODULE_RESULTS: dict[str, dict[str, str]] = {}
MODULE_CRASHED = "<the module's child wrote no report>"  # key of the failure every test of such a module reports


def _module_results(item) -> dict[str, str]:
    """{test name: failure text, or "" if it passed} for the item's module, run once in a child.

    A child that writes no report (it crashed) is not run again for the module's other tests:
    they all fail with its output.
    """
    module = str(item.path)
    if module not in _MODULE_RESULTS:
        with tempfile.TemporaryDirectory() as folder:
            report = os.path.join(folder, "junit.xml")
            result = _run_child(item.config, [module], f"--junitxml={report}")
            if not os.path.exists(report):
                outcomes = {MODULE_CRASHED: f"isolated run of {module} (exit {result.returncode}) wrote no report:\n"
                                            f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"}
            else:
                outcomes = {}
                for case in ElementTree.parse(report).iter("testcase"):
                    problems = [f"{p.get('message', '')}\n{p.text or ''}" for p in case if p.tag in ("failure", "error", "skipped")]
                    outcomes[case.get("name")] = "\n".join(problems)
        _MODULE_RESULTS[module] = outcomes
    return _MODULE_RESULTS[module]


def pytest_terminal_summary(terminalreporter):
    usage = memory_mappings()
    parallel = getattr(terminalreporter.config.option, "numprocesses", None)  # pytest-xdist: workers ran the tests
    if usage is not None and not os.environ.get(IN_ISOLATION) and not parallel:
        used, limit = usage
        terminalreporter.write_line(f"memory mappings at the end: {used:,} of vm.max_map_count {limit:,} "
                                    "(XLA fails near the limit; mark tests compiling big programs 'isolated')")



def memory_mappings():
    """(memory mappings of this process, Linux's limit ``vm.max_map_count``), or None without /proc."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            used = maps.read().count(b"\n")
        with open("/proc/sys/vm/max_map_count") as limit:
            return used, int(limit.read())
    except (OSError, ValueError):
        return None
