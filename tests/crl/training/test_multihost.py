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


def start_workers(processes: int, folder: Path, widths: tuple = ()) -> list[tuple[int, str, Path]]:
    """Start ``processes`` workers of one job (``widths``: a width per process, to make them differ) and
    wait for all; each one's exit code, output and record file."""
    port = free_port()
    env = dict(os.environ)  # the suite's XLA_FLAGS (its optimization level); the worker sets the device count
    outs = [folder / f"{processes}_{index}.json" for index in range(processes)]
    workers = [subprocess.Popen([sys.executable, str(WORKER), str(index), str(processes), str(port), str(out),
                                 *map(str, widths[index:index + 1])], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
               for index, out in enumerate(outs)]
    try:
        said = [worker.communicate(timeout=TIMEOUT_S)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    return [(worker.returncode, text, out) for worker, text, out in zip(workers, said, outs)]


def run_workers(processes: int, folder: Path) -> list[dict]:
    """The records of ``processes`` workers of one job, each of which must succeed."""
    done = start_workers(processes, folder)
    for code, text, _ in done:
        assert code == 0, text[-4000:]
    return [json.loads(out.read_text()) for _, _, out in done]


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


def test_a_process_started_with_another_config_is_refused(tmp_path):
    done = start_workers(2, tmp_path, widths=(16, 32))
    for code, text, _ in done:
        assert code != 0 and "differs from that of process(es)" in text and "the same command" in text, text[-3000:]

