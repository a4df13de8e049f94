"""Moved to :mod:`gcrl_depth.crl.training.agent`; this name keeps working."""

from gcrl_depth.crl.training.agent import *  # noqa: F403
from gcrl_depth.crl.training.agent import DEFAULT_EPOCH_TIMESTEPS, DEFAULT_EVAL_EPISODES, MAX_SEED, DeepCRL

__all__ = ["DEFAULT_EPOCH_TIMESTEPS", "DEFAULT_EVAL_EPISODES", "MAX_SEED", "DeepCRL"]
