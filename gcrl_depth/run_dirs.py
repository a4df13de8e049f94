"""A campaign's run folder: where each run of ``gcrl-depth reproduce | sweep | compare | evidence |
stitching`` and ``train --seeds`` trains, so that a run killed at hour 46 resumes from its last
evaluation instead of starting over, and a finished run is read back instead of trained again.

Layout (one folder per run set: its seeds train as one program)::

    metadata.json           settings (what makes the run), config, physics ("mjx" or "spring"), command line,
                            versions, git commit, devices
    checkpoints/            the training state after each evaluation (orbax; replay buffers included;
                            the latest 2 and the best kept); removed once the run has finished
    seed_<s>/progress.csv   the agent's logs (and TensorBoard events)
    seed_<s>/curve.csv      the script's rows so far, one per evaluation
    seed_<s>/best/best_model.zip, seed_<s>/final_model.zip
    seed_<s>/wandb_id.txt   with ``--wandb``: the Weights & Biases run a resumed run logs on into
    finished                written last, once the run has finished (:func:`finished_curves`)

A single run (``--serial``, or an env that run sets do not take) keeps its seed's files at the top.

:func:`open_run_dir` decides: a folder of the same settings with a checkpoint is resumed; one of
other settings is refused (or, without ``resume``, started over).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gcrl_depth.crl.checkpoints.state_store import committed_steps
from gcrl_depth.files import atomic_path

CHECKPOINTS = "checkpoints"
FINISHED = "finished"  # the marker of a finished run folder
SB3_MODEL, SB3_BUFFER = "sb3_model.zip", "replay_buffer.pkl"  # a baseline's checkpoint (stable-baselines3's formats)
WANDB_ID = "wandb_id.txt"


def member_dir(folder: str | os.PathLike, seed: int) -> Path:
    """Where a run set's member ``seed`` keeps its logs, curve and models."""
    return Path(folder) / f"seed_{seed}"


def open_run_dir(folder: str | os.PathLike, settings: dict[str, Any], resume: bool = True) -> bool:
    """Make ``folder`` ready for the run ``settings`` describe; True if it holds a checkpoint of that
    run to resume from. A folder of another run is refused with ``resume`` (naming what differs)
    and emptied without; one of the same run is emptied unless it can be resumed."""
    folder = Path(folder)
    stored = _stored_settings(folder)
    if resume and stored is not None:
        _refuse_other_settings(folder, stored, settings)
    if resume and stored is not None and resumable(folder):
        return True
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return False


def _refuse_other_settings(folder: Path, stored: dict[str, Any], settings: dict[str, Any]) -> None:
    settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
    if stored != settings:
        changed = sorted(k for k in {*stored, *settings} if stored.get(k) != settings.get(k))
        raise SystemExit(f"{folder} holds a run with other settings ({', '.join(changed)}: "
                         f"{[stored.get(k) for k in changed]} vs {[settings.get(k) for k in changed]}); "
                         "use another --out, delete the folder, or pass --no-resume to start it over")


def resumable(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a checkpoint: DeepCRL's orbax store, or a baseline's model and buffer."""
    checkpoints = Path(folder) / CHECKPOINTS
    return bool(committed_steps(checkpoints)) or (checkpoints / SB3_MODEL).exists()


def checkpoint_sb3(model: Any, folder: str | os.PathLike) -> None:
    """A stable-baselines3 model and its replay buffer into ``folder/checkpoints`` (each file atomically;
    the model last, as its step count says where the checkpoint is)."""
    with atomic_path(Path(folder) / CHECKPOINTS / SB3_BUFFER) as tmp:
        model.save_replay_buffer(tmp)
    with atomic_path(Path(folder) / CHECKPOINTS / SB3_MODEL) as tmp:
        model.save(tmp)


def resume_sb3(model: Any, folder: str | os.PathLike) -> Any:
    """``model``'s class loaded from ``folder``'s checkpoint onto its env, with the replay buffer."""
    checkpoints = Path(folder) / CHECKPOINTS
    loaded = type(model).load(checkpoints / SB3_MODEL, env=model.get_env(), device=model.device)
    loaded.load_replay_buffer(checkpoints / SB3_BUFFER)
    return loaded


def _stored_settings(folder: Path) -> dict[str, Any] | None:
    try:
        stored = json.loads((folder / "metadata.json").read_text())["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stored if isinstance(stored, dict) else None


def write_curve(folder: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """``folder/curve.csv``: a run's rows so far (written whole and atomically)."""
    from gcrl_depth.rows import write_csv

    if rows:
        write_csv(rows, Path(folder) / "curve.csv")


def read_curve(folder: str | os.PathLike, up_to: int) -> list[dict[str, Any]]:
    """The rows ``folder/curve.csv`` holds up to env step ``up_to`` (where the run's checkpoint is)."""
    from gcrl_depth.rows import read_csv

    path = Path(folder) / "curve.csv"
    if not path.exists():
        return []
    return [row for row in read_csv(path) if int(row["env_steps"]) <= up_to]


def finish(folder: str | os.PathLike) -> None:
    """A finished run keeps its logs, curves, best and final models; its checkpoints go (GBs each),
    and the ``finished`` marker is written."""
    shutil.rmtree(Path(folder) / CHECKPOINTS, ignore_errors=True)
    with atomic_path(Path(folder) / FINISHED) as tmp:
        Path(tmp).write_text("finished\n")


def finished_curves(folder: str | os.PathLike, settings: dict[str, Any],
                    members: Sequence[str | os.PathLike]) -> list[list[dict[str, Any]]] | None:
    """The curves (``curve.csv`` of each of ``members``, folders) of the finished run ``settings``
    describe in ``folder``; None if it has not finished there. A folder of other settings is
    refused (a SystemExit naming what differs): a campaign's folder holds one campaign."""
    folder = Path(folder)
    stored = _stored_settings(folder)
    if stored is None:
        return None
    _refuse_other_settings(folder, stored, settings)
    if not (folder / FINISHED).exists():
        return None
    return [read_curve(member, up_to=2**62) for member in members]


def wandb_settings(folder: str | os.PathLike | None, project: str, group: str, seed: int,
                   config: dict[str, Any]) -> dict[str, Any]:
    """``wandb.init`` arguments of seed ``seed``'s run in ``group`` of ``project`` (named
    ``<group>_s<seed>``; runs of a process log side by side).

    In a run ``folder`` the wandb run's id is kept (``wandb_id.txt``), so a resumed run logs
    on into the same wandb run; a run started over gets a new one (its folder was emptied)."""
    import secrets

    settings = {"project": project, "name": f"{group}_s{seed}", "group": group, "config": config,
                "reinit": "create_new"}
    if folder is None:
        return settings
    path = Path(folder) / WANDB_ID
    if path.exists():
        run_id = path.read_text().strip()
    else:
        run_id = secrets.token_hex(4)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(run_id)
    return {**settings, "id": run_id, "resume": "allow"}


def add_run_arguments(parser: Any) -> None:
    """A script's ``--resume/--no-resume`` (default on: continue interrupted runs from their folders)
    and ``--wandb PROJECT`` (its runs also log to Weights & Biases)."""
    import argparse

    from gcrl_depth.logger import WANDB_HELP

    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue a run interrupted mid-way from its run folder's last checkpoint (--no-resume: "
                             "start such runs over)")
    parser.add_argument("--wandb", default=None, metavar="PROJECT", help=WANDB_HELP)
