"""Training throughput of deep CRL by depth and run-set size: steps/s, ms per gradient step, kernels, memory.

For each depth, each ``--variants`` entry (config overrides of the speed knobs:
``scan_unroll=4``, ``compute_dtype=bfloat16``, ``remat=true``; ``default`` for none) and
each ``--runs`` size k (k seeds as one vmapped run set; 1 = a single run) it builds the
engine, prefills the buffers, compiles the programs (trace + lower + compile, persistent
cache off unless ``--use-cache``), runs them ``--repeats`` times and reports the fastest:

* env steps/s and gradient steps/s of the whole epoch program (collection + updates), all
  runs together;
* the gradient step alone, timed by the one gradient-step timer
  (:func:`benchmarks.update_speed.time_gradient_steps`: a fixed minibatch, no sampling): ms
  per step for the whole set and per seed, XLA kernels per step (fusions, library calls and
  other device ops, loop bodies times their trip counts: ``benchmarks/hlo_kernels.py``) and
  its compile seconds;
* compile seconds of the epoch program;
* XLA's memory plan of the epoch program (arguments + temporaries), and on GPUs the
  device's peak bytes in use; the process's peak RSS on CPUs.

Results go to ``benchmarks/results/train_throughput_<platform>.md`` with the machine.
The defaults are sized for a 2-core CPU; the paper's GPU setup is
``--num-envs 512 --unroll-length 62 --batch-size 512 --env-steps-per-update 39.68``.

    python -m benchmarks.train_throughput --depths 4 16 64 256 1024
    python -m benchmarks.train_throughput --depths 4 64 --runs 1 4 8 --num-envs 512 --batch-size 512 --buffer-size 10000
    python -m benchmarks.train_throughput --depths 4 64 256 --variants default scan_unroll=4 compute_dtype=bfloat16 remat=true
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from benchmarks import RESULTS_DIR

SLOW_RUN_S = 30.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="AntBigMaze", help="task name or id")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 16, 64, 256, 1024])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--unroll-length", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--env-steps-per-update", type=float, default=39.68, help="the paper's update ratio")
    parser.add_argument("--buffer-size", type=int, default=None,
                        help="replay steps per env (default: 4 x unroll length, at least 256; the paper: 10000)")
    parser.add_argument("--iterations", type=int, default=1, help="training iterations per timed epoch program")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per depth (the fastest is reported; one if it takes over 30 s)")
    parser.add_argument("--variants", nargs="+", default=["default"],
                        help="config overrides to compare, each 'field=value[,field=value]' or 'default'")
    parser.add_argument("--runs", nargs="+", type=int, default=[1], help="run-set sizes (seeds in one program)")
    parser.add_argument("--use-cache", action="store_true", help="keep the persistent compilation cache on")
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    if not args.use_cache:
        os.environ["GCRL_DEPTH_JAX_CACHE"] = "off"
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    import jax

    import gcrl_depth
    from gcrl_depth.files import atomic_write_text

    rows = []
    for depth in args.depths:
        for variant in args.variants:
            for runs in args.runs:
                rows.append(bench_depth(args, depth, variant, runs))
                print(format_row(rows[-1]), flush=True)
    platform = jax.devices()[0].platform
    out = args.out or RESULTS_DIR / f"train_throughput_{platform}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_markdown(rows, args, gcrl_depth.__version__))
    print(f"wrote {out}")
    return out


def bench_depth(args: argparse.Namespace, depth: int, variant: str = "default", runs: int = 1) -> dict:
    import jax

    from benchmarks.update_speed import parse_variant, time_gradient_steps
    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.crl.engine.train import EnvSizes, make_train
    from gcrl_depth.envs import make_core

    config = CRLConfig.from_dict({
        "depth": depth, "width": args.width, "num_envs": args.num_envs, "unroll_length": args.unroll_length,
        "batch_size": args.batch_size, "env_steps_per_update": args.env_steps_per_update,
        "buffer_size": args.buffer_size or max(256, 4 * args.unroll_length), "prefill_steps": args.unroll_length, **parse_variant(variant)})
    core = make_core(args.env)
    engine = make_train(config, EnvSizes.of(core), core)
    keys = jax.random.split(jax.random.key(0), runs)
    if runs == 1:
        state = jax.jit(lambda k: engine.prefill(engine.start(engine.init(k))))(keys[0])
        epoch = engine.epoch
    else:
        state = jax.jit(lambda ks: jax.vmap(lambda k: engine.prefill(engine.start(engine.init(k))))(ks))(keys)
        epoch = jax.vmap(lambda s, iterations: engine.epoch(s, iterations), in_axes=(0, None))
    start = time.perf_counter()  # not donated: the state is reused
    program = jax.jit(epoch, static_argnums=1).lower(state, args.iterations).compile()
    compile_s = time.perf_counter() - start
    memory = program.memory_analysis()
    planned = None if memory is None else memory.argument_size_in_bytes + memory.temp_size_in_bytes
    best = _best_time(lambda: program(state), args.repeats)
    step = time_gradient_steps(config, EnvSizes.of(core), runs)
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    params = step["params"]
    return {
        "depth": depth,
        "variant": variant,
        "runs": runs,
        "params": int(params),
        "compile_s": compile_s,
        "env_steps_per_s": runs * args.iterations * config.env_steps_per_iteration / best,
        "grad_steps_per_s": runs * args.iterations * config.updates_per_iteration / best,
        "ms_per_grad_step": step["ms_per_grad_step"],
        "ms_per_grad_step_per_seed": step["ms_per_grad_step_per_seed"],
        "update_compile_s": step["compile_s"],
        "kernels_per_grad_step": step["kernels_per_grad_step"],
        "planned_bytes": planned,
        "peak_bytes": None if not stats else stats.get("peak_bytes_in_use"),
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "updates_per_iteration": config.updates_per_iteration,
    }


def _best_time(run, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (after one warm-up call); one call if it is slow."""
    import jax

    jax.block_until_ready(run())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
        if best > SLOW_RUN_S:  # one run this long is timed well enough; the repeats would cost minutes
            break
    return best


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f}"


