"""Process-wide defaults: the persistent compilation cache directory and the GL backend."""

from __future__ import annotations

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


def test_headless_gl_default(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    _runtime.default_headless_gl()
    import os

    assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    _runtime.default_headless_gl()
    assert os.environ["MUJOCO_GL"] == "osmesa"


def test_xla_scheduler_flag_is_added_unless_set(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_xnnpack=true")
    flags = _runtime.default_xla_flags()
    assert flags == "--xla_cpu_use_xnnpack=true --xla_cpu_enable_concurrency_optimized_scheduler=false"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_concurrency_optimized_scheduler=true")
    assert _runtime.default_xla_flags() == "--xla_cpu_enable_concurrency_optimized_scheduler=true"
