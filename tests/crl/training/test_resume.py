"""Runs killed mid-way and resumed: the curve goes on from the last checkpoint, no row twice, none lost."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gcrl_depth.cli.main import main
from gcrl_depth.crl.checkpoints.state_store import committed_steps

EPOCH = 40  # env steps between evaluations and checkpoints (prefill 40, iterations of 20 with the tiny preset)


def start_training(folder: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gcrl_depth.cli.main", "train", "PointUMaze", "--preset", "tiny",
                             "--eval-episodes", "2", "--epoch-timesteps", str(EPOCH), "--save-every", str(EPOCH),
                             "--save-buffer", "--no-progress", *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for_checkpoint(folder: Path, process: subprocess.Popen, step: int, timeout: float = 300) -> None:
    """Until ``folder``'s newest committed checkpoint has at least ``step`` env steps."""
    deadline = time.monotonic() + timeout
    while (committed_steps(folder / "checkpoints") or [0])[-1] < step:
        assert process.poll() is None, f"training ended early:\n{process.stdout.read() if process.stdout else ''}"
        assert time.monotonic() < deadline, "no checkpoints in time"
        time.sleep(0.05)


def logged_steps(folder: Path) -> list[int]:
    with open(folder / "progress.csv", newline="") as f:
        return [int(float(row["time/total_timesteps"])) for row in csv.DictReader(f)]


def test_a_killed_run_resumes_from_its_checkpoint_and_a_preempted_one_exits_143(tmp_path, capsys):
    run = tmp_path / "run"
    first = start_training(run, "--log-dir", str(run), "--timesteps", "1000000")
    wait_for_checkpoint(run, first, 4 * EPOCH)
    # a second writer on the folder in use is refused at once, even one told to --overwrite it, and changes nothing
    before = committed_steps(run / "checkpoints")
    assert main(["train", "PointUMaze", "--preset", "tiny", "--log-dir", str(run), "--overwrite"]) == 2
    error = capsys.readouterr().err
    assert f"{run} is being written by pid {first.pid} on host" in error and error.count("\n") == 1, error
    # the first run goes on saving (and pruning its oldest checkpoints); nothing of it was wiped or rolled back
    after = committed_steps(run / "checkpoints")
    assert after and after[-1] >= before[-1] and (run / "progress.csv").exists(), (before, after)
    first.kill()  # SIGKILL: no chance to save anything more (nor to release its lock)
    first.wait()
    saved = committed_steps(run / "checkpoints")[-1]
    assert logged_steps(run)[-1] >= saved  # rows past the checkpoint may have been logged before the kill

    # resumed (--resume DIR) to 3 epochs past the checkpoint, taking over the killed run's lock, then preempted
    # (SIGTERM) and resumed again to the end
    second = start_training(run, "--resume", str(run), "--timesteps", str(saved + 12 * EPOCH))
    wait_for_checkpoint(run, second, saved + 2 * EPOCH)
    second.send_signal(signal.SIGTERM)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 143, output
    assert f"taking over the lock left by pid {first.pid}" in output
    assert "stopped by SIGTERM" in output and f"--resume {run}" in output
    preempted_at = committed_steps(run / "checkpoints")[-1]
    assert logged_steps(run)[-1] == preempted_at  # the checkpoint is the last thing the preempted run did
    third = start_training(run, "--resume", "--log-dir", str(run), "--timesteps", str(saved + 12 * EPOCH))
    assert third.wait(timeout=300) == 0, third.stdout.read() if third.stdout else ""

    steps = logged_steps(run)
    assert steps == list(range(2 * EPOCH, saved + 12 * EPOCH + 1, EPOCH))  # one row per epoch, in order, none twice
    meta = json.loads((run / "metadata.json").read_text())
    assert len(meta["resumed"]) == 2 and meta["config"]["width"] == 16 and meta["git_commit"] != ""
    assert os.path.exists(run / "best" / "best_model.zip") and os.path.exists(run / "final_model.zip")
