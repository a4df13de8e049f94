"""Benchmark scripts run end to end on a tiny budget and write well-formed results."""

from __future__ import annotations

import csv
import json

import pytest

from benchmarks import (
    demo_seeds,
    env_dynamics,
    env_throughput,
    fused_tower_accuracy,
    gpu_suite,
    host_throughput,
    input_battery,
    interval_estimates,
    table_figures,
    train_throughput,
)
from gcrl_depth.crl.engine.config import PRESETS


def test_env_throughput_writes_a_table(tmp_path):
    out = tmp_path / "throughput.md"
    env_throughput.main(["--envs", "PointUMaze", "--num-envs", "2", "--steps", "3", "--mujoco-steps", "10", "--use-cache", "--out", str(out)])
    text = out.read_text()
    assert "| env | mode | num_envs | compile s | env steps/s | physics steps/s |" in text
    rows = [line for line in text.splitlines() if line.startswith("| PointUMaze")]
    assert [row.split("|")[2].strip() for row in rows] == ["mujoco", "core", "gym"]
    for row in rows:
        assert float(row.split("|")[5].replace(",", "")) > 0
    assert "CPU:" in text and "jax" in text
    assert "(0.05 s = 2 frames for PointUMaze)" in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    env_throughput.main(["--envs", "Ant", "--physics", "spring", "--num-envs", "2", "--steps", "2", "--mujoco-steps", "10",
                 "--skip-gym", "--use-cache", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| Ant")]
    assert [row.split("|")[2].strip() for row in rows] == ["mujoco", "core spring"]
    assert "0.05 s = 10 frames for Ant" in out.read_text()  # the spring pipeline's 10 x 0.005 s


def test_train_throughput_writes_a_table(tmp_path):
    out = tmp_path / "train.md"
    train_throughput.main(["--env", "PointUMaze", "--depths", "4", "--width", "16", "--num-envs", "2", "--unroll-length", "4",
                 "--batch-size", "8", "--env-steps-per-update", "4", "--repeats", "1", "--use-cache", "--out", str(out),
                 "--variants", "default", "scan_unroll=2,compute_dtype=bfloat16"])
    text = out.read_text()
    assert "| depth | variant | params | compile s | env steps/s | grad steps/s |" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 4 |")]
    assert [(int(r[0]), r[1].strip()) for r in rows] == [(4, "default"), (4, "scan_unroll=2,compute_dtype=bfloat16")]
    params = [int(r[2].replace(",", "")) for r in rows]
    assert params[0] == params[1] > 0  # the knobs leave the parameters as they are (growth with depth: test_crl_networks)
    for row in rows:
        assert float(row[4].replace(",", "")) > 0 and float(row[5].replace(",", "")) > 0
    assert "CPU:" in text and "jax" in text


def csv_rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_gpu_suite_smoke_measures_every_part_and_parts_add_up(tmp_path):
    # the programs of test_env_throughput / test_train_throughput above: the cache shares them
    gpu_suite.main(["--smoke", "--use-cache", "--parts", "env", "train", "--knobs", "scan_unroll=2,compute_dtype=bfloat16",
                "--out", str(tmp_path)])
    env = csv_rows(tmp_path / "env.csv")
    assert [(r["task"], int(r["num_envs"]), r["status"]) for r in env] == [("PointUMaze", 2, "ok")]
    assert all(float(r["env_steps_per_s"]) > 0 and float(r["compile_s"]) > 0 and r["device"] for r in env)
    train = csv_rows(tmp_path / "train.csv")
    assert [(int(r["depth"]), r["variant"], r["status"]) for r in train] == [
        (4, "default", "ok"), (4, "scan_unroll=2,compute_dtype=bfloat16", "ok")]
    assert int(train[0]["params"]) == int(train[1]["params"])  # a knob leaves the parameters as they are
    assert all(float(r["env_steps_per_s"]) > 0 and float(r["grad_steps_per_s"]) > 0 for r in train)

    gpu_suite.main(["--smoke", "--use-cache", "--out", str(tmp_path)])  # a later call adds the default parts: speed, evidence
    speed = csv_rows(tmp_path / "speed.csv")
    assert [(int(r["depth"]), r["variant"], int(r["runs"]), r["status"]) for r in speed] == [
        (4, "default", 1, "ok"), (4, "tower_kernel=pallas", 2, "ok")]
    assert len({r["params"] for r in speed}) == 1  # the fused kernels train the same parameters
    for r in speed:
        assert float(r["ms_per_grad_step"]) > 0 and float(r["floor_ms"]) > 0 and int(r["kernels_per_grad_step"]) > 0
    assert float(speed[1]["ms_per_grad_step_per_seed"]) == pytest.approx(float(speed[1]["ms_per_grad_step"]) / 2, rel=1e-4)
    evidence = csv_rows(tmp_path / "evidence" / "curves.csv")
    assert {(int(r["depth"]), int(r["seed"])) for r in evidence} == {(4, 0), (4, 1)}
    assert {int(r["env_steps"]) for r in evidence} == {80, 120}  # prefill 40, then an evaluation every 40
    report = (tmp_path / "suite.md").read_text()
    for heading in ("## Gradient step alone", "## Depth evidence", "## Env throughput", "## Training throughput"):
        assert heading in report
    assert "| PointUMaze | 4 | 4 | default |" in report and "| 4 | tower_kernel=pallas | 2 |" in report
    assert "| 4 | 2 | 120 |" in report  # depth 4: 2 seeds, 120 env steps each
    assert len((tmp_path / "commands.txt").read_text().splitlines()) == 2
    for picture in ("suite.png", "evidence/evidence.png"):
        assert (tmp_path / picture).read_bytes()[:4] == b"\x89PNG"

    (tmp_path / "suite.md").unlink()
    gpu_suite.main(["--report-only", "--out", str(tmp_path)])  # the report from the stored rows alone
    assert (tmp_path / "suite.md").read_text().count("| PointUMaze |") == report.count("| PointUMaze |")


def test_gpu_suite_speed_part_starts_no_row_once_its_time_is_spent(tmp_path, capsys):
    gpu_suite.main(["--smoke", "--parts", "speed", "--speed-seconds", "0", "--out", str(tmp_path)])
    assert not (tmp_path / "speed.csv").exists()
    assert capsys.readouterr().out.count("time spent") == len(gpu_suite.SMOKE_SPEED_ROWS)


def test_gpu_suite_env_part_measures_both_physics_where_a_task_has_them():
    rows = gpu_suite.planned_rows(gpu_suite.parse_args(["--parts", "env", "--env-sizes", "512"]), "env")
    assert [(r["task"], r["physics"]) for r in rows] == [
        ("PointUMaze", "mjx"), ("AntBigMaze", "mjx"), ("AntBigMaze", "spring"), ("Humanoid", "mjx"), ("Humanoid", "spring"),
        ("ArmPushEasy", "mjx")]
    assert gpu_suite.row_key("env", {"task": "Ant", "num_envs": "8"}) == ("Ant", "mjx", 8)  # rows of before physics: MJX


def test_gpu_suite_records_a_failed_or_slow_row_and_replaces_it_when_remeasured(tmp_path):
    args = gpu_suite.parse_args(["--smoke", "--row-timeout", "60"])
    failed = gpu_suite.run_row({"part": "env", "task": "NoSuchTask", "num_envs": 4, "steps": 2}, args)
    assert failed["status"].startswith("failed: ") and "NoSuchTask" in failed["status"]
    slow = gpu_suite.run_row({"part": "env", "task": "PointUMaze", "num_envs": 4, "steps": 2},
                         gpu_suite.parse_args(["--smoke", "--row-timeout", "0.5"]))
    assert slow["status"] == "timeout after 0.5 s"
    path = tmp_path / "env.csv"
    gpu_suite.add_row(path, "env", failed | {"task": "PointUMaze"})
    gpu_suite.add_row(path, "env", {"task": "PointUMaze", "num_envs": 4, "steps": 2, "compile_s": 1.5,
                                "env_steps_per_s": 10.0, "device": "cpu", "status": "ok"})
    assert [(r["task"], r["status"]) for r in csv_rows(path)] == [("PointUMaze", "ok")]


TINY_CRL = ["--preset", "tiny"]


def test_host_throughput_compares_the_two_paths(tmp_path):
    out = tmp_path / "host.md"
    host_throughput.main(["--pairs", "gymnasium_robotics:PointMaze_UMaze-v3=PointUMaze", "--iterations", "1", "--repeats", "1",
                 *TINY_CRL, "--out", str(out)])
    text = out.read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if "| host |" in line or "| device |" in line]
    assert [(r[0].strip(), r[1].strip(), r[2].strip()) for r in rows] == [
        ("gymnasium_robotics:PointMaze_UMaze-v3", "host", "4/2/2"), ("PointUMaze", "device", "4/2/2")]
    for row in rows:
        assert float(row[3].replace(",", "")) > 0 and float(row[4].replace(",", "")) > 0 and float(row[5].replace(",", "")) > 0
    assert float(rows[0][6].replace(",", "")) > 0 and rows[1][6].strip() == "-"  # env-only rate: host path only
    assert "CPU:" in text and out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_env_dynamics_writes_tables_and_survival_chart(tmp_path):
    out = tmp_path / "dynamics.md"
    env_dynamics.main(["--envs", "Ant", "--num-envs", "3", "--steps", "12", "--physics", "mjx", "spring", "--out", str(out)])
    text = out.read_text()
    for physics in ("mjx", "spring"):
        row = next(line for line in text.splitlines() if line.startswith(f"| Ant | {physics} | 0.05 |"))
        assert "/3)" in row  # terminated out of 3 episodes
        zero = next(line for line in text.splitlines() if line.startswith(f"| Ant | {physics} | 0/3 |"))
        assert zero.startswith(f"| Ant | {physics} | 0/3 | 12 (12-12) | 0.60 s | 0.")  # a passive ant stands (short episode)
        summary = next(line for line in text.splitlines() if line.startswith(f"| Ant | {physics} | 0% |"))
        assert "| 0.60 | never | no: " in summary and summary.endswith("random time |")  # 12 steps, not the paper's 39.5 s
    assert "The paper's envs" in text and "38% (6 low, 18 high)" in text
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="free-floating root"):
        env_dynamics.main(["--envs", "PointUMaze", "--out", str(out)])


