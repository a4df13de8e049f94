"""benchmarks/gpu_suite.py at toy sizes on the CPU (its --smoke): every part, rows that add up, failures kept."""

from __future__ import annotations

import csv

from benchmark_scripts import load_script


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_smoke_measures_every_part_and_parts_add_up(tmp_path):
    suite = load_script("gpu_suite")
    suite.main(["--smoke", "--parts", "env", "train", "--knobs", "scan_unroll=2", "--out", str(tmp_path)])
    env = rows(tmp_path / "env.csv")
    assert [(r["task"], int(r["num_envs"]), r["status"]) for r in env] == [("PointUMaze", 4, "ok"), ("PointUMaze", 16, "ok")]
    assert all(float(r["env_steps_per_s"]) > 0 and float(r["compile_s"]) > 0 and r["device"] for r in env)
    train = rows(tmp_path / "train.csv")
    assert [(int(r["depth"]), r["variant"], r["status"]) for r in train] == [(4, "default", "ok"), (4, "scan_unroll=2", "ok")]
    assert int(train[0]["params"]) == int(train[1]["params"])  # a knob leaves the parameters as they are
    assert all(float(r["env_steps_per_s"]) > 0 and float(r["grad_steps_per_s"]) > 0 for r in train)

    suite.main(["--smoke", "--parts", "learn", "--out", str(tmp_path)])  # a later call adds the learning run
    report = (tmp_path / "suite.md").read_text()
    for heading in ("## Env throughput", "## Training throughput", "## Learning run"):
        assert heading in report
    assert "| PointUMaze | 4 | 4 | default |" in report and "| PointUMaze | 120 (-) |" in report
    assert len((tmp_path / "commands.txt").read_text().splitlines()) == 2
    assert (tmp_path / "learning" / "curves.csv").exists()
    assert (tmp_path / "suite.png").read_bytes()[:4] == b"\x89PNG"

    (tmp_path / "suite.md").unlink()
    suite.main(["--report-only", "--out", str(tmp_path)])  # the report from the stored rows alone
    assert (tmp_path / "suite.md").read_text().count("| PointUMaze |") == report.count("| PointUMaze |")


def test_a_failed_or_slow_row_is_recorded_and_replaced_by_its_remeasure(tmp_path):
    suite = load_script("gpu_suite")
    args = suite.parse_args(["--smoke", "--row-timeout", "60"])
    failed = suite.run_row({"part": "env", "task": "NoSuchTask", "num_envs": 4, "steps": 2}, args)
    assert failed["status"].startswith("failed: ") and "NoSuchTask" in failed["status"]
    slow = suite.run_row({"part": "env", "task": "PointUMaze", "num_envs": 4, "steps": 2},
                         suite.parse_args(["--smoke", "--row-timeout", "0.5"]))
    assert slow["status"] == "timeout after 0.5 s"
    path = tmp_path / "env.csv"
    suite.add_row(path, "env", failed | {"task": "PointUMaze"})
    suite.add_row(path, "env", {"task": "PointUMaze", "num_envs": 4, "steps": 2, "compile_s": 1.5,
                                "env_steps_per_s": 10.0, "device": "cpu", "status": "ok"})
    assert [(r["task"], r["status"]) for r in rows(path)] == [("PointUMaze", "ok")]
