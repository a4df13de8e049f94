"""A training run's folder: refused when it already holds a run, unless the user says to replace or continue it."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

RUN_FILES = ("final_model.zip", "progress.csv", "metadata.json", "best", "checkpoints", "wandb")  # and TensorBoard's events.out.tfevents.*
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
    ``resume`` (of the checkpoint store ``checkpoints/``, ``checkpoints/*.zip`` and ``final_model.zip``,
    the one with the most env steps is continued; the store on a tie, as it may hold the replay buffer).
    """
    from gcrl_depth.crl.checkpoints.state_store import committed_steps

    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other: replace the run in --log-dir, or continue it")
    found = run_files(folder)
    if resume:
        store = folder / "checkpoints"
        candidates = [(_zip_steps(p), 0, p) for p in [folder / "final_model.zip", *store.glob("*.zip")] if p.is_file()]
        steps = committed_steps(store)
        if steps:
            candidates.append((steps[-1], 1, store))
        if not candidates:
            raise ValueError(f"--resume: {str(folder)!r} holds no checkpoint or final_model.zip to continue from")
        return max(candidates)[2]
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


def _zip_steps(path: Path) -> int:
    """The env steps a checkpoint zip was saved at (-1 if unreadable: loading it then says why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return int(json.loads(archive.read("metadata.json"))["num_timesteps"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return -1
