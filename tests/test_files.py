"""Atomic writes: a failure mid-write leaves the old file as it was and no temporary file beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gcrl_depth.files import atomic_path, atomic_write_text, save_figure
from gcrl_depth.plotting import plt


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_a_figure_is_saved_whole_or_not_at_all(tmp_path):
    path = save_figure(figure(), tmp_path / "plots" / "curve.png")
    assert Path(path).read_bytes()[:4] == b"\x89PNG"
    before = digest(tmp_path / "plots" / "curve.png")
    fig = figure()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    fig.savefig = full_disk
    with pytest.raises(OSError, match="No space left"):
        save_figure(fig, tmp_path / "plots" / "curve.png")
    assert digest(tmp_path / "plots" / "curve.png") == before
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["curve.png"]
    assert not plt.fignum_exists(fig.number)  # closed even so


def test_a_writer_that_needs_a_name_gets_one_with_the_suffix_and_a_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "clip.mp4"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        assert tmp.endswith(".mp4") and tmp != str(path)
        Path(tmp).write_text("half")
        raise RuntimeError("ffmpeg died")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
