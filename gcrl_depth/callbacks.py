"""Training callbacks in stable-baselines3's shape, called once per training epoch.

A callback is a :class:`BaseCallback` (override ``_on_step`` and friends), a list of them,
or a plain function ``fn(locals_, globals_) -> bool``. ``on_step`` returning ``False``
stops training after the current epoch. Callbacks see ``self.model`` (the agent),
``self.num_timesteps``, ``self.n_calls``, ``self.locals`` (the epoch's ``metrics`` and
``evaluation``) and ``self.logger``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


class BaseCallback:
    """Base class: subclasses override ``_on_training_start``, ``_on_step``, ``_on_training_end``."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.model: Any = None
        self.logger: Any = None
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}

    def init_callback(self, model: Any) -> None:
        self.model, self.logger = model, model.logger
        self._init_callback()

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        self.locals, self.globals = locals_, globals_
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def on_step(self) -> bool:
        """Called after every epoch; ``False`` stops training."""
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return bool(self._on_step())

    def on_training_end(self) -> None:
        self._on_training_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        self.locals.update(locals_)

    def _init_callback(self) -> None:
        pass

    def _on_training_start(self) -> None:
        pass

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        pass


class CallbackList(BaseCallback):
    """Several callbacks run in order; training stops if any of them says so."""

    def __init__(self, callbacks: Sequence[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        for callback in self.callbacks:
            callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        for callback in self.callbacks:
            callback.on_training_start(self.locals, self.globals)

    def _on_step(self) -> bool:
        results = [callback.on_step() for callback in self.callbacks]  # every callback runs, whatever the first says
        return all(results)

    def _on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()

    def update_locals(self, locals_: dict[str, Any]) -> None:
        super().update_locals(locals_)
        for callback in self.callbacks:
            callback.update_locals(locals_)


class ConvertCallback(BaseCallback):
    """Wraps ``fn(locals_, globals_) -> bool`` (``None`` counts as go on)."""

    def __init__(self, fn: Callable[[dict[str, Any], dict[str, Any]], Any]) -> None:
        super().__init__()
        self.fn = fn

    def _on_step(self) -> bool:
        result = self.fn(self.locals, self.globals)
        return True if result is None else bool(result)


class CheckpointCallback(BaseCallback):
    """Saves the agent every ``save_freq`` env steps to ``save_path/{name_prefix}_{steps}_steps.zip``
    (with the replay buffer if ``include_buffer``, for an exact resume): at the end of every epoch
    that crosses a multiple of ``save_freq`` (counted from where training started), so epochs a
    little shorter than the interval skip no save. It only ever sees finite parameters: a
    diverged epoch stops training before the callbacks run."""

    def __init__(self, save_freq: int, save_path: str | os.PathLike, name_prefix: str = "deep_crl", verbose: int = 0,
                 include_buffer: bool = False) -> None:
        super().__init__(verbose)
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be a positive number of env steps, got {save_freq!r}")
        self.save_freq, self.save_path, self.name_prefix = save_freq, os.fspath(save_path), name_prefix
        self.include_buffer = include_buffer
        self._start = self._last_saved = 0

    def _on_training_start(self) -> None:
        self._start = self._last_saved = self.num_timesteps

    def _on_step(self) -> bool:
        if (self.num_timesteps - self._start) // self.save_freq > (self._last_saved - self._start) // self.save_freq:
            self._save()
            self._last_saved = self.num_timesteps
        return True

    def _save(self) -> None:
        path = os.path.join(self.save_path, f"{self.name_prefix}_{self.num_timesteps}_steps.zip")
        self.model.save(path, include_buffer=self.include_buffer)
        if self.verbose:
            print(f"saved checkpoint {path}")


class StopTrainingOnTimeAtGoal(BaseCallback):
    """Stops training once an evaluation's time at goal reaches ``threshold`` steps."""

    def __init__(self, threshold: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.threshold = float(threshold)

    def _on_step(self) -> bool:
        evaluation = self.locals.get("evaluation")
        if evaluation is not None and evaluation.time_at_goal >= self.threshold:
            if self.verbose:
                print(f"time at goal {evaluation.time_at_goal:.1f} >= {self.threshold}: stopping")
            return False
        return True


class SaveBestModel(BaseCallback):
    """Keeps ``save_path/best_model.zip``: the agent at its best evaluation so far (SB3's
    ``EvalCallback`` idea, on DeepCRL's own evaluations).

    ``metric`` is ``"headline"`` (the mean time at goal of the last 5 evaluations, as the
    paper reports: slow to be fooled by one lucky evaluation), ``"time_at_goal"`` or
    ``"success_rate"`` (of the latest evaluation). ``best``, ``best_timesteps`` and
    ``best_path`` say what was kept; nothing is saved in epochs without an evaluation. On a
    resumed agent the best so far is its history's, so a worse model never replaces it.
    """

    METRICS = ("headline", "time_at_goal", "success_rate")

    def __init__(self, save_path: str | os.PathLike, metric: str = "headline", verbose: int = 0) -> None:
        super().__init__(verbose)
        if metric not in self.METRICS:
            raise ValueError(f"metric must be one of {list(self.METRICS)}, got {metric!r}")
        self.save_path, self.metric = os.fspath(save_path), metric
        self.best: float | None = None
        self.best_timesteps: int | None = None
        self.best_path = os.path.join(self.save_path, "best_model.zip")

    def _init_callback(self) -> None:
        history = self.model.evaluations
        if self.best is None and history.results:  # a resumed run: what it reached before
            self.best = max(self._value(history.results[:end]) for end in range(1, len(history.results) + 1))

    def _value(self, results: list[Any]) -> float:
        """The metric after ``results`` (the evaluations so far, oldest first)."""
        from gcrl_depth.evaluation import HEADLINE_WINDOW

        if self.metric == "headline":
            return float(sum(r.time_at_goal for r in results[-HEADLINE_WINDOW:]) / len(results[-HEADLINE_WINDOW:]))
        return float(getattr(results[-1], self.metric))

    def _on_step(self) -> bool:
        evaluation = self.locals.get("evaluation")
        if evaluation is None:
            return True
        value = self._value(self.model.evaluations.results)
        if self.best is None or value > self.best:
            os.makedirs(self.save_path, exist_ok=True)
            self.model.save(self.best_path)
            self.best, self.best_timesteps = value, self.num_timesteps
            if self.verbose:
                print(f"new best {self.metric} {value:.2f} at {self.num_timesteps:,} env steps: saved {self.best_path}")
        return True


def as_callback(callback: Any) -> BaseCallback | None:
    """Normalise ``None``, a callback, a list of them, or a function into one callback."""
    if callback is None:
        return None
    if isinstance(callback, (list, tuple)):
        return CallbackList([c for c in map(as_callback, callback) if c is not None])
    if hasattr(callback, "init_callback") and hasattr(callback, "on_step"):
        return callback
    if callable(callback):
        return ConvertCallback(callback)
    raise TypeError(f"callback must be a BaseCallback, a list of them or a function, got {type(callback).__name__}")
