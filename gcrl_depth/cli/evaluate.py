"""``gcrl-depth eval``: evaluate a saved model with the shared evaluator."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from gcrl_depth.cli.arg_types import HelpFormatter, json_object, positive_int
from gcrl_depth.cli.config_flags import add_physics_argument, with_physics


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="evaluate a saved model with the shared evaluator",
                                 formatter_class=HelpFormatter)
    parser.add_argument("model", help="a checkpoint zip written by DeepCRL.save or gcrl-depth train")
    parser.add_argument("--episodes", type=positive_int, default=128, help="evaluation episodes")
    add_goal_flags(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def add_goal_flags(parser: argparse.ArgumentParser) -> None:
    """``--eval-goals``, ``--env-kwargs``, ``--physics`` and ``--seed``: which env, goals (and starts) a saved model is run on."""

    parser.add_argument("--eval-goals", choices=["train", "eval"], default="train",
                        help="the training goal distribution, or a gcrl_depth maze's farthest goals (...Eval)")
    parser.add_argument("--env-kwargs", type=json_object, default={}, metavar="JSON",
                        help="env options over the saved ones, e.g. far pairs for a stitching model: "
                             "'{\"max_pair_cells\": null, \"min_pair_cells\": 4}'")
    add_physics_argument(parser, help_text="run the model on this physics (mjx or spring) instead of the one it was trained "
                         "on (a warning says its numbers are then not comparable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starts and goals")


def model_env(path: str, eval_goals: str, env_kwargs: dict[str, Any],
              physics: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """The env id (with the ``--eval-goals`` choice) and options (the saved ones, then
    ``env_kwargs`` and ``physics``) a saved model runs on; a UserWarning where that physics is
    not the one the model was trained on."""
    from gcrl_depth.crl.checkpoints.checkpoint import read_checkpoint
    from gcrl_depth.crl.training.persistence import saved_physics, warn_other_physics
    from gcrl_depth.envs import env_id, is_gcrl_id, task_name

    meta = read_checkpoint(path).meta
    saved_env = meta.get("env_id")
    env_kwargs = with_physics(saved_env, env_kwargs, physics)  # a model of another env is refused --physics
    gcrl = bool(saved_env) and is_gcrl_id(saved_env)
    if eval_goals == "eval" and not gcrl:
        raise ValueError(f"--eval-goals eval needs a gcrl_depth maze (its ...Eval twin); {path} was trained on {saved_env}")
    if not gcrl:
        return saved_env, dict(env_kwargs)
    task = task_name(saved_env)
    options = dict(meta.get("task_kwargs") or {})
    if eval_goals == "eval":
        from gcrl_depth.crl.env_paths.device import evaluation_env

        chosen, options = evaluation_env(task, options)
        options = {**options, **env_kwargs}
    else:
        chosen, options = env_id(task), {**options, **env_kwargs}
    warn_other_physics(saved_physics(meta), options.get("physics", "mjx"), repr(path))
    return chosen, options


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.crl.training.agent import DeepCRL
    from gcrl_depth.envs import is_gcrl_id
    from gcrl_depth.goal_envs import vector_goal_env

    env, options = model_env(args.model, args.eval_goals, args.env_kwargs, args.physics)
    own_envs = env is not None and (is_gcrl_id(env) or bool(args.env_kwargs))  # else the saved evaluation settings
    model = DeepCRL.load(args.model, verbose=0, eval_episodes=0 if own_envs else args.episodes)
    envs = None
    try:
        if own_envs:
            envs = vector_goal_env(env, args.episodes, **options)
        result = model.evaluate(seed=args.seed, env=envs)
    finally:
        model.close()
        if envs is not None:
            envs.close()
    report = {"model": args.model, "env": env, "env_kwargs": options, "seed": args.seed, **dataclasses.asdict(result)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['env']}, {result.episodes} episodes of {result.episode_length} steps (seed {args.seed}):")
        print(f"  time at goal    {result.time_at_goal:.1f} steps")
        print(f"  success rate    {result.success_rate:.2f}")
        print(f"  final distance  {result.final_distance:.3f}")
    return 0
