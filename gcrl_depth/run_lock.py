"""One writer per run folder: a lock that a command holds on the folder it trains in, for its lifetime.

The lock is a file beside the folder, ``.<name>.lock`` in its parent (replacing the folder keeps
it), held with ``fcntl.flock`` and holding who holds it: host, pid, start time and command. Then:

* a second writer is refused at once (:class:`FolderBusy`, a ValueError: one line naming the folder
  and the holder; exit 2 from the CLI), before it writes anything;
* a lock left by a process of this host that is gone (killed: the OS released its flock, its
  record stayed) is taken over with a warning;
* a lock recorded by another host is refused with the command that removes it (from here its
  holder can be neither checked nor, on file systems without shared locks, excluded).

The lock is re-entrant within a process (a command's campaign cell and the run set it trains
lock the same folder once); releasing it removes the lock file, so only a writer that died leaves one.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_held: dict[Path, tuple[int, int]] = {}  # lock file -> (open descriptor, depth) in this process


class FolderBusy(ValueError):
    """Another process writes the run folder; ``holder`` is its lock record."""

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


def lock_file(folder: str | os.PathLike) -> Path:
    """The lock file of run folder ``folder``: ``.<name>.lock`` beside it."""
    folder = Path(folder).absolute()
    return folder.parent / f".{folder.name}.lock"


def describe(holder: dict[str, Any]) -> str:
    """A lock record in words: ``pid 12 on host a since 2026-12-07 21:00:00 (gcrl-depth train ...)``."""
    return (f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')} "
            f"({holder.get('command') or 'a Python program'})")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str | None = None) -> Iterator[Path]:
    """Hold the lock of run folder ``folder`` while the block runs (see the module docstring);
    FolderBusy at once if another process holds it."""
    path = acquire(folder, command)
    try:
        yield path
    finally:
        release(path)


def acquire(folder: str | os.PathLike, command: str | None = None) -> Path:
    """Take the lock of ``folder`` (re-entrant in this process); its lock file. FolderBusy if held."""
    path = lock_file(folder)
    if path in _held:
        descriptor, depth = _held[path]
        _held[path] = (descriptor, depth + 1)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = _open_locked(path, folder)
    try:
        _check_left_behind(folder, path, _read(descriptor))
        record = {"host": socket.gethostname(), "pid": os.getpid(),
                  "started": datetime.datetime.now().isoformat(timespec="seconds"),
                  "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)  # releases the flock too
        raise
    _held[path] = (descriptor, 1)
    return path


def _open_locked(path: Path, folder: str | os.PathLike) -> int:
    """A descriptor of ``path`` holding its flock; FolderBusy if another process holds it. A file that its
    holder removed between our open and our flock is opened again (the lock is the file at ``path``)."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(descriptor)
            os.close(descriptor)
            raise FolderBusy(f"{Path(folder)} is being written by {describe(holder)}: wait for it to end, or use "
                             "another folder", holder) from None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def release(path: Path) -> None:
    """Give back a lock :func:`acquire` took (the outermost release removes the lock file, then unlocks)."""
    descriptor, depth = _held[path]
    if depth > 1:
        _held[path] = (descriptor, depth - 1)
        return
    del _held[path]
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(descriptor)


def holder_of(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The record of whoever holds ``folder``'s lock now (None if nobody does)."""
    path = lock_file(folder)
    if not path.exists():
        return None
    descriptor = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(descriptor)
        return None
    finally:
        os.close(descriptor)


def _read(descriptor: int) -> dict[str, Any]:
    size = os.fstat(descriptor).st_size
    text = os.pread(descriptor, size, 0).decode(errors="replace").strip() if size else ""
    try:
        record = json.loads(text) if text else {}
    except ValueError:
        record = {"command": f"an unreadable lock record {text[:60]!r}"}
    return record if isinstance(record, dict) else {}


def _check_left_behind(folder: str | os.PathLike, path: Path, record: dict[str, Any]) -> None:
    """A record under a free flock is a writer that ended without releasing: taken over if it was of
    this host and its process is gone, refused if it was of another host."""
    if not record:
        return
    if record.get("host") != socket.gethostname():
        raise FolderBusy(f"{Path(folder)} was locked by {describe(record)}, which this host cannot check: if that "
                         f"writer has ended, remove the lock with: rm {path}", record)
    pid = record.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        raise FolderBusy(f"{Path(folder)} is being written by {describe(record)} (its lock file is not locked: does "
                         f"this file system support flock?); if that writer has ended, remove the lock with: rm {path}",
                         record)
    warnings.warn(f"{Path(folder)}: taking over the lock left by {describe(record)}, which is gone", stacklevel=3)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
