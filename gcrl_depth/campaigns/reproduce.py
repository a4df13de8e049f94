"""``gcrl-depth reproduce``: Table 1 of the paper (time at goal, depth 4 vs depth 64) with the paper's protocol.

Protocol, as in the paper: DeepCRL with the paper's hyperparameters (``--preset paper``)
trains every (task, depth, seed) for the task's env-step budget (100M, 200M or 400M; see
``gcrl_depth.paper.TABLE_1``), is evaluated every budget / 100 env steps on 128 fresh
1000-step episodes of the evaluation layout (the ``...Eval`` twin of a maze: its farthest
goals) with the deterministic policy, and scores the mean of its last 5 evaluations (the
headline); the table gives the mean ± standard error of the headline over seeds.

    gcrl-depth reproduce                                   # the whole table (GPU-months)
    gcrl-depth reproduce --tasks AntU4Maze Humanoid --depths 4 64 --num-seeds 5
    gcrl-depth reproduce --tasks AntU4Maze --budget-scale 0.01    # 1% of the budget
    gcrl-depth reproduce --shard 3/20 ...                  # the 3rd job of an array of 20 (docs/cluster.md)

``--budget-scale`` shrinks every budget (and the evaluation interval with it, so every run
still has ~100 evaluations); ``--timesteps`` sets one explicit budget for every task.
``--physics spring`` steps the Ant and Humanoid tasks on brax's spring pipeline, as the paper
did (default: MJX; the tasks without spring are refused before any run, and stored runs are
reused only at the physics they ran on).
A cell is a (task, depth) with its seeds. Each finished run is stored in ``<out>/runs/<task>_d<depth>_s<seed>.csv`` (with its
settings in a ``.json`` beside it) and is not run again: a table can be filled over
several sessions or machines (copy the ``runs`` folders together, then ``--report-only``).
Runs train in run folders ``<out>/runs/<task>_d<depth>_s<seeds>/`` (logs, metadata, a
checkpoint after every evaluation with the replay buffers, best and final models; see
:mod:`gcrl_depth.run_dirs`): a run killed or preempted (SIGTERM) mid-way continues from its
last evaluation when the same command runs again (``--no-resume`` starts it over).
Writes into ``--out`` (default ``results/reproduce_<platform>``): ``curves.csv``
(every evaluation of every run), ``table.md`` (ours beside the paper's, with the machine
and command) and ``table.png`` (bars per task and depth, ours beside the paper's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gcrl_depth import experiments
from gcrl_depth.campaigns.cells import Cell, Outcome


def budget_of(task: str, args: argparse.Namespace) -> int:
    """Env steps for ``task``: ``--timesteps``, else the paper's budget times ``--budget-scale``."""
    from gcrl_depth.paper import TABLE_1

    if args.timesteps is not None:
        return args.timesteps
    if task not in TABLE_1:
        raise ValueError(f"--tasks {task}: not in Table 1, so it has no paper budget; pass --timesteps")
    return max(1, round(TABLE_1[task].budget * args.budget_scale))


