r"""How a kernel matrix moves and what it aligns with: the measurements of the empirical studies
of the empirical NTK (Fort et al. NeurIPS'20; Baratin et al. AISTATS'21; Tsilivis & Kempe
NeurIPS'22).

All functions take Gram matrices ``K`` of shape ``(..., n, n)`` (symmetric, e.g. empirical NTKs
on a fixed probe set, stacked over checkpoints or seeds) and return numpy floats or arrays over
the leading axes.  ``<A, B> = Tr(A B^T) = sum_ij A_ij B_ij`` and ``||A|| = ||A||_F``.

Kernel distance (Fort et al.)
    :func:`kernel_distance` ``d(K_1, K_2) = 1 - <K_1, K_2> / (||K_1|| ||K_2||)`` (0 for
    proportional kernels; it ignores the scale), :func:`distance_matrix` between all
    checkpoints (the heat map), :func:`kernel_velocity` ``d(K_{t_i}, K_{t_{i+1}}) / (t_{i+1} -
    t_i)``.
Polar coordinates (the slide's "kernel rotation")
    :func:`polar_coordinates` ``r_t = ||K_t - K_0|| / ||K_f - K_0||``, ``theta_t =
    arccos(1 - d(K_t, K_0))``: how far the kernel has moved relative to its total move, and
    the angle it has turned by (as vectors in ``R^{n x n}``).
Alignment and spectrum (Baratin et al.; Tsilivis & Kempe)
    :func:`kernel_target_alignment` ``A(K, Y) = <K_c, Y_c Y_c^T> / (||K_c|| ||Y_c Y_c^T||)``
    (Cristianini et al. 2002; centred, ``K_c = H K H``, ``Y_c = H Y``, Cortes et al. 2012);
    :func:`center` ``H K H``; :func:`effective_rank` ``exp(-sum_i p_i log p_i)``,
    ``p_i = lambda_i / sum_j lambda_j``
    (Roy & Vetterli 2007; Baratin et al.'s measure of anisotropy);
    :func:`top_eigen_mass` ``sum_{i <= m} lambda_i^2 / sum_i lambda_i^2``, the share of
    ``||K||^2`` in the top-``m`` eigenspace ("eigenvalue concentration", Tsilivis & Kempe).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .validation import check_array, check_scalar

__all__ = [
    "kernel_distance", "distance_matrix", "kernel_velocity", "Polar", "polar_coordinates",
    "kernel_target_alignment", "center", "effective_rank", "top_eigen_mass", "eigenvalues",
]

_SYM_RTOL = 1e-5


def _kernels(k: Any, name: str = "k", symmetric: bool = True) -> np.ndarray:
    """``(..., n, n)`` finite float64 Gram matrices (symmetrised when ``symmetric``)."""
    k = check_array(k, name, min_ndim=2, dtype=np.float64)
    if k.shape[-1] != k.shape[-2]:
        raise ValueError(f"{name} must hold square matrices (..., n, n), got shape {k.shape}")
    if symmetric:
        kt = np.swapaxes(k, -1, -2)
        scale = np.max(np.abs(k))
        asym = np.max(np.abs(k - kt))
        if asym > _SYM_RTOL * max(scale, 1e-300):
            raise ValueError(f"{name} must be symmetric (max |K - K^T| = {asym:.3g}, "
                             f"max |K| = {scale:.3g})")
        k = 0.5 * (k + kt)
    return k


def _fro(k: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(k * k, axis=(-2, -1)))


def _nonzero(norms: np.ndarray, name: str) -> None:
    if np.any(norms == 0):
        raise ValueError(f"{name} contains a zero matrix (its kernel distance is undefined)")


def kernel_distance(k1: Any, k2: Any) -> Any:
    """Fort et al.'s kernel distance ``1 - <K_1, K_2> / (||K_1||_F ||K_2||_F)``.

    Args:
      k1, k2: ``(..., n, n)`` matrices; leading axes broadcast.

    Returns:
      float (or array over the leading axes) in ``[0, 2]``; 0 iff ``K_2 = c K_1``, ``c > 0``.
    """
    a = _kernels(k1, "k1", symmetric=False)
    b = _kernels(k2, "k2", symmetric=False)
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"k1 and k2 must have the same matrix shape, got {a.shape} and {b.shape}")
    na, nb = _fro(a), _fro(b)
    _nonzero(na, "k1")
    _nonzero(nb, "k2")
    cos = np.sum(a * b, axis=(-2, -1)) / (na * nb)
    out = 1.0 - np.clip(cos, -1.0, 1.0)
    return float(out) if np.ndim(out) == 0 else out


def distance_matrix(kernels: Any) -> np.ndarray:
    """``D[i, j] = d(K_i, K_j)`` between all kernels of a stack ``(R, n, n)`` (or ``(..., R, n, n)``):
    the heat map of Fort et al.  Returns ``(..., R, R)``, symmetric with a zero diagonal."""
    k = _kernels(kernels, "kernels", symmetric=False)
    if k.ndim < 3:
        raise ValueError(f"kernels must be a stack (R, n, n), got shape {k.shape}")
    flat = k.reshape(k.shape[:-2] + (-1,))
    norms = np.linalg.norm(flat, axis=-1)
    _nonzero(norms, "kernels")
    unit = flat / norms[..., None]
    d = 1.0 - np.clip(unit @ np.swapaxes(unit, -1, -2), -1.0, 1.0)
    d = 0.5 * (d + np.swapaxes(d, -1, -2))
    idx = np.arange(d.shape[-1])
    d[..., idx, idx] = 0.0
    return d


def _times(t: Any, r: int) -> np.ndarray:
    t = check_array(t, "t", ndim=1, dtype=np.float64)
    if t.shape[0] != r:
        raise ValueError(f"t must have one time per kernel ({r}), got {t.shape[0]}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing")
    return t


def kernel_velocity(kernels: Any, t: Any) -> np.ndarray:
    """Fort et al.'s kernel velocity ``v_i = d(K_{t_i}, K_{t_{i+1}}) / (t_{i+1} - t_i)``.

    Args:
      kernels: ``(..., R, n, n)`` kernels at times ``t``.
      t: ``(R,)`` strictly increasing times (steps or epochs: ``v`` is per unit of ``t``).

    Returns:
      ``(..., R - 1)``; entry ``i`` belongs to the interval ``[t_i, t_{i+1}]``.
    """
    k = _kernels(kernels, "kernels", symmetric=False)
    if k.ndim < 3 or k.shape[-3] < 2:
        raise ValueError(f"kernels must be a stack of at least 2 kernels (R, n, n), got shape {k.shape}")
    t = _times(t, k.shape[-3])
    d = kernel_distance(k[..., :-1, :, :], k[..., 1:, :, :])
    return np.asarray(d) / np.diff(t)


class Polar(NamedTuple):
    """Output of :func:`polar_coordinates`: ``r (..., R)`` (0 at the first kernel, 1 at the
    reference ``K_f``) and ``theta (..., R)`` in radians (0 at the first kernel)."""

    r: np.ndarray
    theta: np.ndarray


def polar_coordinates(kernels: Any, final: Any = None) -> Polar:
    """The slide's polar picture of a kernel trajectory ``K_0, ..., K_{R-1}``.

    ``r_t = ||K_t - K_0||_F / ||K_f - K_0||_F`` and ``theta_t = arccos(1 - d(K_t, K_0))``
    (:func:`kernel_distance`), with ``K_f`` the last kernel (or ``final``).  ``theta`` is the
    angle between ``K_t`` and ``K_0`` as vectors of ``R^{n x n}``: a kernel that only grows
    (``K_t = c K_0``) moves out radially at ``theta = 0``; a kernel that rotates moves in angle.

    Args:
      kernels: ``(..., R, n, n)`` kernels along training, ``K_0`` first.
      final: ``(..., n, n)`` reference for ``r = 1``; default ``kernels[..., -1, :, :]``.

    Returns:
      :class:`Polar`.
    """
    k = _kernels(kernels, "kernels", symmetric=False)
    if k.ndim < 3:
        raise ValueError(f"kernels must be a stack (R, n, n), got shape {k.shape}")
    k0 = k[..., :1, :, :]
    kf = k[..., -1:, :, :] if final is None else _kernels(final, "final", symmetric=False)[..., None, :, :]
    if kf.shape[-2:] != k.shape[-2:]:
        raise ValueError(f"final must have the matrix shape {k.shape[-2:]}, got {kf.shape[-2:]}")
    total = _fro(kf - k0)
    if np.any(total == 0):
        raise ValueError("the final kernel equals the first: r is undefined (the kernel did not move)")
    r = _fro(k - k0) / total
    theta = np.arccos(np.clip(1.0 - np.asarray(kernel_distance(k, k0)), -1.0, 1.0))
    return Polar(np.asarray(r), np.asarray(theta))


def _targets(y: Any, n: int) -> np.ndarray:
    y = check_array(y, "y", ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like the kernel, got {y.shape[0]}")
    if y.ndim == 2:
        return y.astype(np.float64)
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        classes, idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("y must contain at least two classes")
        return np.eye(len(classes))[idx]
    return y.astype(np.float64)[:, None]


def kernel_target_alignment(k: Any, y: Any, centered: bool = True) -> Any:
    """Kernel-target alignment ``A(K, Y) = <K_c, T> / (||K_c||_F ||T||_F)``, ``T = Y_c Y_c^T``.

    Cristianini et al. (2002) with the centring of Cortes et al. (2012): ``K_c = H K H``,
    ``Y_c = H Y``, ``H = I - 1 1^T / n`` (``centered=False``: ``K`` and ``Y`` as they are).  The
    cosine between the kernel and the ideal kernel of the targets: 1 iff ``K_c = c Y_c Y_c^T``.
    For one target column it is Baratin et al.'s ``y^T K_c y / (||K_c|| ||y||^2)`` (their
    targets are centred); the centring makes it blind to a constant added to ``K`` and to the
    class balance.

    Args:
      k: ``(..., n, n)`` kernels.
      y: integer class labels ``(n,)`` (one-hot encoded here), one real target ``(n,)`` (float,
        e.g. ``+-1``), or targets ``(n, c)`` (one-hot or real columns, used as they are).
      centered: centre ``K`` and ``Y``.

    Returns:
      float (or array over the leading axes of ``k``) in ``[-1, 1]``.
    """
    if not isinstance(centered, bool):
        raise TypeError(f"centered must be a bool, got {type(centered).__name__}")
    kk = _kernels(k, "k")
    n = kk.shape[-1]
    yy = _targets(y, n)
    if centered:
        yy = yy - yy.mean(axis=0, keepdims=True)
        kk = center(kk)
    t = yy @ yy.T
    nt_ = np.linalg.norm(t)
    if nt_ == 0:
        raise ValueError("y is constant (its centred target kernel is zero)")
    nk = _fro(kk)
    _nonzero(nk, "k (centred)" if centered else "k")
    out = np.sum(kk * t, axis=(-2, -1)) / (nk * nt_)
    return float(out) if np.ndim(out) == 0 else out


def eigenvalues(k: Any) -> np.ndarray:
    """Eigenvalues of symmetric ``(..., n, n)`` kernels in descending order, ``(..., n)``."""
    return np.linalg.eigvalsh(_kernels(k, "k"))[..., ::-1]


def center(k: Any) -> np.ndarray:
    """``H K H`` with ``H = I - 1 1^T / n`` for ``(..., n, n)`` kernels: the kernel of the
    features minus their mean over the ``n`` points (removes the constant direction)."""
    kk = _kernels(k, "k", symmetric=False)
    return (kk - kk.mean(axis=-1, keepdims=True) - kk.mean(axis=-2, keepdims=True)
            + kk.mean(axis=(-2, -1), keepdims=True))


def effective_rank(k: Any, centered: bool = False) -> Any:
    """``exp(H(p))``, ``p_i = lambda_i / sum_j lambda_j``, ``H(p) = -sum_i p_i log p_i``.

    Roy & Vetterli (2007), the measure of Baratin et al.: ``n`` for a multiple of the
    identity, 1 for a rank-one kernel; in between, roughly the number of eigenvalues that
    carry the trace.  Negative eigenvalues (round-off of a PSD kernel) count as 0.
    ``centered``: of :func:`center` ``(k)`` (a kernel of ReLU features of non-negative inputs
    is dominated by its constant direction; centring removes it).

    Returns:
      float (or array over the leading axes) in ``[1, n]``.
    """
    if not isinstance(centered, bool):
        raise TypeError(f"centered must be a bool, got {type(centered).__name__}")
    lam = np.clip(eigenvalues(center(k) if centered else k), 0.0, None)
    total = lam.sum(axis=-1, keepdims=True)
    if np.any(total == 0):
        raise ValueError("k has no positive eigenvalue")
    p = lam / total
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)
    out = np.exp(h)
    return float(out) if np.ndim(out) == 0 else out


def top_eigen_mass(k: Any, top: int) -> Any:
    """Share of ``||K||_F^2 = sum_i lambda_i^2`` in the ``top`` largest eigenvalues.

    ``sum_{i <= top} lambda_i^2 / sum_i lambda_i^2`` (the "eigenvalue concentration" of
    Tsilivis & Kempe's ``measurements.py``): 1 when the kernel lives in a ``top``-dimensional
    eigenspace, ``top / n`` for a multiple of the identity.

    Returns:
      float (or array over the leading axes) in ``[0, 1]``.
    """
    lam = eigenvalues(k)
    check_scalar(top, "top", kind=int, min_value=1, max_value=lam.shape[-1])
    sq = lam**2
    total = sq.sum(axis=-1)
    if np.any(total == 0):
        raise ValueError("k contains a zero matrix")
    out = sq[..., :top].sum(axis=-1) / total
    return float(out) if np.ndim(out) == 0 else out
