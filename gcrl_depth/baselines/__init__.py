"""stable-baselines3 SAC+HER and TD3+HER on gcrl_depth tasks (needs the ``baselines`` extra).

    from gcrl_depth.baselines import make_baseline, sb3_policy
    model = make_baseline("sac", "gcrl_depth/PointUMaze-v0", seed=0)
    model.learn(50_000)
    gcrl_depth.evaluate(sb3_policy(model), "gcrl_depth/PointUMazeEval-v0")

Nothing here imports stable-baselines3 or torch until a baseline is built, and a missing
extra is a clear ImportError naming the install command.
"""

from gcrl_depth.baselines.factory import ALGORITHMS, baseline_defaults, make_baseline, require_sb3, sb3_policy

__all__ = ["ALGORITHMS", "baseline_defaults", "make_baseline", "require_sb3", "sb3_policy"]
