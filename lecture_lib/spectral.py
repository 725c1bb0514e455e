"""Spectral view of kernel gradient descent (Arora et al., ICML 2019).

With ``K = sum_i lambda_i v_i v_i^T`` (``lambda_1 >= ... >= lambda_n``) and GD
with step ``lr`` on ``1/2 ||u - y||^2`` from ``u(0) = 0``, the training
residual after ``k`` steps is ``y - u(k) = (I - lr K)^k y``, so::

    ||y - u(k)||^2 = sum_i (1 - lr lambda_i)^(2k) (v_i^T y)^2

Labels aligned with the top eigenvectors (large ``lambda_i``) are learned fast;
the data-dependent complexity ``sqrt(2 y^T K^-1 y / n)`` bounds generalization.

Spectra of rotation-invariant kernels (Basri et al. NeurIPS'19, Bietti & Mairal
NeurIPS'19, Cao et al. IJCAI'21): a dot-product kernel ``kappa(x . x')`` on the
sphere has the spherical harmonics as eigenfunctions (Funk-Hecke,
:func:`dot_product_kernel_eigenvalues`, :func:`sphere_ntk_eigenvalues`); on
equally spaced points of the circle its Gram matrix is circulant with Fourier
modes as eigenvectors (:func:`circulant_spectrum`, :func:`fourier_amplitudes`).

Eigen-features of a kernel predictor (Tsilivis & Kempe, NeurIPS 2022): the KRR / NTK
predictor splits along the eigenvectors of the train kernel,
``f(x) = K(x, X) (K + lam I)^{-1} y = sum_i f_i(x)`` with
``f_i(x) = K(x, X) v_i v_i^T y / (lambda_i + lam)`` (:func:`eigen_feature_coefficients`,
:func:`eigen_features`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special

from .krr import effective_reg, solve_psd
from . import recursion
from .validation import check_array, check_kernel, check_scalar

__all__ = ["eigh_desc", "label_projections", "residual_norms",
           "residual_per_direction", "cumulative_energy", "label_energy", "complexity_measure",
           "fourier_amplitudes", "harmonic_multiplicity", "dot_product_kernel_eigenvalues",
           "sphere_ntk_eigenvalues", "circulant_spectrum", "eigen_feature_coefficients",
           "eigen_features"]


def eigh_desc(k: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of a symmetric kernel, eigenvalues in descending order.

    Args:
      k: ``(n, n)`` symmetric matrix (checked up to relative ``1e-6``; the
        symmetrised ``(K + K^T)/2`` is decomposed).

    Returns:
      ``(eigvals (n,), eigvecs (n, n))`` with ``K = eigvecs @ diag(eigvals) @
      eigvecs.T`` and column ``i`` the eigenvector of ``eigvals[i]``.
    """
    k = check_kernel(k, "k")
    lam, v = np.linalg.eigh(k)
    return lam[::-1].copy(), v[:, ::-1].copy()


def eigen_feature_coefficients(k: Any, y: Any, reg: float = 0.0, scale_reg_by_trace: bool = True
                               ) -> tuple[np.ndarray, np.ndarray]:
    r"""Dual coefficients of the eigen-features of the kernel predictor.

    With ``K = sum_i lambda_i v_i v_i^T`` (descending, :func:`eigh_desc`) and
    ``lam = reg tr(K)/n`` (``reg`` itself if not ``scale_reg_by_trace``), feature ``i`` is
    ``f_i(x) = K(x, X) alpha_i``, ``alpha_i = v_i (v_i^T y) / (lambda_i + lam)``; the
    ``alpha_i`` sum to ``(K + lam I)^{-1} y``, so the features sum to the KRR predictor
    (``reg = 0``: the NTK predictor of infinitely wide networks trained to convergence).

    Args:
      k: ``(n, n)`` symmetric PSD train kernel (PD if ``reg = 0``).
      y: ``(n,)`` or ``(n, c)`` targets.
      reg, scale_reg_by_trace: ridge as in :func:`lecture_lib.krr.fit`.

    Returns:
      ``(eigvals (n,), alphas (n, n) | (n, n, c))``, row ``i`` of ``alphas`` the
      coefficients of feature ``i`` (features ordered by descending eigenvalue).
    """
    lam, v = eigh_desc(k)
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64)
    if y.shape[0] != lam.shape[0]:
        raise ValueError(f"y must have {lam.shape[0]} rows to match k, got shape {y.shape}")
    ridge = effective_reg(k, reg, scale_reg_by_trace)
    denom = lam + ridge
    if np.any(denom <= 0):
        raise ValueError("k + reg I must be positive definite for the eigen-features; "
                         f"smallest eigenvalue {lam[-1]:.3g} with ridge {ridge:.3g}: use reg > 0")
    proj = v.T @ y                                               # (n,) | (n, c): v_i^T y
    if y.ndim == 1:
        alphas = v.T * (proj / denom)[:, None]                   # (F, n)
    else:
        alphas = v.T[:, :, None] * (proj / denom[:, None])[:, None, :]   # (F, n, c)
    return lam, alphas


