"""The paper's campaigns as commands (reproduce, sweep, compare, evidence): end to end on a tiny budget,
their shards and merged reports, and their refusals of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import pytest

from gcrl_depth import run_lock
from gcrl_depth.campaigns import reproduce
from gcrl_depth.campaigns.cells import Cell, Shard, run_cells, shard_spec
from gcrl_depth.cli.main import build_parser, main
from gcrl_depth.crl.engine.config import PRESETS

TINY = ["--preset", "tiny", "--eval-episodes", "2", "--episode-length", "20"]


def gcrl(*argv) -> None:
    assert main([str(a) for a in argv]) == 0


def refused(capsys, *argv) -> str:
    """The one-line error of a command refused with exit code 2."""
    with pytest.raises(SystemExit) as stop:  # argparse's refusals exit; the commands' return 2
        raise SystemExit(main([str(a) for a in argv]))
    error = capsys.readouterr().err
    assert stop.value.code == 2, error
    return error


def parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def csv_rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def tiny_config_file(folder):
    """The tiny preset written as a user's YAML config file (what ``--config FILE`` reads in every command)."""
    path = folder / "tiny.yaml"
    path.write_text("".join(f"{key}: {value}\n" for key, value in PRESETS["tiny"].items()))
    return path


def test_shards_partition_every_list_exactly():
    for count in range(1, 6):
        for length in range(0, 13):
            taken = [[p for p in range(length) if Shard(index, count).takes(p)] for index in range(1, count + 1)]
            assert sorted(p for shard in taken for p in shard) == list(range(length))  # each cell once, none left
    assert shard_spec("2/8") == Shard(2, 8) and str(Shard(3, 4)) == "3/4"


def test_bad_shard_specs_are_refused_in_one_line_and_nothing_is_written(capsys, tmp_path):
    for spec in ("3/2", "0/0", "a/b", "0/2", "2", "1/0"):
        error = refused(capsys, "sweep", "--shard", spec, "--out", tmp_path / "s")
        assert f"argument --shard: expected I/N with 1 <= I <= N, such as 2/8; got '{spec}'" in error, error
    assert not any(tmp_path.iterdir())


def test_run_cells_trains_only_its_shard_and_reads_every_finished_cell():
    store: dict[str, dict] = {}
    trained: list[str] = []

    def cell(name: str) -> Cell:
        def train():
            trained.append(name)
            store[name] = {0: [{"cell": name}]}
            return store[name]

        return Cell(name, train, lambda: store.get(name))

    cells = [cell(f"c{i}") for i in range(5)]
    first = run_cells(cells, Shard(1, 2))
    assert trained == ["c0", "c2", "c4"] and first.missing == ["c1", "c3"]
    second = run_cells(cells, Shard(2, 2))  # the other job of the array: reads the first's cells, trains its own
    assert trained[3:] == ["c1", "c3"] and second.missing == [] and list(second.rows) == [c.name for c in cells]
    merged = run_cells(cells, report_only=True)
    assert len(trained) == 5 and merged.rows == second.rows  # nothing trained again
    assert run_cells(cells[:2], report_only=True, reuse=False).missing == []  # report-only reads whatever it is told
    with pytest.raises(ValueError, match="distinct names"):
        run_cells([cells[0], cells[0]])


