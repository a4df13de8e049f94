"""A disk that fills during an orbax checkpoint: the earlier checkpoints stay loadable, no half-written
step is counted or left behind, the user reads one line naming the disk and the folder, and --resume
goes on from the newest whole checkpoint (tests/full_disk_worker.py fills the disk)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from gcrl_depth.crl.checkpoints.state_store import committed_steps, open_checkpoint

WORKER = Path(__file__).parents[2] / "full_disk_worker.py"
TRAIN = ["train", "PointUMaze", "--preset", "tiny", "--eval-episodes", "2", "--epoch-timesteps", "40", "--save-every", "40",
         "--save-buffer", "--no-progress", "--timesteps", "200"]


def test_a_full_disk_during_a_checkpoint_loses_nothing_and_resume_goes_on(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, str(WORKER), *TRAIN, "--log-dir", str(run)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("gcrl-depth train:"))
    assert f"cannot write or read '{run / 'checkpoints'}': a checkpoint was not written (File too large)" in line
    assert "GB free of" in line and "mounted at" in line and "(80 env steps) are intact" in line, line
    assert committed_steps(run / "checkpoints") == [80]  # the first checkpoint; the second counted nowhere
    # the failed write's temporary folder was removed; TensorStore's writer threads may still have added to it
    # after that (they outlive orbax's close): the next store removes whatever is left before it writes
    stored = open_checkpoint(run / "checkpoints")
    assert stored.has_training_state and stored.meta["num_timesteps"] == 80

    resumed = subprocess.run([sys.executable, "-m", "gcrl_depth.cli.main", *TRAIN, "--resume", str(run)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "at 80 env steps" in resumed.stdout
    with open(run / "progress.csv", newline="") as f:
        steps = [int(float(row["time/total_timesteps"])) for row in csv.DictReader(f)]
    assert steps[-1] == 200 and steps == sorted(set(steps))  # on to the end, no evaluation twice
    assert not list((run / "checkpoints").glob("*tmp*"))  # nothing half-written left behind
    assert (run / "final_model.zip").exists()
