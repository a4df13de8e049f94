"""What the campaign commands (``reproduce``, ``sweep``, ``compare``, ``evidence``) share: their
flags (``--out``, ``--shard``, ``--report-only``, ``--serial``, ``--progress``, the config and run
flags) and the run itself: announce, train this job's cells, report every finished one."""

from __future__ import annotations

import argparse
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gcrl_depth.campaigns.cells import Cell, Outcome, run_cells, shard_spec
from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument


def add_campaign_arguments(parser: argparse.ArgumentParser, name: str, default_preset: str) -> None:
    """The flags every campaign command takes (its own come before)."""
    add_physics_argument(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder: the report, and the run folders under runs/ (default results/{name}_<platform>)")
    parser.add_argument("--shard", type=shard_spec, default=None, metavar="I/N",
                        help="train only cells I, I+N, I+2N, ... of the campaign's list (1 <= I <= N): N jobs of an "
                             "array share one --out; each writes the report of the cells finished so far")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write the report from the finished run folders under --out")
    parser.add_argument("--serial", action="store_true",
                        help="train a cell's seeds one after another (default: as one run set, one program)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per run")
    add_config_arguments(parser, default_preset=default_preset, exclude=("depth",))
    from gcrl_depth.run_dirs import add_run_arguments

    add_run_arguments(parser)


def prepare(args: argparse.Namespace, name: str) -> tuple[dict[str, Any], Path]:
    """What every campaign reads first: the seeds (into ``args.seeds``), the config (without depth,
    which the campaign's own flags set) and the output folder (into ``args.out_folder``)."""
    from gcrl_depth.cli.arg_types import chosen_seeds
    from gcrl_depth.cli.config_flags import resolved_config

    args.seeds = chosen_seeds(args)
    config = resolved_config(args)
    if "depth" in config:
        raise ValueError(f"{name} sets depths with its own flags (--depths), not depth in the config")
    args.out_folder = output_folder(args, name)
    return config, args.out_folder


def output_folder(args: argparse.Namespace, name: str) -> Path:
    """``--out``, or ``results/<name>_<platform>``."""
    import jax

    return Path(args.out) if args.out is not None else Path("results") / f"{name}_{jax.devices()[0].platform}"


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for the results files that record it."""
    return shlex.join(["gcrl-depth", *getattr(args, "argv", [args.command])])


def run_campaign(args: argparse.Namespace, cells: list[Cell], report: Callable[[Outcome], None]) -> Outcome:
    """Train this job's cells (``--shard``; none with ``--report-only``), print a line per seed of each,
    then ``report`` every finished cell (a SystemExit if there is none)."""
    started = time.perf_counter()
    shard = f" (shard {args.shard} of the list)" if args.shard else ""
    print(f"{len(cells)} cells{shard}: {', '.join(cell.name for cell in cells)}", flush=True)

    def said(cell: Cell, rows: dict[int, list[dict[str, Any]]]) -> None:
        for seed, run in rows.items():
            if run:
                last = run[-1]
                print(f"{cell.name} seed {seed}: time at goal {last['time_at_goal']:.1f}, success {last['success_rate']:.2f} "
                      f"after {int(last['env_steps']):,} env steps ({time.perf_counter() - started:.0f} s)", flush=True)

    outcome = run_cells(cells, args.shard, args.report_only, reuse=args.resume, on_cell=said)
    if not outcome.rows:
        raise SystemExit(f"no finished cells under {args.out_folder / 'runs'} to report")
    report(outcome)
    missing = f" ({len(outcome.missing)} cells missing: {', '.join(outcome.missing)})" if outcome.missing else ""
    print(f"wrote {args.out_folder}{missing}", flush=True)
    return outcome
