"""SB3 SAC+HER / TD3+HER baselines: build, learn a little, evaluate with the shared evaluator."""

from __future__ import annotations

import builtins

import gymnasium as gym
import numpy as np
import pytest
import torch

from gcrl_depth import evaluate
from gcrl_depth.baselines import make_baseline, require_sb3, sb3_policy
from gcrl_depth.baselines.residual import GoalResidualExtractor

ENV = "gcrl_depth/PointUMaze-v0"


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_baseline_learns_a_little_and_evaluates(algo):
    env = gym.make(ENV, episode_length=20)
    model = make_baseline(algo, env, seed=0, width=32, batch_size=16)
    assert model.learning_starts == 20 and model.replay_buffer_kwargs["goal_selection_strategy"] == "future"
    model.learn(60)
    assert model.num_timesteps == 60 and model.replay_buffer.size() == 60
    result = evaluate(sb3_policy(model), ENV, num_envs=3, episode_length=20)
    assert result.episodes == 3 and np.isfinite(result.final_distance)


def test_residual_depth_builds_the_project_architecture():
    model = make_baseline("sac", gym.make(ENV, episode_length=20), depth=8, width=16, batch_size=16)
    extractor = model.policy.actor.features_extractor
    assert isinstance(extractor, GoalResidualExtractor)
    linears = [m for m in extractor.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in extractor.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(linears) == len(norms) == 1 + 8  # projection + 2 blocks of 4
    assert linears[0].in_features == 4 + 2  # observation + desired goal
    assert model.policy.critic.features_extractor is not extractor
    model.learn(40)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("ppo", ENV)
    with pytest.raises(ValueError, match="multiple of 4"):
        make_baseline("sac", ENV, depth=5)
    with pytest.raises(TypeError, match=r"not a goal env.*'achieved_goal'"):
        make_baseline("sac", gym.make("Pendulum-v1"))
    with pytest.raises(TypeError, match=r"single gym.make env"):
        make_baseline("sac", gym.make_vec(ENV, num_envs=2))


def test_a_third_party_goal_env_by_id_learns_and_evaluates():
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    model = make_baseline("sac", gym.make("PointMaze_UMaze-v3", max_episode_steps=20), seed=0, width=32, batch_size=16)
    assert model.learning_starts == 20  # one episode of the env's own time limit
    model.learn(60)
    assert model.num_timesteps == 60
    result = evaluate(sb3_policy(model), "PointMaze_UMaze-v3", num_envs=2, max_steps=25)
    assert result.episodes == 2 and result.episode_length == 25 and np.isfinite(result.final_distance)


def test_missing_extra_names_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def no_sb3(name, *args, **kwargs):
        if name.startswith("stable_baselines3"):
            raise ImportError("No module named 'stable_baselines3'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sb3)
    with pytest.raises(ImportError, match=r"gcrl_depth\[baselines\]"):
        require_sb3()


def test_an_sb3_vector_env_trains_several_envs_at_once():
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env(ENV, n_envs=2, seed=0, env_kwargs={"episode_length": 20})
    model = make_baseline("sac", envs, seed=0, width=32, batch_size=16, device="cpu")
    assert model.learning_starts == 40 and model.n_envs == 2 and model.device.type == "cpu"  # an episode of each env
    model.learn(60)
    assert model.num_timesteps == 60 and model.replay_buffer.size() == 30  # rows per env: 2 envs x 30 steps
    with pytest.raises(TypeError, match="SB3 vector env"):
        make_baseline("sac", [envs])
