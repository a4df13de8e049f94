"""The paper's published numbers, kept as data: Table 1, its env-step budgets and hours, and the
measured dynamics of its envs (reference section 5). Used by ``gcrl-depth reproduce``
and ``benchmarks/env_dynamics.py`` to print our results beside the paper's."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PaperResult:
    """One Table 1 row: time at goal (mean and standard error over 5 seeds) at depth 4 and 64."""

    budget: int  # env steps the paper trained for
    depth_4: tuple[float, float]
    depth_64: tuple[float, float]

    def at_depth(self, depth: int) -> tuple[float, float] | None:
        """(mean, s.e.) at ``depth``, or None where the paper reports no number."""
        return {4: self.depth_4, 64: self.depth_64}.get(depth)


M = 1_000_000
# Table 1 of "1000 Layer Networks for Self-Supervised RL" (time at goal, 5 seeds), by gcrl_depth task name.
TABLE_1: dict[str, PaperResult] = {
    "ArmBinpickHard": PaperResult(100 * M, (38, 4), (219, 15)),
    "ArmPushEasy": PaperResult(100 * M, (308, 33), (762, 30)),
    "ArmPushHard": PaperResult(100 * M, (171, 11), (410, 13)),
    "AntU4Maze": PaperResult(100 * M, (11.4, 4.1), (286, 36)),
    "AntU5Maze": PaperResult(400 * M, (0.97, 0.7), (61, 18)),
    "AntBigMaze": PaperResult(100 * M, (61, 20), (441, 25)),
    "AntHardestMaze": PaperResult(200 * M, (215, 8), (387, 21)),
    "Humanoid": PaperResult(100 * M, (12.6, 1.3), (649, 19)),
    "HumanoidUMaze": PaperResult(400 * M, (3.2, 1.2), (159, 33)),
    "HumanoidBigMaze": PaperResult(400 * M, (0.06, 0.04), (59, 21)),
}
# Wall-clock hours of one run on one 80 GB A100 at the task's budget, by (task, critic depth); reference section 1.
PAPER_HOURS: dict[tuple[str, int], float] = {
    ("Humanoid", 4): 1.5, ("Humanoid", 64): 11.0,
    ("AntBigMaze", 4): 2.1, ("AntBigMaze", 64): 11.7,
    ("HumanoidUMaze", 4): 8.7, ("HumanoidUMaze", 64): 46.7, ("HumanoidUMaze", 1024): 134.0,
}
PAPER_SEEDS = 5
PAPER_EVAL_EPISODES = 128
PAPER_EVALUATIONS = 100  # evaluations per run (every budget / 100 env steps)


# Measured dynamics of the paper's envs (brax 0.10.1 spring; 64 envs, no auto-reset, 1000 steps).
DYNAMICS: dict[str, dict[str, str]] = {
    "Ant": {"random_terminated": "38% (6 low, 18 high)", "random_length": "790 / 1000",
            "flipped_terminated": "6 of 6, 5-11 steps after flipping", "zero_action": "never (z settles at 0.45)"},
    "AntBigMaze": {"random_terminated": "41%", "random_length": "776 / 1000", "flipped_terminated": "12 of 12",
                   "zero_action": "never"},
    "Humanoid (dt 0.03)": {"random_terminated": "100%", "random_length": "39 steps = 1.2 s", "flipped_terminated": "-",
                           "zero_action": "54 steps = 1.6 s"},
    "HumanoidUMaze (dt 0.015)": {"random_terminated": "100%", "random_length": "88 steps = 1.3 s",
                                 "flipped_terminated": "-", "zero_action": "107 steps = 1.6 s"},
}


@dataclasses.dataclass(frozen=True)
class DynamicsFigures:
    """The paper's env dynamics as numbers (reference section 5), for checks against ours.

    Attributes:
        random_terminated: fraction of random-action episodes that terminated within 1000 steps.
        random_seconds: mean random-action episode length in seconds.
        zero_fall_seconds: when a zero-action episode terminates, in seconds (None: never).
    """

    random_terminated: float
    random_seconds: float
    zero_fall_seconds: float | None


DYNAMICS_FIGURES: dict[str, DynamicsFigures] = {
    "Ant": DynamicsFigures(0.38, 790 * 0.05, None),
    "AntBigMaze": DynamicsFigures(0.41, 776 * 0.05, None),
    "Humanoid": DynamicsFigures(1.0, 39 * 0.03, 54 * 0.03),
    "HumanoidUMaze": DynamicsFigures(1.0, 88 * 0.015, 107 * 0.015),
}
# How close counts as matching the paper's physics: termination rate within 0.15, times within 35%.
DYNAMICS_TOLERANCE = {"terminated": 0.15, "seconds": 0.35}
