"""Periodic checkpoints of a whole training state with orbax: the replay buffer included.

A :class:`StateStore` is a folder of numbered checkpoints (one per env-step count), each an
orbax checkpoint of the learner (parameters, Adam state), the run's key and, when asked for,
the replay buffer, the training envs' state and their episode counters, beside a JSON
record of the config, the env's physics (``"mjx"`` or ``"spring"``), the counts and the
evaluations so far. Orbax commits each checkpoint
atomically (it is written under a temporary name, then renamed) and writes it in the
background while training goes on. Retention: the latest ``keep`` and the best by time at
goal. :func:`open_checkpoint` reads the newest one in the shape of
:class:`~gcrl_depth.crl.checkpoints.checkpoint.Checkpoint`, so ``DeepCRL.load`` takes either.

A write that fails (a full disk, a file-size limit) raises :class:`CheckpointWriteError`, an
OSError whose one line names the folder, the disk's free space and the checkpoints still intact;
its temporary folder is removed then, and any left by a killed writer when a store opens, so a
``--resume`` reads the newest whole checkpoint.

The ``DeepCRL.save`` zip stays the small portable export; this is the resumable one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from gcrl_depth.crl.checkpoints import checkpoint

SECTIONS = ("params", "optimizer", "training")
SCORE = "time_at_goal"  # what "best" means
COMMITTED = "_CHECKPOINT_METADATA"  # orbax writes it last: a step folder without it is not a whole checkpoint
UNFINISHED = "*.orbax-checkpoint-tmp*"  # orbax's name for a checkpoint being written


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (its folder as ``filename``); the earlier ones are intact."""


def _manager(folder: str | os.PathLike, keep: int) -> Any:
    import orbax.checkpoint as ocp
    from orbax.checkpoint import checkpoint_managers as policies

    keep_best = policies.BestN(get_metric_fn=lambda metrics: metrics[SCORE], n=1, keep_checkpoints_without_metrics=False)
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policies.AnyPreservationPolicy([policies.LatestN(keep), keep_best]))
    return ocp.CheckpointManager(Path(folder).absolute(), options=options)


def _flat(tree: Any) -> tuple[dict[str, np.ndarray], list[list[Any]]]:
    """A pytree as ``{"leaf_00000": array, ...}`` on the host, and per leaf in order its path name
    and, for an empty array (which orbax does not write), its dtype and shape."""
    arrays, names = {}, []
    for index, (path, leaf) in enumerate(jax.tree_util.tree_leaves_with_path(tree)):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        value = np.asarray(jax.device_get(leaf))
        names.append([jax.tree_util.keystr(path)] + ([str(value.dtype), list(value.shape)] if value.size == 0 else []))
        if value.size:
            arrays[f"leaf_{index:05d}"] = value
    return arrays, names


def _leaf(restored: dict[str, Any], index: int, entry: list[Any]) -> np.ndarray:
    if len(entry) == 3:  # an empty array, recorded by dtype and shape
        return np.zeros(entry[2], entry[1])
    return np.asarray(restored[f"leaf_{index:05d}"])


class StateStore:
    """Numbered orbax checkpoints of training states in ``folder`` (latest ``keep`` and the best kept)."""

    def __init__(self, folder: str | os.PathLike, keep: int = 2) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive number of checkpoints, got {keep!r}")
        self.folder, self.keep = Path(folder), keep
        remove_unfinished(self.folder)  # a killed writer's half-written checkpoint
        logging.getLogger("absl").addFilter(_QUIET)  # once: a filter is kept once however often added
        self._manager = _manager(folder, keep)

    def save(self, step: int, config: dict[str, Any], meta: dict[str, Any], sections: dict[str, Any],
             score: float | None = None) -> None:
        """Start writing checkpoint ``step``: ``sections`` maps "params", "optimizer" and optionally
        "training" to pytrees; ``score`` (time at goal) ranks it for the best one kept."""
        import orbax.checkpoint as ocp

        if self._manager is None:
            raise ValueError(f"the checkpoint store {self.folder} was closed (by a failed write); open a new one")
        items, names = {}, {}
        for section, tree in sections.items():
            items[section], names[section] = _flat(tree)
        record = {"config": config, "meta": {"format_version": checkpoint.FORMAT_VERSION, **meta,
                                             "versions": checkpoint.package_versions()}, "names": names}
        args = {section: ocp.args.StandardSave(arrays) for section, arrays in items.items()}
        try:  # raises too when the previous checkpoint's background write failed
            self._manager.save(int(step), args=ocp.args.Composite(record=ocp.args.JsonSave(record), **args),
                               metrics=None if score is None else {SCORE: float(score)}, force=True)
        except Exception as error:
            raise self._failed(error) from error

    def wait(self) -> None:
        """Block until every checkpoint started has been committed (CheckpointWriteError if one failed)."""
        try:
            self._manager.wait_until_finished()
        except Exception as error:
            raise self._failed(error) from error

    def steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def close(self) -> None:
        if self._manager is None:  # closed by a failed write
            return
        try:
            self.wait()
        finally:
            if self._manager is not None:
                self._manager.close()
                self._manager = None

    def _failed(self, error: Exception) -> CheckpointWriteError:
        """The one-line error of a failed write, once the store is closed (its writer threads ended) and the
        temporary folder gone; the store takes no more checkpoints."""
        manager, self._manager = self._manager, None
        with contextlib.suppress(Exception):
            manager.close()
        remove_unfinished(self.folder)
        code = _os_error_code(error)
        reason = os.strerror(code) if code else str(error).splitlines()[0][:200]
        kept = committed_steps(self.folder)
        return CheckpointWriteError(code or errno.EIO, f"a checkpoint was not written ({reason}); {disk_space(self.folder)}; "
                                    f"the checkpoints before it ({', '.join(map(str, kept)) or 'none'} env steps) are "
                                    "intact, and --resume continues from the newest", str(self.folder))


