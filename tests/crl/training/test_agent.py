"""DeepCRL's API: learn (exact counts, logs, callbacks), predict, save/load, resume, errors."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import zipfile

import gymnasium as gym
import jax
import numpy as np
import pytest
from tiny_agent import NUM_ENVS, PER_ITERATION, PREFILL, leaves, tiny_model

from gcrl_depth import DeepCRL, evaluate
from gcrl_depth.callbacks import BaseCallback, CheckpointCallback, SaveBestModel


def sample_obs(batch: int | None, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = () if batch is None else (batch,)
    return {"observation": rng.normal(size=(*shape, 4)).astype(np.float32),
            "achieved_goal": rng.normal(size=(*shape, 2)).astype(np.float32),
            "desired_goal": rng.normal(size=(*shape, 2)).astype(np.float32)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("logs")
    model = tiny_model(log_dir=str(log_dir))
    model.learn(130, progress_bar=True)
    return model, log_dir


def test_learn_runs_whole_iterations_and_reports_the_exact_count(trained):
    model, _ = trained
    iterations = math.ceil((130 - PREFILL) / PER_ITERATION)  # 5: the prefill counts as env steps
    assert model.num_timesteps == PREFILL + iterations * PER_ITERATION == 140
    assert model.num_updates == iterations * model.config.updates_per_iteration
    assert model.evaluations.env_steps == [80, 120, 140]  # epochs of 2 iterations, the last one cut to 1


def test_learn_writes_csv_and_tensorboard_logs(trained):
    _, log_dir = trained
    with open(log_dir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["time/total_timesteps"]) for r in rows] == [80, 120, 140]
    for key in ("eval/time_at_goal", "eval/success_rate", "eval/final_distance", "train/critic_loss", "time/env_steps_per_s"):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(log_dir))


def test_predict_single_and_batched(trained):
    model, _ = trained
    batch = sample_obs(5)
    actions, state = model.predict(batch)
    assert state is None and actions.shape == (5, 2) and actions.dtype == np.float32
    assert np.abs(actions).max() <= 1.0
    single, _ = model.predict({k: v[2] for k, v in batch.items()})
    assert single.shape == (2,)
    np.testing.assert_allclose(single, actions[2], rtol=1e-5, atol=1e-6)
    a, _ = model.predict(batch, deterministic=False)
    b, _ = model.predict(batch, deterministic=False)
    assert not np.allclose(a, b)  # stochastic actions draw fresh noise


def test_save_then_load_predicts_identically(trained, tmp_path):
    model, _ = trained
    path = model.save(tmp_path / "agent")
    assert path.endswith("agent.zip") and os.listdir(tmp_path) == ["agent.zip"]  # no temporary file left behind
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "optimizer.msgpack", "params.msgpack"]
        meta = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    assert meta["format_version"] == 2 and len(meta["key"]) == 2  # the run's one key
    assert meta["env_id"] == "gcrl_depth/PointUMaze-v0" and meta["task_kwargs"] == {"episode_length": 12}
    assert meta["num_timesteps"] == 140 and meta["versions"]["jax"] == jax.__version__
    assert config["width"] == 16 and config["num_envs"] == NUM_ENVS

    loaded = DeepCRL.load(path, verbose=0)
    assert loaded.config == model.config and loaded.num_timesteps == model.num_timesteps
    assert loaded.core.episode_length == 12
    for batch in (sample_obs(7, seed=1), sample_obs(None, seed=2)):
        np.testing.assert_array_equal(loaded.predict(batch)[0], model.predict(batch)[0])
    for a, b in zip(leaves(loaded.learner), leaves(model.learner)):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluations.results == model.evaluations.results


def test_a_parameters_only_checkpoint_acts_the_same_and_trains_on_with_adam_afresh(trained, tmp_path):
    model, _ = trained
    full, small = model.save(tmp_path / "full.zip"), model.save(tmp_path / "small.zip", include_optimizer=False)
    with zipfile.ZipFile(small) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "params.msgpack"]
    assert os.path.getsize(small) < 0.5 * os.path.getsize(full)
    loaded = DeepCRL.load(small, verbose=0, eval_episodes=0)
    batch = sample_obs(7, seed=3)
    np.testing.assert_array_equal(loaded.predict(batch)[0], model.predict(batch)[0])
    assert loaded.num_timesteps == model.num_timesteps and loaded.evaluations.results == model.evaluations.results
    assert all(not np.any(x) for x in leaves(loaded.learner.opt_state))  # Adam at its start: zero moments and count
    loaded.learn(60, reset_num_timesteps=False)  # and it trains on
    assert loaded.num_timesteps == model.num_timesteps + PREFILL + PER_ITERATION
    with pytest.raises(ValueError, match="exact resume, which needs the optimizer state"):
        model.save(tmp_path / "x.zip", include_buffer=True, include_optimizer=False)


def test_resume_continues_the_step_count(trained, tmp_path):
    model, _ = trained
    loaded = DeepCRL.load(model.save(tmp_path / "agent.zip"), verbose=0, eval_episodes=0)
    with pytest.raises(ValueError, match=f"at least {PREFILL + PER_ITERATION}"):
        loaded.learn(40, reset_num_timesteps=False)  # the buffer is not saved: the refill alone would use it up
    loaded.learn(60, reset_num_timesteps=False)
    assert loaded.num_timesteps == 140 + PREFILL + PER_ITERATION
    loaded.learn(40, reset_num_timesteps=False)  # no refill now: whole iterations
    assert loaded.num_timesteps == 200 + 2 * PER_ITERATION
    loaded.learn(20)  # reset_num_timesteps=True: counts from zero, keeps the parameters
    assert loaded.num_timesteps == PER_ITERATION


def test_resume_with_the_buffer_is_bitwise_the_uninterrupted_run(tmp_path):
    straight = tiny_model(seed=2, eval_episodes=0).learn(PREFILL + 4 * PER_ITERATION)
    tiny_model(seed=2, eval_episodes=0).learn(PREFILL + 2 * PER_ITERATION,
                                              callback=CheckpointCallback(PER_ITERATION, tmp_path, include_buffer=True))
    path = str(tmp_path / f"deep_crl_{PREFILL + 2 * PER_ITERATION}_steps.zip")
    with zipfile.ZipFile(path) as archive:
        assert "training_state.msgpack" in archive.namelist()
    resumed = DeepCRL.load(path, verbose=0, eval_episodes=0)
    resumed.learn(2 * PER_ITERATION, reset_num_timesteps=False)  # no refill: the buffer came back
    assert (resumed.num_timesteps, resumed.num_updates) == (straight.num_timesteps, straight.num_updates)
    for x, y in zip(leaves(resumed.learner), leaves(straight.learner)):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="num_envs"):
        DeepCRL.load(path, verbose=0, eval_episodes=0, num_envs=8)


def test_an_interrupt_as_the_epoch_returns_keeps_the_model(monkeypatch, sigint_raises):
    """SIGINT delivered right after the training program returns (the donated old state is gone)."""
    model = tiny_model(seed=4, eval_episodes=0).learn(PREFILL + PER_ITERATION)
    train = model.runner.collector.train

    def interrupted(state, iterations):
        out = train(state, iterations)
        signal.raise_signal(signal.SIGINT)  # Python runs the handler at the next bytecode, here
        return out

    monkeypatch.setattr(model.runner.collector, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.learn(10 * PER_ITERATION, reset_num_timesteps=False)
    monkeypatch.undo()
    assert model.num_timesteps == PREFILL + 3 * PER_ITERATION  # the interrupted epoch (2 iterations) finished and counts
    assert model.num_updates == 3 * model.config.updates_per_iteration
    assert np.isfinite(model.predict(sample_obs(3))[0]).all()
    model.learn(PER_ITERATION, reset_num_timesteps=False)
    assert model.num_timesteps == PREFILL + 4 * PER_ITERATION


def test_same_seed_gives_identical_training():
    a, b, c = tiny_model(seed=5, eval_episodes=0), tiny_model(seed=5, eval_episodes=0), tiny_model(seed=6, eval_episodes=0)
    for model in (a, b, c):
        model.learn(80)
    for x, y in zip(leaves(a.learner), leaves(b.learner)):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(leaves(a.learner), leaves(c.learner)))


class Recorder(BaseCallback):
    def __init__(self, stop_after: int):
        super().__init__()
        self.stop_after, self.events, self.seen = stop_after, [], []

    def _on_training_start(self):
        self.events.append("start")

    def _on_step(self):
        self.seen.append((self.num_timesteps, self.locals["evaluation"].time_at_goal))
        return self.n_calls < self.stop_after

    def _on_training_end(self):
        self.events.append("end")


def test_callbacks_run_per_epoch_and_can_stop_training(tmp_path):
    model = tiny_model(seed=1)
    recorder = Recorder(stop_after=2)
    calls = []
    best = SaveBestModel(tmp_path / "best", metric="time_at_goal")
    model.learn(1000, callback=[recorder, CheckpointCallback(40, tmp_path / "every"), best,
                                lambda log, g: calls.append(log["epoch"])])
    assert recorder.events == ["start", "end"]
    assert [steps for steps, _ in recorder.seen] == [80, 120]  # stopped after the second epoch
    assert model.num_timesteps == 120 and calls == [1, 2]
    assert sorted(os.listdir(tmp_path / "every")) == ["deep_crl_120_steps.zip", "deep_crl_80_steps.zip"]
    values = [r.time_at_goal for r in model.evaluations.results]
    assert best.best == max(values) and best.best_timesteps == model.evaluations.env_steps[values.index(max(values))]
    kept = DeepCRL.load(best.best_path, verbose=0)
    assert kept.num_timesteps == best.best_timesteps and len(kept.evaluations.results) == values.index(max(values)) + 1


def test_bad_input_raises_clear_errors(trained, tmp_path):
    model, _ = trained
    with pytest.raises(TypeError, match=r"not a goal env.*\['observation', 'achieved_goal', 'desired_goal'\]"):
        DeepCRL(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="unknown env id 'Nope-v0'"):
        DeepCRL("Nope-v0")
    with pytest.raises(ValueError, match="unknown task"):
        DeepCRL("gcrl_depth/Nope-v0")
    with pytest.raises(ValueError, match="multiple of 4"):
        DeepCRL("gcrl_depth/PointUMaze-v0", depth=6)
    with pytest.raises(TypeError, match="unknown DeepCRL config options"):
        DeepCRL("gcrl_depth/PointUMaze-v0", widht=16)
    with pytest.raises(ValueError, match="conflicts"):
        tiny_model(num_envs=8)
    with pytest.raises(ValueError, match="total_timesteps"):
        model.learn(0)
    with pytest.raises(ValueError, match="'observation' and 'desired_goal'"):
        model.predict(np.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(4,\) or \(batch, 4\)"):
        model.predict({"observation": np.zeros(3), "desired_goal": np.zeros(2)})
    with pytest.raises(ValueError, match="batch sizes differ"):
        model.predict({"observation": np.zeros((3, 4)), "desired_goal": np.zeros((2, 2))})
    one_goal = model.predict({"observation": np.zeros((3, 4)), "desired_goal": np.ones(2)})[0]  # the batch's goal
    assert one_goal.shape == (3, 2) and np.array_equal(
        one_goal, model.predict({"observation": np.zeros((3, 4)), "desired_goal": np.ones((3, 2))})[0])
    not_a_zip = tmp_path / "x.zip"
    not_a_zip.write_text("hello")
    with pytest.raises(ValueError, match="not a DeepCRL checkpoint"):
        DeepCRL.load(not_a_zip)


def test_loading_into_a_different_architecture_fails_clearly(trained, tmp_path):
    model, _ = trained
    path = model.save(tmp_path / "agent.zip")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["width"] = 32
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "wider.zip", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="do not match the agent's architecture"):
        DeepCRL.load(tmp_path / "wider.zip", verbose=0)


def test_the_papers_ablations_train_save_and_load_as_themselves(tmp_path):
    """LayerNorm off, ReLU and no residual sums together: the agent trains to finite parameters, its
    checkpoint keeps the switches, and load refuses to run the saved parameters with other layers."""
    ablated = {"layer_norm": False, "activation": "relu", "residual": False}
    model = tiny_model(seed=3, eval_episodes=0, **ablated).learn(PREFILL + 2 * PER_ITERATION)
    assert all(np.isfinite(x).all() for x in leaves(model.learner.params))
    path = model.save(tmp_path / "ablated.zip")
    loaded = DeepCRL.load(path, verbose=0)
    assert {k: getattr(loaded.config, k) for k in ablated} == ablated
    obs = sample_obs(4)
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0],
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"load cannot change \['layer_norm'\]"):
        DeepCRL.load(path, verbose=0, layer_norm=True)
    model.close()
    loaded.close()



def test_device_evaluation_matches_the_host_evaluator(trained):
    """DeepCRL evaluates in one jitted rollout; the host evaluator, stepping a vector env, agrees."""
    model, _ = trained
    host_envs = gym.make_vec("gcrl_depth/PointUMazeEval-v0", num_envs=3, episode_length=12)
    results = []
    for seed in (0, 7, 123):
        device, host = model.evaluate(seed=seed), evaluate(model, host_envs, seed=seed)
        assert (device.episodes, device.episode_length) == (host.episodes, host.episode_length) == (3, 12)
        assert device.time_at_goal == pytest.approx(host.time_at_goal, abs=1e-6)
        assert device.success_rate == pytest.approx(host.success_rate, abs=1e-6)
        assert device.final_distance == pytest.approx(host.final_distance, rel=1e-5)
        results.append(device.final_distance)
    assert len(set(results)) == 3  # the seeds draw different goals


def test_evaluate_on_another_vector_env_of_the_task(trained):
    """evaluate(env=...) runs the device evaluator on that env's core: other goals, its number of episodes."""
    model, _ = trained
    same = gym.make_vec("gcrl_depth/PointUMazeEval-v0", num_envs=3, episode_length=12)
    assert model.evaluate(seed=7, env=same) == model.evaluate(seed=7)
    training_goals = model.evaluate(seed=7, env=gym.make_vec("gcrl_depth/PointUMaze-v0", num_envs=2, episode_length=12))
    assert (training_goals.episodes, training_goals.episode_length) == (2, 12)
    with pytest.raises(ValueError, match="sizes"):
        model.evaluate(env=gym.make_vec("gcrl_depth/AntUMaze-v0", num_envs=1))
    with pytest.raises(TypeError, match="vector env"):
        model.evaluate(env="gcrl_depth/PointUMaze-v0")


def test_set_logger_replaces_and_closes_the_logger(tmp_path):
    from gcrl_depth.logger import Logger

    model = tiny_model(log_dir=str(tmp_path / "first"))
    first, second = model.logger, Logger(tmp_path / "second", ("csv",))
    model.set_logger(second)
    assert model.logger is second and first._tb_writer is None  # the first one's TensorBoard writer is closed
    model.close()
