"""One description of the machine for benchmark results: CPU, JAX devices, package versions."""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def package_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> list[str]:
    """Markdown bullet lines: CPU and cores, JAX devices, Python and key package versions."""
    import jax

    devices = ", ".join(f"{d.platform}:{getattr(d, 'device_kind', '?')}" for d in jax.devices())
    packages = ", ".join(f"{name} {package_version(name)}" for name in ("jax", "flax", "optax", "mujoco", "mujoco-mjx", "gymnasium"))
    return [
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores visible",
        f"- JAX devices: {devices}",
        f"- Python {sys.version.split()[0]}, {packages}",
    ]


def results_header(title: str, script: str, package_version: str, command: str | None = None) -> list[str]:
    """Markdown lines opening a results file: title, version and date, the command that ran
    (``command``, default ``python benchmarks/<script> <arguments>``), the machine."""
    return [
        f"# {title}",
        "",
        f"gcrl_depth {package_version}, written {time.strftime('%Y-%m-%d %H:%M')} by:",
        "",
        "```",
        command or f"python benchmarks/{script} " + " ".join(sys.argv[1:]),
        "```",
        "",
        "Machine:",
        *describe_machine(),
        "",
    ]
