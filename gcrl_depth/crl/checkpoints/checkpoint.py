"""Transparent, atomic checkpoints: a zip of JSON and msgpack, no pickled code.

Members (format 2):
    ``config.json``     the agent's CRLConfig as a dict;
    ``metadata.json``   format version, env id and options, the env's physics (``"mjx"``
                        or ``"spring"``; None for an env not of gcrl_depth; absent in a
                        checkpoint written before it was recorded, read as ``"mjx"``),
                        step count, seed, the run's PRNG key data, versions;
    ``params.msgpack``  the :class:`~gcrl_depth.crl.engine.learner.Params` (actor, critic with phi
                        and psi stacked, log temperature), leaves keyed by their paths;
    ``optimizer.msgpack`` the Adam state over those parameters, keyed the same way (absent
                        in a parameters-only checkpoint, ``save(..., include_optimizer=False)``:
                        training on from it starts Adam afresh);
    ``training_state.msgpack`` (only with ``save(..., include_buffer=True)``) the replay
    buffer, the training envs' state and their episode counters: everything a resumed
    run needs to continue exactly (stored uncompressed).

Format 1 (flax module parameters, three Adam states, the key inside
``optimizer.msgpack``) is still read: :mod:`gcrl_depth.crl.checkpoints.checkpoint_v1` converts it.

The zip is written to a temporary file in the target folder and moved into place with
``os.replace``, so a crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import warnings
import zipfile
import zlib
from importlib import metadata as importlib_metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from gcrl_depth.files import atomic_open

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
OPTIMIZER_MEMBER = "optimizer.msgpack"
MEMBERS = ("config.json", "metadata.json", "params.msgpack")  # and OPTIMIZER_MEMBER, but in parameters-only checkpoints
REQUIRED_META = ("sizes", "seed", "num_timesteps", "num_updates", "agent", "evaluations", "key")  # format 2
TRAINING_MEMBER = "training_state.msgpack"
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


def write_checkpoint(path: str | os.PathLike, config: dict[str, Any], meta: dict[str, Any], params: Any, opt_state: Any,
                     key: jax.Array, training_state: Any = None) -> str:
    """Atomically write a checkpoint zip (with the optimizer state and the training state where
    given, not None); returns the path written."""
    path = checkpoint_path(path)
    meta = {"format_version": FORMAT_VERSION, **meta, "key": np.asarray(jax.random.key_data(key)).tolist(),
            "versions": package_versions()}
    members = {
        "config.json": json.dumps(config, indent=2, sort_keys=True).encode(),
        "metadata.json": json.dumps(meta, indent=2, sort_keys=True).encode(),
        "params.msgpack": tree_to_bytes(params),
    }
    if opt_state is not None:
        members[OPTIMIZER_MEMBER] = tree_to_bytes(opt_state)
    with atomic_open(path, "wb", suffix=".zip") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
            if training_state is not None:  # large and incompressible: stored as is
                archive.writestr(TRAINING_MEMBER, tree_to_bytes(training_state), compress_type=zipfile.ZIP_STORED)
    return path


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's contents; :meth:`learner`, :meth:`key` and :meth:`training` restore them into templates."""

    path: str
    config: dict[str, Any]
    meta: dict[str, Any]
    members: dict[str, bytes]

    @property
    def format_version(self) -> int:
        return self.meta["format_version"]

    @property
    def has_training_state(self) -> bool:
        return TRAINING_MEMBER in self.members

    @property
    def has_optimizer_state(self) -> bool:
        return OPTIMIZER_MEMBER in self.members

    def learner(self, like: Any) -> Any:
        """The saved :class:`~gcrl_depth.crl.engine.learner.Learner`, in the structure of ``like`` (arrays or shape structs)."""
        from gcrl_depth.crl.engine.learner import Learner

        if self.format_version == 1:
            from gcrl_depth.crl.checkpoints.checkpoint_v1 import learner_from_v1

            learner = learner_from_v1(self.members, like, self.path)
            check_same_shapes(like.params, learner.params,
                              f"{self.path!r}: checkpoint parameters do not match the agent's architecture")
            check_finite(learner.params, f"{self.path!r}: parameters")
            return jax.tree_util.tree_map(lambda x, t: np.asarray(x, t.dtype), learner, like)
        params = tree_from_bytes(like.params, self.members["params.msgpack"], f"{self.path}: parameters")
        if self.has_optimizer_state:
            opt_state = tree_from_bytes(like.opt_state, self.members[OPTIMIZER_MEMBER], f"{self.path}: optimizer state")
        else:  # a parameters-only checkpoint: Adam as at its start (zero moments, zero count)
            opt_state = jax.tree_util.tree_map(lambda t: np.zeros(np.shape(t), t.dtype), like.opt_state)
        check_finite(params, f"{self.path!r}: parameters")
        return Learner(params, opt_state)

    def key(self) -> jax.Array:
        """The run's PRNG key when it was saved."""
        if self.format_version == 1:
            data = serialization.msgpack_restore(self.members[OPTIMIZER_MEMBER])["key"]
        else:
            data = self.meta["key"]
        return key_from_data(data)

    def training(self, like: dict[str, Any]) -> dict[str, Any] | None:
        """``{"buffer", "env", "episode"}`` saved with ``include_buffer=True`` (None if absent), shaped like ``like``."""
        if not self.has_training_state:
            return None
        data = self.members[TRAINING_MEMBER]
        if self.format_version == 1:
            v1_like = {"buffer": like["buffer"], "env_state": like["env"], "episode": like["episode"],
                       "collection_key": jax.eval_shape(lambda: jax.random.key(0))}
            stored = tree_from_bytes(v1_like, data, f"{self.path}: training state")
            return {"buffer": stored["buffer"], "env": stored["env_state"], "episode": stored["episode"]}
        return tree_from_bytes(like, data, f"{self.path}: training state")


