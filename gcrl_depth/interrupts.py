"""Critical sections that a Ctrl-C cannot tear apart.

Training hands its old state to a compiled program that *donates* (frees) it and returns
the new one. A ``KeyboardInterrupt`` landing between the program's return and the
assignment of its result would lose both. :func:`deferred_interrupts` holds SIGINT for
the few lines of such a section and raises it right after, once the state is consistent.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Delay SIGINT until the block has finished; then raise ``KeyboardInterrupt`` if one came.

    Outside the main thread (where Python never delivers SIGINT) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and previous is not signal.SIG_IGN:
        if callable(previous):
            previous(signal.SIGINT, None)  # the handler that was in place (Python's raises KeyboardInterrupt)
        else:
            raise KeyboardInterrupt


def ignoring_interrupts(env: Any) -> Any:
    """A ``gym.make_vec(..., wrappers=[ignoring_interrupts])`` hook: the env's worker process
    ignores SIGINT, so a Ctrl-C meant for training (which the parent defers) leaves an async
    vector env's workers alive. Returns ``env`` unchanged."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return env


class PreemptionNotice:
    """While installed, SIGTERM (how schedulers announce a preemption) is noted in :attr:`received`
    instead of ending the process, so training can checkpoint at the end of its epoch and stop.

    Outside the main thread (where Python never delivers signals) installing does nothing.
    """

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread() and self._previous is None:
            self._previous = signal.signal(signal.SIGTERM, self._note)

    def remove(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True


PREEMPTED_EXIT = 143  # 128 + SIGTERM: the shell's code for a process ended by SIGTERM


class Preempted(SystemExit):
    """Training stopped on SIGTERM after checkpointing: the process exits with :data:`PREEMPTED_EXIT`
    after printing how to resume (the message)."""

    def __init__(self, message: str) -> None:
        import sys

        print(message, file=sys.stderr, flush=True)
        super().__init__(PREEMPTED_EXIT)
        self.message = message
