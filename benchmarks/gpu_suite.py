"""The GPU suite: what the paper measured, on one device, sized for a 15-minute GPU slot.

Parts (``--parts``, in this order; the default, ``speed evidence``, fits two calls of 9 minutes,
one part each):
  * ``speed`` (~4 min, ``--speed-seconds``): the gradient step alone at the paper's sizes
    (Humanoid's inputs, batch 512, width 256; ``benchmarks/update_speed.py``) for depth 4 and
    64: XLA blocks scanned (``scan_unroll=1``) and unrolled (the GPU default), fused Pallas
    kernels, bfloat16, run sets of 4 and 8 seeds, depth 1024; ms per step, kernels per step,
    compile s, memory, and the floor (the step's matmul FLOPs at the measured matmul rate).
    Rows run most important first and stop being started when the time is spent;
  * ``evidence`` (~7-8 min, ``--evidence-seconds``): depth 4 against 64 (``--evidence-depths 4 16
    64`` adds 16) on Ant Big Maze, 3 seeds each as run sets, the paper's protocol (``gcrl-depth evidence``, which
    says why this task), curves and table beside the paper's final numbers, under ``evidence/``;
    ``--evidence-physics spring`` runs it on brax's spring pipeline, as the paper did;
  * ``env``: env throughput of the pure-JAX core (``jit(vmap + scan)``, random actions,
    auto-reset) for one task per robot family at 512, 2048 and 8192 envs, with compile times,
    under each ``--env-physics`` (MJX and brax's spring pipeline; spring for the ant and humanoid);
  * ``distill`` (optional, ~8 min, not a default part): a depth-64 teacher on ``--distill-task``
    (taken from ``evidence/runs/d64/seed_<s>/`` when an evidence run kept its models, else
    trained in the slot for ``--distill-timesteps``), distilled into depth 4, beside depth 4 from
    scratch with the same env steps, 3 seeds each as run sets, and the batch-1 action latency of
    teacher and student on this device (``benchmarks/distillation.py``, under ``distill/``);
  * ``train``: training throughput at the paper's settings (512 envs, batch 512, width 256,
    1 gradient step per 39.68 env steps, a 10,000-step replay per env) on Humanoid and
    AntBigMaze at depths 4..1024 (actor 512 deep at 1024, as the paper): env steps/s,
    gradient steps/s, compile seconds, peak device memory, and the hours the paper's budget
    would take beside the paper's A100 hours; ``--knobs`` adds rows for the speed knobs.

    python -m benchmarks.gpu_suite --parts speed        # call 1 (~4 min)
    python -m benchmarks.gpu_suite --parts evidence     # call 2 (~8 min); parts add up in the same folder
    python -m benchmarks.gpu_suite --parts env train    # throughput with the envs (~20 min)
    python -m benchmarks.gpu_suite --parts distill      # deep teacher -> depth-4 student (~8 min)
    python -m benchmarks.gpu_suite --smoke              # toy sizes, a few minutes on a CPU (CI)

Each env, train and speed row is measured in its own Python process under ``--row-timeout``
(device peak memory is then per row, and a row that crashes, runs out of memory or time is
recorded as such and costs only itself). Every row is added to ``env.csv`` / ``train.csv`` /
``speed.csv`` under ``--out`` (default ``benchmarks/results/gpu``) as soon as it is measured,
the evidence rows after every evaluation, and ``suite.md`` and ``suite.png`` are rewritten from
all rows there, so a run cut off by a time limit keeps what it measured. A row measured again
replaces the old one. Compiles are measured with the persistent cache off.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS_DIR, ROOT

PARTS = ("speed", "evidence", "env", "train", "distill")
ENV_FIELDS = ["task", "physics", "num_envs", "steps", "compile_s", "env_steps_per_s", "device", "status"]
TRAIN_FIELDS = ["task", "depth", "actor_depth", "variant", "runs", "params", "compile_s", "env_steps_per_s",
                "grad_steps_per_s", "ms_per_grad_step", "ms_per_grad_step_per_seed", "kernels_per_grad_step",
                "update_compile_s", "peak_gib", "planned_gib", "device", "status"]
SPEED_FIELDS = ["task", "depth", "variant", "runs", "params", "ms_per_grad_step", "ms_per_grad_step_per_seed",
                "kernels_per_grad_step", "compile_s", "peak_gib", "planned_gib", "gflop_per_step", "floor_ms", "device",
                "status"]
FIELDS = {"env": ENV_FIELDS, "train": TRAIN_FIELDS, "speed": SPEED_FIELDS}
# The speed part's rows, (depth, variant, runs), most telling first: rows not started when its time is spent cost nothing.
SPEED_ROWS = (
    (64, "default", 1), (64, "tower_kernel=pallas", 1), (64, "tower_kernel=pallas,compute_dtype=bfloat16", 1),
    (64, "compute_dtype=bfloat16", 1), (64, "scan_unroll=1", 1),
    (4, "default", 1), (4, "tower_kernel=pallas", 1), (4, "scan_unroll=1", 1),
    (64, "default", 4), (64, "tower_kernel=pallas", 4), (64, "default", 8), (64, "tower_kernel=pallas", 8),
    (1024, "actor_depth=512,tower_kernel=pallas", 1), (1024, "actor_depth=512", 1),
)
SMOKE_SPEED_ROWS = ((4, "default", 1), (4, "tower_kernel=pallas", 2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.config_flags import add_physics_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["speed", "evidence"])
    parser.add_argument("--smoke", action="store_true", help="toy sizes for every part (a CPU check)")
    parser.add_argument("--env-tasks", nargs="+", default=["PointUMaze", "AntBigMaze", "Humanoid", "ArmPushEasy"])
    parser.add_argument("--env-sizes", nargs="+", type=int, default=[512, 2048, 8192], help="parallel envs")
    parser.add_argument("--env-steps", type=int, default=200, help="steps per timed env rollout")
    parser.add_argument("--env-physics", nargs="+", choices=["mjx", "spring"], default=["mjx", "spring"],
                        help="physics of the env rows (spring only for the Ant and Humanoid tasks; needs brax)")
    parser.add_argument("--train-tasks", nargs="+", default=["Humanoid", "AntBigMaze"])
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 16, 64, 256, 1024], help="for the first train task")
    parser.add_argument("--other-depths", nargs="+", type=int, default=[4, 64],
                        help="for the other train tasks (the depths the paper gives hours for; each row costs ~100 s)")
    parser.add_argument("--knobs", nargs="*", default=[],
                        help="extra train rows on the first train task, each 'field=value[,field=value]' "
                             "(e.g. scan_unroll=8 compute_dtype=bfloat16 remat=true)")
    parser.add_argument("--knob-depths", nargs="+", type=int, default=[64])
    parser.add_argument("--runs", nargs="+", type=int, default=[1],
                        help="run-set sizes for the train rows (k seeds as one vmapped program), e.g. 1 4 8")
    parser.add_argument("--unroll-length", type=int, default=16,
                        help="env steps per env in one timed iteration (the paper: 62; the ratio stays the paper's)")
    parser.add_argument("--speed-task", default="Humanoid", help="whose input sizes the speed rows use")
    parser.add_argument("--speed-seconds", type=float, default=240.0, help="no speed row starts after this")
    parser.add_argument("--evidence-task", default="AntBigMaze")
    parser.add_argument("--evidence-depths", nargs="+", type=int, default=[4, 64])
    parser.add_argument("--evidence-seeds", type=int, default=3, help="seeds per depth, trained as one run set")
    parser.add_argument("--evidence-timesteps", type=int, default=1_000_000, help="env steps per seed (at most)")
    parser.add_argument("--evidence-seconds", type=float, default=400.0, help="wall-clock budget of the evidence part")
    parser.add_argument("--evidence-config", default=None, metavar="FILE",
                        help="YAML or JSON file of CRLConfig fields for the evidence runs (e.g. benchmarks/configs/pallas.yaml)")
    add_physics_argument(parser, "--evidence-physics", help_text="the evidence runs' env physics, passed to gcrl-depth evidence "
                         "as --physics: mjx or spring (brax's spring pipeline, the paper's; default: the env's own, mjx)")
    parser.add_argument("--distill-task", default="AntBigMaze")
    parser.add_argument("--distill-timesteps", type=int, default=400_000,
                        help="env steps of the teacher and of each student (a prefill of 100 steps per env)")
    parser.add_argument("--row-timeout", type=float, default=240.0, help="seconds one row may take")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gpu")
    parser.add_argument("--report-only", action="store_true", help="measure nothing; rewrite the report from --out")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep the persistent compilation cache on in the rows (compile times then measure loading)")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # a child process: one row as JSON
    parser.add_argument("--row-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        # the sizes of tests/test_benchmarks.py's env and train throughput runs: with --use-cache, the same programs
        args.env_tasks, args.env_sizes, args.env_steps = ["PointUMaze"], [2], 3
        args.train_tasks, args.depths, args.knob_depths, args.unroll_length = ["PointUMaze"], [4], [4], 4
        args.other_depths = [4]
        args.speed_task = "PointUMaze"
        # test_reproduce's runs: with --use-cache, the same programs
        args.evidence_task, args.evidence_depths, args.evidence_seeds, args.evidence_timesteps = "PointUMaze", [4], 2, 120
        if args.evidence_physics == "spring":  # the point runs on MJX only
            args.evidence_task = "Ant"
        args.distill_task, args.distill_timesteps = "PointUMaze", 120
    return args


# ----------------------------------------------------------------------------- rows
def train_settings(args: argparse.Namespace) -> list[str]:
    """``train_throughput.py`` options for one train row: the paper's sizes, toy ones with ``--smoke``."""
    if args.smoke:
        return ["--width", "16", "--num-envs", "2", "--batch-size", "8", "--unroll-length", str(args.unroll_length),
                "--env-steps-per-update", "4", "--repeats", "1"]
    return ["--width", "256", "--num-envs", "512", "--batch-size", "512", "--unroll-length", str(args.unroll_length),
            "--buffer-size", "10000", "--repeats", "2"]


