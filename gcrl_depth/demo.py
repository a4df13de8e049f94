"""``make demo``: train DeepCRL on PointUMaze on the CPU and show that it learned.

Prints the time-at-goal curve (evaluated on the farthest goals, PointUMazeEval) next to
the random policy's, and writes into ``--out``: ``learning_curve.png``, ``progress.csv``
and TensorBoard events, the checkpoint ``deep_crl_PointUMaze.zip`` and ``rollout.gif``
of the trained agent. Run ``python -m gcrl_depth.demo --help`` for options.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tqdm.auto import tqdm

from gcrl_depth import DeepCRL, env_id, evaluate
from gcrl_depth.crl.engine.config import PRESETS
from gcrl_depth.plotting import plot_curves
from gcrl_depth.video import record_video

GIF_ATTEMPTS = 3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="PointUMaze", help="task name (its ...Eval twin is used for evaluation)")
    parser.add_argument("--depth", type=int, default=4, help="residual depth of actor and critic")
    parser.add_argument("--timesteps", type=int, default=400_000, help="env steps to train")
    parser.add_argument("--epoch-timesteps", type=int, default=40_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/demo", help="output folder")
    args = parser.parse_args(argv)

    model = DeepCRL(env_id(args.task), depth=args.depth, seed=args.seed, eval_episodes=args.eval_episodes,
                    epoch_timesteps=args.epoch_timesteps, verbose=0, log_dir=args.out, **PRESETS["cpu"])
    print(f"DeepCRL depth {args.depth} on {model.env_id}: {model.config.num_envs} envs x {model.config.unroll_length} steps "
          f"per iteration, {model.config.updates_per_iteration} gradient steps of batch {model.config.batch_size} each")

    rng = np.random.default_rng(args.seed)
    random_result = evaluate(lambda obs: rng.uniform(-1, 1, (len(obs["observation"]), model.core.action_size)),
                             model.eval_env, num_envs=args.eval_episodes, seed=args.seed)
    print(f"random policy: time at goal {random_result.time_at_goal:.1f} / {random_result.episode_length}, "
          f"success rate {random_result.success_rate:.2f}")

    start = time.perf_counter()
    model.learn(args.timesteps, progress_bar=True, callback=_print_evaluation)
    minutes = (time.perf_counter() - start) / 60

    history = model.evaluations
    print(f"\ntrained {model.num_timesteps:,} env steps in {minutes:.1f} min; time at goal (of 1000) by env steps:")
    for steps, result in zip(history.env_steps, history.results):
        print(f"  {steps:>9,}  {result.time_at_goal:6.1f}  {'#' * int(result.time_at_goal / 20)}")
    print(f"headline (mean of the last 5 evaluations): {history.headline():.1f}; random policy {random_result.time_at_goal:.1f}")

    curve = plot_curves({f"DeepCRL depth {args.depth}": (history.env_steps, [r.time_at_goal for r in history.results])},
                        os.path.join(args.out, "learning_curve.png"), title=f"{args.task}: evaluation on the farthest goals",
                        baseline=random_result.time_at_goal)
    checkpoint = model.save(os.path.join(args.out, f"deep_crl_{args.task}.zip"))
    gif = os.path.join(args.out, "rollout.gif")
    for attempt in range(1, GIF_ATTEMPTS + 1):  # keep the first episode that reaches the goal, if any
        rollout = record_video(lambda obs: model.predict(obs)[0], model.eval_env, gif, seed=args.seed + attempt)[0]
        if rollout["steps_at_goal"] > 0:
            break
    print(f"learning curve: {curve}\ncheckpoint:     {checkpoint}\nrollout:        {gif} (episode {attempt} of "
          f"{GIF_ATTEMPTS} tried: {rollout['steps_at_goal']:.0f} of {rollout['steps']} steps at the goal)\nlogs:           {args.out}/progress.csv, "
          f"TensorBoard: tensorboard --logdir {args.out}")
    model.close()


def _print_evaluation(locals_: dict, globals_: dict) -> bool:
    model, evaluation = locals_["self"], locals_["evaluation"]
    if evaluation is not None:
        metrics = locals_["metrics"]
        tqdm.write(f"  {model.num_timesteps:>9,} env steps: time at goal {evaluation.time_at_goal:6.1f}, success rate "
                   f"{evaluation.success_rate:.2f}, {metrics['time/env_steps_per_s']:,.0f} env steps/s")
    return True


if __name__ == "__main__":
    main()
