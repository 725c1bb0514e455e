r"""Intrinsic dimension of a point cloud: the maximum-likelihood (MLE) estimator.

Levina and Bickel (NIPS 2004) model the ``k`` nearest neighbours of a point ``x`` in a
data set of intrinsic dimension ``m`` as a Poisson process whose rate grows like
``r^m`` with the distance ``r``.  With ``T_1(x) <= ... <= T_k(x)`` the distances to the
``k`` nearest neighbours (the point itself excluded), the likelihood is maximised by::

    m_k(x) = [ 1/(k-1) sum_{j=1}^{k-1} log( T_k(x) / T_j(x) ) ]^{-1}.

Under the model, ``S(x) = sum_{j<k} log(T_k/T_j)`` is a sum of ``k-1`` independent
exponentials of mean ``1/m``: ``S/(k-1)`` is an *unbiased* estimate of ``1/m``, while
``m_k(x) = (k-1)/S`` is biased upwards (``E[(k-2)/S] = m``; ``unbiased=True`` uses
``k-2``).  Two ways to combine the points:

* ``averaging="inverse"`` (default, MacKay and Ghahramani 2005, the form of Pope et al.
  ICLR'21): average the unbiased inverses, then invert,
  ``m_k = [ 1/(n(k-1)) sum_i sum_{j<k} log(T_k(x_i)/T_j(x_i)) ]^{-1}``;
* ``averaging="mean"`` (Levina and Bickel): the mean of the per-point ``m_k(x_i)``.

Small ``k`` sees only the local dimension but is noisy; large ``k`` averages more but
reaches further, where curvature and the finite sample bias the estimate (downwards for
high dimensions: ``n`` points cannot fill a high-dimensional ball).  Pope et al. report
``k = 3, 5, 10, 20``.

Synthetic data of known dimension for validating the estimator:
:func:`gaussian_subspace` (a flat ``d``-dimensional Gaussian in ``R^D``) and
:func:`sphere` (the curved unit ``d``-sphere, rotated into ``R^D``).

Reference implementations: ``ppope/dimensions`` (``estimators/mle.py``; note that its
inverse-averaged estimate divides by ``k-2`` before averaging the inverses, i.e. it
returns ``(k-2)/(k-1)`` times the estimate here) and ``scikit-dimension``'s
``skdim.id.MLE`` (``comb="mle"`` with ``n_neighbors=k`` equals ``averaging="inverse"``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .validation import check_array, check_choice, check_int_sequence, check_scalar

__all__ = [
    "AVERAGING", "knn_distances", "mle_pointwise_inverse", "mle_dimension", "mle_dimensions",
    "gaussian_subspace", "sphere",
]

AVERAGING: tuple[str, ...] = ("inverse", "mean")


def _check_k(k: Any, name: str = "k") -> int:
    return int(check_scalar(k, name, kind=int, min_value=3))


def knn_distances(x: Any, k: int) -> np.ndarray:
    """Sorted distances ``(n, k)`` from every row of ``x`` to its ``k`` nearest other rows.

    Euclidean distances on ``x`` flattened to ``(n, d)`` (images are flattened), exact brute
    force in NumPy (the ``k`` candidates of each row are picked from
    ``|a|^2 + |b|^2 - 2 a.b`` in row blocks, then their distances recomputed from the
    differences; the same as scikit-learn's ``NearestNeighbors`` without its ~25 ms of
    overhead per call); each point's own zero distance is excluded.

    Raises:
      ValueError: ``k >= n``, or ``x`` has duplicate rows (a zero neighbour distance makes
        ``log(T_k/T_1)`` infinite; drop them first, e.g. ``np.unique(x, axis=0)``).
    """
    x = check_array(x, "x", min_ndim=2, dtype=np.float64)
    x = x.reshape(len(x), -1)
    k = int(check_scalar(k, "k", kind=int, min_value=1))
    n = x.shape[0]
    if k >= n:
        raise ValueError(f"k must be smaller than the number of points n={n}, got k={k}")
    sq = np.einsum("ij,ij->i", x, x)
    rows = np.arange(n)
    dist = np.empty((n, k))
    for s in range(0, n, 512):
        e = min(s + 512, n)
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * (x[s:e] @ x.T)
        d2[rows[s:e] - s, rows[s:e]] = np.inf                          # not the point itself
        cand = np.argpartition(d2, k - 1, axis=1)[:, :k]               # the k nearest (any order)
        exact = np.sqrt(np.sum((x[cand] - x[s:e, None, :]) ** 2, axis=-1))
        dist[s:e] = np.sort(exact, axis=1)
    if np.any(dist[:, 0] <= 0):
        n_dup = int(np.sum(dist[:, 0] <= 0))
        raise ValueError(f"x has duplicate rows ({n_dup} points with a neighbour at distance 0); "
                         "remove them (np.unique(x, axis=0)) before estimating the dimension")
    return dist


def mle_pointwise_inverse(distances: Any, k: int) -> np.ndarray:
    """``S(x_i) / (k-1)`` per point: the unbiased estimate of ``1 / m`` at each point.

    ``S(x_i) = sum_{j=1}^{k-1} log(T_k(x_i) / T_j(x_i))`` from the first ``k`` columns of
    ``distances`` (sorted, as returned by :func:`knn_distances`).  Returns ``(n,)``.
    """
    d = check_array(distances, "distances", ndim=2, dtype=np.float64)
    k = _check_k(k)
    if d.shape[1] < k:
        raise ValueError(f"distances has {d.shape[1]} neighbour columns, k={k} needs at least {k}")
    d = d[:, :k]
    if np.any(d <= 0):
        raise ValueError("distances must be > 0 (duplicate points?)")
    if np.any(np.diff(d, axis=1) < 0):
        raise ValueError("distances must be sorted along each row (nearest first)")
    return np.sum(np.log(d[:, -1:] / d[:, :-1]), axis=1) / (k - 1)


def mle_dimension(
    x: Any = None,
    k: int = 20,
    *,
    averaging: str = "inverse",
    unbiased: bool = False,
    distances: Any = None,
) -> float:
    """Levina-Bickel MLE of the intrinsic dimension of the rows of ``x`` with ``k`` neighbours.

    Args:
      x: points ``(n, d)`` (or images ``(n, H, W[, C])``, flattened); ignored when
        ``distances`` is given.
      k: number of neighbours, ``k >= 3``.
      averaging: ``"inverse"`` (MacKay-Ghahramani: ``1 / mean_i(S_i/(k-1))``) or
        ``"mean"`` (Levina-Bickel: ``mean_i((k-1)/S_i)``); see the module docstring.
      unbiased: use ``k-2`` instead of ``k-1`` in the per-point estimate (only with
        ``averaging="mean"``, where it removes the per-point bias; the inverse average
        is already unbiased for ``1/m``).
      distances: precomputed :func:`knn_distances` with at least ``k`` columns.

    Returns:
      The estimated dimension (float).
    """
    averaging = check_choice(averaging, "averaging", AVERAGING)
    if not isinstance(unbiased, (bool, np.bool_)):
        raise TypeError(f"unbiased must be a bool, got {type(unbiased).__name__}")
    if unbiased and averaging == "inverse":
        raise ValueError("unbiased=True applies to averaging='mean' only (the inverse average "
                         "of S/(k-1) is already unbiased for 1/m)")
    k = _check_k(k)
    if distances is None:
        if x is None:
            raise TypeError("give x or distances")
        distances = knn_distances(x, k)
    inv = mle_pointwise_inverse(distances, k)
    if averaging == "inverse":
        return float(1.0 / np.mean(inv))
    factor = (k - 2) / (k - 1) if unbiased else 1.0
    return float(np.mean(factor / inv))


def mle_dimensions(x: Any, ks: Sequence[int] = (3, 5, 10, 20), *, averaging: str = "inverse") -> np.ndarray:
    """:func:`mle_dimension` for several ``k`` from one neighbour search; returns ``(len(ks),)``."""
    ks = check_int_sequence(ks, "ks", min_value=3)
    dist = knn_distances(x, max(ks))
    return np.array([mle_dimension(k=k, averaging=averaging, distances=dist) for k in ks])


# --------------------------------------------------------------------------- #
# Synthetic data of known intrinsic dimension
# --------------------------------------------------------------------------- #
def _check_dims(n: Any, d: Any, ambient: Any, seed: Any) -> tuple[int, int, int, np.random.Generator]:
    check_scalar(n, "n", kind=int, min_value=2)
    check_scalar(d, "d", kind=int, min_value=1)
    check_scalar(ambient, "ambient", kind=int, min_value=1)
    if d > ambient:
        raise ValueError(f"d must be <= ambient, got d={d} > ambient={ambient}")
    check_scalar(seed, "seed", kind=int, min_value=0)
    return int(n), int(d), int(ambient), np.random.default_rng(int(seed))


def gaussian_subspace(n: int, d: int, ambient: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` points ``x = Q z``, ``z ~ N(0, I_d)``, ``Q`` a random orthonormal ``(ambient, d)``.

    A flat ``d``-dimensional data set in ``R^ambient``: intrinsic dimension exactly ``d``.
    Returns ``(n, ambient)`` float64.
    """
    n, d, ambient, rng = _check_dims(n, d, ambient, seed)
    q, _ = np.linalg.qr(rng.standard_normal((ambient, d)))
    return rng.standard_normal((n, d)) @ q.T


def sphere(n: int, d: int, ambient: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` points uniform on the unit ``d``-sphere ``S^d``, rotated into ``R^ambient``.

    ``u = g / ||g||`` with ``g ~ N(0, I_{d+1})``, then ``x = Q u`` with a random orthonormal
    ``Q (ambient, d+1)``: a curved manifold of intrinsic dimension ``d`` (needs
    ``ambient >= d + 1``).  Returns ``(n, ambient)`` float64.
    """
    n, d, ambient, rng = _check_dims(n, d, ambient, seed)
    if d + 1 > ambient:
        raise ValueError(f"the d-sphere needs ambient >= d + 1, got d={d}, ambient={ambient}")
    q, _ = np.linalg.qr(rng.standard_normal((ambient, d + 1)))
    g = rng.standard_normal((n, d + 1))
    return (g / np.linalg.norm(g, axis=1, keepdims=True)) @ q.T
