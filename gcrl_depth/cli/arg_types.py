"""Argument types of the command line: each names what it expected when a value does not parse."""

from __future__ import annotations

import argparse
import json
from typing import Any


def positive_int(text: str) -> int:
    """A positive integer from the command line."""
    return _integer(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """A non-negative integer from the command line (0 often means: off)."""
    return _integer(text, 0, "a non-negative integer")


def _integer(text: str, minimum: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
    return value


def json_object(text: str) -> dict[str, Any]:
    """A JSON object from the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"episode_length\": 200}}': {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"episode_length\": 200}}', got {text!r}")
    return value


def check_labels(labels: list[str] | None, items: list[str], what: str) -> None:
    """``--labels``, if given, names each of ``items`` (models, run folders): a ValueError otherwise."""
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"--labels needs one label per {what}: {len(items)} given, {len(labels)} labels")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each default said once: added only where the help names none and there is
    one to tell (not None, False or a flag left unset)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or any(action.default is unset for unset in (None, False, argparse.SUPPRESS)):
            return text
        return super()._get_help_string(action) or text
