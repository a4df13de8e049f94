"""Multi-host training, tested on one machine: two processes joined by ``jax.distributed`` (gloo
collectives on the CPU, two devices each) train one run set over the four devices, and every member
ends as the same run set does in one process with four devices."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).resolve().parents[2] / "multihost_worker.py"
TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_workers(processes: int, folder: Path) -> list[dict]:
    """Start ``processes`` workers of one job, wait for all; their records."""
    port = free_port()
    env = dict(os.environ)  # the suite's XLA_FLAGS (its optimization level); the worker sets the device count
    outs = [folder / f"{processes}_{index}.json" for index in range(processes)]
    workers = [subprocess.Popen([sys.executable, str(WORKER), str(index), str(processes), str(port), str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for index, out in enumerate(outs)]
    try:
        said = [worker.communicate(timeout=TIMEOUT_S)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, text in zip(workers, said):
        assert worker.returncode == 0, text[-4000:]
    return [json.loads(out.read_text()) for out in outs]


@pytest.mark.slow  # three processes compile a run set's programs: minutes on 2 cores; started first
def test_a_run_set_over_two_processes_equals_it_in_one(tmp_path):
    two = run_workers(2, tmp_path)
    [one] = run_workers(1, tmp_path)
    assert [(r["devices"], r["local_devices"], r["mesh_devices"]) for r in two] == [(4, 2, 4), (4, 2, 4)]
    assert (one["devices"], one["mesh_devices"]) == (4, 4)
    assert two[0]["members"] == two[1]["members"]  # every process holds every member's result
    for seed, member in one["members"].items():
        other = two[0]["members"][seed]
        assert other["steps"] == member["steps"] == 80
        np.testing.assert_allclose(other["evaluations"], member["evaluations"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(other["checksums"], member["checksums"], rtol=1e-5)
    assert len({tuple(m["checksums"]) for m in one["members"].values()}) == 4  # four seeds, four different runs
