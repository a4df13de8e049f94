"""``gcrl-depth collect-learn ENV --collector-depth 64 --learner-depth 4``: the paper's collector/learner experiment.

The collector trains and collects as usual; the learner trains by plain CRL on the collector's
minibatches only and never acts. The output folder holds ``collector/`` and ``learner/`` (per
seed in ``seed_<s>/`` for several seeds), each with ``final_model.zip``, ``progress.csv`` and
``curve.csv``, and ``lesson.json`` (both models' final evaluations).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gcrl_depth.cli.arg_types import HelpFormatter, check_seeds, json_object, positive_int
from gcrl_depth.cli.config_flags import add_config_arguments, resolved_config
from gcrl_depth.cli.distill import add_output_arguments, save_models, write_summary


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("collect-learn", formatter_class=HelpFormatter,
                                 help="a deep collector trains and collects; a shallow learner trains on its data only")
    parser.add_argument("env", help="a gcrl_depth task or id (PointUMaze)")
    parser.add_argument("--collector-depth", type=positive_int, default=64, help="the collector's depth (multiple of 4)")
    parser.add_argument("--learner-depth", type=positive_int, default=4, help="the learner's depth (multiple of 4)")
    parser.add_argument("--timesteps", type=positive_int, default=1_000_000, help="env steps the collector collects")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S",
                        help="one collector/learner pair per seed, trained as one run set")
    parser.add_argument("--env-kwargs", type=json_object, default={}, metavar="JSON",
                        help="env options, e.g. '{\"episode_length\": 200}'")
    add_output_arguments(parser, "runs/collect-learn-<env>-c<collector depth>-l<learner depth>")
    add_config_arguments(parser, exclude=("depth", "actor_depth", "critic_depth"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.cli.train import evaluation_interval
    from gcrl_depth.cli.train_seeds import prepare
    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.crl.training.lessons import collect_learn
    from gcrl_depth.envs import env_id, is_gcrl_id, task_name
    from gcrl_depth.goal_envs import vector_goal_env
    from gcrl_depth.run_lock import folder_lock

    seeds = check_seeds(args.seeds)
    if not is_gcrl_id(args.env):
        raise ValueError(f"collect-learn steps gcrl_depth's own envs on the device (the collector acts for both); "
                         f"{args.env!r} is not one")
    args.epoch_timesteps = args.epoch_timesteps or evaluation_interval(args.timesteps)
    log_dir = Path(args.log_dir or Path("runs") / f"collect-learn-{task_name(args.env)}-c{args.collector_depth}"
                   f"-l{args.learner_depth}")
    config = resolved_config(args)
    env = env_id(task_name(args.env))
    with folder_lock(log_dir):
        prepare(log_dir, args.overwrite, False)
        log_dir.mkdir(parents=True, exist_ok=True)
        if args.env_kwargs:
            env = vector_goal_env(env, config.get("num_envs", CRLConfig.num_envs), **args.env_kwargs)
        try:
            learner, collector = collect_learn(env, args.collector_depth, args.learner_depth, timesteps=args.timesteps,
                                               seeds=seeds, eval_episodes=args.eval_episodes,
                                               epoch_timesteps=args.epoch_timesteps, log_dir=log_dir,
                                               progress_bar=args.progress, **config)
            try:
                learners = save_models(learner, log_dir / "learner")
            finally:
                collectors = save_models(collector, log_dir / "collector")
        finally:
            if not isinstance(env, str):
                env.close()
        write_summary(log_dir, {"command": ["gcrl-depth", *args.argv], "learners": learners, "collectors": collectors})
    return 0
