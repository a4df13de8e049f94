"""A battery of things an outside user may do wrong (or do under faults), each with what should happen.

Every :class:`Case` does one user action (``act``) on something prepared for it
(``setup``) and states the expected outcome: :class:`Raises` (exception type and the words
its message must contain, then optionally a check that nothing was lost) or :class:`Works`
(a check of the result). :func:`classify` runs a case and names its outcome:

* ``clear error``: the expected exception type, with a message naming what was expected;
* ``correct``: the action worked as it should;
* ``unclear error``: gcrl_depth raised, but another type or a message lacking the words;
* ``deep traceback``: an error raised from inside JAX, numpy, zipfile, ... (not gcrl_depth);
* ``silently wrong``: no error, but the result is wrong or the input was ignored;
* ``data loss``: the model or a file was lost or damaged;
* ``hang``: no answer within the time limit.

``tests/test_bad_inputs.py`` requires every case to be a clear error or correct;
``benchmarks/input_battery.py`` counts the outcomes (also for an older checkout).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import numpy as np

from gcrl_depth import DeepCRL, evaluate
from gcrl_depth.crl.engine.config import PRESETS

ID = "gcrl_depth/PointUMaze-v0"
NUM_ENVS = 4
TINY = PRESETS["tiny"]  # 4 envs, width 16: trains in seconds
PREFILL, PER_ITERATION = 10 * NUM_ENVS, 5 * NUM_ENVS
FIRST_LEARN = PREFILL + 2 * PER_ITERATION
OUTCOMES = ("clear error", "correct", "unclear error", "deep traceback", "silently wrong", "data loss", "hang")
CASE_TIMEOUT_S = 300


@dataclasses.dataclass(frozen=True)
class Raises:
    """The action must raise one of ``types`` whose message contains every word of ``words``;
    ``then(subject)`` (optional) must then hold: what the user had is still intact."""

    types: tuple[type[BaseException], ...]
    words: tuple[str, ...] = ()
    then: Callable[[Any], bool] | None = None


@dataclasses.dataclass(frozen=True)
class Works:
    """The action must succeed and ``check(subject, result)`` hold."""

    check: Callable[[Any, Any], bool] = lambda subject, result: True


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "argument", "file", "fault", "interrupt", "interop", "env"
    act: Callable[[Any], Any]
    expect: Raises | Works
    setup: Callable[[], Any] = lambda: None
    loses_data_if_wrong: bool = False  # a failed check means the model or a file was lost


# ----------------------------------------------------------------- subjects
def envs(**options: Any) -> gym.vector.VectorEnv:
    return gym.make_vec(ID, num_envs=NUM_ENVS, episode_length=12, **options)


def model(**overrides: Any) -> DeepCRL:
    settings = dict(depth=4, seed=0, eval_episodes=0, epoch_timesteps=2 * PER_ITERATION, verbose=0, **TINY)
    return DeepCRL(envs(), **{**settings, **overrides})


def trained(**overrides: Any) -> DeepCRL:
    return model(**overrides).learn(FIRST_LEARN)


def obs(batch: int | None = None, **replace: Any) -> dict[str, np.ndarray]:
    shape = () if batch is None else (batch,)
    values = {"observation": np.zeros((*shape, 4), np.float32), "achieved_goal": np.zeros((*shape, 2), np.float32),
              "desired_goal": np.ones((*shape, 2), np.float32)}
    return {**values, **replace}


def usable(agent: DeepCRL) -> bool:
    """The agent still acts finitely, saves, loads, and continues training with a consistent count."""
    action, _ = agent.predict(obs(3))
    if not np.isfinite(action).all():
        return False
    folder = tempfile.mkdtemp()
    try:
        loaded = DeepCRL.load(agent.save(os.path.join(folder, "m")), verbose=0)
        np.testing.assert_array_equal(loaded.predict(obs(3))[0], action)
    finally:
        shutil.rmtree(folder)
    before = agent.num_timesteps
    if adam_steps(agent) != agent.num_updates:
        raise CountsDisagree(f"num_updates is {agent.num_updates} but the optimizer took {adam_steps(agent)} steps")
    agent.learn(FIRST_LEARN, reset_num_timesteps=False)
    return agent.num_timesteps > before and np.isfinite(agent.predict(obs(3))[0]).all()


class CountsDisagree(AssertionError):
    """The agent's step counts trail (or lead) what it trained: wrong, but nothing is lost."""


