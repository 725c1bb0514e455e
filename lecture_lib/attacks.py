"""FGSM and PGD adversarial attacks against any differentiable JAX loss.

An attack maximises ``loss_fn(x_adv, y)`` over the per-example ball
``||x_adv_i - x_i|| <= eps`` (``norm="linf"``: max over all non-batch axes;
``norm="l2"``: Euclidean norm over all non-batch axes), optionally inside the
data range ``clip=(lo, hi)``.  ``loss_fn(x, y) -> scalar`` is any
differentiable JAX function, e.g. a trained network
``loss_for_predictor(lambda x: apply_fn(params, x))`` or a kernel predictor
``loss_for_predictor(lambda x: K(x, X_train) @ alpha)`` (the "NTK adversary"
of Tsilivis & Kempe 2021).

Steps (``g = grad_x loss_fn(x, y)``, per example ``i``)::

    linf:  x <- x + step_size * sign(g_i)
    l2:    x <- x + step_size * g_i / ||g_i||_2        (no move where g_i = 0)

followed by projection onto the eps-ball around the clean ``x`` and clipping to
``clip``.  FGSM (Goodfellow et al. 2015) is one such step with
``step_size = eps`` from the clean input; PGD (Madry et al. 2018) iterates
``steps`` times, optionally from a uniform random point of the ball.  Because
steps are normalised per example, the scale of ``loss_fn`` (sum vs mean over
examples) does not matter.  PGD returns the last iterate.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .train import _LOSS_FNS, LOSSES, _as_key, accuracy
from .validation import check_array, check_choice, check_same_length, check_scalar

__all__ = [
    "fgsm", "pgd", "pgd_jax", "loss_for_predictor", "robust_accuracy",
    "perturbation_norms", "NORMS",
]

NORMS: tuple[str, ...] = ("linf", "l2")


# ----------------------------------------------------------------------------
# pure-jax core
# ----------------------------------------------------------------------------
def _per_example_l2(v: jnp.ndarray) -> jnp.ndarray:
    """``||v_i||_2`` over all non-batch axes, shaped ``(n, 1, ..., 1)``."""
    axes = tuple(range(1, v.ndim))
    return jnp.sqrt(jnp.sum(v * v, axis=axes, keepdims=True))


def _step_direction(g: jnp.ndarray, norm: str) -> jnp.ndarray:
    if norm == "linf":
        return jnp.sign(g)
    gn = _per_example_l2(g)
    return jnp.where(gn > 0, g / jnp.where(gn > 0, gn, 1.0), 0.0)


def _project(delta: jnp.ndarray, eps: jnp.ndarray, norm: str) -> jnp.ndarray:
    if norm == "linf":
        return jnp.clip(delta, -eps, eps)
    dn = _per_example_l2(delta)
    scale = jnp.where(dn > eps, eps / jnp.where(dn > 0, dn, 1.0), 1.0)
    return delta * scale


def _random_start(key: jax.Array, x: jnp.ndarray, eps: jnp.ndarray, norm: str) -> jnp.ndarray:
    """A uniform sample of the per-example eps-ball (L-inf box or L2 ball)."""
    if norm == "linf":
        return jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0) * eps
    k1, k2 = jax.random.split(key)
    d = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    z = jax.random.normal(k1, x.shape, x.dtype)
    z = z / jnp.maximum(_per_example_l2(z), jnp.finfo(x.dtype).tiny)
    r = jax.random.uniform(k2, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype) ** (1.0 / d)
    return z * r * eps


def pgd_jax(
    loss_fn: Callable[[Any, Any], Any],
    x: jnp.ndarray,
    y: Any,
    eps: Any,
    step_size: Any,
    steps: Any,
    norm: str = "linf",
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: jax.Array | None = None,
) -> jnp.ndarray:
    """PGD without input checks, returning a ``jnp`` array: usable inside
    ``jit`` (e.g. adversarial training).  ``eps``, ``step_size``, ``steps`` and
    ``clip`` may be traced; ``norm``/``random_start`` must be static.  See
    :func:`pgd` for the arguments."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    eps = jnp.asarray(eps, x.dtype)
    step_size = jnp.asarray(step_size, x.dtype)
    grad_fn = jax.grad(loss_fn)

    def clip_fn(v):
        return v if clip is None else jnp.clip(v, clip[0], clip[1])

    if random_start:
        if key is None:
            raise ValueError("key is required when random_start=True")
        x_adv = clip_fn(x + _random_start(key, x, eps, norm))
    else:
        x_adv = x

    def body(_, xa):
        g = grad_fn(xa, y)
        xa = xa + step_size * _step_direction(g, norm)
        return clip_fn(x + _project(xa - x, eps, norm))

    return jax.lax.fori_loop(0, steps, body, x_adv)


