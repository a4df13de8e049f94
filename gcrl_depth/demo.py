"""``make demo``: train DeepCRL on PointUMaze on the CPU, show that it learned, and end on its best.

Prints the time-at-goal curve (evaluated on the farthest goals, PointUMazeEval) next to
the random policy's, keeps the model of the best evaluation, evaluates that model again on
fresh episodes (its headline: no evaluation's luck picked it), and writes into ``--out``:
``learning_curve.png``, ``progress.csv`` and TensorBoard events, the best model
``best/best_model.zip``, the final model ``deep_crl_PointUMaze.zip`` and ``rollout.gif`` of
the best model. Run ``python -m gcrl_depth.demo --help`` for options.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tqdm.auto import tqdm

from gcrl_depth import DeepCRL, env_id, evaluate
from gcrl_depth.callbacks import SaveBestModel
from gcrl_depth.crl.engine.config import PRESETS
from gcrl_depth.plotting import plot_curves
from gcrl_depth.video import record_video

GIF_ATTEMPTS = 3
FRESH_SEED = 1_000_003  # the fresh episodes' seed offset: other starts and goals than any evaluation's


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="PointUMaze", help="task name (its ...Eval twin is used for evaluation)")
    parser.add_argument("--depth", type=int, default=4, help="residual depth of actor and critic")
    parser.add_argument("--timesteps", type=int, default=400_000, help="env steps to train")
    parser.add_argument("--epoch-timesteps", type=int, default=40_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=16, help="episodes per evaluation during training")
    parser.add_argument("--fresh-episodes", type=int, default=64, help="episodes of the best model's final evaluation")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="network and batch sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/demo", help="output folder")
    args = parser.parse_args(argv)

    model = DeepCRL(env_id(args.task), depth=args.depth, seed=args.seed, eval_episodes=args.eval_episodes,
                    epoch_timesteps=args.epoch_timesteps, verbose=0, log_dir=args.out, **PRESETS[args.preset])
    print(f"DeepCRL depth {args.depth} on {model.env_id}: {model.config.num_envs} envs x {model.config.unroll_length} steps "
          f"per iteration, {model.config.updates_per_iteration} gradient steps of batch {model.config.batch_size} each")

    rng = np.random.default_rng(args.seed)
    random_result = evaluate(lambda obs: rng.uniform(-1, 1, (len(obs["observation"]), model.core.action_size)),
                             model.eval_env, num_envs=args.eval_episodes, seed=args.seed)
    print(f"random policy: time at goal {random_result.time_at_goal:.1f} / {random_result.episode_length}, "
          f"success rate {random_result.success_rate:.2f}")

    keeper = SaveBestModel(os.path.join(args.out, "best"), metric="time_at_goal")
    start = time.perf_counter()
    model.learn(args.timesteps, progress_bar=True, callback=[keeper, _print_evaluation])
    minutes = (time.perf_counter() - start) / 60
    checkpoint = model.save(os.path.join(args.out, f"deep_crl_{args.task}.zip"))
    model.close()

    history = model.evaluations
    best = history.env_steps.index(keeper.best_timesteps)
    print(f"\ntrained {model.num_timesteps:,} env steps in {minutes:.1f} min; time at goal (of 1000) by env steps:")
    for number, (steps, result) in enumerate(zip(history.env_steps, history.results)):
        mark = "  <- best: kept" if number == best else ""
        print(f"  {steps:>9,}  {result.time_at_goal:6.1f}  {'#' * int(result.time_at_goal / 20)}{mark}")
    curve = plot_curves({f"DeepCRL depth {args.depth}": (history.env_steps, [r.time_at_goal for r in history.results])},
                        os.path.join(args.out, "learning_curve.png"), title=f"{args.task}: evaluation on the farthest goals",
                        baseline=random_result.time_at_goal)

    kept = DeepCRL.load(keeper.best_path, eval_episodes=args.fresh_episodes, verbose=0)
    fresh = kept.evaluate(seed=FRESH_SEED + args.seed)
    print(f"best model: evaluation {best + 1} of {len(history.results)}, at {keeper.best_timesteps:,} env steps "
          f"({history.results[best].time_at_goal:.1f} on its {args.eval_episodes} episodes)\n"
          f"headline: the best model on {fresh.episodes} fresh episodes: time at goal {fresh.time_at_goal:.1f} / "
          f"{fresh.episode_length}, success rate {fresh.success_rate:.2f} (random policy {random_result.time_at_goal:.1f}; "
          f"the final model's last 5 evaluations: {history.headline():.1f})")
    gif = os.path.join(args.out, "rollout.gif")
    for attempt in range(1, GIF_ATTEMPTS + 1):  # keep the first episode that reaches the goal, if any
        rollout = record_video(lambda obs: kept.predict(obs)[0], kept.eval_env, gif, seed=args.seed + attempt)[0]
        if rollout["steps_at_goal"] > 0:
            break
    kept.close()
    print(f"learning curve: {curve}\nbest model:     {keeper.best_path}\nfinal model:    {checkpoint}\n"
          f"rollout:        {gif} (the best model; episode {attempt} of {GIF_ATTEMPTS} tried: "
          f"{rollout['steps_at_goal']:.0f} of {rollout['steps']} steps at the goal)\n"
          f"logs:           {args.out}/progress.csv, TensorBoard: tensorboard --logdir {args.out}")


def _print_evaluation(locals_: dict, globals_: dict) -> bool:
    model, evaluation = locals_["self"], locals_["evaluation"]
    if evaluation is not None:
        metrics = locals_["metrics"]
        tqdm.write(f"  {model.num_timesteps:>9,} env steps: time at goal {evaluation.time_at_goal:6.1f}, success rate "
                   f"{evaluation.success_rate:.2f}, {metrics['time/env_steps_per_s']:,.0f} env steps/s")
    return True


if __name__ == "__main__":
    main()