def speed_settings(args: argparse.Namespace) -> dict:
    """``update_speed.bench_update`` sizes: the paper's, toy ones (widths the fused kernels take) with ``--smoke``."""
    return {"width": 64, "batch_size": 16} if args.smoke else {"width": 256, "batch_size": 512}


def planned_rows(args: argparse.Namespace, part: str) -> list[dict]:
    """The rows a part measures, as the JSON specs handed to child processes."""
    if part == "speed":
        return [{"part": "speed", "task": args.speed_task, "depth": d, "variant": v, "runs": r}
                for d, v, r in (SMOKE_SPEED_ROWS if args.smoke else SPEED_ROWS)]
    if part == "env":
        return [{"part": "env", "task": t, "physics": p, "num_envs": n, "steps": args.env_steps}
                for t in args.env_tasks for p in args.env_physics if p == "mjx" or t.startswith(("Ant", "Humanoid"))
                for n in args.env_sizes]
    rows = []
    for index, task in enumerate(args.train_tasks):
        for depth in args.depths if index == 0 else args.other_depths:
            rows += [{"part": "train", "task": task, "depth": depth, "variant": paper_variant(depth), "runs": runs}
                     for runs in args.runs]
    for depth in args.knob_depths:
        for knob in args.knobs:
            variant = ",".join(v for v in (paper_variant(depth), knob) if v != "default")
            rows.append({"part": "train", "task": args.train_tasks[0], "depth": depth, "variant": variant, "runs": 1})
    return rows


