"""``gcrl-depth train``: train DeepCRL; checkpoints, the best model by evaluation, the final model and logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gcrl_depth.cli.announce import announce
from gcrl_depth.cli.arg_types import HelpFormatter, check_seeds, json_object, non_negative_int, positive_int
from gcrl_depth.cli.config_flags import (
    add_config_arguments,
    add_physics_argument,
    given_flags,
    resolved_config,
    with_physics,
)
from gcrl_depth.cli.train_seeds import train_set
from gcrl_depth.interrupts import PREEMPTED_EXIT
from gcrl_depth.logger import WANDB_HELP
from gcrl_depth.machine import write_run_metadata


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="train DeepCRL on an env and save checkpoints, the best and the final model",
                                 formatter_class=HelpFormatter)
    parser.add_argument("env", help="a gcrl_depth task or id (PointUMaze), or any Gymnasium goal env id ('module:Id')")
    parser.add_argument("--timesteps", type=positive_int, default=1_000_000, help="env steps to train (prefill included)")
    parser.add_argument("--seed", type=int, default=None, help="seed of parameters, envs and evaluation goals (default: 0)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                        help="several seeds trained as one run set (one compiled program), each in <log-dir>/seed_<s>/ "
                             "(gcrl_depth's envs; other envs train the seeds one after another)")
    parser.add_argument("--data-parallel", type=positive_int, default=1, metavar="N",
                        help="split each run over N devices: its envs, replay slots and minibatch (the update equals one "
                             "device's); a run set (--seeds) spreads its seeds over groups of N devices")
    parser.add_argument("--env-kwargs", type=json_object, default={}, metavar="JSON",
                        help="env options, e.g. '{\"episode_length\": 200}' or '{\"max_pair_cells\": 3}'")
    parser.add_argument("--eval-env-kwargs", type=json_object, default=None, metavar="JSON",
                        help="evaluate on the training env's id with these options instead of the default evaluation env "
                             "(e.g. '{\"min_pair_cells\": 4}' for a stitching run)")
    add_physics_argument(parser)
    parser.add_argument("--log-dir", default=None, help="output folder (default runs/<env>-d<depth>-s<seed>); one that "
                        "holds a run is refused unless --overwrite or --resume")
    parser.add_argument("--overwrite", action="store_true", help="replace the run --log-dir holds (its models, "
                        "checkpoints, progress.csv and TensorBoard events are removed first)")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="DIR",
                        help="continue the run in DIR (default --log-dir) from its newest checkpoint or final model up to "
                             "--timesteps (parameters, optimizer state, counts, evaluations; the replay buffer too when "
                             "saved with --save-buffer, else it is refilled)")
    parser.add_argument("--save-every", type=int, default=0, metavar="N",
                        help="checkpoint the training state into <log-dir>/checkpoints every N env steps, and on SIGTERM "
                             "(0: none)")
    parser.add_argument("--save-buffer", action="store_true",
                        help="the checkpoints hold the replay buffer and envs too, for an exact resume (0.8-5.4 GB at the "
                             "paper's sizes)")
    parser.add_argument("--keep", type=positive_int, default=2, metavar="N",
                        help="checkpoints kept: the latest N, and the best by time at goal")
    parser.add_argument("--eval-episodes", type=int, default=128, help="episodes per evaluation (0: none)")
    parser.add_argument("--epoch-timesteps", type=positive_int, default=None,
                        help="env steps between evaluations (default: --timesteps / 10, at most 1,000,000: a curve of at "
                             "least 10 evaluations, the paper's interval at the paper's budgets)")
    parser.add_argument("--wandb", default=None, metavar="PROJECT", help=WANDB_HELP)
    parser.add_argument("--capture-video", type=non_negative_int, default=0, metavar="EVERY",
                        help="log a video of one evaluation episode every EVERY evaluations to TensorBoard and wandb (0: none)")
    parser.add_argument("--capture-qmap", type=non_negative_int, default=0, metavar="EVERY",
                        help="log the Q-map panel (mazes) every EVERY evaluations to TensorBoard and wandb (0: none)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_config_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.envs import env_id, is_gcrl_id, task_name
    from gcrl_depth.run_lock import folder_lock

    config = resolved_config(args)
    depth = config.pop("depth", 4)
    seeds = check_seeds(args.seeds) if args.seeds else None
    if seeds is not None and args.seed is not None:
        raise ValueError("--seed and --seeds exclude each other: give --seeds 0 1 2, or one --seed")
    if args.data_parallel > 1:
        from gcrl_depth.crl.engine.devices import data_mesh

        data_mesh(args.data_parallel)  # refuses more devices than are visible, before anything is written
    if seeds is not None and len(seeds) == 1:  # one seed: the plain layout
        args.seed, seeds = seeds[0], None
    args.seed = 0 if args.seed is None else args.seed
    args.epoch_timesteps = args.epoch_timesteps or evaluation_interval(args.timesteps)
    announce("train", args, config, [depth], args.epoch_timesteps)
    train_id = env_id(task_name(args.env)) if is_gcrl_id(args.env) else args.env
    env_kwargs = with_physics(args.env, args.env_kwargs, args.physics)  # before anything is built or written
    eval_env_kwargs = None if args.eval_env_kwargs is None else with_physics(args.env, args.eval_env_kwargs, args.physics)
    if args.save_buffer and args.save_every <= 0:
        raise ValueError("--save-buffer puts the replay buffer in the periodic checkpoints: give --save-every N too")
    if isinstance(args.resume, str):
        if args.log_dir and Path(args.log_dir) != Path(args.resume):
            raise ValueError(f"--resume {args.resume} and --log-dir {args.log_dir} name two folders; give one")
        args.log_dir = args.resume
    seed_name = "-".join(map(str, seeds)) if seeds else args.seed
    log_dir = Path(args.log_dir or Path("runs") / f"{args.env.replace('/', '_').replace(':', '_')}-d{depth}-s{seed_name}")
    with folder_lock(log_dir):  # one writer at a time, before anything in the folder changes
        if seeds:
            return train_set(args, config, depth, train_id, env_kwargs, eval_env_kwargs, log_dir)
        return train_one(args, config, depth, train_id, env_kwargs, eval_env_kwargs, log_dir)


def train_one(args: argparse.Namespace, config: dict[str, Any], depth: int, train_id: str, env_kwargs: dict[str, Any],
              eval_env_kwargs: dict[str, Any] | None, log_dir: Path) -> int:
    """Train one seed in ``log_dir`` (new, replaced, or resumed); the exit code."""
    from gcrl_depth.cli import run_folder
    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.crl.training.agent import DeepCRL
    from gcrl_depth.crl.training.persistence import physics_of
    from gcrl_depth.goal_envs import vector_goal_env

    env: Any = train_id
    resume_from = run_folder.prepare(log_dir, args.overwrite, bool(args.resume))
    built: list[Any] = []  # the envs built here, closed at the end
    try:
        if env_kwargs:
            env = vector_goal_env(env, config.get("num_envs", CRLConfig.num_envs), **env_kwargs)
            built.append(env)
        eval_env = None
        if eval_env_kwargs is not None and args.eval_episodes > 0:
            eval_env = vector_goal_env(train_id, args.eval_episodes, **eval_env_kwargs)
            built.append(eval_env)
        agent = {"eval_episodes": args.eval_episodes, "epoch_timesteps": args.epoch_timesteps, "log_dir": str(log_dir)}
        if args.data_parallel > 1:
            agent["data_parallel"] = args.data_parallel
        if eval_env is not None:
            agent["eval_env"] = eval_env
        if resume_from is not None:  # the flags given on the command line change what load allows them to
            given = {name: value for name, value in given_flags(args).items() if name != "depth"}
            model = DeepCRL.load(resume_from, env=env, **agent, **given)
            print(f"resuming {resume_from} at {model.num_timesteps:,} env steps")
        else:
            model = DeepCRL(env, depth=depth, seed=args.seed, **agent, **config)
        try:
            if args.wandb:  # before training: a failed start must not leave an untrained final_model.zip
                model.set_logger(model.logger.with_wandb({
                    "project": args.wandb, "name": log_dir.name,
                    "config": {"env": args.env, "depth": depth, "seed": args.seed, "env_kwargs": env_kwargs,
                               "eval_env_kwargs": eval_env_kwargs, "physics": physics_of(model.core),
                               **model.config.to_dict()}}))
        except BaseException:
            model.close()
            if resume_from is None:
                run_folder.clear(log_dir)  # nothing of this start is left behind
            raise
        write_run_metadata(log_dir, model.config.to_dict(), {
            "env": args.env, "seed": args.seed, "timesteps": args.timesteps, "env_kwargs": env_kwargs,
            "eval_env_kwargs": eval_env_kwargs, "eval_episodes": args.eval_episodes,
            "epoch_timesteps": args.epoch_timesteps}, physics=physics_of(model.core))
        final, preempted = train_and_save(model, args, log_dir, fresh=resume_from is None)
    finally:
        for opened in built:
            opened.close()
    print(f"saved {final}")
    if preempted:
        physics = f" --physics {args.physics}" if args.physics else ""
        print(f"stopped by SIGTERM after checkpointing; continue with: gcrl-depth train {args.env} --resume {log_dir} "
              f"--timesteps {args.timesteps}{physics}")
        return PREEMPTED_EXIT
    return 0


def evaluation_interval(timesteps: int) -> int:
    """``--epoch-timesteps`` when not given: a tenth of the budget (10 evaluations), at most the
    paper's 1,000,000 (DeepCRL's default)."""
    from gcrl_depth.crl.training.agent import DEFAULT_EPOCH_TIMESTEPS

    return max(1, min(DEFAULT_EPOCH_TIMESTEPS, timesteps // 10))


def train_and_save(model: Any, args: argparse.Namespace, log_dir: Path, fresh: bool = True) -> tuple[str, bool]:
    """Learn (up to ``--timesteps`` in all) with the best-model and checkpoint callbacks; the final
    model is saved even after an error, once training has begun. A start refused before any
    training writes no model, and in a ``fresh`` folder leaves none of the run's files (its logs).
    Returns the final model's path and whether a SIGTERM stopped training."""
    from gcrl_depth.callbacks import SaveBestModel
    from gcrl_depth.cli import run_folder
    from gcrl_depth.crl.training.state_checkpoint import StateCheckpoint
    from gcrl_depth.media import CaptureMedia

    callbacks: list[Any] = [SaveBestModel(log_dir / "best", verbose=1)] if args.eval_episodes > 0 else []
    if args.eval_episodes > 0 and (args.capture_video or args.capture_qmap):
        callbacks.append(CaptureMedia(args.capture_video, args.capture_qmap))
    checkpoints = None
    if args.save_every > 0:
        checkpoints = StateCheckpoint(args.save_every, log_dir / "checkpoints", keep=args.keep,
                                      include_buffer=args.save_buffer, verbose=1)
        callbacks.append(checkpoints)
    start = model.num_timesteps
    try:
        if start >= args.timesteps:
            raise ValueError(f"--resume: the run in {str(log_dir)!r} has {start:,} env steps already, at least "
                             f"--timesteps {args.timesteps:,}; pass a larger --timesteps to train on")
        model.learn(args.timesteps - start, callback=callbacks, progress_bar=args.progress, reset_num_timesteps=start == 0)
    except BaseException:
        _end_after_error(model, log_dir, start)
        raise
    finally:
        if fresh and model.num_timesteps <= start:
            run_folder.clear(log_dir)
    try:
        final = model.save(log_dir / "final_model.zip")
    finally:
        model.close()
    return final, checkpoints is not None and checkpoints.preempted


def _end_after_error(model: Any, log_dir: Path, start: int) -> None:
    """Save the final model of a run that an error stopped, if it trained at all, and close it; a write
    that fails here too (a full disk) is said on stderr, so the error that stopped training is the one raised."""
    try:
        if model.num_timesteps > start:
            model.save(log_dir / "final_model.zip")
    except OSError as error:
        print(f"the final model was not saved either: {error.strerror or error}", file=sys.stderr)
    try:
        model.close()
    except OSError as error:
        print(f"the logs were not all written either: {error.strerror or error}", file=sys.stderr)
