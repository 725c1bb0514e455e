"""Wall-clock timing that is robust on a shared CPU, and costs that do not depend on load.

:func:`best_time` measures; :func:`compiled_cost` counts: XLA's cost analysis of a compiled
computation (floating-point operations and bytes accessed), the same on a quiet or a busy
machine, so claims about how a cost *grows* can be decided from counts and illustrated by times.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .validation import check_scalar

__all__ = ["block", "best_time", "Cost", "compiled_cost"]


def block(x: Any) -> Any:
    """Wait for JAX's asynchronous dispatch (``jax.block_until_ready``; numpy and pytrees pass)."""
    import jax

    return jax.block_until_ready(x)


def best_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeats`` wall time (seconds) of ``fn()``, after ``warmup`` calls.

    The minimum, not the mean: on a shared CPU other processes only ever add time, so the
    minimum is the least noisy estimate of the cost.  JAX results are waited for.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_scalar(repeats, "repeats", kind=int, min_value=1)
    check_scalar(warmup, "warmup", kind=int, min_value=0)
    for _ in range(warmup):
        block(fn())
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        best = min(best, time.perf_counter() - t0)
    return float(best)


class Cost(NamedTuple):
    """XLA's count for one call of a compiled computation: ``flops`` (floating-point
    operations) and ``bytes`` (bytes accessed), as floats."""

    flops: float
    bytes: float


def compiled_cost(fn: Callable[..., Any], *args: Any) -> Cost:
    """Count the work of ``fn(*args)`` without running it: ``jax.jit(fn)`` is lowered and
    compiled for the shapes of ``args`` and XLA's ``cost_analysis()`` read.

    Counts are exact for XLA's own operations (dot products, elementwise maths); library calls
    that XLA hands to LAPACK (``cholesky``, ``triangular_solve`` on CPU) are *not* counted, so
    use closed forms for those (Cholesky ``n^3/3`` flops).  ``fn`` must be jit-able with all
    ``args`` as traced arrays.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    import jax

    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per device
        analysis = analysis[0] if analysis else {}
    if not analysis or "flops" not in analysis:
        raise ValueError("XLA returned no cost analysis for fn on this backend")
    return Cost(float(analysis["flops"]), float(analysis.get("bytes accessed", np.nan)))
