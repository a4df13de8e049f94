"""The paper's stitching test: train on nearby start-goal pairs, evaluate on far ones.

Training draws start and goal as a pair of free cells at most ``max_cells`` maze (BFS) cells
apart (the maze envs' ``max_pair_cells`` option); evaluation draws pairs at least
``max_cells + 1`` apart (``min_pair_cells``), which the agent never saw as a task. Reaching
them means stitching learned pieces together. Every evaluation also measures the training
distribution (``near/...``) so a far-pair failure can be told apart from not learning at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gcrl_depth import experiments, reports
from gcrl_depth.rows import write_csv

STITCHING_CELLS = 3  # the paper's bound on training pairs
NEAR_METRICS = ("near/time_at_goal", "near/success_rate")


def stitching_options(max_cells: int = STITCHING_CELLS) -> tuple[dict[str, int], dict[str, int]]:
    """Task options of the training env (near pairs) and of the evaluation env (far pairs)."""
    return {"max_pair_cells": max_cells}, {"min_pair_cells": max_cells + 1}


def check_stitching(env: str, depths: Sequence[int], max_cells: int, **config: Any) -> str:
    """Every argument of a stitching sweep checked before its first run, in the user's terms: the
    task (a maze), each depth with the config, and ``max_cells`` against the maze's distances
    (near pairs at most ``max_cells`` apart, far ones farther). Returns the task's name."""
    from gcrl_depth.crl.engine.config import CRLConfig
    from gcrl_depth.envs import TASKS, task_name
    from gcrl_depth.envs.mazes import LAYOUTS, WALL, cell_distances, parse_layout

    task = task_name(env)
    if "layout" not in TASKS[task][1]:
        raise ValueError(f"the stitching test needs a maze task (PointBigMaze, AntBigMaze, ...); {task} has no maze")
    for depth in depths:
        try:
            CRLConfig(depth=depth, **config)
        except ValueError as error:
            raise ValueError(f"--depths {depth}: {error}") from None
    if isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 1:
        raise ValueError(f"--max-cells must be a positive number of maze cells, got {max_cells!r}")
    grid = parse_layout(LAYOUTS[TASKS[task][1]["layout"]])
    farthest = max(int(cell_distances(grid, tuple(cell)).max()) for cell in np.argwhere(grid != WALL))
    if max_cells >= farthest:
        raise ValueError(f"--max-cells {max_cells}: {task}'s farthest two cells are {farthest} cells apart, so no far "
                         f"pairs (more than {max_cells} apart) are left to evaluate on; expected 1 to {farthest - 1}")
    return task


def stitching_runs(env: str, depth: int, seeds: Sequence[int], timesteps: int, eval_every: int, eval_episodes: int,
                   max_cells: int = STITCHING_CELLS, episode_length: int | None = None, progress_bar: bool = False,
                   serial: bool = False, run_dir: str | os.PathLike | None = None, resume: bool = True,
                   wandb_project: str | None = None, physics: str | None = None,
                   **config: Any) -> dict[int, list[dict[str, Any]]]:
    """Train DeepCRL on near pairs of a gcrl_depth maze task, the seeds as one run set (or one after
    another with ``serial``); returns each seed's rows, one per evaluation, with the far pairs'
    metrics (the protocol's measure) and the near pairs' (``near/...``). ``run_dir``, ``resume``
    and ``wandb_project`` as :func:`~gcrl_depth.experiments.train_runs` takes them; ``physics``
    (``"mjx"`` or ``"spring"``; default the task's own) is a task option of every env."""
    from gcrl_depth.envs import env_id
    from gcrl_depth.goal_envs import vector_goal_env

    task = check_stitching(env, [depth], max_cells, **config)
    _, _, length = experiments.resolve_env(task, episode_length=episode_length, physics=physics)
    near, far = ({**options, **length} for options in stitching_options(max_cells))
    near_envs = vector_goal_env(env_id(task), eval_episodes, **near)

    def near_pairs(model: Any) -> dict[str, float]:
        result = model.evaluate(seed=model.seed + 10_000 * model.num_timesteps, env=near_envs)
        return {"near/time_at_goal": result.time_at_goal, "near/success_rate": result.success_rate}

    try:
        spec = experiments.RunSpec(env_id(task), depth, tuple(seeds), timesteps, eval_every, eval_episodes,
                                   env_kwargs=near, eval_env_kwargs=far, config=config)
        runs = experiments.train_runs(spec, serial=serial, progress_bar=progress_bar, probe=near_pairs, run_dir=run_dir,
                                      resume=resume, wandb_project=wandb_project)
    finally:
        near_envs.close()
    return {seed: [{**row, "max_pair_cells": max_cells} for row in rows] for seed, rows in runs.items()}