def eigen_features(k_test_train: Any, k: Any, y: Any, reg: float = 0.0,
                   scale_reg_by_trace: bool = True) -> np.ndarray:
    """Values of the eigen-features at test points: ``f_i(x_j)``, ``(n_test, n)`` (or
    ``(n_test, n, c)`` for ``(n, c)`` targets); summed over the feature axis they give the KRR
    prediction ``krr.fit_predict(k, y, k_test_train, reg)``.  See
    :func:`eigen_feature_coefficients`."""
    kx = check_array(k_test_train, "k_test_train", ndim=2, dtype=np.float64)
    _, alphas = eigen_feature_coefficients(k, y, reg, scale_reg_by_trace)
    if kx.shape[1] != alphas.shape[1]:
        raise ValueError(f"k_test_train must have {alphas.shape[1]} columns, got shape {kx.shape}")
    return np.einsum("tn,fn...->tf...", kx, alphas)


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
    k = check_kernel(k, "k")
    y = check_array(y, "y", ndim=(1, 2), dtype=np.float64)
    if y.shape[0] != k.shape[0]:
        raise ValueError(f"y must have {k.shape[0]} rows to match k, got shape {y.shape}")
    sol, _ = solve_psd(k, y)
    return float(np.sqrt(2.0 * np.sum(y * sol) / k.shape[0]))


def label_energy(projections: Any) -> np.ndarray:
    """Share of ``||y||^2`` on each eigenvector: ``(v_i^T y)^2 / sum_j (v_j^T y)^2``.

    Args:
      projections: ``v_i^T y``, shape (n,) (from :func:`lecture_lib.spectral.label_projections`).

    Returns:
      np.ndarray (n,), sums to 1.
    """
    p = check_array(projections, "projections", ndim=1, dtype=np.float64)
    total = np.sum(p**2)
    if total == 0:
        raise ValueError("projections must not be all zero")
    return p**2 / total


# --------------------------------------------------------------------------- #
# Fourier modes on the circle, spherical harmonics on the sphere
# --------------------------------------------------------------------------- #
def fourier_amplitudes(t: Any, r: Any, freqs: Sequence[int]) -> np.ndarray:
    """Amplitude of frequency ``k`` in ``r`` sampled at angles ``t``.

    Least squares fit of ``sum_k (a_k cos kt + b_k sin kt)`` (plus a constant
    for k=0) to ``r``; returns ``sqrt(a_k^2 + b_k^2)``.  On the equally spaced
    grid this is the discrete Fourier amplitude ``|2/n sum_j r_j e^{-i k t_j}|``.

    Args:
      t: angles, shape (n,).
      r: values, shape (n,) or (..., n) (leading axes, e.g. time, are kept).
      freqs: integer frequencies (each < n/2 for identifiability on a grid).

    Returns:
      np.ndarray (..., len(freqs)).
    """
    t = check_array(t, "t", ndim=1).astype(np.float64)
    r = check_array(r, "r", min_ndim=1).astype(np.float64)
    if r.shape[-1] != len(t):
        raise ValueError(f"r must have last axis of length len(t)={len(t)}, got shape {r.shape}")
    freqs = _check_freqs(freqs, "freqs")
    cols, owner = [], []
    for j, k in enumerate(freqs):
        if k == 0:
            cols.append(np.ones_like(t)); owner.append((j, 0))
        else:
            cols.append(np.cos(k * t)); owner.append((j, 0))
            cols.append(np.sin(k * t)); owner.append((j, 1))
    design = np.stack(cols, axis=1)  # (n, p)
    coef, *_ = np.linalg.lstsq(design, r.reshape(-1, len(t)).T, rcond=None)  # (p, batch)
    amp2 = np.zeros((len(freqs), coef.shape[1]))
    for row, (j, _) in enumerate(owner):
        amp2[j] += coef[row] ** 2
    return np.sqrt(amp2).T.reshape(r.shape[:-1] + (len(freqs),))


def _check_freqs(freqs: Sequence[int], name: str) -> list[int]:
    if isinstance(freqs, (int, np.integer)):
        freqs = [int(freqs)]
    try:
        freqs = list(freqs)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers") from None
    if not freqs:
        raise ValueError(f"{name} must not be empty")
    for k in freqs:
        check_scalar(k, name, kind=int, min_value=0)
    return [int(k) for k in freqs]


