"""The ``gcrl-depth`` command: train, evaluate, render and analyse from the shell.

    gcrl-depth envs [--json]
    gcrl-depth train ENV [--preset cpu|paper] [--timesteps N] [--seed S] [--config FILE] [--env-kwargs JSON]
                         [--physics mjx|spring] [--log-dir DIR] [--save-every N] [--wandb PROJECT]
                         [--<any CRLConfig field> VALUE ...]
    gcrl-depth eval MODEL.zip [--episodes 128] [--eval-goals train|eval] [--seed S] [--json]
    gcrl-depth enjoy MODEL.zip [--episodes 3] [--out rollout.mp4|.gif]
    gcrl-depth qmap MODEL.zip [MODEL.zip ...] [--goal-cell ROW COL] [--out qmap.png] [--json]
    gcrl-depth plot RUN_DIR [RUN_DIR ...] [--labels L ...] [--metric time_at_goal] [--out curves.png]
    gcrl-depth stitching ENV [--depths 4 16] [--seeds 0] [--max-cells 3] [--timesteps N] [--out DIR]
    gcrl-depth distill TEACHER [--depth 4] [--timesteps N] [--acting learner|teacher] [--critic-weight W] ...
    gcrl-depth collect-learn ENV [--collector-depth 64] [--learner-depth 4] [--seeds S ...] [--timesteps N]

The paper's experiments, as campaigns of cells (a configuration with its seeds, one run folder each;
every one takes --out, --shard I/N, --report-only, --preset and the CRLConfig flags):

    gcrl-depth reproduce [--tasks T ...] [--depths 4 64] [--num-seeds 5] [--budget-scale F]   Table 1
    gcrl-depth sweep [--env E] [--depths 4 16] [--widths W ...] [--seeds S ...]               depth scaling
    gcrl-depth compare [--envs E ...] [--algos crl sac td3] [--depths 4 16]                   vs SB3 baselines
    gcrl-depth evidence [--task T] [--depths 4 64] [--seconds 400]                            depth in a time budget

Each command lives in a module of this package (``add_parser`` and ``run``). ``train``
writes into ``--log-dir``: ``progress.csv`` and TensorBoard events, checkpoints
(``checkpoints/``, every ``--save-every`` env steps), the best model by evaluation
(``best/best_model.zip``) and the final model (``final_model.zip``).
"""

from __future__ import annotations

import argparse
import sys

from gcrl_depth.cli import (
    collect_learn,
    compare,
    distill,
    enjoy,
    envs,
    evaluate,
    evidence,
    plot,
    qmap,
    reproduce,
    stitching,
    sweep,
    train,
)

COMMANDS = (envs, train, evaluate, enjoy, qmap, plot, stitching, reproduce, sweep, compare, evidence, distill, collect_learn)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcrl-depth", description="Deep contrastive goal-conditioned RL (gcrl_depth).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command line, for the results files that record it
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:  # clear errors, without a traceback
        print(f"gcrl-depth {args.command}: {error}", file=sys.stderr)
        return 2
    except SystemExit as error:  # a refusal said in words (a run folder of other settings, ...): bad input too
        if isinstance(error.code, int) or error.code is None:
            raise
        print(f"gcrl-depth {args.command}: {error.code}", file=sys.stderr)
        return 2
    except OSError as error:  # the disk's answer: a read-only folder, a full disk, a file where a folder belongs
        where = f" {error.filename!r}" if error.filename else ""
        print(f"gcrl-depth {args.command}: cannot write or read{where}: {error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
