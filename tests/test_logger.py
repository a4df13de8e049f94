"""The training logger: stdout table, CSV with growing columns, TensorBoard events, bad formats."""

from __future__ import annotations

import csv
import io
import os

import pytest

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
