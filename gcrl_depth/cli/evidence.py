"""``gcrl-depth evidence``: depth 4 against deeper networks within a wall-clock budget, the paper's protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from gcrl_depth.cli.arg_types import HelpFormatter, add_seed_arguments, positive_int
from gcrl_depth.cli.campaign_flags import add_campaign_arguments

PRESET = "paper"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from gcrl_depth.paper import PAPER_EVAL_EPISODES

    parser = commands.add_parser("evidence", help=f"does depth help yet? depths within a time budget (preset {PRESET})",
                                 description="Depth 4 against deeper networks within a wall-clock budget, seeds as run "
                                             f"sets, the paper's protocol. Preset: {PRESET} (a GPU's sizes).",
                                 formatter_class=HelpFormatter)
    parser.add_argument("--task", default="AntBigMaze", help="task name or id")
    parser.add_argument("--depths", nargs="+", type=positive_int, default=[4, 64], help="depths, trained in this order")
    add_seed_arguments(parser, 3)
    parser.add_argument("--timesteps", type=positive_int, default=1_000_000, help="env steps per seed (at most)")
    parser.add_argument("--evaluations", type=positive_int, default=10, help="evaluations per run (every timesteps / this)")
    parser.add_argument("--eval-episodes", type=positive_int, default=PAPER_EVAL_EPISODES, help="episodes per evaluation")
    parser.add_argument("--episode-length", type=positive_int, default=None, help="task option (default: the task's 1000)")
    parser.add_argument("--seconds", type=float, default=400.0, help="wall-clock budget of all depths together")
    parser.add_argument("--runs-dir", default=None,
                        help="where the run folders go (default <out>/runs: logs, a checkpoint with the replay buffers "
                             "after every evaluation, models); 'none': no run folders (the GPU suite's time-boxed slot)")
    add_campaign_arguments(parser, "evidence", PRESET)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from gcrl_depth.campaigns import evidence
    from gcrl_depth.cli.announce import announce
    from gcrl_depth.cli.campaign_flags import command_line, prepare, run_campaign
    from gcrl_depth.envs import task_name

    config, out = prepare(args, "evidence")
    args.runs_dir = None if args.runs_dir == "none" else Path(args.runs_dir or out / "runs")
    if args.runs_dir is None and (args.shard or args.report_only):
        raise ValueError("--runs-dir none keeps no run folders, so --shard and --report-only have nothing to merge")
    task = task_name(args.task)
    announce("evidence", args, config, args.depths, max(1, args.timesteps // args.evaluations))
    progress = evidence.Progress(deadline=time.perf_counter() + args.seconds)
    command = command_line(args)
    cells = evidence.cells(args, config, progress, lambda: evidence.write_results(args, task, config, progress.rows,
                                                                                    progress.notes, command))
    run_campaign(args, cells, lambda outcome: evidence.report(args, task, config, outcome, progress, command))
    return 0