def key_from_data(data: Any) -> jax.Array:
    """A PRNG key from the key data a checkpoint's metadata holds (a list of uint32)."""
    return jax.random.wrap_key_data(jnp.asarray(np.asarray(data, np.uint32)))


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """The contents of a checkpoint zip of a readable format (clear errors for anything else)."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(checkpoint_path(path)):
        path = checkpoint_path(path)
    if not os.path.exists(path):
        tried = path if path == checkpoint_path(path) else f"{path} nor {checkpoint_path(path)}"
        raise FileNotFoundError(f"no checkpoint at {tried!r}; expected a zip written by DeepCRL.save")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a DeepCRL checkpoint (expected a zip written by DeepCRL.save)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            missing = sorted(set(MEMBERS) - set(names))
            if missing:
                raise ValueError(f"{path!r} is not a DeepCRL checkpoint: it lacks {missing}")
            members = {name: archive.read(name) for name in (*MEMBERS, OPTIMIZER_MEMBER, TRAINING_MEMBER) if name in names}
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{path!r} is a corrupt DeepCRL checkpoint (damaged zip member: {error})") from error
    try:
        config, meta = json.loads(members["config.json"]), json.loads(members["metadata.json"])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path!r} is a corrupt DeepCRL checkpoint (config.json / metadata.json are not JSON: {error})") from error
    if not isinstance(meta, dict) or meta.get("format_version") not in READABLE_VERSIONS:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        writer = (meta.get("versions") or {}).get("gcrl_depth") if isinstance(meta, dict) else None
        newer = isinstance(version, int) and version > max(READABLE_VERSIONS)
        raise ValueError(f"{path!r} has checkpoint format {version!r}" + (f", written by gcrl_depth {writer}" if writer else "")
                         + f"; this gcrl_depth ({package_versions().get('gcrl_depth')}) reads formats "
                         f"{list(READABLE_VERSIONS)}" + ("; upgrade gcrl_depth to load it" if newer else ""))
    missing = sorted(set(REQUIRED_META) - set(meta)) if meta["format_version"] >= 2 else []
    if meta["format_version"] == 1 and OPTIMIZER_MEMBER not in members:  # format 1 keeps the key there
        missing = [OPTIMIZER_MEMBER]
    if missing or not isinstance(config, dict):
        what = f"metadata.json lacks {missing}" if missing else "config.json is not a mapping"
        raise ValueError(f"{path!r} is not a complete DeepCRL checkpoint: {what}")
    return Checkpoint(path, config, meta, members)


def restore(target: Any, data: bytes, what: str) -> Any:
    """Deserialize msgpack ``data`` into the structure of ``target``, naming ``what`` on mismatch."""
    try:
        restored = serialization.from_bytes(target, data)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"checkpoint {what} do not match the agent's architecture: {error}") from error
    check_same_shapes(target, restored, f"checkpoint {what} do not match the agent's architecture")
    return restored


def check_same_shapes(expected: Any, found: Any, message: str) -> None:
    """Raise ``ValueError(message: ...)`` unless the two pytrees have the same structure and leaf shapes."""
    expected_shapes = jax.tree_util.tree_map(np.shape, expected)
    try:
        found_shapes = jax.tree_util.tree_map(np.shape, found)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{message}: {error}") from error
    expected_tree: Any = jax.tree_util.tree_structure(expected_shapes, is_leaf=_is_shape)  # (PyTreeDef's stub lacks ==)
    if expected_tree != jax.tree_util.tree_structure(found_shapes, is_leaf=_is_shape):
        raise ValueError(f"{message}: the structure differs (expected {_first_keys(expected)}, got {_first_keys(found)})")
    if expected_shapes != found_shapes:
        mismatched = [jax.tree_util.keystr(path) for (path, a), b in zip(
            jax.tree_util.tree_leaves_with_path(expected_shapes, is_leaf=_is_shape),
            jax.tree_util.tree_leaves(found_shapes, is_leaf=_is_shape)) if a != b]
        raise ValueError(f"{message}: shapes differ at {mismatched[:5]}")


def tree_to_bytes(tree: Any) -> bytes:
    """msgpack of a pytree's leaves keyed by their paths (PRNG keys stored as their key data)."""
    leaves = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        leaves[jax.tree_util.keystr(path)] = np.asarray(jax.device_get(leaf))
    return serialization.msgpack_serialize(leaves)