def test_input_battery_counts_outcomes_and_compares_with_before(tmp_path):
    input_battery.main(["--cases", "learn(0)", "predict(NaN observation)", "--label", "before", "--out", str(tmp_path / "b")])
    before = json.loads((tmp_path / "b.json").read_text())
    assert [r["case"] for r in before["rows"]] == ["learn(0)", "predict(NaN observation)"]
    assert {r["outcome"] for r in before["rows"]} == {"clear error"}
    input_battery.main(["--cases", "learn(0)", "--before", str(tmp_path / "b.json"), "--out", str(tmp_path / "a")])
    text = (tmp_path / "a.md").read_text()
    assert "| clear error | 2 | 1 |" in text and "| **all** | 2 | 1 |" in text and "CPU:" in text
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_fused_tower_accuracy_measures_every_gradient_and_lowers_for_cuda():
    errors = fused_tower_accuracy.errors(64, 4, 5, "float32")
    assert len(errors) == len(fused_tower_accuracy.NAMES) and max(errors) < 1e-5
    assert fused_tower_accuracy.lowering_seconds(64, 4, "bfloat16") > 0


def test_interval_estimates_of_committed_results(tmp_path):
    results = interval_estimates.RESULTS_DIR
    out = interval_estimates.main(["--folders", str(results / "stitching_cpu"), str(results / "compare_baselines_pointmaze_cpu"),
                       "--out", str(tmp_path / "intervals.md")])
    text = out.read_text()
    assert "| depth | tasks | runs | IQM time at goal [95% CI] | P(beats depth 4) [95% CI] |" in text
    assert "| agent | tasks | runs | IQM time at goal [95% CI] | P(beats agent sac d2) [95% CI] |" in text
    for picture in ("stitching_cpu", "compare_baselines_pointmaze_cpu", "profile"):  # the interval plots and the profile
        assert f"(intervals/{picture}.png)" in text and (tmp_path / "intervals" / f"{picture}.png").read_bytes()[:4] == b"\x89PNG"
    assert "| depth | runs | P(score > 0.1) | P(score > 0.2) | P(score > 0.3) | P(score > 0.5) |" in text
    with pytest.raises(SystemExit, match="no such file"):
        interval_estimates.main(["--folders", str(tmp_path), "--out", str(tmp_path / "x.md")])


