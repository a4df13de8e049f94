"""The gcrl-depth command: help generated from CRLConfig, config precedence, and the commands end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tensorboard_events import tensorboard_records

from gcrl_depth.cli.config_flags import config_values, field_docs
from gcrl_depth.cli.main import build_parser
from gcrl_depth.crl.checkpoints.state_store import committed_steps
from gcrl_depth.crl.engine.config import PRESETS, CRLConfig

TINY = ["--preset", "tiny"]


def gcrl_depth(*args, check=True, env=None):
    """Run the command as a user would (a fresh process, ``env`` added to the environment); returns the completed process."""
    done = subprocess.run([sys.executable, "-m", "gcrl_depth.cli.main", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
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
        assert " ".join(docs[field.name].split()) in text and f"(default: {field.default})" in text, field.name


def test_config_file_then_flags_win(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("width: 32\nbatch_size: 16\nremat: true\n")
    args = build_parser().parse_args(["train", "PointUMaze", "--preset", "cpu", "--config", str(config),
                                      "--batch-size", "8", "--target-entropy", "none"])
    values = config_values(args, args.config, PRESETS[args.preset])
    assert values["width"] == 32 and values["remat"] is True  # the file over the preset
    assert values["batch_size"] == 8 and values["target_entropy"] is None  # the flag over the file
    assert values["num_envs"] == PRESETS["cpu"]["num_envs"] and "depth" not in values  # untouched: preset / default
    ablated = build_parser().parse_args(["train", "PointUMaze", "--layer-norm", "false", "--activation", "relu",
                                         "--residual", "no"])
    assert config_values(ablated, None, {}) == {"layer_norm": False, "activation": "relu", "residual": False}
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a mapping of CRLConfig fields"):
        config_values(args, str(tmp_path / "list.json"), {})


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny PointUMaze run of ``gcrl-depth train`` (checkpoints, best and final model, Weights & Biases offline
    logs, an evaluation video and Q-maps), shared by the tests below."""
    out = tmp_path_factory.mktemp("cli") / "run"
    gcrl_depth("train", "PointUMaze", "--timesteps", "100", "--epoch-timesteps", "40", "--eval-episodes", "2",
               "--save-every", "20", "--log-dir", str(out), "--no-progress", "--depth", "4", "--wandb", "gcrl-test",
               "--capture-video", "2", "--capture-qmap", "1", *TINY,
               env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    return out


def test_train_then_eval_end_to_end(trained_run):
    out = trained_run
    assert (out / "final_model.zip").exists() and (out / "best" / "best_model.zip").exists()
    assert committed_steps(out / "checkpoints") == [80, 100]  # the orbax store: the latest 2 (and the best among them)
    assert (out / "progress.csv").read_text().count("\n") == 3  # header + 2 epochs (prefill 40, iterations of 20)
    media = [(e.step, v.tag) for e in tensorboard_records(out) for v in e.summary.value if v.HasField("image")]
    assert sorted(media) == [(80, "eval/q_map"), (100, "eval/q_map"), (100, "eval/video")]  # --capture-qmap 1, --capture-video 2
    assert len(list((out / "wandb").glob("offline-run-*/files/media/videos/eval/video_*.gif"))) == 1
    # 2 episodes on the farthest goals: the program train's evaluations compiled (the persistent cache has it)
    done = gcrl_depth("eval", str(out / "final_model.zip"), "--episodes", "2", "--eval-goals", "eval", "--json")
    report = json.loads(done.stdout)
    assert report["env"] == "gcrl_depth/PointUMazeEval-v0" and report["episodes"] == 2 and report["episode_length"] == 1000
    assert 0 <= report["time_at_goal"] <= 1000 and 0 <= report["success_rate"] <= 1
    # env options over the saved ones (the depth-sweep test's evaluation program: 2 episodes of 20 steps)
    done = gcrl_depth("eval", str(out / "final_model.zip"), "--episodes", "2", "--env-kwargs", '{"episode_length": 20}',
                      "--json")
    report = json.loads(done.stdout)
    assert report["env_kwargs"] == {"episode_length": 20} and report["episode_length"] == 20


def test_qmap_draws_the_models_side_by_side_with_finite_correlations(trained_run, tmp_path):
    model = str(trained_run / "final_model.zip")
    done = gcrl_depth("qmap", model, str(trained_run / "best" / "best_model.zip"), "--labels", "final", "best",
                      "--per-cell", "3", "--out", str(tmp_path / "qmap.png"), "--json")
    rows = json.loads(done.stdout)
    assert [r["label"] for r in rows] == ["final", "best"] and all(r["goal_cell"] == [3, 1] for r in rows)
    assert all(-1 <= r["spearman_geodesic"] <= 1 and -1 <= r["spearman_euclidean"] <= 1 for r in rows)
    assert rows[0]["points"] == 7 * 9  # 7 free cells of 3 x 3 points
    assert (tmp_path / "qmap.png").read_bytes()[:4] == b"\x89PNG"
    done = gcrl_depth("qmap", model, "--labels", "a", "b", check=False)
    assert done.returncode == 2 and "one label per model" in done.stderr


def test_enjoy_writes_mp4_and_gif(trained_run, tmp_path):
    import imageio.v2 as imageio

    model = str(trained_run / "final_model.zip")
    done = gcrl_depth("enjoy", model, "--episodes", "2", "--steps", "10", "--size", "64", "--out", str(tmp_path / "run.mp4"))
    assert done.stdout.count("episode ") == 2
    frames = np.stack(imageio.mimread(tmp_path / "run.mp4"))  # read back through imageio-ffmpeg
    assert len(frames) == 2 * 3 and frames.shape[1:] == (64, 64, 3)  # per episode: the reset frame + 2 of 10 steps
    gcrl_depth("enjoy", model, "--episodes", "1", "--steps", "10", "--size", "64", "--eval-goals", "eval",
               "--out", str(tmp_path / "run.gif"))
    assert len(imageio.mimread(tmp_path / "run.gif")) == 3
    done = gcrl_depth("enjoy", model, "--out", str(tmp_path / "run.avi"), check=False)
    assert done.returncode == 2 and ".gif" in done.stderr and not (tmp_path / "run.avi").exists()


def test_stitching_trains_on_near_pairs_and_reports_far_and_near(tmp_path):
    out = tmp_path / "stitch"
    gcrl_depth("stitching", "PointUMaze", "--depths", "4", "--seeds", "0", "--timesteps", "80", "--eval-every", "40",
               "--eval-episodes", "2", "--episode-length", "20", "--out", str(out), *TINY, "--prefill-steps", "0")
    from gcrl_depth.rows import read_csv

    rows = read_csv(out / "curves.csv")
    assert len(rows) == 2 and {r["max_pair_cells"] for r in rows} == {3}
    assert all(0 <= r["near/success_rate"] <= 1 and 0 <= r["success_rate"] <= 1 for r in rows)
    summary = (out / "summary.md").read_text()
    assert "at most 3 maze cells apart" in summary and "| 4 | 1 |" in summary
    assert (out / "stitching.png").read_bytes()[:4] == b"\x89PNG"


def test_train_logs_to_wandb_offline(trained_run):
    runs = list((trained_run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0


def test_wandb_missing_says_how_to_install(monkeypatch):
    from gcrl_depth.logger import Logger

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install 'gcrl_depth\[wandb\]'"):
        Logger(None, ("wandb",))


def test_a_failed_wandb_start_is_a_clear_error_and_saves_no_model(monkeypatch, tmp_path, capsys):
    import types

    from gcrl_depth.cli.main import main

    def refuse(**settings):
        raise RuntimeError("api key not configured (no-tty)")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=refuse))
    code = main(["train", "PointUMaze", "--timesteps", "100", "--log-dir", str(tmp_path / "run"), "--no-progress",
                 "--wandb", "p", *TINY])
    error = capsys.readouterr().err
    assert code == 2 and "Weights & Biases did not start" in error and "WANDB_MODE=offline" in error
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())  # no model, no logs of the start


