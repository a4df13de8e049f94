"""Run sets: a member equals the same seed trained alone; a diverging member is reported by seed and
does not stop or poison the others; members are ordinary DeepCRL models afterwards."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl_depth import DeepCRL, RunSet
from gcrl_depth.crl.engine.config import PRESETS

ENV = "gcrl_depth/PointUMaze-v0"
TINY = {**PRESETS["tiny"], "eval_episodes": 3, "epoch_timesteps": 40, "verbose": 0}  # 4 envs, width 16: seconds
STEPS = 100  # prefill 40 + 3 iterations of 20


def envs():
    return gym.make_vec(ENV, num_envs=4, episode_length=12)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(tree))]


@pytest.fixture(scope="module")
def trained():
    return RunSet(envs(), depth=4, seeds=[3, 5], **TINY).learn(STEPS)


def test_a_member_equals_its_seed_trained_alone(trained):
    for member in trained.members:
        alone = DeepCRL(envs(), depth=4, seed=member.seed, **TINY).learn(STEPS)
        assert (member.num_timesteps, member.num_updates) == (alone.num_timesteps, alone.num_updates)
        for a, b in zip(leaves(member.learner), leaves(alone.learner)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # vmap changes matmul blocking: not bitwise
        ours = [r.final_distance for r in member.evaluations.results]
        theirs = [r.final_distance for r in alone.evaluations.results]
        np.testing.assert_allclose(ours, theirs, rtol=1e-3)


def test_members_are_ordinary_models_that_train_on(trained, tmp_path):
    assert set(trained.headlines()) == {3, 5} and not trained.diverged
    member = trained.members[1]
    obs = {"observation": np.zeros((2, 4), np.float32), "desired_goal": np.ones((2, 2), np.float32)}
    loaded = DeepCRL.load(member.save(tmp_path / "member.zip"), verbose=0)
    np.testing.assert_array_equal(loaded.predict(obs)[0], member.predict(obs)[0])
    before = member.num_timesteps
    member.learn(20, reset_num_timesteps=False)  # alone, on its own buffer
    assert member.num_timesteps == before + 20


def test_a_diverging_member_is_reported_and_the_others_train_on():
    runs = RunSet(envs(), depth=4, seeds=[0, 1], **TINY)
    broken = runs.members[0]
    params = broken.run.state.learner.params
    broken.run.state = broken.run.state.replace(learner=broken.run.state.learner.replace(
        params=params.__class__(actor=params.actor, critic=params.critic, log_alpha=jnp.asarray(jnp.nan))))
    with pytest.warns(RuntimeWarning, match="seed 0 diverged"):
        runs.learn(STEPS)
    assert list(runs.diverged) == [0]
    healthy = runs.members[1]
    assert healthy.num_timesteps == STEPS and len(healthy.evaluations.results) == 2
    assert all(np.isfinite(x).all() for x in leaves(healthy.learner))
    assert broken.num_timesteps == 40 and not broken.evaluations.results  # the prefill, no finished epoch


def test_a_run_set_resumes_from_its_stacked_checkpoint_as_if_never_stopped(tmp_path):
    """Checkpointed inside the callback (the live stacked state, buffers included), rebuilt, resumed."""
    from gcrl_depth.crl.checkpoints.state_store import StateStore

    settings = {"depth": 4, "seeds": [3, 5], **TINY, "eval_episodes": 2}
    straight = RunSet(envs(), **settings).learn(160)  # prefill 40, then epochs of 40: evaluations at 80, 120, 160
    store = StateStore(tmp_path / "ckpt")
    first = RunSet(envs(), **settings)
    first.learn(120, callback=lambda runs: runs.save_state(store))
    store.close()
    resumed = RunSet(envs(), **settings).resume(tmp_path / "ckpt")
    assert [len(m.evaluations.results) for m in resumed.members] == [len(m.evaluations.results) for m in first.members]
    resumed.learn(40, reset_num_timesteps=False)
    for ours, theirs in zip(resumed.members, straight.members):
        assert (ours.num_timesteps, ours.num_updates) == (theirs.num_timesteps, theirs.num_updates)
        for a, b in zip(leaves(ours.learner), leaves(theirs.learner)):
            np.testing.assert_array_equal(a, b)
        assert ours.evaluations.results == theirs.evaluations.results
    with pytest.raises(ValueError, match=r"holds runs of seeds \[3, 5\]"):
        RunSet(envs(), depth=4, seeds=[3], **TINY).resume(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="a run set's checkpoint"):
        DeepCRL.load(tmp_path / "ckpt")


def test_a_one_seed_run_set_resumes_from_one_models_store(tmp_path):
    """A folder of an older serial campaign holds one DeepCRL's store: a set of that one seed takes it."""
    from gcrl_depth.crl.checkpoints.state_store import StateStore
    from gcrl_depth.crl.training.persistence import save_state

    straight = DeepCRL(envs(), depth=4, seed=3, **TINY).learn(160)
    alone = DeepCRL(envs(), depth=4, seed=3, **TINY)
    store = StateStore(tmp_path / "ckpt")
    alone.learn(120, callback=lambda locals_, globals_: save_state(alone, store) or True)
    store.close()
    resumed = RunSet(envs(), depth=4, seeds=[3], **TINY).resume(tmp_path / "ckpt")
    resumed.learn(40, reset_num_timesteps=False)
    (member,) = resumed.members
    assert (member.num_timesteps, member.num_updates) == (straight.num_timesteps, straight.num_updates)
    assert [r.time_at_goal for r in member.evaluations.results] == [r.time_at_goal for r in straight.evaluations.results]
    for a, b in zip(leaves(member.learner), leaves(straight.learner)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # vmap over one run changes matmul blocking
    with pytest.raises(ValueError, match=r"holds runs of seeds \[3\]"):
        RunSet(envs(), depth=4, seeds=[3, 5], **TINY).resume(tmp_path / "ckpt")
