"""gcrl_depth: deep self-supervised goal-conditioned RL on MJX environments.

Importing the package registers the ``gcrl_depth/*`` Gymnasium ids and applies the
process-wide defaults of :mod:`gcrl_depth._runtime` (headless GL on Linux, one XLA CPU
flag, JAX's persistent compilation cache); ``GCRL_DEPTH_DEFAULTS=off`` turns them off.
"""

from gcrl_depth import _runtime
from gcrl_depth._version import __version__

_runtime.apply_defaults()

from gcrl_depth.crl.engine.config import PRESETS, CRLConfig  # noqa: E402
from gcrl_depth.crl.engine.divergence import TrainingDivergedError  # noqa: E402
from gcrl_depth.crl.training.agent import DeepCRL  # noqa: E402
from gcrl_depth.crl.training.lessons import collect_learn, distill  # noqa: E402
from gcrl_depth.crl.training.run_set import RunSet  # noqa: E402
from gcrl_depth.envs import TASKS, env_id, make_core  # noqa: E402  (after the runtime setup)
from gcrl_depth.evaluation import evaluate  # noqa: E402

__all__ = ["PRESETS", "TASKS", "CRLConfig", "DeepCRL", "RunSet", "TrainingDivergedError", "__version__", "collect_learn",
           "distill", "env_id", "evaluate", "make_core"]
