"""ms per gradient step and kernels per gradient step of the update alone, at the paper's network sizes.

A small, engine-independent probe for before/after comparisons: it builds a prefilled
training state for PointUMaze (16 envs x 64 steps), then times a program of 4 gradient steps
(batch 512, width 256) and counts the kernels of one compiled gradient step
(``hlo_kernels.py``). It uses the engine of the gcrl_depth it imports, so the same command
on two checkouts compares them (``PYTHONPATH=<checkout>``). Prints one JSON line per depth.

    python benchmarks/update_step_cpu.py 4 16 64
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("GCRL_DEPTH_JAX_CACHE", "off")


def programs_for(depth: int):
    """(state, one-step function, n-step function) of the imported engine (any checkout since engine v2)."""
    import jax

    from gcrl_depth.crl.config import CRLConfig  # an import path every checkout has
    from gcrl_depth.crl.engine import EnvSizes, make_train
    from gcrl_depth.envs import make_core

    core = make_core("PointUMaze")
    config = CRLConfig(depth=depth, width=256, batch_size=512, num_envs=16, unroll_length=64, buffer_size=256,
                       prefill_steps=64)
    engine = make_train(config, EnvSizes.of(core), core)
    state = jax.jit(lambda k: engine.prefill(engine.start(engine.init(k))))(jax.random.key(0))

    def one(s, key):
        return engine.update(s.learner, s.buffer, key)

    def many(s, keys):
        return jax.lax.scan(lambda learner, key: engine.update(learner, s.buffer, key), s.learner, keys)

    return state, one, many


def main(depths: list[int]) -> None:
    import jax
    from hlo_kernels import kernel_count

    import gcrl_depth

    for depth in depths:
        state, one, many = programs_for(depth)
        start = time.perf_counter()
        single = jax.jit(one).lower(state, jax.random.key(1)).compile()
        compile_s = time.perf_counter() - start
        keys = jax.random.split(jax.random.key(2), 4)
        program = jax.jit(many).lower(state, keys).compile()
        jax.block_until_ready(program(state, keys))
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            jax.block_until_ready(program(state, keys))
            best = min(best, time.perf_counter() - start)
        print(json.dumps({"gcrl_depth": gcrl_depth.__file__, "depth": depth, "ms_per_grad_step": round(1000 * best / 4, 1),
                          "compile_s_one_step": round(compile_s, 1), "kernels_per_grad_step": kernel_count(single)}),
              flush=True)


if __name__ == "__main__":
    main([int(d) for d in sys.argv[1:]] or [4, 16, 64])
