"""Summaries of tidy run rows: the headline is the mean of each run's last 5 evaluations."""

from __future__ import annotations

import pytest

from gcrl_depth import experiments


def curve(seed: int, values: list[float]) -> list[dict]:
    return [{"algo": "crl", "depth": 4, "width": 16, "env_id": "x", "seed": seed, "params": 10, "env_steps": 100 * (i + 1),
             "wall_s": float(i), "time_at_goal": v, "success_rate": v / 1000, "final_distance": 1.0} for i, v in enumerate(values)]


def test_headline_is_the_last_five_mean_and_the_final_evaluation_stays_beside_it():
    rows = curve(0, [0, 0, 10, 20, 30, 40, 50]) + curve(1, [0, 0, 0, 50, 50, 50, 50])
    runs = {r["seed"]: r for r in experiments.run_results(reversed(rows))}  # order of rows does not matter
    assert runs[0]["time_at_goal"] == 30.0 and runs[0]["final_time_at_goal"] == 50.0
    assert runs[1]["time_at_goal"] == 40.0 and runs[0]["evaluations"] == 7 and runs[0]["env_steps"] == 700
    (summary,) = experiments.summarize(rows, ("algo", "depth"))
    assert summary["seeds"] == 2 and summary["time_at_goal"] == 35.0 and summary["time_at_goal_se"] == pytest.approx(5.0)
    assert summary["final_time_at_goal"] == 50.0 and summary["final_time_at_goal_se"] == 0.0
    table = experiments.markdown_table([summary], ("algo", "depth"))
    assert "time at goal (last 5)" in table[0] and "| crl | 4 | 2 | 10 | 700 | 6 | 35.0 ± 5.0 | 50.0 ± 0.0 |" in table[2]


def test_csv_round_trip_is_atomic_and_typed(tmp_path):
    rows = curve(3, [1.5, 2.5])
    path = experiments.write_csv(rows, tmp_path / "sub" / "curves.csv")
    assert experiments.read_csv(path) == rows
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["curves.csv"]  # no temporary file left
