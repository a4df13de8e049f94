"""One training epoch of a collector on a training state, safe against failures, divergence and Ctrl-C.

:func:`train_epoch` runs the compiled epoch program, which *donates* (frees) the state it
is given. It therefore keeps a copy of what cannot be rebuilt (the learner, key and
counters: :func:`unstarted_copy`) and hands the caller, through ``commit``, inside one
section that a Ctrl-C cannot split (:func:`~gcrl_depth.interrupts.deferred_interrupts`):

* the new state after a finished epoch (``commit(state, 1)``: count one more epoch); a
  Ctrl-C that arrived meanwhile is raised right after, with the epoch counted;
* that copy after an epoch that raised (``commit(copy, 0)``; the buffer and envs are gone:
  the next ``learn`` refills them), then the error;
* that copy after a finished epoch whose loss or parameters became non-finite
  (``commit(copy, -1)``: the epoch is undone), then
  :class:`~gcrl_depth.crl.divergence.TrainingDivergedError`, whose message the caller words
  (``describe(what)``, called after the undo).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from gcrl_depth.crl.collectors import Collector
from gcrl_depth.crl.divergence import TrainingDivergedError, all_finite, first_non_finite_leaf, non_finite_metric
from gcrl_depth.crl.engine import TrainState
from gcrl_depth.interrupts import deferred_interrupts

Commit = Callable[[TrainState, int], None]  # (state, epochs to add to the counts): state and counts change together


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What an epoch measured: its metrics (means over its iterations), seconds run and compiled."""

    metrics: dict[str, float]
    elapsed: float
    compile_s: float


def unstarted_copy(state: TrainState) -> TrainState:
    """A copy of the learner, key and counters, without buffer or envs: what a failed epoch falls back to."""
    kept = TrainState(learner=state.learner, key=state.key, iterations=state.iterations)
    return jax.tree_util.tree_map(jnp.copy, kept)


def non_finite(metrics: dict[str, float], state: TrainState) -> str | None:
    """What became non-finite (the first metric, else the first parameter), or None."""
    bad = non_finite_metric(metrics)
    if bad is not None:
        return bad
    if not bool(all_finite(state.learner)):
        return f"parameter {first_non_finite_leaf(state.learner)} is not finite"
    return None


def train_epoch(collector: Collector, state: TrainState, iterations: int, commit: Commit,
                describe: Callable[[str], str]) -> EpochReport:
    """Train ``iterations`` iterations from ``state`` (donated) and ``commit`` the outcome (see the module)."""
    compile_s = collector.compile(state, iterations)
    last_good = unstarted_copy(state)
    start = time.perf_counter()
    with deferred_interrupts():
        try:
            state, metrics = collector.train(state, iterations)
        except BaseException:  # e.g. the env's step raised: the donated state may be gone
            commit(last_good, 0)
            raise
        commit(state, 1)
    elapsed = time.perf_counter() - start
    what = non_finite(metrics, state)
    if what is not None:
        with deferred_interrupts():
            commit(last_good, -1)  # the envs and buffer may hold NaN: the next learn refills them
        raise TrainingDivergedError(describe(what))
    return EpochReport(metrics, elapsed, compile_s)
