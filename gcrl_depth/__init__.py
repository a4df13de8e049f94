"""gcrl_depth: deep self-supervised goal-conditioned RL on MJX environments.

Importing the package registers the ``gcrl_depth/*`` Gymnasium ids.
"""

from gcrl_depth import _runtime

_runtime.default_headless_gl()
_runtime.default_xla_flags()
_runtime.enable_compilation_cache()
_runtime.import_mjx_quietly()

from gcrl_depth.envs import TASKS, env_id, make_core  # noqa: E402  (after the runtime setup)
from gcrl_depth.crl.agent import DeepCRL  # noqa: E402
from gcrl_depth.evaluation import evaluate  # noqa: E402

__version__ = "0.1.0"
__all__ = ["DeepCRL", "TASKS", "env_id", "evaluate", "make_core", "__version__"]
