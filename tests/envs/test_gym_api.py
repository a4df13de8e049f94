"""The Gymnasium layer: env checkers, Dict/GoalEnv contract, vector env semantics, rendering, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from gcrl_depth.compile_clock import compile_seconds
from gcrl_depth.envs import TASKS, env_id
from gcrl_depth.envs.gym_api import GcrlGoalEnv

# The first task of every env class (tasks of a class differ only in layout, difficulty or goal
# table, which other tests cover) and one evaluation twin: the full checkers compile each env's
# MJX programs (20-40 s apiece on a CPU); every other id gets the cheap construction check below.
FIRST_OF_EACH_CLASS: dict[str, str] = {}
for _name, (_family, _) in TASKS.items():
    FIRST_OF_EACH_CLASS.setdefault(_family, _name)
CHECKED_IDS = [env_id(name) for name in (*FIRST_OF_EACH_CLASS.values(), "HumanoidBigMazeEval")]
# brax's spring pipeline: one ant and one humanoid family in every run (tests/envs/test_spring.py covers every
# id's layout); the other ant and humanoid ids are marked "exhaustive" (`make test-all`): 30-60 s of compiles each.
SPRING_CHECKED_IDS = [env_id(name) for name in ("Ant", "HumanoidUMaze")]
SPRING_EXHAUSTIVE_IDS = [env_id(name) for name in TASKS if name.startswith(("Ant", "Humanoid"))
                         and env_id(name) not in SPRING_CHECKED_IDS]


CHECK_SCRIPT = """
import json, sys, warnings
import gymnasium as gym
import gcrl_depth
from gcrl_depth.compile_clock import compile_seconds
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
warnings.filterwarnings("ignore", message=".*Box observation space (min|max)imum value is")
env = gym.make(sys.argv[1], render_mode="rgb_array", **json.loads(sys.argv[2]))
check_env(env.unwrapped, skip_render_check=False)
sb3_check_env(env.unwrapped, warn=True)  # includes the GoalEnv compute_reward checks
assert env.spec.id == sys.argv[1]
env.close()
print("checked", sys.argv[1])
"""


@pytest.mark.parametrize("env_name, physics", [(name, "mjx") for name in CHECKED_IDS]
                         + [(name, "spring") for name in SPRING_CHECKED_IDS]
                         + [pytest.param(name, "spring", marks=pytest.mark.exhaustive) for name in SPRING_EXHAUSTIVE_IDS])
def test_env_checkers_pass_on_every_registered_env(env_name, physics):
    # One process per env: compiling every env's programs in the pytest process exhausts
    # vm.max_map_count and XLA's CPU compiler then crashes (see conftest.py).
    options = json.dumps({"physics": physics})
    result = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, env_name, options], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"checked {env_name}" in result.stdout


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_registered_id_builds_with_spaces_matching_its_core(name):
    env = gym.make(env_id(name))
    core = env.unwrapped.core
    assert env.observation_space["observation"].shape == (core.observation_size,)
    assert env.observation_space["desired_goal"].shape == env.observation_space["achieved_goal"].shape == (core.goal_size,)
    assert env.action_space.shape == (core.action_size,) and env.spec.id == env_id(name)
    env.close()


def test_registry_has_the_issue_ids_and_eval_twins():
    for name in ("PointUMaze", "PointBigMaze", "PointHardestMaze", "Ant", "AntUMaze", "AntBigMaze",
                 "AntHardestMaze", "AntU4Maze", "AntU5Maze", "AntBigMazeEval"):
        assert env_id(name) in gym.registry
        assert gym.registry[env_id(name)].vector_entry_point is not None


def test_eval_goals_by_keyword_equals_eval_id():
    by_keyword = gym.make("gcrl_depth/PointUMaze-v0", eval_goals=True).unwrapped.core.maze
    by_id = gym.make("gcrl_depth/PointUMazeEval-v0").unwrapped.core.maze
    np.testing.assert_array_equal(by_keyword.goal_cells, by_id.goal_cells)
    assert len(by_id.goal_cells) == 3  # the far row of the U


def test_same_seed_same_rollout_and_new_goal_without_seed():
    def rollout(seed):
        env = gym.make("gcrl_depth/PointUMaze-v0")
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        trace = [obs["observation"]]
        for _ in range(5):
            trace.append(env.step(env.action_space.sample())[0]["observation"])
        return np.array(trace), env

    a, env = rollout(7)
    compiled_before = compile_seconds()
    b, _ = rollout(7)  # another env of the same core: JAX's cache serves its programs
    np.testing.assert_array_equal(a, b)
    goals = {tuple(env.reset()[0]["desired_goal"]) for _ in range(20)}
    assert len(goals) > 1
    assert compile_seconds() == compiled_before  # no retracing across envs, steps and resets


def test_step_rewards_equal_batch_compute_reward():
    envs = gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=8, episode_length=60)
    obs, _ = envs.reset(seed=3)
    achieved, desired, rewards = [], [], []
    for _ in range(80):  # steer straight at the goal: some goals are in line of sight
        direction = obs["desired_goal"] - obs["achieved_goal"]
        actions = np.clip(direction, -1, 1).astype(np.float32)
        obs, reward, _, _, info = envs.step(actions)
        final = np.where(info["_final_obs"][:, None], info["final_obs"]["achieved_goal"], obs["achieved_goal"])
        goal = np.where(info["_final_obs"][:, None], info["final_obs"]["desired_goal"], obs["desired_goal"])
        achieved.append(final), desired.append(goal), rewards.append(reward)
    achieved, desired, rewards = (np.concatenate(x) for x in (achieved, desired, rewards))
    assert 0 < rewards.sum() < len(rewards)  # both outcomes are covered
    single = gym.make("gcrl_depth/PointUMaze-v0")
    np.testing.assert_array_equal(single.unwrapped.compute_reward(achieved, desired, [{}] * len(achieved)), rewards)
    # reachable through gymnasium's wrappers, as SB3's HerReplayBuffer does it
    np.testing.assert_array_equal(single.get_wrapper_attr("compute_reward")(achieved, desired, None), rewards)
    assert not single.unwrapped.compute_terminated(achieved, desired, None).any()


def test_make_vec_shapes_and_same_step_autoreset():
    envs = gym.make_vec("gcrl_depth/AntUMaze-v0", num_envs=3, episode_length=2)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.num_envs == 3
    assert envs.observation_space["observation"].shape == (3, 29)
    assert envs.action_space.shape == (3, 8)
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    _obs1, reward, terminated, truncated, info = envs.step(np.zeros((3, 8), np.float32))
    assert reward.shape == terminated.shape == truncated.shape == (3,)
    assert not truncated.any() and not info["_final_obs"].any()
    compiled_before = compile_seconds()
    obs2, _, _, truncated, info = envs.step(np.zeros((3, 8), np.float32))
    assert compile_seconds() == compiled_before  # one compiled program for all steps
    assert truncated.all() and info["_final_obs"].all()
    # the returned observation starts the new episode; the final one is in info
    assert not np.allclose(info["final_obs"]["observation"], obs2["observation"])
    np.testing.assert_allclose(obs2["achieved_goal"], 4.0, atol=0.2)  # back at the R cell (4, 4)


def test_vector_env_seed_reproducibility():
    def first_obs(seed):
        envs = gym.make_vec("gcrl_depth/PointBigMaze-v0", num_envs=4)
        return envs.reset(seed=seed)[0]["desired_goal"]

    np.testing.assert_array_equal(first_obs(5), first_obs(5))


def test_render_returns_frames():
    env = gym.make("gcrl_depth/PointUMaze-v0", render_mode="rgb_array", width=96, height=64)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8
    assert frame.std() > 5  # not a blank image
    envs = gym.make_vec("gcrl_depth/Ant-v0", num_envs=2, render_mode="rgb_array", width=32, height=32)
    envs.reset(seed=0)
    frames = envs.render()
    assert len(frames) == 2 and frames[0].shape == (32, 32, 3)


def test_bad_input_gets_clear_errors():
    env = gym.make("gcrl_depth/PointUMaze-v0").unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected an action of shape \(2,\), got shape \(3,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=0)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        GcrlGoalEnv("PointUMaze", render_mode="human")  # gym.make would wrap it in HumanRendering
    envs = gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected an action of shape \(2, 2\)"):
        envs.step(np.zeros(2))
    with pytest.raises(ValueError, match="unknown maze layout characters"):
        gym.make("gcrl_depth/PointUMaze-v0", layout=["111", "1RX", "111"])


def test_out_of_range_actions_are_clipped():
    env = gym.make("gcrl_depth/PointUMaze-v0").unwrapped
    env.reset(seed=1)
    big = env.step(np.array([7.0, -7.0], np.float32))[0]["observation"]
    env.reset(seed=1)
    unit = env.step(np.array([1.0, -1.0], np.float32))[0]["observation"]
    np.testing.assert_allclose(big, unit)


def test_sb3_sac_with_her_runs_on_gym_make():
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.her import HerReplayBuffer

    env = gym.make("gcrl_depth/PointUMaze-v0", episode_length=20)
    model = sb3.SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        learning_starts=40,
        batch_size=32,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
    )
    model.learn(total_timesteps=80)
    assert model.num_timesteps == 80
    assert model.replay_buffer.size() > 0
