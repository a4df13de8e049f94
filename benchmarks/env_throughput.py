"""Environment throughput: env steps/s and compile time for every registered gcrl_depth id.

For each id it measures
  * ``mujoco``: plain MuJoCo C (``mujoco.mj_step``) on the same model, one env, random
    controls: the reference row;
  * ``core``: the pure-JAX core, ``jit(vmap + lax.scan)`` over ``--steps`` steps with
    random actions and auto-reset, at each ``--num-envs``;
  * ``gym``: the Gymnasium ``VectorEnv`` (``gym.make_vec``), one jitted call per step,
    actions from numpy, at each ``--num-envs``;
under each ``--physics`` (``mjx``, the default, and/or ``spring``: brax's spring pipeline,
Ant* and Humanoid* ids only; spring rows are labelled ``core spring`` / ``gym spring``),
and writes a markdown table with the machine described to
``benchmarks/results/env_throughput_<platform>.md``, and a bar chart of env steps/s per env
next to it (``.png``).

Compile times are measured with the persistent compilation cache OFF (each program is
compiled from scratch) unless ``--use-cache`` is given. Each env is measured in a fresh
Python process: XLA's CPU backend keeps memory mappings for every program it compiled, and
one process compiling all of them reaches Linux's ``vm.max_map_count`` (see tests/conftest.py).

    python -m benchmarks.env_throughput --num-envs 1 32 256 --steps 100
    python -m benchmarks.env_throughput --envs Ant Humanoid --physics mjx spring --num-envs 64 512 --skip-gym
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS_DIR, ROOT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=None, help="task names or ids (default: every non-Eval id)")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 32, 256], help="parallel env counts")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed core rollout / gym loop")
    parser.add_argument("--mujoco-steps", type=int, default=2000, help="control steps for the plain MuJoCo row")
    parser.add_argument("--physics", nargs="+", default=["mjx"], choices=["mjx", "spring"],
                        help="physics pipelines to measure (spring: Ant and Humanoid tasks, needs the extra 'spring')")
    parser.add_argument("--skip-gym", action="store_true", help="skip the Gymnasium VectorEnv rows")
    parser.add_argument("--use-cache", action="store_true", help="keep the persistent compilation cache on")
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    parser.add_argument("--rows-json", type=Path, default=None, help=argparse.SUPPRESS)  # one env's child process
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    if not args.use_cache:
        os.environ["GCRL_DEPTH_JAX_CACHE"] = "off"
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    import jax

    import gcrl_depth
    from gcrl_depth.envs import TASKS, task_name
    from gcrl_depth.files import atomic_write_text

    names = [task_name(e) for e in args.envs] if args.envs else [n for n in TASKS if not n.endswith("Eval")]
    if args.rows_json is not None:  # the child process: measure one env, hand the rows back
        (name,) = names
        atomic_write_text(args.rows_json, json.dumps(measure_env(name, args)))
        return args.rows_json
    rows = []
    for name in names:
        rows.extend(measure_in_child(name, args))

    platform = jax.devices()[0].platform
    out = args.out or RESULTS_DIR / f"env_throughput_{platform}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_markdown(rows, args, gcrl_depth.__version__))
    plot_throughput(rows, out.with_suffix(".png"), f"{platform}, persistent cache {'on' if args.use_cache else 'off'}")
    print(f"wrote {out} and {out.with_suffix('.png').name}")
    return out


def measure_in_child(name: str, args: argparse.Namespace) -> list[dict]:
    """Measure one env in a fresh Python process with this run's options."""
    options = ["--num-envs", *map(str, args.num_envs), "--steps", str(args.steps), "--mujoco-steps", str(args.mujoco_steps)]
    options += ["--skip-gym"] * args.skip_gym + ["--use-cache"] * args.use_cache + ["--physics", *args.physics]
    with tempfile.TemporaryDirectory() as tmp:
        rows_json = Path(tmp) / "rows.json"
        subprocess.run([sys.executable, "-m", "benchmarks.env_throughput", *options, "--envs", name, "--rows-json",
                        str(rows_json)], check=True, cwd=ROOT)
        return json.loads(rows_json.read_text())


def measure_env(name: str, args: argparse.Namespace) -> list[dict]:
    """Every row of one env: plain MuJoCo, then core and gym at each ``--num-envs`` under each physics."""
    from gcrl_depth.envs import make_core

    rows = [bench_mujoco(name, make_core(name), args.mujoco_steps)]
    print(format_row(rows[-1]), flush=True)
    for physics in args.physics:
        core = make_core(name, physics=physics)
        for num_envs in args.num_envs:
            rows.append(bench_core(name, core, num_envs, args.steps))
            print(format_row(rows[-1]), flush=True)
            if not args.skip_gym:
                rows.append(bench_gym(name, num_envs, args.steps, physics))
                print(format_row(rows[-1]), flush=True)
    return rows


def make_row(name: str, mode: str, num_envs: int, compile_s: float | None, steps_per_s: float, core) -> dict:
    """One table row; the core gives frames per step, control dt and the physics (named in the mode but for MJX)."""
    mode = mode if core.physics == "mjx" else f"{mode} {core.physics}"
    return {"env": name, "mode": mode, "num_envs": num_envs, "compile_s": compile_s, "steps_per_s": steps_per_s,
                "n_frames": core.n_frames, "dt": core.dt}


