"""The gcrl-depth command: help generated from CRLConfig, config precedence, and the commands end to end."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from gcrl_depth.cli.config_flags import config_values, field_docs
from gcrl_depth.cli.main import build_parser
from gcrl_depth.crl.config import PRESETS, CRLConfig

TINY = ["--num-envs", "4", "--unroll-length", "5", "--width", "16", "--repr-dim", "8", "--batch-size", "8",
        "--env-steps-per-update", "10", "--buffer-size", "64", "--prefill-steps", "10"]


def gcrl_depth(*args, check=True):
    """Run the command as a user would (a fresh process); returns the completed process."""
    done = subprocess.run([sys.executable, "-m", "gcrl_depth.cli.main", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def train_help() -> str:
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices["train"].format_help()


def test_train_help_lists_every_config_field_with_its_docstring():
    text = " ".join(train_help().split())
    docs = field_docs()
    for field in dataclasses.fields(CRLConfig):
        assert f"--{field.name.replace('_', '-')}" in text, field.name
        assert " ".join(docs[field.name].split()) in text and f"(default {field.default!r})" in text, field.name


def test_config_file_then_flags_win(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("width: 32\nbatch_size: 16\nremat: true\n")
    args = build_parser().parse_args(["train", "PointUMaze", "--preset", "cpu", "--config", str(config),
                                      "--batch-size", "8", "--target-entropy", "none"])
    values = config_values(args, args.config, PRESETS[args.preset])
    assert values["width"] == 32 and values["remat"] is True  # the file over the preset
    assert values["batch_size"] == 8 and values["target_entropy"] is None  # the flag over the file
    assert values["num_envs"] == PRESETS["cpu"]["num_envs"] and "depth" not in values  # untouched: preset / default
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a mapping of CRLConfig fields"):
        config_values(args, str(tmp_path / "list.json"), {})


def test_train_then_eval_end_to_end(tmp_path):
    out = tmp_path / "run"
    gcrl_depth("train", "PointUMaze", "--timesteps", "100", "--epoch-timesteps", "40", "--eval-episodes", "2",
               "--save-every", "20", "--log-dir", str(out), "--no-progress", "--depth", "4", *TINY)
    assert (out / "final_model.zip").exists() and (out / "best" / "best_model.zip").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["deep_crl_100_steps.zip", "deep_crl_80_steps.zip"]
    assert (out / "progress.csv").read_text().count("\n") == 3  # header + 2 epochs (prefill 40, iterations of 20)
    # 2 episodes on the farthest goals: the program train's evaluations compiled (the persistent cache has it)
    done = gcrl_depth("eval", str(out / "final_model.zip"), "--episodes", "2", "--eval-goals", "eval", "--json")
    report = json.loads(done.stdout)
    assert report["env"] == "gcrl_depth/PointUMazeEval-v0" and report["episodes"] == 2 and report["episode_length"] == 1000
    assert 0 <= report["time_at_goal"] <= 1000 and 0 <= report["success_rate"] <= 1


def test_envs_lists_every_task_and_bad_input_is_a_clear_message():
    from gcrl_depth.envs import TASKS

    rows = json.loads(gcrl_depth("envs", "--json").stdout)
    assert len(rows) == len(TASKS)
    ant = next(r for r in rows if r["id"] == "gcrl_depth/AntBigMaze-v0")
    assert (ant["observation"], ant["goal"], ant["action"], ant["episode_length"]) == (29, 2, 8, 1000)
    assert ant["success_threshold"] > 0
    done = gcrl_depth("train", "gcrl_depth/Nope-v0", "--no-progress", check=False)
    assert done.returncode == 2 and "gcrl-depth train: unknown task" in done.stderr and "Traceback" not in done.stderr
