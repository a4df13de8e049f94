"""gcrl-depth train --seeds: several seeds as one run set, a folder per seed; the flags of one seed, and bad input."""

from __future__ import annotations

import json

import pytest

from gcrl_depth.cli.main import main
from gcrl_depth.cli.train_seeds import prepare

TINY = ["--preset", "tiny", "--env-kwargs", '{"episode_length": 12}', "--eval-episodes", "2", "--no-progress"]


def test_seeds_train_as_one_set_into_a_folder_each(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "PointUMaze", "--seeds", "0", "1", "--timesteps", "120", "--epoch-timesteps", "40",
            "--save-every", "40", "--log-dir", str(run), *TINY]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 0: 2 evaluations" in out and "seed 1: 2 evaluations" in out
    for seed in (0, 1):
        member = run / f"seed_{seed}"
        assert (member / "final_model.zip").exists() and (member / "best" / "best_model.zip").exists()
        assert (member / "progress.csv").read_text().count("\n") == 3  # header + evaluations at 80 and 120
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["settings"]["seeds"] == [0, 1] and meta["settings"]["eval_env"] == "gcrl_depth/PointUMazeEval-v0"
    assert not (run / "checkpoints").exists()  # a finished set keeps its models, not its checkpoints

    assert main(argv) == 2 and "already holds a run" in capsys.readouterr().err  # refused, nothing touched
    assert main([*argv, "--resume"]) == 2 and "holds no checkpoint of a run set" in capsys.readouterr().err
    assert (run / "seed_1" / "final_model.zip").exists()
    prepare(run, overwrite=True, resume=False)  # what --overwrite does before training: the old run is gone
    assert not run.exists()


@pytest.mark.parametrize("flags, words", [
    (["--seeds", "0", "0"], ["--seeds must be distinct non-negative integers", "0 0"]),
    (["--seeds", "1", "-2"], ["--seeds must be distinct non-negative integers"]),
    (["--seeds", "0", "1", "--seed", "3"], ["--seed and --seeds exclude each other"]),
    (["--seeds", "0", "1", "--eval-episodes", "0"], ["--eval-episodes of at least 1"]),
])
def test_bad_seeds_are_one_line_naming_the_flag(tmp_path, capsys, flags, words):
    assert main(["train", "PointUMaze", "--log-dir", str(tmp_path / "run"), *TINY, *flags]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and all(word in error for word in words), error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seeds", [[], ["--seeds", "0", "1"]])
def test_data_parallel_reaches_the_agent(tmp_path, capsys, seeds):
    # one CPU device here: the agent itself refuses to split a run over two (tests/crl/engine/test_devices.py trains
    # one run, and a run set of runs split over devices)
    assert main(["train", "PointUMaze", "--log-dir", str(tmp_path / "run"), *TINY, *seeds, "--data-parallel", "2"]) == 2
    error = capsys.readouterr().err
    assert "data parallel over 2 devices, but only 1 are visible" in error and error.count("\n") == 1, error
    assert not (tmp_path / "run").exists()