def format_row(row: dict) -> str:
    return (f"| {row['depth']} | {row['variant']} | {row['params']:,} | {row['compile_s']:.1f} | {row['env_steps_per_s']:,.0f} | "
            f"{row['grad_steps_per_s']:,.1f} | {row['runs']} | {row['ms_per_grad_step']:,.2f} | "
            f"{row['ms_per_grad_step_per_seed']:,.2f} | {row['kernels_per_grad_step']:,} | {row['update_compile_s']:.1f} | "
            f"{_gib(row['planned_bytes'])} | {_gib(row['peak_bytes'])} | {_gib(row['max_rss_bytes'])} |")


def render_markdown(rows: list[dict], args: argparse.Namespace, package_version: str) -> str:
    from gcrl_depth.machine import results_header

    updates = rows[0]["updates_per_iteration"] if rows else "?"
    return "\n".join([
        *results_header("Training throughput by depth", "train_throughput.py", package_version),
        f"Setup: {args.env}, width {args.width}, {args.num_envs} envs x {args.unroll_length} steps per iteration, "
        f"{updates} gradient steps of batch {args.batch_size} per iteration (1 per {args.env_steps_per_update} env steps), "
        f"{args.iterations} iteration(s) per timed program, best of {args.repeats}.",
        "Variant = the config overrides of the row (default: the platform's scan_unroll (1 on CPUs), float32, no remat).",
        "Depth = Dense layers per residual tower (actor, phi and psi each). Params = actor + critic.",
        "Compile = trace + lower + XLA compile of the epoch program"
        + (" (persistent cache on)." if args.use_cache else " (persistent cache off)."),
        "Memory: XLA plan = arguments + temporaries of the program; device peak = peak bytes in use (GPU only);",
        "max RSS = the process's peak resident memory so far (cumulative over rows).",
        "",
        "Runs = seeds trained as one vmapped run set; env and grad steps/s count all runs. ms/grad step: the gradient",
        "step alone on a fixed minibatch (update_speed.time_gradient_steps), every run's, then divided by the runs (per seed).",
        "Kernels: XLA kernels in one gradient step of that program (loops times their trip counts).",
        "Params are per run.",
        "",
        "| depth | variant | params | compile s | env steps/s | grad steps/s | runs | ms/grad step | ms/grad step per seed "
        "| kernels/grad step | update compile s | XLA plan GiB | device peak GiB | max RSS GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[format_row(row) for row in rows],
        "",
    ])


if __name__ == "__main__":
    main()
