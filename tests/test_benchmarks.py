"""Benchmark scripts run end to end on a tiny budget and write well-formed results."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

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
    assert "(0.05 s = 2 frames for PointUMaze)" in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


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


TINY_CRL = ["num_envs=4", "unroll_length=5", "width=16", "repr_dim=8", "batch_size=8", "env_steps_per_update=10",
            "buffer_size=64", "prefill_steps=10"]


def test_compare_baselines_writes_tidy_csv_table_and_plots(tmp_path):
    script = load_script("compare_baselines")
    script.main(["--algos", "crl", "sac", "--depths", "4", "--timesteps", "200", "--eval-every", "100", "--eval-episodes", "2",
                 "--episode-length", "20", "--baseline-width", "16", "--config", *TINY_CRL, "--out", str(tmp_path)])
    with open(tmp_path / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:9] == ["algo", "depth", "width", "env_id", "seed", "env_steps", "wall_s", "time_at_goal", "success_rate"]
    assert {r["algo"] for r in rows} == {"crl", "sac"}
    assert [int(r["env_steps"]) for r in rows if r["algo"] == "sac"] == [100, 200]
    assert [int(r["env_steps"]) for r in rows if r["algo"] == "crl"] == [140, 200]  # prefill 40, iterations of 20
    for row in rows:
        assert 0 <= float(row["time_at_goal"]) <= 20 and float(row["wall_s"]) > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| gcrl_depth/PointUMaze-v0 | crl | 4 | 1 |" in summary and "| gcrl_depth/PointUMaze-v0 | sac | 2 | 1 |" in summary
    for name in ("PointUMaze_steps.png", "PointUMaze_wall.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_depth_sweep_writes_csv_table_and_plots(tmp_path):
    script = load_script("depth_sweep")
    script.main(["--depths", "4", "8", "--widths", "8", "--seeds", "0", "1", "--timesteps", "80", "--eval-every", "40",
                 "--eval-episodes", "2", "--episode-length", "20", "--config", *TINY_CRL, "--out", str(tmp_path)])
    with open(tmp_path / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["series"], r["value"], r["seed"]) for r in rows} == {
        (s, v, seed) for s, v in (("depth", "4"), ("depth", "8"), ("width", "8")) for seed in ("0", "1")}
    summary = (tmp_path / "summary.md").read_text()
    assert "| depth | 8 | 2 |" in summary and "| width | 8 | 2 |" in summary
    for name in ("depth.png", "width_vs_depth.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_depth_sweep_series_and_bad_pairs():
    script = load_script("depth_sweep")
    args = script.parse_args(["--depths", "4", "16", "--batch-sizes", "64", "--actor-critic", "4:16", "--base-depth", "8"])
    assert script.configurations(args) == [
        ("depth", "4", {"depth": 4}), ("depth", "16", {"depth": 16}), ("batch_size", "64", {"depth": 8, "batch_size": 64}),
        ("actor:critic", "4:16", {"depth": 8, "actor_depth": 4, "critic_depth": 16})]
    with pytest.raises(SystemExit):
        script.parse_args(["--actor-critic", "4-16"])
