"""``gcrl-depth plot``: learning curves of run folders, the IQM over seeds with a 95% band, in one PNG."""

from __future__ import annotations

import argparse
import os

from gcrl_depth.cli.arg_types import HelpFormatter, check_labels
from gcrl_depth.run_curves import METRICS


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plot", help="learning curves of run folders: IQM over seeds with a 95%% bootstrap band",
        description="Each RUN_DIR is a line: a run set's seed_<s>/ folders are its seeds. Folders given "
                    "the same --labels entry are pooled as seeds of one line (e.g. three gcrl-depth train "
                    "folders of seeds 0, 1, 2).", formatter_class=HelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders (gcrl-depth train --log-dir, or a campaign's)")
    parser.add_argument("--labels", nargs="+", default=None, help="one label per RUN_DIR (default: its folder name)")
    parser.add_argument("--metric", choices=METRICS, default="time_at_goal", help="the evaluation metric drawn")
    parser.add_argument("--title", default="", help="the figure's title")
    parser.add_argument("--out", default="curves.png", help="PNG file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.plotting import plot_curves
    from gcrl_depth.run_curves import folder_curves, pooled_band

    check_labels(args.labels, args.run_dirs, "RUN_DIR")
    labels = args.labels or [os.path.basename(os.path.normpath(folder)) for folder in args.run_dirs]
    pooled: dict[str, list] = {}
    for label, folder in zip(labels, args.run_dirs):
        pooled.setdefault(label, []).extend(folder_curves(folder, args.metric))
    bands = {label: pooled_band(curves) for label, curves in pooled.items()}
    ylabel = {"time_at_goal": "time at goal (steps of 1000; higher is better)", "success_rate": "success rate",
              "final_distance": "final distance to the goal (lower is better)"}[args.metric]
    plot_curves({f"{label} ({len(pooled[label])} seeds)": band for label, band in bands.items()}, args.out,
                ylabel=ylabel, title=args.title)
    print(f"| line | seeds | env steps | {args.metric} IQM | 95% interval |\n|---|---:|---:|---:|---|")
    for label, (steps, center, low, high) in bands.items():
        print(f"| {label} | {len(pooled[label])} | {steps[-1]:,} | {center[-1]:.1f} | [{low[-1]:.1f}, {high[-1]:.1f}] |")
    print(f"saved {args.out}")
    return 0
