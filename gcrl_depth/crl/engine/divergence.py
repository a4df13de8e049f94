"""Divergence checks: non-finite losses or parameters after a training epoch.

The agent checks every epoch's metrics and learner; on the first non-finite value it
restores the parameters from before the epoch and raises :class:`TrainingDivergedError`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or parameter; the model kept its last finite parameters."""


@jax.jit
def all_finite(tree: Any) -> jax.Array:
    """True when every floating-point leaf of ``tree`` is finite (one device reduction)."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def non_finite_metric(metrics: dict[str, float]) -> str | None:
    """``"name = value"`` of the first non-finite metric, or None."""
    for name, value in metrics.items():
        if not math.isfinite(value):
            return f"{name} = {value}"
    return None


def first_non_finite_leaf(tree: Any) -> str | None:
    """Path of the first leaf of ``tree`` holding a non-finite value (host-side; for messages)."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree)):
        if jnp.issubdtype(leaf.dtype, jnp.floating) and not bool(jnp.all(jnp.isfinite(leaf))):
            return jax.tree_util.keystr(path)
    return None
