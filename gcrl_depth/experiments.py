"""Experiment runs shared by the comparison and depth-sweep scripts: learning curves as tidy rows.

Every run records one row per evaluation with the columns of :data:`COLUMNS`; ``wall_s``
is training time only (evaluation time excluded), so algorithms compare on what training
costs. :func:`summarize` aggregates each run's headline (the mean of its last 5 evaluations,
as the paper reports) and its final evaluation over seeds (mean and standard error);
:func:`write_csv` and :func:`markdown_table` write them out.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from gcrl_depth import stats
from gcrl_depth.evaluation import HEADLINE_WINDOW, EvaluationResult, evaluate
from gcrl_depth.files import atomic_write_text

COLUMNS = ("algo", "depth", "width", "env_id", "seed", "env_steps", "wall_s", "time_at_goal", "success_rate",
           "final_distance", "params")
METRICS = ("time_at_goal", "success_rate", "final_distance")
# A probe measures a model at each evaluation: {"name/metric": value}; keys with "/" are measurements, not run keys.
Probe = Callable[[Any], dict[str, float]]


def _row(run: dict[str, Any], env_steps: int, wall_s: float, result: EvaluationResult) -> dict[str, Any]:
    return {**run, "env_steps": int(env_steps), "wall_s": round(wall_s, 3), "time_at_goal": result.time_at_goal,
            "success_rate": result.success_rate, "final_distance": result.final_distance}


def resolve_env(name: str, eval_goals: str = "train", episode_length: int | None = None) -> tuple[str, str, dict[str, Any]]:
    """(training id, evaluation id, env kwargs) of a gcrl_depth task name or id, or of any Gymnasium goal env id.

    ``eval_goals="eval"`` picks a gcrl_depth maze's ``...Eval`` twin; ``episode_length``
    becomes the task option of a gcrl_depth task and ``max_episode_steps`` of another env.
    """
    from gcrl_depth.envs import env_id, eval_env_id, is_gcrl_id, task_name
    from gcrl_depth.goal_envs import registered_spec

    if is_gcrl_id(name):
        task = task_name(name)
        kwargs = {} if episode_length is None else {"episode_length": episode_length}
        return env_id(task), eval_env_id(task) if eval_goals == "eval" else env_id(task), kwargs
    train_id = registered_spec(name).id
    return train_id, train_id, {} if episode_length is None else {"max_episode_steps": episode_length}


def short_name(env_id: str) -> str:
    """A file-name friendly name of an env id: ``gcrl_depth/PointUMaze-v0`` -> ``PointUMaze``; others kept whole."""
    from gcrl_depth.envs import is_gcrl_id, task_name

    return task_name(env_id) if is_gcrl_id(env_id) else env_id.replace("/", "_")


def run_deep_crl(env_id: str, depth: int, seed: int, timesteps: int, eval_every: int, eval_episodes: int,
                 eval_env: str, env_kwargs: dict[str, Any] | None = None, progress_bar: bool = False,
                 eval_env_kwargs: dict[str, Any] | None = None, probe: Probe | None = None,
                 **config: Any) -> list[dict[str, Any]]:
    """Train DeepCRL, evaluating every ``eval_every`` env steps; returns the curve rows.

    ``env_kwargs`` are task options (e.g. ``episode_length``) for training and, unless
    ``eval_env_kwargs`` are given, evaluation; ``progress_bar`` shows DeepCRL's bar;
    ``probe(model)`` adds its measurements (``"name/metric"`` keys) to every row."""
    from gcrl_depth.crl.agent import DeepCRL
    from gcrl_depth.crl.config import CRLConfig
    from gcrl_depth.goal_envs import vector_goal_env

    env_kwargs = env_kwargs or {}
    env = vector_goal_env(env_id, config.pop("num_envs", CRLConfig.num_envs), **env_kwargs)
    eval_envs = vector_goal_env(eval_env, eval_episodes, **(env_kwargs if eval_env_kwargs is None else eval_env_kwargs))
    model = DeepCRL(env, depth=depth, seed=seed, eval_env=eval_envs, eval_episodes=eval_episodes,
                    epoch_timesteps=eval_every, verbose=0, **config)
    params = sum(int(np.size(x)) for x in _leaves((model.learner.params.actor, model.learner.params.critic)))
    run = {"algo": "crl", "depth": depth, "width": model.config.width, "env_id": env_id, "seed": seed, "params": params}
    rows: list[dict[str, Any]] = []
    start, probe_seconds = time.perf_counter(), 0.0

    def record(locals_: dict, globals_: dict) -> bool:
        nonlocal probe_seconds
        wall = time.perf_counter() - start - model.eval_seconds - probe_seconds  # training time only
        probed = time.perf_counter()
        measured = probe(model) if probe else {}
        probe_seconds += time.perf_counter() - probed
        unnamed = sorted(k for k in measured if "/" not in k)
        if unnamed:
            raise ValueError(f"probe measurements need 'name/metric' keys (e.g. 'near/time_at_goal'), got {unnamed}")
        rows.append({**_row(run, model.num_timesteps, wall, locals_["evaluation"]), **measured})
        return True

    model.learn(timesteps, callback=record, progress_bar=progress_bar)
    model.close()
    env.close()
    eval_envs.close()
    return rows


def run_deep_crl_set(env_id: str, depth: int, seeds: Sequence[int], timesteps: int, eval_every: int, eval_episodes: int,
                     eval_env: str, env_kwargs: dict[str, Any] | None = None, progress_bar: bool = False,
                     eval_env_kwargs: dict[str, Any] | None = None, probe: Probe | None = None,
                     on_evaluation: Callable[[dict[int, list[dict[str, Any]]]], None] | None = None,
                     time_limit_s: float | None = None, **config: Any) -> dict[int, list[dict[str, Any]]]:
    """:func:`run_deep_crl` for several seeds as one run set (one vmapped program); the curve rows by seed.

    ``wall_s`` is the run set's training time, shared by its seeds (a seed's own cost is
    that divided by the number of seeds). ``on_evaluation(rows)`` sees the rows so far after
    every evaluation (to write them as they come); with ``time_limit_s`` the set stops at
    the first evaluation after that many seconds (compile included), short of ``timesteps``."""
    from gcrl_depth.crl.config import CRLConfig
    from gcrl_depth.crl.run_set import RunSet
    from gcrl_depth.goal_envs import vector_goal_env

    env_kwargs = env_kwargs or {}
    env = vector_goal_env(env_id, config.pop("num_envs", CRLConfig.num_envs), **env_kwargs)
    eval_envs = vector_goal_env(eval_env, eval_episodes, **(env_kwargs if eval_env_kwargs is None else eval_env_kwargs))
    runs = RunSet(env, depth=depth, seeds=list(seeds), eval_env=eval_envs, eval_episodes=eval_episodes,
                  epoch_timesteps=eval_every, **config)
    first = runs.members[0]
    params = sum(int(np.size(x)) for x in _leaves((first.learner.params.actor, first.learner.params.critic)))
    rows: dict[int, list[dict[str, Any]]] = {seed: [] for seed in runs.seeds}
    start, probe_seconds = time.perf_counter(), 0.0

    def record(run_set: Any) -> bool:
        nonlocal probe_seconds
        wall = time.perf_counter() - start - first.eval_seconds * len(run_set.members) - probe_seconds
        for member in run_set.members:
            if member.seed in run_set.diverged:
                continue
            probed = time.perf_counter()
            measured = probe(member) if probe else {}
            probe_seconds += time.perf_counter() - probed
            run = {"algo": "crl", "depth": depth, "width": member.config.width, "env_id": env_id, "seed": member.seed,
                   "params": params}
            rows[member.seed].append({**_row(run, member.num_timesteps, wall, member.evaluations.results[-1]), **measured})
        if on_evaluation is not None:
            on_evaluation(rows)
        return time_limit_s is None or time.perf_counter() - start < time_limit_s

    try:
        runs.learn(timesteps, callback=record, progress_bar=progress_bar)
    finally:
        runs.close()
        env.close()
        eval_envs.close()
    for seed, why in runs.diverged.items():
        print(f"{env_id} depth {depth} seed {seed} diverged: {why}", flush=True)
    return rows


def check_configs(configs: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Every DeepCRL config of a multi-run command built before its first run: ``(label, config)``
    pairs (the label names the flag and value, e.g. ``"--depths 6"``); a bad one raises a
    SystemExit naming its label, so no run is trained and thrown away before it shows."""
    from gcrl_depth.crl.config import CRLConfig

    for label, config in configs:
        try:
            CRLConfig.from_dict(config)
        except (TypeError, ValueError) as error:
            raise SystemExit(f"{label}: {error}") from None


