"""``gcrl-depth enjoy``: render a saved model's episodes to a GIF or MP4."""

from __future__ import annotations

import argparse
from pathlib import Path

from gcrl_depth.cli.arg_types import HelpFormatter, positive_int
from gcrl_depth.cli.evaluate import add_goal_flags, model_env


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("enjoy", help="render a saved model's episodes as a GIF or MP4",
                                 formatter_class=HelpFormatter)
    parser.add_argument("model", help="a checkpoint zip written by DeepCRL.save or gcrl-depth train")
    parser.add_argument("--episodes", type=positive_int, default=3, help="episodes, one after another in the video")
    parser.add_argument("--out", default="rollout.mp4", help="video file: .mp4 or .gif")
    parser.add_argument("--steps", type=int, default=None, help="steps per episode (default: whole episodes)")
    parser.add_argument("--frame-every", type=positive_int, default=5, help="keep every N-th frame (the video plays N times faster)")
    parser.add_argument("--size", type=positive_int, default=240, help="frame width and height in pixels")
    add_goal_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gcrl_depth.crl.training.agent import DeepCRL
    from gcrl_depth.video import VIDEO_SUFFIXES, record_video

    if Path(args.out).suffix.lower() not in VIDEO_SUFFIXES:  # before loading anything
        raise ValueError(f"--out must end in one of {list(VIDEO_SUFFIXES)}, got {args.out!r}")
    env, options = model_env(args.model, args.eval_goals, args.env_kwargs, args.physics)
    if env is None:
        raise ValueError(f"{args.model} was trained on an env without an id: render it from Python with gcrl_depth.video")
    model = DeepCRL.load(args.model, verbose=0, eval_episodes=0)
    try:
        episodes = record_video(lambda obs: model.predict(obs)[0], env, args.out, episodes=args.episodes, steps=args.steps,
                                frame_every=args.frame_every, seed=args.seed, size=args.size, **options)
    finally:
        model.close()
    for i, episode in enumerate(episodes):
        print(f"episode {i}: {episode['steps_at_goal']:.0f} of {episode['steps']} steps at the goal, "
              f"final distance {episode['final_distance']:.2f}")
    print(f"saved {args.out}")
    return 0
