"""Scripts' runs in run folders: a preempted run set resumes and ends where an uninterrupted one does."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys

import pytest
from fake_wandb import FakeWandb

from gcrl_depth import experiments, run_dirs
from gcrl_depth.crl.checkpoints.state_store import committed_steps, open_checkpoint
from gcrl_depth.crl.engine.config import PRESETS
from gcrl_depth.interrupts import PREEMPTED_EXIT

ENV = "gcrl_depth/PointUMaze-v0"
SPEC = experiments.RunSpec(ENV, 4, (0, 1), timesteps=200, eval_every=40, eval_episodes=2,
                           env_kwargs={"episode_length": 12}, config=PRESETS["tiny"])
SCORES = ("env_steps", "time_at_goal", "success_rate", "final_distance")


def scores(rows_by_seed):
    return {seed: [tuple(row[k] for k in SCORES) for row in rows] for seed, rows in rows_by_seed.items()}


def test_a_preempted_run_set_resumes_to_the_uninterrupted_curve(tmp_path, monkeypatch):
    straight = experiments.train_runs(SPEC)
    folder = tmp_path / "run"
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)

    def preempt_after_two(rows):
        if len(rows[0]) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # a scheduler's notice: checkpoint, then stop

    with pytest.raises(SystemExit) as stopped:
        experiments.train_runs(SPEC, run_dir=folder, on_evaluation=preempt_after_two, wandb_project="gcrl-test")
    assert stopped.value.code == PREEMPTED_EXIT and committed_steps(folder / "checkpoints") == [80, 120]
    assert len(run_dirs.read_curve(folder / "seed_1", 10**9)) == 2
    with pytest.raises(SystemExit, match="other settings"):  # another budget is another run
        experiments.train_runs(dataclasses.replace(SPEC, timesteps=400), run_dir=folder)

    resumed = experiments.train_runs(SPEC, run_dir=folder, wandb_project="gcrl-test")
    assert scores(resumed) == scores(straight)  # the same evaluations, none twice, none lost
    ids = [(folder / f"seed_{seed}" / "wandb_id.txt").read_text() for seed in (0, 1)]
    assert [(r.settings["name"], r.settings["id"]) for r in wandb.runs] == [  # a wandb run per seed, which the
        ("PointUMaze_d4_s0", ids[0]), ("PointUMaze_d4_s1", ids[1])] * 2      # resumed set logged on into
    assert ids[0] != ids[1] and all(r.settings["resume"] == "allow" and r.settings["config"]["seed"] in (0, 1)
                                    for r in wandb.runs)
    evaluated = [[step for step, values in r.logged if "eval/time_at_goal" in values] for r in wandb.runs]
    assert evaluated == [[80, 120], [80, 120], [160, 200], [160, 200]]
    assert not (folder / "checkpoints").exists()  # a finished run drops its checkpoints, keeps its models
    assert (folder / "seed_1" / "final_model.zip").exists() and (folder / "seed_1" / "best" / "best_model.zip").exists()
    with open(folder / "seed_0" / "progress.csv") as f:
        steps = [line.split(",")[0] for line in f.read().splitlines()[1:]]
    assert len(steps) == len(set(steps)) == 4  # the logger's rows, none twice either
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["settings"]["seeds"] == [0, 1] and len(meta["resumed"]) == 1 and meta["config"]["width"] == 16


def test_serial_runs_keep_a_folder_per_seed_and_start_over_without_resume(tmp_path):
    folder = tmp_path / "run"
    rows = experiments.train_runs(dataclasses.replace(SPEC, seeds=(0,)), serial=True, run_dir=folder)
    assert [r["env_steps"] for r in rows[0]] == [80, 120, 160, 200]
    assert (folder / "seed_0" / "metadata.json").exists() and (folder / "seed_0" / "final_model.zip").exists()
    (folder / "seed_0" / "metadata.json").write_text(json.dumps({"settings": {"timesteps": 1}}))
    assert run_dirs.open_run_dir(folder / "seed_0", {"timesteps": 2}, resume=False) is False
    assert list((folder / "seed_0").iterdir()) == []  # started over


def test_checkpoints_come_as_often_as_the_policy_says(tmp_path):
    every = experiments.Checkpoints(every=100)
    assert [every.due(steps, last) for steps, last in ((80, 40), (120, 80), (160, 120), (200, 120))] == [
        False, True, False, True]
    assert experiments.Checkpoints().due(81, 80) and not experiments.Checkpoints(every=0).due(10**9, 0)

    def preempt_at_120(rows):
        if rows[0][-1]["env_steps"] == 120:
            os.kill(os.getpid(), signal.SIGTERM)

    policy = experiments.Checkpoints(every=100, buffer=False, keep=1)
    with pytest.raises(SystemExit):
        experiments.train_runs(SPEC, run_dir=tmp_path / "a", on_evaluation=preempt_at_120, checkpoints=policy)
    store = tmp_path / "a" / "checkpoints"
    assert committed_steps(store) == [120]  # not at 80: the first multiple of 100 passed was at 120
    assert not open_checkpoint(store).has_training_state  # buffer=False: parameters and counts only
