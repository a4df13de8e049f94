"""Command-line flags generated from :class:`~gcrl_depth.crl.engine.config.CRLConfig`: one per field.

Each flag's help is the field's line in the class docstring and its default, so ``--help``
never falls out of step with the config. Every command that builds DeepCRL configs (the CLI
and the scripts under ``benchmarks/``) takes the same three: ``--preset NAME`` (from
:data:`~gcrl_depth.crl.engine.config.PRESETS`), ``--config FILE`` (YAML or JSON) and the field
flags; they compose in that order, flags given on the command line winning.

Every command that builds gcrl_depth envs to train or evaluate also takes ``--physics
{mjx,spring}`` (:func:`add_physics_argument`), merged into the env options as ``physics=...``
by :func:`with_physics`, so it travels with the task options into the evaluation envs, the
checkpoints and the run folders.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from gcrl_depth.crl.engine.config import CHOICES, PRESETS, CRLConfig

# gcrl_depth.envs.physics.PHYSICS (tests/envs/test_physics.py keeps them equal), here without importing
# MuJoCo and JAX to parse a command line.
PHYSICS_CHOICES = ("mjx", "spring")
PHYSICS_HELP = ("the env core's physics: mjx (MuJoCo MJX) or spring (brax's spring pipeline, the paper's; Ant and "
                "Humanoid tasks only, needs brax); merged into the env options as physics=... (default: the env's own, mjx)")


def field_docs(cls: type = CRLConfig) -> dict[str, str]:
    """``{field: description}`` from the ``Attributes:`` section of ``cls``'s docstring."""
    docs: dict[str, str] = {}
    text = (cls.__doc__ or "").split("Attributes:", 1)[-1]
    current = None
    for line in text.splitlines():
        match = re.match(r"^\s{8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return {name: plain_text(text) for name, text in docs.items()}


def plain_text(text: str) -> str:
    """reST markup read as a terminal shows it: ``:func:`~a.b.name``` -> ``name``, ````"x"```` -> ``"x"``."""
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([\w]+)`", r"\1", text)
    return text.replace("``", "")


def add_config_arguments(parser: argparse.ArgumentParser, default_preset: str = "paper",
                         exclude: tuple[str, ...] = ()) -> None:
    """``--preset``, ``--config FILE`` and one flag per CRLConfig field (but those in ``exclude``);
    :func:`resolved_config` reads them back."""
    parser.add_argument("--preset", choices=list(PRESETS), default=default_preset, action=_PresetAction,
                        help=f"named overrides of the paper's defaults (gcrl_depth.PRESETS; this command's: {default_preset})")
    parser.set_defaults(preset_given=False)
    parser.add_argument("--config", default=None, metavar="FILE", help="YAML or JSON file of CRLConfig fields (flags win)")
    add_config_flags(parser, exclude, default_preset)


class _PresetAction(argparse.Action):
    """``--preset NAME``, noting that it was given (``preset_given``: a command warns where its default is slow)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.preset_given = True


def resolved_config(args: argparse.Namespace) -> dict[str, Any]:
    """The CRLConfig fields of :func:`add_config_arguments`' flags: the preset, then the file, then the flags."""
    return config_values(args, args.config, PRESETS[args.preset])


def add_physics_argument(parser: argparse.ArgumentParser, flag: str = "--physics", help_text: str = PHYSICS_HELP) -> None:
    """``--physics {mjx,spring}`` (or ``flag``), default None: the env's own physics; :func:`with_physics`
    merges it into the env options."""
    parser.add_argument(flag, choices=PHYSICS_CHOICES, default=None, help=help_text)


def with_physics(env: str | None, env_kwargs: dict[str, Any] | None, physics: str | None,
                 flag: str = "--physics") -> dict[str, Any]:
    """``env_kwargs`` (a copy) with ``physics=physics`` added, for the gcrl_depth task or id ``env``;
    ``physics=None`` adds nothing. A ValueError (one line, naming ``flag``) where ``env`` is not a
    gcrl_depth env, its task has no such physics, or ``env_kwargs`` name another physics."""
    options = dict(env_kwargs or {})
    if physics is None:
        return options
    from gcrl_depth.envs import TASKS, is_gcrl_id, task_name
    from gcrl_depth.envs.physics import check_physics

    if physics not in PHYSICS_CHOICES:
        raise ValueError(f"{flag} must be one of {list(PHYSICS_CHOICES)}, got {physics!r}")
    if not env or not is_gcrl_id(env):
        raise ValueError(f"{flag} {physics}: {env!r} is not a gcrl_depth env; the physics choice exists for gcrl_depth's "
                         "own tasks (spring for the Ant and Humanoid ones)")
    if options.get("physics", physics) != physics:
        raise ValueError(f"{flag} {physics} and the env options' physics={options['physics']!r} disagree; give one")
    task = task_name(env)
    try:
        check_physics(physics, _task_class(TASKS[task][0]).spring, task)  # the core's own rule, before any core is built
    except ValueError as error:
        raise ValueError(f"{flag} {physics}: {error}") from None
    return {**options, "physics": physics}


def _task_class(family: str) -> type:
    """The core class of a task family ``"module:Class"`` (imported, nothing built)."""
    import importlib

    module_name, class_name = family.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def add_config_flags(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = (), preset: str = "paper") -> None:
    """One ``--field`` flag per CRLConfig field (but those in ``exclude``), typed from its
    annotation, its help showing the value under ``preset``; a flag not given leaves no
    attribute, so the file or preset decides."""
    group = parser.add_argument_group(f"CRLConfig fields (defaults: --preset {preset}'s)")
    values = PRESETS[preset]
    docs = field_docs()
    hints = typing.get_type_hints(CRLConfig)
    for field in dataclasses.fields(CRLConfig):
        if field.name in exclude:
            continue
        kind = _scalar_type(hints[field.name])
        parse = _parse_bool if kind is bool else _optional(kind) if _is_optional(hints[field.name]) else kind
        choices = CHOICES.get(field.name)
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=parse, default=argparse.SUPPRESS,
                           choices=choices, metavar=None if choices else kind.__name__.upper(),
                           help=f"{docs.get(field.name, '')} (default: {values.get(field.name, field.default)})")


def config_values(args: argparse.Namespace, config_file: str | None, preset: dict[str, Any]) -> dict[str, Any]:
    """The config as the preset, then the file, then the flags given (each overriding the last)."""
    values = dict(preset)
    if config_file:
        values.update(read_config_file(config_file))
    values.update(given_flags(args))
    return values


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The CRLConfig fields given as flags on the command line (a flag not given leaves no attribute)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(CRLConfig) if hasattr(args, f.name)}


def read_config_file(path: str) -> dict[str, Any]:
    """A YAML (``.yaml`` / ``.yml``) or JSON file holding a mapping of CRLConfig fields."""
    if Path(path).is_dir():
        raise ValueError(f"--config {path}: a folder; expected a YAML or JSON file of CRLConfig fields")
    if not Path(path).exists():
        raise ValueError(f"--config {path}: no such file; expected a YAML or JSON file of CRLConfig fields")
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"--config {path}: not valid YAML ({' '.join(str(error).split())})") from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--config {path}: not valid JSON ({error}); a .yaml or .yml name reads YAML") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a mapping of CRLConfig fields, got {type(values).__name__}")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(CRLConfig)})
    if unknown:
        flags = ", ".join(f"--{name.replace('_', '-')} {values[name]}" for name in unknown)
        raise ValueError(f"--config {path}: {unknown} are not CRLConfig fields; give them as flags ({flags}) or drop "
                         "them (--help lists the fields a config file may hold)")
    return values


def _is_optional(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in hint.__args__


def _scalar_type(hint: Any) -> type:
    if isinstance(hint, types.UnionType):
        return next(arg for arg in hint.__args__ if arg is not type(None))
    return hint


def _optional(kind: type):
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
