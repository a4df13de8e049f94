"""A training run's folder: refused when it already holds a run, unless the user says to replace or continue it."""

from __future__ import annotations

import shutil
from pathlib import Path

RUN_FILES = ("final_model.zip", "progress.csv", "best", "checkpoints", "wandb")  # and TensorBoard's events.out.tfevents.*
EVENTS = "events.out.tfevents.*"


def run_files(folder: Path) -> list[Path]:
    """What in ``folder`` belongs to a run that was trained there (empty for a new folder)."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise ValueError(f"--log-dir {str(folder)!r} is a file; expected a folder (new, or holding a run to "
                         "--overwrite or --resume)")
    return sorted([folder / name for name in RUN_FILES if (folder / name).exists()] + list(folder.glob(EVENTS)))


def prepare(folder: Path, overwrite: bool, resume: bool) -> Path | None:
    """Make ``folder`` ready for a run; returns the checkpoint to resume from (with ``resume``), else None.

    A folder holding a run is refused unless ``overwrite`` (its run files are removed first) or
    ``resume`` (the newest of ``checkpoints/*.zip`` and ``final_model.zip`` is continued).
    """
    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other: replace the run in --log-dir, or continue it")
    found = run_files(folder)
    if resume:
        candidates = [p for p in [folder / "final_model.zip", *(folder / "checkpoints").glob("*.zip")] if p.is_file()]
        if not candidates:
            raise ValueError(f"--resume: {str(folder)!r} holds no final_model.zip or checkpoints/*.zip to continue from")
        return max(candidates, key=lambda p: p.stat().st_mtime_ns)
    if found and not overwrite:
        names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
        raise ValueError(f"--log-dir {str(folder)!r} already holds a run ({names}); pass --overwrite to replace it, "
                         "--resume to continue it, or another --log-dir")
    clear(folder)
    return None


def clear(folder: Path) -> None:
    """Remove the run files of ``folder`` (see :func:`run_files`)."""
    for path in run_files(folder):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