def test_envs_lists_every_task_and_bad_input_is_a_clear_message():
    from gcrl_depth.envs import TASKS

    rows = json.loads(gcrl_depth("envs", "--json").stdout)
    assert len(rows) == len(TASKS)
    ant = next(r for r in rows if r["id"] == "gcrl_depth/AntBigMaze-v0")
    assert (ant["observation"], ant["goal"], ant["action"], ant["episode_length"]) == (29, 2, 8, 1000)
    assert ant["success_threshold"] > 0
    done = gcrl_depth("train", "gcrl_depth/Nope-v0", "--no-progress", check=False)
    assert done.returncode == 2 and "gcrl-depth train: unknown task" in done.stderr and "Traceback" not in done.stderr


def digests(folder):
    import hashlib

    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_folder_is_refused_then_resumed_or_overwritten_on_request(trained_run, tmp_path, capsys):
    import shutil

    from gcrl_depth.cli.main import main
    from gcrl_depth.crl.checkpoints.checkpoint import read_checkpoint

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = digests(run)
    common = ["train", "PointUMaze", "--log-dir", str(run), "--no-progress", "--eval-episodes", "2",
              "--epoch-timesteps", "40", *TINY]
    assert main([*common, "--timesteps", "100"]) == 2
    error = capsys.readouterr().err
    assert "already holds a run" in error and "--overwrite" in error and "--resume" in error and str(run) in error
    assert digests(run) == before  # nothing touched
    assert main([*common, "--timesteps", "100", "--overwrite", "--resume"]) == 2 and digests(run) == before

    # --resume: on from the newest checkpoint (100 env steps) to 160 (the replay buffer refilled: prefill 40 + 20)
    assert main([*common, "--timesteps", "160", "--resume"]) == 0
    assert read_checkpoint(run / "final_model.zip").meta["num_timesteps"] == 160
    rows = (run / "progress.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 + 1 and rows[0] == (trained_run / "progress.csv").read_text().splitlines()[0]
    assert main([*common, "--timesteps", "160", "--resume"]) == 2  # nothing left to train: said, and no model written
    assert "already" in capsys.readouterr().err

    # --overwrite: the old run's files go; a start refused before training writes no model
    assert main([*common, "--timesteps", "20", "--overwrite"]) == 2
    assert "prefill" in capsys.readouterr().err and not (run / "final_model.zip").exists()
    assert sorted(p.name for p in run.iterdir()) == []  # the old run's files were removed, nothing new written


def test_user_errors_are_one_line_naming_the_flag_and_what_was_expected(tmp_path, capsys):
    from gcrl_depth.cli.main import main

    (tmp_path / "bad.yaml").write_text("width: [16\n")
    (tmp_path / "seeded.yaml").write_text("width: 16\nseed: 3\n")
    (tmp_path / "a_file").write_text("")
    cases = [  # (arguments, words the message must hold)
        (["train", "PointUMaze", "--config", str(tmp_path)], ["--config", "a folder", "YAML or JSON file"]),
        (["train", "PointUMaze", "--config", str(tmp_path / "bad.yaml")], ["--config", "not valid YAML"]),
        (["train", "PointUMaze", "--config", str(tmp_path / "seeded.yaml")],
         ["--config", "['seed'] are not CRLConfig fields", "--seed 3"]),
        (["train", "PointUMaze", "--log-dir", str(tmp_path / "a_file")], ["--log-dir", "is a file", "expected a folder"]),
        (["train", "PointUMaze", "--log-dir", str(tmp_path / "a_file" / "run"), "--timesteps", "60", "--no-progress", *TINY],
         ["cannot write or read", "a_file"]),
        (["stitching", "PointUMaze", "--depths", "4", "6", "--out", str(tmp_path / "st")], ["--depths 6", "multiple of 4"]),
        (["stitching", "PointUMaze", "--max-cells", "50", "--out", str(tmp_path / "st")],
         ["--max-cells 50", "6 cells apart", "expected 1 to 5"]),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "Traceback" not in error, error
        assert all(word in error for word in words), (argv, error)
    assert not (tmp_path / "st").exists()  # the sweep's arguments were all checked before its first run
    for argv, flag in ((["eval", "model.zip", "--episodes", "0"], "--episodes"), (["train", "X", "--timesteps", "-5"],
                                                                                  "--timesteps")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and f"argument {flag}: expected a positive integer" in capsys.readouterr().err


def test_help_says_each_default_once_in_plain_text_and_evaluations_follow_the_budget():
    import gcrl_depth
    from gcrl_depth.cli.train import evaluation_interval

    for command in ("train", "stitching", "eval", "enjoy", "qmap", "plot"):
        text = " ".join(build_parser()._subparsers._group_actions[0].choices[command].format_help().split())
        assert "(default: None)" not in text.replace("overrides", "").split("CRLConfig fields")[0], command
        assert text.count("(default runs/") <= 1 and "``" not in text and ":func:" not in text and ":class:" not in text
    train_help_text = " ".join(train_help().split())
    assert "--seed SEED seed of parameters, envs and evaluation goals (default: 0)" in train_help_text
    stitching = " ".join(build_parser()._subparsers._group_actions[0].choices["stitching"].format_help().split())
    assert "CRLConfig fields (defaults: --preset cpu's)" in stitching and "hidden width of every network. (default: 128)" in stitching
    assert [evaluation_interval(n) for n in (300_000, 50_000_000, 5)] == [30_000, 1_000_000, 1]
    assert gcrl_depth.PRESETS["cpu"]["width"] == 128 and gcrl_depth.CRLConfig().depth == 4