def circulant_spectrum(t: Any, k: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues / n of a rotation-invariant Gram matrix on the circle, with the frequency of each eigenvector.

    On equally spaced angles the Gram matrix is circulant, every eigenvector is
    a pure Fourier mode ``cos kt`` / ``sin kt`` and its eigenvalue is ``n mu_k``
    (up to aliasing), so ``eigvals / n`` can be compared with
    :func:`sphere_ntk_eigenvalues` at ``dim=2``.  The frequency is the largest
    of the eigenvector's Fourier amplitudes (:func:`fourier_amplitudes`,
    frequencies ``0..n//2``).

    Args:
      t: angles (n,) (:func:`lecture_lib.data.circle_points`).
      k: Gram matrix (n, n) on those points.

    Returns:
      ``(eigvals / n, freqs)``: both (n,), in descending eigenvalue order.
    """
    t = check_array(t, "t", ndim=1)
    k = check_array(k, "k", ndim=2)
    if k.shape != (len(t), len(t)):
        raise ValueError(f"k must have shape ({len(t)}, {len(t)}) to match t, got {k.shape}")
    ev, vec = eigh_desc(k)
    n = len(t)
    freqs = np.argmax(fourier_amplitudes(t, vec.T, list(range(n // 2 + 1))), axis=1)
    return ev / n, freqs


def harmonic_multiplicity(dim: int, degree: int) -> int:
    """Number ``N(dim, k)`` of linearly independent spherical harmonics of degree k on S^{dim-1}."""
    check_scalar(dim, "dim", kind=int, min_value=2)
    check_scalar(degree, "degree", kind=int, min_value=0)
    k, d = degree, dim
    if k == 0:
        return 1
    return int(round((2 * k + d - 2) / k * math.comb(k + d - 3, d - 2)))


def _legendre_normalized(k: int, dim: int, cos_theta: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Gegenbauer polynomial of degree k in dimension dim, normalised so P_k(1) = 1."""
    if dim == 2:
        return np.cos(k * theta)
    lam = (dim - 2) / 2.0
    return special.eval_gegenbauer(k, lam, cos_theta) / special.eval_gegenbauer(k, lam, 1.0)


@lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = special.roots_legendre(n)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def dot_product_kernel_eigenvalues(
    kappa_of_angle: Callable[[np.ndarray], np.ndarray],
    degrees: Sequence[int],
    dim: int,
    *,
    n_quad: int = 1024,
) -> np.ndarray:
    """Eigenvalues ``mu_k`` of a dot-product kernel on the sphere S^{dim-1} in R^dim.

    Funk-Hecke: every spherical harmonic ``Y_k`` of degree k is an eigenfunction
    of ``(T f)(x) = E_{y ~ U(S^{dim-1})} kappa(x . y) f(y)`` with eigenvalue::

        mu_k = int_0^pi kappa(cos theta) P_k(cos theta) sin^{dim-2}(theta) dtheta
               / int_0^pi sin^{dim-2}(theta) dtheta,

    ``P_k`` the Gegenbauer polynomial with ``P_k(1) = 1`` (``cos k theta`` on
    the circle), each with multiplicity :func:`harmonic_multiplicity`, and
    ``kappa(t) = sum_k N(dim, k) mu_k P_k(t)``.  The integral is done in
    ``theta`` by Gauss-Legendre quadrature, so ``kappa_of_angle`` must take the
    angle (not ``cos theta``): NTKs are analytic in the angle but not in ``t``
    at ``t = 1``.

    Args:
      kappa_of_angle: vectorised ``theta -> kappa(cos theta)``.
      degrees: non-negative integers.
      dim: ambient dimension (2 = circle).
      n_quad: quadrature nodes.

    Returns:
      np.ndarray (len(degrees),).
    """
    degrees = _check_freqs(degrees, "degrees")
    check_scalar(dim, "dim", kind=int, min_value=2)
    check_scalar(n_quad, "n_quad", kind=int, min_value=8)
    nodes, weights = _gauss_legendre(n_quad)
    theta = (nodes + 1.0) * (np.pi / 2.0)
    w = weights * (np.pi / 2.0) * np.sin(theta) ** (dim - 2)
    w = w / w.sum()
    kap = np.asarray(kappa_of_angle(theta), dtype=np.float64)
    if kap.shape != theta.shape:
        raise ValueError(f"kappa_of_angle must return shape {theta.shape}, got {kap.shape}")
    cos_t = np.cos(theta)
    return np.array([np.sum(w * kap * _legendre_normalized(k, dim, cos_t, theta)) for k in degrees])


def sphere_ntk_eigenvalues(
    degrees: Sequence[int],
    dim: int,
    *,
    bias: float = 0.0,
    train_output: bool = False,
    n_quad: int = 1024,
) -> np.ndarray:
    """Eigenvalues by degree of the two-layer ReLU NTK (:func:`lecture_lib.recursion.two_layer_relu_ntk`) on S^{dim-1}.

    ``mu_k ~ k^{-dim}`` for large k (Bietti & Mairal 2019; Cao et al. 2021).
    Without bias the odd degrees ``k >= 3`` vanish (the kernel is
    ``t/4 + (even function of t)``); any ``bias > 0`` makes them positive.
    On the circle (``dim=2``) degree = frequency, and for n equally spaced
    points (n > 2k) the Gram matrix has the eigenvalue ``n mu_k`` (twice for
    k >= 1, eigenvectors cos kt and sin kt), up to aliasing of frequencies
    above n/2.

    Returns:
      np.ndarray (len(degrees),).
    """
    return dot_product_kernel_eigenvalues(
        lambda th: recursion.two_layer_relu_ntk_angle(th, bias=bias, train_output=train_output),
        degrees, dim, n_quad=n_quad,
    )
