"""Distillation and the collector/learner experiment through the API and the command line (tiny preset):
the student is an ordinary DeepCRL that records its teacher; the learner never acts; bad inputs say why."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest

from gcrl_depth.cli.main import main
from gcrl_depth.crl.engine.config import PRESETS
from gcrl_depth.crl.training.agent import DeepCRL
from gcrl_depth.crl.training.lessons import distill, parameters_hash

TINY = PRESETS["tiny"]
SHORT = {"episode_length": 12}


@pytest.fixture(scope="module")
def teacher_zip(tmp_path_factory):
    """A depth-8 teacher, trained a little on PointUMaze with 12-step episodes, saved."""
    env = gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=TINY["num_envs"], **SHORT)
    teacher = DeepCRL(env, depth=8, seed=3, verbose=0, eval_episodes=2, epoch_timesteps=80, **TINY)
    teacher.learn(120)
    path = teacher.save(tmp_path_factory.mktemp("teacher") / "teacher.zip")
    teacher.close()
    env.close()
    return path


def test_distill_on_the_command_line_gives_an_ordinary_student_that_records_its_teacher(teacher_zip, tmp_path, capsys):
    out = tmp_path / "student"
    argv = ["distill", teacher_zip, "--depth", "4", "--timesteps", "120", "--epoch-timesteps", "80",
            "--eval-episodes", "2", "--crl-weight", "0.5", "--anneal-timesteps", "100", "--log-dir", str(out),
            "--no-progress"]
    assert main(argv) == 0
    assert "seed 3: depth 4" in capsys.readouterr().out
    student = DeepCRL.load(out / "final_model.zip")
    try:
        assert student.config.depth == 4 and student.config.width == TINY["width"]  # the teacher's settings, own depth
        assert student.task_kwargs == SHORT and student.seed == 3
        lineage = student.lineage
        assert lineage["kind"] == "distilled" and lineage["teacher"]["path"] == teacher_zip
        assert lineage["teacher"]["config"]["depth"] == 8 and len(lineage["teacher"]["file_sha256"]) == 64
        teacher = DeepCRL.load(teacher_zip, verbose=0)
        assert lineage["teacher"]["parameters_sha256"] == parameters_hash(teacher.learner.params)
        teacher.close()
        assert lineage["lesson"]["crl_weight"] == 0.5 and lineage["lesson"]["actor_loss"] == "kl"
        assert lineage["lesson"]["anneal_updates"] == 10  # 100 env steps at 10 env steps per gradient step
        assert lineage["env_steps_acting"] == student.num_timesteps  # DAgger style: the student acted
        obs = student.get_env().single_observation_space.sample()
        action, _ = student.predict(obs)
        assert action.shape == (2,) and np.all(np.abs(action) <= 1)
        student.learn(60, reset_num_timesteps=False)  # trains on by plain CRL (the buffer refilled first)
    finally:
        student.close()
    logged = (out / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/distill_actor", "train/distill_critic", "train/distill_scale", "train/critic_loss"} <= set(logged)
    summary = json.loads((out / "lesson.json").read_text())
    assert summary["students"][0]["depth"] == 4 and summary["command"][:2] == ["gcrl-depth", "distill"]
    assert main(argv) == 2 and "already holds a run" in capsys.readouterr().err


def test_distill_refuses_a_missing_foreign_or_newer_teacher_in_one_line(teacher_zip, tmp_path, capsys):
    assert main(["distill", str(tmp_path / "none.zip"), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "teacher" in error and "does not exist" in error and error.count("\n") == 1
    with pytest.raises(ValueError, match="trained on gcrl_depth/PointUMaze-v0; a student on gcrl_depth/PointBigMaze-v0"):
        distill(teacher_zip, 4, timesteps=100, env="gcrl_depth/PointBigMaze-v0")
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(teacher_zip) as source, zipfile.ZipFile(newer, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "metadata.json":
                data = json.dumps({**json.loads(data), "format_version": 99}).encode()
            target.writestr(item, data)
    assert main(["distill", str(newer), "--no-progress", "--log-dir", str(tmp_path / "s")]) == 2
    error = capsys.readouterr().err
    assert "upgrade gcrl_depth" in error and error.count("\n") == 1
    with pytest.raises(SystemExit):  # argparse's own refusal
        main(["distill", str(teacher_zip), "--acting", "nobody"])
    assert "invalid choice: 'nobody'" in capsys.readouterr().err
    assert main(["distill", str(teacher_zip), "--critic-weight", "-1", "--log-dir", str(tmp_path / "t"),
                 "--no-progress"]) == 2
    assert "critic_weight must be a finite number >= 0" in capsys.readouterr().err


def test_collect_learn_trains_a_learner_that_never_acts_beside_its_collector(tmp_path, capsys):
    out = tmp_path / "pair"
    assert main(["collect-learn", "PointUMaze", "--collector-depth", "8", "--learner-depth", "4", "--seeds", "0", "1",
                 "--timesteps", "120", "--epoch-timesteps", "40", "--eval-episodes", "2", "--preset", "tiny",
                 "--env-kwargs", json.dumps(SHORT), "--log-dir", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "lesson.json").read_text())
    for seed in (0, 1):
        learner = DeepCRL.load(out / "learner" / f"seed_{seed}" / "final_model.zip")
        collector = DeepCRL.load(out / "collector" / f"seed_{seed}" / "final_model.zip")
        try:
            assert (learner.config.depth, collector.config.depth) == (4, 8)
            assert learner.lineage["kind"] == "learner_on_collector_data" and learner.lineage["env_steps_acting"] == 0
            assert collector.lineage is None and learner.num_timesteps == collector.num_timesteps == 120
            # both evaluated after every epoch, on the same goals
            assert learner.evaluations.env_steps == collector.evaluations.env_steps == [80, 120]
        finally:
            learner.close()
            collector.close()
        for role in ("learner", "collector"):
            assert (out / role / f"seed_{seed}" / "curve.csv").exists()
    assert [row["seed"] for row in summary["learners"]] == [0, 1] and len(summary["collectors"]) == 2
    logged = (out / "learner" / "seed_0" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "peer/critic_loss" in logged and "train/critic_loss" in logged
    assert main(["collect-learn", "PointMaze_UMaze-v3", "--log-dir", str(tmp_path / "x")]) == 2
    assert "not one" in capsys.readouterr().err
