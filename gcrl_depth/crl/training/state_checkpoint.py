"""The training callback behind ``gcrl-depth train --save-every``: orbax checkpoints of the whole
training state, periodically and when a scheduler sends SIGTERM."""

from __future__ import annotations

import os
from typing import Any

from gcrl_depth.callbacks import CheckpointCallback
from gcrl_depth.crl.checkpoints.state_store import StateStore
from gcrl_depth.crl.training.persistence import save_state
from gcrl_depth.interrupts import PreemptionNotice


class StateCheckpoint(CheckpointCallback):
    """Checkpoints the whole training state with orbax (:class:`~gcrl_depth.crl.checkpoints.state_store.StateStore`)
    into ``save_path`` every ``save_freq`` env steps, as :class:`CheckpointCallback` counts them:
    the replay buffer included unless ``include_buffer=False``, the latest ``keep`` and the best
    (by time at goal) kept, each written in the background and committed atomically.

    A SIGTERM during training (a scheduler's preemption notice) checkpoints at the end of the
    current epoch and stops training; :attr:`preempted` then says so. ``DeepCRL.load(save_path)``
    resumes from the newest checkpoint.
    """

    def __init__(self, save_freq: int, save_path: str | os.PathLike, keep: int = 2, include_buffer: bool = True,
                 verbose: int = 0) -> None:
        super().__init__(save_freq, save_path, verbose=verbose, include_buffer=include_buffer)
        self.keep = keep
        self.store: Any = None
        self.notice = PreemptionNotice()

    @property
    def preempted(self) -> bool:
        return self.notice.received

    def _on_training_start(self) -> None:
        super()._on_training_start()
        self.store = StateStore(self.save_path, self.keep)
        self.notice.install()

    def _on_step(self) -> bool:
        if self.preempted:
            self._save()
            return False
        return super()._on_step()

    def _save(self) -> None:
        save_state(self.model, self.store, include_buffer=self.include_buffer)
        if self.verbose:
            print(f"checkpointing {self.num_timesteps:,} env steps into {self.save_path}"
                  + (" (preempted: SIGTERM)" if self.preempted else ""))

    def _on_training_end(self) -> None:
        self.notice.remove()
        if self.store is not None:
            self.store.close()  # every checkpoint started is committed
            self.store = None