def test_sweep_shards_merge_into_the_unsharded_report(tmp_path, capsys):
    # two cells (depth 4, width 16 at the tiny preset's own width: the same programs, the cache shares them)
    sweep = ["sweep", "--depths", 4, "--widths", 16, "--seeds", 0, 1, "--timesteps", 80, "--eval-every", 40, *TINY]
    gcrl(*sweep, "--shard", "1/2", "--out", tmp_path / "sharded")
    said = capsys.readouterr().out
    assert said.startswith("gcrl-depth sweep: preset tiny (given)\n") and "1 cells missing: width_16" in said
    assert "Missing cells (not yet trained): width_16." in (tmp_path / "sharded" / "summary.md").read_text()
    gcrl(*sweep, "--shard", "2/2", "--out", tmp_path / "sharded")
    assert "depth_4 seed" not in capsys.readouterr().out  # the first job's cell is read, not trained again
    gcrl(*sweep, "--report-only", "--out", tmp_path / "sharded")
    gcrl(*sweep, "--out", tmp_path / "whole")

    def report(folder):  # the rows and the summary table, without wall-clock times
        rows = [{k: v for k, v in row.items() if k != "wall_s"} for row in csv_rows(folder / "curves.csv")]
        table = [line.split("|") for line in (folder / "summary.md").read_text().splitlines() if line.startswith("|")]
        wall = table[0].index(" train wall s ")
        return rows, [cells[:wall] + cells[wall + 1:] for cells in table]

    assert report(tmp_path / "sharded") == report(tmp_path / "whole")
    rows = csv_rows(tmp_path / "whole" / "curves.csv")
    assert {(r["series"], r["value"], r["seed"]) for r in rows} == {
        (s, v, seed) for s, v in (("depth", "4"), ("width", "16")) for seed in ("0", "1")}
    summary = (tmp_path / "whole" / "summary.md").read_text()
    assert "| depth | 4 | 2 |" in summary and "| width | 16 | 2 |" in summary and "Missing" not in summary
    for name in ("depth.png", "width_vs_depth.png"):
        assert (tmp_path / "whole" / name).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "whole" / "runs" / "depth_4" / "finished").exists()
    error = refused(capsys, *sweep[:-2], "--eval-episodes", 3, "--out", tmp_path / "whole")  # other settings: refused
    assert "runs/depth_4 holds a run with other settings (" in error and "eval_episodes" in error and error.count("\n") == 1


