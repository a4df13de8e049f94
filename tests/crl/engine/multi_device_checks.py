"""Checks that need several devices; tests/crl/engine/test_devices.py runs this file in a process with 4 CPU devices.

Prints one line per check, ``ok <name> <detail>``; any failure raises (non-zero exit).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile

import gymnasium as gym
import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

sys.path.insert(0, os.path.dirname(__file__))

from test_learner import SPEC, minibatch

import gcrl_depth  # noqa: F401
from gcrl_depth import DeepCRL
from gcrl_depth.crl.engine.config import PRESETS
from gcrl_depth.crl.engine.learner import gradient_step, init_learner
from gcrl_depth.crl.engine.train import DATA_AXIS
from gcrl_depth.crl.training.run_set import RunSet

ENV = "gcrl_depth/PointUMaze-v0"
TINY = PRESETS["tiny"]  # 4 envs, width 16: trains in seconds


def envs():
    return gym.make_vec(ENV, num_envs=4, episode_length=12)


def max_difference(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree_util.tree_leaves(jax.device_get(a)), jax.tree_util.tree_leaves(jax.device_get(b))))


def data_parallel_update_equals_one_device() -> None:
    mesh = Mesh(np.asarray(jax.devices()), (DATA_AXIS,))
    sharded = dataclasses.replace(SPEC, data_axis=DATA_AXIS, data_shards=len(jax.devices()))
    learner, batch, key = init_learner(SPEC, jax.random.key(0)), minibatch(1), jax.random.key(11)
    single, single_metrics = jax.jit(lambda lrn, b, k: gradient_step(lrn, b, k, SPEC))(learner, batch, key)
    step = jax.shard_map(lambda lrn, b, k: gradient_step(lrn, b, k, sharded), mesh=mesh, in_specs=(P(), P(DATA_AXIS), P()), check_vma=False,
                         out_specs=(P(), P()))
    split, split_metrics = jax.jit(step)(learner, batch, key)
    error = max_difference(single, split)
    assert error < 1e-5, error
    for name in ("train/critic_loss", "train/actor_loss", "train/categorical_accuracy"):
        np.testing.assert_allclose(split_metrics[name], single_metrics[name], rtol=1e-5, atol=1e-6, err_msg=name)
    print(f"ok data_parallel_update_equals_one_device max |difference| {error:.2e}")


def sharded_run_set_equals_unsharded() -> None:
    sharded = RunSet(envs(), depth=4, seeds=[0, 1, 2, 3], eval_episodes=4, epoch_timesteps=40, **TINY)
    assert sharded.mesh is not None and sharded.mesh.devices.size == 4
    sharded.learn(100)
    plain = RunSet(envs(), depth=4, seeds=[0, 1, 2, 3], eval_episodes=4, epoch_timesteps=40, devices=jax.devices()[:1],
                   **TINY)  # every run on the first device
    assert plain.mesh is None
    plain.learn(100)
    error = max(max_difference(a.learner, b.learner) for a, b in zip(sharded.members, plain.members))
    assert error < 1e-5, error
    for a, b in zip(sharded.members, plain.members):  # the same evaluations, up to float rounding of the distances
        for x, y in zip(a.evaluations.results, b.evaluations.results):
            assert abs(x.time_at_goal - y.time_at_goal) <= 1.0 and abs(x.final_distance - y.final_distance) < 1e-3, (x, y)
    print(f"ok sharded_run_set_equals_unsharded max |difference| {error:.2e}")


def data_parallel_agent_trains_saves_and_loads() -> None:
    model = DeepCRL(envs(), depth=4, seed=0, eval_episodes=4, epoch_timesteps=40, verbose=0, data_parallel=4, **TINY)
    model.learn(100)
    spec = model.run.state.buffer.obs.sharding.spec
    assert tuple(spec)[:2] == (None, DATA_AXIS), spec
    assert model.run.state.buffer.obs.shape[1] == 4  # all envs' slots, split over the devices
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(jax.device_get(model.learner)))
    obs = {"observation": np.zeros((3, 4), np.float32), "desired_goal": np.ones((3, 2), np.float32)}
    with tempfile.TemporaryDirectory() as folder:
        path = model.save(os.path.join(folder, "dp.zip"), include_buffer=True)
        loaded = DeepCRL.load(path, verbose=0, data_parallel=2)
        np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
        loaded.learn(20, reset_num_timesteps=False)  # the saved buffer, laid out over 2 devices
    assert loaded.num_timesteps == 120
    print(f"ok data_parallel_agent_trains_saves_and_loads {len(model.evaluations.results)} evaluations")


def data_parallel_run_set_equals_its_runs_on_fewer_devices() -> None:
    specs = []
    spread = RunSet(envs(), depth=4, seeds=[0, 1], eval_episodes=4, epoch_timesteps=40, data_parallel=2, **TINY)
    assert spread.mesh.devices.shape == (2, 2) and spread.mesh.axis_names == ("runs", DATA_AXIS), spread.mesh
    spread.learn(100, callback=lambda runs: specs.append(tuple(runs._live.state.buffer.obs.sharding.spec)))
    assert specs and specs[0][:3] == ("runs", None, DATA_AXIS), specs  # seeds over 2 groups, slots over their 2 devices
    grouped = RunSet(envs(), depth=4, seeds=[0, 1], eval_episodes=4, epoch_timesteps=40, data_parallel=2,
                     devices=jax.devices()[:2], **TINY)  # both runs on one group of 2 devices
    assert grouped.mesh.devices.shape == (1, 2), grouped.mesh
    grouped.learn(100)
    error = max(max_difference(a.learner, b.learner) for a, b in zip(spread.members, grouped.members))
    assert error < 1e-5, error
    alone = DeepCRL(envs(), depth=4, seed=1, eval_episodes=4, epoch_timesteps=40, verbose=0, data_parallel=2, **TINY)
    alone.learn(100)  # the same run trained by itself (not vmapped): equal up to float rounding
    solo_error = max_difference(alone.learner, spread.members[1].learner)
    assert solo_error < 1e-4, solo_error
    for a, b in zip(spread.members, grouped.members):  # the same evaluations, up to float rounding of the distances
        for x, y in zip(a.evaluations.results, b.evaluations.results):
            assert abs(x.time_at_goal - y.time_at_goal) <= 1.0 and abs(x.final_distance - y.final_distance) < 1e-3, (x, y)
    print(f"ok data_parallel_run_set_equals_its_runs_on_fewer_devices max |difference| {error:.2e}, "
          f"alone {solo_error:.2e}")


if __name__ == "__main__":
    assert len(jax.devices()) == 4, jax.devices()
    data_parallel_update_equals_one_device()
    sharded_run_set_equals_unsharded()
    data_parallel_agent_trains_saves_and_loads()
    data_parallel_run_set_equals_its_runs_on_fewer_devices()
