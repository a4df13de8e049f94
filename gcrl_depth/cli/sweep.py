"""``gcrl-depth sweep``: DeepCRL over depths (widths, batch sizes, actor:critic pairs, objectives) x seeds."""

from __future__ import annotations

import argparse

from gcrl_depth.cli.arg_types import HelpFormatter, add_seed_arguments, positive_int
from gcrl_depth.cli.campaign_flags import add_campaign_arguments

PRESET = "cpu"


def add_parser(commands: argparse._SubParsersAction) -> None:
    from gcrl_depth.crl.engine.config import CHOICES
    from gcrl_depth.crl.engine.losses import CONTRASTIVE_LOSSES, ENERGIES

    parser = commands.add_parser("sweep", help=f"time at goal over depths and other factors x seeds (preset {PRESET})",
                                 description=f"Depth scaling of DeepCRL, one cell per value of a series. Preset: {PRESET}.",
                                 formatter_class=HelpFormatter)
    parser.add_argument("--env", default="PointUMaze", help="task name or id")
    parser.add_argument("--depths", nargs="+", type=positive_int, default=[4, 16], help="depths of actor and critic")
    parser.add_argument("--widths", nargs="*", type=positive_int, default=[], help="widths at --base-depth")
    parser.add_argument("--batch-sizes", nargs="*", type=positive_int, default=[], help="batch sizes at --base-depth")
    parser.add_argument("--actor-critic", nargs="*", default=[], help="ACTOR:CRITIC depth pairs, e.g. 4:16 16:4")
    parser.add_argument("--dtypes", nargs="*", default=[], choices=CHOICES["compute_dtype"], help="compute dtypes at --base-depth")
    parser.add_argument("--energies", nargs="*", default=[], choices=ENERGIES, help="critic energies at --base-depth")
    parser.add_argument("--contrastive-losses", nargs="*", default=[], choices=CONTRASTIVE_LOSSES,
                        help="contrastive losses at --base-depth")
    parser.add_argument("--base-depth", type=positive_int, default=4, help="depth of the other series")
    add_seed_arguments(parser, 2)
    parser.add_argument("--timesteps", type=positive_int, default=100_000, help="env steps per run")
    parser.add_argument("--eval-every", type=positive_int, default=25_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=positive_int, default=16, help="episodes per evaluation")
    parser.add_argument("--eval-goals", choices=["train", "eval"], default="train",
                        help="the training goal distribution, or a maze's farthest goals")
    parser.add_argument("--episode-length", type=positive_int, default=None, help="task option (default: the task's 1000)")
    parser.add_argument("--behaviour", action="store_true",
                        help="record behaviour statistics (survival, torso height, over-the-wall passages) at every evaluation")
    add_campaign_arguments(parser, "sweep", PRESET)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.campaigns import sweep
    from gcrl_depth.cli.announce import announce
    from gcrl_depth.cli.campaign_flags import command_line, prepare, run_campaign

    for pair in args.actor_critic:
        if len(pair.split(":")) != 2 or not all(p.isdigit() for p in pair.split(":")):
            raise ValueError(f"--actor-critic expects ACTOR:CRITIC depth pairs such as 4:16, got {pair!r}")
    config, out = prepare(args, "sweep")
    announce("sweep", args, config, [overrides["depth"] for _, _, overrides in sweep.configurations(args)], args.eval_every)
    cells = sweep.cells(args, config, out)
    run_campaign(args, cells, lambda outcome: sweep.report(args, config, outcome, out, command_line(args)))
    return 0
