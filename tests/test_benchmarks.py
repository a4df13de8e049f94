"""Benchmark scripts run end to end on a tiny budget and write well-formed results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_env_throughput_writes_a_table(tmp_path):
    script = load_script("env_throughput")
    out = tmp_path / "throughput.md"
    script.main(["--envs", "PointUMaze", "--num-envs", "2", "--steps", "3", "--mujoco-steps", "10", "--use-cache", "--out", str(out)])
    text = out.read_text()
    assert "| env | mode | num_envs | compile s | env steps/s | physics steps/s |" in text
    rows = [line for line in text.splitlines() if line.startswith("| PointUMaze")]
    assert [row.split("|")[2].strip() for row in rows] == ["mujoco", "core", "gym"]
    for row in rows:
        assert float(row.split("|")[5].replace(",", "")) > 0
    assert "CPU:" in text and "jax" in text


def test_train_throughput_writes_a_table(tmp_path):
    script = load_script("train_throughput")
    out = tmp_path / "train.md"
    script.main(["--env", "PointUMaze", "--depths", "4", "8", "--width", "16", "--num-envs", "2", "--unroll-length", "4",
                 "--batch-size", "8", "--env-steps-per-update", "4", "--repeats", "1", "--use-cache", "--out", str(out)])
    text = out.read_text()
    assert "| depth | params | compile s | env steps/s | grad steps/s |" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 4 |") or line.startswith("| 8 |")]
    assert [int(r[0]) for r in rows] == [4, 8]
    params = [int(r[1].replace(",", "")) for r in rows]
    assert params[1] > params[0]
    for row in rows:
        assert float(row[3].replace(",", "")) > 0 and float(row[4].replace(",", "")) > 0
    assert "CPU:" in text and "jax" in text
