"""Learning-curve pictures (matplotlib, headless): time at goal against env steps or wall-clock."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gcrl_depth.files import save_figure


def plot_curves(
    curves: dict[str, tuple[Sequence[float], ...]],
    path: str | os.PathLike,
    xlabel: str = "env steps",
    ylabel: str = "time at goal (steps of 1000)",
    title: str = "",
    baseline: float | None = None,
    baseline_label: str = "random policy",
) -> str:
    """Plot ``{label: (x, y)}``, ``{label: (x, y, standard error)}`` or ``{label: (x, y, low, high)}``
    as lines with markers (and shaded +-s.e. or low-high bands) into a PNG; returns its path."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for label, (x, y, *band) in curves.items():
        (line,) = ax.plot(x, y, marker="o", markersize=3, label=label)
        if len(band) == 1 and any(band[0]):
            band = [[a - b for a, b in zip(y, band[0])], [a + b for a, b in zip(y, band[0])]]
        if len(band) == 2 and band[0] != band[1]:
            ax.fill_between(x, band[0], band[1], color=line.get_color(), alpha=0.2)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", linewidth=1, label=baseline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


def figure_pixels(fig) -> np.ndarray:
    """A matplotlib figure drawn as an RGB array (height x width x 3, uint8); closes the figure."""
    try:
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def plot_intervals(intervals: dict[str, tuple[float, float, float]], path: str | os.PathLike,
                   xlabel: str = "IQM time at goal (steps of 1000)", title: str = "") -> str:
    """Plot ``{label: (point, low, high)}`` as one horizontal interval per row (rliable's
    interval plot: the point estimate as a tick, its confidence interval as a bar) into a PNG."""
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.45 * len(intervals)), dpi=120)
    for row, (_label, (point, low, high)) in enumerate(intervals.items()):
        color = plt.get_cmap("tab10")(row % 10)
        ax.barh(row, high - low, left=low, height=0.6, color=color, alpha=0.35)
        ax.plot([point, point], [row - 0.3, row + 0.3], color=color, linewidth=2.5)
    ax.set_yticks(range(len(intervals)), list(intervals))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
