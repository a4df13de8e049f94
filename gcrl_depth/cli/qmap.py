"""``gcrl-depth qmap``: Q-value maps of saved models over their maze, side by side in one PNG."""

from __future__ import annotations

import argparse
import json
import sys

from gcrl_depth.cli.arg_types import HelpFormatter, check_labels, positive_int


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("qmap", help="Q-value heatmaps over the maze for a fixed goal, several models side by side",
                                 formatter_class=HelpFormatter)
    parser.add_argument("models", nargs="+", help="checkpoint zips trained on the same gcrl_depth maze")
    parser.add_argument("--labels", nargs="+", default=None, help="one label per model (default: 'depth N')")
    parser.add_argument("--goal-cell", nargs=2, type=int, default=None, metavar=("ROW", "COL"),
                        help="goal cell (default: the free cell farthest along the maze from the start)")
    parser.add_argument("--per-cell", type=positive_int, default=5, help="points per cell along each axis")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reset state whose non-position features are kept")
    parser.add_argument("--out", default="qmap.png", help="PNG file")
    parser.add_argument("--json", action="store_true", help="print the correlations as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.analysis.qmap import model_q_map, plot_q_maps
    from gcrl_depth.crl.training.agent import DeepCRL
    from gcrl_depth.experiments import short_name

    check_labels(args.labels, args.models, "model")
    maps, env = [], None
    for i, path in enumerate(args.models):
        model = DeepCRL.load(path, verbose=0, eval_episodes=0)
        try:
            trained_on = (model.env_id, json.dumps(model.task_kwargs, sort_keys=True, default=repr))
            if env is not None and trained_on != env:
                raise ValueError(f"{path} was trained on {trained_on[0]} {trained_on[1]}, {args.models[0]} on "
                                 f"{env[0]} {env[1]}: compare models of one maze")
            env = trained_on
            maps.append(model_q_map(model, args.goal_cell, args.per_cell, args.seed,
                                    label=args.labels[i] if args.labels else None))
        finally:
            model.close()
    plot_q_maps(maps, args.out, title=f"{short_name(env[0])}: Q(s, a*, g) with the goal at cell {maps[0].goal_cell}")
    rows = [{"model": path, **qmap.summary()} for path, qmap in zip(args.models, maps)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| model | label | Spearman(-Q, geodesic) | Spearman(-Q, straight line) |\n|---|---|---:|---:|")
        for r in rows:
            print(f"| {r['model']} | {r['label']} | {r['spearman_geodesic']:.3f} | {r['spearman_euclidean']:.3f} |")
        print(f"(the two distances correlate {maps[0].spearman_distances:.3f} with each other over these points)")
    print(f"saved {args.out}", file=sys.stderr if args.json else sys.stdout)  # --json: stdout is only JSON
    return 0