def test_demo_seeds_rechecks_every_evaluation_and_keeps_each_seeds_best_model(tmp_path):
    tiny = [f"{key}={value}" for key, value in PRESETS["tiny"].items()]
    demo_seeds.main(["--seeds", "0", "1", "--timesteps", "160", "--epoch-timesteps", "40", "--eval-episodes", "2",
                     "--recheck-episodes", "3", "--set", *tiny, "--out", str(tmp_path)])
    with open(tmp_path / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["seed"], r["env_steps"]) for r in rows] == [(s, n) for s in "01" for n in ("80", "120", "160")]
    assert all(0 <= float(r["recheck_time_at_goal"]) <= 1000 for r in rows)
    text = (tmp_path / "summary.md").read_text()
    assert "overrides: width=16" in text and "that policy on 3 fresh episodes (what the demo reports): IQM" in text
    assert (tmp_path / "curve.png").exists() and (tmp_path / "logs" / "seed_1" / "progress.csv").exists()
    from gcrl_depth import DeepCRL

    for seed in (0, 1):
        scores = [float(r["time_at_goal"]) for r in rows if r["seed"] == str(seed)]
        kept = DeepCRL.load(tmp_path / "runs" / f"seed_{seed}" / "best_model.zip", verbose=0)
        assert kept.num_timesteps == int(rows[3 * seed + scores.index(max(scores))]["env_steps"])  # the first best one
    demo_seeds.main(["--seeds", "0", "1", "--eval-episodes", "2", "--recheck-episodes", "3", "--set", *tiny,
                     "--out", str(tmp_path), "--report-only"])  # the tables again, from curves.csv, nothing trained
    again = (tmp_path / "summary.md").read_text()
    assert "Trained in" in text and "Trained in" not in again
    assert [line for line in again.splitlines() if line.startswith("| ")] == [
        line for line in text.splitlines() if line.startswith("| ")]


def test_table_figures_draw_every_table_only_result(tmp_path):
    import shutil

    for figure in table_figures.FIGURES:  # every entry reads its committed table
        rows = table_figures.table((table_figures.RESULTS_DIR / figure.file).read_text(),
                                   (figure.x, *figure.y), figure.columns)
        assert rows and any(table_figures.number(row[figure.y[0]]) is not None for row in rows), figure.file
    (tmp_path / "gpu").mkdir()
    for name in ("engine_v2_cpu.md", "gpu/early_probes.md"):
        shutil.copy(table_figures.RESULTS_DIR / name, tmp_path / name)
    written = table_figures.main(["--only", "engine_v2_cpu.md", "gpu/early_probes.md", "--results", str(tmp_path)])
    assert written == [tmp_path / "engine_v2_cpu.png", tmp_path / "gpu" / "early_probes.png"]
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in written)
    assert [table_figures.number(c) for c in ("1,401 (54%)", "-", "5.5e-07", "95 / 84")] == [1401.0, None, 5.5e-07, 95.0]
    with pytest.raises(SystemExit, match="not in FIGURES"):
        table_figures.main(["--only", "nothing.md"])
