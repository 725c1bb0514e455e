r"""Synthetic distributions of the adversarial-robustness literature, with the exact standard
and robust errors of linear classifiers on them.

For a linear classifier ``f(x) = sign(w . x + b)`` the worst perturbation with
``||delta|| <= eps`` lowers every margin ``y (w . x + b)`` by exactly ``eps ||w||_*``
(``||w||_1`` for L-inf attacks, ``||w||_2`` for L2 attacks: the dual norm), so robust errors
are standard errors with a shifted margin, in closed form when ``w . x`` is Gaussian.

Schmidt et al. 2018, *Adversarially robust generalization requires more data*
    The ``(theta*, sigma)``-Gaussian model: ``y`` uniform in ``{-1, +1}``,
    ``x ~ N(y theta*, sigma^2 I_d)``.  With ``||theta*||_2 = sqrt(d)`` and
    ``sigma ~ d^{1/4}`` one sample suffices for a small standard error, while an
    L-inf-robust error needs ``n ~ eps^2 sqrt(d)`` samples (up to logs, for every learner).
    :func:`gaussian_model` samples it, :func:`mean_classifier` is the estimator of the paper
    (``w = mean_i y_i x_i``), :func:`gaussian_linear_errors` the exact errors.
Tsipras et al. 2019, *Robustness may be at odds with accuracy*
    ``y`` uniform in ``{-1, +1}``; ``x_1 = y`` with probability ``p`` and ``-y`` otherwise
    (one robust, moderately predictive feature); ``x_2, ..., x_{d+1} ~ N(eta y, 1)``
    i.i.d. (many weak, non-robust features).  With ``eta = 3 / sqrt(d)`` the weak features
    together give > 99% accuracy, but an L-inf attack with ``eps = 2 eta`` turns
    ``N(eta y, 1)`` into ``N(-eta y, 1)``; any classifier with standard accuracy
    ``1 - delta`` then has robust accuracy at most ``p delta / (1 - p)`` (their Theorem 2.1).
    :func:`tsipras_data` samples it, :func:`tsipras_linear_accuracy` gives the exact standard
    and robust accuracies of a linear classifier.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.special import ndtr

from .validation import check_array, check_choice, check_rng, check_scalar

__all__ = [
    "DUAL_NORMS", "GaussianModel", "schmidt_model", "gaussian_model", "mean_classifier",
    "gaussian_linear_errors", "tsipras_data", "tsipras_linear_accuracy", "tsipras_bound",
]

#: the norm of ``w`` by which an attack of unit size in each norm lowers a linear margin
DUAL_NORMS: dict[str, float] = {"linf": 1.0, "l2": 2.0}


class GaussianModel(NamedTuple):
    """Schmidt et al.'s ``(theta, sigma)``-Gaussian model: ``x ~ N(y theta, sigma^2 I)``."""

    theta: np.ndarray
    sigma: float


def schmidt_model(d: int, c: float = 0.5) -> GaussianModel:
    """The regime of Schmidt et al.'s theorems: ``theta* = (1, ..., 1)`` (``||theta*||_2 =
    sqrt(d)``, ``||theta*||_inf = 1``) and ``sigma = c d^{1/4}``.

    One sample then gives standard error about ``Phi(-1 / c^2)`` (tiny for ``c = 1/2``),
    independently of ``d``.
    """
    check_scalar(d, "d", kind=int, min_value=1)
    check_scalar(c, "c", min_value=0.0, strict_min=True)
    return GaussianModel(np.ones(int(d)), float(c) * float(d) ** 0.25)


