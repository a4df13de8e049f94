"""The gradient step alone (no envs): ms per step, kernels per step, compile s, memory, and the floor.

For a task's observation, goal and action sizes, each row builds the learner at a depth with
config overrides (a variant: ``tower_kernel=pallas``, ``compute_dtype=bfloat16``,
``scan_unroll=1``, ...; ``default`` for none) for ``runs`` seeds (k vmapped learners: a run
set), compiles a program of :data:`STEPS` gradient steps on a fixed random minibatch per
seed (a ``lax.scan``, as the engine's updates), and reports the fastest of 3 timed calls:

* ms per gradient step (all runs together) and per seed;
* XLA kernels per gradient step (``hlo_kernels.py``; a Pallas kernel counts as one);
* compile seconds; XLA's memory plan (arguments + temporaries) and, on GPUs, the peak
  bytes the device had in use;
* the floor: the step's matmul FLOPs (forward and backward of every tower layer at this
  batch and width: :func:`matmul_flops`) at the device's measured rate for a large square
  matmul in the row's matmul dtype.

    python -m benchmarks.update_speed --depths 4 64 --variants default tower_kernel=pallas --runs 1 4
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from benchmarks import RESULTS_DIR

STEPS = 10  # gradient steps per timed program
# Tower passes of one gradient step, in units of one layer's forward matmul (2 B W^2 FLOPs):
# phi, psi and the actor forward + input gradients + weight gradients (3 each), and phi at the
# policy's actions forward + input gradients (2; its weight gradients are not needed).
CRITIC_PASSES, ACTOR_PASSES = 8, 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Humanoid", help="whose observation, goal and action sizes")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 64])
    parser.add_argument("--variants", nargs="+", default=["default"],
                        help="config overrides, each 'field=value[,field=value]' or 'default'")
    parser.add_argument("--runs", nargs="+", type=int, default=[1], help="seeds per program (run-set sizes)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--use-cache", action="store_true", help="keep the persistent compilation cache on")
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    return parser.parse_args(argv)


def parse_variant(text: str) -> dict:
    """``"scan_unroll=4,compute_dtype=bfloat16"`` -> config overrides; ``"default"`` -> none."""
    if text == "default":
        return {}
    overrides = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"variant {text!r}: expected field=value items separated by commas, or 'default'")
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            overrides[name.strip()] = lowered == "true"
        else:
            try:
                overrides[name.strip()] = int(value)
            except ValueError:
                overrides[name.strip()] = value.strip()
    return overrides


def matmul_flops(critic_depth: int, actor_depth: int, width: int, batch: int) -> float:
    """Matmul FLOPs of the residual blocks in one gradient step (inputs and heads are negligible)."""
    return 2.0 * batch * width * width * (CRITIC_PASSES * critic_depth + ACTOR_PASSES * actor_depth)


def matmul_rate(dtype: str, size: int = 4096) -> float:
    """FLOP/s of the device on one large square matmul in ``dtype`` (float32 accumulation)."""
    import jax
    import jax.numpy as jnp

    compute = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[dtype]
    a = jax.random.normal(jax.random.key(0), (size, size)).astype(compute)
    program = jax.jit(lambda a: jnp.matmul(a, a, preferred_element_type=jnp.float32))
    jax.block_until_ready(program(a))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(program(a))
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def time_gradient_steps(config: Any, sizes: Any, runs: int = 1) -> dict:
    """The gradient step of ``config`` at ``sizes`` for ``runs`` seeds (vmapped): a compiled program
    of :data:`STEPS` steps on a fixed random minibatch per seed, the fastest of 3 timed calls.

    Returns ms per step (all runs, and per seed), kernels per step, compile seconds, XLA's
    memory plan (bytes) and the parameters per seed. Every script that reports a gradient
    step's cost (this one, ``train_throughput``, the GPU suite) times it here.
    """
    import jax
    import jax.numpy as jnp

    from benchmarks.hlo_kernels import kernel_count
    from gcrl_depth.crl.engine.buffer import Transition
    from gcrl_depth.crl.engine.learner import gradient_step, init_learner
    from gcrl_depth.crl.engine.networks import parameter_count
    from gcrl_depth.crl.engine.train import make_train

    spec = make_train(config, sizes).learner_spec
    keys = jax.random.split(jax.random.key(0), runs)
    batch_size = config.batch_size

    def minibatch(key):
        k_obs, k_action, k_goal = jax.random.split(key, 3)
        return Transition(obs=jax.random.normal(k_obs, (batch_size, sizes.observation_size)),
                          action=jax.random.uniform(k_action, (batch_size, sizes.action_size), minval=-1, maxval=1),
                          goal=jax.random.normal(k_goal, (batch_size, sizes.goal_size)),
                          offset=jnp.ones(batch_size, jnp.int32), valid=jnp.ones(batch_size, bool))

    def steps(learner, batch, key):
        def one(learner, step_key):
            return gradient_step(learner, batch, step_key, spec)

        return jax.lax.scan(one, learner, jax.random.split(key, STEPS))

    learner = jax.jit(jax.vmap(lambda k: init_learner(spec, k)))(keys)
    batches = jax.jit(jax.vmap(minibatch))(keys)
    if runs == 1:
        learner, batches, keys = jax.tree_util.tree_map(lambda x: x[0], (learner, batches, keys))
    program_of = steps if runs == 1 else jax.vmap(steps)
    start = time.perf_counter()
    program = jax.jit(program_of, donate_argnums=0).lower(learner, batches, keys).compile()
    compile_s = time.perf_counter() - start
    memory = program.memory_analysis()
    learner, _ = program(learner, batches, keys)  # warm-up
    jax.block_until_ready(learner)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        learner, _ = program(learner, batches, keys)
        jax.block_until_ready(learner)
        best = min(best, time.perf_counter() - start)
    ms_per_step = 1000 * best / STEPS
    return {
        "params": parameter_count((learner.params.actor, learner.params.critic)) // runs,
        "ms_per_grad_step": ms_per_step, "ms_per_grad_step_per_seed": ms_per_step / runs,
        "kernels_per_grad_step": round(kernel_count(program) / STEPS), "compile_s": compile_s,
        "planned_bytes": None if memory is None else memory.argument_size_in_bytes + memory.temp_size_in_bytes,
    }


def bench_update(task: str, depth: int, variant: str = "default", runs: int = 1, width: int = 256,
                 batch_size: int = 512) -> dict:
    """One row: :func:`time_gradient_steps` at ``task``'s sizes, with the device's peak memory and the floor."""
    import jax

    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.crl.engine.train import EnvSizes
    from gcrl_depth.envs import make_core

    config = CRLConfig.from_dict({"depth": depth, "width": width, "batch_size": batch_size, **parse_variant(variant)})
    timing = time_gradient_steps(config, EnvSizes.of(make_core(task)), runs)
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    flops = matmul_flops(config.resolved_critic_depth, config.resolved_actor_depth, width, batch_size) * runs
    return {
        "task": task, "depth": depth, "variant": variant, "runs": runs, **timing,
        "peak_bytes": None if not stats else stats.get("peak_bytes_in_use"),
        "gflop_per_step": flops / 1e9, "floor_ms": 1000 * flops / matmul_rate(config.compute_dtype),
    }


def format_row(row: dict) -> str:
    gib = "-" if row["planned_bytes"] is None else f"{row['planned_bytes'] / 2**30:.2f}"
    return (f"| {row['task']} | {row['depth']} | {row['variant']} | {row['runs']} | {row['params']:,} | "
            f"{row['ms_per_grad_step']:,.2f} | {row['ms_per_grad_step_per_seed']:,.2f} | {row['kernels_per_grad_step']:,} | "
            f"{row['compile_s']:.1f} | {gib} | {row['gflop_per_step']:.1f} | {row['floor_ms']:.3f} |")


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    if not args.use_cache:
        os.environ["GCRL_DEPTH_JAX_CACHE"] = "off"
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    import jax

    import gcrl_depth
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header

    platform = jax.devices()[0].platform
    out = args.out or RESULTS_DIR / f"update_speed_{platform}.md"
    lines = [*results_header("Gradient step alone: ms, kernels, compile, floor", "update_speed.py", gcrl_depth.__version__),
             f"Width {args.width}, batch {args.batch_size}, {STEPS} gradient steps per timed program (fastest of 3). "
             "Floor = the step's matmul FLOPs at the measured rate of a 4096^2 matmul in the row's dtype.", "",
             "| task | depth | variant | runs | params | ms/step | ms/step per seed | kernels/step | compile s | "
             "planned GiB | GFLOP/step | floor ms |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for depth in args.depths:
        for variant in args.variants:
            for runs in args.runs:
                lines.append(format_row(bench_update(args.task, depth, variant, runs, args.width, args.batch_size)))
                print(lines[-1], flush=True)
                atomic_write_text(out, "\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