def run_deep_crl_seeds(env_id: str, depth: int, seeds: Sequence[int], *args: Any, serial: bool = False,
                       **kwargs: Any) -> dict[int, list[dict[str, Any]]]:
    """The curve rows of ``seeds`` by seed: one run set (:func:`run_deep_crl_set`), or with
    ``serial`` (and for envs stepped on the host, which run sets do not take) one
    :func:`run_deep_crl` after another. Other arguments as those take them."""
    from gcrl_depth.envs import is_gcrl_id

    if serial or not is_gcrl_id(env_id):
        return {seed: run_deep_crl(env_id, depth, seed, *args, **kwargs) for seed in seeds}
    return run_deep_crl_set(env_id, depth, seeds, *args, **kwargs)


def run_sb3(algo: str, env_id: str, seed: int, timesteps: int, eval_every: int, eval_episodes: int, eval_env: str,
            env_kwargs: dict[str, Any] | None = None, depth: int | None = None, width: int = 256,
            **sb3_kwargs: Any) -> list[dict[str, Any]]:
    """Train an SB3 baseline with HER in chunks of ``eval_every`` env steps, evaluating after each."""
    import gymnasium as gym

    from gcrl_depth.baselines import make_baseline, sb3_policy
    from gcrl_depth.goal_envs import vector_goal_env

    env_kwargs = env_kwargs or {}
    model = make_baseline(algo, gym.make(env_id, **env_kwargs), seed=seed, depth=depth, width=width, **sb3_kwargs)
    eval_envs = vector_goal_env(eval_env, eval_episodes, **env_kwargs)
    params = sum(p.numel() for p in model.policy.parameters())
    run = {"algo": algo, "depth": depth if depth is not None else 2, "width": width, "env_id": env_id, "seed": seed,
           "params": int(params)}
    rows: list[dict[str, Any]] = []
    wall = 0.0
    while model.num_timesteps < timesteps:
        start = time.perf_counter()
        model.learn(min(eval_every, timesteps - model.num_timesteps), reset_num_timesteps=False)
        wall += time.perf_counter() - start
        result = evaluate(sb3_policy(model), eval_envs, seed=seed * 7919 + len(rows))
        rows.append(_row(run, model.num_timesteps, wall, result))
    eval_envs.close()
    return rows