def paper_variant(depth: int) -> str:
    """The paper's architecture at ``depth``: the actor is 512 deep when the critic is 1024."""
    return "actor_depth=512" if depth >= 1024 else "default"


def measure_row(spec: dict, args: argparse.Namespace) -> dict:
    """Measure one row in this process (a child): env rollout or one training program."""
    if spec["part"] == "env":
        from benchmarks import env_throughput
        from gcrl_depth.envs import make_core

        core = make_core(spec["task"], physics=spec.get("physics", "mjx"))
        row = env_throughput.bench_core(spec["task"], core, spec["num_envs"], spec["steps"])
        return {"task": spec["task"], "physics": core.physics, "num_envs": spec["num_envs"], "steps": spec["steps"],
                "compile_s": row["compile_s"], "env_steps_per_s": row["steps_per_s"], "device": device_kind(), "status": "ok"}
    if spec["part"] == "speed":
        from benchmarks import update_speed

        row = update_speed.bench_update(spec["task"], spec["depth"], spec["variant"], spec["runs"], **speed_settings(args))
        return {**{key: row[key] for key in SPEED_FIELDS if key in row}, "peak_gib": _gib(row["peak_bytes"]),
                "planned_gib": _gib(row["planned_bytes"]), "device": device_kind(), "status": "ok"}
    from benchmarks import train_throughput, update_speed

    options = train_throughput.parse_args(["--env", spec["task"], *train_settings(args)])
    row = train_throughput.bench_depth(options, spec["depth"], spec["variant"], spec.get("runs", 1))
    overrides = update_speed.parse_variant(spec["variant"])
    return {"task": spec["task"], "depth": spec["depth"], "actor_depth": overrides.get("actor_depth", spec["depth"]),
            "variant": spec["variant"], "runs": row["runs"], "params": row["params"], "compile_s": row["compile_s"],
            "env_steps_per_s": row["env_steps_per_s"], "grad_steps_per_s": row["grad_steps_per_s"],
            "ms_per_grad_step": row["ms_per_grad_step"], "ms_per_grad_step_per_seed": row["ms_per_grad_step_per_seed"],
            "kernels_per_grad_step": row["kernels_per_grad_step"], "update_compile_s": row["update_compile_s"],
            "peak_gib": _gib(row["peak_bytes"]), "planned_gib": _gib(row["planned_bytes"]), "device": device_kind(),
            "status": "ok"}


