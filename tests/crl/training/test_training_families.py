"""DeepCRL trains on the humanoid and the arm families, end to end through ``gym.make_vec``.

Point mazes are trained in ``test_agent.py`` and ``test_learning.py``. Here each family gets
one short run: no prefill and no evaluation, so the only MJX program compiled is the
training epoch (collect with auto-reset, then gradient steps), which takes about a minute
per family on a 2-core CPU. Each run is ``isolated`` (a fresh process; see conftest.py).
"""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np
import pytest

from gcrl_depth import DeepCRL

NUM_ENVS, UNROLL, EPISODE = 2, 6, 4
SMALL = {"width": 16, "repr_dim": 8, "unroll_length": UNROLL, "batch_size": 8, "env_steps_per_update": 4.0, "buffer_size": 16,
             "prefill_steps": 0}


@pytest.mark.isolated
@pytest.mark.parametrize("env_id", ["gcrl_depth/HumanoidUMaze-v0", "gcrl_depth/ArmBinpickHard-v0"])
def test_deep_crl_trains_on_the_family(env_id):
    envs = gym.make_vec(env_id, num_envs=NUM_ENVS, episode_length=EPISODE)
    model = DeepCRL(envs, depth=4, eval_episodes=0, verbose=0, **SMALL)
    before = [np.asarray(x) for x in jax.tree_util.tree_leaves(jax.device_get(model.learner.params.actor))]
    seen = []
    model.learn(2 * NUM_ENVS * UNROLL, callback=lambda locals_, _: seen.append(locals_["metrics"]))

    assert model.num_timesteps == 2 * NUM_ENVS * UNROLL and model.num_updates == 2 * model.config.updates_per_iteration
    (metrics,) = seen  # one epoch of two iterations
    assert metrics["collect/episodes_ended"] > 0  # episodes ended and auto-reset inside training
    losses = {k: v for k, v in metrics.items() if k.startswith("train/")}
    assert losses and all(np.isfinite(v) for v in losses.values()), losses
    after = jax.tree_util.tree_leaves(jax.device_get(model.learner.params.actor))
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, after))  # the actor was updated

    obs, _ = envs.reset(seed=1)
    action, _ = model.predict(obs)
    assert action.shape == envs.action_space.shape and envs.action_space.contains(action)
    envs.close()
