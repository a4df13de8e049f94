"""TensorBoard event files read back in tests (no tensorboard package needed)."""

from __future__ import annotations

import os
import struct


def tensorboard_records(folder):
    """Every event of the folder's TensorBoard files (TFRecord framing: length, its CRC, the event, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    events = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("events.out.tfevents"):
            data = (folder / name).read_bytes()
            while data:
                length = struct.unpack("<Q", data[:8])[0]
                events.append(Event.FromString(data[12:12 + length]))
                data = data[16 + length:]
    return events
