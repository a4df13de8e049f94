"""DeepCRL on Gymnasium goal envs that are not gcrl_depth's: the host path, end to end."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import gymnasium_robotics
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from benchmarks.batteries.line_goal_env import LineGoalEnv
from gcrl_depth.crl.engine.train import EnvSizes
from gcrl_depth.crl.env_paths.host import rebuild
from gcrl_depth.crl.training.agent import DeepCRL

gym.register_envs(gymnasium_robotics)
NUM_ENVS, UNROLL, PREFILL = 2, 10, 10
TINY = {"depth": 4, "width": 16, "repr_dim": 8, "batch_size": 16, "unroll_length": UNROLL, "env_steps_per_update": 5.0,
            "buffer_size": 512, "prefill_steps": PREFILL, "num_envs": NUM_ENVS}
ITERATION = NUM_ENVS * UNROLL  # env steps per training iteration
LINE_ID = "gcrl_test/LineGoal-v0"
gym.register(LINE_ID, entry_point=LineGoalEnv, max_episode_steps=5)


def episode_lengths(model, slot):
    """Rows stored per episode id, in order, for one env slot (the buffer has not wrapped)."""
    buffer = model.run.state.buffer
    ids = np.asarray(buffer.episode)[: int(buffer.size), slot]
    assert np.all(np.diff(ids) >= 0) and np.all(np.diff(ids) <= 1)  # episodes are contiguous and in order
    return [int(np.sum(ids == i)) for i in np.unique(ids)]


def line_envs(mode=AutoresetMode.NEXT_STEP, num_envs=NUM_ENVS):
    make = lambda: gym.wrappers.TimeLimit(LineGoalEnv(), 5)  # noqa: E731
    return gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=mode)


def test_point_maze_trains_exact_steps_with_final_observations_stored():
    envs = gym.make_vec("PointMaze_UMaze-v3", num_envs=NUM_ENVS, vectorization_mode="sync", max_episode_steps=20)
    model = DeepCRL(envs, eval_episodes=2, epoch_timesteps=2 * ITERATION, verbose=0, **TINY)
    assert model.sizes == EnvSizes(observation_size=4, goal_size=2, action_size=2) and model.get_env() is envs
    model.learn(200)
    assert model.num_timesteps == 200 and model.num_updates == 9 * (ITERATION // 5)  # prefill 20, then 9 iterations
    assert int(model.run.state.buffer.size) == 100
    for slot in range(NUM_ENVS):  # NEXT_STEP: 20 states and the final observation per episode
        assert episode_lengths(model, slot) == [21, 21, 21, 21, 16]
    assert len(model.evaluations.results) == 5 and model.evaluations.results[-1].episode_length == 20
    assert model.evaluations.results[-1].episodes == 2
    stored = np.asarray(model.run.state.buffer.obs)[:100]
    assert np.all(np.abs(stored[..., :2]) < 3)  # positions inside the U-maze, not zeros: real rows everywhere
    assert np.all(np.linalg.norm(stored[1:, :, :2] - stored[:-1, :, :2], axis=-1).max() > 0)
    model.close()


def test_ant_maze_trains_on_an_async_vector_env():
    envs = gym.make_vec("AntMaze_UMaze-v5", num_envs=NUM_ENVS, vectorization_mode="async",
                        vector_kwargs={"context": "spawn"})  # no fork after JAX started its threads
    try:
        model = DeepCRL(envs, eval_episodes=0, verbose=0, **TINY)
        model.learn(100)
        assert model.sizes == EnvSizes(observation_size=105, goal_size=2, action_size=8)  # v5 adds contact forces
        assert model.num_timesteps == 100 and int(model.run.state.buffer.size) == 50
        obs, _ = envs.reset(seed=0)
        actions, _ = model.predict(obs)
        assert actions.shape == (NUM_ENVS, 8) and np.all(np.abs(actions) <= 1)
    finally:
        envs.close()


def test_a_custom_goal_env_trains_in_same_step_autoreset():
    model = DeepCRL(line_envs(AutoresetMode.SAME_STEP), eval_env=line_envs(num_envs=3), epoch_timesteps=ITERATION,
                    verbose=0, **TINY)
    model.learn(120)
    assert model.num_timesteps == 120 and int(model.run.state.buffer.size) == 60
    for slot in range(NUM_ENVS):  # the final observation replaces the next episode's first state
        assert episode_lengths(model, slot) == [6] + [5] * 10 + [4]
    last = model.evaluations.results[-1]
    assert len(model.evaluations.results) == 5 and last.episodes == 3 and last.episode_length == 5


def test_a_custom_env_without_an_id_says_what_to_pass():
    with pytest.raises(ValueError, match=r"register it.*eval_env=.*eval_episodes=0"):
        DeepCRL(line_envs(), verbose=0, **TINY)
    with pytest.raises(ValueError, match="cannot make them: it has no registered id"):
        DeepCRL(LineGoalEnv(), eval_episodes=0, verbose=0, **TINY)
    with pytest.raises(ValueError, match="max_episode_steps"):
        DeepCRL(line_envs(), eval_env=gym.vector.SyncVectorEnv([LineGoalEnv]), verbose=0, **TINY)
    model = DeepCRL(LineGoalEnv(), eval_episodes=0, verbose=0, **{**TINY, "num_envs": 1})
    model.learn(PREFILL + UNROLL)
    assert model.num_timesteps == 20


def test_a_registered_custom_env_saves_loads_and_resumes(tmp_path):
    model = DeepCRL(LINE_ID, eval_episodes=2, epoch_timesteps=ITERATION, verbose=0, **TINY)
    model.learn(60)
    path = model.save(tmp_path / "line", include_buffer=True)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["env_id"] == LINE_ID and meta["env_path"] == "host" and meta["vectorization_mode"] == "sync"
    assert meta["unrecordable"] is None and meta["task_kwargs"] == {}

    loaded = DeepCRL.load(path)  # rebuilt from the registry
    assert loaded.get_env().spec.id == LINE_ID and loaded.get_env().num_envs == NUM_ENVS
    obs = {"observation": np.array([[0.5], [1.0]]), "desired_goal": np.array([[3.0], [2.0]])}
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    assert loaded.evaluate(seed=4) == model.evaluate(seed=4)
    episodes_before = np.asarray(loaded.run.state.episode).copy()
    loaded.learn(ITERATION, reset_num_timesteps=False)
    assert loaded.num_timesteps == 80 and int(loaded.run.state.buffer.size) == 40
    new_ids = np.asarray(loaded.run.state.buffer.episode)[30:40]
    assert np.all(new_ids > episodes_before)  # a resumed run starts new episodes, never continuing a stored one

    record = {k: meta[k] for k in ("env_id", "task_kwargs", "vectorization_mode", "vector_kwargs", "unrecordable")}
    with pytest.raises(ValueError, match=r"'gcrl_test/Gone-v0', which is not registered in this process.*pass env="):
        rebuild({**record, "env_id": "gcrl_test/Gone-v0"}, 2, "x.zip")
    with pytest.raises(ValueError, match=r"cannot import 'no_such_package'.*pass env="):
        rebuild({**record, "env_id": "no_such_package:Gone-v0"}, 2, "x.zip")
    with pytest.raises(ValueError, match=r"without a registered id.*pass env="):
        rebuild({**record, "env_id": None}, 2, "x.zip")
    with pytest.raises(ValueError, match=r"RescaleAction'\] are not recorded\).*pass env="):
        rebuild({**record, "task_kwargs": None, "unrecordable": "the wrappers ['RescaleAction'] are not recorded"}, 2, "x.zip")
    loaded.close()
    model.close()


def test_point_maze_save_load_predict_round_trip(tmp_path):
    envs = gym.make_vec("PointMaze_UMaze-v3", num_envs=NUM_ENVS, vectorization_mode="sync", max_episode_steps=20)
    model = DeepCRL(envs, eval_episodes=2, verbose=0, **TINY)
    model.learn(40)
    path = model.save(tmp_path / "point_maze")
    assert model.env_id == "gymnasium_robotics:PointMaze_UMaze-v3"  # the package that registers it travels along
    loaded = DeepCRL.load(path, verbose=0)
    rebuilt = loaded.get_env()
    assert rebuilt.spec.id == "PointMaze_UMaze-v3" and rebuilt.num_envs == NUM_ENVS and loaded.env_id == model.env_id
    assert loaded.evaluate(seed=1).episode_length == 20  # the time limit travelled with the kwargs
    obs, _ = envs.reset(seed=3)
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    assert loaded.num_timesteps == 40
    loaded.learn(PREFILL * NUM_ENVS + ITERATION, reset_num_timesteps=False)  # no buffer saved: refilled first
    assert loaded.num_timesteps == 80
    loaded.close()
    assert rebuilt.closed and not envs.closed  # close() closes what load built, never the env a user gave
    model.close()
    assert not envs.closed
    envs.close()


class BreakingLine(LineGoalEnv):
    """LineGoalEnv whose step raises once ``steps_left`` (shared by all copies) runs out."""

    steps_left: int | None = None

    def step(self, action):
        if BreakingLine.steps_left is not None:
            if BreakingLine.steps_left == 0:
                raise RuntimeError("the env broke")
            BreakingLine.steps_left -= 1
        return super().step(action)


def test_an_env_error_mid_epoch_keeps_the_model_usable():
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(BreakingLine(), 5)] * NUM_ENVS)
    model = DeepCRL(envs, eval_episodes=0, epoch_timesteps=2 * ITERATION, verbose=0, **TINY)
    model.learn(PREFILL * NUM_ENVS + 2 * ITERATION)
    before = model.get_parameters()["params"].actor
    BreakingLine.steps_left = NUM_ENVS * UNROLL + 6  # breaks in the epoch's second iteration, after one learned
    try:
        with pytest.raises(RuntimeError, match="the env broke"):
            model.learn(2 * ITERATION, reset_num_timesteps=False)
    finally:
        BreakingLine.steps_left = None
    assert model.num_timesteps == 60 and not model.run.has_buffer
    after = model.get_parameters()["params"].actor
    assert all(np.array_equal(a, b) for a, b in zip(jax_leaves(before), jax_leaves(after)))  # the epoch is undone
    assert model.predict({"observation": np.zeros(1), "desired_goal": np.ones(1)})[0].shape == (1,)
    model.learn(PREFILL * NUM_ENVS + ITERATION, reset_num_timesteps=False)  # refills the buffer, trains on
    assert model.num_timesteps == 100


def jax_leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)


def test_episode_ids_continue_after_a_prefill_and_a_restart():
    import jax

    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.crl.engine.train import make_train
    from gcrl_depth.crl.env_paths.host import HostCollector

    config = CRLConfig(**TINY)
    envs = line_envs()
    engine = make_train(config, EnvSizes(1, 1, 1))
    collector = HostCollector(engine, envs)
    state = collector.prefill(collector.start(jax.jit(engine.init)(jax.random.key(0))))
    stored = np.asarray(state.buffer.episode)[:PREFILL]
    np.testing.assert_array_equal(np.asarray(state.episode), stored[-1])  # the state knows the ids in use
    resumed = HostCollector(engine, envs)  # as after load(include_buffer=True): fresh episodes
    state, _ = resumed.train(state.replace(episode=jax.numpy.zeros(NUM_ENVS, jax.numpy.int32)), 1)  # even if the state lost them
    new = np.asarray(state.buffer.episode)[PREFILL:PREFILL + UNROLL]
    assert np.all(new.min(axis=0) > stored.max(axis=0))


def test_action_spaces_other_than_a_box_in_minus_one_one_are_refused():
    wide = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(WideLine(), 5)] * NUM_ENVS)
    with pytest.raises(ValueError, match=r"\[-1, 1\].*RescaleAction"):
        DeepCRL(wide, eval_episodes=0, verbose=0, **TINY)
    rescaled = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RescaleAction(gym.wrappers.TimeLimit(WideLine(), 5), np.float32(-1), np.float32(1))]
                                        * NUM_ENVS)
    assert DeepCRL(rescaled, eval_episodes=0, verbose=0, **TINY).sizes.action_size == 1


def test_an_env_without_a_success_signal_still_trains():
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(SilentLine(), 5)] * NUM_ENVS)
    model = DeepCRL(envs, eval_episodes=0, verbose=0, **TINY)
    metrics = []
    model.learn(PREFILL * NUM_ENVS + ITERATION, callback=lambda locals_, globals_: metrics.append(locals_["metrics"]) or True)
    assert "collect/success" not in metrics[0] and metrics[0]["collect/episodes_ended"] > 0
    with pytest.raises(ValueError, match="eval_env is the training env"):
        DeepCRL(envs, eval_env=envs, verbose=0, **TINY)


class WideLine(LineGoalEnv):
    """LineGoalEnv with actions in [-2, 2]."""

    def __init__(self):
        super().__init__()
        self.action_space = gym.spaces.Box(-2, 2, (1,), np.float32)


class SilentLine(LineGoalEnv):
    """LineGoalEnv without compute_reward: no success signal at all (CRL needs none)."""

    compute_reward = None

    def step(self, action):
        self.position = self.position + 0.5 * np.asarray(action, float)
        return self._obs(), 0.0, False, False, {}


def test_async_envs_deepcrl_builds_survive_a_ctrl_c_in_their_workers():
    import os
    import signal
    import time

    from gcrl_depth.crl.env_paths.host import HostEnv

    host = HostEnv("gymnasium_robotics:PointMaze_UMaze-v3", {}, "async", {"context": "spawn"})
    envs = host.training_envs(NUM_ENVS)
    try:
        envs.reset(seed=0)
        for process in envs.processes:
            os.kill(process.pid, signal.SIGINT)  # what a Ctrl-C in the terminal sends the whole process group
        time.sleep(0.5)
        obs, *_ = envs.step(np.zeros((NUM_ENVS, 2), np.float32))
        assert obs["observation"].shape == (NUM_ENVS, 4) and all(p.is_alive() for p in envs.processes)
        assert host.record()["vectorization_mode"] == "async" and host.record()["vector_kwargs"] == {"context": "spawn"}
    finally:
        envs.close()


def test_a_campaign_of_a_host_env_trains_seed_after_seed_and_resumes(tmp_path):
    """Envs stepped on the host train one seed at a time, as a run set of one, in seed_<s>/ run folders."""
    import os
    import signal

    from gcrl_depth import experiments, run_dirs
    from gcrl_depth.crl.training.run_set import RunSet
    from gcrl_depth.interrupts import PREEMPTED_EXIT

    config = {k: v for k, v in TINY.items() if k != "depth"}
    spec = experiments.RunSpec(LINE_ID, 4, (0, 1), timesteps=100, eval_every=2 * ITERATION, eval_episodes=2, config=config)
    straight = experiments.train_runs(spec)

    def preempt_seed_1(rows):
        if len(rows.get(1, [])) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # a scheduler's notice: checkpoint, then stop

    with pytest.raises(SystemExit) as stopped:
        experiments.train_runs(spec, run_dir=tmp_path, on_evaluation=preempt_seed_1)
    assert stopped.value.code == PREEMPTED_EXIT and (tmp_path / "seed_0" / "final_model.zip").exists()
    resumed = experiments.train_runs(spec, run_dir=tmp_path)
    curve = lambda rows: {s: [(r["env_steps"], r["time_at_goal"]) for r in run] for s, run in rows.items()}  # noqa: E731
    assert curve(resumed) == curve(straight) and [r["env_steps"] for r in resumed[1]] == [60, 100]
    assert len(run_dirs.read_curve(tmp_path / "seed_1", 10**9)) == 2
    with pytest.raises(TypeError, match="several seeds"):
        RunSet(line_envs(), depth=4, seeds=[0, 1], eval_episodes=0, **config)
