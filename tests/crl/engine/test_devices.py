"""Several devices on the CPU (4 host devices in a child process): sharded run sets equal unsharded
ones, the data-parallel update equals the single-device update, a data-parallel run trains,
saves and loads, a run set of runs split over devices equals its runs on fewer devices
(tests/crl/engine/multi_device_checks.py holds the checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("multi_device_checks.py")


@pytest.mark.slow
def test_runs_and_data_shards_over_four_cpu_devices():
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    done = subprocess.run([sys.executable, str(CHECKS)], env={**os.environ, "XLA_FLAGS": flags}, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    passed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert passed == ["data_parallel_update_equals_one_device", "sharded_run_set_equals_unsharded",
                      "data_parallel_agent_trains_saves_and_loads",
                      "data_parallel_run_set_equals_its_runs_on_fewer_devices"], done.stdout[-4000:]
