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


def add_seed_arguments(parser: argparse.ArgumentParser, default_count: int) -> None:
    """``--seeds S [S ...]`` (the seeds) or ``--num-seeds N`` (seeds 0 .. N-1), not both:
    :func:`chosen_seeds` reads them back."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                       help="the seeds, e.g. 0 1 2 (default: 0 .. --num-seeds - 1)")
    group.add_argument("--num-seeds", type=positive_int, default=None, metavar="N",
                       help=f"seeds 0 .. N-1 (default: {default_count})")  # None: argparse sees a default given again
    parser.set_defaults(default_num_seeds=default_count)


def chosen_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds :func:`add_seed_arguments`' flags name."""
    if args.seeds is not None:
        return check_seeds(args.seeds)
    return list(range(args.default_num_seeds if args.num_seeds is None else args.num_seeds))


def check_seeds(seeds: list[int]) -> list[int]:
    """``--seeds`` as given, or a ValueError naming the flag: distinct non-negative integers."""
    if len(set(seeds)) != len(seeds) or any(seed < 0 for seed in seeds):
        raise ValueError(f"--seeds must be distinct non-negative integers, got {' '.join(map(str, seeds))}")
    return seeds


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
