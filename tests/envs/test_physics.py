"""The physics choice reachable everywhere and recorded: ``--physics`` on every command that builds
gcrl_depth envs, ``"physics"`` in checkpoints, state stores and run folders, and a warning when a
model runs on other physics than it was trained on.

One tiny spring agent (Ant, never trained: building and saving it compiles no spring program)."""

from __future__ import annotations

import json
import sys
import types
import warnings
import zipfile

import gymnasium as gym
import numpy as np
import pytest

import benchmarks
from benchmarks import gpu_suite
from gcrl_depth import DeepCRL
from gcrl_depth.campaigns import reproduce
from gcrl_depth.cli.config_flags import PHYSICS_CHOICES, with_physics
from gcrl_depth.cli.main import build_parser, main
from gcrl_depth.crl.engine.config import PRESETS

TINY = PRESETS["tiny"]
ANT = "gcrl_depth/Ant-v0"
OTHER_PHYSICS = r"model trained on '(\w+)' physics, env runs '(\w+)': the policy runs, but its numbers are not comparable"


def ant_envs(physics: str | None = None):
    return gym.make_vec(ANT, num_envs=TINY["num_envs"], episode_length=12, **({} if physics is None else {"physics": physics}))


def physics_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "physics" in str(w.message)]


def test_the_flag_offers_the_envs_physics():
    from gcrl_depth.envs.physics import PHYSICS

    assert PHYSICS_CHOICES == PHYSICS


CAMPAIGNS = ("reproduce", "sweep", "compare", "evidence")


def test_every_command_takes_physics_and_refuses_an_unknown_one(capsys):
    commands = [["train", "Ant"], ["eval", "m.zip"], ["enjoy", "m.zip"], ["stitching", "AntUMaze"], *([c] for c in CAMPAIGNS)]
    for command in commands:
        assert build_parser().parse_args([*command, "--physics", "spring"]).physics == "spring"
        assert build_parser().parse_args(command).physics is None  # not given: the env's own
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args([*command, "--physics", "brax"])
        error = capsys.readouterr().err
        assert stop.value.code == 2 and "argument --physics: invalid choice: 'brax'" in error, error
        assert "'mjx', 'spring'" in error, error
    args = gpu_suite.parse_args(["--evidence-physics", "spring"])
    assert args.evidence_physics == "spring"
    with pytest.raises(SystemExit):
        gpu_suite.parse_args(["--evidence-physics", "brax"])
    assert "invalid choice: 'brax'" in capsys.readouterr().err


def test_the_gpu_suite_passes_the_evidence_physics_on(monkeypatch, tmp_path):
    given: list[list[str]] = []
    fake = types.SimpleNamespace(main=given.append)
    monkeypatch.setitem(sys.modules, "benchmarks.depth_evidence", fake)
    monkeypatch.setattr(benchmarks, "depth_evidence", fake, raising=False)
    gpu_suite.run_evidence(gpu_suite.parse_args(["--out", str(tmp_path), "--evidence-physics", "spring"]))
    gpu_suite.run_evidence(gpu_suite.parse_args(["--out", str(tmp_path)]))
    assert given[0][given[0].index("--physics") + 1] == "spring" and "--physics" not in given[1]
    smoke = gpu_suite.parse_args(["--smoke", "--evidence-physics", "spring"])
    assert smoke.evidence_task == "Ant"  # the smoke size's point maze has no spring physics


def test_physics_merges_into_the_env_options_or_is_refused_in_one_line():
    assert with_physics("Ant", {"episode_length": 5}, "spring") == {"episode_length": 5, "physics": "spring"}
    assert with_physics("gcrl_depth/PointUMaze-v0", {}, "mjx") == {"physics": "mjx"}
    assert with_physics("gymnasium_robotics:PointMaze_UMaze-v3", {"x": 1}, None) == {"x": 1}  # not given: nothing added
    refused = [(("gymnasium_robotics:PointMaze_UMaze-v3", {}, "mjx"), "is not a gcrl_depth env"),
               (("PointUMaze", {}, "spring"), "PointUMaze runs on MJX only"),
               (("Ant", {"physics": "mjx"}, "spring"), "disagree"),
               (("Ant", {}, "brax"), r"must be one of \['mjx', 'spring'\]")]
    for args, words in refused:
        with pytest.raises(ValueError, match=words):
            with_physics(*args)


