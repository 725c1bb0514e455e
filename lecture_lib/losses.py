r"""Training losses in JAX: pure, differentiable, usable inside ``jit``/``grad``/``vmap``.

``pred`` is a network's output ``(n,)`` or ``(n, k)``; ``y`` the targets.  Every loss takes

* ``reduction="mean"`` (default): average over the ``n`` examples, or ``"sum"``;
* ``mask``: optional ``(n,)`` weights (0/1 marks which rows take part; with
  ``"mean"`` the loss is divided by ``sum(mask)`` instead of ``n``).

Losses
------
``mse``
    ``L = 1/2 * R_i sum_j (f_ij - y_ij)^2`` with ``R_i`` the mean or the sum over
    examples.  With ``"mean"`` one GD step of size ``lr`` moves a linearised
    model's outputs by ``-(lr/n) Theta (f - y)``; with ``"sum"`` by
    ``-lr Theta (f - y)`` (see :func:`lecture_lib.train.kernel_lr`).
``cross_entropy``
    ``k >= 2`` outputs: softmax cross-entropy ``-R_i sum_j y_ij log softmax(f_i)_j``
    with one-hot/soft ``y (n, k)`` or integer labels ``y (n,)``.  One output
    (``(n,)`` or ``(n, 1)``) with labels in ``{-1, +1}``: the logistic loss
    ``R_i log(1 + exp(-y_i f_i))``.

Shapes are checked where they are static; values are not (the functions are traced).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .validation import check_choice

__all__ = ["LOSSES", "REDUCTIONS", "mse", "cross_entropy", "get"]

REDUCTIONS: tuple[str, ...] = ("mean", "sum")


def _as_2d(f: jnp.ndarray) -> jnp.ndarray:
    return f[:, None] if f.ndim == 1 else f


def _reduce(per_example: jnp.ndarray, reduction: str, mask: Any) -> jnp.ndarray:
    """Mean or sum over examples of ``per_example (n,)``, weighted by ``mask``."""
    if mask is None:
        return jnp.mean(per_example) if reduction == "mean" else jnp.sum(per_example)
    mask = jnp.asarray(mask, per_example.dtype)
    if mask.shape != per_example.shape:
        raise ValueError(f"mask must have shape {per_example.shape}, got {mask.shape}")
    total = jnp.sum(mask * per_example)
    return total / jnp.sum(mask) if reduction == "mean" else total


def mse(pred: Any, y: Any, *, reduction: str = "mean", mask: Any = None) -> jnp.ndarray:
    """``1/2 * (mean|sum)_i sum_j (pred_ij - y_ij)^2``; pred/y ``(n,)`` or ``(n, k)``."""
    reduction = check_choice(reduction, "reduction", REDUCTIONS)
    pred, y = _as_2d(jnp.asarray(pred)), _as_2d(jnp.asarray(y))
    if pred.shape != y.shape:
        raise ValueError(f"mse: pred shape {pred.shape} and y shape {y.shape} differ")
    return 0.5 * _reduce(jnp.sum((pred - y) ** 2, axis=1), reduction, mask)


def cross_entropy(pred: Any, y: Any, *, reduction: str = "mean", mask: Any = None) -> jnp.ndarray:
    """Softmax cross-entropy (``k >= 2`` outputs) or logistic loss (one output, ``y`` in ``{-1, +1}``)."""
    reduction = check_choice(reduction, "reduction", REDUCTIONS)
    pred, y = _as_2d(jnp.asarray(pred)), jnp.asarray(y)
    if y.shape[0] != pred.shape[0] or (y.ndim == 2 and y.shape[1] != pred.shape[1]) or y.ndim > 2:
        raise ValueError(f"cross_entropy: y shape {y.shape} does not fit pred shape {pred.shape}")
    if pred.shape[1] == 1:
        margin = pred[:, 0] * jnp.reshape(y, (-1,)).astype(pred.dtype)
        return _reduce(jax.nn.softplus(-margin), reduction, mask)
    logp = jax.nn.log_softmax(pred, axis=1)
    if y.ndim == 1:
        per = -jnp.take_along_axis(logp, y.astype(jnp.int32)[:, None], axis=1)[:, 0]
    else:
        per = -jnp.sum(y.astype(pred.dtype) * logp, axis=1)
    return _reduce(per, reduction, mask)


LOSSES: dict[str, Callable[..., jnp.ndarray]] = {"mse": mse, "cross_entropy": cross_entropy}


def get(name: str) -> Callable[..., jnp.ndarray]:
    """The loss called ``name`` (one of :data:`LOSSES`)."""
    return LOSSES[check_choice(name, "loss", tuple(LOSSES))]
