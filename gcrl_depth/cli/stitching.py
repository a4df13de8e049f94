"""``gcrl-depth stitching``: the paper's stitching test over depths (train on near pairs, evaluate on far ones)."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from gcrl_depth.cli.announce import announce
from gcrl_depth.cli.arg_types import HelpFormatter, positive_int
from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument, resolved_config, with_physics
from gcrl_depth.logger import WANDB_HELP


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stitching", help="train on start-goal pairs at most N cells apart, evaluate on farther pairs",
                                 formatter_class=HelpFormatter)
    parser.add_argument("env", help="a gcrl_depth maze task or id (PointBigMaze, AntBigMaze, ...)")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 16], help="depths of actor and critic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds per depth")
    parser.add_argument("--serial", action="store_true",
                        help="train a depth's seeds one after another (default: as one run set, one program)")
    parser.add_argument("--max-cells", type=positive_int, default=3, help="training pairs are at most this many maze cells apart")
    parser.add_argument("--timesteps", type=positive_int, default=200_000, help="env steps per run")
    parser.add_argument("--eval-every", type=positive_int, default=50_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=positive_int, default=32, help="episodes per evaluation (far and near pairs each)")
    parser.add_argument("--episode-length", type=int, default=None, help="task option (default: the task's 1000)")
    add_physics_argument(parser)
    parser.add_argument("--out", default=None, help="output folder (default runs/stitching-<env>); one that holds "
                        "results is refused unless --overwrite; runs interrupted mid-way resume from its runs/ folders")
    parser.add_argument("--overwrite", action="store_true", help="replace the results and runs --out holds")
    parser.add_argument("--wandb", default=None, metavar="PROJECT", help=WANDB_HELP)
    add_config_arguments(parser, default_preset="cpu", exclude=("depth",))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import gcrl_depth
    from gcrl_depth.analysis import stitching
    from gcrl_depth.machine import results_header
    from gcrl_depth.run_lock import folder_lock

    config = resolved_config(args)
    if "depth" in config:
        raise ValueError("the stitching test sweeps depths: give them with --depths, not depth in the config")
    task = stitching.check_stitching(args.env, args.depths, args.max_cells, **config)  # all before the first run
    announce("stitching", args, config, args.depths, args.eval_every)
    with_physics(task, {}, args.physics)
    out = Path(args.out or f"runs/stitching-{task}")
    with folder_lock(out):  # one writer at a time
        held = [name for name in stitching.RESULT_FILES if (out / name).exists()]
        if held and not args.overwrite:
            raise ValueError(f"--out {str(out)!r} already holds results ({', '.join(held)}); pass --overwrite to replace "
                             "them, or another --out")
        rows = []
        for depth in args.depths:
            start = time.perf_counter()
            runs = stitching.stitching_runs(task, depth, args.seeds, args.timesteps, args.eval_every, args.eval_episodes,
                                            args.max_cells, args.episode_length, serial=args.serial,
                                            run_dir=out / "runs" / f"d{depth}", resume=not args.overwrite,
                                            wandb_project=args.wandb, physics=args.physics, **config)
            for seed, run_rows in runs.items():
                rows += run_rows
                if not run_rows:
                    continue
                last = run_rows[-1]
                print(f"depth {depth} seed {seed}: far pairs success {last['success_rate']:.2f}, near pairs success "
                      f"{last['near/success_rate']:.2f} ({time.perf_counter() - start:.0f} s)", flush=True)
        header = [*results_header("Stitching test", "", gcrl_depth.__version__, command=shlex.join(["gcrl-depth", *args.argv])),
                  f"{task}: training start-goal pairs at most {args.max_cells} maze cells apart, evaluation on pairs at least "
                  f"{args.max_cells + 1} apart (far) and on the training pairs (near), {args.eval_episodes} episodes each; "
                  f"{args.timesteps:,} env steps per run, physics {args.physics or 'mjx'}, preset `{args.preset}` with {config}; "
                  f"seeds {args.seeds}."]
        out = stitching.write_results(rows, out, header)
        print(f"wrote {out}")
    return 0
