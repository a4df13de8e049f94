"""The installed command, from a wheel: built from this checkout, installed into a fresh virtual
environment (its dependencies borrowed from the test's own environment, so nothing is downloaded), and
run from a folder outside the checkout: the campaign commands are there, and a run set trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list, cwd: Path, timeout: int = 600) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow  # builds a wheel and trains a run set in a fresh environment (about a minute on 2 cores)
def test_the_wheel_installs_the_commands_and_trains_a_run_set(tmp_path):
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, ROOT], tmp_path)
    [wheel] = wheels.glob("gcrl_depth-*.whl")
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)  # pip from the interpreter's bundled wheel: offline
    python = fresh / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip())
    # the dependencies: this environment's site-packages as a plain path (its own .pth files, the editable
    # install of this checkout among them, are not read from there)
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], tmp_path)  # and its gcrl-depth entry point
    where = run([python, "-c", "import gcrl_depth, json; print(json.dumps(gcrl_depth.__file__))"], tmp_path)
    assert Path(json.loads(where)).is_relative_to(site), where  # the wheel's copy, not this checkout

    for command in ("reproduce", "sweep", "compare", "evidence"):
        text = run([fresh / "bin" / "gcrl-depth", command, "--help"], tmp_path)
        assert "--shard I/N" in text and "Preset:" in text, command
    said = run([fresh / "bin" / "gcrl-depth", "train", "PointUMaze", "--seeds", 0, 1, "--preset", "tiny", "--timesteps", 80,
                "--eval-episodes", 2, "--env-kwargs", '{"episode_length": 12}', "--no-progress", "--log-dir", "run"],
               tmp_path)
    assert said.startswith("gcrl-depth train: preset tiny (given)")
    for seed in (0, 1):
        assert (tmp_path / "run" / f"seed_{seed}" / "final_model.zip").exists()
