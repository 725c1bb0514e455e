"""Float64 in JAX without flipping the global flag.

JAX computes in float32 unless ``jax_enable_x64`` is set.  The library never sets it globally;
functions that take ``dtype="float64"`` compute inside :func:`x64`, a local scope, and leave
the notebook's setting untouched.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .validation import check_choice

__all__ = ["DTYPES", "x64", "resolve_dtype"]

DTYPES: tuple[str, ...] = ("float32", "float64")


def x64() -> contextlib.AbstractContextManager:
    """Context in which JAX creates float64 arrays (a no-op when x64 is already on globally)."""
    import jax

    if jax.config.jax_enable_x64:
        return contextlib.nullcontext()
    from jax.experimental import enable_x64

    return enable_x64()


def resolve_dtype(dtype: Any, name: str = "dtype") -> tuple[type, contextlib.AbstractContextManager]:
    """``(numpy dtype, context manager)`` for ``dtype`` in ``None | "float32" | "float64"``.

    ``None`` keeps JAX's current default (float64 only if x64 is on); ``"float64"`` returns
    the :func:`x64` scope.  NumPy dtypes (``np.float32``) are accepted too.
    """
    import jax

    if dtype is None:
        return (np.float64 if jax.config.jax_enable_x64 else np.float32), contextlib.nullcontext()
    if not isinstance(dtype, str):
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{name} must be None, 'float32' or 'float64', got {dtype!r}") from None
    if check_choice(dtype, name, DTYPES) == "float64":
        return np.float64, x64()
    return np.float32, contextlib.nullcontext()