def adam_steps(agent: DeepCRL) -> int:
    """Gradient steps the actor's Adam state has taken (its ``count``)."""
    opt = jax.device_get(agent.learner.opt_state)
    counts = [int(np.max(leaf)) for path, leaf in jax.tree_util.tree_leaves_with_path(opt) if "count" in jax.tree_util.keystr(path)]
    return max(counts)


def finite_parameters(agent: DeepCRL) -> bool:
    return all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(jax.device_get(agent.learner)))


def same_parameters(a: DeepCRL, b: DeepCRL) -> bool:
    leaves_a = jax.tree_util.tree_leaves(jax.device_get(a.learner))
    leaves_b = jax.tree_util.tree_leaves(jax.device_get(b.learner))
    return all(np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b))


def tmp(name: str) -> str:
    return os.path.join(tempfile.mkdtemp(), name)


def saved(agent: DeepCRL | None = None, **save_kwargs: Any) -> str:
    return (agent or trained()).save(tmp("agent.zip"), **save_kwargs)


def rewrite_zip(path: str, edit: Callable[[dict[str, bytes]], dict[str, bytes]]) -> str:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    out = tmp("edited.zip")
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in edit(members).items():
            archive.writestr(name, data)
    return out


def corrupt_member(path: str) -> str:
    """Flip bytes inside the params member's compressed data (the zip directory stays valid)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("params.msgpack")
    data = bytearray(Path(path).read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 8, start + 40):
        data[i] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    return path


INTERRUPT_WAIT_S = 120.0  # how long learn may run on after the SIGINT before the interrupt counts as lost


def interrupt_after(agent: DeepCRL, delay_s: float) -> DeepCRL:
    """learn() with a SIGINT sent from another thread after ``delay_s``; the interrupt is swallowed.

    learn() is called in short chunks until the interrupt arrives, so a lost interrupt is a
    failure after ``INTERRUPT_WAIT_S`` instead of a run of millions of steps."""
    # a process started by one that ignores SIGINT (a pytest-xdist worker) inherits that: give
    # this one Python's usual handler, as a terminal's process has
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay_s, lambda: os.kill(os.getpid(), signal.SIGINT))
    deadline = time.monotonic() + delay_s + INTERRUPT_WAIT_S
    timer.start()
    try:
        while time.monotonic() < deadline:
            agent.learn(PREFILL + 20 * PER_ITERATION, reset_num_timesteps=False)
        raise AssertionError(f"the Ctrl-C sent {delay_s} s into learn never arrived ({INTERRUPT_WAIT_S:.0f} s later)")
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, handler)
    return agent


def raise_in_callback(error: BaseException, after_epochs: int = 2) -> Callable[[dict, dict], bool]:
    def callback(locals_: dict, globals_: dict) -> bool:
        if locals_["epoch"] >= after_epochs:
            raise error
        return True

    return callback


def expect_error(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as error:
        return error


# ----------------------------------------------------------------- the cases
def _construction_cases() -> list[Case]:
    def new(**kw: Any) -> Callable[[Any], Any]:
        return lambda _: model(**kw)

    bad = [
        ("width=0", {"width": 0}, ValueError, ("width",)),
        ("width=16.5", {"width": 16.5}, ValueError, ("width",)),
        ("depth=6", {"depth": 6}, ValueError, ("multiple of 4",)),
        ("depth=0", {"depth": 0}, ValueError, ("depth",)),
        ("depth='4'", {"depth": "4"}, (ValueError, TypeError), ("depth",)),
        ("misspelt option widht=16", {"widht": 16}, TypeError, ("unknown", "width")),
        ("learning_rate=inf", {"learning_rate": math.inf}, ValueError, ("learning_rate", "finite")),
        ("learning_rate=nan", {"learning_rate": math.nan}, ValueError, ("learning_rate",)),
        ("learning_rate=-1", {"learning_rate": -1.0}, ValueError, ("learning_rate",)),
        ("learning_rate='3e-4'", {"learning_rate": "3e-4"}, (ValueError, TypeError), ("learning_rate",)),
        ("remat='no'", {"remat": "no"}, (TypeError, ValueError), ("remat", "True or False")),
        ("compute_dtype='float16'", {"compute_dtype": "float16"}, ValueError, ("compute_dtype", "bfloat16")),
        ("scan_unroll=0", {"scan_unroll": 0}, ValueError, ("scan_unroll", "positive integer")),
        ("gamma='0.99'", {"gamma": "0.99"}, (TypeError, ValueError), ("gamma", "number")),
        ("gamma=1.0", {"gamma": 1.0}, ValueError, ("gamma", "(0, 1)")),
        ("seed=-1", {"seed": -1}, ValueError, ("seed",)),
        ("seed=2**64", {"seed": 2**64}, ValueError, ("seed", "2**63")),
        ("seed=1.5", {"seed": 1.5}, ValueError, ("seed", "integer")),
        ("target_entropy='abc'", {"target_entropy": "abc"}, (TypeError, ValueError), ("target_entropy", "number")),
        ("target_entropy=nan", {"target_entropy": math.nan}, ValueError, ("target_entropy", "finite")),
        ("env_steps_per_update=1e-9", {"env_steps_per_update": 1e-9}, ValueError, ("env_steps_per_update", "at least")),
        ("env_steps_per_update=0", {"env_steps_per_update": 0.0}, ValueError, ("env_steps_per_update",)),
        ("logsumexp_penalty=-1", {"logsumexp_penalty": -1.0}, ValueError, ("logsumexp_penalty",)),
        ("buffer_size below unroll_length", {"buffer_size": 4}, ValueError, ("buffer_size", "unroll_length")),
        ("batch_size=0", {"batch_size": 0}, ValueError, ("batch_size",)),
        ("num_envs differing from the vector env", {"num_envs": 8}, ValueError, ("num_envs", "conflicts")),
        ("eval_episodes=-1", {"eval_episodes": -1}, ValueError, ("eval_episodes",)),
        ("epoch_timesteps=0", {"epoch_timesteps": 0}, ValueError, ("epoch_timesteps",)),
        ("unknown eval_env id", {"eval_episodes": 2, "eval_env": "gcrl_depth/Nope-v0"}, ValueError, ("unknown task",)),
        ("eval_env of another robot", {"eval_episodes": 2, "eval_env": "gcrl_depth/ArmReach-v0"}, ValueError, ("eval_env", "sizes")),
        ("eval_env of the wrong type", {"eval_episodes": 2, "eval_env": 42}, TypeError, ("eval_env",)),
    ]
    cases = [Case(f"DeepCRL({label})", "argument", new(**kw), Raises(types if isinstance(types, tuple) else (types,), words))
             for label, kw, types, words in bad]
    cases += [
        Case("DeepCRL('CartPole-v1')", "argument", lambda _: DeepCRL("CartPole-v1", num_envs=2),
             Raises((TypeError,), ("not a goal env", "'achieved_goal'"))),
        Case("DeepCRL(gym.make('CartPole-v1'))", "argument", lambda _: DeepCRL(gym.make("CartPole-v1")),
             Raises((TypeError,), ("not a goal env", "'achieved_goal'"))),
        Case("DeepCRL('Nope-v0')", "argument", lambda _: DeepCRL("Nope-v0"), Raises((ValueError,), ("unknown env id",))),
        Case("DeepCRL(id, num_envs=0)", "argument", lambda _: DeepCRL(ID, num_envs=0), Raises((ValueError,), ("num_envs",))),
        Case("DeepCRL(gym.make(id, max_episode_steps=5))", "argument",
             lambda _: DeepCRL(gym.make(ID, max_episode_steps=5), eval_episodes=0, verbose=0, **TINY),
             Works(lambda _, m: m.core.episode_length == 5 and m.task_kwargs["episode_length"] == 5)),
        Case("DeepCRL(TimeLimit(gym.make(id), 5))", "argument",
             lambda _: DeepCRL(gym.wrappers.TimeLimit(gym.make(ID), 5), eval_episodes=0, verbose=0, **TINY),
             Works(lambda _, m: m.core.episode_length == 5)),
        Case("DeepCRL(RescaleAction(gym.make(id), -2, 2))", "argument",
             lambda _: DeepCRL(gym.wrappers.RescaleAction(gym.make(ID), -2.0, 2.0), eval_episodes=0, verbose=0, **TINY),
             Raises((ValueError,), ("RescaleAction",))),
        Case("DeepCRL(gym.make(id)) plain", "argument",
             lambda _: DeepCRL(gym.make(ID, episode_length=12), eval_episodes=0, verbose=0, **TINY),
             Works(lambda _, agent: agent.core.episode_length == 12)),
        Case("DeepCRL(sync vector env of gcrl envs)", "argument",
             lambda _: DeepCRL(gym.make_vec(ID, num_envs=2, vectorization_mode="sync"), eval_episodes=0, verbose=0),
             Raises((TypeError,), ("gym.make_vec",))),
        Case("custom layout with the default evaluation", "argument",
             lambda _: _custom_layout_agent(),
             Works(lambda _, result: result is True)),
    ]
    return cases


CUSTOM_LAYOUT = ["11111", "1R0G1", "11111"]


def _custom_layout_agent() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = DeepCRL(gym.make_vec(ID, num_envs=NUM_ENVS, episode_length=12, layout=CUSTOM_LAYOUT), depth=4,
                        eval_episodes=2, verbose=0, **TINY)
    result = agent.evaluate()  # the evaluation a learn() would run after its first epoch
    return result.episodes == 2


def _learn_cases() -> list[Case]:
    return [
        Case("learn(0)", "argument", lambda m: m.learn(0), Raises((ValueError,), ("total_timesteps",)), setup=model),
        Case("learn(-5)", "argument", lambda m: m.learn(-5), Raises((ValueError,), ("total_timesteps",)), setup=model),
        Case("learn(1.5)", "argument", lambda m: m.learn(1.5), Raises((ValueError,), ("total_timesteps",)), setup=model),
        Case("learn('100')", "argument", lambda m: m.learn("100"), Raises((ValueError,), ("total_timesteps",)), setup=model),
        Case("learn(n) smaller than the prefill", "argument", lambda m: m.learn(PREFILL // 2),
             Raises((ValueError,), ("prefill", "at least")), setup=model),
        Case("learn(n) covering only the prefill", "argument", lambda m: m.learn(PREFILL),
             Raises((ValueError,), ("prefill", f"at least {PREFILL + PER_ITERATION}")), setup=model),
        Case("learn(n) too small after load (re-prefill)", "argument", lambda m: m.learn(PREFILL, reset_num_timesteps=False),
             Raises((ValueError,), ("prefill", "at least")), setup=lambda: DeepCRL.load(saved(), verbose=0)),
        Case("learn(log_interval=0)", "argument", lambda m: m.learn(FIRST_LEARN, log_interval=0),
             Raises((ValueError,), ("log_interval",)), setup=model),
        Case("learn(callback=42)", "argument", lambda m: m.learn(FIRST_LEARN, callback=42), Raises((TypeError,), ("callback",)),
             setup=model),
        Case("learn diverging (learning_rate=1e6)", "fault", lambda m: m.learn(PREFILL + 20 * PER_ITERATION),
             Raises((RuntimeError,), ("diverged", "epoch", "env steps", "learning_rate"), then=finite_parameters),
             setup=lambda: model(learning_rate=1e6), loses_data_if_wrong=True),
        Case("diverging run's checkpoints stay finite", "fault", _diverge_with_checkpoints,
             Works(lambda _, paths: bool(paths) and all(finite_parameters(DeepCRL.load(p, verbose=0)) for p in paths)),
             loses_data_if_wrong=True),
        Case("diverged model is served by predict", "fault", lambda m: (expect_error(lambda: m.learn(PREFILL + 20 * PER_ITERATION)),
                                                                      m.predict(obs(2))[0])[1],
             Works(lambda _, action: np.isfinite(action).all()), setup=lambda: model(learning_rate=1e6)),
        Case("exception in a callback", "fault", lambda m: m.learn(PREFILL + 10 * PER_ITERATION, callback=raise_in_callback(
             RuntimeError("callback failed"))), Raises((RuntimeError,), ("callback failed",), then=usable), setup=model,
             loses_data_if_wrong=True),
        Case("KeyboardInterrupt in a callback", "interrupt", lambda m: expect_keyboard_interrupt(lambda: m.learn(
             PREFILL + 10 * PER_ITERATION, callback=raise_in_callback(KeyboardInterrupt()))), Works(lambda m, _: usable(m)),
             setup=model, loses_data_if_wrong=True),
    ] + [
        Case(f"Ctrl-C during learn after {delay:.2f} s", "interrupt", lambda m, d=delay: interrupt_after(m, d),
             Works(lambda m, _: usable(m)), setup=trained, loses_data_if_wrong=True)
        for delay in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5)
    ]


def expect_keyboard_interrupt(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except KeyboardInterrupt:
        return True
    return False


def _diverge_with_checkpoints(_: Any) -> list[str]:
    from gcrl_depth.callbacks import CheckpointCallback

    folder = tempfile.mkdtemp()
    agent = model(learning_rate=1e6)
    expect_error(lambda: agent.learn(PREFILL + 20 * PER_ITERATION, callback=CheckpointCallback(1, folder)))
    agent.save(os.path.join(folder, "after_divergence.zip"))
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))]


def _predict_cases() -> list[Case]:
    return [
        Case("predict(array instead of dict)", "argument", lambda m: m.predict(np.zeros(4)),
             Raises((ValueError,), ("observation", "desired_goal")), setup=model),
        Case("predict(wrong observation size)", "argument", lambda m: m.predict(obs(observation=np.zeros(3))),
             Raises((ValueError,), ("shape", "(4,)")), setup=model),
        Case("predict(batch sizes differ)", "argument",
             lambda m: m.predict(obs(3, desired_goal=np.zeros((2, 2)))), Raises((ValueError,), ("batch sizes",)), setup=model),
        Case("predict(NaN observation)", "argument", lambda m: m.predict(obs(observation=np.full(4, np.nan))),
             Raises((ValueError,), ("observation", "finite")), setup=model),
        Case("predict(inf goal)", "argument", lambda m: m.predict(obs(desired_goal=np.array([np.inf, 0.0]))),
             Raises((ValueError,), ("desired_goal", "finite")), setup=model),
        Case("predict(strings)", "argument", lambda m: m.predict(obs(observation=np.array(["a"] * 4))),
             Raises((ValueError,), ("observation", "numbers")), setup=model),
        Case("predict(python lists)", "argument",
             lambda m: m.predict({"observation": [0.0] * 4, "desired_goal": [1.0, 1.0]})[0],
             Works(lambda _, action: np.shape(action) == (2,)), setup=model),
    ]


def _file_cases() -> list[Case]:
    def set_json(member: str, **changes: Any) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
        import json

        def edit(members: dict[str, bytes]) -> dict[str, bytes]:
            return {**members, member: json.dumps({**json.loads(members[member]), **changes}).encode()}

        return edit

    def write(content: bytes) -> str:
        path = tmp("file.zip")
        Path(path).write_bytes(content)
        return path

    return [
        Case("load(missing file)", "file", lambda _: DeepCRL.load(tmp("nowhere.zip")), Raises((FileNotFoundError,), ("nowhere",))),
        Case("load(text file)", "file", DeepCRL.load, Raises((ValueError,), ("not a DeepCRL checkpoint",)),
             setup=lambda: write(b"hello")),
        Case("load(zip without the members)", "file", DeepCRL.load, Raises((ValueError,), ("lacks",)),
             setup=lambda: rewrite_zip(saved(), lambda m: {"config.json": m["config.json"]})),
        Case("load(corrupt zip member)", "file", DeepCRL.load, Raises((ValueError,), ("corrupt",)),
             setup=lambda: corrupt_member(saved())),
        Case("load(truncated zip)", "file", DeepCRL.load, Raises((ValueError,), ("checkpoint",)),
             setup=lambda: write(Path(saved()).read_bytes()[:-200])),
        Case("load(metadata not JSON)", "file", DeepCRL.load, Raises((ValueError,), ("metadata.json",)),
             setup=lambda: rewrite_zip(saved(), lambda m: {**m, "metadata.json": b"{not json"})),
        Case("load(future format version)", "file", DeepCRL.load, Raises((ValueError,), ("format",)),
             setup=lambda: rewrite_zip(saved(), set_json("metadata.json", format_version=99))),
        Case("load(config of another width)", "file", lambda p: DeepCRL.load(p, verbose=0),
             Raises((ValueError,), ("architecture",)), setup=lambda: rewrite_zip(saved(), set_json("config.json", width=32))),
        Case("load(path, width=32)", "argument", lambda p: DeepCRL.load(p, width=32),
             Raises((ValueError,), ("width", "architecture")), setup=saved),
        Case("load(path, learning_rate=1e-4)", "argument", lambda p: DeepCRL.load(p, learning_rate=1e-4, verbose=0),
             Works(lambda _, m: m.config.learning_rate == 1e-4), setup=saved),
        Case("load(path, env of another robot)", "argument", lambda p: DeepCRL.load(p, env="gcrl_depth/ArmReach-v0", verbose=0),
             Raises((ValueError,), ("sizes",)), setup=saved),
        Case("save into a read-only folder", "file", _save_read_only, Works(lambda _, result: result),
             loses_data_if_wrong=True),
        Case("save into a folder that does not exist", "file", lambda m: os.path.exists(m.save(tmp("new/deeper/agent"))),
             Works(lambda _, ok: ok), setup=trained),
        Case("save with include_buffer resumes exactly", "file", _resume_exactly, Works(lambda _, same: same)),
        Case("save(include_buffer=True) before learn", "argument", lambda m: m.save(tmp("a.zip"), include_buffer=True),
             Raises((ValueError,), ("include_buffer", "learn")), setup=model),
        Case("set_parameters(wrong shapes)", "argument",
             lambda m: m.set_parameters({**m.get_parameters(), "params": dataclasses.replace(
                 m.get_parameters()["params"], log_alpha=np.zeros(3))}),
             Raises((ValueError,), ("log_alpha", "shape")), setup=model),
        Case("set_parameters(unknown key)", "argument", lambda m: m.set_parameters({"policy": {}}, exact_match=False),
             Raises((ValueError,), ("policy", "params", "opt_state")), setup=model),
        Case("get_parameters -> set_parameters round trip", "interop", _parameters_round_trip, Works(lambda _, same: same)),
    ]


def _save_read_only(_: Any) -> bool:
    """Saving over a good checkpoint in a read-only folder fails and leaves the old file intact."""
    agent = trained()
    path = agent.save(tmp("agent.zip"))
    before = Path(path).read_bytes()
    folder = os.path.dirname(path)
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: nothing to test
            return True
        try:
            agent.save(path)
            return False
        except PermissionError:
            return Path(path).read_bytes() == before and os.listdir(folder) == ["agent.zip"]
    finally:
        os.chmod(folder, 0o755)


def _resume_exactly(_: Any) -> bool:
    straight = trained()
    straight.learn(4 * PER_ITERATION, reset_num_timesteps=False)
    first = trained()
    resumed = DeepCRL.load(first.save(tmp("agent.zip"), include_buffer=True), verbose=0)
    resumed.learn(4 * PER_ITERATION, reset_num_timesteps=False)
    return resumed.num_timesteps == straight.num_timesteps and same_parameters(resumed, straight)


def _parameters_round_trip(_: Any) -> bool:
    a, b = trained(), model(seed=3)
    b.set_parameters(a.get_parameters())
    return same_parameters(a, b) and np.array_equal(a.predict(obs(2))[0], b.predict(obs(2))[0])


def _evaluate_cases() -> list[Case]:
    def policy(o: dict[str, np.ndarray]) -> np.ndarray:
        return np.zeros((len(o["observation"]), 2), np.float32)

    return [
        Case("evaluate(policy, single gym.make env)", "argument", lambda _: evaluate(policy, gym.make(ID, episode_length=12)),
             Raises((TypeError,), ("gym.make_vec",))),
        Case("evaluate(policy, sync vector env)", "argument",
             lambda _: evaluate(policy, gym.make_vec(ID, num_envs=2, vectorization_mode="sync", episode_length=12)),
             Works(lambda _, r: r.episodes == 2 and r.episode_length == 12)),
        Case("evaluate(model.predict, envs)", "interop", lambda m: evaluate(m.predict, envs()),
             Works(lambda _, r: r.episodes == NUM_ENVS), setup=model),
        Case("evaluate(model, envs)", "interop", lambda m: evaluate(m, envs()), Works(lambda _, r: r.episodes == NUM_ENVS),
             setup=model),
        Case("evaluate(policy of the wrong action size)", "argument",
             lambda _: evaluate(lambda o: np.zeros((NUM_ENVS, 3)), envs()), Raises((ValueError,), ("shape",))),
        Case("evaluate(policy, unknown id)", "argument", lambda _: evaluate(policy, "gcrl_depth/Nope-v0"),
             Raises((ValueError,), ("unknown task",))),
        Case("evaluate(policy, id, num_envs=0)", "argument", lambda _: evaluate(policy, ID, num_envs=0),
             Raises((ValueError,), ("num_envs",))),
        Case("evaluate(42, envs)", "argument", lambda _: evaluate(42, envs()), Raises((TypeError,), ("policy",))),
    ]


def _env_cases() -> list[Case]:
    def first_obs(seeds: Any) -> np.ndarray:
        return envs().reset(seed=seeds)[0]["observation"]

    return [
        Case("reset(options={'goal': ...})", "env", lambda e: e.reset(options={"goal": [1.0, 1.0]}),
             Raises((ValueError,), ("options",)), setup=lambda: gym.make(ID, episode_length=12)),
        Case("vector reset(options=...)", "env", lambda e: e.reset(options={"goal": [1.0, 1.0]}),
             Raises((ValueError,), ("options",)), setup=envs),
        Case("vector reset(seed=[per-env seeds])", "env", lambda _: (first_obs([1, 2, 3, 4]), first_obs([1, 5, 6, 7])),
             Works(lambda _, r: np.array_equal(r[0][0], r[1][0]) and not np.array_equal(r[0][1], r[1][1]))),
        Case("vector reset(seed=[too few seeds])", "env", lambda e: e.reset(seed=[1, 2]), Raises((ValueError,), ("seeds",)),
             setup=envs),
        Case("step before reset", "env", lambda e: e.step(np.zeros(2)), Raises((RuntimeError,), ("reset",)),
             setup=lambda: gym.make(ID).unwrapped),
        Case("step(NaN action)", "env", lambda e: (e.reset(seed=0), e.step(np.full(2, np.nan))),
             Raises((ValueError,), ("NaN",)), setup=lambda: gym.make(ID)),
        Case("step(action of the wrong size)", "env", lambda e: (e.reset(seed=0), e.step(np.zeros(3))),
             Raises((ValueError,), ("shape",)), setup=lambda: gym.make(ID).unwrapped),
        Case("gym.make(id, render_mode='depth_array')", "env", lambda _: gym.make(ID, render_mode="depth_array"),
             Raises((ValueError,), ("render_mode", "rgb_array"))),
        Case("gym.make(id, layout without a goal cell)", "env", lambda _: gym.make(ID, layout=["111", "1R1", "111"]),
             Raises((ValueError,), ("'G'",))),
        Case("gym.make(id, bogus=1)", "env", lambda _: gym.make(ID, bogus=1), Raises((TypeError,), ("bogus",))),
        Case("gym.make(id, episode_length=2.7)", "env", lambda _: gym.make(ID, episode_length=2.7),
             Raises((ValueError,), ("episode_length", "integer"))),
        Case("gym.make(id, episode_length=0)", "env", lambda _: gym.make(ID, episode_length=0),
             Raises((ValueError,), ("episode_length",))),
        Case("gym.make_vec(id, num_envs=0)", "env", lambda _: gym.make_vec(ID, num_envs=0), Raises((ValueError,), ("num_envs",))),
        Case("eval twin with a custom layout", "env", lambda _: gym.make("gcrl_depth/PointUMazeEval-v0", layout=CUSTOM_LAYOUT),
             Raises((ValueError,), ("eval_goals",))),
    ]


def _interop_cases() -> list[Case]:
    return [
        Case("get_vec_normalize_env()", "interop", lambda m: m.get_vec_normalize_env(), Works(lambda _, r: r is None),
             setup=model),
        Case("SB3 evaluate_policy(model, gym.make env)", "interop", _sb3_evaluate_policy,
             Works(lambda _, r: np.isfinite(r[0]) and r[1] >= 0), setup=trained),
        Case("SB3 EvalCallback saves the best model", "interop", _sb3_eval_callback, Works(lambda _, ok: ok), setup=model),
        Case("CheckpointCallback(save_freq=0)", "argument", lambda _: _checkpoint_callback(0),
             Raises((ValueError,), ("save_freq",))),
        Case("import off Linux leaves MUJOCO_GL alone", "env", lambda _: _gl_default_on("darwin"),
             Works(lambda _, value: value is None)),
    ]


def _checkpoint_callback(freq: int) -> Any:
    from gcrl_depth.callbacks import CheckpointCallback

    return CheckpointCallback(freq, tmp("ckpt"))


def _gl_default_on(platform: str) -> str | None:
    """MUJOCO_GL after the import-time GL default on a faked platform without a display."""
    from gcrl_depth import _runtime

    saved_env = {k: os.environ.pop(k, None) for k in ("MUJOCO_GL", "DISPLAY")}
    saved_platform = sys.platform
    try:
        sys.platform = platform
        _runtime.default_headless_gl()
        return os.environ.get("MUJOCO_GL")
    finally:
        sys.platform = saved_platform
        for k, v in saved_env.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


def _sb3_evaluate_policy(agent: DeepCRL) -> tuple[float, float]:
    from stable_baselines3.common.evaluation import evaluate_policy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_policy(agent, gym.make(ID, episode_length=12), n_eval_episodes=2)


def _sb3_eval_callback(agent: DeepCRL) -> bool:
    from stable_baselines3.common.callbacks import EvalCallback

    folder = tempfile.mkdtemp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        callback = EvalCallback(gym.make(ID, episode_length=12), n_eval_episodes=2, eval_freq=1, best_model_save_path=folder,
                                verbose=0)
        agent.learn(FIRST_LEARN, callback=callback)
    best = os.path.join(folder, "best_model.zip")
    return os.path.exists(best) and DeepCRL.load(best, verbose=0).num_timesteps > 0


CASES: list[Case] = (_construction_cases() + _learn_cases() + _predict_cases() + _file_cases() + _evaluate_cases()
                     + _env_cases() + _interop_cases())


# ----------------------------------------------------------------- running and classifying
class _Hang(BaseException):
    pass


def classify(case: Case, timeout_s: float = CASE_TIMEOUT_S) -> tuple[str, str]:
    """(outcome, detail) of running ``case``; see the module docstring for the outcomes."""
    subject = case.setup()
    previous = signal.signal(signal.SIGALRM, _raise_hang) if threading.current_thread() is threading.main_thread() else None
    if previous is not None:
        signal.alarm(int(timeout_s))
    try:
        result, error = case.act(subject), None
    except _Hang:
        return "hang", f"no answer in {timeout_s:.0f} s"
    except Exception as caught:
        result, error = None, caught
    finally:
        if previous is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    try:
        return _judge(case, subject, result, error)
    except Exception as caught:
        outcome = "data loss" if case.loses_data_if_wrong and not isinstance(caught, CountsDisagree) else "silently wrong"
        return outcome, f"the check failed: {type(caught).__name__}: {caught}"


def _judge(case: Case, subject: Any, result: Any, error: BaseException | None) -> tuple[str, str]:
    expect = case.expect
    wrong = "data loss" if case.loses_data_if_wrong else "silently wrong"
    if error is not None:
        message = f"{type(error).__name__}: {error}"
        if isinstance(expect, Raises) and isinstance(error, expect.types) and all(w in str(error) for w in expect.words):
            if expect.then is not None and not expect.then(subject):
                return wrong, f"clear error, but afterwards: not intact ({message[:200]})"
            return "clear error", message[:300]
        said = getattr(error, "said_by_gcrl_depth", False) or _raised_in_gcrl_depth(error)  # a command's own line
        return ("unclear error" if said else "deep traceback"), message[:300]
    if isinstance(expect, Raises):
        return wrong, f"no error (expected {[t.__name__ for t in expect.types]} naming {list(expect.words)})"
    if expect.check(subject, result):
        return "correct", ""
    return wrong, f"check failed; result {str(result)[:200]}"


def _raised_in_gcrl_depth(error: BaseException) -> bool:
    """True when the innermost frame that raised is gcrl_depth's own code (not a library's)."""
    frames = traceback.extract_tb(error.__traceback__)
    package = os.sep + "gcrl_depth" + os.sep
    return bool(frames) and package in frames[-1].filename and os.sep + "tests" + os.sep not in frames[-1].filename


def _raise_hang(signum: int, frame: Any) -> None:
    raise _Hang
