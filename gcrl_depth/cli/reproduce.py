"""``gcrl-depth reproduce``: Table 1 of the paper (time at goal, depth 4 vs 64) with the paper's protocol."""

from __future__ import annotations

import argparse

from gcrl_depth.cli.arg_types import HelpFormatter, add_seed_arguments, positive_int
from gcrl_depth.cli.campaign_flags import add_campaign_arguments

PRESET = "paper"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from gcrl_depth.paper import PAPER_EVAL_EPISODES, PAPER_EVALUATIONS, PAPER_SEEDS, TABLE_1

    parser = commands.add_parser("reproduce", help=f"Table 1 of the paper: depth 4 vs 64 on its tasks (preset {PRESET})",
                                 description="Table 1 of the paper reproduced (time at goal, DeepCRL depth 4 vs 64) with "
                                             f"the paper's protocol, ours beside its numbers. Preset: {PRESET} (a GPU's sizes).",
                                 formatter_class=HelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TABLE_1), help="task names or ids (default: Table 1's)")
    parser.add_argument("--depths", nargs="+", type=positive_int, default=[4, 64], help="depths of actor and critic")
    add_seed_arguments(parser, PAPER_SEEDS)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-scale", type=float, default=1.0, help="fraction of the paper's env-step budgets")
    budget.add_argument("--timesteps", type=positive_int, default=None, help="one explicit env-step budget for every task")
    parser.add_argument("--evaluations", type=positive_int, default=PAPER_EVALUATIONS, help="evaluations per run")
    parser.add_argument("--eval-episodes", type=positive_int, default=PAPER_EVAL_EPISODES, help="episodes per evaluation")
    parser.add_argument("--episode-length", type=positive_int, default=None, help="task option (default: the task's 1000)")
    add_campaign_arguments(parser, "reproduce", PRESET)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.campaigns import reproduce
    from gcrl_depth.cli.announce import announce
    from gcrl_depth.cli.campaign_flags import command_line, prepare, run_campaign
    from gcrl_depth.envs import task_name

    if not args.budget_scale > 0:
        raise ValueError(f"--budget-scale expected a positive fraction, got {args.budget_scale}")
    config, out = prepare(args, "reproduce")
    first = reproduce.run_settings(task_name(args.tasks[0]), args.depths[0], args, config)
    announce("reproduce", args, config, args.depths, first["eval_every"])
    cells = reproduce.cells(args, config, out)
    run_campaign(args, cells, lambda outcome: reproduce.report(args, config, outcome, out, command_line(args)))
    return 0
