"""Process-wide defaults: the persistent compilation cache directory and the GL backend."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax

from gcrl_depth import _runtime


def test_cache_dir_defaults_overrides_and_off(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv(_runtime.CACHE_ENV_VAR, raising=False)
    assert _runtime.compilation_cache_dir() == _runtime.DEFAULT_CACHE_DIR
    monkeypatch.setenv(_runtime.CACHE_ENV_VAR, str(tmp_path / "c"))
    assert _runtime.compilation_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(_runtime.CACHE_ENV_VAR, "off")
    assert _runtime.compilation_cache_dir() is None
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "explicit"))
    assert _runtime.compilation_cache_dir() == tmp_path / "explicit"


def test_importing_the_package_turned_the_cache_on():
    configured = jax.config.jax_compilation_cache_dir
    expected = _runtime.compilation_cache_dir()
    assert expected is None or Path(configured) == expected


def test_headless_gl_default_only_on_linux_with_libegl(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    for platform in ("darwin", "win32"):  # MuJoCo there accepts only its own backends: leave it alone
        assert _runtime.default_headless_gl(platform) is None and "MUJOCO_GL" not in os.environ
    monkeypatch.setattr(sys, "platform", "darwin")
    assert _runtime.default_headless_gl() is None and "MUJOCO_GL" not in os.environ
    assert _runtime.default_headless_gl("linux", lambda name: None) is None and "MUJOCO_GL" not in os.environ
    assert _runtime.default_headless_gl("linux", lambda name: f"lib{name}.so.1") == "egl"
    assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert _runtime.default_headless_gl("linux") is None and os.environ["MUJOCO_GL"] == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setenv("DISPLAY", ":0")
    assert _runtime.default_headless_gl("linux") is None and "MUJOCO_GL" not in os.environ


IMPORT_PROBE = """
import json, os, jax
before = {k: os.environ.get(k) for k in ("MUJOCO_GL", "XLA_FLAGS")}
import gcrl_depth
after = {k: os.environ.get(k) for k in ("MUJOCO_GL", "XLA_FLAGS")}
print(json.dumps({"before": before, "after": after, "cache": jax.config.jax_compilation_cache_dir,
                  "applied": {k: str(v) for k, v in gcrl_depth._runtime.APPLIED.items()}}))
"""


def _import_in_child(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "XLA_FLAGS", "DISPLAY", "JAX_COMPILATION_CACHE_DIR")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_variable_switches_every_process_wide_default_off():
    on = _import_in_child()
    assert on["after"]["MUJOCO_GL"] == "egl" and "concurrency_optimized_scheduler=false" in on["after"]["XLA_FLAGS"]
    assert on["cache"] and set(on["applied"]) == {"MUJOCO_GL", "XLA_FLAGS", "jax_cache"}
    off = _import_in_child(GCRL_DEPTH_DEFAULTS="off")
    assert off["after"] == off["before"] == {"MUJOCO_GL": None, "XLA_FLAGS": None}
    assert not off["cache"] and off["applied"] == {}


def test_xla_scheduler_flag_is_added_unless_set(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_xnnpack=true")
    flags = _runtime.default_xla_flags()
    assert flags == "--xla_cpu_use_xnnpack=true --xla_cpu_enable_concurrency_optimized_scheduler=false"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_concurrency_optimized_scheduler=true")
    assert _runtime.default_xla_flags() == "--xla_cpu_enable_concurrency_optimized_scheduler=true"


def test_a_gl_backend_without_its_library_is_a_clear_import_error():
    # this process imported mujoco, which set PYOPENGL_PLATFORM: the child must choose from MUJOCO_GL alone
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "PYOPENGL_PLATFORM")} | {"MUJOCO_GL": "osmesa"}
    out = subprocess.run([sys.executable, "-c", "import gcrl_depth"], env=env, capture_output=True, text=True)
    if ctypes.util.find_library("OSMesa"):  # a machine that has the library imports fine
        assert out.returncode == 0, out.stderr
    else:
        assert out.returncode == 1 and "ImportError: importing mujoco failed with MUJOCO_GL='osmesa'" in out.stderr
        assert "libosmesa6" in out.stderr