def tree_from_bytes(template: Any, data: bytes, what: str) -> Any:
    """Inverse of :func:`tree_to_bytes` into the structure of ``template`` (arrays or shape structs)."""
    return tree_from_leaves(template, serialization.msgpack_restore(data), what)


def tree_from_leaves(template: Any, stored: dict[str, Any], what: str) -> Any:
    """Leaves keyed by their paths (``{keystr: array}``) into the structure of ``template``, every
    leaf checked for shape and dtype (a float leaf of another precision is cast, with a warning)."""
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, like in paths_and_leaves:
        name = jax.tree_util.keystr(path)
        is_key = jax.dtypes.issubdtype(like.dtype, jax.dtypes.prng_key)
        expected = jax.eval_shape(jax.random.key_data, like) if is_key else like
        value = stored.get(name)
        if value is not None and _float_cast(value, expected):
            warnings.warn(f"{what}: {name} was saved as {np.asarray(value).dtype}; cast to {expected.dtype}",
                          RuntimeWarning, stacklevel=3)
            value = np.asarray(value, expected.dtype)
        if value is None or np.shape(value) != tuple(expected.shape) or np.asarray(value).dtype != expected.dtype:
            found = "missing" if value is None else f"{np.asarray(value).dtype}{list(np.shape(value))}"
            raise ValueError(f"checkpoint {what} do not match the agent's architecture at {name}: expected "
                             f"{expected.dtype}{list(expected.shape)}, found {found}")
        leaves.append(jax.random.wrap_key_data(value) if is_key else value)  # keys use the default PRNG impl
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _float_cast(value: Any, expected: Any) -> bool:
    """Whether a saved float array of the right shape differs from the expected float dtype (then it is cast)."""
    value = np.asarray(value)
    return (value.dtype != expected.dtype and np.issubdtype(value.dtype, np.floating)
            and np.issubdtype(np.dtype(expected.dtype), np.floating) and value.shape == tuple(expected.shape))


def check_finite(tree: Any, what: str) -> None:
    """Raise a ValueError naming the first leaf of ``tree`` with a NaN or an infinity."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not np.isfinite(np.asarray(leaf)).all():
            raise ValueError(f"{what} hold NaN or infinite values at {jax.tree_util.keystr(path)}; refusing to load "
                             "them (a diverged run? load an earlier checkpoint)")


def _first_keys(tree: Any) -> list[str]:
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)][:3]


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)