def test_the_scripts_resolve_physics_into_the_task_options():
    from gcrl_depth import experiments

    assert experiments.resolve_env("AntBigMaze", "eval", 200, "spring") == (
        "gcrl_depth/AntBigMaze-v0", "gcrl_depth/AntBigMazeEval-v0", {"episode_length": 200, "physics": "spring"})
    assert experiments.resolve_env("AntBigMaze")[2] == {}
    for names in (["AntUMaze", "PointUMaze"], ["gymnasium_robotics:PointMaze_UMaze-v3"]):
        with pytest.raises(SystemExit, match="--physics spring"):  # every env checked before the first run
            experiments.resolve_envs(names, physics="spring")
    runs = {physics: reproduce.run_settings("AntU4Maze", 4, build_parser().parse_args(
                ["reproduce"] + ([] if physics is None else ["--physics", physics])), {})
            for physics in (None, "mjx", "spring")}
    assert "physics" not in runs[None] and runs["mjx"] == runs[None]  # runs stored before --physics ran on MJX
    assert runs["spring"]["physics"] == "spring"  # never reused for a spring table


def test_train_puts_physics_in_the_env_options_and_records_it(tmp_path, monkeypatch):
    from gcrl_depth.cli import train

    def save_untrained(model, args, log_dir, fresh=True):  # what is recorded, without a training compile
        path = model.save(log_dir / "final_model.zip")
        model.close()
        return path, False

    monkeypatch.setattr(train, "train_and_save", save_untrained)
    run = tmp_path / "run"
    assert main(["train", "PointUMaze", "--physics", "mjx", "--env-kwargs", '{"episode_length": 12}', "--timesteps", "60",
                 "--eval-episodes", "0", "--log-dir", str(run), "--no-progress", "--depth", "4", "--preset", "tiny"]) == 0
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["physics"] == "mjx" and meta["settings"]["env_kwargs"] == {"episode_length": 12, "physics": "mjx"}
    with zipfile.ZipFile(run / "final_model.zip") as archive:
        saved = json.loads(archive.read("metadata.json"))
    assert saved["physics"] == "mjx" and saved["task_kwargs"] == {"episode_length": 12, "physics": "mjx"}