_pgd_jit = jax.jit(pgd_jax, static_argnames=("loss_fn", "norm", "random_start"))


# ----------------------------------------------------------------------------
# public, checked API
# ----------------------------------------------------------------------------
def _check_common(loss_fn, x, y, eps, norm, clip, batch_size):
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    x = check_array(x, "x", min_ndim=1)
    if y is not None:
        y = check_array(y, "y", min_ndim=1)
        check_same_length("x", x, "y", y)
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", NORMS)
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2:
            raise TypeError("clip must be None or a pair (lo, hi)")
        lo, hi = clip
        check_scalar(lo, "clip[0]")
        check_scalar(hi, "clip[1]")
        if not lo < hi:
            raise ValueError(f"clip must satisfy lo < hi, got {clip}")
        if x.min() < lo or x.max() > hi:
            raise ValueError(f"x has values outside clip={tuple(clip)}: "
                             f"[{x.min():.4g}, {x.max():.4g}]")
        clip = (float(lo), float(hi))
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1)
    xs = jnp.asarray(x[: (batch_size or x.shape[0])])
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        xs = xs.astype(jnp.float32)
    ys = None if y is None else jnp.asarray(y[: xs.shape[0]])
    try:
        out = jax.eval_shape(loss_fn, xs, ys)
    except Exception as err:  # noqa: BLE001 - rethrow with context
        raise TypeError(f"loss_fn(x, y) failed: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError("loss_fn(x, y) must return a scalar, got shape "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return x, y, norm, clip


def _run(loss_fn, x, y, eps, step_size, steps, norm, random_start, clip, key, batch_size):
    n = x.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    outs = []
    for b, start in enumerate(range(0, n, bs)):
        xb = x[start:start + bs]
        yb = None if y is None else jnp.asarray(y[start:start + bs])
        kb = None if key is None else jax.random.fold_in(key, b)
        outs.append(np.asarray(_pgd_jit(loss_fn, jnp.asarray(xb), yb, eps, step_size,
                                        steps, norm=norm, random_start=random_start,
                                        clip=clip, key=kb)))
    x_adv = np.concatenate(outs, axis=0)
    return _finalize(x, x_adv, eps, norm, clip)


def _finalize(x: np.ndarray, x_adv: np.ndarray, eps: float, norm: str,
              clip: tuple[float, float] | None) -> np.ndarray:
    """Re-project in the dtype of ``x`` (float64 for numpy input even when JAX
    computed in float32), so the eps-ball and clip range hold in the output."""
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    xx = x.astype(dtype, copy=False)
    delta = x_adv.astype(dtype) - xx
    if norm == "linf":
        delta = np.clip(delta, -eps, eps)
    else:
        dn = np.sqrt(np.sum(delta.reshape(len(delta), -1) ** 2, axis=1))
        scale = np.where(dn > eps, eps / np.where(dn > 0, dn, 1.0), 1.0)
        delta = delta * scale.reshape((-1,) + (1,) * (delta.ndim - 1)).astype(dtype)
    out = xx + delta
    if clip is not None:
        out = np.clip(out, clip[0], clip[1])
    return out


def fgsm(
    loss_fn: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    eps: float,
    norm: str = "linf",
    clip: tuple[float, float] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Fast gradient (sign) method: one step of size ``eps``.

    ``x_adv = x + eps * sign(g)`` (``linf``) or ``x + eps * g / ||g||_2``
    (``l2``, per example), ``g = grad_x loss_fn(x, y)``, then clipped to
    ``clip``.

    Args:
      loss_fn: ``loss_fn(x, y) -> scalar``, differentiable in ``x``.
      x: clean inputs ``(n, ...)``; must lie inside ``clip`` when given.
      y: targets passed through to ``loss_fn`` (``(n, ...)``) or ``None``.
      eps: radius ``>= 0`` of the per-example ball (``eps = 0`` returns ``x``).
      norm: ``"linf"`` or ``"l2"`` (over all non-batch axes).
      clip: ``(lo, hi)`` data range, or ``None``.
      batch_size: attack this many examples at a time (valid when the loss
        is a sum/mean of per-example terms); ``None``: all at once.

    Returns:
      ``x_adv`` as ``np.ndarray`` of the shape and (float) dtype of ``x``.
    """
    x, y, norm, clip = _check_common(loss_fn, x, y, eps, norm, clip, batch_size)
    return _run(loss_fn, x, y, eps, eps, 1, norm, False, clip, None, batch_size)


def pgd(
    loss_fn: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    eps: float,
    step_size: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: Any = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Projected gradient descent (ascent on the loss), Madry et al. 2018.

    ``x_0 = x`` (or ``x`` + uniform noise in the eps-ball when
    ``random_start``), then ``steps`` times: move ``step_size`` along
    ``sign(g)`` (``linf``) or ``g / ||g||_2`` (``l2``), project onto the
    per-example eps-ball around ``x``, clip to ``clip``.

    Args:
      loss_fn, x, y, eps, norm, clip, batch_size: as in :func:`fgsm`.
      step_size: step length ``> 0``; default ``2.5 * eps / steps``.
      steps: number of iterations ``>= 1``.
      random_start: start from a uniform random point of the ball.
      key: int or ``jax.random.PRNGKey`` for the random start (default 0);
        the same key gives the same result.

    Returns:
      ``x_adv`` as ``np.ndarray`` of the shape and (float) dtype of ``x``
      (the last iterate).  Not traceable (it checks inputs and returns numpy):
      inside ``jit``/adversarial training use :func:`pgd_jax`.
    """
    x, y, norm, clip = _check_common(loss_fn, x, y, eps, norm, clip, batch_size)
    check_scalar(steps, "steps", kind=int, min_value=1)
    if step_size is None:
        step_size = 2.5 * eps / steps
    else:
        check_scalar(step_size, "step_size", min_value=0.0, strict_min=True)
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
    key = _as_key(0 if key is None else key) if random_start else None
    return _run(loss_fn, x, y, eps, step_size, steps, norm, bool(random_start), clip, key,
                batch_size)


def loss_for_predictor(predict_fn: Callable[[Any], Any], loss: str = "mse"
                       ) -> Callable[[Any, Any], Any]:
    """``loss_fn(x, y) = L(predict_fn(x), y)`` for use with :func:`fgsm`/:func:`pgd`.

    ``predict_fn(x) -> (n,) or (n, k)`` is a differentiable JAX function (a
    network ``lambda x: apply_fn(params, x)``, a kernel predictor
    ``lambda x: K(x, X_train) @ alpha``).  ``loss``: ``"mse"``
    (``0.5 mean_i sum_j (f_ij - y_ij)^2``) or ``"cross_entropy"`` (softmax
    cross-entropy with integer/one-hot labels, logistic loss for one output
    with ``{-1, +1}`` labels), as in :mod:`lecture_lib.train`.
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}")
    loss = check_choice(loss, "loss", LOSSES)
    base = _LOSS_FNS[loss]

    def loss_fn(x, y):
        return base(predict_fn(x), y)

    loss_fn.__doc__ = f"{loss} loss of predict_fn(x) against y"
    return loss_fn


def perturbation_norms(x: Any, x_adv: Any, norm: str = "linf") -> np.ndarray:
    """Per-example ``||x_adv_i - x_i||`` (``linf`` or ``l2`` over non-batch axes), ``(n,)``."""
    x = check_array(x, "x", min_ndim=1)
    x_adv = check_array(x_adv, "x_adv", min_ndim=1)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    norm = check_choice(norm, "norm", NORMS)
    d = (x_adv - x).reshape(x.shape[0], -1).astype(np.float64)
    return np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d * d).sum(axis=1))


def robust_accuracy(
    predict_fn: Callable[[Any], Any],
    x: Any,
    y: Any,
    eps: float,
    attack: str = "pgd",
    loss: str = "cross_entropy",
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: Any = None,
    batch_size: int | None = None,
) -> float:
    """Accuracy of ``predict_fn`` on adversarial inputs.

    Attacks ``loss_for_predictor(predict_fn, loss)`` with :func:`fgsm`
    (``attack="fgsm"``) or :func:`pgd` and returns
    :func:`lecture_lib.train.accuracy` of ``predict_fn(x_adv)`` against ``y``
    (sign agreement for one output and ``{-1, +1}`` labels, argmax otherwise).
    ``eps = 0`` gives the clean accuracy.
    """
    attack = check_choice(attack, "attack", ("fgsm", "pgd"))
    loss_fn = loss_for_predictor(predict_fn, loss)
    if attack == "fgsm":
        x_adv = fgsm(loss_fn, x, y, eps, norm=norm, clip=clip, batch_size=batch_size)
    else:
        x_adv = pgd(loss_fn, x, y, eps, step_size=step_size, steps=steps, norm=norm,
                    random_start=random_start, clip=clip, key=key, batch_size=batch_size)
    n = x_adv.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    pred = np.concatenate([np.asarray(predict_fn(jnp.asarray(x_adv[s:s + bs])))
                           for s in range(0, n, bs)], axis=0)
    return accuracy(pred, y)
