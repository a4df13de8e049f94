"""Tidy rows (one per evaluation of a run) in CSV files: written whole and atomically, read back typed."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import Any

from gcrl_depth.evaluation import EvaluationResult
from gcrl_depth.files import atomic_write_text

METRICS = ("time_at_goal", "success_rate", "final_distance")  # what every evaluation row measures
COLUMNS = ("algo", "depth", "width", "env_id", "seed", "env_steps", "wall_s", "time_at_goal", "success_rate",
           "final_distance", "params")


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike, columns: Sequence[str] = COLUMNS) -> str:
    """Write tidy rows (``columns`` first, then any extra keys) atomically."""
    extra = [k for k in rows[0] if k not in columns] if rows else []
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[*columns, *extra])
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, text.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows written by :func:`write_csv`, numbers parsed back (ints, floats; other cells stay strings).

    Raises:
        ValueError: naming the file and line, for a row with more or fewer cells than the header
            (a file cut mid-row, or not one of these).
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for row in reader:
            if None in row or None in row.values():
                raise ValueError(f"{os.fspath(path)}, line {reader.line_num}: {len(reader.fieldnames or [])} columns "
                                 "expected (the file is cut or damaged)")
            rows.append({k: _parse_cell(v) for k, v in row.items()})
        return rows


def _parse_cell(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def evaluation_row(run: dict[str, Any], env_steps: int, wall_s: float, result: EvaluationResult) -> dict[str, Any]:
    """One tidy row: the run's keys, the env steps and training seconds so far, the evaluation's metrics."""
    return {**run, "env_steps": int(env_steps), "wall_s": round(wall_s, 3), "time_at_goal": result.time_at_goal,
            "success_rate": result.success_rate, "final_distance": result.final_distance}
