"""Every case of the edge battery (``benchmarks/batteries/edge_inputs.py``: the command line, run folders, run files,
checkpoint contents, third-party envs, files under faults) ends in a clear error or the correct behaviour."""

from __future__ import annotations

import pytest

from benchmarks.batteries.bad_inputs import classify
from benchmarks.batteries.edge_inputs import CASES

pytestmark = pytest.mark.isolated(module=True)  # many small agents and envs: their programs leave with the child


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_ends_in_a_clear_error_or_the_right_behaviour(case):
    outcome, detail = classify(case)
    assert outcome in ("clear error", "correct"), f"{case.name}: {outcome}: {detail}"
