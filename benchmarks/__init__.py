"""Benchmarks and campaigns of gcrl_depth, run from the repository's root as ``python -m benchmarks.NAME``.

Each writes its results under ``benchmarks/results/`` with the machine described.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: the scripts' subprocesses run from here
RESULTS_DIR = ROOT / "benchmarks" / "results"
