"""Callbacks driven directly: SaveBestModel keeps the best evaluation, by each metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcrl_depth.callbacks import SaveBestModel
from gcrl_depth.evaluation import EvaluationHistory, EvaluationResult


class Agent:
    """What a callback sees of an agent: evaluations, the step count, save()."""

    def __init__(self):
        self.evaluations, self.num_timesteps, self.logger, self.saved = EvaluationHistory(), 0, None, []

    def save(self, path):
        with open(path, "w") as f:
            f.write(str(self.num_timesteps))
        self.saved.append(self.num_timesteps)
        return path


def run(callback, time_at_goal, success=None):
    """Feed one evaluation per epoch (None: an epoch without one); returns the step counts saved."""
    agent = Agent()
    callback.init_callback(agent)
    callback.on_training_start({}, {})
    for epoch, value in enumerate(time_at_goal, 1):
        agent.num_timesteps = 100 * epoch
        evaluation = None
        if value is not None:
            rate = success[epoch - 1] if success else 0.5
            evaluation = EvaluationResult(value, rate, 1.0, 8, 50)
            agent.evaluations.add(agent.num_timesteps, evaluation)
        callback.update_locals({"evaluation": evaluation})
        assert callback.on_step() is True
    return agent.saved


def test_keeps_the_latest_evaluations_best(tmp_path):
    best = SaveBestModel(tmp_path, metric="time_at_goal")
    assert run(best, [3, 5, None, 4, 5, 7, 1]) == [100, 200, 600]  # ties and epochs without evaluation keep the old one
    assert best.best == 7 and best.best_timesteps == 600
    assert Path(best.best_path).read_text() == "600"


def test_the_headline_smooths_over_the_last_five(tmp_path):
    best = SaveBestModel(tmp_path)  # headline: mean time at goal of the last 5 evaluations
    # a lucky 50 at step 200 raises the mean to 25, the best; later means of (0, 50, 10, 10, 10) etc. stay below
    assert run(best, [0, 50, 10, 10, 10, 10, 40]) == [100, 200]
    assert best.best == pytest.approx(25.0)


def test_success_rate_and_bad_metric(tmp_path):
    best = SaveBestModel(tmp_path, metric="success_rate")
    assert run(best, [1, 1, 1], success=[0.2, 0.9, 0.5]) == [100, 200]
    with pytest.raises(ValueError, match="metric must be one of"):
        SaveBestModel(tmp_path, metric="reward")


def test_checkpoints_come_at_every_crossed_multiple_even_when_epochs_fall_a_little_short(tmp_path):
    from gcrl_depth.callbacks import CheckpointCallback

    agent = Agent()
    agent.save = lambda path, include_buffer=False: agent.saved.append(agent.num_timesteps)
    callback = CheckpointCallback(100, tmp_path)
    callback.init_callback(agent)
    callback.on_training_start({}, {})
    for epoch in range(1, 9):
        agent.num_timesteps = 95 * epoch  # epochs of 95 env steps, a save every 100
        callback.update_locals({})
        callback.on_step()
    assert agent.saved == [190, 285, 380, 475, 570, 665, 760]  # one per multiple of 100 crossed (700 at 760)


def test_a_resumed_agent_keeps_its_best_so_far(tmp_path):
    agent = Agent()
    for step, value in ((100, 0.0), (200, 50.0), (300, 10.0)):  # evaluations before the resume: best headline 25
        agent.evaluations.add(step, EvaluationResult(value, 0.5, 1.0, 8, 50))
    best = SaveBestModel(tmp_path)
    best.init_callback(agent)
    assert best.best == pytest.approx(25.0)
    agent.num_timesteps = 400
    agent.evaluations.add(400, EvaluationResult(20.0, 0.5, 1.0, 8, 50))  # headline 20: worse than before the resume
    best.update_locals({"evaluation": agent.evaluations.results[-1]})
    best.on_step()
    assert agent.saved == []