def device_kind() -> str:
    import jax

    return jax.devices()[0].device_kind


def _gib(value: int | None) -> float | None:
    return None if value is None else value / 2**30


def run_row(spec: dict, args: argparse.Namespace, timeout: float | None = None) -> dict:
    """Measure ``spec`` in a fresh Python process under ``timeout`` (default ``--row-timeout``); a failure
    becomes the row's status."""
    timeout = args.row_timeout if timeout is None else timeout
    options = ["--smoke"] * args.smoke + ["--use-cache"] * args.use_cache + ["--unroll-length", str(args.unroll_length)]
    with tempfile.TemporaryDirectory() as tmp:
        row_out, log = Path(tmp) / "row.json", Path(tmp) / "stderr.txt"
        command = [sys.executable, "-m", "benchmarks.gpu_suite", *options, "--row", json.dumps(spec), "--row-out", str(row_out)]
        start = time.perf_counter()
        try:
            with log.open("w") as stderr:
                env = None if args.use_cache else uncached_environment()
                done = subprocess.run(command, stderr=stderr, timeout=timeout, env=env, cwd=ROOT)
            status = "ok" if done.returncode == 0 else f"failed: {last_error_line(log)}"
        except subprocess.TimeoutExpired:
            status = f"timeout after {timeout:g} s"
        if status == "ok":
            return json.loads(row_out.read_text())
        print(f"  {spec}: {status} ({time.perf_counter() - start:.0f} s)", flush=True)
        return {key: spec.get(key) for key in ("task", "num_envs", "steps", "depth", "variant", "runs")} | {"status": status}


def record_invocation(out: Path) -> None:
    """Note this command in ``commands.txt`` and the machine in ``machine.md`` (the report's header)."""
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import describe_machine

    command = "python -m benchmarks.gpu_suite " + " ".join(sys.argv[1:])
    previous = (out / "commands.txt").read_text() if (out / "commands.txt").exists() else ""
    atomic_write_text(out / "commands.txt", previous + f"{time.strftime('%Y-%m-%d %H:%M')}  {command}\n")
    atomic_write_text(out / "machine.md", "\n".join(describe_machine()) + "\n")


def uncached_environment() -> dict[str, str]:
    """This process's environment with JAX's persistent compilation cache off (compile times are measured)."""
    env = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    return env | {"GCRL_DEPTH_JAX_CACHE": "off"}


