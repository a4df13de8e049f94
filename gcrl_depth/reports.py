"""Reporting on experiment rows: each run's headline, means and intervals over seeds, tables and curves.

A run's headline is the mean of its last ``HEADLINE_WINDOW`` (5) evaluations, as the paper reports;
:func:`summarize` aggregates headlines and final evaluations over seeds (mean and standard error,
IQM with a bootstrap interval); :func:`interval_table` pools tasks (Agarwal et al., 2021);
:func:`markdown_table` and :func:`mean_curves` give what the scripts print and plot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from gcrl_depth import stats
from gcrl_depth.evaluation import HEADLINE_WINDOW
from gcrl_depth.rows import METRICS


def run_results(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per run (a run = algo, depth, width, env_id, seed and any extra keys but a
    probe's ``name/metric`` measurements): its last row, with each metric replaced by the
    headline (mean of the last ``HEADLINE_WINDOW`` evaluations) and the last evaluation kept
    as ``final_<metric>``."""
    runs: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple((k, v) for k, v in row.items() if k not in ("env_steps", "wall_s", *METRICS) and "/" not in k)
        runs.setdefault(key, []).append(row)
    results = []
    for members in runs.values():
        members = sorted(members, key=lambda r: r["env_steps"])
        last = members[-1]
        entry = {**last, "evaluations": len(members)}
        for name in METRICS:
            entry[name] = float(np.mean([m[name] for m in members[-HEADLINE_WINDOW:]]))
            entry[f"final_{name}"] = float(last[name])
        results.append(entry)
    return results


def mean_and_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (0 for a single value)."""
    array = np.asarray(values, dtype=float)
    se = float(array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else 0.0
    return float(array.mean()), se


def summarize(rows: Iterable[dict[str, Any]], by: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard error over seeds, grouped by ``by``, of each run's headline metrics
    (last-5 means) and of its final evaluation (``final_<metric>``)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in run_results(rows):
        groups.setdefault(tuple(run[k] for k in by), []).append(run)
    summary = []
    for key, members in groups.items():
        entry = dict(zip(by, key))
        entry["seeds"] = len(members)
        for name in ("env_steps", "wall_s", "params"):
            entry[name] = float(np.mean([m[name] for m in members]))
        for name in (*METRICS, *(f"final_{m}" for m in METRICS)):
            entry[name], entry[f"{name}_se"] = mean_and_se([m[name] for m in members])
        entry["time_at_goal_iqm"], entry["time_at_goal_iqm_low"], entry["time_at_goal_iqm_high"] = stats.bootstrap_ci(
            {"runs": [m["time_at_goal"] for m in members]})
        summary.append(entry)
    return summary


INTERVALS_NOTE = ("IQM = interquartile mean of the runs' headlines (last-5 means); 95% intervals from a stratified "
                  "bootstrap (seeds resampled within each task); P(beats ...) = the chance a run of this row scores above "
                  "a run of the named one on the same task, averaged over tasks (Agarwal et al., 2021).")


def interval_section(title: str, rows: Iterable[dict[str, Any]], group: str = "depth", base: Any = None) -> list[str]:
    """Markdown lines: a ``## title`` section holding :data:`INTERVALS_NOTE` and :func:`interval_table`."""
    return ["", f"## {title}", "", INTERVALS_NOTE, "", *interval_table(rows, group=group, base=base)]


def interval_table(rows: Iterable[dict[str, Any]], group: str = "depth", task: str = "env_id",
                   base: Any = None) -> list[str]:
    """Markdown lines: per ``group`` value, the IQM of its runs' headline time at goal pooled over
    tasks with a 95% stratified bootstrap interval (seeds resampled within each task), and the
    probability that a run of it beats a run of ``base`` (default the smallest value) on the same task."""
    scores = group_scores(rows, group, task)
    values = sorted(scores)
    base = values[0] if base is None or base not in scores else base
    lines = [f"| {group} | tasks | runs | IQM time at goal [95% CI] | P(beats {group} {base}) [95% CI] |",
             "|---|---|---|---|---|"]
    for value in values:
        point, low, high = stats.bootstrap_ci(scores[value])
        if value == base:
            improvement = "-"
        else:
            p, p_low, p_high = stats.probability_of_improvement_ci(scores[value], scores[base])
            improvement = f"{p:.2f} [{p_low:.2f}, {p_high:.2f}]"
        runs = sum(len(v) for v in scores[value].values())
        lines.append(f"| {value} | {len(scores[value])} | {runs} | {point:.1f} [{low:.1f}, {high:.1f}] | {improvement} |")
    return lines


def group_scores(rows: Iterable[dict[str, Any]], group: str = "depth", task: str = "env_id",
                 scale: Callable[[dict[str, Any]], float] | None = None) -> dict[Any, dict[Any, list[float]]]:
    """``{group value: {task: headline time at goal of each run}}``, each divided by
    ``scale(run)`` where given (e.g. the episode length, to pool tasks on one scale)."""
    scores: dict[Any, dict[Any, list[float]]] = {}
    for run in run_results(rows):
        value = run["time_at_goal"] / (scale(run) if scale is not None else 1.0)
        scores.setdefault(run[group], {}).setdefault(run[task], []).append(value)
    return scores


def markdown_table(summary: Sequence[dict[str, Any]], by: Sequence[str]) -> list[str]:
    """Lines of a markdown table: the group keys, then the headline metrics (mean of each run's
    last 5 evaluations) and the final evaluation's time at goal, as mean ± s.e. over seeds."""
    header = [*by, "seeds", "params", "env steps", "train wall s", f"time at goal (last {HEADLINE_WINDOW})",
              "time at goal (final)", "success rate", "final distance", "time at goal IQM [95% CI]"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        cells = [str(s[k]) for k in by] + [str(s["seeds"]), f"{s['params']:,.0f}", f"{s['env_steps']:,.0f}",
                                            f"{s['wall_s']:,.0f}"]
        cells += [f"{s[m]:.1f} ± {s[m + '_se']:.1f}" for m in ("time_at_goal", "final_time_at_goal")]
        cells += [f"{s[m]:.2f} ± {s[m + '_se']:.2f}" for m in ("success_rate", "final_distance")]
        cells.append(f"{s['time_at_goal_iqm']:.1f} [{s['time_at_goal_iqm_low']:.1f}, {s['time_at_goal_iqm_high']:.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def mean_curves(rows: Iterable[dict[str, Any]], by: Sequence[str], x: str) -> dict[str, tuple[list, list, list]]:
    """``{label: (x, mean time at goal, s.e.)}`` over seeds, per group of ``by``, at each evaluation index."""
    runs: dict[tuple, dict[int, list[dict[str, Any]]]] = {}
    for row in rows:
        runs.setdefault(tuple(row[k] for k in by), {}).setdefault(row["seed"], []).append(row)
    curves = {}
    for key, seeds in runs.items():
        length = min(len(r) for r in seeds.values())
        xs, ys, ses = [], [], []
        for i in range(length):
            points = [sorted(r, key=lambda row: row["env_steps"])[i] for r in seeds.values()]
            mean, se = mean_and_se([p["time_at_goal"] for p in points])
            xs.append(float(np.mean([p[x] for p in points])))
            ys.append(mean)
            ses.append(se)
        curves[" ".join(f"{k}={v}" for k, v in zip(by, key))] = (xs, ys, ses)
    return curves
