"""``gcrl-depth`` with a disk that fills during its second training-state checkpoint: from then on this
process may write no file past ``LIMIT`` bytes (RLIMIT_FSIZE), so the checkpoint's writes fail
midway, as they would on a full disk. That checkpoint is waited for (orbax writes in the background),
so its failure comes before any other file is written. Used by tests/crl/training/test_full_disk.py."""

from __future__ import annotations

import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # this checkout's gcrl_depth, as `python -m` from its root gives

from gcrl_depth.cli.main import main
from gcrl_depth.crl.checkpoints import state_store

LIMIT = 1024  # bytes: smaller than a checkpoint's arrays
original = state_store.StateStore.save
saves: list[int] = []


def save_on_a_filling_disk(self, step, *args, **kwargs):
    saves.append(step)
    if len(saves) == 2:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    original(self, step, *args, **kwargs)
    if len(saves) == 2:
        self.wait()


if __name__ == "__main__":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    state_store.StateStore.save = save_on_a_filling_disk
    sys.exit(main(sys.argv[1:]))
