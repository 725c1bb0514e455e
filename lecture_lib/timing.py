"""Wall-clock timing that is robust on a shared CPU."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .validation import check_scalar

__all__ = ["block", "best_time"]


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