def _leaves(tree: Any) -> list[Any]:
    import jax

    return jax.tree_util.tree_leaves(tree)


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


def interval_table(rows: Iterable[dict[str, Any]], group: str = "depth", task: str = "env_id") -> list[str]:
    """Markdown lines: per ``group`` value, the IQM of its runs' headline time at goal pooled over
    tasks with a 95% stratified bootstrap interval (seeds resampled within each task), and the
    probability that a run of it beats a run of the first (smallest) value on the same task."""
    scores: dict[Any, dict[Any, list[float]]] = {}
    for run in run_results(rows):
        scores.setdefault(run[group], {}).setdefault(run[task], []).append(run["time_at_goal"])
    values = sorted(scores)
    base = values[0]
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


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike, columns: Sequence[str] = COLUMNS) -> str:
    """Write tidy rows (``columns`` first, then any extra keys) atomically."""
    extra = [k for k in rows[0] if k not in columns] if rows else []
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[*columns, *extra])
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, text.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows written by :func:`write_csv`, numbers parsed back (ints, floats; other cells stay strings).

    Raises:
        ValueError: naming the file and line, for a row with more or fewer cells than the header
            (a file cut mid-row, or not one of these).
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for row in reader:
            if None in row or None in row.values():
                raise ValueError(f"{os.fspath(path)}, line {reader.line_num}: {len(reader.fieldnames or [])} columns "
                                 "expected (the file is cut or damaged)")
            rows.append({k: _parse_cell(v) for k, v in row.items()})
        return rows


def _parse_cell(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


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
