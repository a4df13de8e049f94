"""Reproduce Table 1 of the paper (time at goal, depth 4 vs depth 64) with the paper's protocol.

Protocol, as in the paper: DeepCRL with the paper's hyperparameters (``--preset paper``)
trains every (task, depth, seed) for the task's env-step budget (100M, 200M or 400M; see
``gcrl_depth.paper.TABLE_1``), is evaluated every budget / 100 env steps on 128 fresh
1000-step episodes of the evaluation layout (the ``...Eval`` twin of a maze: its farthest
goals) with the deterministic policy, and scores the mean of its last 5 evaluations (the
headline); the table gives the mean ± standard error of the headline over seeds.

    python -m benchmarks.reproduce                                   # the whole table (GPU-months)
    python -m benchmarks.reproduce --tasks AntU4Maze Humanoid --depths 4 64 --num-seeds 5
    python -m benchmarks.reproduce --tasks AntU4Maze --budget-scale 0.01    # 1% of the budget

``--budget-scale`` shrinks every budget (and the evaluation interval with it, so every run
still has ~100 evaluations); ``--timesteps`` sets one explicit budget for every task.
``--physics spring`` steps the Ant and Humanoid tasks on brax's spring pipeline, as the paper
did (default: MJX; the tasks without spring are refused before any run, and stored runs are
reused only at the physics they ran on).
Each finished run is stored in ``<out>/runs/<task>_d<depth>_s<seed>.csv`` (with its
settings in a ``.json`` beside it) and is not run again: a table can be filled over
several sessions or machines (copy the ``runs`` folders together, then ``--report-only``).
Runs train in run folders ``<out>/runs/<task>_d<depth>_s<seeds>/`` (logs, metadata, a
checkpoint after every evaluation with the replay buffers, best and final models; see
:mod:`gcrl_depth.run_dirs`): a run killed or preempted (SIGTERM) mid-way continues from its
last evaluation when the same command runs again (``--no-resume`` starts it over).
Writes into ``--out`` (default ``benchmarks/results/reproduce_<platform>``): ``curves.csv``
(every evaluation of every run), ``table.md`` (ours beside the paper's, with the machine
and command) and ``table.png`` (bars per task and depth, ours beside the paper's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks import RESULTS_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gcrl_depth.cli.arg_types import add_seed_arguments, chosen_seeds
    from gcrl_depth.cli.config_flags import add_config_arguments, add_physics_argument
    from gcrl_depth.paper import PAPER_EVAL_EPISODES, PAPER_EVALUATIONS, PAPER_SEEDS, TABLE_1
    from gcrl_depth.run_dirs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TABLE_1), help="task names or ids (default: Table 1's)")
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 64])
    add_seed_arguments(parser, PAPER_SEEDS)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-scale", type=float, default=1.0, help="fraction of the paper's env-step budgets")
    budget.add_argument("--timesteps", type=int, default=None, help="one explicit env-step budget for every task")
    parser.add_argument("--evaluations", type=int, default=PAPER_EVALUATIONS, help="evaluations per run")
    parser.add_argument("--eval-episodes", type=int, default=PAPER_EVAL_EPISODES)
    parser.add_argument("--episode-length", type=int, default=None, help="task option (default: the task's 1000)")
    add_physics_argument(parser)
    parser.add_argument("--progress", action="store_true", help="show a progress bar per run")
    parser.add_argument("--serial", action="store_true",
                        help="train seeds one after another (default: a (task, depth)'s seeds as one run set)")
    parser.add_argument("--report-only", action="store_true", help="train nothing; write the table from stored runs")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    add_config_arguments(parser, default_preset="paper", exclude=("depth",))
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    for name in ("evaluations", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    try:
        args.seeds = chosen_seeds(args)
    except ValueError as error:
        parser.error(str(error))
    if not args.budget_scale > 0 or (args.timesteps is not None and args.timesteps < 1):
        parser.error("--budget-scale and --timesteps must be positive")
    return args


def budget_of(task: str, args: argparse.Namespace) -> int:
    """Env steps for ``task``: ``--timesteps``, else the paper's budget times ``--budget-scale``."""
    from gcrl_depth.paper import TABLE_1

    if args.timesteps is not None:
        return args.timesteps
    if task not in TABLE_1:
        raise SystemExit(f"{task} is not in Table 1, so it has no paper budget: pass --timesteps")
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


