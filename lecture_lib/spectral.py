"""Spectral view of kernel gradient descent (Arora et al., ICML 2019).

With ``K = sum_i lambda_i v_i v_i^T`` (``lambda_1 >= ... >= lambda_n``) and GD
with step ``lr`` on ``1/2 ||u - y||^2`` from ``u(0) = 0``, the training
residual after ``k`` steps is ``y - u(k) = (I - lr K)^k y``, so::

    ||y - u(k)||^2 = sum_i (1 - lr lambda_i)^(2k) (v_i^T y)^2

Labels aligned with the top eigenvectors (large ``lambda_i``) are learned fast;
the data-dependent complexity ``sqrt(2 y^T K^-1 y / n)`` bounds generalization.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .krr import _check_kernel, solve_psd
from .validation import check_array, check_scalar

__all__ = ["eigh_desc", "label_projections", "residual_norms",
           "residual_per_direction", "cumulative_energy", "complexity_measure"]


def eigh_desc(k: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of a symmetric kernel, eigenvalues in descending order.

    Args:
      k: ``(n, n)`` symmetric matrix (checked up to relative ``1e-6``; the
        symmetrised ``(K + K^T)/2`` is decomposed).

    Returns:
      ``(eigvals (n,), eigvecs (n, n))`` with ``K = eigvecs @ diag(eigvals) @
      eigvecs.T`` and column ``i`` the eigenvector of ``eigvals[i]``.
    """
    k = _check_kernel(k, "k")
    lam, v = np.linalg.eigh(k)
    return lam[::-1].copy(), v[:, ::-1].copy()


def label_projections(eigvecs: Any, y: Any) -> np.ndarray:
    """``p_i = v_i^T y``: ``(n, n), (n,)|(n, k) -> (n,)|(n, k)``."""
    v = check_array(eigvecs, "eigvecs", ndim=2, dtype=np.float64)
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64)
    if v.shape[0] != y.shape[0]:
        raise ValueError(
            f"eigvecs and y must have the same number of rows, got {v.shape[0]} and {y.shape[0]}")
    return v.T @ y


def _check_spectrum(eigvals, projections, lr, steps):
    lam = check_array(eigvals, "eigvals", ndim=1, dtype=np.float64)
    p = check_array(projections, "projections", ndim=(1, 2), dtype=np.float64)
    if p.shape[0] != lam.shape[0]:
        raise ValueError(
            f"projections must have {lam.shape[0]} rows (one per eigenvalue), got shape {p.shape}")
    check_scalar(lr, "lr", kind=(int, float), min_value=0, strict_min=True)
    s = check_array(steps, "steps", ndim=(0, 1))
    if not np.all(s == np.round(s)) or np.any(s < 0):
        raise ValueError("steps must hold non-negative integers")
    s = np.atleast_1d(s).astype(np.float64)
    p2 = p**2 if p.ndim == 1 else np.sum(p**2, axis=1)  # energy per direction
    return lam, p2, float(lr), s


def residual_per_direction(eigvals: Any, projections: Any, lr: float, steps: Any) -> np.ndarray:
    """``|1 - lr lambda_i|^k * |v_i^T y|`` for each step ``k`` and direction ``i``.

    For multi-output ``projections`` ``(n, k)`` the norm over outputs is used.
    Returns ``(len(steps), n)``.
    """
    lam, p2, lr, s = _check_spectrum(eigvals, projections, lr, steps)
    return np.abs(1.0 - lr * lam)[None, :] ** s[:, None] * np.sqrt(p2)[None, :]


def residual_norms(eigvals: Any, projections: Any, lr: float, steps: Any) -> np.ndarray:
    """``||y - u(k)|| = sqrt(sum_i (1 - lr lambda_i)^(2k) (v_i^T y)^2)``.

    Args:
      eigvals: ``(n,)``; projections: ``(n,)`` or ``(n, k)`` (Frobenius norm
      over outputs); lr: step ``> 0``; steps: int or 1-D ints ``>= 0``.

    Returns:
      ``(len(steps),)`` (``(1,)`` for a scalar ``steps``).
    """
    r = residual_per_direction(eigvals, projections, lr, steps)
    return np.sqrt(np.sum(r**2, axis=1))


def cumulative_energy(projections: Any) -> np.ndarray:
    """Fraction of ``||y||^2`` on the top-``i`` eigenvectors:
    ``c_i = sum_{j<=i} (v_j^T y)^2 / sum_j (v_j^T y)^2`` (``(n,)``, ends at 1).

    ``projections`` ``(n,)`` or ``(n, k)`` (summed over outputs), ordered by
    descending eigenvalue (as returned by :func:`eigh_desc`).
    """
    p = check_array(projections, "projections", ndim=(1, 2), dtype=np.float64)
    p2 = p**2 if p.ndim == 1 else np.sum(p**2, axis=1)
    total = p2.sum()
    if total == 0:
        raise ValueError("projections must not be all zero")
    return np.cumsum(p2) / total


def complexity_measure(k: Any, y: Any) -> float:
    """Arora et al. (ICML 2019) data-dependent complexity ``sqrt(2 y^T K^-1 y / n)``.

    ``k``: ``(n, n)`` symmetric PD (Cholesky with jitter fallback);
    ``y``: ``(n,)`` or ``(n, k)`` (then ``y^T K^-1 y`` is the trace over outputs).
    """
    k = _check_kernel(k, "k")
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64)
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y must have {k.shape[0]} rows to match k, got shape {y.shape}")
    sol, _ = solve_psd(k, y)
    return float(np.sqrt(2.0 * np.sum(y * sol) / k.shape[0]))
