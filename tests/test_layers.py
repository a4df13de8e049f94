"""Layering: only gcrl_depth.baselines touches stable-baselines3 / torch, and importing the agent loads neither."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gcrl_depth

PACKAGE = Path(gcrl_depth.__file__).parent
OUTSIDE_BASELINES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "baselines" not in p.parts)


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", OUTSIDE_BASELINES)
def test_only_the_baselines_import_sb3_or_torch(module):
    assert not imported_roots(PACKAGE / module) & {"stable_baselines3", "torch"}


def test_using_deep_crl_loads_neither_sb3_nor_torch():
    code = ("import sys, gcrl_depth; from gcrl_depth import DeepCRL; import gcrl_depth.baselines; "
            "print(sorted(m for m in ('stable_baselines3', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
