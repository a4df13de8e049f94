"""Compiled programs, cached by everything that shapes them.

The engine jits nothing; its callers (the agent, run sets, benchmarks) get compiled
programs here. A program is keyed by the function (an :class:`~gcrl_depth.crl.engine.Engine`
method is keyed by the engine's config, sizes and core), its static arguments, which
arguments are donated, and the abstract value of every argument leaf: shape, dtype,
weak type and sharding. Two agents with equal settings share a program; an agent whose
state differs in any dtype or shape (a float16 checkpoint, another batch) gets its own.
"""

from __future__ import annotations

import gc
import inspect
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

_PROGRAMS: dict[Any, Any] = {}
CROWDED_SHARE = 0.5  # past this share of vm.max_map_count, the next compile first frees the cached programs
_crowded_above = 0.0  # after such a free: halfway from what was left to the limit (a process whose live programs
                      # alone pass CROWDED_SHARE must not free, and recompile, at every compile)


def _leaf_signature(leaf: Any) -> Any:
    if isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        sharding = getattr(leaf, "sharding", None)
        return leaf.shape, leaf.dtype, getattr(leaf, "weak_type", False), sharding
    return np.shape(leaf), np.result_type(leaf), isinstance(leaf, (int, float, bool)), None  # numpy arrays, Python scalars


def signature(args: tuple[Any, ...]) -> Any:
    """The abstract signature of ``args``: their tree structure and every leaf's shape, dtype, weak type, sharding."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return treedef, tuple(_leaf_signature(leaf) for leaf in leaves)


def _function_key(fn: Callable[..., Any]) -> Any:
    """Bound methods compare their object by identity; key them by the object's value (an equal Engine)."""
    return (fn.__func__, fn.__self__) if inspect.ismethod(fn) else fn


def compiled(fn: Callable[..., Any], *args: Any, static: tuple[Any, ...] = (), donate: tuple[int, ...] = ()
             ) -> tuple[Any, float]:
    """``(program, compile seconds)`` for ``fn(*args, *static)``; 0 seconds when it was cached.

    ``static`` arguments follow ``args`` and must be hashable; ``donate`` lists the
    positions in ``args`` whose buffers the program may reuse.
    """
    key = (_function_key(fn), static, donate, signature(args))
    if key in _PROGRAMS:
        return _PROGRAMS[key], 0.0
    if _PROGRAMS:
        _free_if_crowded()  # a long sweep on the CPU: free the programs of runs done before XLA runs out of mappings
    n = len(args)
    jitted = jax.jit(fn, static_argnums=tuple(range(n, n + len(static))), donate_argnums=donate)
    start = time.perf_counter()
    program = jitted.lower(*args, *static).compile()
    _PROGRAMS[key] = program
    return program, time.perf_counter() - start


def run(fn: Callable[..., Any], *args: Any, static: tuple[Any, ...] = (), donate: tuple[int, ...] = ()) -> Any:
    """Run ``fn(*args, *static)`` through its cached compiled program."""
    return compiled(fn, *args, static=static, donate=donate)[0](*args)


def memory_mappings() -> tuple[int, int] | None:
    """(memory mappings of this process, Linux's limit ``vm.max_map_count``), or None without /proc."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            used = maps.read().count(b"\n")
        with open("/proc/sys/vm/max_map_count") as limit:
            return used, int(limit.read())
    except (OSError, ValueError):
        return None


def _free_if_crowded() -> None:
    """:func:`clear` if this process uses more than :data:`CROWDED_SHARE` of its memory-mapping limit
    (and, after an earlier such clear, more than halfway from what that clear left to the limit)."""
    global _crowded_above
    usage = memory_mappings()
    if usage is None or usage[0] <= max(CROWDED_SHARE * usage[1], _crowded_above):
        return
    clear()
    left, limit = memory_mappings() or usage
    _crowded_above = (left + limit) / 2


def clear() -> int:
    """Drop every cached program (and JAX's own caches); returns how many were cached.

    A process that works through many configurations in turn (a sweep, a test session)
    frees their compiled code this way: on the CPU each program holds memory mappings
    until freed, and Linux caps a process's mappings (``vm.max_map_count``). :func:`compiled`
    does it by itself before a compile when the process passes :data:`CROWDED_SHARE` of that limit.
    """
    count = len(_PROGRAMS)
    _PROGRAMS.clear()
    jax.clear_caches()
    gc.collect()  # programs held in reference cycles go now, not at the next collection
    return count
