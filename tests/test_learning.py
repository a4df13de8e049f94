"""DeepCRL learns: time at goal on PointUMaze rises well above the random policy's (slow, runs in CI)."""

from __future__ import annotations

import numpy as np
import pytest

from gcrl_depth import DeepCRL, evaluate
from gcrl_depth.crl.config import PRESETS

ENV = "gcrl_depth/PointUMaze-v0"


@pytest.mark.slow
@pytest.mark.xla_optimized  # minutes of training: optimized programs pay back their compile
def test_time_at_goal_rises_well_above_random():
    rng = np.random.default_rng(0)
    random = evaluate(lambda obs: rng.uniform(-1, 1, (len(obs["observation"]), 2)), ENV, num_envs=32, seed=123)
    model = DeepCRL(ENV, depth=4, seed=0, eval_env=ENV, eval_episodes=32, epoch_timesteps=40_000, verbose=0, **PRESETS["cpu"])
    model.learn(120_000)  # about 3 minutes on a 2-core CPU
    curve = [result.time_at_goal for result in model.evaluations.results]
    assert len(curve) == 3
    assert curve[-1] >= random.time_at_goal + 100, (curve, random)
    assert curve[-1] > curve[0], curve
    assert model.evaluations.results[-1].success_rate >= 0.25
