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
    (``command``, default ``python -m benchmarks.<script> <arguments>``), the machine."""
    return [
        f"# {title}",
        "",
        f"gcrl_depth {package_version}, written {time.strftime('%Y-%m-%d %H:%M')} by:",
        "",
        "```",
        command or f"python -m benchmarks.{script.removesuffix('.py')} " + " ".join(sys.argv[1:]),
        "```",
        "",
        "Machine:",
        *describe_machine(),
        "",
    ]


def git_commit(folder: str | os.PathLike | None = None) -> str | None:
    """The commit of the git checkout holding ``folder`` (default: this package), ``+dirty`` when it
    has uncommitted changes; None outside a checkout or without git."""
    import subprocess

    where = os.fspath(folder or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def run_metadata(config: dict, settings: dict, physics: str | None = None) -> dict:
    """What a run folder's ``metadata.json`` records: the resolved config, the run's other settings,
    the physics its env steps (``"mjx"`` or ``"spring"``; None for an env not of gcrl_depth), the
    command line, package versions, the git commit and the devices."""
    import jax

    return {
        "config": config,
        "settings": settings,
        "physics": physics,
        "command": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {"python": sys.version.split()[0], **{name: package_version(name) for name in (
            "gcrl_depth", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "mujoco", "mujoco-mjx", "gymnasium",
            "numpy")}},
        "git_commit": git_commit(),
        "devices": [f"{d.platform}:{getattr(d, 'device_kind', '?')}" for d in jax.devices()],
        "cpu": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "host": platform.node(),
    }


def write_run_metadata(folder: str | os.PathLike, config: dict, settings: dict, physics: str | None = None) -> Path:
    """Write ``folder/metadata.json`` (atomically); a resumed run's start is added to ``resumed``
    (and its physics, where a folder written before physics were recorded has none)."""
    import json

    from gcrl_depth.files import atomic_write_text

    path = Path(folder) / "metadata.json"
    record = run_metadata(config, settings, physics)
    if path.exists():
        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError):
            earlier = None
        if isinstance(earlier, dict):
            record = {"physics": physics, **earlier, "resumed": [*earlier.get("resumed", []), {k: record[k] for k in (
                "started", "command", "git_commit", "devices", "host", "physics")}]}
    atomic_write_text(path, json.dumps(record, indent=1, default=str))
    return path