def last_error_line(log: Path) -> str:
    """The last non-empty stderr line of a failed child (usually the exception), cut to 160 characters."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:160]


# ----------------------------------------------------------------------------- files
def row_key(part: str, row: dict) -> tuple:
    if part == "env":  # rows written before physics were recorded are MJX's
        return row["task"], row.get("physics") or "mjx", int(row["num_envs"])
    if part == "speed":
        return row["task"], int(row["depth"]), row["variant"], int(row.get("runs") or 1)
    return row["task"], int(row["depth"]), row["variant"], int(row.get("runs") or 1)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def add_row(path: Path, part: str, row: dict) -> None:
    """Add (or replace) one row of ``path`` atomically."""
    from gcrl_depth.files import atomic_write_text

    fields = FIELDS[part]
    rows = [r for r in read_rows(path) if row_key(part, r) != row_key(part, row)] + [row]
    lines = [",".join(fields)]
    for r in rows:
        lines.append(",".join(_csv_cell(r.get(f)) for f in fields))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _csv_cell(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return f'"{text}"' if "," in text or '"' in text else text


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    if args.row is not None:  # a child process (started with the persistent cache off)
        from gcrl_depth.files import atomic_write_text

        atomic_write_text(args.row_out, json.dumps(measure_row(json.loads(args.row), args)))
        return args.row_out
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        return write_report(args)
    record_invocation(args.out)
    for part in (p for p in PARTS if p in args.parts):
        if part == "evidence":
            run_evidence(args)
        elif part == "distill":
            run_distill(args)
        else:
            measure_rows(args, part)
        write_report(args)
    return write_report(args)


def measure_rows(args: argparse.Namespace, part: str) -> None:
    """Each row of ``part`` in its own process, written as it comes; speed rows only while ``--speed-seconds`` last."""
    deadline = time.perf_counter() + args.speed_seconds if part == "speed" else float("inf")
    for spec in planned_rows(args, part):
        left = deadline - time.perf_counter()
        if left <= 0:
            print(f"[{part}] time spent: {spec} not measured", flush=True)
            continue
        print(f"[{part}] {spec}", flush=True)
        add_row(args.out / f"{part}.csv", part, run_row(spec, args, min(args.row_timeout, max(left, 60.0))))
        write_report(args)


def run_evidence(args: argparse.Namespace) -> None:
    """Depth 4 against deeper networks (``gcrl-depth evidence``) into ``<out>/evidence``."""
    from benchmarks import depth_evidence

    options = ["--task", args.evidence_task, "--depths", *map(str, args.evidence_depths), "--num-seeds",
               str(args.evidence_seeds), "--timesteps", str(args.evidence_timesteps), "--seconds",
               str(args.evidence_seconds), "--out", str(args.out / "evidence"),
               "--runs-dir", "none"]  # no checkpoints of GB-sized buffers in a 9-minute slot
    if args.evidence_config:
        options += ["--config", str(args.evidence_config)]
    if args.evidence_physics:
        options += ["--physics", args.evidence_physics]
    if args.smoke:
        options += ["--evaluations", "3", "--eval-episodes", "2", "--episode-length", "20", "--preset", "tiny"]
    else:
        options.append("--progress")
    code = depth_evidence.main(options)
    if code:
        raise SystemExit(f"gcrl-depth evidence exited with {code}")


def run_distill(args: argparse.Namespace) -> None:
    """A depth-64 teacher, its depth-4 student and a depth-4 agent from scratch (``benchmarks/distillation.py``)
    into ``<out>/distill``; the models go to a temporary folder (hundreds of MB)."""
    from benchmarks import distillation

    teacher_depth, seeds = (8, ["0", "1"]) if args.smoke else (64, ["0", "1", "2"])
    options = ["--task", args.distill_task, "--teacher-depth", str(teacher_depth), "--student-depth", "4",
               "--seeds", *seeds, "--teacher-timesteps", str(args.distill_timesteps),
               "--student-timesteps", str(args.distill_timesteps), "--arms", "teacher", "distilled", "scratch",
               "--out", str(args.out / "distill"), "--models", tempfile.mkdtemp(prefix="distill_models_")]
    if args.smoke:
        options += ["--preset", "tiny", "--epoch-timesteps", "40", "--eval-episodes", "2",
                    "--env-kwargs", '{"episode_length": 20}']
    else:
        options += ["--preset", "paper", "--set", "prefill_steps=100", "--epoch-timesteps",
                    str(args.distill_timesteps // 4), "--eval-episodes", "128"]
    kept = args.out / "evidence" / "runs" / f"d{teacher_depth}"
    if all((kept / f"seed_{s}" / "final_model.zip").exists() for s in seeds):
        options += ["--teacher-models", str(kept)]
    distillation.main(options)


def write_report(args: argparse.Namespace) -> Path:
    """``suite.md`` and ``suite.png`` from every row under ``--out``."""
    import jax

    import gcrl_depth
    from gcrl_depth.files import atomic_write_text

    env_rows, train_rows = read_rows(args.out / "env.csv"), read_rows(args.out / "train.csv")
    speed_rows = read_rows(args.out / "speed.csv")
    commands = (args.out / "commands.txt").read_text() if (args.out / "commands.txt").exists() else ""
    machine = (args.out / "machine.md").read_text() if (args.out / "machine.md").exists() else ""
    devices = sorted({r["device"] for r in env_rows + train_rows + speed_rows if r.get("device")})
    lines = ["# GPU suite", "", f"gcrl_depth {gcrl_depth.__version__}, report written {time.strftime('%Y-%m-%d %H:%M')}.",
             "", "Commands that measured the rows (`commands.txt`; parts run in separate calls add up):", "", "```",
             commands.rstrip(), "```", "", "Machine of the last measuring command:", machine.rstrip(), "",
             f"Devices of the rows: {', '.join(devices) or '-'}. Rows: `speed.csv`, `env.csv`, `train.csv` beside this file "
             "(each row measured in its own process, compile with the persistent cache off).", ""]
    lines += (speed_section(speed_rows, args) + evidence_section(args.out / "evidence")
              + distill_section(args.out / "distill") + env_section(env_rows) + train_section(train_rows, args))
    path = args.out / "suite.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    if env_rows or train_rows:
        plot_suite(env_rows, train_rows, args.out / "suite.png", ", ".join(devices) or jax.devices()[0].device_kind)
    return path


def plot_suite(env_rows: list[dict], train_rows: list[dict], path: Path, device: str) -> None:
    """Left: env steps/s by parallel envs per task. Right: training env steps/s by depth per task,
    with the paper's A100 speed (budget / hours) as crosses."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.paper import PAPER_HOURS, TABLE_1
    from gcrl_depth.plotting import plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for task, physics in dict.fromkeys((r["task"], r.get("physics") or "mjx") for r in env_rows):
        points = sorted((int(r["num_envs"]), float(r["env_steps_per_s"])) for r in env_rows
                        if r["task"] == task and (r.get("physics") or "mjx") == physics and r["status"] == "ok")
        if points:
            left.plot(*zip(*points), marker="o", label=task if physics == "mjx" else f"{task} ({physics})")
    left.set(xscale="log", yscale="log", xlabel="parallel envs", ylabel="env steps / s", title="Env core")
    for task in dict.fromkeys(r["task"] for r in train_rows):
        points = sorted((int(r["depth"]), float(r["env_steps_per_s"])) for r in train_rows
                        if r["task"] == task and r["status"] == "ok" and "=" not in r["variant"].replace("actor_depth=512", ""))
        if points:
            line, = right.plot(*zip(*points), marker="o", label=f"{task} (ours)")
            paper = [(d, TABLE_1[task].budget / (h * 3600)) for (t, d), h in PAPER_HOURS.items() if t == task]
            if paper:
                right.plot(*zip(*sorted(paper)), "x", markersize=9, color=line.get_color(), label=f"{task} (paper, A100)")
    right.set(xscale="log", yscale="log", xlabel="critic depth", ylabel="training env steps / s",
              title="Training at the paper's settings")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        if ax.lines:
            ax.legend(fontsize="small")
        else:
            ax.set(xscale="linear", yscale="linear", xticks=[], yticks=[])
            ax.text(0.5, 0.5, "not measured yet", transform=ax.transAxes, ha="center", color="gray")
    fig.suptitle(f"gcrl_depth GPU suite on {device}", fontsize="medium")
    fig.tight_layout()
    save_figure(fig, path)


