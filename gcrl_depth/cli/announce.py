"""The first line a training command prints: its preset; and, given no preset on a machine without
a GPU at the paper's sizes, a warning with the expected time per evaluation and the ``--preset cpu`` hint."""

from __future__ import annotations

import argparse
from typing import Any

# Env steps per second of the whole epoch program (collection + updates) at the paper's sizes (512 envs
# x 62 steps, batch 512, width 256, one gradient step per 39.68 env steps) on a 2-core AMD EPYC:
# depth 4 measured, 167 (`python -m benchmarks.train_throughput --depths 4 --num-envs 512 --unroll-length 62
# --batch-size 512 --buffer-size 10000 --repeats 1`, 2026-12-07, AntBigMaze); depth 64 scaled from it by the
# depth-64/depth-4 ratio at the CPU sizes (149/964, benchmarks/results/train_throughput_cpu.md): 26. Between
# and beyond, the cost per env step is taken as linear in depth.
CPU_PAPER_RATES = {4: 167.0, 64: 26.0}
PAPER_SIZES = ("num_envs", "batch_size", "width")


def preset_line(command: str, args: argparse.Namespace) -> str:
    """``gcrl-depth COMMAND: preset NAME`` (and whether the command chose it)."""
    chosen = "given" if getattr(args, "preset_given", False) else "this command's default; --preset to change"
    return f"gcrl-depth {command}: preset {args.preset} ({chosen})"


def expected_cpu_seconds(env_steps: int, depth: int) -> float:
    """Seconds a 2-core CPU takes for ``env_steps`` of training at the paper's sizes and ``depth``."""
    (low, low_rate), (high, high_rate) = sorted(CPU_PAPER_RATES.items())
    per_step = 1 / low_rate + (depth - low) * (1 / high_rate - 1 / low_rate) / (high - low)
    return env_steps * max(per_step, 1 / low_rate)


def slow_default_warning(args: argparse.Namespace, config: dict[str, Any], depths: list[int], eval_every: int,
                         platform: str) -> str | None:
    """The warning for a command left at a paper-sized preset on a CPU, None where it does not apply."""
    from gcrl_depth.crl.engine.config import CRLConfig

    paper = CRLConfig()
    at_paper_sizes = all(config.get(name, getattr(paper, name)) == getattr(paper, name) for name in PAPER_SIZES)
    if getattr(args, "preset_given", False) or platform != "cpu" or not at_paper_sizes or not depths:
        return None
    times = ", ".join(f"depth {d}: {_duration(expected_cpu_seconds(eval_every, d))}" for d in sorted(set(depths)))
    return (f"warning: no GPU, and preset {args.preset} trains at the paper's sizes (512 envs, batch 512): one "
            f"evaluation ({eval_every:,} env steps) takes about {times} on a 2-core CPU. "
            "Pass --preset cpu (sized for a CPU) or --preset tiny (a smoke test), or run on a GPU.")


def announce(command: str, args: argparse.Namespace, config: dict[str, Any], depths: list[int], eval_every: int) -> None:
    """Print the preset line, then the slow-default warning where it applies."""
    import jax

    print(preset_line(command, args), flush=True)
    warning = slow_default_warning(args, config, depths, eval_every, jax.default_backend())
    if warning:
        print(warning, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
