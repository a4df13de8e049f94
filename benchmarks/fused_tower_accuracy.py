"""The fused Pallas tower against the XLA tower: relative errors of the output and of every gradient.

For each (width, depth, batch, dtype) it draws blocks with non-trivial biases and LayerNorm
parameters and a random input, runs both towers (the fused one in Pallas interpret mode off
a GPU, compiled with Triton on one) and reports max |fused - xla| / max |xla| for the output
and the gradients of a random projection of it w.r.t. the input, kernels, biases, LayerNorm
scales and offsets. It also times lowering the GPU program for ``cuda`` (``jax.export``) at
each width and depth. No speed is measured: on a CPU the kernels run interpreted.

    python -m benchmarks.fused_tower_accuracy
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS_DIR

CASES = ((64, 8, 37, "float32"), (128, 16, 100, "float32"), (192, 8, 16, "float32"), (256, 16, 64, "float32"),
         (1024, 4, 20, "float32"), (256, 16, 64, "bfloat16"), (1024, 4, 20, "bfloat16"))
NAMES = ("output", "d input", "d kernel", "d bias", "d scale", "d offset")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    return parser.parse_args(argv)


def errors(width: int, depth: int, batch: int, dtype: str) -> list[float]:
    """Relative errors of the fused tower, in the order of :data:`NAMES`."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from gcrl_depth.crl.engine.networks import Blocks, TowerSpec, init_blocks, run_blocks

    spec = TowerSpec(depth, width, dtype=dtype)
    key = jax.random.key(depth * width)
    base = init_blocks(key, spec)
    k_bias, k_scale, k_offset, k_x, k_w = jax.random.split(jax.random.fold_in(key, 1), 5)
    blocks = Blocks(base.kernel, 0.1 * jax.random.normal(k_bias, base.bias.shape),
                    1.0 + 0.2 * jax.random.normal(k_scale, base.scale.shape),
                    0.1 * jax.random.normal(k_offset, base.offset.shape))
    x, weights = jax.random.normal(k_x, (batch, width)), jax.random.normal(k_w, (batch, width))
    results = []
    for kernel in ("xla", "pallas"):
        tower_spec = TowerSpec(depth, width, dtype=dtype, kernel=kernel)

        def loss(b, x, tower_spec=tower_spec):
            out = run_blocks(b, x, tower_spec)
            return jnp.sum(out * weights), out

        (_, out), (d_blocks, d_x) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(blocks, x)
        results.append([out, d_x, d_blocks.kernel, d_blocks.bias, d_blocks.scale, d_blocks.offset])
    return [float(np.max(np.abs(np.asarray(f) - np.asarray(r))) / np.max(np.abs(np.asarray(r))))
            for r, f in zip(*results)]


def lowering_seconds(width: int, depth: int, dtype: str) -> float:
    """Seconds to lower the gradient of a stacked (phi, psi) fused tower for ``cuda`` at batch 1536."""
    import jax
    import jax.numpy as jnp

    from gcrl_depth.crl.engine import fused_tower
    from gcrl_depth.crl.engine.networks import BLOCK_SIZE, LAYER_NORM_EPS, TowerSpec, init_blocks

    blocks = jax.eval_shape(lambda: init_blocks(jax.random.key(0), TowerSpec(depth, width), (2,)))
    x = jax.ShapeDtypeStruct((2, 1536, width), jnp.float32)

    def tower(b, x):
        return fused_tower.residual_blocks(b.kernel, b.bias, b.scale, b.offset, x, block_size=BLOCK_SIZE,
                                           eps=LAYER_NORM_EPS, dtype=dtype, interpret=False)

    def loss(b, x):
        return jnp.sum(jax.vmap(tower)(b, x))

    start = time.perf_counter()
    fused_tower.export_for_cuda(jax.grad(loss, argnums=(0, 1)), blocks, x)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.machine import results_header

    platform = jax.devices()[0].platform
    out = args.out or RESULTS_DIR / f"fused_tower_accuracy_{platform}.md"
    mode = "interpret mode" if platform != "gpu" else "Triton"
    lines = [*results_header("Fused Pallas tower vs XLA tower: relative errors", "fused_tower_accuracy.py",
                             gcrl_depth.__version__),
             f"The fused kernels ran in {mode}. Each cell: max |fused - xla| / max |xla| (gradients of "
             "sum(output * random weights)). Tests hold float32 to 1e-5 and bfloat16 to 2e-2.", "",
             "| width | depth | batch | dtype | " + " | ".join(NAMES) + " |", "|---|---|---|---|" + "---|" * len(NAMES)]
    for width, depth, batch, dtype in CASES:
        cells = " | ".join(f"{e:.1e}" for e in errors(width, depth, batch, dtype))
        lines.append(f"| {width} | {depth} | {batch} | {dtype} | {cells} |")
        print(lines[-1], flush=True)
    lines += ["", "Lowering the GPU program (forward + backward kernels of a stacked phi/psi tower, batch 1536) for "
              "`cuda` on this machine (`jax.export`; Triton compiles it to machine code only on a GPU):", "",
              "| width | depth | dtype | lowering s |", "|---|---|---|---|"]
    for width, depth, dtype in ((256, 64, "float32"), (256, 1024, "bfloat16"), (1024, 1024, "float32")):
        lines.append(f"| {width} | {depth} | {dtype} | {lowering_seconds(width, depth, dtype):.2f} |")
        print(lines[-1], flush=True)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
