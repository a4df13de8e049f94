"""A campaign's list of cells, and which of them a job trains: ``--shard I/N`` and ``--report-only``.

A cell is what one run folder holds: a configuration with all its seeds (one run set), or one
baseline run. A campaign lists its cells in a fixed order; the job ``--shard I/N`` trains cells
I, I + N, I + 2N, ... (counting from 1), so the N jobs of an array share the list exactly. Every
job reads the cells that have finished in the same ``--out``, whoever trained them, and writes
the report from them; ``--report-only`` trains nothing and only writes the report.

Whoever trains a cell holds its folder's lock (:mod:`gcrl_depth.run_lock`): two jobs on one
``--out`` (overlapping shards, or a command launched twice) never train the same cell; the one
that finds a cell locked moves on to its next cell, and the cell is reported missing until a later
job (or ``--report-only``) reads it finished.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gcrl_depth.experiments import Rows
from gcrl_depth.run_lock import FolderBusy, describe, folder_lock


@dataclasses.dataclass(frozen=True)
class Shard:
    """The ``index``-th of ``count`` jobs (1 <= index <= count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"--shard expected I/N with 1 <= I <= N, such as 2/8; got {self}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, position: int) -> bool:
        """Whether this job trains the cell at ``position`` (from 0) of the campaign's list."""
        return position % self.count == self.index - 1


def shard_spec(text: str) -> Shard:
    """``--shard I/N`` from the command line: the I-th of N jobs, 1 <= I <= N."""
    index, slash, count = text.partition("/")
    try:
        if not slash:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N, such as 2/8; got {text!r}") from None


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run folder of a campaign: ``name`` (its folder under ``<out>/runs`` and its label),
    ``train()`` its rows by seed (trained, or resumed from the folder), ``finished()`` its rows if
    it has finished in the folder (None if not); ``folder``, whose lock its trainer holds (None: no lock)."""

    name: str
    train: Callable[[], Rows]
    finished: Callable[[], Rows | None]
    folder: Path | None = None


@dataclasses.dataclass
class Outcome:
    """What a job holds after :func:`run_cells`: rows by cell name (finished or trained now), in the
    campaign's order, and the cells still missing (another shard's, or ``--report-only``'s)."""

    rows: dict[str, Rows]
    missing: list[str]

    def all_rows(self) -> list[dict[str, Any]]:
        return [row for by_seed in self.rows.values() for run in by_seed.values() for row in run]


def run_cells(cells: Sequence[Cell], shard: Shard | None = None, report_only: bool = False, reuse: bool = True,
              on_cell: Callable[[Cell, Rows], None] | None = None) -> Outcome:
    """Train this job's unfinished cells; every finished cell's rows are read, whoever trained them.

    All cells are read before the first is trained, so a folder of other settings is refused before
    anything runs. ``reuse=False`` (``--no-resume``) trains this job's cells again even if finished
    (``report_only`` reads them all the same).
    ``on_cell(cell, rows)`` sees each cell as it finishes here."""
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError(f"a campaign's cells need distinct names, got {names}")
    mine = [shard is None or shard.takes(position) for position in range(len(cells))]
    done = {cell.name: cell.finished() for cell, own in zip(cells, mine) if reuse or report_only or not own}
    rows: dict[str, Rows] = {}
    for cell, own in zip(cells, mine):
        stored = done.get(cell.name)
        if stored is None and own and not report_only:
            stored = _train_unless_busy(cell, reuse)
            if stored is not None and on_cell is not None:
                on_cell(cell, stored)
        if stored is not None:
            rows[cell.name] = stored
    return Outcome(rows, [name for name in names if name not in rows])


def _train_unless_busy(cell: Cell, reuse: bool) -> Rows | None:
    """``cell.train()`` under its folder's lock; None (after saying so) if another process holds it.
    A cell that another process finished since this job read it is read, not trained again."""
    if cell.folder is None:
        return cell.train()
    try:
        with folder_lock(cell.folder):
            finished = cell.finished() if reuse else None
            return finished if finished is not None else cell.train()
    except FolderBusy as busy:
        print(f"{cell.name}: trained by {describe(busy.holder)}; moving on to the next cell (--report-only merges it "
              "once finished)", flush=True)
        return None
