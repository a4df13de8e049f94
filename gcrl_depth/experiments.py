"""Experiment runs shared by the comparison and depth-sweep scripts: learning curves as tidy rows.

Every run records one row per evaluation with the columns of :data:`COLUMNS`; ``wall_s``
is training time only (evaluation time excluded), so algorithms compare on what training
costs. :func:`summarize` aggregates the final evaluation of each run over seeds (mean and
standard error); :func:`write_csv` and :func:`markdown_table` write them out.
"""

from __future__ import annotations

import csv
import json
import os
import time
from typing import Any, Iterable, Sequence

import numpy as np

from gcrl_depth.evaluation import EvaluationResult, evaluate

COLUMNS = ("algo", "depth", "width", "env_id", "seed", "env_steps", "wall_s", "time_at_goal", "success_rate",
           "final_distance", "params")
METRICS = ("time_at_goal", "success_rate", "final_distance")


def _row(run: dict[str, Any], env_steps: int, wall_s: float, result: EvaluationResult) -> dict[str, Any]:
    return {**run, "env_steps": int(env_steps), "wall_s": round(wall_s, 3), "time_at_goal": result.time_at_goal,
            "success_rate": result.success_rate, "final_distance": result.final_distance}


def run_deep_crl(env_id: str, depth: int, seed: int, timesteps: int, eval_every: int, eval_episodes: int,
                 eval_env: str, env_kwargs: dict[str, Any] | None = None, **config: Any) -> list[dict[str, Any]]:
    """Train DeepCRL, evaluating every ``eval_every`` env steps; returns the curve rows.

    ``env_kwargs`` are task options (e.g. ``episode_length``) for training and evaluation."""
    import gymnasium as gym

    from gcrl_depth.crl.agent import DeepCRL
    from gcrl_depth.crl.config import CRLConfig

    env_kwargs = env_kwargs or {}
    env = gym.make_vec(env_id, num_envs=config.pop("num_envs", CRLConfig.num_envs), **env_kwargs)
    eval_envs = gym.make_vec(eval_env, num_envs=eval_episodes, **env_kwargs)
    model = DeepCRL(env, depth=depth, seed=seed, eval_env=eval_envs, eval_episodes=eval_episodes,
                    epoch_timesteps=eval_every, verbose=0, **config)
    params = sum(int(np.size(x)) for x in _leaves((model.learner()["actor_params"], model.learner()["critic_params"])))
    run = {"algo": "crl", "depth": depth, "width": model.config.width, "env_id": env_id, "seed": seed, "params": params}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()

    def record(locals_: dict, globals_: dict) -> bool:
        wall = time.perf_counter() - start - model.eval_seconds
        rows.append(_row(run, model.num_timesteps, wall, locals_["evaluation"]))
        return True

    model.learn(timesteps, callback=record)
    model.close()
    eval_envs.close()
    return rows


def run_sb3(algo: str, env_id: str, seed: int, timesteps: int, eval_every: int, eval_episodes: int, eval_env: str,
            env_kwargs: dict[str, Any] | None = None, depth: int | None = None, width: int = 256,
            **sb3_kwargs: Any) -> list[dict[str, Any]]:
    """Train an SB3 baseline with HER in chunks of ``eval_every`` env steps, evaluating after each."""
    import gymnasium as gym

    from gcrl_depth.baselines import make_baseline, sb3_policy

    env_kwargs = env_kwargs or {}
    model = make_baseline(algo, gym.make(env_id, **env_kwargs), seed=seed, depth=depth, width=width, **sb3_kwargs)
    eval_envs = gym.make_vec(eval_env, num_envs=eval_episodes, **env_kwargs)
    params = sum(p.numel() for p in model.policy.parameters())
    run = {"algo": algo, "depth": depth if depth is not None else 2, "width": width, "env_id": env_id, "seed": seed,
           "params": int(params)}
    rows, wall = [], 0.0
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


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["width=64", "remat=true"]`` -> ``{"width": 64, "remat": True}`` (values parsed as JSON, else strings)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def final_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last evaluation of every run (a run = algo, depth, width, env_id, seed and any extra keys)."""
    last: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple((k, v) for k, v in row.items() if k not in ("env_steps", "wall_s", *METRICS))
        if key not in last or row["env_steps"] >= last[key]["env_steps"]:
            last[key] = row
    return list(last.values())


def summarize(rows: Iterable[dict[str, Any]], by: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard error over seeds of each run's final evaluation, grouped by ``by``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in final_rows(rows):
        groups.setdefault(tuple(row[k] for k in by), []).append(row)
    summary = []
    for key, members in groups.items():
        entry = dict(zip(by, key))
        entry["seeds"] = len(members)
        for name in ("env_steps", "wall_s", "params"):
            entry[name] = float(np.mean([m[name] for m in members]))
        for name in METRICS:
            values = np.array([m[name] for m in members], dtype=float)
            entry[name] = float(values.mean())
            entry[f"{name}_se"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        summary.append(entry)
    return summary


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike, columns: Sequence[str] = COLUMNS) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    extra = [k for k in rows[0] if k not in columns] if rows else []
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*columns, *extra])
        writer.writeheader()
        writer.writerows(rows)
    return os.fspath(path)


def markdown_table(summary: Sequence[dict[str, Any]], by: Sequence[str]) -> list[str]:
    """Lines of a markdown table: the group keys, then the metrics as mean +- s.e."""
    header = [*by, "seeds", "params", "env steps", "train wall s", "time at goal", "success rate", "final distance"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        cells = [str(s[k]) for k in by] + [str(s["seeds"]), f"{s['params']:,.0f}", f"{s['env_steps']:,.0f}",
                                            f"{s['wall_s']:,.0f}"]
        cells += [f"{s[m]:.1f} ± {s[m + '_se']:.1f}" if m == "time_at_goal" else f"{s[m]:.2f} ± {s[m + '_se']:.2f}" for m in METRICS]
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
            values = np.array([p["time_at_goal"] for p in points], dtype=float)
            xs.append(float(np.mean([p[x] for p in points])))
            ys.append(float(values.mean()))
            ses.append(float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0)
        curves[" ".join(f"{k}={v}" for k, v in zip(by, key))] = (xs, ys, ses)
    return curves
