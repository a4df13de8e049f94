"""The ``gcrl-depth`` command: train, evaluate and list envs from the shell.

    gcrl-depth envs [--json]
    gcrl-depth train ENV [--preset cpu|paper] [--timesteps N] [--seed S] [--config FILE]
                         [--log-dir DIR] [--save-every N] [--<any CRLConfig field> VALUE ...]
    gcrl-depth eval MODEL.zip [--episodes 128] [--eval-goals train|eval] [--seed S] [--json]

``train`` writes into ``--log-dir``: ``progress.csv`` and TensorBoard events, checkpoints
(``checkpoints/``, every ``--save-every`` env steps), the best model by evaluation
(``best/best_model.zip``) and the final model (``final_model.zip``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from gcrl_depth.cli.config_flags import add_config_flags, config_values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcrl-depth", description="Deep contrastive goal-conditioned RL (gcrl_depth).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    envs = commands.add_parser("envs", help="list the gcrl_depth env ids with their robot, sizes and thresholds")
    envs.add_argument("--json", action="store_true", help="print JSON instead of a table")

    train = commands.add_parser("train", help="train DeepCRL on an env and save checkpoints, the best and the final model",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("env", help="a gcrl_depth task or id (PointUMaze), or any Gymnasium goal env id ('module:Id')")
    train.add_argument("--preset", choices=["cpu", "paper"], default="paper", help="named overrides of the paper's defaults")
    train.add_argument("--timesteps", type=int, default=1_000_000, help="env steps to train (prefill included)")
    train.add_argument("--seed", type=int, default=0, help="seed of parameters, envs and evaluation goals")
    train.add_argument("--config", default=None, metavar="FILE", help="YAML or JSON file of CRLConfig fields (flags win)")
    train.add_argument("--log-dir", default=None, help="output folder (default runs/<env>-d<depth>-s<seed>)")
    train.add_argument("--save-every", type=int, default=0, metavar="N", help="checkpoint every N env steps (0: none)")
    train.add_argument("--eval-episodes", type=int, default=128, help="episodes per evaluation (0: none)")
    train.add_argument("--epoch-timesteps", type=int, default=1_000_000, help="env steps between evaluations")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_config_flags(train)

    evaluate = commands.add_parser("eval", help="evaluate a saved model with the shared evaluator",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("model", help="a checkpoint zip written by DeepCRL.save or gcrl-depth train")
    evaluate.add_argument("--episodes", type=int, default=128, help="evaluation episodes")
    evaluate.add_argument("--eval-goals", choices=["train", "eval"], default="train",
                          help="the training goal distribution, or a gcrl_depth maze's farthest goals (...Eval)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the evaluation starts and goals")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"envs": run_envs, "train": run_train, "eval": run_eval}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError) as error:  # the package's clear errors, without a traceback
        print(f"gcrl-depth {args.command}: {error}", file=sys.stderr)
        return 2


def run_envs(args: argparse.Namespace) -> int:
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


def run_train(args: argparse.Namespace) -> int:
    from gcrl_depth.callbacks import CheckpointCallback, SaveBestModel
    from gcrl_depth.crl.agent import DeepCRL
    from gcrl_depth.crl.config import PRESETS
    from gcrl_depth.envs import env_id, is_gcrl_id, task_name

    config = config_values(args, args.config, PRESETS[args.preset])
    depth = config.pop("depth", 4)
    env = env_id(task_name(args.env)) if is_gcrl_id(args.env) else args.env
    log_dir = Path(args.log_dir or Path("runs") / f"{args.env.replace('/', '_').replace(':', '_')}-d{depth}-s{args.seed}")
    model = DeepCRL(env, depth=depth, seed=args.seed, eval_episodes=args.eval_episodes,
                    epoch_timesteps=args.epoch_timesteps, log_dir=str(log_dir), **config)
    callbacks: list[Any] = [SaveBestModel(log_dir / "best", verbose=1)] if args.eval_episodes > 0 else []
    if args.save_every > 0:
        callbacks.append(CheckpointCallback(args.save_every, log_dir / "checkpoints", verbose=1))
    try:
        model.learn(args.timesteps, callback=callbacks, progress_bar=args.progress)
    finally:
        final = model.save(log_dir / "final_model.zip")
        model.close()
    print(f"saved {final}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from gcrl_depth.crl.agent import DeepCRL
    from gcrl_depth.crl.checkpoint import read_checkpoint
    from gcrl_depth.envs import env_id, eval_env_id, is_gcrl_id, task_name

    _, meta, *_ = read_checkpoint(args.model)
    saved_env = meta.get("env_id")
    if args.eval_goals == "eval" and not (saved_env and is_gcrl_id(saved_env)):
        raise ValueError(f"--eval-goals eval needs a gcrl_depth maze (its ...Eval twin); {args.model} was trained on {saved_env}")
    eval_env = None
    if saved_env and is_gcrl_id(saved_env):
        task = task_name(saved_env)
        eval_env = eval_env_id(task) if args.eval_goals == "eval" else env_id(task)
    model = DeepCRL.load(args.model, verbose=0, eval_episodes=args.episodes,
                         **({"eval_env": eval_env} if eval_env else {}))
    result = model.evaluate(seed=args.seed)
    model.close()
    report = {"model": args.model, "env": eval_env or saved_env, "seed": args.seed, **dataclasses.asdict(result)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['env']}, {result.episodes} episodes of {result.episode_length} steps (seed {args.seed}):")
        print(f"  time at goal    {result.time_at_goal:.1f} steps")
        print(f"  success rate    {result.success_rate:.2f}")
        print(f"  final distance  {result.final_distance:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