def gaussian_model(model: GaussianModel, n: int, seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples ``(x (n, d), y (n,))`` of the Gaussian model (labels in ``{-1, +1}``)."""
    theta, sigma = _check_model(model)
    check_scalar(n, "n", kind=int, min_value=1)
    rng = check_rng(seed)
    y = rng.choice(np.array([-1.0, 1.0]), size=int(n))
    x = y[:, None] * theta[None, :] + sigma * rng.standard_normal((int(n), theta.size))
    return x, y


def mean_classifier(x: Any, y: Any) -> np.ndarray:
    """``w = (1/n) sum_i y_i x_i``, the estimator of Schmidt et al. (``(d,)``).

    In the Gaussian model ``y_i x_i = theta* + sigma g_i`` with ``g_i ~ N(0, I)``, so
    ``w ~ N(theta*, sigma^2 / n I)`` exactly.
    """
    x = check_array(x, "x", ndim=2)
    y = check_array(y, "y", ndim=1)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows, got {len(x)} and {len(y)}")
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError("y must hold labels in {-1, +1}")
    return (y[:, None] * x).mean(axis=0)


def _check_model(model: Any) -> tuple[np.ndarray, float]:
    if not isinstance(model, GaussianModel):
        raise TypeError(f"model must be a GaussianModel, got {type(model).__name__}")
    theta = check_array(model.theta, "model.theta", ndim=1, dtype=np.float64)
    check_scalar(model.sigma, "model.sigma", min_value=0.0, strict_min=True)
    return theta, float(model.sigma)


def _dual_norm(w: np.ndarray, norm: str) -> np.ndarray:
    return np.abs(w).sum(-1) if norm == "linf" else np.sqrt((w * w).sum(-1))


def gaussian_linear_errors(w: Any, model: GaussianModel, eps: float = 0.0, norm: str = "linf"
                           ) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact standard and ``eps``-robust errors of ``sign(w . x)`` in the Gaussian model.

    ``y w . x ~ N(w . theta, sigma^2 ||w||_2^2)`` and the attack lowers it by
    ``eps ||w||_*``, so::

        standard error = Phi(-w . theta / (sigma ||w||_2))
        robust error   = Phi((eps ||w||_* - w . theta) / (sigma ||w||_2))

    Args:
      w: ``(d,)`` or a stack ``(..., d)`` of weight vectors.
      model: :class:`GaussianModel`.
      eps: attack radius ``>= 0``; norm: ``"linf"`` (``||w||_* = ||w||_1``) or ``"l2"``.

    Returns:
      ``(standard_error, robust_error)``, arrays of ``w``'s leading shape (floats for one ``w``).
    """
    theta, sigma = _check_model(model)
    w = check_array(w, "w", min_ndim=1, dtype=np.float64)
    if w.shape[-1] != theta.size:
        raise ValueError(f"w must have {theta.size} entries (the model's d), got shape {w.shape}")
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", tuple(DUAL_NORMS))
    margin = w @ theta
    scale = sigma * np.sqrt((w * w).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.where(scale > 0, ndtr(-margin / np.where(scale > 0, scale, 1.0)), margin <= 0)
        shifted = margin - float(eps) * _dual_norm(w, norm)
        rob = np.where(scale > 0, ndtr(-shifted / np.where(scale > 0, scale, 1.0)), shifted <= 0)
    std, rob = std.astype(np.float64), rob.astype(np.float64)
    return (float(std), float(rob)) if std.ndim == 0 else (std, rob)


def tsipras_data(n: int, d: int, p: float = 0.9, eta: float | None = None, seed: Any = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples ``(x (n, d + 1), y (n,))`` of Tsipras et al.'s distribution.

    Column 0 is the robust feature ``x_1`` (``= y`` with probability ``p``, ``-y``
    otherwise), columns ``1..d`` the weak features ``N(eta y, 1)``; default
    ``eta = 3 / sqrt(d)``.  Labels in ``{-1, +1}``.
    """
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(d, "d", kind=int, min_value=1)
    check_scalar(p, "p", min_value=0.5, max_value=1.0)
    eta = 3.0 / np.sqrt(d) if eta is None else eta
    check_scalar(eta, "eta", min_value=0.0)
    rng = check_rng(seed)
    y = rng.choice(np.array([-1.0, 1.0]), size=int(n))
    x1 = np.where(rng.random(int(n)) < p, y, -y)
    weak = float(eta) * y[:, None] + rng.standard_normal((int(n), int(d)))
    return np.concatenate([x1[:, None], weak], axis=1), y


def tsipras_linear_accuracy(w: Any, b: float = 0.0, *, p: float = 0.9, eta: float | None = None,
                            eps: float = 0.0, norm: str = "linf") -> tuple[float, float]:
    r"""Exact standard and ``eps``-robust accuracy of ``sign(w . x + b)`` on Tsipras' data.

    With ``w = (w_1, w_r)``: ``y w . x = w_1 s + y w_r . x_r``, ``s = y x_1 = +1`` (prob.
    ``p``) or ``-1``, ``y w_r . x_r ~ N(eta sum(w_r), ||w_r||_2^2)``; the attack lowers the
    margin by ``eps ||w||_*`` (it may move ``x_1`` too), and ``y b = +-b`` for the two
    classes, each with probability 1/2::

        acc = 1/2 sum_{y=+-1} [ p Phi((w_1 + m) / r) + (1 - p) Phi((-w_1 + m) / r) ],
        m = eta sum(w_r) + y b - eps ||w||_*,   r = ||w_r||_2.

    ``w``: ``(d + 1,)`` (robust feature first).  Returns ``(standard, robust)`` floats.
    """
    w = check_array(w, "w", ndim=1, dtype=np.float64)
    if w.size < 2:
        raise ValueError(f"w must have d + 1 >= 2 entries, got {w.size}")
    check_scalar(b, "b")
    check_scalar(p, "p", min_value=0.5, max_value=1.0)
    d = w.size - 1
    eta = 3.0 / np.sqrt(d) if eta is None else eta
    check_scalar(eta, "eta", min_value=0.0)
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", tuple(DUAL_NORMS))
    w1, wr = w[0], w[1:]
    r = float(np.sqrt(wr @ wr))

    def acc(shift: float) -> float:
        total = 0.0
        for yb in (float(b), -float(b)):
            m = float(eta) * wr.sum() + yb - shift
            for s, prob in ((1.0, p), (-1.0, 1.0 - p)):
                z = s * w1 + m
                total += 0.5 * prob * (float(ndtr(z / r)) if r > 0 else float(z > 0))
        return total

    return acc(0.0), acc(float(eps) * float(_dual_norm(w, norm)))


def tsipras_bound(standard_accuracy: Any, p: float = 0.9) -> np.ndarray:
    """Tsipras et al.'s Theorem 2.1 at ``eps >= 2 eta``: robust accuracy
    ``<= p delta / (1 - p)`` for standard accuracy ``1 - delta`` (capped at 1)."""
    acc = check_array(standard_accuracy, "standard_accuracy", ndim=(0, 1), dtype=np.float64)
    check_scalar(p, "p", min_value=0.5, max_value=1.0, )
    if p == 1.0:
        return np.ones_like(acc)
    return np.minimum(1.0, p * (1.0 - acc) / (1.0 - p))
