"""Checkpoint formats: the portable zip (format 2, :mod:`~gcrl_depth.crl.checkpoints.checkpoint`;
format 1 read by :mod:`~gcrl_depth.crl.checkpoints.checkpoint_v1`) and the orbax state store of
whole training states (:mod:`~gcrl_depth.crl.checkpoints.state_store`)."""
