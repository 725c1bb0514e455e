r"""Data poisoning through the NTK: Neural Tangent Generalization Attacks (Yuan & Wu, ICML'21).

A *generalization attack* perturbs the training inputs, ``X -> X + delta`` with
``||delta_i|| <= eps`` per example and the labels kept, so that a model trained on the
poisoned set generalises badly.  NTGA takes the model to be an infinitely wide network
trained by gradient descent for time ``t`` (Lee et al. 2019), whose mean prediction on
held-out inputs ``X_v`` is the closed form::

    f_t(X_v) = K(X_v, X) K^{-1} (I - exp(-t K / (n c))) Y        (K = K(X, X) + diag_reg I)

(flow on the *mean* MSE ``1/(2 n c) ||f - Y||^2`` over ``n`` examples and ``c`` outputs, the
convention of ``neural_tangents.predict.gradient_descent_mse``; ``t = None``: the limit
``t -> inf``, kernel regression), and maximises the validation loss
``L(f_t(X_v), Y_v)`` over ``delta`` with projected gradient ascent (:func:`ntga_loss`,
:func:`ntga`).  The gradient flows through both ``K(X_v, X + delta)`` and
``K(X + delta, X + delta)`` (:func:`lecture_lib.kernels.analytic_kernel_jax`).  Small ``t``
(early stopping) makes the poison transfer better to finite networks (the paper's finding).

B-NTGA: for large data the training set is cut into blocks of ``block_size`` examples,
each poisoned against its own predictor (``block_size=None``: one block).

Departure from the released code (``lionelmessi6410/ntga``): its "PGD" loop calls the FGSM
step on the *clean* training set every iteration (the gradient is never recomputed at the
current iterate), i.e. it is one FGSM step repeated; :func:`ntga` runs real iterated PGD
(:func:`lecture_lib.attacks.pgd_jax`: gradient at the current poisoned set, step
``step_size``, projection onto the eps-ball and the data range after every step).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import attacks, krr, losses
from .precision import resolve_dtype
from .validation import check_array, check_choice, check_key, check_same_length, check_scalar

__all__ = ["gd_predict_jax", "ntga_loss", "ntga"]


def gd_predict_jax(k_train: Any, y_train: Any, k_test_train: Any, t: Any = None, *,
                   diag_reg: Any = 1e-4) -> jnp.ndarray:
    """Mean prediction of infinitely wide networks after gradient flow for time ``t`` (pure).

    ``K(X_v, X) K^{-1} (I - exp(-t K / (n c))) Y`` with ``K = k_train + lam I``,
    ``lam = diag_reg tr(k_train) / n`` (the relative ``diag_reg`` of neural-tangents);
    ``t = None``: kernel regression ``K(X_v, X) K^{-1} Y``.  Differentiable in every argument
    (eigendecomposition; distinct eigenvalues assumed, true for generic data).

    Shapes: ``k_train (n, n)``, ``y_train (n, c)``, ``k_test_train (m, n)`` -> ``(m, c)``.
    """
    if t is None:
        return krr.krr_jax(k_train, y_train, k_test_train, diag_reg)
    k = jnp.asarray(k_train)
    y = jnp.asarray(y_train)
    n = k.shape[0]
    size = y.size
    k = k + diag_reg * jnp.trace(k) / n * jnp.eye(n, dtype=k.dtype)
    lam, v = jnp.linalg.eigh(k)
    gain = -jnp.expm1(-t * lam / size) / lam                     # (1 - e^{-t lam / nc}) / lam
    return jnp.asarray(k_test_train) @ (v @ (gain[:, None] * (v.T @ y)))


def ntga_loss(kernel_fn: Callable, x_poison: Any, y_train: Any, x_val: Any, y_val: Any, *,
              t: Any = 64.0, loss: str = "cross_entropy", get: str = "ntk",
              diag_reg: Any = 1e-4) -> jnp.ndarray:
    """The NTGA objective ``L(f_t(X_v; X_p, Y), Y_v)`` (pure, to be *maximised* over ``X_p``).

    ``f_t`` is :func:`gd_predict_jax` with the kernel ``kernel_fn(., ., get)`` of the poisoned
    training inputs ``x_poison (n, ...)`` and one-hot ``y_train (n, c)``; ``loss``:
    ``"cross_entropy"`` (softmax CE of the outputs, the released code's choice) or ``"mse"``.
    """
    from . import kernels

    k_pp = kernels.analytic_kernel_jax(kernel_fn, x_poison, x_poison, get=get)
    k_vp = kernels.analytic_kernel_jax(kernel_fn, x_val, x_poison, get=get)
    pred = gd_predict_jax(k_pp, y_train, k_vp, t, diag_reg=diag_reg)
    return losses.get(loss)(pred, y_val)


@functools.lru_cache(maxsize=16)
def _compiled_attack(kernel_fn: Callable, get: str, loss: str, norm: str, steps: int,
                     random_start: bool, use_t: bool):
    def attack(x, y, x_val, y_val, t, diag_reg, eps, step_size, lo, hi, key):
        def objective(xp, _):
            return ntga_loss(kernel_fn, xp, y, x_val, y_val, t=t if use_t else None, loss=loss,
                             get=get, diag_reg=diag_reg)

        return attacks.pgd_jax(objective, x, None, eps, step_size, steps, norm=norm,
                               random_start=random_start, clip=(lo, hi), key=key)

    return jax.jit(attack)


def ntga(kernel_fn: Callable, x_train: Any, y_train: Any, x_val: Any, y_val: Any, eps: float, *,
         t: float | None = 64.0, steps: int = 10, step_size: float | None = None,
         norm: str = "linf", loss: str = "cross_entropy", get: str = "ntk",
         diag_reg: float = 1e-4, clip: tuple[float, float] | None = (0.0, 1.0),
         block_size: int | None = None, random_start: bool = False, key: Any = None,
         dtype: str = "float64") -> np.ndarray:
    """Poison ``x_train`` with NTGA: ``steps`` iterations of PGD ascent on :func:`ntga_loss`.

    Args:
      kernel_fn: neural-tangents ``kernel_fn`` of the surrogate (e.g. ``kernels.fc(...)[2]``).
      x_train: clean training inputs ``(n, ...)`` (inside ``clip``); y_train: one-hot ``(n, c)``.
      x_val, y_val: held-out inputs and one-hot labels the poison should make the model fail on.
      eps: per-example radius (``norm``: ``"linf"`` or ``"l2"``).
      t: training time of the surrogate (``None``: kernel regression, ``t -> inf``).
      steps: PGD iterations; step_size: default ``1.1 eps / steps`` (the released code's).
      loss: ``"cross_entropy"`` or ``"mse"``; get: ``"ntk"`` or ``"nngp"``.
      diag_reg: relative ridge of the train kernel.
      clip: data range ``(lo, hi)`` or ``None``.
      block_size: B-NTGA block size (``None``: the whole training set is one block).
      random_start: start from a random point of the ball.
      key: int or PRNG key (random start; default 0).
      dtype: ``"float64"`` (default) or ``"float32"``.

    Returns:
      the poisoned inputs, ``x_train``'s shape, ``||x_p - x_train|| <= eps`` per example.
    """
    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    np_dtype, ctx = resolve_dtype(dtype)
    x = check_array(x_train, "x_train", ndim=(2, 4), dtype=np_dtype)
    y = check_array(y_train, "y_train", ndim=2, dtype=np_dtype)
    check_same_length("x_train", x, "y_train", y)
    xv = check_array(x_val, "x_val", ndim=(2, 4), dtype=np_dtype)
    yv = check_array(y_val, "y_val", ndim=2, dtype=np_dtype)
    check_same_length("x_val", xv, "y_val", yv)
    if xv.shape[1:] != x.shape[1:] or yv.shape[1] != y.shape[1]:
        raise ValueError("x_val/y_val must have the per-example shapes of x_train/y_train")
    check_scalar(eps, "eps", min_value=0.0)
    if t is not None:
        check_scalar(t, "t", min_value=0.0, strict_min=True)
    check_scalar(steps, "steps", kind=int, min_value=1)
    if step_size is None:
        step_size = 1.1 * float(eps) / steps
    check_scalar(step_size, "step_size", min_value=0.0)
    norm = check_choice(norm, "norm", attacks.NORMS)
    loss = check_choice(loss, "loss", tuple(losses.LOSSES))
    get = check_choice(get, "get", ("ntk", "nngp"))
    check_scalar(diag_reg, "diag_reg", min_value=0.0, strict_min=True)
    if clip is None:
        lo, hi = -np.inf, np.inf
    else:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2 or not clip[0] < clip[1]:
            raise ValueError(f"clip must be None or a pair lo < hi, got {clip!r}")
        lo, hi = float(clip[0]), float(clip[1])
        if x.min() < lo or x.max() > hi:
            raise ValueError(f"x_train has values outside clip={tuple(clip)}")
    n = len(x)
    if block_size is None:
        block_size = n
    check_scalar(block_size, "block_size", kind=int, min_value=2)
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
    key = check_key(key, default=0)
    fn = _compiled_attack(kernel_fn, get, loss, norm, int(steps), bool(random_start), t is not None)
    out = []
    with ctx:
        for b, s in enumerate(range(0, n, block_size)):
            e = min(s + block_size, n)
            out.append(np.asarray(fn(jnp.asarray(x[s:e]), jnp.asarray(y[s:e]), jnp.asarray(xv),
                                     jnp.asarray(yv), float(t or 0.0), float(diag_reg),
                                     float(eps), float(step_size), lo, hi,
                                     jax.random.fold_in(key, b))))
    x_p = np.concatenate(out).astype(np_dtype, copy=False)
    # exact projection against float rounding
    d = x_p - x
    if norm == "linf":
        d = np.clip(d, -eps, eps)
    x_p = np.clip(x + d, lo, hi)
    return x_p