def _num(value: str, fmt: str) -> str:
    return "-" if value in ("", None) else format(float(value), fmt)


def env_section(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    return ["## Env throughput (core, `jit(vmap + scan)`, random actions, auto-reset)", "",
            "| task | physics | envs | steps timed | compile s | env steps/s | status |", "|---|---|---|---|---|---|---|",
            *[f"| {r['task']} | {r.get('physics') or 'mjx'} | {int(r['num_envs']):,} | {r['steps']} | {_num(r['compile_s'], '.1f')} | "
              f"{_num(r['env_steps_per_s'], ',.0f')} | {r['status']} |" for r in rows], ""]


def train_section(rows: list[dict], args: argparse.Namespace) -> list[str]:
    from gcrl_depth.paper import PAPER_HOURS, TABLE_1

    if not rows:
        return []
    settings = " ".join(train_settings(args))
    lines = ["## Training throughput (one timed iteration: collect, then gradient steps)", "",
             f"Settings: `{settings}` (train_throughput.py options; the width is the actor's and the critic's). "
             "Projected hours = the paper's env-step budget for the task / env steps/s (training only, no evaluation); "
             "the paper's hours are one 80 GB A100's (reference section 1).", "",
             "Runs = seeds as one vmapped run set (steps/s count all of them; projected hours are per run set). "
             "ms/step = one gradient step of the update program (per seed: divided by the runs); kernels = XLA "
             "kernels in one gradient step.", "",
             "| task | depth | actor depth | variant | runs | params | compile s | env steps/s | grad steps/s | "
             "ms/step | ms/step per seed | kernels | peak GiB | projected h | paper h | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        depth, task = int(r["depth"]), r["task"]
        budget = TABLE_1[task].budget if task in TABLE_1 else None
        runs = int(r.get("runs") or 1)
        speed = float(r["env_steps_per_s"]) / runs if r.get("env_steps_per_s") else None
        projected = "-" if not (budget and speed) else f"{budget / speed / 3600:.1f}"
        paper = PAPER_HOURS.get((task, depth))
        lines.append(f"| {task} | {depth} | {r.get('actor_depth') or '-'} | {r['variant']} | {runs} | "
                     f"{_num(r.get('params'), ',.0f')} | {_num(r.get('compile_s'), '.1f')} | "
                     f"{_num(r.get('env_steps_per_s'), ',.0f')} | {_num(r.get('grad_steps_per_s'), ',.1f')} | "
                     f"{_num(r.get('ms_per_grad_step'), ',.2f')} | {_num(r.get('ms_per_grad_step_per_seed'), ',.2f')} | "
                     f"{_num(r.get('kernels_per_grad_step'), ',.0f')} | {_num(r.get('peak_gib'), '.2f')} | {projected} | "
                     f"{'-' if paper is None else paper} | {r['status']} |")
    return [*lines, ""]


def speed_section(rows: list[dict], args: argparse.Namespace) -> list[str]:
    if not rows:
        return []
    settings = speed_settings(args)
    lines = ["## Gradient step alone (`update_speed.py`)", "",
             f"Inputs of {rows[0]['task']}, width {settings['width']}, batch {settings['batch_size']}; "
             "the critic's phi and psi run as one stacked tower in every row. ms/step: one gradient step of all runs "
             "(fastest of 3 timed programs of 10 steps); kernels: device kernels per step (a Pallas kernel is one; "
             "on a CPU Pallas runs interpreted, so its kernels and times there say nothing); floor: the step's matmul "
             "FLOPs at the measured rate of a large matmul in the row's dtype.", "",
             "| depth | variant | runs | params | ms/step | ms/step per seed | kernels/step | compile s | peak GiB | "
             "planned GiB | GFLOP/step | floor ms | status |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['depth']} | {r['variant']} | {r.get('runs') or 1} | {_num(r.get('params'), ',.0f')} | "
                     f"{_num(r.get('ms_per_grad_step'), ',.2f')} | {_num(r.get('ms_per_grad_step_per_seed'), ',.2f')} | "
                     f"{_num(r.get('kernels_per_grad_step'), ',.0f')} | {_num(r.get('compile_s'), '.1f')} | "
                     f"{_num(r.get('peak_gib'), '.2f')} | {_num(r.get('planned_gib'), '.2f')} | "
                     f"{_num(r.get('gflop_per_step'), '.1f')} | {_num(r.get('floor_ms'), '.3f')} | {r['status']} |")
    return [*lines, ""]


def distill_section(folder: Path) -> list[str]:
    summary = folder / "summary.md"
    if not summary.exists():
        return []
    kept: list[str] = []
    for line in summary.read_text().splitlines():  # the tables, each after the line that says what it is
        if line.startswith(("|", "Latency")) or (not line and kept and kept[-1]):
            kept.append(line)
    return ["## Distillation (`benchmarks/distillation.py`; files in `distill/`)", "", *kept, "",
            "![distillation](distill/distillation.png)", ""]


def evidence_section(folder: Path) -> list[str]:
    table = folder / "evidence.md"
    if not table.exists():
        return []
    text = table.read_text().splitlines()
    protocol = [line for line in text if line.startswith("Protocol")]
    body = [line for line in text if line.startswith("|")]
    return ["## Depth evidence (`gcrl-depth evidence`; files in `evidence/`)", "", *protocol, "", *body, "",
            "![curves](evidence/evidence.png)", ""]


if __name__ == "__main__":
    main()