def test_train_refuses_physics_it_cannot_honour_before_writing_anything(tmp_path, capsys):
    cases = [(["gymnasium_robotics:PointMaze_UMaze-v3", "--physics", "mjx"], "is not a gcrl_depth env"),
             (["PointUMaze", "--physics", "spring"], "PointUMaze runs on MJX only"),
             (["Ant", "--physics", "spring", "--env-kwargs", '{"physics": "mjx"}'], "disagree")]
    for argv, words in cases:
        assert main(["train", *argv, "--log-dir", str(tmp_path / "run"), "--no-progress", "--preset", "tiny"]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "--physics" in error and words in error, error
    assert not (tmp_path / "run").exists()


def test_run_folders_record_the_physics_of_their_start_and_of_each_resume(tmp_path):
    from gcrl_depth.machine import write_run_metadata

    write_run_metadata(tmp_path, {}, {"env_kwargs": {}}, physics="spring")
    write_run_metadata(tmp_path, {}, {"env_kwargs": {}}, physics="mjx")
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["physics"] == "spring" and [r["physics"] for r in meta["resumed"]] == ["mjx"]


@pytest.fixture(scope="module")
def spring_model(tmp_path_factory):
    """A tiny Ant agent on spring physics, saved (never trained: nothing of spring compiles)."""
    model = DeepCRL(ant_envs("spring"), depth=4, eval_episodes=0, verbose=0, **TINY)
    path = model.save(tmp_path_factory.mktemp("spring") / "model.zip")
    return model, path


def test_a_checkpoint_records_its_physics_and_loads_onto_it_without_a_warning(spring_model):
    _, path = spring_model
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["physics"] == "spring" and meta["task_kwargs"]["physics"] == "spring"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = DeepCRL.load(path, verbose=0)  # the saved env: spring again
    assert loaded.core.physics == "spring" and not physics_warnings(caught)
    loaded.close()


def test_loading_onto_other_physics_warns_and_still_runs(spring_model):
    model, path = spring_model
    envs = ant_envs()
    with pytest.warns(UserWarning, match=OTHER_PHYSICS) as caught:
        loaded = DeepCRL.load(path, env=envs, verbose=0)
    (warning,) = [w for w in caught if "physics" in str(w.message)]
    assert "'spring' physics, env runs 'mjx'" in str(warning.message) and str(path) in str(warning.message)
    assert warning.filename == __file__  # pointed at the caller of load
    obs = envs.single_observation_space.sample()
    action = loaded.predict(obs)[0]
    np.testing.assert_array_equal(action, model.predict(obs)[0])  # the same policy, on the other physics
    loaded.close()
    envs.close()


def test_a_state_store_records_the_physics_and_warns_on_other_physics(spring_model, tmp_path):
    from gcrl_depth.crl.checkpoints.state_store import StateStore, open_checkpoint
    from gcrl_depth.crl.training.persistence import save_state

    model, _ = spring_model
    store = StateStore(tmp_path / "checkpoints")
    save_state(model, store, include_buffer=False)
    store.close()
    assert open_checkpoint(tmp_path / "checkpoints").meta["physics"] == "spring"
    envs = ant_envs()
    with pytest.warns(UserWarning, match=OTHER_PHYSICS):
        DeepCRL.load(tmp_path / "checkpoints", env=envs, verbose=0).close()
    envs.close()


def test_a_checkpoint_saved_before_physics_were_recorded_counts_as_mjx(spring_model, tmp_path):
    _, path = spring_model
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "metadata.json":
                meta = json.loads(data)
                del meta["physics"]
                meta["task_kwargs"].pop("physics")
                data = json.dumps(meta).encode()
            target.writestr(name, data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = DeepCRL.load(old, verbose=0)
    assert loaded.core.physics == "mjx" and not physics_warnings(caught)
    loaded.close()
    envs = ant_envs("spring")
    with pytest.warns(UserWarning, match="'mjx' physics, env runs 'spring'"):
        DeepCRL.load(old, env=envs, verbose=0).close()
    envs.close()


def test_eval_and_enjoy_run_a_model_on_the_physics_asked_for_with_a_warning(spring_model):
    from gcrl_depth.cli.evaluate import model_env

    _, path = spring_model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model_env(path, "train", {}) == (ANT, {"episode_length": 12, "physics": "spring"})  # the saved physics
    assert not physics_warnings(caught)
    with pytest.warns(UserWarning, match="'spring' physics, env runs 'mjx'"):
        assert model_env(path, "train", {}, "mjx") == (ANT, {"episode_length": 12, "physics": "mjx"})
    args = build_parser().parse_args(["eval", path, "--physics", "mjx", "--env-kwargs", '{"physics": "spring"}'])
    with pytest.raises(ValueError, match="disagree"):
        model_env(args.model, args.eval_goals, args.env_kwargs, args.physics)


def test_a_run_set_records_the_physics_and_warns_on_resuming_onto_other_physics(tmp_path):
    from gcrl_depth.crl.checkpoints.state_store import StateStore, open_checkpoint
    from gcrl_depth.crl.training.run_set import RunSet

    spring_envs, mjx_envs = ant_envs("spring"), ant_envs()
    spring, mjx = (RunSet(envs, depth=4, seeds=[0], eval_episodes=0, **TINY) for envs in (spring_envs, mjx_envs))
    store = StateStore(tmp_path / "checkpoints")
    spring.save_state(store, include_buffer=False)
    store.close()
    meta = open_checkpoint(tmp_path / "checkpoints").meta
    assert meta["physics"] == "spring" and meta["members"][0]["physics"] == "spring"
    with pytest.warns(UserWarning, match="'spring' physics, env runs 'mjx'"):
        mjx.resume(tmp_path / "checkpoints")
    for opened in (spring, mjx, spring_envs, mjx_envs):
        opened.close()
