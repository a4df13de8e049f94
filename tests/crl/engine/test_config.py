"""CRLConfig: paper defaults, validation, derived values, JSON round trip."""

from __future__ import annotations

import json

import pytest

from gcrl_depth.crl.engine.config import CRLConfig


def test_paper_defaults_give_800_updates_per_31744_env_steps():
    config = CRLConfig()
    assert config.env_steps_per_iteration == 512 * 62 == 31_744
    assert config.updates_per_iteration == 800
    assert (config.learning_rate, config.gamma, config.buffer_size, config.prefill_steps) == (3e-4, 0.99, 10_000, 1_000)
    assert config.entropy_target(8) == -4.0


def test_update_ratio_does_not_change_with_batch_size():
    ratios = {b: CRLConfig(batch_size=b).updates_per_iteration for b in (256, 512, 640, 1024, 4096)}
    assert set(ratios.values()) == {800}


def test_overrides_resolve_per_network():
    config = CRLConfig(depth=64, actor_depth=16, critic_width=512)
    assert (config.resolved_actor_depth, config.resolved_critic_depth) == (16, 64)
    assert (config.resolved_actor_width, config.resolved_critic_width) == (256, 512)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 6}, "depth must be a positive multiple of 4"),
        ({"actor_depth": 0}, "actor_depth must be a positive multiple of 4"),
        ({"num_envs": 0}, "num_envs must be a positive integer"),
        ({"gamma": 1.0}, "gamma must lie in"),
        ({"buffer_size": 10, "prefill_steps": 20, "unroll_length": 5}, "buffer_size"),
        ({"env_steps_per_update": 0}, "env_steps_per_update must be at least 0.01"),
        ({"activation": "tanh"}, r"activation must be one of \['swish', 'relu'\]"),
        ({"tower_kernel": "pallas", "width": 64, "layer_norm": False}, "tower_kernel='xla' for the ablations"),
    ],
)
def test_invalid_values_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CRLConfig(**kwargs)


def test_json_round_trip_and_unknown_keys():
    config = CRLConfig(depth=16, width=64, num_envs=8)
    assert CRLConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(TypeError, match="unknown DeepCRL config options \\['depht'\\]"):
        CRLConfig.from_dict({"depht": 8})


def test_scan_unroll_is_none_for_the_platform_default_or_a_positive_integer():
    from gcrl_depth.crl.engine.train import EnvSizes, make_train

    assert CRLConfig().scan_unroll is None
    assert make_train(CRLConfig(depth=16), EnvSizes(4, 2, 2)).learner_spec.critic.unroll == 1  # the CPU's default
    assert make_train(CRLConfig(depth=16, scan_unroll=2), EnvSizes(4, 2, 2)).learner_spec.actor.unroll == 2
    with pytest.raises(ValueError, match="scan_unroll"):
        CRLConfig(scan_unroll=0)


def test_ablation_switches_default_to_the_paper_and_are_typed():
    config = CRLConfig()
    assert (config.layer_norm, config.activation, config.residual) == (True, "swish", True)
    with pytest.raises(TypeError, match="residual must be True or False"):
        CRLConfig(residual="no")
