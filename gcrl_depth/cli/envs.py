"""``gcrl-depth envs``: the registered task ids with their robot, sizes and thresholds."""

from __future__ import annotations

import argparse
import json


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("envs", help="list the gcrl_depth env ids with their robot, sizes and thresholds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.envs import TASKS, env_id, make_core

    rows = []
    for task in TASKS:
        core = make_core(task)
        rows.append({"id": env_id(task), "robot": type(core).__name__, "observation": core.observation_size,
                     "goal": core.goal_size, "action": core.action_size, "success_threshold": float(core.success_threshold),
                     "episode_length": int(core.episode_length)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| id | robot | obs | goal | action | success threshold | episode length |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['id']} | {r['robot']} | {r['observation']} | {r['goal']} | {r['action']} | "
              f"{r['success_threshold']:g} | {r['episode_length']} |")
    return 0