def bench_mujoco(name: str, core, control_steps: int) -> dict:
    import mujoco
    import numpy as np

    model = core.mj_model
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    controls = rng.uniform(-1, 1, size=(control_steps, model.nu))
    start = time.perf_counter()
    for ctrl in controls:
        data.ctrl[:] = ctrl
        mujoco.mj_step(model, data, nstep=core.n_frames)
    elapsed = time.perf_counter() - start
    return make_row(name, "mujoco", 1, None, control_steps / elapsed, core)


def bench_core(name: str, core, num_envs: int, steps: int) -> dict:
    import jax

    def rollout(key):
        state = jax.vmap(core.reset)(jax.random.split(key, num_envs))

        def body(state, step_key):
            actions = jax.random.uniform(step_key, (num_envs, core.action_size), minval=-1, maxval=1)
            state = jax.vmap(core.step)(state, actions)
            return state, state.reward.sum()

        return jax.lax.scan(body, state, jax.random.split(key, steps))

    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(rollout).lower(key).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(key))  # warm-up run
    start = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.key(1)))
    elapsed = time.perf_counter() - start
    return make_row(name, "core", num_envs, compile_s, num_envs * steps / elapsed, core)


def bench_gym(name: str, num_envs: int, steps: int, physics: str = "mjx") -> dict:
    import gymnasium as gym
    import numpy as np

    from gcrl_depth.envs import env_id

    envs = gym.make_vec(env_id(name), num_envs=num_envs, physics=physics)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(steps + 1, *envs.action_space.shape)).astype(np.float32)
    start = time.perf_counter()
    envs.reset(seed=0)
    envs.step(actions[0])
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for action in actions[1:]:
        envs.step(action)
    elapsed = time.perf_counter() - start
    core = envs.unwrapped.core
    envs.close()
    return make_row(name, "gym", num_envs, compile_s, num_envs * steps / elapsed, core)


def plot_throughput(rows: list[dict], path: Path, subtitle: str) -> None:
    """Horizontal bars per env (log scale): plain MuJoCo on one env, then core and gym at
    the largest measured ``num_envs``."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    envs = list(dict.fromkeys(row["env"] for row in rows))
    largest = max(row["num_envs"] for row in rows if row["mode"] != "mujoco")
    series = [("mujoco", 1, "plain MuJoCo, 1 env"), ("core", largest, f"JAX core, {largest} envs"),
              ("gym", largest, f"gym.make_vec, {largest} envs"),
              ("core spring", largest, f"JAX core, spring, {largest} envs"),
              ("gym spring", largest, f"gym.make_vec, spring, {largest} envs")]
    series = [entry for entry in series if any(row["mode"] == entry[0] for row in rows)]
    fig, ax = plt.subplots(figsize=(7.0, 0.22 * len(envs) * len(series) + 1.2), dpi=120)
    height = 0.8 / len(series)
    for offset, (mode, num_envs, label) in enumerate(series):
        speed = {row["env"]: row["steps_per_s"] for row in rows if row["mode"] == mode and row["num_envs"] == num_envs}
        ys = [i + offset * height for i, env in enumerate(envs) if env in speed]
        if ys:
            ax.barh(ys, [speed[env] for env in envs if env in speed], height=height, label=label)
    ax.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(envs))], envs)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(left=10 ** math.floor(math.log10(min(row["steps_per_s"] for row in rows))))  # bars start at a decade
    ax.set_xlabel("env steps per second (control steps)")
    ax.set_title(f"Environment throughput ({subtitle})", fontsize="medium")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)


def format_row(row: dict) -> str:
    compile_s = "-" if row["compile_s"] is None else f"{row['compile_s']:.1f}"
    return (
        f"| {row['env']} | {row['mode']} | {row['num_envs']} | {compile_s} | "
        f"{row['steps_per_s']:,.0f} | {row['steps_per_s'] * row['n_frames']:,.0f} |"
    )


def control_steps_line(rows: list[dict]) -> str:
    """What an env step is for the measured tasks: control dt and physics frames per step."""
    groups: dict[tuple[float, int], list[str]] = {}
    for row in rows:
        names = groups.setdefault((round(row["dt"], 6), row["n_frames"]), [])
        if row["env"] not in names:
            names.append(row["env"])
    kinds = "; ".join(f"{dt:g} s = {frames} frames for {', '.join(names)}" for (dt, frames), names in groups.items())
    return f"Env steps are control steps ({kinds}); physics steps = env steps x frames per step."


def render_markdown(rows: list[dict], args: argparse.Namespace, package_version: str) -> str:
    from gcrl_depth.machine import results_header

    lines = [
        *results_header("Environment throughput", "env_throughput.py", package_version),
        "Modes: `mujoco` = plain MuJoCo C, one env, `mj_step` with random controls (reference);",
        f"`core` = pure-JAX core, `jit(vmap + scan)` over {args.steps} steps with auto-reset;",
        "`gym` = Gymnasium VectorEnv (`gym.make_vec`), one jitted call per step, numpy actions.",
        control_steps_line(rows),
        "Compile time: `core` = lower + compile of the rollout; `gym` = reset + first step"
        + (" (persistent cache on)." if args.use_cache else " (persistent cache off)."),
        "",
        "| env | mode | num_envs | compile s | env steps/s | physics steps/s |",
        "|---|---|---|---|---|---|",
        *[format_row(row) for row in rows],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
