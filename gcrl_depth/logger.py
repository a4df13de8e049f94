"""Training logs: key/value records dumped to stdout, a CSV file, TensorBoard and Weights & Biases.

``record`` stores scalars under namespaced keys (``train/``, ``eval/``, ``time/``);
``record_image`` and ``record_video`` store pictures (TensorBoard and Weights & Biases show
them; stdout and the CSV skip them); ``dump(step)`` writes everything to every output and
clears it, as stable-baselines3's logger does. The CSV grows new columns when new keys appear (the file is rewritten whole,
atomically), and a logger on a folder that holds a ``progress.csv`` continues it.
Weights & Biases (``"wandb"``) needs the optional ``wandb`` extra; ``WANDB_MODE=offline``
logs without a network.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
import sys
from typing import Any, TextIO

import numpy as np

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
        self.media: dict[str, Image | Video] = {}
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

    def record_image(self, key: str, image: Any) -> None:
        """Store an RGB picture (height x width x 3, uint8) under ``key`` until the next :meth:`dump`."""
        self.media[key] = Image(_rgb_frames(key, image, 3))

    def record_video(self, key: str, frames: Any, fps: float = 20.0) -> None:
        """Store RGB frames (time x height x width x 3, uint8) played at ``fps`` until the next :meth:`dump`."""
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"logger.record_video({key!r}, ...): fps must be a positive number, got {fps!r}")
        self.media[key] = Video(_rgb_frames(key, frames, 4), float(fps))

    def dump(self, step: int) -> None:
        """Write what was recorded, tagged with ``step``, to every output; then clear it."""
        if not self.values and not self.media:
            return
        if "stdout" in self.formats and self.values:
            self._write_table()
        if "csv" in self.formats and self.values:
            self._write_csv({"time/total_timesteps": float(step), **self.values})
        if self._tb_writer is not None:
            for key, value in self.values.items():
                self._tb_writer.add_scalar(key, value, step)
            for key, item in self.media.items():
                _tensorboard_media(self._tb_writer, key, item, step)
            self._tb_writer.flush()
        if self._wandb_run is not None:
            media = {key: item.for_wandb() for key, item in self.media.items()}
            self._wandb_run.log({**self.values, **media}, step=int(step))
        self.values, self.media = {}, {}

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


class Image:
    """A picture waiting for :meth:`Logger.dump`: RGB, height x width x 3, uint8."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def for_wandb(self) -> Any:
        import wandb

        return wandb.Image(self.pixels)


class Video:
    """Frames waiting for :meth:`Logger.dump`: RGB, time x height x width x 3, uint8, at ``fps``."""

    def __init__(self, frames: np.ndarray, fps: float) -> None:
        self.frames, self.fps = frames, fps

    @functools.cached_property
    def gif(self) -> bytes:
        """The frames encoded once as an animated GIF, for TensorBoard and wandb alike."""
        import imageio.v3 as imageio

        return imageio.imwrite("<bytes>", self.frames, extension=".gif", duration=1000 / self.fps, loop=0)

    def for_wandb(self) -> Any:
        import wandb

        return wandb.Video(io.BytesIO(self.gif), format="gif")  # encoded here: wandb's own encoder needs moviepy


def _rgb_frames(key: str, pixels: Any, ndim: int) -> np.ndarray:
    """``pixels`` as uint8 RGB with ``ndim`` axes (the last one 3), or a ValueError naming ``key``."""
    array = np.asarray(pixels)
    shape = "height x width x 3" if ndim == 3 else "time x height x width x 3"
    if array.ndim != ndim or array.shape[-1] != 3 or 0 in array.shape or array.dtype != np.uint8:
        raise ValueError(f"logger media {key!r} must be a uint8 RGB array of shape {shape}, got "
                         f"{array.dtype} of shape {array.shape}")
    return array


def _tensorboard_media(writer: Any, key: str, item: Image | Video, step: int) -> None:
    """Add a picture (an image summary) or a video (an animated GIF image summary, which
    TensorBoard's image tab plays; tensorboardX's own ``add_video`` needs moviepy)."""
    if isinstance(item, Image):
        writer.add_image(key, item.pixels, step, dataformats="HWC")
        return
    from tensorboardX.proto.summary_pb2 import Summary

    height, width = item.frames.shape[1:3]
    picture = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=item.gif)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=key, image=picture)]), step)
