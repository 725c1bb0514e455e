"""Neural-tangents architectures and their infinite-width (analytic) and
finite-width (empirical) kernels.

Conventions
-----------
* FC inputs have shape ``(n, d)``; conv inputs are NHWC ``(n, H, W, C)``.
* All kernels are returned as ``np.ndarray`` of shape ``(n1, n2)``; the NTK is
  traced over the output axis (``trace_axes=(-1,)``), i.e. it is the kernel of a
  single output unit (for ``out_dim=k`` the analytic kernel is the same for every
  output and the empirical one is the *mean* over outputs, see ``empirical_ntk``).
* ``parameterization="ntk"`` (default) is the NTK parameterization of Jacot et
  al.: a dense layer computes ``W_std / sqrt(d_in) * W x + b_std * b`` with
  ``W, b ~ N(0, 1)``, so the first-layer covariance is
  ``W_std**2 * x.x' / d + b_std**2`` (see :mod:`lecture_lib.recursion`).

Precision and speed (measured, CPU)
-----------------------------------
The library never flips ``jax_enable_x64`` globally.  ``analytic_kernel`` and
``empirical_ntk`` take ``dtype``: ``None`` keeps the current JAX default
(float32 unless the notebook enabled x64); ``"float64"`` computes inside a
*local* ``jax.experimental.enable_x64()`` scope and leaves the global setting
untouched.  For analytic **CNTKs** on CPU, float64 is recommended: on a tiny
8x8x1 case (depth 2, batch_size 10, n=40) it was measured 4-7x *faster* than
float32 (see the ``analytic_kernel`` docstring for the numbers) and it is also
more accurate.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from typing import Any

import lecture_lib  # noqa: F401  (quiets TensorFlow before neural_tangents)
import jax
import jax.numpy as jnp
import numpy as np
import neural_tangents as nt
from neural_tangents import stax

from .validation import check_array, check_choice, check_scalar, _is_tracer

__all__ = [
    "ACTIVATIONS", "fc", "conv", "analytic_kernel", "analytic_kernel_jax",
    "empirical_ntk", "relative_kernel_error", "activation_layer",
]

ACTIVATIONS: tuple[str, ...] = ("relu", "erf", "tanh", "gelu", "identity")
_PARAMETERIZATIONS = ("ntk", "standard")
_GETS = ("ntk", "nngp")
_DTYPES = ("float32", "float64")

StaxTriple = tuple[Callable, Callable, Callable]


# --------------------------------------------------------------------------- #
# Architectures
# --------------------------------------------------------------------------- #
def activation_layer(activation: str):
    """The stax layer for ``activation`` in :data:`ACTIVATIONS`.

    ``relu``/``erf``/``gelu``/``identity`` have closed-form kernels in
    neural-tangents; ``tanh`` has none, so it uses Gauss-Hermite quadrature
    (``stax.ElementwiseNumerical(jnp.tanh, deg=25)`` with the exact derivative;
    its "numerical layer" warning is silenced), slower and approximate.
    """
    activation = check_choice(activation, "activation", ACTIVATIONS)
    if activation == "relu":
        return stax.Relu()
    if activation == "erf":
        return stax.Erf()
    if activation == "gelu":
        return stax.Gelu()
    if activation == "tanh":
        with warnings.catch_warnings():  # nt warns that quadrature is approximate
            warnings.simplefilter("ignore", UserWarning)
            return stax.ElementwiseNumerical(
                jnp.tanh, deg=25, df=lambda x: 1.0 - jnp.tanh(x) ** 2)
    return stax.Identity()


def _check_arch(depth, W_std, b_std, out_dim, parameterization):
    check_scalar(depth, "depth", kind=int, min_value=0)
    check_scalar(W_std, "W_std", kind=(int, float), min_value=0, strict_min=True)
    check_scalar(b_std, "b_std", kind=(int, float), min_value=0)
    check_scalar(out_dim, "out_dim", kind=int, min_value=1)
    return check_choice(parameterization, "parameterization", _PARAMETERIZATIONS)


def fc(
    depth: int = 2,
    width: int = 512,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    out_dim: int = 1,
    parameterization: str = "ntk",
) -> StaxTriple:
    """Fully-connected network ``[Dense(width) -> act] * depth -> Dense(out_dim)``.

    Args:
      depth: number of hidden layers ``L`` (``L + 1`` dense layers in total).
      width: hidden width (only matters for ``init_fn``/``apply_fn``; the analytic
        kernel is the infinite-width limit).
      activation: one of :data:`ACTIVATIONS`.
      W_std, b_std: weight and bias standard deviations (all layers).
      out_dim: number of outputs.
      parameterization: ``"ntk"`` or ``"standard"``.

    Returns:
      ``(init_fn, apply_fn, kernel_fn)`` from ``neural_tangents.stax.serial``.
      Inputs have shape ``(n, d)``.
    """
    parameterization = _check_arch(depth, W_std, b_std, out_dim, parameterization)
    check_scalar(width, "width", kind=int, min_value=1)
    act = activation_layer(activation)
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=W_std, b_std=b_std,
                              parameterization=parameterization), act]
    layers.append(stax.Dense(out_dim, W_std=W_std, b_std=b_std,
                             parameterization=parameterization))
    return stax.serial(*layers)


def conv(
    depth: int = 2,
    channels: int = 64,
    activation: str = "relu",
    filter_shape: tuple[int, int] = (3, 3),
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    out_dim: int = 1,
    pooling: str = "global_avg",
    parameterization: str = "ntk",
) -> StaxTriple:
    """Convolutional network on NHWC images (CNTK / CNN-GP when infinite).

    ``[Conv(channels, filter_shape, SAME) -> act] * depth -> pool -> Dense(out_dim)``
    where ``pool`` is ``GlobalAvgPool`` (``pooling="global_avg"``) or ``Flatten``
    (``pooling="flatten"``).  Inputs: ``(n, H, W, C)``.

    Cost note: the analytic kernel with ``global_avg`` pooling tracks all pixel
    pairs, O(n1 n2 (HW)^2) memory/time -- keep images small (8x8 digits) and use
    ``analytic_kernel(..., batch_size=...)``.  ``flatten`` only tracks the
    diagonal pixel pairs and is much cheaper.
    """
    parameterization = _check_arch(depth, W_std, b_std, out_dim, parameterization)
    check_scalar(channels, "channels", kind=int, min_value=1)
    pooling = check_choice(pooling, "pooling", ("global_avg", "flatten"))
    if (not isinstance(filter_shape, (tuple, list)) or len(filter_shape) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                       and s >= 1 for s in filter_shape)):
        raise ValueError(
            f"filter_shape must be a pair of positive ints, got {filter_shape!r}")
    act = activation_layer(activation)
    layers = []
    for _ in range(depth):
        layers += [stax.Conv(channels, tuple(filter_shape), padding="SAME",
                             W_std=W_std, b_std=b_std,
                             parameterization=parameterization), act]
    layers.append(stax.GlobalAvgPool() if pooling == "global_avg" else stax.Flatten())
    layers.append(stax.Dense(out_dim, W_std=W_std, b_std=b_std,
                             parameterization=parameterization))
    return stax.serial(*layers)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def _precision(dtype) -> tuple[Any, Any]:
    """(numpy dtype for the inputs, context manager) for ``dtype``."""
    if dtype is None:
        return (np.float64 if jax.config.jax_enable_x64 else np.float32), \
            contextlib.nullcontext()
    if not isinstance(dtype, str):
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}") from None
    name = check_choice(dtype, "dtype", _DTYPES)
    if name == "float64":
        if jax.config.jax_enable_x64:
            return np.float64, contextlib.nullcontext()
        from jax.experimental import enable_x64
        return np.float64, enable_x64()
    return np.float32, contextlib.nullcontext()


def _check_inputs(x1, x2):
    x1 = check_array(x1, "x1", ndim=(2, 4))
    if x2 is not None:
        x2 = check_array(x2, "x2", ndim=(2, 4))
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have the same feature shape, got {x1.shape[1:]} "
                f"and {x2.shape[1:]}")
    return x1, x2


def _check_callable(f, name):
    if not callable(f):
        raise TypeError(f"{name} must be callable, got {type(f).__name__}")


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    """Repeat the last row so that ``len(x)`` is a multiple of ``multiple``."""
    extra = (-x.shape[0]) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)


@functools.lru_cache(maxsize=32)
def _jitted_kernel_fn(kernel_fn, get):
    return jax.jit(functools.partial(kernel_fn, get=get))


@functools.lru_cache(maxsize=32)
def _batched_kernel_fn(kernel_fn, batch_size):
    return nt.batch(kernel_fn, batch_size=batch_size, device_count=0,
                    store_on_device=False)


# --------------------------------------------------------------------------- #
# Analytic kernels
# --------------------------------------------------------------------------- #
def analytic_kernel(
    kernel_fn: Callable,
    x1: Any,
    x2: Any = None,
    get: str = "ntk",
    batch_size: int = 0,
    dtype: Any = None,
) -> np.ndarray:
    """Infinite-width kernel ``K(x1, x2)`` of a stax ``kernel_fn``.

    Args:
      kernel_fn: third element of a stax triple (e.g. ``fc(...)[2]``).
      x1: ``(n1, d)`` or ``(n1, H, W, C)``.
      x2: same feature shape, ``(n2, ...)``; ``None`` means ``x2 = x1``.
      get: ``"ntk"`` or ``"nngp"``.
      batch_size: ``0``: one jitted call.  ``> 0``: ``nt.batch`` in blocks of
        ``batch_size x batch_size`` (bounded memory, needed for CNTKs).
        ``nt.batch`` requires ``n1`` and ``n2`` to be multiples of
        ``batch_size`` (otherwise it silently shrinks the block to
        ``gcd(n1, n2)``, which can be 1); here the inputs are padded by
        repeating their last row up to a multiple and the result is cropped,
        so any ``n`` works at the cost of at most ``batch_size - 1`` extra rows.
      dtype: ``None`` (JAX default), ``"float32"`` or ``"float64"``.
        ``"float64"`` runs in a local ``enable_x64`` scope (the global flag is
        not changed).  **Recommendation: use float64 for CNTKs on CPU.**
        Measured on a shared 2-core CPU (contended, timings inflated): CNTK
        depth 2, relu, global_avg, 8x8x1 inputs, n=40, batch_size=10, second
        call (compiled): float32 1.9-4.9 s, float64 0.4-0.7 s (4-7x faster);
        first call (with compilation) float32 3.0-7.8 s, float64 0.4-1.8 s.
        For FC kernels both are fast; float64 also makes results match
        :mod:`lecture_lib.recursion` to ~1e-8 (relu, arccos near cos = 1) or ~1e-15 (erf),
        instead of ~1e-6 in float32.

    Returns:
      ``np.ndarray`` of shape ``(n1, n2)`` (float64 if ``dtype="float64"``).
    """
    _check_callable(kernel_fn, "kernel_fn")
    get = check_choice(get, "get", _GETS)
    check_scalar(batch_size, "batch_size", kind=int, min_value=0)
    np_dtype, ctx = _precision(dtype)
    x1, x2 = _check_inputs(x1, x2)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    with ctx:
        a1 = np.asarray(x1, dtype=np_dtype)
        a2 = None if x2 is None else np.asarray(x2, dtype=np_dtype)
        if batch_size == 0:
            out = _jitted_kernel_fn(kernel_fn, get)(a1, a2)
        else:
            bs = min(batch_size, max(n1, n2))
            batched = _batched_kernel_fn(kernel_fn, bs)
            p1 = _pad_rows(a1, bs)
            p2 = None if a2 is None else _pad_rows(a2, bs)
            out = batched(p1, p2, get=get)
        out = np.asarray(out)[:n1, :n2]
    return out


def analytic_kernel_jax(
    kernel_fn: Callable, x1: Any, x2: Any = None, get: str = "ntk"
) -> jnp.ndarray:
    """Like :func:`analytic_kernel` but returns a ``jnp`` array and is
    differentiable (``jax.grad``/``jit``) with respect to ``x1`` and ``x2``.

    Used for attacks on kernel predictors and dataset distillation (KIP).
    No batching.  Wrap the function you differentiate in ``jax.jit``: eager
    calls of neural-tangents kernels dispatch many small ops (measured ~4 s
    first call eager vs ~0.3 s jitted for a depth-1 FC kernel).  Caveat: for relu the NTK/NNGP is not differentiable where
    ``x1[i]`` is parallel to ``x2[j]`` (arc-cosine at angle 0; gradients there
    can be NaN/inf) -- differentiate w.r.t. points that do not coincide with
    the other set, e.g. support points in KIP or adversarial test points.
    """
    _check_callable(kernel_fn, "kernel_fn")
    get = check_choice(get, "get", _GETS)
    if not _is_tracer(x1) and not isinstance(x1, jax.Array):
        x1 = check_array(x1, "x1", ndim=(2, 4))
    if x2 is not None and not _is_tracer(x2) and not isinstance(x2, jax.Array):
        x2 = check_array(x2, "x2", ndim=(2, 4))
    x1 = jnp.asarray(x1)
    x2 = None if x2 is None else jnp.asarray(x2)
    if x1.ndim not in (2, 4):
        raise ValueError(f"x1 must have 2 or 4 dimensions, got shape {x1.shape}")
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same feature shape, got {x1.shape[1:]} "
            f"and {x2.shape[1:]}")
    return kernel_fn(x1, x2, get)


# --------------------------------------------------------------------------- #
# Empirical NTK
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=32)
def _jitted_entk(apply_fn):
    return jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0))


def empirical_ntk(
    apply_fn: Callable,
    params: Any,
    x1: Any,
    x2: Any = None,
    batch_size: int = 0,
    dtype: Any = None,
) -> np.ndarray:
    """Finite-width NTK ``Theta(x1, x2) = (1/k) sum_k J_k(x1) J_k(x2)^T``.

    ``J_k`` is the Jacobian of output ``k`` w.r.t. all parameters; the mean over
    the ``k = out_dim`` outputs is ``trace_axes=(-1,)`` of
    ``nt.empirical_ntk_fn`` (neural-tangents divides the trace by ``k``), so it
    is directly comparable with the per-output analytic NTK.

    Args:
      apply_fn, params: from a stax triple and its ``init_fn``.
      x1: ``(n1, ...)`` inputs; x2: ``(n2, ...)`` or ``None`` (``x2 = x1``).
      batch_size: ``0``: one call.  ``> 0``: blocks of ``batch_size`` rows and
        columns (last block padded to keep one compiled shape); with
        ``x2=None`` only the upper block triangle is computed and mirrored.
      dtype: ``None``, ``"float32"`` or ``"float64"`` (see
        :func:`analytic_kernel`); params are cast to the same dtype.

    Returns:
      ``np.ndarray`` ``(n1, n2)``.
    """
    _check_callable(apply_fn, "apply_fn")
    if params is None:
        raise TypeError("params must be a pytree of arrays, got None")
    check_scalar(batch_size, "batch_size", kind=int, min_value=0)
    np_dtype, ctx = _precision(dtype)
    x1, x2 = _check_inputs(x1, x2)
    symmetric = x2 is None
    n1 = x1.shape[0]
    n2 = n1 if symmetric else x2.shape[0]
    with ctx:
        fn = _jitted_entk(apply_fn)
        p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=np_dtype), params)
        a1 = np.asarray(x1, dtype=np_dtype)
        a2 = a1 if symmetric else np.asarray(x2, dtype=np_dtype)
        if batch_size == 0 or batch_size >= max(n1, n2):
            return np.asarray(fn(a1, a2, p))
        bs = batch_size
        p1, p2 = _pad_rows(a1, bs), _pad_rows(a2, bs)
        out = np.zeros((p1.shape[0], p2.shape[0]), dtype=np_dtype)
        for i in range(0, p1.shape[0], bs):
            for j in range(0, p2.shape[0], bs):
                if symmetric and j < i:
                    out[i:i + bs, j:j + bs] = out[j:j + bs, i:i + bs].T
                    continue
                out[i:i + bs, j:j + bs] = np.asarray(
                    fn(p1[i:i + bs], p2[j:j + bs], p))
        return out[:n1, :n2]


def relative_kernel_error(k_emp: Any, k_ref: Any) -> float:
    """``||k_emp - k_ref||_F / ||k_ref||_F`` (same shapes, ``k_ref != 0``)."""
    k_emp = check_array(k_emp, "k_emp", dtype=np.float64)
    k_ref = check_array(k_ref, "k_ref", dtype=np.float64)
    if k_emp.shape != k_ref.shape:
        raise ValueError(
            f"k_emp and k_ref must have the same shape, got {k_emp.shape} and {k_ref.shape}")
    denom = np.linalg.norm(k_ref)
    if denom == 0:
        raise ValueError("k_ref must not be all zeros")
    return float(np.linalg.norm(k_emp - k_ref) / denom)
