"""``gcrl-depth compare``: DeepCRL at several depths against SB3 SAC+HER / TD3+HER, one evaluator."""

from __future__ import annotations

import argparse

from gcrl_depth.cli.arg_types import HelpFormatter, add_seed_arguments, positive_int
from gcrl_depth.cli.campaign_flags import add_campaign_arguments

PRESET = "cpu"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("compare", help=f"DeepCRL against SB3 SAC / TD3 with HER, equal env steps (preset {PRESET})",
                                 description="DeepCRL at several depths against stable-baselines3 SAC+HER and TD3+HER "
                                             f"(extra `baselines`), equal env-step budgets, one evaluator. Preset: {PRESET}.",
                                 formatter_class=HelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["PointUMaze"],
                        help="gcrl_depth task names or ids, or Gymnasium goal env ids ('module:Id' imports module first)")
    parser.add_argument("--algos", nargs="+", default=["crl", "sac"], choices=["crl", "sac", "td3"],
                        help="td3 adds about 12 minutes on a 2-core CPU at the default budget")
    parser.add_argument("--depths", nargs="+", type=positive_int, default=[4, 16], help="DeepCRL depths")
    parser.add_argument("--baseline-depth", type=positive_int, default=None,
                        help="residual depth for SAC/TD3 (default: a 2-layer MLP)")
    parser.add_argument("--baseline-width", type=positive_int, default=256, help="width of SAC/TD3's networks")
    add_seed_arguments(parser, 1)
    parser.add_argument("--timesteps", type=positive_int, default=40_000, help="env steps per run (equal for every algorithm)")
    parser.add_argument("--eval-every", type=positive_int, default=10_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=positive_int, default=16, help="episodes per evaluation")
    parser.add_argument("--eval-goals", choices=["train", "eval"], default="train",
                        help="evaluate on the training goal distribution or on the maze's farthest goals (gcrl_depth's "
                             "...Eval twins; other envs are evaluated on their own goals)")
    parser.add_argument("--episode-length", type=positive_int, default=None,
                        help="steps per episode (default: the task's 1000, or the env's registered max_episode_steps)")
    add_campaign_arguments(parser, "compare", PRESET)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.campaigns import compare
    from gcrl_depth.cli.announce import announce
    from gcrl_depth.cli.campaign_flags import command_line, prepare, run_campaign

    config, out = prepare(args, "compare")
    announce("compare", args, config, args.depths if "crl" in args.algos else [], args.eval_every)
    cells = compare.cells(args, config, out)
    run_campaign(args, cells, lambda outcome: compare.report(args, config, outcome, out, command_line(args)))
    return 0