def train_runs(task: str, seeds: list[int], settings: dict, args: argparse.Namespace, out: Path) -> dict[int, list[dict]]:
    """The curve rows of ``seeds``: one run set, or one run after another with ``--serial``; trained in
    the run folder ``runs/<task>_d<depth>_s<seeds>/`` (resumed from it after an interruption)."""
    from gcrl_depth import experiments

    train_id, eval_id, env_kwargs = experiments.resolve_env(task, "eval", args.episode_length, args.physics)
    run_dir = out / "runs" / f"{task}_d{settings['depth']}_s{'-'.join(map(str, seeds))}"
    spec = experiments.RunSpec(train_id, settings["depth"], tuple(seeds), settings["timesteps"], settings["eval_every"],
                               settings["eval_episodes"], eval_id, env_kwargs, config=settings["config"])
    return experiments.train_runs(spec, serial=args.serial, progress_bar=args.progress, run_dir=run_dir,
                                  resume=args.resume, wandb_project=args.wandb)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth import experiments, reports
    from gcrl_depth.cli.config_flags import resolved_config
    from gcrl_depth.envs import task_name
    from gcrl_depth.files import atomic_write_text
    from gcrl_depth.rows import write_csv

    config = resolved_config(args)
    out = args.out or RESULTS_DIR / f"reproduce_{jax.devices()[0].platform}"
    tasks = [task_name(t) for t in args.tasks]
    experiments.resolve_envs(tasks, "eval", args.episode_length, args.physics)  # every task takes --physics, before any run
    experiments.check_configs((f"--depths {depth}", {**config, "depth": depth}) for depth in args.depths)
    rows, missing = [], []
    for task in tasks:
        for depth in args.depths:
            settings = run_settings(task, depth, args, config)
            stored = {seed: stored_run(run_path(out, task, depth, seed), settings) for seed in args.seeds}
            pending = [seed for seed, run in stored.items() if run is None]
            if pending and args.report_only:
                missing += [run_path(out, task, depth, seed).stem for seed in pending]
            elif pending:
                start = time.perf_counter()
                print(f"{task} depth {depth} seeds {pending}: training for {settings['timesteps']:,} env steps each"
                      + (" (one after another)" if args.serial else " (one run set)"), flush=True)
                for seed, run in train_runs(task, pending, settings, args, out).items():
                    if not run:
                        continue  # diverged before its first evaluation: not a finished run
                    path = run_path(out, task, depth, seed)
                    write_csv(run, path)
                    atomic_write_text(path.with_suffix(".json"), json.dumps(settings, indent=1))
                    stored[seed] = run
                    headline = reports.run_results(run)[0]["time_at_goal"]
                    print(f"{task} depth {depth} seed {seed}: time at goal {headline:.1f} (last-5 mean) after "
                          f"{run[-1]['env_steps']:,} env steps, {time.perf_counter() - start:.0f} s", flush=True)
            rows += [row for run in stored.values() if run for row in run]
    if not rows:
        raise SystemExit(f"no finished runs under {out / 'runs'}")
    write_csv(rows, out / "curves.csv")
    summary = reports.summarize(rows, ("env_id", "depth"))
    intervals = reports.interval_section("Interval estimates over tasks and seeds", rows)
    atomic_write_text(out / "table.md", "\n".join([*render_table(summary, args, config, missing, gcrl_depth.__version__),
                                                   *intervals]) + "\n")
    plot_table(summary, out / "table.png")
    print(f"wrote {out}" + (f" ({len(missing)} runs missing)" if missing else ""))
    return out


def _cell(mean: float, se: float, seeds: int | None = None) -> str:
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


def render_table(summary: list[dict], args: argparse.Namespace, config: dict, missing: list[str], version: str) -> list[str]:
    from gcrl_depth.machine import results_header
    from gcrl_depth.paper import TABLE_1

    depths = sorted({int(s["depth"]) for s in summary})
    low, high = depths[0], depths[-1]
    header = ["task", "env steps (paper's)"] + [f"depth {d}" for d in depths] + [f"gain {high}/{low}"]
    header += [f"paper depth {d}" for d in depths if d in (4, 64)] + ["paper gain 64/4"]
    lines = [
        *results_header("Table 1 reproduced: time at goal, DeepCRL depth 4 vs 64", "reproduce.py", version),
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
        cells = [task, budget] + [_cell(*ours[d]) if d in ours else "-" for d in depths] + [_gain(ours, low, high)]
        cells += [_cell(*paper[d]) if d in paper else "-" for d in depths if d in (4, 64)] + [_gain(paper, 4, 64)]
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


if __name__ == "__main__":
    main()
