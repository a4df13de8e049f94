"""``gcrl-depth plot``: curves of run folders (a run set's seeds, or train folders pooled by label) as
the IQM over seeds with a 95% band; clear errors for folders without curves."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from gcrl_depth.cli.main import main
from gcrl_depth.rows import write_csv
from gcrl_depth.run_curves import folder_curves, pooled_band
from gcrl_depth.stats import iqm


def write_progress(folder, evaluations):
    """A progress.csv as the logger writes it: a row per epoch, eval/ cells where an evaluation ran."""
    folder.mkdir(parents=True)
    with open(folder / "progress.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time/total_timesteps", "train/critic_loss", "eval/time_at_goal"])
        for steps, value in evaluations:
            writer.writerow([steps, 1.0, "" if value is None else value])


def test_a_run_set_and_pooled_train_folders_draw_iqm_lines(tmp_path, capsys):
    scores = {0: [0, 100, 300], 1: [0, 200, 500], 2: [0, 50, 100], 3: [0, 150, 900]}
    for seed, values in scores.items():
        (tmp_path / "set" / f"seed_{seed}").mkdir(parents=True)
        write_csv([{"env_steps": 1000 * (i + 1), "time_at_goal": v, "success_rate": 0.0, "final_distance": 1.0}
                   for i, v in enumerate(values)], tmp_path / "set" / f"seed_{seed}" / "curve.csv")
    for seed in (0, 1):
        write_progress(tmp_path / f"train_s{seed}", [(1000, None), (2000, 10.0 * (seed + 1)), (3000, 20.0 * (seed + 1))])
    out = tmp_path / "fig.png"
    code = main(["plot", str(tmp_path / "set"), str(tmp_path / "train_s0"), str(tmp_path / "train_s1"),
                 "--labels", "depth 16", "depth 4", "depth 4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.stat().st_size > 1000
    final_iqm = iqm([300, 500, 100, 900])  # the middle two of four: (300 + 500) / 2
    assert f"| depth 16 | 4 | 3,000 | {final_iqm:.1f} |" in printed
    assert "| depth 4 | 2 | 3,000 | 30.0 |" in printed  # rows without an evaluation are skipped
    steps, center, low, high = pooled_band(folder_curves(tmp_path / "set"))
    assert steps == [1000, 2000, 3000] and center[0] == 0.0
    assert all(lo <= c <= hi for lo, c, hi in zip(low, center, high)) and high[-1] > low[-1]
    assert np.isclose(center[-1], final_iqm)


def test_folders_without_curves_or_shared_steps_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty")]) == 2
    assert "holds no evaluations: expected curve.csv or progress.csv" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    write_progress(tmp_path / "a", [(1000, 1.0)])
    write_progress(tmp_path / "b", [(2000, 1.0)])
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--labels", "x", "x"]) == 2
    assert "share no evaluation step" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "a"), "--labels", "x", "y"]) == 2
    assert "--labels needs one label per RUN_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path / "a"), "--metric", "reward"])