def test_a_second_launch_on_one_out_trains_no_cell_twice(tmp_path, capsys):
    # the same campaign launched twice on one --out: the second finds the cell locked and moves on
    sweep = ["sweep", "--depths", 4, "--seeds", 0, "--timesteps", 80, "--eval-every", 40, *TINY, "--out", tmp_path]
    first = subprocess.Popen([sys.executable, "-m", "gcrl_depth.cli.main", *map(str, sweep)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while (run_lock.holder_of(tmp_path / "runs" / "depth_4") or {}).get("pid") != first.pid:
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read() if first.stdout else ""
        time.sleep(0.05)
    assert main([str(a) for a in sweep]) == 2  # nothing of its own to train, nothing finished to report
    said = capsys.readouterr()
    assert f"depth_4: trained by pid {first.pid} on host" in said.out and "moving on" in said.out
    assert "no finished cells" in said.err and said.err.count("\n") == 1, said.err
    output = first.communicate(timeout=600)[0]
    assert first.returncode == 0 and "depth_4 seed 0: time at goal" in output, output
    gcrl(*sweep)  # once finished, read and reported, not trained again
    assert "depth_4 seed 0: time at goal" not in capsys.readouterr().out
    steps = [row["env_steps"] for row in csv_rows(tmp_path / "curves.csv")]
    assert steps and len(steps) == len(set(steps))  # one run's evaluations, none twice


def test_sweep_records_behaviour_at_every_evaluation(tmp_path):
    gcrl("sweep", "--depths", 4, "--seeds", 0, "--timesteps", 80, "--eval-every", 40, *TINY, "--behaviour", "--out", tmp_path)
    rows = csv_rows(tmp_path / "curves.csv")
    # behaviour of the point mass in its maze: it never falls, and walls stop it
    assert all(float(r["behaviour/alive_fraction"]) == 1 and float(r["behaviour/over_wall_steps"]) == 0 for r in rows)
    summary = (tmp_path / "summary.md").read_text()
    assert "| alive_fraction | 1.000 ± 0.000 |" in summary and "| over_wall_episodes | 0.000 ± 0.000 |" in summary
    assert (tmp_path / "behaviour.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_series_and_bad_pairs(capsys, tmp_path):
    from gcrl_depth.campaigns import sweep

    args = parse("sweep", "--depths", 4, 16, "--batch-sizes", 64, "--actor-critic", "4:16", "--base-depth", 8)
    assert sweep.configurations(args) == [
        ("depth", "4", {"depth": 4}), ("depth", "16", {"depth": 16}), ("batch_size", "64", {"depth": 8, "batch_size": 64}),
        ("actor:critic", "4:16", {"depth": 8, "actor_depth": 4, "critic_depth": 16})]
    assert "--actor-critic expects ACTOR:CRITIC depth pairs" in refused(capsys, "sweep", "--actor-critic", "4-16",
                                                                       "--out", tmp_path)
    assert "--seeds must be distinct non-negative integers" in refused(capsys, "sweep", "--seeds", 1, 1, "--out", tmp_path)
    assert "not allowed with argument --seeds" in refused(capsys, "sweep", "--seeds", 1, "--num-seeds", 2)  # 2: the default
    assert not any(tmp_path.iterdir())


def test_reproduce_runs_resumes_and_compares_with_the_paper(tmp_path, capsys):
    args = ["reproduce", "--tasks", "PointUMaze", "--depths", 4, "--num-seeds", 2, "--timesteps", 120, "--evaluations", 3,
            *TINY, "--out", tmp_path]
    gcrl(*args)
    rows = csv_rows(tmp_path / "curves.csv")
    assert {r["seed"] for r in rows} == {"0", "1"} and all(0 <= float(r["time_at_goal"]) <= 20 for r in rows)
    assert [int(r["env_steps"]) for r in rows if r["seed"] == "0"] == [80, 120]  # prefill 40, then epochs of 40
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["PointUMaze_d4_s0-1", "PointUMaze_d4_s0.csv", "PointUMaze_d4_s0.json", "PointUMaze_d4_s1.csv",
                    "PointUMaze_d4_s1.json"]
    folder = tmp_path / "runs" / "PointUMaze_d4_s0-1"  # the run set's folder: finished, so its checkpoints are gone
    assert sorted(p.name for p in folder.iterdir()) == ["finished", "metadata.json", "seed_0", "seed_1"]
    member = sorted(p.name for p in (folder / "seed_1").iterdir())
    assert {"best", "curve.csv", "final_model.zip", "progress.csv"} <= set(member)
    assert any(name.startswith("events.out.tfevents") for name in member)
    table = (tmp_path / "table.md").read_text()
    assert "| PointUMaze | 120 (-) |" in table and "(2) |" in table and "gcrl-depth reproduce --tasks PointUMaze" in table
    assert "## Interval estimates" in table and "| 4 | 1 | 2 |" in table  # depth 4: 1 task, 2 runs, IQM [interval]
    assert (tmp_path / "table.png").read_bytes()[:4] == b"\x89PNG"

    stamp = (tmp_path / "runs" / "PointUMaze_d4_s0.csv").stat().st_mtime_ns
    gcrl(*args)  # finished runs are reused, not trained again
    assert (tmp_path / "runs" / "PointUMaze_d4_s0.csv").stat().st_mtime_ns == stamp
    error = refused(capsys, *args[:-2], "--eval-episodes", 3, "--out", tmp_path)
    assert "was run with other settings" in error and "eval_episodes" in error
    gcrl("reproduce", "--tasks", "PointUMaze", "--depths", 4, 8, "--num-seeds", 2, "--timesteps", 120, "--evaluations", 3,
         *TINY, "--out", tmp_path, "--report-only")
    assert "Missing runs (not yet trained): PointUMaze_d8_s0, PointUMaze_d8_s1." in (tmp_path / "table.md").read_text()


def test_reproduce_table_sets_ours_beside_the_papers_numbers(capsys, tmp_path):
    args = parse("reproduce", "--tasks", "AntU4Maze", "--budget-scale", 0.01)
    assert reproduce.budget_of("AntU4Maze", args) == 1_000_000
    assert reproduce.run_settings("AntU4Maze", 64, args, {})["eval_every"] == 10_000  # 100 evaluations
    summary = [{"env_id": "gcrl_depth/AntU4Maze-v0", "depth": d, "seeds": 5, "env_steps": 1e6, "time_at_goal": m,
                "time_at_goal_se": 1.0} for d, m in ((4, 10.0), (64, 250.0))]
    lines = reproduce.render_table(summary, args, {}, [], "test")
    row = next(line for line in lines if line.startswith("| AntU4Maze"))
    assert row == ("| AntU4Maze | 1,000,000 (100,000,000) | 10.0 ± 1.0 (5) | 250.0 ± 1.0 (5) | 25.0x | 11.4 ± 4.1 | "
                   "286.0 ± 36.0 | 25.1x |")
    with pytest.raises(ValueError, match="--tasks PointUMaze: not in Table 1"):
        reproduce.budget_of("PointUMaze", args)
    assert "--budget-scale expected a positive fraction" in refused(capsys, "reproduce", "--budget-scale", 0, "--out", tmp_path)


def test_reproduce_counts_a_half_written_cut_or_corrupt_run_as_not_run_and_names_it(tmp_path, capsys):
    from gcrl_depth.rows import read_csv, write_csv

    settings = {"task": "PointUMaze", "depth": 4}
    rows = [{"algo": "crl", "depth": 4, "width": 16, "env_id": "x", "seed": 0, "env_steps": 40 * i, "wall_s": 1.0,
             "time_at_goal": 1.0, "success_rate": 0.5, "final_distance": 2.0} for i in (1, 2)]
    good = tmp_path / "good.csv"
    write_csv(rows, good)
    good.with_suffix(".json").write_text(json.dumps(settings))
    assert reproduce.stored_run(good, settings) == read_csv(good)
    cases = {"no_settings": ("missing", None), "bad_settings": ("not valid JSON", "{'task':"),
             "header_only": ("no evaluations", json.dumps(settings)),
             "cut": ("line 3", json.dumps(settings))}
    for name, (words, settings_text) in cases.items():
        path = tmp_path / f"{name}.csv"
        text = good.read_text()
        path.write_text(text.splitlines()[0] + "\n" if name == "header_only" else text[:-25] if name == "cut" else text)
        if settings_text is not None:
            path.with_suffix(".json").write_text(settings_text)
        assert reproduce.stored_run(path, settings) is None, name
        said = capsys.readouterr().out
        assert str(path) in said and words in said and "trained again" in said, (name, said)


def test_campaigns_check_every_config_before_their_first_run(tmp_path, capsys):
    error = refused(capsys, "reproduce", "--tasks", "PointUMaze", "--depths", 4, 6, "--timesteps", 120, "--out", tmp_path / "r")
    assert "--depths 6: depth must be a positive multiple of 4" in error
    error = refused(capsys, "sweep", "--env", "PointUMaze", "--depths", 4, "--actor-critic", "4:6", "--timesteps", 120,
                    "--out", tmp_path / "s")
    assert "actor:critic 4:6: " in error, error
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_evidence_starts_no_depth_without_time_and_says_so(tmp_path):
    gcrl("evidence", "--task", "AntBigMaze", "--depths", 4, 64, "--seconds", 10, "--out", tmp_path)
    table = (tmp_path / "evidence.md").read_text()
    assert "| 4 | - | - | - | - | - | - | 61 ± 20 | not run: 10 s of the budget left |" in table
    assert "| 64 | - | - | - | - | - | - | 441 ± 25 | not run:" in table and not (tmp_path / "curves.csv").exists()


def test_compare_writes_tidy_csv_table_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # DeepCRL's runs on PointUMaze are the reproduce and sweep tests' (the compilation cache shares the programs)
    gcrl("compare", "--envs", "PointUMaze", "gymnasium_robotics:PointMaze_UMaze-v3", "--algos", "crl", "sac", "--depths", 4,
         "--timesteps", 120, "--eval-every", 40, "--eval-episodes", 2, "--episode-length", 20, "--baseline-width", 16,
         "--preset", "paper", "--config", tiny_config_file(tmp_path), "--out", tmp_path, "--wandb", "gcrl-test")
    rows = csv_rows(tmp_path / "curves.csv")
    assert list(rows[0])[:9] == ["algo", "depth", "width", "env_id", "seed", "env_steps", "wall_s", "time_at_goal", "success_rate"]
    assert {(r["env_id"], r["algo"]) for r in rows} == {
        (env, algo) for env in ("gcrl_depth/PointUMaze-v0", "PointMaze_UMaze-v3") for algo in ("crl", "sac")}
    for env in ("gcrl_depth/PointUMaze-v0", "PointMaze_UMaze-v3"):  # the third-party env on DeepCRL's host path
        assert [int(r["env_steps"]) for r in rows if r["algo"] == "sac" and r["env_id"] == env] == [40, 80, 120]
        assert [int(r["env_steps"]) for r in rows if r["algo"] == "crl" and r["env_id"] == env] == [80, 120]  # prefill 40
    for row in rows:
        assert 0 <= float(row["time_at_goal"]) <= 20 and float(row["wall_s"]) > 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| gcrl_depth/PointUMaze-v0 | crl | 4 | 1 |" in summary and "| gcrl_depth/PointUMaze-v0 | sac | 2 | 1 |" in summary
    assert "| PointMaze_UMaze-v3 | crl | 4 | 1 |" in summary and "| PointMaze_UMaze-v3 | sac | 2 | 1 |" in summary
    assert "| agent | tasks | runs | IQM time at goal [95% CI] | P(beats agent sac d2) [95% CI] |" in summary
    assert "| crl d4 | 2 | 2 |" in summary  # DeepCRL over both envs, against SAC on the same env
    assert (tmp_path / "runs" / "PointMaze_UMaze-v3_sac_s0" / "final_model.zip").exists()  # baselines have run folders
    for run in ("PointUMaze_crl_d4/seed_0", "PointMaze_UMaze-v3_crl_d4/seed_0", "PointMaze_UMaze-v3_sac_s0"):
        wandb_id = (tmp_path / "runs" / run / "wandb_id.txt").read_text()  # every run logged to wandb, offline here
        logs = list((tmp_path / "runs" / run).glob(f"wandb/offline-run-*-{wandb_id}/*.wandb"))
        assert len(logs) == 1 and b"eval/time_at_goal" in logs[0].read_bytes()
    for name in ("PointUMaze_steps.png", "PointUMaze_wall.png", "PointMaze_UMaze-v3_steps.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    stamp = (tmp_path / "curves.csv").stat().st_mtime_ns
    gcrl("compare", "--envs", "PointUMaze", "gymnasium_robotics:PointMaze_UMaze-v3", "--algos", "crl", "sac", "--depths", 4,
         "--timesteps", 120, "--eval-every", 40, "--eval-episodes", 2, "--episode-length", 20, "--baseline-width", 16,
         "--preset", "paper", "--config", tiny_config_file(tmp_path), "--out", tmp_path, "--report-only")
    assert csv_rows(tmp_path / "curves.csv") == rows and (tmp_path / "curves.csv").stat().st_mtime_ns != stamp


def test_every_campaign_names_its_preset_in_its_help_and_first_line(capsys):
    for command, preset in (("reproduce", "paper"), ("sweep", "cpu"), ("compare", "cpu"), ("evidence", "paper")):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert f"Preset: {preset}" in text and f"this command's: {preset}" in text, command
        assert parse(command).preset == preset and parse(command, "--preset", "tiny").preset_given


def test_a_paper_sized_default_on_a_cpu_warns_with_the_time_per_evaluation():
    from gcrl_depth.cli.announce import expected_cpu_seconds, preset_line, slow_default_warning

    args = parse("evidence")
    warning = slow_default_warning(args, {}, [4, 64], 100_000, "cpu")
    assert warning.startswith("warning: no GPU, and preset paper trains at the paper's sizes")
    assert "depth 4: " in warning and "depth 64: " in warning and "--preset cpu" in warning
    assert expected_cpu_seconds(100_000, 64) > expected_cpu_seconds(100_000, 16) > expected_cpu_seconds(100_000, 4) > 0
    assert slow_default_warning(args, {}, [4], 100_000, "gpu") is None  # a GPU: no warning
    assert slow_default_warning(args, {"num_envs": 32}, [4], 100_000, "cpu") is None  # not the paper's sizes
    assert slow_default_warning(parse("evidence", "--preset", "paper"), {}, [4], 100_000, "cpu") is None  # chosen
    assert preset_line("evidence", args) == "gcrl-depth evidence: preset paper (this command's default; --preset to change)"


def test_seeds_are_a_list_and_a_count_is_num_seeds(capsys):
    from gcrl_depth.cli.arg_types import chosen_seeds

    assert chosen_seeds(parse("reproduce", "--seeds", 3, 5)) == [3, 5]
    assert chosen_seeds(parse("reproduce", "--num-seeds", 2)) == [0, 1] and chosen_seeds(parse("reproduce")) == [0, 1, 2, 3, 4]
    assert chosen_seeds(parse("evidence")) == [0, 1, 2] and chosen_seeds(parse("sweep")) == [0, 1]
    for argv, words in ((["--seeds", 1, "--num-seeds", 5], "not allowed with argument --seeds"),  # 5: the default too
                        (["--seeds", 1, 1], "--seeds must be distinct non-negative integers"),
                        (["--seeds", -1], "--seeds must be distinct non-negative integers"),
                        (["--num-seeds", 0], "argument --num-seeds: expected a positive integer")):
        assert words in refused(capsys, "reproduce", *argv, "--out", "/nonexistent/never-written"), argv