class _OrbaxWriteErrors(logging.Filter):
    """Drops orbax's own logged tracebacks of a failed background write (a dozen per failure, from
    its threads): :meth:`StateStore._failed` says it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)


_QUIET = _OrbaxWriteErrors()


def remove_unfinished(folder: Path) -> None:
    """Remove the temporary folders of checkpoints whose writing did not finish."""
    if jax.process_index() == 0 and folder.is_dir():
        for path in folder.glob(UNFINISHED):
            shutil.rmtree(path, ignore_errors=True)


def _os_error_code(error: BaseException) -> int | None:
    """The errno behind an orbax / TensorStore write error (they report it as ``os_error_code='28'``)."""
    if isinstance(error, OSError) and error.errno:
        return error.errno
    found = re.search(r"os_error_code='?(\d+)", str(error))
    return int(found.group(1)) if found else None


def disk_space(folder: Path) -> str:
    """``the disk of /x (mounted at /): 1.2 GB free of 50.0 GB``, in words."""
    path = folder.absolute()
    while not path.exists():
        path = path.parent
    mount = path
    while not os.path.ismount(mount):
        mount = mount.parent
    usage = shutil.disk_usage(path)
    return f"the disk of {folder} (mounted at {mount}) has {usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB"


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of :class:`StateStore` checkpoints (holding at least one)."""
    return Path(path).is_dir() and bool(committed_steps(path))


def committed_steps(path: str | os.PathLike) -> list[int]:
    """The env-step counts of the committed checkpoints in ``path`` (half-written ones are not listed)."""
    folder = Path(path)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir()
                  if p.name.isdigit() and (p / "record").exists() and (p / COMMITTED).exists())


@dataclasses.dataclass(frozen=True)
class StoredState:
    """One checkpoint of a :class:`StateStore`, read as :class:`~gcrl_depth.crl.checkpoints.checkpoint.Checkpoint` is."""

    path: str
    config: dict[str, Any]
    meta: dict[str, Any]
    sections: dict[str, dict[str, np.ndarray]]  # section -> {path name: array}

    @property
    def has_training_state(self) -> bool:
        return "training" in self.sections

    def learner(self, like: Any) -> Any:
        from gcrl_depth.crl.engine.learner import Learner

        params = checkpoint.tree_from_leaves(like.params, self.sections["params"], f"{self.path}: parameters")
        opt_state = checkpoint.tree_from_leaves(like.opt_state, self.sections["optimizer"], f"{self.path}: optimizer state")
        checkpoint.check_finite(params, f"{self.path!r}: parameters")
        return Learner(params, opt_state)

    def key(self) -> jax.Array:
        return checkpoint.key_from_data(self.meta["key"])

    def training(self, like: dict[str, Any]) -> dict[str, Any] | None:
        if not self.has_training_state:
            return None
        return checkpoint.tree_from_leaves(like, self.sections["training"], f"{self.path}: training state")


def open_checkpoint(path: str | os.PathLike, step: int | None = None) -> StoredState:
    """Checkpoint ``step`` (default: the newest committed one) of the store in ``path``."""
    import orbax.checkpoint as ocp

    steps = committed_steps(path)
    if not steps:
        raise FileNotFoundError(f"{os.fspath(path)!r} holds no committed checkpoint (expected a folder of numbered "
                                "checkpoints written by gcrl-depth train --save-every or a script's run folder)")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ValueError(f"{os.fspath(path)!r} has no checkpoint at step {step}; it has {steps}")
    folder = Path(path).absolute() / str(step)
    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as reader:
        record = reader.restore(folder, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        restored = reader.restore(folder, args=ocp.args.Composite(
            **{name: ocp.args.StandardRestore() for name in record["names"]}))
    by_name = {section: {entry[0]: _leaf(restored[section] or {}, i, entry) for i, entry in enumerate(entries)}
               for section, entries in record["names"].items()}
    return StoredState(os.path.join(os.fspath(path), str(step)), record["config"], record["meta"], by_name)
