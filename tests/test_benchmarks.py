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
