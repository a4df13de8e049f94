"""Argument checks shared by the public API: one wording for every "expected a positive integer"."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_int(value: Any, name: str, minimum: int = 1, what: str | None = None) -> int:
    """``value`` as an int if it is an integer (not a bool) of at least ``minimum``, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer of at least {minimum}")
        raise ValueError(f"{name} must be {kind}{f' ({what})' if what else ''}, got {value!r}")
    return int(value)
