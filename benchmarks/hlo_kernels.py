"""Count the kernels a compiled XLA program launches: fusions, library calls and other device ops.

``kernel_count(compiled)`` reads the optimized HLO text of a compiled program
(``jax.jit(f).lower(...).compile()``) and counts the instructions that run as kernels,
walking from the entry computation into loop bodies, conditionals and calls (not into
fused computations, which are one kernel each). A ``while`` whose trip count XLA knows
(``known_trip_count``) counts its body that many times, so a scan over 16 residual blocks
counts its block 16 times: the result is the number of kernel launches of one call.
Conditionals count their largest branch. Bookkeeping instructions (parameters,
constants, tuples, bitcasts, ...) are not kernels.

It is an estimate from the program text: the backend may still split or merge some
operations, and on the CPU "kernels" are XLA's CPU thunks, not GPU launches. It is meant
for before/after comparisons of one program on one backend.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

NOT_KERNELS = frozenset({
    "parameter", "constant", "get-tuple-element", "tuple", "bitcast", "after-all", "partition-id", "replica-id",
    "opt-barrier", "add-dependency", "domain", "iota",
})
CONTROL = frozenset({"while", "conditional", "call"})
_HEADER = re.compile(r"^(ENTRY\s+)?%?([\w.\-]+)\s*(\(.*\))?.*\{\s*$")
_TRIP = re.compile(r'"known_trip_count":\{"n":"(\d+)"\}')
_CALLEE = re.compile(r"\b(?:body|to_apply|calls)=%?([\w.\-]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}|(?:true|false)_computation=%?([\w.\-]+)")


def _opcode(line: str) -> str | None:
    """The opcode of an HLO instruction line, or None for other lines."""
    if " = " not in line:
        return None
    rest = line.split(" = ", 1)[1].lstrip()
    if rest.startswith("("):  # a tuple type: skip its balanced parentheses
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                rest = rest[i + 1:].lstrip()
                break
    else:
        rest = rest.split(" ", 1)[1] if " " in rest else ""
    match = re.match(r"([\w\-]+)\(", rest)
    return match.group(1) if match else None


def _computations(hlo: str) -> tuple[dict[str, list[str]], str]:
    """{computation name: its instruction lines} and the entry computation's name."""
    computations: dict[str, list[str]] = {}
    entry, current = "", None
    for line in hlo.splitlines():
        stripped = line.strip()
        if current is None:
            match = _HEADER.match(stripped)
            if match and not stripped.startswith("HloModule"):
                current = match.group(2)
                computations[current] = []
                if match.group(1):
                    entry = current
        elif stripped == "}":
            current = None
        elif stripped:
            computations[current].append(stripped)
    return computations, entry


def kernel_counts(hlo: str) -> Counter:
    """Kernel launches of one call of the program, by opcode (loop bodies times their trip counts)."""
    computations, entry = _computations(hlo)
    memo: dict[str, Counter] = {}

    def count(name: str) -> Counter:
        if name in memo:
            return memo[name]
        total: Counter = Counter()
        for line in computations.get(name, []):
            op = _opcode(line)
            if op is None or op in NOT_KERNELS:
                continue
            if op == "while":
                trip = _TRIP.search(line)
                body = _CALLEE.search(line)
                if body:
                    for key, n in count(body.group(1)).items():
                        total[key] += n * (int(trip.group(1)) if trip else 1)
                if not trip:
                    total["while (unknown trips: body counted once)"] += 1
            elif op == "conditional":
                branches = []
                for group, single in _BRANCHES.findall(line):
                    branches += [b.strip().lstrip("%") for b in group.split(",") if b.strip()] if group else [single]
                if branches:
                    total.update(max((count(b) for b in branches), key=lambda c: sum(c.values())))
            elif op == "call":
                callee = _CALLEE.search(line)
                if callee:
                    total.update(count(callee.group(1)))
            else:
                total[op] += 1
        memo[name] = total
        return total

    return count(entry)


def kernel_count(compiled: Any) -> int:
    """Total kernel launches of one call of a compiled JAX program (see the module docstring)."""
    return sum(kernel_counts(compiled.as_text()).values())
