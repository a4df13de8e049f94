"""The pure engine: config, networks (and their fused Pallas kernels), losses, learner, replay
buffer, the training functions (:mod:`~gcrl_depth.crl.engine.train`: ``make_train``, ``Engine``,
``TrainState``), devices (run axis, data shards), divergence checks, and the engine's functions
compiled once (:mod:`~gcrl_depth.crl.engine.compiled`). Nothing here steps a Gymnasium env or
writes a file. ``from gcrl_depth.crl.engine import make_train`` keeps working."""

from gcrl_depth.crl.engine.train import DATA_AXIS, AgentState, Engine, EnvSizes, TrainState, make_train

__all__ = ["DATA_AXIS", "AgentState", "Engine", "EnvSizes", "TrainState", "make_train"]
