"""Seconds this process spent compiling, as JAX reports them (its monitoring events).

JAX's ``jit`` compiles at a program's first call; the host loop reads :func:`compile_seconds`
before and after a call to tell compiling from running. Tracing, lowering to MLIR and the
backend's compile all count.
"""

from __future__ import annotations

import threading

import jax

COMPILE_EVENTS = frozenset({
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
})

_total = [0.0]  # one running sum for the process
_lock = threading.Lock()


def _listen(event: str, duration: float, **_: object) -> None:
    if event in COMPILE_EVENTS:
        with _lock:
            _total[0] += duration


jax.monitoring.register_event_duration_secs_listener(_listen)


def compile_seconds() -> float:
    """Seconds spent compiling since this module was imported (grows only)."""
    return _total[0]
