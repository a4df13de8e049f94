"""A recording stand-in for ``wandb`` (put into ``sys.modules``): what ``init`` is given, what each run logs."""

from __future__ import annotations

import types

import numpy as np


class FakeWandb:
    """Records ``wandb.init``'s settings and each run's ``log`` calls; ``Image`` and ``Video`` keep their data."""

    def __init__(self):
        self.runs = []

    def init(self, **settings):
        run = types.SimpleNamespace(settings=settings, logged=[], finish=lambda: None)
        run.log = lambda values, step: run.logged.append((step, values))
        self.runs.append(run)
        return run

    class Image:
        def __init__(self, data):
            self.data = np.asarray(data)

    class Video:
        def __init__(self, data, fps=4, format=None):
            self.data, self.fps, self.format = data, fps, format
