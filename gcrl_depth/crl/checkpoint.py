"""Transparent, atomic checkpoints: a zip of JSON and msgpack, no pickled code.

Members:
    ``config.json``     the agent's CRLConfig as a dict;
    ``metadata.json``   format version, env id and options, step count, seed, versions;
    ``params.msgpack``  actor and critic parameters and the log temperature;
    ``optimizer.msgpack`` the three Adam states and the PRNG key data.

The zip is written to a temporary file in the target folder and moved into place with
``os.replace``, so a crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
import platform
import zipfile
from importlib import metadata as importlib_metadata
from typing import Any

import jax
import numpy as np
from flax import serialization

from gcrl_depth.files import atomic_open

FORMAT_VERSION = 1
MEMBERS = ("config.json", "metadata.json", "params.msgpack", "optimizer.msgpack")
VERSIONED_PACKAGES = ("gcrl_depth", "jax", "jaxlib", "flax", "optax", "mujoco", "mujoco-mjx", "numpy")


def checkpoint_path(path: str | os.PathLike) -> str:
    """``path`` with a ``.zip`` suffix added if it has none (stable-baselines3's convention)."""
    path = os.fspath(path)
    return path if path.endswith(".zip") else path + ".zip"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_checkpoint(path: str | os.PathLike, config: dict[str, Any], meta: dict[str, Any], params: Any, optimizer: Any) -> str:
    """Atomically write a checkpoint zip; returns the path written."""
    path = checkpoint_path(path)
    meta = {"format_version": FORMAT_VERSION, **meta, "versions": package_versions()}
    members = {
        "config.json": json.dumps(config, indent=2, sort_keys=True).encode(),
        "metadata.json": json.dumps(meta, indent=2, sort_keys=True).encode(),
        "params.msgpack": serialization.to_bytes(params),
        "optimizer.msgpack": serialization.to_bytes(optimizer),
    }
    with atomic_open(path, "wb", suffix=".zip") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(config dict, metadata dict, params bytes, optimizer bytes) of a checkpoint zip."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(checkpoint_path(path)):
        path = checkpoint_path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a DeepCRL checkpoint (expected a zip written by DeepCRL.save)")
    with zipfile.ZipFile(path) as archive:
        missing = sorted(set(MEMBERS) - set(archive.namelist()))
        if missing:
            raise ValueError(f"{path!r} is not a DeepCRL checkpoint: it lacks {missing}")
        config = json.loads(archive.read("config.json"))
        meta = json.loads(archive.read("metadata.json"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path!r} has checkpoint format {meta.get('format_version')!r}; this gcrl_depth reads {FORMAT_VERSION}")
        return config, meta, archive.read("params.msgpack"), archive.read("optimizer.msgpack")


def restore(target: Any, data: bytes, what: str) -> Any:
    """Deserialize msgpack ``data`` into the structure of ``target``, naming ``what`` on mismatch."""
    try:
        restored = serialization.from_bytes(target, data)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"checkpoint {what} do not match the agent's architecture: {error}") from error
    expected = jax.tree_util.tree_map(np.shape, target)
    found = jax.tree_util.tree_map(np.shape, restored)
    if expected != found:
        mismatched = [jax.tree_util.keystr(path) for (path, a), b in zip(
            jax.tree_util.tree_leaves_with_path(expected, is_leaf=_is_shape), jax.tree_util.tree_leaves(found, is_leaf=_is_shape)) if a != b]
        raise ValueError(f"checkpoint {what} do not match the agent's architecture: shapes differ at {mismatched[:5]}")
    return restored


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)
