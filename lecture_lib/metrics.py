"""Evaluation metrics in numpy (checked inputs; for differentiable losses see :mod:`lecture_lib.losses`).

Conventions: the *last* axis of a prediction is its output axis and the one before it the
example axis; any axes in front of those (ensemble members, widths, time steps) are kept in
the result.  A 1-D prediction is one output per example.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .validation import check_array

__all__ = ["accuracy", "mse", "relative_error", "power_law_fit", "relative_change"]


def accuracy(pred: Any, y: Any) -> float | np.ndarray:
    """Fraction of correct predictions, averaged over the example axis.

    * one output (``pred (..., n)`` or ``(..., n, 1)``) and labels ``y (n,)`` in
      ``{-1, +1}``: ``mean(sign(pred) == y)`` (``pred == 0`` counts as wrong);
    * ``k >= 2`` outputs ``pred (..., n, k)``: ``argmax(pred) == y`` for integer labels
      ``y (n,)``, or ``== argmax(y)`` for one-hot/soft ``y (n, k)``.

    Returns a float, or an array of the leading shape of ``pred``.
    """
    pred = check_array(pred, "pred", min_ndim=1, dtype=np.float64)
    y = check_array(y, "y", ndim=(1, 2))
    if pred.ndim == 1 or pred.shape[-1] == 1 and y.ndim == 1:
        p = pred if pred.ndim == 1 else pred[..., 0]
        if p.shape[-1] != y.shape[0]:
            raise ValueError(f"pred has {p.shape[-1]} examples but y has {y.shape[0]}")
        if not np.all(np.isin(y, (-1, 1))):
            raise ValueError("y must hold labels in {-1, +1} for a prediction with one output")
        out = np.mean(np.sign(p) == y, axis=-1)
    else:
        n, k = pred.shape[-2:]
        if y.shape[0] != n:
            raise ValueError(f"pred has {n} examples but y has {y.shape[0]}")
        if y.ndim == 2:
            if y.shape[1] != k:
                raise ValueError(f"y must have {k} columns like pred, got shape {y.shape}")
            labels = np.argmax(y, axis=1)
        else:
            if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= k:
                raise ValueError(f"y of shape (n,) must hold integer class labels in [0, {k})")
            labels = y.astype(np.int64)
        out = np.mean(np.argmax(pred, axis=-1) == labels, axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def mse(pred: Any, y: Any) -> float:
    """Mean squared error ``mean((pred - y)^2)`` over all entries (same shapes)."""
    pred = check_array(pred, "pred", dtype=np.float64)
    y = check_array(y, "y", dtype=np.float64)
    if pred.shape != y.shape:
        raise ValueError(f"pred and y must have the same shape, got {pred.shape} and {y.shape}")
    return float(np.mean((pred - y) ** 2))


def relative_error(x: Any, ref: Any, axis: int | tuple[int, ...] | None = None) -> float | np.ndarray:
    """``||x - ref|| / ||ref||`` (Euclidean/Frobenius norm over ``axis``; ``None``: all axes).

    ``ref`` broadcasts against ``x`` (e.g. ``x (E, m, k)`` ensemble outputs against
    ``ref (m, k)`` with ``axis=(-2, -1)`` gives one error per member).  Raises ``ValueError``
    where ``||ref|| = 0``.
    """
    x = check_array(x, "x", dtype=np.float64)
    ref = check_array(ref, "ref", dtype=np.float64)
    try:
        diff = x - ref
    except ValueError:
        raise ValueError(f"x and ref shapes do not broadcast: {x.shape} and {ref.shape}") from None
    if axis is None:
        axis = tuple(range(diff.ndim))
    num = np.sqrt(np.sum(diff**2, axis=axis))
    den = np.sqrt(np.sum(np.broadcast_to(ref, diff.shape) ** 2, axis=axis))
    if np.any(den == 0):
        raise ValueError("ref must not be all zeros")
    out = num / den
    return float(out) if np.ndim(out) == 0 else out


def power_law_fit(x: Any, y: Any, *, last: int | None = None) -> tuple[float, float]:
    """Least-squares fit of ``y = c * x**p`` in log-log space; returns ``(p, c)``.

    Args:
      x, y: positive arrays ``(n,)``, ``n >= 2``.
      last: fit only the ``last`` largest-``x`` points (fixed overheads flatten the small end
        of timing curves); ``None``: all points.
    """
    x = check_array(x, "x", ndim=1, dtype=np.float64)
    y = check_array(y, "y", ndim=1, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 2:
            raise ValueError(f"last must be an int >= 2, got {last!r}")
        order = np.argsort(x, kind="stable")[-int(last):]
        x, y = x[order], y[order]
    if x.size < 2:
        raise ValueError("x must hold at least 2 points to fit a power law")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    p, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(p), float(np.exp(logc))


def relative_change(params0: Any, params1: Any) -> float:
    """``||w1 - w0|| / ||w0||`` over all array leaves of two parameter pytrees.

    ``w`` concatenates every leaf (weights and biases).  After training in the NTK
    parameterisation it shrinks as the width grows (lazy training, Lee et al. 2019).
    Raises ``ValueError`` if ``||w0|| = 0`` or the pytrees differ in structure or shapes.
    """
    import jax

    l0, t0 = jax.tree_util.tree_flatten(params0)
    l1, t1 = jax.tree_util.tree_flatten(params1)
    if not l0:
        raise ValueError("params0 has no array leaves")
    if t0 != t1:
        raise ValueError("params0 and params1 must have the same pytree structure")
    l0 = [np.asarray(a, dtype=np.float64) for a in l0]
    l1 = [np.asarray(a, dtype=np.float64) for a in l1]
    for a, b in zip(l0, l1):
        if a.shape != b.shape:
            raise ValueError(f"params0 and params1 have leaves of different shapes: {a.shape} vs {b.shape}")
    num = math.sqrt(sum(float(np.sum((b - a) ** 2)) for a, b in zip(l0, l1)))
    den = math.sqrt(sum(float(np.sum(a**2)) for a in l0))
    if not (np.isfinite(num) and np.isfinite(den)):
        raise ValueError("params0/params1 contain NaN or infinity")
    if den == 0.0:
        raise ValueError("params0 has zero norm; the relative change is undefined")
    return num / den
