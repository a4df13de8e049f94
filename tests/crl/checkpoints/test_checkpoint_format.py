"""Checkpoint formats: a format-1 checkpoint (flax modules, three Adam states) loads into today's engine
and predicts what it predicted when it was saved; format 2 writes the run's one key in its metadata."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from gcrl_depth import DeepCRL
from gcrl_depth.crl.checkpoints.checkpoint import read_checkpoint

DATA = Path(__file__).with_name("data")
FORMAT_1 = DATA / "checkpoint_format1.zip"  # written by gcrl_depth 0.1.0 before the pure engine (tests/crl/checkpoints/data)
EXPECTED = json.loads((DATA / "checkpoint_format1.json").read_text())  # its predictions and Q-values then


def test_format_1_loads_and_predicts_what_it_predicted():
    assert read_checkpoint(FORMAT_1).format_version == 1
    model = DeepCRL.load(FORMAT_1, verbose=0)
    obs = {"observation": np.asarray(EXPECTED["observation"], np.float32),
           "desired_goal": np.asarray(EXPECTED["desired_goal"], np.float32)}
    np.testing.assert_allclose(model.predict(obs)[0], EXPECTED["actions"], rtol=1e-5, atol=1e-6)
    q = model.engine.q_value(model.learner.params.critic, obs["observation"], np.asarray(EXPECTED["q_actions"], np.float32),
                             obs["desired_goal"])
    np.testing.assert_allclose(q, EXPECTED["q_values"], rtol=1e-5, atol=1e-6)
    assert model.num_timesteps == EXPECTED["num_timesteps"]
    count = int(jax.device_get(model.learner.opt_state[0].count))
    assert count == 6  # the Adam step count carried over (6 gradient steps were taken)


def test_format_1_trains_on_and_saves_as_format_2(tmp_path):
    model = DeepCRL.load(FORMAT_1, verbose=0, eval_episodes=0)
    model.learn(100, reset_num_timesteps=False)
    path = model.save(tmp_path / "converted.zip")
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["format_version"] == 2
    again = DeepCRL.load(path, verbose=0)
    for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(again.learner)), jax.tree_util.tree_leaves(jax.device_get(model.learner))):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_format_names_the_readable_ones(tmp_path):
    bad = tmp_path / "future.zip"
    with zipfile.ZipFile(FORMAT_1) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "metadata.json":
                data = json.dumps({**json.loads(data), "format_version": 3}).encode()
            target.writestr(name, data)
    with pytest.raises(ValueError, match=r"format 3.*\[1, 2\]"):
        DeepCRL.load(bad)


@pytest.fixture(scope="module")
def format_2(tmp_path_factory):
    """A format-2 checkpoint: the format-1 fixture loaded and saved again."""
    model = DeepCRL.load(FORMAT_1, verbose=0, eval_episodes=0)
    path = model.save(tmp_path_factory.mktemp("format2") / "model.zip")
    model.close()
    return Path(path)


def rewritten(source, target, change):
    """A copy of checkpoint ``source`` at ``target`` with ``change(name, data) -> data`` applied to each member."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name, old.read(name)))
    return target


def edited_params(edit):
    from flax import serialization

    def change(name, data):
        if name != "params.msgpack":
            return data
        leaves = serialization.msgpack_restore(data)
        return serialization.msgpack_serialize({key: edit(key, np.asarray(value)) for key, value in leaves.items()})

    return change


def edited_json(member, edit):
    return lambda name, data: json.dumps(edit(json.loads(data))).encode() if name == member else data


def test_float16_parameters_are_cast_to_float32_with_a_warning(format_2, tmp_path):
    path = rewritten(format_2, tmp_path / "half.zip", edited_params(lambda key, value: value.astype(np.float16)))
    with pytest.warns(RuntimeWarning, match=r"saved as float16; cast to float32"):
        model = DeepCRL.load(path, verbose=0, eval_episodes=0)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(model.learner.params)} == {np.dtype(np.float32)}
    model.close()


def test_a_checkpoint_that_cannot_be_used_is_refused_naming_the_file_and_what_is_wrong(format_2, tmp_path):
    def poison(key, value):
        return np.full_like(value, np.nan) if "log_alpha" in key else value

    cases = {
        "nan.zip": (edited_params(poison), r"hold NaN or infinite values at .*log_alpha"),
        "newer.zip": (edited_json("metadata.json", lambda m: {**m, "format_version": 9}),
                      r"format 9, written by gcrl_depth .*reads formats \[1, 2\]; upgrade gcrl_depth"),
        "no_seed.zip": (edited_json("metadata.json", lambda m: {k: v for k, v in m.items() if k != "seed"}),
                        r"not a complete DeepCRL checkpoint: metadata.json lacks \['seed'\]"),
        "future_knob.zip": (edited_json("config.json", lambda c: {**c, "future_knob": 1}),
                            r"saved by gcrl_depth .* config options this version does not know: \['future_knob'\]"),
    }
    for name, (change, message) in cases.items():
        path = rewritten(format_2, tmp_path / name, change)
        with pytest.raises(ValueError, match=message) as error:
            DeepCRL.load(path, verbose=0, eval_episodes=0)
        assert name in str(error.value)