def summarize(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per depth: far-pair headline metrics as :func:`reports.summarize` gives them, and the
    near-pair metrics of the final evaluation (mean and s.e. over seeds)."""
    summary = reports.summarize(rows, ("depth",))
    finals = reports.run_results(rows)  # each run's last row, its near-pair measurements included
    for entry in summary:
        for name in NEAR_METRICS:
            entry[name], entry[f"{name}_se"] = reports.mean_and_se(
                [run[name] for run in finals if run["depth"] == entry["depth"]])
    return sorted(summary, key=lambda s: s["depth"])


def markdown_table(summary: Sequence[dict[str, Any]]) -> list[str]:
    """Lines of a markdown table: per depth, far and near pairs at the final evaluation (mean ± s.e. over seeds)."""
    lines = ["| depth | seeds | params | train wall s | far: time at goal | far: success rate | "
             "near: time at goal | near: success rate |", "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['depth']} | {s['seeds']} | {s['params']:,.0f} | {s['wall_s']:,.0f} | "
                     f"{s['final_time_at_goal']:.1f} ± {s['final_time_at_goal_se']:.1f} | "
                     f"{s['final_success_rate']:.2f} ± {s['final_success_rate_se']:.2f} | "
                     f"{s['near/time_at_goal']:.1f} ± {s['near/time_at_goal_se']:.1f} | "
                     f"{s['near/success_rate']:.2f} ± {s['near/success_rate_se']:.2f} |")
    return lines


def plot_stitching(summary: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> str:
    """Bars per depth: success rate on the near (training) pairs and on the far (stitched) pairs."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    depths = [str(s["depth"]) for s in summary]
    x = range(len(depths))
    fig, ax = plt.subplots(figsize=(5.6, 3.8), dpi=120)
    for offset, (name, label) in zip((-0.2, 0.2), (("near/success_rate", "near pairs (trained on)"),
                                                    ("final_success_rate", "far pairs (stitching)"))):
        ax.bar([i + offset for i in x], [s[name] for s in summary], width=0.4, label=label,
               yerr=[s[f"{name}_se"] for s in summary], capsize=4)
    ax.set_xticks(list(x), depths)
    ax.set_xlabel("depth")
    ax.set_ylabel("success rate (final evaluation)")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "stitching: mean ± s.e. over seeds")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


RESULT_FILES = ("curves.csv", "summary.md", "stitching.png")  # what write_results writes


def write_results(rows: Sequence[dict[str, Any]], out: str | os.PathLike, header: Sequence[str] = ()) -> Path:
    """``curves.csv``, ``summary.md`` (``header`` lines, then the table) and ``stitching.png`` into ``out``."""
    from gcrl_depth.files import atomic_write_text

    out = Path(out)
    write_csv(rows, out / "curves.csv")
    summary = summarize(rows)
    plot_stitching(summary, out / "stitching.png", title=f"{experiments.short_name(rows[0]['env_id'])}: stitching")
    lines = [*header, "", *markdown_table(summary)]
    if len(summary) > 1:
        lines += reports.interval_section("Depths compared on the far pairs: interval estimates over seeds", rows)
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    return out
