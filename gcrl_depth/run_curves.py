"""Learning curves read back from run folders, and their interquartile mean over seeds with a 95% band.

A run folder is what ``gcrl-depth train --log-dir`` writes (``progress.csv``) or what a
campaign writes (``curve.csv``; a run set keeps one ``seed_<s>/`` folder per seed). Each seed's
curve is its evaluations: ``(env steps, value)`` of one metric. Seeds of one line are pooled
at the env steps every seed evaluated, as the IQM with a stratified-bootstrap interval
(:mod:`gcrl_depth.stats`, rliable's estimators).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gcrl_depth.rows import read_csv
from gcrl_depth.stats import bootstrap_ci, iqm

METRICS = ("time_at_goal", "success_rate", "final_distance")
Curve = list[tuple[int, float]]  # (env steps, value) per evaluation, in order


def folder_curves(folder: str | os.PathLike, metric: str = "time_at_goal") -> list[Curve]:
    """One curve per seed of a run folder: its ``seed_<s>/`` members', or the folder's own."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{os.fspath(folder)!r} is not a run folder (no such directory)")
    members = sorted(p for p in folder.glob("seed_*") if p.is_dir())
    curves = [curve for curve in (_curve(source, metric) for source in members or [folder]) if curve]
    if not curves:
        raise ValueError(f"{os.fspath(folder)!r} holds no evaluations: expected curve.csv or progress.csv with "
                         f"{metric} (a run folder of gcrl-depth train --log-dir, or of a campaign)")
    return curves


def _curve(source: Path, metric: str) -> Curve:
    if (source / "curve.csv").exists():
        steps, values = "env_steps", metric
        rows = read_csv(source / "curve.csv")
    elif (source / "progress.csv").exists():
        steps, values = "time/total_timesteps", f"eval/{metric}"
        rows = read_csv(source / "progress.csv")
    else:
        return []
    return [(int(row[steps]), float(row[values])) for row in rows if row.get(values) not in (None, "")]


def pooled_band(curves: Sequence[Curve], confidence: float = 0.95) -> tuple[list[int], list[float], list[float], list[float]]:
    """(env steps, IQM, low, high) over the seeds' curves at the env steps all of them evaluated;
    with one seed the band is the curve itself."""
    by_seed = [dict(curve) for curve in curves]
    steps = sorted(set.intersection(*(set(seed) for seed in by_seed)))
    if not steps:
        raise ValueError("the seeds share no evaluation step: pool runs evaluated at the same env steps")
    center, low, high = [], [], []
    for step in steps:
        values = np.array([seed[step] for seed in by_seed])
        point, lo, hi = bootstrap_ci({"seeds": values}, iqm, confidence=confidence) if len(values) > 1 else (values[0],) * 3
        center.append(float(point))
        low.append(float(lo))
        high.append(float(hi))
    return steps, center, low, high
