"""Interval estimates for few-seed RL results (Agarwal et al., "Deep RL at the Edge of the Statistical
Precipice", 2021): the interquartile mean, stratified bootstrap confidence intervals, and the
probability of improvement. Written here with numpy (the estimators rliable defines).

Scores come as ``{task: values over seeds}``; a bootstrap resamples seeds with replacement
within each task (stratified), so every task keeps its number of runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

# Scores per task: each a sequence (or array) of per-seed values.
Scores = Mapping[str, "Sequence[float] | np.ndarray"]

BOOTSTRAP_REPS = 2000
CONFIDENCE = 0.95


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean: the mean after cutting ``floor(n / 4)`` values from each end (as
    ``scipy.stats.trim_mean(values, 0.25)``, rliable's IQM)."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    if len(x) == 0:
        raise ValueError("iqm of no values")
    cut = len(x) // 4
    return float(np.mean(x[cut:len(x) - cut]))


def bootstrap_ci(scores: Scores, statistic: Callable[[np.ndarray], float] = iqm,
                 reps: int = BOOTSTRAP_REPS, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(point estimate, low, high): ``statistic`` of all tasks' scores pooled, with a percentile
    interval from a bootstrap that resamples seeds within each task."""
    tasks = [np.asarray(v, dtype=float).ravel() for v in scores.values()]
    if not tasks or any(len(t) == 0 for t in tasks):
        raise ValueError("bootstrap_ci needs at least one score per task")
    rng = np.random.default_rng(seed)
    point = statistic(np.concatenate(tasks))
    samples = np.empty(reps)
    for r in range(reps):
        samples[r] = statistic(np.concatenate([t[rng.integers(0, len(t), len(t))] for t in tasks]))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return point, float(low), float(high)


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y) averaged over the tasks both have: per task, the chance a run of X scores above a
    run of Y (ties count half; the Mann-Whitney U statistic over all pairs of runs)."""
    shared = [task for task in x if task in y]
    if not shared:
        raise ValueError("probability_of_improvement needs tasks that both score")
    per_task = []
    for task in shared:
        a, b = np.asarray(x[task], float)[:, None], np.asarray(y[task], float)[None, :]
        per_task.append(float(np.mean((a > b) + 0.5 * (a == b))))
    return float(np.mean(per_task))


def probability_of_improvement_ci(x: Scores, y: Scores,
                                  reps: int = BOOTSTRAP_REPS, confidence: float = CONFIDENCE,
                                  seed: int = 0) -> tuple[float, float, float]:
    """(P(X > Y), low, high) with a bootstrap that resamples each side's seeds within each task."""
    rng = np.random.default_rng(seed)
    shared = [task for task in x if task in y]
    point = probability_of_improvement(x, y)

    def resample(scores: Scores) -> dict[str, np.ndarray]:
        out = {}
        for task in shared:
            values = np.asarray(scores[task], float)
            out[task] = values[rng.integers(0, len(values), len(values))]
        return out

    samples = [probability_of_improvement(resample(x), resample(y)) for _ in range(reps)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return point, float(low), float(high)


def performance_profile(scores: Scores, thresholds: Sequence[float], reps: int = BOOTSTRAP_REPS,
                        confidence: float = CONFIDENCE, seed: int = 0) -> tuple[list[float], list[float], list[float]]:
    """(fraction, low, high) per threshold tau: the fraction of all runs (tasks pooled) whose score
    exceeds tau, with a stratified bootstrap interval; rliable's run-score profile. Pool only
    scores normalised to a common scale (e.g. time at goal / episode length)."""
    points, lows, highs = [], [], []
    for tau in thresholds:
        point, low, high = bootstrap_ci(scores, functools.partial(_fraction_above, tau=tau), reps, confidence, seed)
        points.append(point)
        lows.append(low)
        highs.append(high)
    return points, lows, highs


def _fraction_above(scores: np.ndarray, tau: float) -> float:
    return float(np.mean(scores > tau))
