"""Training logs: key/value records dumped to stdout, a CSV file, TensorBoard and Weights & Biases.

``record`` stores scalars under namespaced keys (``train/``, ``eval/``, ``time/``);
``dump(step)`` writes them to every output and clears them, as stable-baselines3's
logger does. The CSV grows new columns when new keys appear (the file is rewritten whole,
atomically), and a logger on a folder that holds a ``progress.csv`` continues it.
Weights & Biases (``"wandb"``) needs the optional ``wandb`` extra; ``WANDB_MODE=offline``
logs without a network.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from typing import Any, TextIO

from gcrl_depth.files import atomic_open

FORMATS = ("stdout", "csv", "tensorboard", "wandb")
WANDB_MISSING = "logging to Weights & Biases needs the wandb package: pip install 'gcrl_depth[wandb]'"
WANDB_HELP = "also log to this Weights & Biases project (needs the wandb extra; WANDB_MODE=offline works without a network)"


class Logger:
    """Scalar logger with stdout, CSV (``progress.csv``), TensorBoard and Weights & Biases outputs.

    Args:
        folder: where the CSV and TensorBoard files go (needed for those formats).
        formats: some of ``"stdout"``, ``"csv"``, ``"tensorboard"``, ``"wandb"``.
        stream: where the stdout table goes.
        wandb_init: keyword arguments of ``wandb.init`` (``project``, ``name``, ``config``, ...).
    """

    def __init__(self, folder: str | os.PathLike | None = None, formats: tuple[str, ...] = ("stdout",),
                 stream: TextIO | None = None, wandb_init: dict[str, Any] | None = None):
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown log formats {unknown}; expected some of {list(FORMATS)}")
        if folder is None and set(formats) - {"stdout", "wandb"}:
            raise ValueError(f"log formats {sorted(set(formats) - {'stdout', 'wandb'})} need a folder")
        self.folder = None if folder is None else os.fspath(folder)
        self.formats = tuple(formats)
        self.stream = stream if stream is not None else sys.stdout
        self.values: dict[str, float] = {}
        self._csv_rows: list[dict[str, float]] = []
        self._csv_keys: list[str] = []
        self._tb_writer: Any = None
        if self.folder is not None:
            os.makedirs(self.folder, exist_ok=True)
        if self.csv_path is not None and os.path.exists(self.csv_path):  # continue the folder's progress.csv
            with open(self.csv_path, newline="") as f:
                reader = csv.DictReader(f)
                self._csv_keys = list(reader.fieldnames or [])
                self._csv_rows = [{k: _number(v) for k, v in row.items() if v not in ("", None)} for row in reader]
        self._wandb_run: Any = None
        if "wandb" in self.formats:
            self._wandb_run = _start_wandb({"dir": self.folder, **(wandb_init or {})})
        if "tensorboard" in self.formats:
            from tensorboardX import SummaryWriter

            self._tb_writer = SummaryWriter(self.folder)

    @property
    def csv_path(self) -> str | None:
        return None if self.folder is None or "csv" not in self.formats else os.path.join(self.folder, "progress.csv")

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """Store a scalar under ``key`` until the next :meth:`dump`.

        ``exclude`` exists for stable-baselines3 callbacks (which pass it); every value goes to every output.
        """
        try:
            self.values[key] = float(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"logger.record({key!r}, ...) needs a number, got {value!r}") from error

    def dump(self, step: int) -> None:
        """Write the recorded values, tagged with ``step``, to every output; then clear them."""
        if not self.values:
            return
        if "stdout" in self.formats:
            self._write_table()
        if "csv" in self.formats:
            self._write_csv({"time/total_timesteps": float(step), **self.values})
        if self._tb_writer is not None:
            for key, value in self.values.items():
                self._tb_writer.add_scalar(key, value, step)
            self._tb_writer.flush()
        if self._wandb_run is not None:
            self._wandb_run.log(dict(self.values), step=int(step))
        self.values = {}

    def rewind(self, step: int) -> None:
        """Forget what was logged after ``step`` (a run resumed from a checkpoint at ``step``):
        progress.csv loses those rows, and TensorBoard hides that run's events past ``step``."""
        kept = [row for row in self._csv_rows if row.get("time/total_timesteps", 0) <= step]
        if len(kept) < len(self._csv_rows) and self.csv_path is not None:
            self._csv_rows = kept
            self._rewrite_csv()
        if self._tb_writer is not None:
            from tensorboardX import SummaryWriter

            self._tb_writer.close()
            self._tb_writer = SummaryWriter(self.folder, purge_step=int(step) + 1)

    def with_wandb(self, wandb_init: dict[str, Any]) -> Logger:
        """A logger to the same folder and outputs, and to Weights & Biases (``wandb.init(**wandb_init)``)."""
        return Logger(self.folder, (*self.formats, "wandb"), self.stream, wandb_init)

    def close(self) -> None:
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None

    def _write_table(self) -> None:
        rows = [(key, _format(value)) for key, value in sorted(self.values.items())]
        key_width = max(len(k) for k, _ in rows)
        value_width = max(len(v) for _, v in rows)
        line = "-" * (key_width + value_width + 7)
        body = "\n".join(f"| {k:<{key_width}} | {v:>{value_width}} |" for k, v in rows)
        self.stream.write(f"{line}\n{body}\n{line}\n")
        self.stream.flush()

    def _write_csv(self, row: dict[str, float]) -> None:
        new_keys = [k for k in row if k not in self._csv_keys]
        self._csv_rows.append(row)
        self._csv_keys.extend(new_keys)
        self._rewrite_csv()

    def _rewrite_csv(self) -> None:
        with atomic_open(self.csv_path) as f:  # the whole file each time: a crash never leaves a cut row
            writer = csv.DictWriter(f, fieldnames=self._csv_keys)
            writer.writeheader()
            writer.writerows(self._csv_rows)


def _start_wandb(settings: dict[str, Any]) -> Any:
    """``wandb.init(**settings)``; a missing package or a failed start (no API key, no network)
    is an ImportError / ValueError that says what to do."""
    try:
        import wandb
    except ImportError as error:
        raise ImportError(WANDB_MISSING) from error
    try:
        return wandb.init(**settings)
    except Exception as error:  # wandb's own errors (UsageError, CommError, ...) derive from Exception
        raise ValueError(f"Weights & Biases did not start ({type(error).__name__}: {error}); log in with `wandb login`, "
                         "or set WANDB_MODE=offline to log without a network") from error


def _format(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _number(text: str) -> float | str:
    """A cell of an earlier progress.csv as the number it was written from (text if it is none)."""
    try:
        return float(text)
    except ValueError:
        return text
