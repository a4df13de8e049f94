"""Summaries of tidy run rows: the headline is the mean of each run's last 5 evaluations."""

from __future__ import annotations

import pytest

from gcrl_depth import reports
from gcrl_depth.rows import read_csv, write_csv


def curve(seed: int, values: list[float]) -> list[dict]:
    return [{"algo": "crl", "depth": 4, "width": 16, "env_id": "x", "seed": seed, "params": 10, "env_steps": 100 * (i + 1),
             "wall_s": float(i), "time_at_goal": v, "success_rate": v / 1000, "final_distance": 1.0} for i, v in enumerate(values)]


def test_headline_is_the_last_five_mean_and_the_final_evaluation_stays_beside_it():
    rows = curve(0, [0, 0, 10, 20, 30, 40, 50]) + curve(1, [0, 0, 0, 50, 50, 50, 50])
    runs = {r["seed"]: r for r in reports.run_results(reversed(rows))}  # order of rows does not matter
    assert runs[0]["time_at_goal"] == 30.0 and runs[0]["final_time_at_goal"] == 50.0
    assert runs[1]["time_at_goal"] == 40.0 and runs[0]["evaluations"] == 7 and runs[0]["env_steps"] == 700
    (summary,) = reports.summarize(rows, ("algo", "depth"))
    assert summary["seeds"] == 2 and summary["time_at_goal"] == 35.0 and summary["time_at_goal_se"] == pytest.approx(5.0)
    assert summary["final_time_at_goal"] == 50.0 and summary["final_time_at_goal_se"] == 0.0
    table = reports.markdown_table([summary], ("algo", "depth"))
    assert "time at goal (last 5)" in table[0] and "| crl | 4 | 2 | 10 | 700 | 6 | 35.0 ± 5.0 | 50.0 ± 0.0 |" in table[2]


def test_csv_round_trip_is_atomic_and_typed(tmp_path):
    rows = curve(3, [1.5, 2.5])
    path = write_csv(rows, tmp_path / "sub" / "curves.csv")
    assert read_csv(path) == rows
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["curves.csv"]  # no temporary file left


def test_tables_give_interval_estimates_beside_the_mean():
    rows = [dict(row, env_id=task, depth=depth) for task in ("a", "b") for depth, level in ((4, 10), (64, 100))
            for seed in range(4) for row in curve(seed, [level + seed] * 5)]
    (summary, *_) = reports.summarize(rows, ("env_id", "depth"))
    assert summary["time_at_goal_iqm"] == pytest.approx(11.5)  # seeds 0..3 at 10 + seed: the middle two
    assert summary["time_at_goal_iqm_low"] <= 11.5 <= summary["time_at_goal_iqm_high"]
    assert reports.markdown_table([summary], ("env_id", "depth"))[2].endswith(
        f"| 11.5 [{summary['time_at_goal_iqm_low']:.1f}, {summary['time_at_goal_iqm_high']:.1f}] |")
    header, _, shallow, deep = reports.interval_table(rows)
    assert "IQM time at goal [95% CI]" in header and "P(beats depth 4)" in header
    assert shallow.startswith("| 4 | 2 | 8 | 11.5 [") and shallow.endswith("| - |")
    assert deep.startswith("| 64 | 2 | 8 | 101.5 [") and deep.endswith("| 1.00 [1.00, 1.00] |")  # every deep run wins
