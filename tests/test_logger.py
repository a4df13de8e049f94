"""The training logger: stdout table, CSV with growing columns, TensorBoard events, pictures, bad formats."""

from __future__ import annotations

import csv
import io
import os
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from fake_wandb import FakeWandb
from tensorboard_events import tensorboard_records

from gcrl_depth.logger import Logger


def test_stdout_table_lists_every_key_once():
    stream = io.StringIO()
    logger = Logger(formats=("stdout",), stream=stream)
    logger.record("train/loss", 0.123456)
    logger.record("time/steps", 1000)
    logger.dump(step=10)
    text = stream.getvalue()
    assert "| time/steps |   1000 |" in text and "| train/loss | 0.1235 |" in text
    logger.dump(step=11)  # nothing recorded since: nothing written
    assert stream.getvalue() == text


def test_csv_gains_columns_and_tensorboard_writes_events(tmp_path):
    logger = Logger(tmp_path, formats=("csv", "tensorboard"))
    logger.record("a", 1)
    logger.dump(step=5)
    logger.record("a", 2)
    logger.record("b", 3)
    logger.dump(step=6)
    logger.close()
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"time/total_timesteps": "5.0", "a": "1.0", "b": ""},
                    {"time/total_timesteps": "6.0", "a": "2.0", "b": "3.0"}]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))


def test_bad_formats_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown log formats"):
        Logger(tmp_path, formats=("json",))
    with pytest.raises(ValueError, match="need a folder"):
        Logger(None, formats=("csv",))


def test_pictures_go_to_tensorboard_and_wandb_and_the_csv_skips_them(tmp_path, monkeypatch):
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    logger = Logger(tmp_path, formats=("csv", "tensorboard", "wandb"))
    picture = np.full((6, 10, 3), 200, np.uint8)
    frames = np.stack([np.full((4, 8, 3), 40 * i, np.uint8) for i in range(3)])
    logger.record("eval/time_at_goal", 12.5)
    logger.record_image("eval/q_map", picture)
    logger.record_video("eval/video", frames, fps=8)
    logger.dump(step=100)
    logger.record_image("eval/q_map", picture)  # pictures alone: TensorBoard and wandb, no CSV row
    logger.dump(step=200)
    logger.close()

    with open(tmp_path / "progress.csv") as f:
        assert list(csv.DictReader(f)) == [{"time/total_timesteps": "100.0", "eval/time_at_goal": "12.5"}]
    images = [(e.step, v.tag, v.image) for e in tensorboard_records(tmp_path) for v in e.summary.value if v.HasField("image")]
    assert [(step, tag) for step, tag, _ in images] == [(100, "eval/q_map"), (100, "eval/video"), (200, "eval/q_map")]
    png, gif = images[0][2], images[1][2]
    assert (png.height, png.width) == (6, 10) and png.encoded_image_string[:4] == b"\x89PNG"
    assert (gif.height, gif.width) == (4, 8) and gif.encoded_image_string[:3] == b"GIF"
    decoded = iio.imread(gif.encoded_image_string, index=None, extension=".gif")
    assert decoded.shape[0] == 3 and abs(int(decoded[2, 0, 0, 0]) - 80) <= 2  # every frame, in order

    (step, logged), (later, alone) = wandb.runs[0].logged
    assert (step, later) == (100, 200) and logged["eval/time_at_goal"] == 12.5 and set(alone) == {"eval/q_map"}
    assert np.array_equal(logged["eval/q_map"].data, picture)
    video = logged["eval/video"]
    assert video.format == "gif" and video.data.getvalue() == gif.encoded_image_string  # the same GIF as TensorBoard's


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)])
def test_a_picture_of_another_shape_or_type_is_refused_by_name(bad):
    logger = Logger(formats=("stdout",), stream=io.StringIO())
    with pytest.raises(ValueError, match=r"'eval/q_map' must be a uint8 RGB array of shape height x width x 3"):
        logger.record_image("eval/q_map", bad)
    with pytest.raises(ValueError, match="time x height x width x 3"):
        logger.record_video("eval/video", bad)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        logger.record_video("eval/video", np.zeros((2, 4, 4, 3), np.uint8), fps=0)
