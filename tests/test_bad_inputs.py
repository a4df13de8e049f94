"""Every case of the bad-input battery (``benchmarks/batteries/bad_inputs.py``) must end in a clear error or the
correct behaviour: the expected exception type with a message naming what was expected, or a
checked result; never a deep traceback, a silent wrong answer, a lost model or a hang."""

from __future__ import annotations

import pytest

from benchmarks.batteries.bad_inputs import CASES, classify

# The cases build many small agents and envs: run them in one child process, whose compiled
# programs leave with it (see tests/conftest.py), and whose faked signals and platforms too.
pytestmark = pytest.mark.isolated(module=True)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case_ends_in_a_clear_error_or_the_right_behaviour(case):
    outcome, detail = classify(case)
    assert outcome in ("clear error", "correct"), f"{case.name}: {outcome}: {detail}"
