"""The critic's energy and contrastive loss as config fields: each variant trains, is recorded in
checkpoints (load refuses to change it), and is a command-line choice."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_agent import PER_ITERATION, PREFILL, TINY, leaves, tiny_model

from gcrl_depth import DeepCRL
from gcrl_depth.cli.main import build_parser
from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.engine.train import make_train
from gcrl_depth.goal_envs import EnvSizes

# every non-default energy and loss once (the defaults train in every other test)
VARIANTS = [("l2_squared", "backward"), ("dot", "symmetric"), ("cosine", "binary_nce")]


@pytest.mark.parametrize(("energy", "contrastive"), VARIANTS)
def test_each_variant_trains_to_finite_parameters_and_is_kept_by_its_checkpoint(tmp_path, energy, contrastive):
    model = tiny_model(energy=energy, contrastive_loss=contrastive)
    model.learn(PREFILL + 2 * PER_ITERATION)
    assert all(np.isfinite(x).all() for x in leaves(model.learner))
    obs = {"observation": np.zeros((2, model.sizes.observation_size), np.float32),
           "desired_goal": np.ones((2, model.sizes.goal_size), np.float32)}
    action, _ = model.predict(obs)
    q = model.engine.q_value(model.learner.params.critic, obs["observation"], action, obs["desired_goal"])
    assert np.isfinite(np.asarray(q)).all()
    path = model.save(tmp_path / "model.zip")
    loaded = DeepCRL.load(path)
    assert (loaded.config.energy, loaded.config.contrastive_loss) == (energy, contrastive)
    with pytest.raises(ValueError, match=r"load cannot change \['energy'\]: the saved critic was trained for"):
        DeepCRL.load(path, energy="l2")
    DeepCRL.load(path, contrastive_loss=contrastive).close()  # the saved value itself is no change
    for m in (model, loaded):
        m.close()


def test_bad_variants_are_refused_by_the_config_the_command_line_and_data_parallel(capsys):
    with pytest.raises(ValueError, match=r"energy must be one of \['l2', 'l2_squared', 'dot', 'cosine'\], got 'l1'"):
        CRLConfig(energy="l1")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "PointUMaze", "--contrastive-loss", "nce"])
    assert "invalid choice: 'nce'" in capsys.readouterr().err
    args = build_parser().parse_args(["train", "PointUMaze", "--energy", "dot", "--contrastive-loss", "binary_nce"])
    assert (args.energy, args.contrastive_loss) == ("dot", "binary_nce")
    sizes = EnvSizes(4, 2, 2)
    with pytest.raises(ValueError, match="contrastive_loss='symmetric' normalises over every row"):
        make_train(CRLConfig(**TINY, contrastive_loss="symmetric"), sizes, data_shards=2)
    assert make_train(CRLConfig(**TINY, contrastive_loss="binary_nce"), sizes, data_shards=2).data_shards == 2
