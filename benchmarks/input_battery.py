"""Run a bad-input battery (``benchmarks/batteries/bad_inputs.py``, or ``--battery edge_inputs``: its sibling of
the command line, run folders and files, run files, checkpoint contents and third-party envs)
and count its outcomes.

    python -m benchmarks.input_battery --out benchmarks/results/input_battery_cpu
    # the same cases against an older checkout's package: run from there (python -m puts the
    # working directory first on the path), with this checkout's benchmarks package on PYTHONPATH:
    cd /path/to/old/checkout && PYTHONPATH=/path/to/this/checkout python -m benchmarks.input_battery --label before --out /tmp/before
    python -m benchmarks.input_battery --before /tmp/before.json --out benchmarks/results/input_battery_cpu

Writes ``OUT.json`` (every case's outcome), ``OUT.md`` (counts by outcome and kind, the
cases that are not a clear error or correct, and with ``--before`` a before/after table)
and ``OUT.png`` (the counts as bars).
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import time
import warnings
from pathlib import Path

from benchmarks.batteries import bad_inputs
from gcrl_depth.files import atomic_write_text
from gcrl_depth.machine import describe_machine

GOOD = ("clear error", "correct")


def run(names: list[str] | None, battery: str = "bad_inputs") -> list[dict[str, str]]:
    rows = []
    all_cases = importlib.import_module(f"benchmarks.batteries.{battery}").CASES
    cases = [c for c in all_cases if not names or any(n in c.name for n in names)]
    for i, case in enumerate(cases, 1):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome, detail = bad_inputs.classify(case)
        rows.append({"case": case.name, "kind": case.kind, "outcome": outcome, "detail": detail})
        print(f"[{i}/{len(cases)}] {outcome:14s} {time.perf_counter() - start:5.1f} s  {case.name}", flush=True)
    return rows


def counts(rows: list[dict[str, str]]) -> dict[str, int]:
    found = collections.Counter(r["outcome"] for r in rows)
    return {outcome: found.get(outcome, 0) for outcome in bad_inputs.OUTCOMES}


def report(rows: list[dict[str, str]], label: str, before: dict | None, battery: str = "bad_inputs") -> str:
    lines = [f"# Bad-input battery `{battery}` ({label})", "",
             f"{len(rows)} cases from `benchmarks/batteries/{battery}.py`; outcomes as `benchmarks/batteries/bad_inputs.py`'s docstring defines them.", ""]
    lines += ["## Machine", "", *describe_machine(), ""]
    total = counts(rows)
    if before is not None:
        old = counts(before["rows"])
        lines += ["## Before / after", "", f"| outcome | {before['label']} | {label} |", "|---|---:|---:|"]
        lines += [f"| {o} | {old[o]} | {total[o]} |" for o in bad_inputs.OUTCOMES]
        lines += [f"| **all** | {len(before['rows'])} | {len(rows)} |", ""]
    kinds = sorted({r["kind"] for r in rows})
    lines += ["## Outcomes by kind", "", "| outcome | " + " | ".join(kinds) + " | all |", "|---|" + "---:|" * (len(kinds) + 1)]
    for outcome in bad_inputs.OUTCOMES:
        per_kind = [sum(r["outcome"] == outcome and r["kind"] == k for r in rows) for k in kinds]
        lines.append(f"| {outcome} | " + " | ".join(map(str, per_kind)) + f" | {total[outcome]} |")
    bad = [r for r in rows if r["outcome"] not in GOOD]
    lines += ["", f"## Cases that are neither a clear error nor correct ({len(bad)})", ""]
    lines += [f"- **{r['case']}**: {r['outcome']}: {r['detail'][:200]}" for r in bad] or ["None."]
    if before is not None:
        old_bad = [r for r in before["rows"] if r["outcome"] not in GOOD]
        lines += ["", f"## {before['label']}: cases that were neither ({len(old_bad)})", ""]
        lines += [f"- **{r['case']}**: {r['outcome']}: {r['detail'][:200]}" for r in old_bad] or ["None."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, str]], label: str, before: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gcrl_depth.files import save_figure

    series = ([(before["label"], counts(before["rows"]))] if before else []) + [(label, counts(rows))]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        xs = [x + i * width for x in range(len(bad_inputs.OUTCOMES))]
        ax.bar(xs, list(values.values()), width, label=name)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(bad_inputs.OUTCOMES))], bad_inputs.OUTCOMES, rotation=20)
    ax.set_ylabel("cases")
    ax.set_title(f"Bad-input battery: {len(rows)} cases")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output path without suffix (.json, .md and .png are written)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--before", help="a JSON written by an earlier run, for a before/after table")
    parser.add_argument("--cases", nargs="*", help="run only cases whose name contains one of these")
    parser.add_argument("--battery", choices=["bad_inputs", "edge_inputs"], default="bad_inputs")
    args = parser.parse_args(argv)
    rows = run(args.cases, args.battery)
    before = json.loads(Path(args.before).read_text()) if args.before else None
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps({"label": args.label, "rows": rows}, indent=1))
    atomic_write_text(out.with_suffix(".md"), report(rows, args.label, before, args.battery))
    plot(rows, args.label, before, out.with_suffix(".png"))
    print(json.dumps(counts(rows)))


if __name__ == "__main__":
    main()
