"""Deep contrastive RL, in four rooms that read bottom-up as the dependency order:

* :mod:`~gcrl_depth.crl.engine`: the pure engine (config, networks, fused kernels, losses,
  learner, buffer, training functions, devices) and its compiled programs;
* :mod:`~gcrl_depth.crl.checkpoints`: checkpoint formats (zip, orbax state store);
* :mod:`~gcrl_depth.crl.env_paths`: where steps come from (the device or the host), one protocol;
* :mod:`~gcrl_depth.crl.training`: the host loop and its faces, DeepCRL and RunSet.

``gcrl_depth.crl.agent`` and ``gcrl_depth.crl.config`` keep working as the old names of
``training.agent`` and ``engine.config``.
"""
