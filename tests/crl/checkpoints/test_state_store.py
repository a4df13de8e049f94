"""Orbax checkpoints of the whole training state: exact resume, retention, preemption, half-written ones."""

from __future__ import annotations

import os
import shutil
import signal

import numpy as np
import pytest
from tiny_agent import PER_ITERATION, PREFILL, leaves, tiny_model

from gcrl_depth import DeepCRL
from gcrl_depth.crl.checkpoints.state_store import StateStore, committed_steps, open_checkpoint
from gcrl_depth.crl.training.state_checkpoint import StateCheckpoint


def test_resume_from_the_store_is_bitwise_the_uninterrupted_run(tmp_path):
    straight = tiny_model(seed=2).learn(PREFILL + 6 * PER_ITERATION)
    first = tiny_model(seed=2)
    first.learn(PREFILL + 4 * PER_ITERATION, callback=StateCheckpoint(2 * PER_ITERATION, tmp_path / "ckpt", keep=1))
    assert committed_steps(tmp_path / "ckpt")[-1] == PREFILL + 4 * PER_ITERATION
    resumed = DeepCRL.load(tmp_path / "ckpt", verbose=0)  # the newest checkpoint, buffer and envs included
    assert len(resumed.evaluations.results) == len(first.evaluations.results) == 2
    resumed.learn(2 * PER_ITERATION, reset_num_timesteps=False)  # no refill: the buffer came back
    assert (resumed.num_timesteps, resumed.num_updates) == (straight.num_timesteps, straight.num_updates)
    for x, y in zip(leaves(resumed.learner), leaves(straight.learner)):
        np.testing.assert_array_equal(x, y)
    assert resumed.evaluations.results == straight.evaluations.results  # the same evaluation goals, in order
    for model in (straight, first, resumed):
        model.close()


def test_the_latest_and_the_best_are_kept_and_a_half_written_one_is_ignored(tmp_path):
    model = tiny_model(seed=1)
    callback = StateCheckpoint(PER_ITERATION, tmp_path / "ckpt", keep=2, include_buffer=False)
    model.learn(PREFILL + 8 * PER_ITERATION, callback=callback)
    steps = committed_steps(tmp_path / "ckpt")
    scores = {s: r.time_at_goal for s, r in zip(model.evaluations.env_steps, model.evaluations.results)}
    assert len(scores) == 4 and steps[-2:] == sorted(scores)[-2:] and len(steps) <= 3  # the latest 2, and the best
    assert max(scores[s] for s in steps) == max(scores.values())
    stored = open_checkpoint(tmp_path / "ckpt")
    assert not stored.has_training_state and stored.meta["num_timesteps"] == steps[-1]
    shutil.copytree(tmp_path / "ckpt" / str(steps[-1]), tmp_path / "ckpt" / "999999")
    shutil.rmtree(tmp_path / "ckpt" / "999999" / "record")  # as a crash mid-write leaves it
    assert committed_steps(tmp_path / "ckpt")[-1] == steps[-1]
    loaded = DeepCRL.load(tmp_path / "ckpt", verbose=0)
    assert loaded.num_timesteps == steps[-1] and not loaded.run.has_buffer  # no buffer saved: refilled on learn
    model.close()
    loaded.close()


def test_sigterm_checkpoints_at_the_epoch_end_and_stops(tmp_path):
    model = tiny_model(seed=3)
    callback = StateCheckpoint(100 * PER_ITERATION, tmp_path / "ckpt")

    def preempt(locals_, globals_):
        if model.num_timesteps >= PREFILL + 2 * PER_ITERATION:
            os.kill(os.getpid(), signal.SIGTERM)  # noted by the checkpoint callback, not fatal

    model.learn(PREFILL + 20 * PER_ITERATION, callback=[preempt, callback])
    assert callback.preempted and model.num_timesteps == PREFILL + 2 * PER_ITERATION
    assert committed_steps(tmp_path / "ckpt") == [model.num_timesteps]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after training
    model.close()


def test_a_folder_without_checkpoints_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no committed checkpoint"):
        open_checkpoint(tmp_path / "empty")
    with pytest.raises(ValueError, match="keep must be a positive number"):
        StateStore(tmp_path / "s", keep=0)
