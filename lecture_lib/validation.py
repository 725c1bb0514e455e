"""Input checks shared by the public API.

Every check raises ``TypeError`` (wrong kind of object) or ``ValueError``
(right kind, bad value) with a message that names the offending argument, in
the spirit of scikit-learn's ``check_array``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def check_array(
    x: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    min_ndim: int | None = None,
    finite: bool = True,
    dtype: Any = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Convert ``x`` to an array and check it.

    Args:
      x: array-like (numpy or jax array, nested lists).
      name: argument name used in error messages.
      ndim: required number of dimensions (an int or a tuple of allowed ints).
      min_ndim: minimum number of dimensions.
      finite: reject NaN and infinity.
      dtype: dtype to convert to (``None``: keep, but require a numeric dtype).
      allow_empty: accept arrays with a zero-length axis.

    Returns:
      ``np.ndarray`` view/copy of ``x``. JAX tracers are returned unchanged
      (no checks are possible on abstract values).
    """
    if _is_tracer(x):
        return x
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(x, (str, bytes, dict, set)):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    try:
        arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be array-like of numbers: {err}") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                f"got shape {arr.shape}"
            )
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_same_length(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Require ``len(a) == len(b)`` (first axis)."""
    if _is_tracer(a) or _is_tracer(b):
        return
    if np.shape(a)[0] != np.shape(b)[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of rows, "
            f"got {np.shape(a)[0]} and {np.shape(b)[0]}"
        )


def check_scalar(
    x: Any,
    name: str,
    *,
    kind: type | tuple[type, ...] = (int, float),
    min_value: float | None = None,
    max_value: float | None = None,
    strict_min: bool = False,
) -> Any:
    """Check a scalar's type and range; returns it unchanged.

    ``strict_min=True`` requires ``x > min_value`` instead of ``>=``.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    numpy_ok = (float in kinds and isinstance(x, np.floating)) or (
        int in kinds and isinstance(x, np.integer)
    )
    if isinstance(x, bool) or not (isinstance(x, kinds) or numpy_ok):
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{name} must be {names}, got {type(x).__name__}")
    if isinstance(x, (float, np.floating)) and not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    if min_value is not None:
        if strict_min and not x > min_value:
            raise ValueError(f"{name} must be > {min_value}, got {x}")
        if not strict_min and not x >= min_value:
            raise ValueError(f"{name} must be >= {min_value}, got {x}")
    if max_value is not None and not x <= max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {x}")
    return x


def check_choice(x: Any, name: str, choices: Iterable[str]) -> str:
    """Require ``x`` to be one of ``choices`` (case-insensitive); returns it lower-cased."""
    choices = tuple(choices)
    if not isinstance(x, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {type(x).__name__}")
    lowered = x.lower()
    if lowered not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {x!r}")
    return lowered


def _is_tracer(x: Any) -> bool:
    try:
        import jax

        return isinstance(x, jax.core.Tracer)
    except Exception:  # pragma: no cover - jax always importable in practice
        return False
