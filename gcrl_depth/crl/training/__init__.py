"""The host side of training: each run's public record (:mod:`~gcrl_depth.crl.training.run`), one
run or k stacked (:mod:`~gcrl_depth.crl.training.runners`), the one host loop
(:mod:`~gcrl_depth.crl.training.loop`), and its faces: DeepCRL (:mod:`~gcrl_depth.crl.training.agent`)
and RunSet (:mod:`~gcrl_depth.crl.training.run_set`), with their save and load
(:mod:`~gcrl_depth.crl.training.persistence`) and the checkpoint callback."""
