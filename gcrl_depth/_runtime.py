"""Process-wide runtime defaults, applied once when :mod:`gcrl_depth` is imported.

This is the one place where importing ``gcrl_depth`` changes the process. Set
``GCRL_DEPTH_DEFAULTS=off`` before the import to apply none of the three defaults below
(the quiet mjx import stays: it changes nothing). :data:`APPLIED` records what was done.

* **Headless rendering (Linux only).** MuJoCo picks its OpenGL backend from ``MUJOCO_GL``
  when ``mujoco`` is first imported. On a Linux machine without a display we default it
  to ``egl`` (Mesa's EGL renders on the CPU, NVIDIA's on a GPU) if ``libEGL`` can be found;
  without it (bare GPU images often lack it) ``egl`` would make ``import mujoco`` itself
  fail, so the variable is left unset and rendering is unavailable. macOS and Windows have
  no ``DISPLAY`` variable and accept only their own backends, so they are left alone. Set
  ``MUJOCO_GL`` yourself (``egl``, ``osmesa`` or ``glfw``) to override.
* **XLA CPU scheduler.** On the CPU, XLA's concurrency-optimized thunk scheduler was
  seen to deadlock (every worker idle, the result never ready) on MJX rollouts of 256
  ant-maze envs; ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` avoids it at
  no measurable cost, so it is added to ``XLA_FLAGS`` unless you set that flag yourself.
  Like all XLA flags it only takes effect if ``gcrl_depth`` is imported before JAX first
  runs a computation.
* **Quiet import.** ``mujoco.mjx`` prints a notice when the optional (GPU-only) Warp
  backend is missing; we use the JAX backend, so the notice is swallowed.
* **JAX persistent compilation cache.** MJX steps take tens of seconds to compile
  on a CPU, so compiled programs are cached on disk and reused across processes.
  The directory is ``$GCRL_DEPTH_JAX_CACHE`` (default ``~/.cache/gcrl_depth/jax``);
  set it to ``off`` to disable. An explicit ``JAX_COMPILATION_CACHE_DIR`` wins.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import io
import os
import sys
from pathlib import Path
from typing import Any

DEFAULTS_ENV_VAR = "GCRL_DEPTH_DEFAULTS"
CACHE_ENV_VAR = "GCRL_DEPTH_JAX_CACHE"
DEFAULT_XLA_FLAGS = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gcrl_depth" / "jax"
OFF_VALUES = ("", "off", "0", "none", "false", "no")
APPLIED: dict[str, Any] = {}  # what apply_defaults changed: {"MUJOCO_GL": ..., "XLA_FLAGS": ..., "jax_cache": ...}


def defaults_enabled() -> bool:
    """False when ``GCRL_DEPTH_DEFAULTS`` switches every process-wide default off."""
    return os.environ.get(DEFAULTS_ENV_VAR, "on").strip().lower() not in OFF_VALUES


def apply_defaults() -> dict[str, Any]:
    """Apply the headless GL, XLA flag and compilation cache defaults (unless switched off)."""
    if defaults_enabled():
        gl = default_headless_gl()
        if gl is not None:
            APPLIED["MUJOCO_GL"] = gl
        APPLIED["XLA_FLAGS"] = default_xla_flags()
        APPLIED["jax_cache"] = enable_compilation_cache()
    import_mjx_quietly()
    return APPLIED


def default_headless_gl(platform: str | None = None, find_library=ctypes.util.find_library) -> str | None:
    """On Linux without a display, choose EGL for MuJoCo rendering if libEGL exists; returns the value set."""
    platform = sys.platform if platform is None else platform
    if platform.startswith("linux") and "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        if find_library("EGL") is None:
            return None
        os.environ["MUJOCO_GL"] = "egl"
        return "egl"
    return None


def default_xla_flags() -> str:
    """Add :data:`DEFAULT_XLA_FLAGS` to ``XLA_FLAGS`` where the user has not set them."""
    flags = os.environ.get("XLA_FLAGS", "")
    for flag in DEFAULT_XLA_FLAGS:
        if flag.split("=")[0] not in flags:
            flags = f"{flags} {flag}".strip()
    os.environ["XLA_FLAGS"] = flags
    return flags


def import_mjx_quietly() -> None:
    """Import ``mujoco.mjx`` without the notice it prints when the optional Warp backend is absent."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from mujoco import mjx  # noqa: F401
    except AttributeError as error:  # PyOpenGL's answer to MUJOCO_GL naming a library that is not installed
        gl = os.environ.get("MUJOCO_GL")
        raise ImportError(
            f"importing mujoco failed with MUJOCO_GL={gl!r}: its OpenGL library was not found ({error}). "
            "Install it (Debian: libegl1 for egl, libosmesa6 for osmesa) or unset MUJOCO_GL.") from error


def compilation_cache_dir() -> Path | None:
    """Return the persistent cache directory in effect, or None when disabled."""
    explicit = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if explicit:
        return Path(explicit)
    value = os.environ.get(CACHE_ENV_VAR, str(DEFAULT_CACHE_DIR))
    if value.strip().lower() in OFF_VALUES:
        return None
    return Path(value).expanduser()


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache; returns the directory used."""
    import jax

    cache_dir = compilation_cache_dir()
    if cache_dir is None:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    # Cache every program that took noticeable time to compile, however small.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache_dir