def run_settings(task: str, depth: int, args: argparse.Namespace, config: dict) -> dict:
    """Everything that defines a run besides its seed; a stored run is reused only if these match
    (``physics`` only for ``--physics spring``: a run stored without it ran on MJX, the default)."""
    budget = budget_of(task, args)
    physics = {} if args.physics in (None, "mjx") else {"physics": args.physics}
    return {"task": task, "depth": depth, "timesteps": budget, "eval_every": max(1, budget // args.evaluations),
            "eval_episodes": args.eval_episodes, "episode_length": args.episode_length, **physics, "config": config}


def run_path(out: Path, task: str, depth: int, seed: int) -> Path:
    return out / "runs" / f"{task}_d{depth}_s{seed}.csv"


def stored_run(path: Path, settings: dict) -> list[dict] | None:
    """The rows of a finished run with these settings, None if it has not run (or its files are
    half-written, cut or corrupt: said, naming the file, and the run is trained again); an error
    if it ran with other settings."""
    from gcrl_depth.rows import read_csv

    if not path.exists():
        return None
    try:
        stored = json.loads(path.with_suffix(".json").read_text())
        rows = read_csv(path)
        if not rows:
            raise ValueError(f"{path} holds no evaluations")
    except FileNotFoundError:
        return _unfinished(path, f"its settings file {path.with_suffix('.json').name} is missing (half-written)")
    except json.JSONDecodeError as error:
        return _unfinished(path, f"its settings file {path.with_suffix('.json').name} is not valid JSON ({error})")
    except ValueError as error:
        return _unfinished(path, str(error).replace(f"{path}", "the file"))
    settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
    if stored != settings:
        changed = sorted(k for k in {*stored, *settings} if stored.get(k) != settings.get(k))
        raise SystemExit(f"{path} was run with other settings ({', '.join(changed)}: {[stored.get(k) for k in changed]} "
                         f"vs {[settings.get(k) for k in changed]}); use another --out or delete it")
    return rows


def _unfinished(path: Path, why: str) -> None:
    print(f"{path}: {why}; counted as not run, trained again", flush=True)
    return None


def cells(args: argparse.Namespace, config: dict[str, Any], out: Path) -> list[Cell]:
    """One cell per (task, depth) of Table 1's list, its seeds as one run set; each seed's finished
    run is also kept on its own (``runs/<task>_d<depth>_s<seed>.csv``), so a cell trains only the
    seeds it lacks."""
    from gcrl_depth.envs import task_name

    tasks = [task_name(t) for t in args.tasks]
    resolved = dict(zip(tasks, experiments.resolve_envs(tasks, "eval", args.episode_length, args.physics)))
    experiments.check_configs((f"--depths {depth}", {**config, "depth": depth}) for depth in args.depths)
    return [_cell(task, depth, resolved[task], run_settings(task, depth, args, config), args, out)
            for task in tasks for depth in args.depths]


def _cell(task: str, depth: int, env: tuple, settings: dict, args: argparse.Namespace, out: Path) -> Cell:
    def stored() -> dict[int, list[dict] | None]:
        return {seed: stored_run(run_path(out, task, depth, seed), settings) for seed in args.seeds}

    def finished() -> experiments.Rows | None:
        runs = stored()
        return None if any(run is None for run in runs.values()) else runs  # type: ignore[return-value]

    def train() -> experiments.Rows:
        from gcrl_depth.files import atomic_write_text
        from gcrl_depth.rows import write_csv

        runs = stored()
        pending = [seed for seed, run in runs.items() if run is None]
        print(f"{task} depth {depth} seeds {pending}: training for {settings['timesteps']:,} env steps each"
              + (" (one after another)" if args.serial else " (one run set)"), flush=True)
        train_id, eval_id, env_kwargs = env
        spec = experiments.RunSpec(train_id, depth, tuple(pending), settings["timesteps"], settings["eval_every"],
                                   settings["eval_episodes"], eval_id, env_kwargs, config=settings["config"])
        folder = out / "runs" / f"{task}_d{depth}_s{'-'.join(map(str, pending))}"
        for seed, run in experiments.train_runs(spec, serial=args.serial, progress_bar=args.progress, run_dir=folder,
                                                resume=args.resume, wandb_project=args.wandb).items():
            if run:  # one diverged before its first evaluation is not a finished run
                path = run_path(out, task, depth, seed)
                write_csv(run, path)
                atomic_write_text(path.with_suffix(".json"), json.dumps(settings, indent=1))
                runs[seed] = run
        return {seed: run for seed, run in runs.items() if run}

    return Cell(f"{task}_d{depth}", train, finished, out / "runs" / f"{task}_d{depth}")  # the lock of every seed's folder


def report(args: argparse.Namespace, config: dict[str, Any], outcome: Outcome, out: Path, command: str) -> None:
    """``curves.csv``, ``table.md`` (ours beside the paper's) and ``table.png`` from every finished run."""
    import gcrl_depth
    from gcrl_depth import reports
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    rows = outcome.all_rows()
    for name in outcome.missing:  # a cell some of whose seeds have finished counts those
        task, depth = name.rsplit("_d", 1)
        settings = run_settings(task, int(depth), args, config)
        rows += [row for seed in args.seeds for row in stored_run(run_path(out, task, int(depth), seed), settings) or []]
    missing = [run_path(out, task, int(depth), seed).stem for name in outcome.missing
               for task, depth in [name.rsplit("_d", 1)] for seed in args.seeds
               if not run_path(out, task, int(depth), seed).exists()]
    if not rows:
        raise SystemExit(f"no finished runs under {out / 'runs'}")
    write_csv(rows, out / "curves.csv")
    summary = reports.summarize(rows, ("env_id", "depth"))
    intervals = reports.interval_section("Interval estimates over tasks and seeds", rows)
    atomic_write_text(out / "table.md", "\n".join([*render_table(summary, args, config, missing, gcrl_depth.__version__,
                                                                 command), *intervals]) + "\n")
    plot_table(summary, out / "table.png")


def _format(mean: float, se: float, seeds: int | None = None) -> str:
    return f"{mean:.1f} ± {se:.1f}" + ("" if seeds is None else f" ({seeds})")


def table_rows(summary: list[dict]) -> list[dict]:
    """Per task: ours and the paper's (mean, s.e.) at each depth, sorted in Table 1's order."""
    from gcrl_depth.envs import task_name
    from gcrl_depth.paper import TABLE_1

    order = list(TABLE_1)
    tasks: dict[str, dict] = {}
    for s in summary:
        task = task_name(s["env_id"])
        entry = tasks.setdefault(task, {"task": task, "ours": {}, "paper": {}, "env_steps": s["env_steps"]})
        entry["ours"][int(s["depth"])] = (s["time_at_goal"], s["time_at_goal_se"], s["seeds"])
        if task in TABLE_1 and TABLE_1[task].at_depth(int(s["depth"])) is not None:
            entry["paper"][int(s["depth"])] = TABLE_1[task].at_depth(int(s["depth"]))
    return sorted(tasks.values(), key=lambda e: order.index(e["task"]) if e["task"] in order else len(order))


def _gain(by_depth: dict[int, tuple], low: int, high: int) -> str:
    if low not in by_depth or high not in by_depth:
        return "-"
    return "-" if by_depth[low][0] <= 0 else f"{by_depth[high][0] / by_depth[low][0]:.1f}x"


def render_table(summary: list[dict], args: argparse.Namespace, config: dict, missing: list[str], version: str,
                 command: str = "gcrl-depth reproduce") -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.paper import TABLE_1

    depths = sorted({int(s["depth"]) for s in summary})
    low, high = depths[0], depths[-1]
    header = ["task", "env steps (paper's)"] + [f"depth {d}" for d in depths] + [f"gain {high}/{low}"]
    header += [f"paper depth {d}" for d in depths if d in (4, 64)] + ["paper gain 64/4"]
    lines = [
        *results_header("Table 1 reproduced: time at goal, DeepCRL depth 4 vs 64", "", version, command=command),
        f"Protocol: evaluation every budget / {args.evaluations} env steps on {args.eval_episodes} fresh episodes of "
        f"{args.episode_length or 1000} steps (the evaluation layout for mazes), deterministic policy; a run's score is "
        "the mean of its last 5 evaluations; cells are mean ± standard error over seeds (number of seeds). "
        f"DeepCRL preset `{args.preset}`, overrides of the paper's defaults: {config or 'none'}; "
        f"physics {args.physics or 'mjx'}. "
        "Paper: Table 1 of Wang et al. (NeurIPS 2025), 5 seeds, brax physics for ant and humanoid and its own arm; "
        "see the README's \"Differences from the paper's code\" before comparing numbers.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for entry in table_rows(summary):
        task, ours, paper = entry["task"], entry["ours"], entry["paper"]
        budget = f"{entry['env_steps']:,.0f}" + (f" ({TABLE_1[task].budget:,})" if task in TABLE_1 else " (-)")
        cells = [task, budget] + [_format(*ours[d]) if d in ours else "-" for d in depths] + [_gain(ours, low, high)]
        cells += [_format(*paper[d]) if d in paper else "-" for d in depths if d in (4, 64)] + [_gain(paper, 4, 64)]
        lines.append("| " + " | ".join(cells) + " |")
    if missing:
        lines += ["", f"Missing runs (not yet trained): {', '.join(missing)}."]
    return lines


def plot_table(summary: list[dict], path: Path) -> None:
    """One panel per task: time at goal per depth, ours (solid) beside the paper's (hatched), ± s.e."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    entries = table_rows(summary)
    depths = sorted({int(s["depth"]) for s in summary})
    cols = min(5, len(entries))
    rows = -(-len(entries) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), dpi=120, squeeze=False)
    for ax, entry in zip(axes.flat, entries):
        for i, depth in enumerate(depths):
            color = plt.cm.viridis(i / max(1, len(depths) - 1))
            if depth in entry["ours"]:
                mean, se, _ = entry["ours"][depth]
                ax.bar(2 * i, mean, yerr=se, color=color, capsize=3, label="ours" if i == 0 else None)
            if depth in entry["paper"]:
                mean, se = entry["paper"][depth]
                ax.bar(2 * i + 0.9, mean, yerr=se, color=color, alpha=0.45, hatch="//", capsize=3,
                       label="paper" if i == 0 else None)
        ax.set_xticks([2 * i + 0.45 for i in range(len(depths))], [f"d{d}" for d in depths])
        ax.set_title(entry["task"], fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(entries):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("time at goal")
    axes.flat[0].legend(fontsize="x-small")
    fig.suptitle("Time at goal (last-5 mean ± s.e.): ours solid, paper hatched", fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
