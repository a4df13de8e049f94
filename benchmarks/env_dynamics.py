"""Passive and random-action dynamics of the legged robots, against the paper's envs.

For each env it runs ``--num-envs`` episodes of ``--steps`` control steps with the pure
core's ``transition`` (no auto-reset: an episode's first termination is recorded and the
rollout goes on), twice: under uniform random actions in [-1, 1] and under zero action.
It reports

* random actions: the fraction of episodes terminated and why (torso below or above the
  healthy height), the mean and median episode length (steps to the first termination,
  or ``--steps``), the median torso xy displacement after 10 / 50 / 200 steps (over the
  episodes still alive then), and the ants that flipped (torso upside down) and were still
  alive at the end;
* zero action: the first termination, in steps and seconds (median and range over envs),
  and the torso height at the end;

with the paper's figures (``gcrl_depth.paper.DYNAMICS``) beside ours, into
``benchmarks/results/env_dynamics_<platform>.md`` and a survival chart (``.png``: fraction
of episodes alive against time in seconds). Only robots with a free-floating root (ant,
humanoid) can fall, so only their ids are accepted.

Each env runs under every ``--physics`` (MJX and brax's spring pipeline by default; spring
needs the extra ``spring``); the table says, per row, whether it lies within the paper's
reference: termination rate within 0.15, random-episode and zero-action fall times within 35%.

    python -m benchmarks.env_dynamics --envs Ant AntBigMaze Humanoid HumanoidUMaze --physics mjx spring
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import RESULTS_DIR

DISPLACEMENT_STEPS = (10, 50, 200)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["Ant", "AntBigMaze", "Humanoid", "HumanoidUMaze"],
                        help="ant or humanoid task names or ids")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000, help="control steps per episode")
    parser.add_argument("--physics", nargs="+", default=["mjx", "spring"], choices=["mjx", "spring"],
                        help="physics pipelines to measure (spring needs the extra 'spring')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output markdown file")
    args = parser.parse_args(argv)
    if args.num_envs < 1 or args.steps < 1:
        parser.error(f"--num-envs and --steps must be positive, got {args.num_envs} and {args.steps}")
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    import jax

    import gcrl_depth
    from gcrl_depth.envs import make_core, task_name
    from gcrl_depth.files import atomic_write_text

    results = []
    for name in [task_name(e) for e in args.envs]:
        for physics in args.physics:
            core = make_core(name, episode_length=args.steps, physics=physics)
            if core.mj_model.nq < 7 or core.mj_model.jnt_type[0] != 0:  # mjJNT_FREE
                raise SystemExit(f"{name}: env_dynamics measures robots with a free-floating root (ant, humanoid)")
            rollout = jax.jit(make_rollout(core, args.num_envs, args.steps))
            key = jax.random.key(args.seed)
            result = {"env": name, "physics": physics, "dt": core.dt}
            for mode, scale in (("random", 1.0), ("zero", 0.0)):
                trace = jax.device_get(rollout(key, scale))
                result[mode] = summarize_trace(trace, core, args.steps)
            result["reference"] = against_reference(result)
            results.append(result)
            print(format_row(result), flush=True)

    platform = jax.devices()[0].platform
    out = args.out or RESULTS_DIR / f"env_dynamics_{platform}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_markdown(results, args, gcrl_depth.__version__))
    plot_survival(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png').name}")
    return out


def make_rollout(core, num_envs: int, steps: int):
    """``rollout(key, action_scale) -> trace`` of torso z, xy, upright-ness and termination per step,
    each shaped (steps, num_envs); actions are ``action_scale * U(-1, 1)``."""
    import jax
    import jax.numpy as jnp

    def rollout(key, action_scale):
        reset_key, action_key = jax.random.split(key)
        state = jax.vmap(core.reset)(jax.random.split(reset_key, num_envs))
        qpos_of = jax.vmap(lambda physics: core.physics_data(physics).qpos)
        start_xy = qpos_of(state.physics)[:, :2]

        def body(state, step_key):
            actions = action_scale * jax.random.uniform(step_key, (num_envs, core.action_size), minval=-1, maxval=1)
            state = jax.vmap(core.transition)(state, actions)
            qpos = qpos_of(state.physics)
            qx, qy = qpos[:, 4], qpos[:, 5]
            return state, {
                "z": qpos[:, 2],
                "xy": jnp.linalg.norm(qpos[:, :2] - start_xy, axis=-1),
                "up": 1 - 2 * (qx**2 + qy**2),  # z component of the torso's up axis (w, x, y, z quaternion)
                "terminated": state.terminated,
            }

        _, trace = jax.lax.scan(body, state, jax.random.split(action_key, steps))
        return trace

    return rollout


def against_reference(result: dict) -> dict[str, bool] | None:
    """Whether one env's measured dynamics lie within the paper's (``gcrl_depth.paper.DYNAMICS_FIGURES``,
    ``DYNAMICS_TOLERANCE``): termination rate, mean random episode time and zero-action fall time."""
    from gcrl_depth.paper import DYNAMICS_FIGURES, DYNAMICS_TOLERANCE

    paper = DYNAMICS_FIGURES.get(result["env"])
    if paper is None:
        return None
    r, z, dt = result["random"], result["zero"], result["dt"]

    def close(ours: float, theirs: float) -> bool:
        return abs(ours - theirs) <= DYNAMICS_TOLERANCE["seconds"] * theirs

    if paper.zero_fall_seconds is None:
        zero = z["terminated"] == 0
    else:
        zero = z["terminated"] == z["episodes"] and close(z["length_median"] * dt, paper.zero_fall_seconds)
    checks = {
        "terminated": abs(r["terminated"] / r["episodes"] - paper.random_terminated) <= DYNAMICS_TOLERANCE["terminated"],
        "random_time": close(r["length_mean"] * dt, paper.random_seconds),
        "zero_action": zero,
    }
    return {**checks, "all": all(checks.values())}


def summarize_trace(trace: dict, core, steps: int) -> dict:
    """Episode statistics of one traced rollout (see the module docstring)."""
    import numpy as np

    terminated = np.asarray(trace["terminated"])  # (steps, envs)
    ended = terminated.any(axis=0)
    first = np.where(ended, terminated.argmax(axis=0), steps - 1)
    length = first + 1
    z_at_end = np.asarray(trace["z"])[first, np.arange(terminated.shape[1])]
    low_z = float(core.healthy_z[0])
    alive = np.arange(steps)[:, None] < length[None, :]  # (steps, envs): the episode has not ended before this step
    flipped = (np.asarray(trace["up"]) < 0) & alive
    ever_flipped = flipped.any(axis=0)
    flip_step = flipped.argmax(axis=0)
    displacement = {}
    for t in DISPLACEMENT_STEPS:
        if t <= steps:
            living = length >= t
            displacement[t] = float(np.median(np.asarray(trace["xy"])[t - 1, living])) if living.any() else None
    return {
        "episodes": int(terminated.shape[1]),
        "terminated": int(ended.sum()),
        "terminated_low": int((ended & (z_at_end < low_z)).sum()),
        "terminated_high": int((ended & (z_at_end >= low_z)).sum()),
        "z_last_median": float(np.median(z_at_end)),  # torso height at each episode's last step
        "length_mean": float(length.mean()),
        "length_median": float(np.median(length)),
        "length_min": int(length.min()),
        "length_max": int(length.max()),
        "displacement": displacement,
        "flipped": int(ever_flipped.sum()),
        "flipped_alive_at_end": int((ever_flipped & ~ended).sum()),
        "steps_from_flip_to_end": sorted(int(s) for s in (first - flip_step)[ever_flipped & ended]),
        "survival": alive.mean(axis=1).tolist(),  # fraction alive at each step
    }


def _seconds(steps: float, dt: float) -> str:
    return f"{steps * dt:.2f} s"


def _within(result: dict) -> str:
    checks = result.get("reference")
    if checks is None:
        return "-"
    missed = [name.replace("_", " ") for name, ok in checks.items() if name != "all" and not ok]
    return "yes" if not missed else "no: " + ", ".join(missed)


def format_row(result: dict) -> str:
    r, z, dt = result["random"], result["zero"], result["dt"]
    return (f"{result['env']} ({result['physics']}): random: {r['terminated']}/{r['episodes']} terminated ({r['terminated_low']} low, "
            f"{r['terminated_high']} high), length mean {r['length_mean']:.0f} median {r['length_median']:.0f}; "
            f"flipped {r['flipped']}, alive at end {r['flipped_alive_at_end']}; zero action: median length "
            f"{z['length_median']:.0f} steps = {_seconds(z['length_median'], dt)}; within the paper's: {_within(result)}")


def render_markdown(results: list[dict], args: argparse.Namespace, package_version: str) -> str:
    from gcrl_depth.machine import results_header
    from gcrl_depth.paper import DYNAMICS

    lines = [
        *results_header("Environment dynamics: random and zero actions", "env_dynamics.py", package_version),
        f"{args.num_envs} episodes per env and mode, {args.steps} control steps, no auto-reset (the first termination "
        f"ends an episode's statistics), seed {args.seed}. Random: actions U(-1, 1) each step; zero: action 0. "
        "Low / high: the torso left the healthy height below / above. Displacement: median torso xy distance from "
        "the start over the episodes alive at that step. Flipped: the torso's up axis pointed down before the "
        "episode ended. Within the paper's: termination rate within 0.15, mean random episode time and zero-action "
        "fall time within 35% of the paper's envs (bottom table; an ant that never falls must never fall).",
        "",
        "## Against the paper's envs",
        "",
        "| env | physics | random: terminated | random: mean episode s | zero action: falls after | within the paper's |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        r, z, dt = res["random"], res["zero"], res["dt"]
        fall = "never" if z["terminated"] == 0 else _seconds(z["length_median"], dt)
        lines.append(f"| {res['env']} | {res['physics']} | {r['terminated'] / r['episodes']:.0%} | "
                     f"{r['length_mean'] * dt:.2f} | {fall} | {_within(res)} |")
    lines += [
        "",
        "## Random actions",
        "",
        "| env | physics | dt s | terminated | low / high | length mean / median (steps) | mean length s | "
        "xy after 10 / 50 / 200 | flipped / alive at end | flip to end (steps) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        r, dt = res["random"], res["dt"]
        disp = " / ".join("-" if r["displacement"].get(t) is None else f"{r['displacement'][t]:.2f}"
                          for t in DISPLACEMENT_STEPS)
        flips = r["steps_from_flip_to_end"]
        flip_span = f"{min(flips)}-{max(flips)}" if flips else "-"
        lines.append(
            f"| {res['env']} | {res['physics']} | {dt:g} | {r['terminated'] / r['episodes']:.0%} ({r['terminated']}/{r['episodes']}) | "
            f"{r['terminated_low']} / {r['terminated_high']} | {r['length_mean']:.0f} / {r['length_median']:.0f} | "
            f"{r['length_mean'] * dt:.2f} | {disp} | {r['flipped']} / {r['flipped_alive_at_end']} | {flip_span} |")
    lines += [
        "",
        "## Zero action",
        "",
        "| env | physics | terminated | first termination: median steps (range) | median seconds | "
        "torso z at the end (median) |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        z, dt = res["zero"], res["dt"]
        lines.append(f"| {res['env']} | {res['physics']} | {z['terminated']}/{z['episodes']} | {z['length_median']:.0f} "
                     f"({z['length_min']}-{z['length_max']}) | {_seconds(z['length_median'], dt)} | "
                     f"{z['z_last_median']:.2f} |")
    lines += [
        "",
        "## The paper's envs (brax 0.10.1 spring backend; reference section 5)",
        "",
        "| env | random: terminated | random: length mean / median | flipped ants that terminated | zero action |",
        "|---|---|---|---|---|",
        *[f"| {name} | {d['random_terminated']} | {d['random_length']} | {d['flipped_terminated']} | {d['zero_action']} |"
          for name, d in DYNAMICS.items()],
        "",
    ]
    return "\n".join(lines)


def plot_survival(results: list[dict], path: Path) -> None:
    """Fraction of episodes alive against time (s), random actions solid, zero action dashed."""
    from gcrl_depth.files import save_figure
    from gcrl_depth.plotting import plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for res in results:
        (line,) = ax.plot([(i + 1) * res["dt"] for i in range(len(res["random"]["survival"]))],
                          res["random"]["survival"], label=f"{res['env']}, {res['physics']} (random)")
        ax.plot([(i + 1) * res["dt"] for i in range(len(res["zero"]["survival"]))], res["zero"]["survival"],
                linestyle="--", color=line.get_color(), label=f"{res['env']}, {res['physics']} (zero)")
    ax.set_xscale("log")
    ax.set_xlabel("time (s, log scale)")
    ax.set_ylabel("fraction of episodes alive")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Survival under random (solid) and zero (dashed) actions", fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="x-small", loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
