"""Training throughput of the host path (any Gymnasium goal env) against the device path (MJX).

For each pair ``HOST_ID=DEVICE_TASK`` of ``--pairs`` (default: gymnasium-robotics'
``PointMaze_UMaze-v3`` against our ``PointUMaze``, ``AntMaze_UMaze-v5`` against
``AntUMaze``) it builds DeepCRL's engine and collector at the same settings (default: the
CPU preset at ``--depth``) and measures, for each path:

* **train**: env steps/s and gradient steps/s of ``--iterations`` training iterations
  (collection + gradient steps), the fastest of ``--repeats``, after compiling;
* **collect**: env steps/s of the prefill (the policy acting, nothing learned);
* for the host path, **env only**: env steps/s of the vector env with random actions, no policy.

The two robots are not the same simulation (MuJoCo C on the host against MJX, other
observation sizes, frame skips and time limits): the columns compare what a user gets per
env step, not the physics. Writes ``benchmarks/results/host_throughput_<platform>.md``
and a bar chart next to it.

    python -m benchmarks.host_throughput
    python -m benchmarks.host_throughput --depth 16 --num-envs 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS_DIR

DEFAULT_PAIRS = ["gymnasium_robotics:PointMaze_UMaze-v3=PointUMaze", "gymnasium_robotics:AntMaze_UMaze-v5=AntUMaze"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.config_flags import add_config_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="HOST_ID=DEVICE_TASK",
                        help="a Gymnasium goal env id ('module:Id' imports module first) and the gcrl_depth task to compare with")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=2, help="training iterations per timed run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per path (the fastest is reported)")
    parser.add_argument("--vectorization", choices=["sync", "async"], default="sync", help="the host vector env")
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    add_config_arguments(parser, default_preset="cpu", exclude=("depth",))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth.cli.config_flags import resolved_config
    from gcrl_depth.crl.engine.config import CRLConfig

    config = CRLConfig.from_dict({**resolved_config(args), "depth": args.depth})
    rows = []
    for pair in args.pairs:
        host_id, sep, task = pair.partition("=")
        if not sep:
            raise SystemExit(f"--pairs {pair!r}: expected HOST_ID=DEVICE_TASK")
        for path, env in (("host", host_id), ("device", task)):
            rows.append(bench_path(path, env, config, args))
            print(format_row(rows[-1]), flush=True)
    out = args.out or RESULTS_DIR / f"host_throughput_{jax.devices()[0].platform}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, out.with_suffix(".png"), config)
    from gcrl_depth.files import atomic_write_text

    atomic_write_text(out, render_markdown(rows, args, config, gcrl_depth.__version__))
    print(f"wrote {out}")
    return out


def bench_path(path: str, env: str, config, args: argparse.Namespace) -> dict:
    """One row: train, collect (and for the host, env-only) rates of ``env`` on ``path``."""
    import jax
    import numpy as np

    from gcrl_depth.compile_clock import compile_seconds
    from gcrl_depth.crl.engine import compiled
    from gcrl_depth.crl.engine.train import make_train
    from gcrl_depth.crl.env_paths.device import DeviceCollector
    from gcrl_depth.crl.env_paths.host import HostCollector
    from gcrl_depth.envs import make_core
    from gcrl_depth.goal_envs import EnvSizes, vector_goal_env

    envs = None
    if path == "host":
        envs = vector_goal_env(env, config.num_envs) if args.vectorization == "sync" else _async_envs(env, config.num_envs)
        engine = make_train(config, EnvSizes.of_vector_env(envs))
        collector = HostCollector(engine, envs)
    else:
        core = make_core(env)
        engine = make_train(config, EnvSizes.of(core), core)
        collector = DeviceCollector(engine)
    try:
        initial = compiled.init(jax.random.key(0), engine)
        jax.block_until_ready(collector.prefill(collector.start(initial)))  # compiles the prefill
        state = collector.start(compiled.init(jax.random.key(0), engine))  # fresh envs and buffer
        start = time.perf_counter()
        state = jax.block_until_ready(collector.prefill(state))
        collect_rate = config.prefill_env_steps / (time.perf_counter() - start)
        compiled_before = compile_seconds()
        state, _ = collector.train(state, args.iterations)  # compiles the epoch
        compile_s = compile_seconds() - compiled_before
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            state, _ = collector.train(state, args.iterations)
            jax.block_until_ready(state.buffer.size)
            best = min(best, time.perf_counter() - start)
        env_only = None
        if envs is not None:
            envs.reset(seed=0)
            steps = max(1, config.prefill_steps)
            start = time.perf_counter()
            for _ in range(steps):
                envs.step(np.asarray(envs.action_space.sample()))
            env_only = steps * config.num_envs / (time.perf_counter() - start)
    finally:
        if envs is not None:
            envs.close()
    return {
        "path": path, "env": env, "sizes": f"{engine.sizes.observation_size}/{engine.sizes.goal_size}/{engine.sizes.action_size}",
        "env_steps_per_s": args.iterations * config.env_steps_per_iteration / best,
        "grad_steps_per_s": args.iterations * config.updates_per_iteration / best,
        "collect_steps_per_s": collect_rate, "env_only_steps_per_s": env_only, "compile_s": compile_s,
    }


def _async_envs(env_id: str, num_envs: int):
    import gymnasium as gym

    from gcrl_depth.goal_envs import registered_spec

    return gym.make_vec(registered_spec(env_id).id, num_envs=num_envs, vectorization_mode="async",
                        vector_kwargs={"context": "spawn"})


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_row(row: dict) -> str:
    return (f"| {row['env']} | {row['path']} | {row['sizes']} | {_rate(row['env_steps_per_s'])} | {row['grad_steps_per_s']:,.1f} | "
            f"{_rate(row['collect_steps_per_s'])} | {_rate(row['env_only_steps_per_s'])} | {row['compile_s']:.1f} |")


def plot(rows: list[dict], path: Path, config) -> None:
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    labels = [f"{r['env'].rpartition(':')[2]}\n({r['path']})" for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["env_steps_per_s"] for r in rows], width=0.4, label="train (collect + learn)")
    ax.bar([i + 0.2 for i in x], [r["collect_steps_per_s"] for r in rows], width=0.4, label="collect only")
    ax.set_xticks(list(x), labels, fontsize="x-small")
    ax.set_yscale("log")
    ax.set_ylabel("env steps / s")
    ax.set_title(f"Host vs device path, depth {config.depth}, {config.num_envs} envs", fontsize="small")
    ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path)


def render_markdown(rows: list[dict], args: argparse.Namespace, config, version: str) -> str:
    from gcrl_depth.machine import results_header

    return "\n".join([
        *results_header("Host path vs device path: DeepCRL training throughput", "host_throughput.py", version),
        f"Settings (both paths): depth {config.depth}, width {config.width}, {config.num_envs} envs x "
        f"{config.unroll_length} steps per iteration, {config.updates_per_iteration} gradient steps of batch "
        f"{config.batch_size} per iteration; {args.iterations} iteration(s) per timed run, best of {args.repeats}. "
        f"Host vector env: {args.vectorization}.",
        "Columns: sizes = observation/goal/action; train = env steps/s and gradient steps/s of whole iterations; "
        "collect = env steps/s of the prefill (policy acting, no learning); env only = the host vector env with "
        "random actions; compile = the iteration program (host) or the epoch program (device).",
        "The host envs (MuJoCo C, gymnasium-robotics) and the device envs (MJX) are different simulations: "
        "this compares what a user gets per env step.",
        "",
        "| env | path | sizes | train env steps/s | train grad steps/s | collect env steps/s | env only steps/s | compile s |",
        "|---|---|---|---|---|---|---|---|",
        *[format_row(row) for row in rows],
        "",
    ])


if __name__ == "__main__":
    main()
