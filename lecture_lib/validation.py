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
    if is_tracer(x):
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
    if is_tracer(a) or is_tracer(b):
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


def is_tracer(x: Any) -> bool:
    """True for an abstract JAX value (inside ``jit``/``grad``/``vmap``), which cannot be checked."""
    try:
        import jax

        return isinstance(x, jax.core.Tracer)
    except Exception:  # pragma: no cover - jax always importable in practice
        return False


_SYM_RTOL = 1e-6


def check_kernel(k: Any, name: str, symmetric: bool = True) -> np.ndarray:
    """A square, finite kernel matrix; with ``symmetric`` also symmetric up to a relative
    ``1e-6`` (float32 kernels are slightly asymmetric).  Returns a float64 copy
    (symmetrised ``(K + K^T) / 2`` when ``symmetric``) that the caller may modify."""
    k = check_array(k, name, ndim=2, dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be square, got shape {k.shape}")
    if symmetric:
        scale = np.max(np.abs(k))
        asym = np.max(np.abs(k - k.T))
        if asym > _SYM_RTOL * max(scale, 1e-300):
            raise ValueError(
                f"{name} must be symmetric (max |K - K^T| = {asym:.3g}, max |K| = {scale:.3g})")
        return 0.5 * (k + k.T)
    return k.copy()


def check_int_sequence(values: Any, name: str, *, min_value: int | None = None,
                       increasing: bool = False) -> list[int]:
    """A non-empty sequence of ints (each ``>= min_value``; strictly increasing if asked)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {type(values).__name__}")
    out = [int(check_scalar(v, name, kind=int, min_value=min_value)) for v in values]
    if not out:
        raise ValueError(f"{name} must not be empty")
    if increasing and any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"{name} must be strictly increasing, got {out}")
    return out


def check_key(key: Any, name: str = "key", default: int | None = None):
    """A JAX PRNG key from an int seed or a key (``jax.random.PRNGKey``/``jax.random.key``).

    ``None`` gives ``PRNGKey(default)``, or ``PRNGKey(config.seed())`` when ``default`` is None.
    """
    import jax
    import jax.numpy as jnp

    if key is None:
        if default is None:
            from . import config

            default = config.seed()
        return jax.random.PRNGKey(default)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
        return key
    if dtype is not None and shape == (2,) and dtype == np.uint32:
        return jnp.asarray(key)
    raise TypeError(f"{name} must be an int or a single jax PRNG key (jax.random.PRNGKey(seed) "
                    f"or jax.random.key(seed)), got {type(key).__name__}")


def check_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """A NumPy ``Generator`` from an int seed ``>= 0`` or a ``Generator`` (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    check_scalar(seed, name, kind=int, min_value=0)
    return np.random.default_rng(seed)
