"""Where DeepCRL's steps come from, behind one interface: the device path and the host path.

:func:`open_env_path` turns what DeepCRL was given into an :class:`EnvPath`:

* :class:`DevicePath`, gcrl_depth's own envs: training steps the env's pure-JAX core inside
  the compiled epoch (:class:`~gcrl_depth.crl.env_paths.device.DeviceCollector`), evaluation is
  one compiled rollout (:func:`~gcrl_depth.envs.rollout.episode_sums`);
* :class:`HostPath`, any other Gymnasium goal env: ``num_envs`` copies stepped on the host
  (:class:`~gcrl_depth.crl.env_paths.host.HostCollector`), evaluated by
  :func:`~gcrl_depth.evaluation.evaluate`.

One file per path (:mod:`~gcrl_depth.crl.env_paths.device`, :mod:`~gcrl_depth.crl.env_paths.host`)
behind one protocol (:mod:`~gcrl_depth.crl.env_paths.protocol`). Both give the agent the same things: ``sizes``, ``collector(engine)``, ``evaluate`` and
``evaluate_on`` (of an engine's deterministic actor), ``get_env``, ``record`` (what a checkpoint stores to rebuild the env) and
``close`` (the envs the path built; never one it was given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gcrl_depth.crl.engine.config import CRLConfig
from gcrl_depth.crl.env_paths.device import DevicePath, is_device_env, unwrap_env
from gcrl_depth.crl.env_paths.host import HostPath, host_env
from gcrl_depth.crl.env_paths.protocol import Collector, EnvPath
from gcrl_depth.goal_envs import GivenEnv

__all__ = ["Collector", "DevicePath", "EnvPath", "HostPath", "open_env_path"]


def open_env_path(env: Any, configure: Callable[[int | None], CRLConfig], eval_env: Any, eval_episodes: int,
                  data_parallel: int = 1) -> tuple[EnvPath, CRLConfig]:
    """The path DeepCRL trains ``env`` on (gcrl_depth envs: the device; any other goal env: the
    host) and the config, which ``configure`` makes from the ``num_envs`` a given vector env
    fixes (None where DeepCRL's ``num_envs`` decides)."""
    given = GivenEnv.of(env)
    if is_device_env(given):
        source = unwrap_env(given)
        config = configure(source.num_envs)
        return DevicePath(source, eval_env, eval_episodes, data_parallel), config
    if data_parallel > 1:
        raise ValueError("data_parallel needs a gcrl_depth env (the device path); other envs step on the host")
    host = host_env(given)
    config = configure(host.num_envs)
    return HostPath(host, config.num_envs, eval_env, eval_episodes), config
