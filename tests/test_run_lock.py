"""One writer per run folder (gcrl_depth.run_lock): a real second process holds or held the lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from gcrl_depth import run_lock
from gcrl_depth.campaigns.cells import Cell, run_cells

HOLD = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("run_lock", sys.argv[3])  # the module alone: no JAX to import
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.acquire(sys.argv[1], "holder-command --flag")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def holder(folder, seconds: float = 60.0) -> subprocess.Popen:
    """A process that takes ``folder``'s lock and keeps it for ``seconds`` (or until killed)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds), run_lock.__file__], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_naming_the_folder_and_the_holder(tmp_path):
    folder = tmp_path / "run"
    process = holder(folder)
    try:
        assert run_lock.holder_of(folder)["pid"] == process.pid
        with pytest.raises(run_lock.FolderBusy) as refused:
            run_lock.acquire(folder)
        message = str(refused.value)
        assert str(folder) in message and f"pid {process.pid}" in message and "holder-command --flag" in message
        assert socket.gethostname() in message and "\n" not in message
        assert not folder.exists()  # nothing written by the refused writer
    finally:
        process.kill()
        process.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    folder = tmp_path / "run"
    process = holder(folder)
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = json.loads(run_lock.lock_file(folder).read_text())
    assert left["pid"] == process.pid  # the record stayed; the flock went with the process
    assert run_lock.holder_of(folder) is None
    with pytest.warns(UserWarning, match=f"taking over the lock left by pid {process.pid}"), run_lock.folder_lock(folder):
        assert run_lock.holder_of(folder)["pid"] == os.getpid()
    assert not run_lock.lock_file(folder).exists()  # released: the lock file is gone


def test_a_lock_from_another_host_is_refused_with_the_command_that_removes_it(tmp_path):
    folder = tmp_path / "run"
    path = run_lock.lock_file(folder)
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 1, "started": "2026-12-07T10:00:00", "command": "c"}))
    with pytest.raises(run_lock.FolderBusy, match=f"node-elsewhere.*rm {path}"):
        run_lock.acquire(folder)
    path.unlink()
    with run_lock.folder_lock(folder):
        pass


def test_the_lock_is_reentrant_within_a_process_and_free_after(tmp_path):
    folder = tmp_path / "run"
    with run_lock.folder_lock(folder):
        with run_lock.folder_lock(folder):  # a campaign cell, then the run set it trains
            assert run_lock.holder_of(folder)["pid"] == os.getpid()
        assert run_lock.holder_of(folder)["pid"] == os.getpid()
    assert run_lock.holder_of(folder) is None
    process = holder(folder, seconds=0)
    assert process.wait() == 0  # another process takes it at once


def test_a_campaign_moves_on_past_a_cell_another_process_trains(tmp_path, capsys):
    trained = []

    def cell(name):
        def train():
            trained.append(name)
            return {0: [{"step": 1}]}

        return Cell(name, train, lambda: None, tmp_path / "runs" / name)

    process = holder(tmp_path / "runs" / "b")
    try:
        outcome = run_cells([cell("a"), cell("b"), cell("c")])
    finally:
        process.kill()
        process.wait()
    assert trained == ["a", "c"] and outcome.missing == ["b"]
    out = capsys.readouterr().out
    assert f"b: trained by pid {process.pid}" in out and "moving on" in out


def test_a_cell_finished_by_another_process_meanwhile_is_read_not_trained(tmp_path, monkeypatch):
    finished: list = []
    cells = [Cell("a", lambda: pytest.fail("trained twice"), lambda: finished[-1] if finished else None,
                  tmp_path / "runs" / "a")]
    original = run_lock.acquire

    def acquire_after_the_other_finished(folder, command=None):
        finished.append({0: [{"step": 9}]})  # the other process finished the cell before this one got the lock
        return original(folder, command)

    monkeypatch.setattr(run_lock, "acquire", acquire_after_the_other_finished)
    outcome = run_cells(cells)
    assert outcome.rows == {"a": {0: [{"step": 9}]}} and outcome.missing == []
