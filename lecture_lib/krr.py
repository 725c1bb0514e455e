"""Kernel ridge regression and the closed-form dynamics of gradient descent
on the squared loss of a kernel (= linearised / infinitely wide) model.

Notation: ``K = k_train`` is the ``(n, n)`` train kernel, ``K_xX = k_test_train``
the ``(m, n)`` test-train kernel, ``y`` the ``(n,)`` or ``(n, k)`` targets.

* Ridge:  ``alpha = (K + lam I)^-1 y``, ``f(x) = K_xX alpha`` with
  ``lam = reg * tr(K) / n`` (``scale_reg_by_trace=True``, makes ``reg``
  dimensionless) or ``lam = reg``.  Equivalent to
  ``sklearn.kernel_ridge.KernelRidge(alpha=lam, kernel="precomputed")``.
* Gradient flow on ``L = 1/2 ||f(X) - y||^2`` with learning rate ``lr``
  (``df/dt = -lr K (f - y)``), ``K = V diag(lambda) V^T``::

      f_t(X) = y + V exp(-lr t lambda) V^T (f_0(X) - y)
      f_t(x) = f_0(x) + K_xX V diag((1 - exp(-lr t lambda)) / lambda) V^T (y - f_0(X))

  Discrete GD ``f_{k+1} = f_k - lr K (f_k - y)`` replaces
  ``exp(-lr t lambda)`` by ``(1 - lr lambda)^k``.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg

from .validation import check_array, check_kernel, check_scalar, is_tracer

__all__ = [
    "effective_reg", "fit", "predict", "fit_predict", "krr_jax", "solve_psd",
    "GDDynamics", "gd_dynamics", "gd_dynamics_discrete",
]


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _check_targets(y: Any, name: str, n: int, kname: str) -> np.ndarray:
    y = check_array(y, name, ndim=(1, 2), dtype=np.float64)
    if y.shape[0] != n:
        raise ValueError(
            f"{name} must have {n} rows to match {kname}, got shape {y.shape}")
    return y


def _check_cross(k_test_train: Any, n: int, name: str = "k_test_train") -> np.ndarray:
    k = check_array(k_test_train, name, ndim=2, dtype=np.float64)
    if k.shape[1] != n:
        raise ValueError(
            f"{name} must have {n} columns (one per training point), got shape {k.shape}")
    return k


def effective_reg(k_train: np.ndarray, reg: float, scale_reg_by_trace: bool = True) -> float:
    """``lam = reg * tr(K) / n`` if ``scale_reg_by_trace`` else ``reg``."""
    check_scalar(reg, "reg", kind=(int, float), min_value=0)
    if not isinstance(scale_reg_by_trace, (bool, np.bool_)):
        raise TypeError(
            f"scale_reg_by_trace must be bool, got {type(scale_reg_by_trace).__name__}")
    if scale_reg_by_trace:
        k = np.asarray(k_train)
        return float(reg) * float(np.trace(k)) / k.shape[0]
    return float(reg)


def solve_psd(a: np.ndarray, b: np.ndarray, max_tries: int = 9) -> tuple[np.ndarray, float]:
    """Solve ``a x = b`` for symmetric PSD ``a`` by Cholesky.

    If the factorisation fails (singular/indefinite in floating point), jitter
    ``eps * I`` is added, ``eps = 1e-12, 1e-11, ... (max_tries values, up to
    1e-4 by default) * mean(diag a)``; a ``RuntimeWarning`` is emitted when the
    jitter needed exceeds ``1e-6 * mean(diag a)`` (it then changes the solution
    noticeably).  Raises ``np.linalg.LinAlgError`` (a ``ValueError``) if even
    the largest jitter fails, i.e. ``a`` is clearly not PSD.

    Returns:
      ``(x, jitter_used)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = float(np.mean(np.abs(np.diag(a)))) or 1.0
    diag = np.diag_indices_from(a)
    for jitter in [0.0] + [1e-12 * scale * 10.0**i for i in range(max_tries)]:
        a_j = a.copy()  # cho_factor may overwrite it; jitter goes on the diagonal only
        a_j[diag] += jitter
        try:
            c = scipy.linalg.cho_factor(a_j, lower=True, overwrite_a=True, check_finite=False)
            x = scipy.linalg.cho_solve(c, b, check_finite=False)
        except np.linalg.LinAlgError:
            continue
        if np.all(np.isfinite(x)):
            break
    else:
        raise np.linalg.LinAlgError(
            f"Cholesky failed even with jitter {jitter:.3g}; the kernel matrix is "
            "not positive semi-definite")
    if jitter > 1e-6 * scale:
        warnings.warn(
            f"kernel matrix is numerically singular or slightly indefinite; added "
            f"jitter {jitter:.3g} (mean diagonal {scale:.3g}). Consider reg > 0.",
            RuntimeWarning, stacklevel=3)
    return x, jitter


# --------------------------------------------------------------------------- #
# Kernel ridge regression
# --------------------------------------------------------------------------- #
def fit(
    k_train: Any, y_train: Any, reg: float = 0.0, scale_reg_by_trace: bool = True
) -> np.ndarray:
    """Dual coefficients ``alpha = (K + lam I)^-1 y``.

    Args:
      k_train: ``(n, n)`` symmetric PSD train kernel.
      y_train: ``(n,)`` or ``(n, k)`` targets (multi-output solved at once).
      reg: ridge ``>= 0``; ``0`` gives the interpolating (kernel "regression")
        solution, i.e. the infinite-time limit of gradient flow.
      scale_reg_by_trace: ``lam = reg * tr(K) / n`` (default) or ``lam = reg``.

    Returns:
      ``alpha`` with the shape of ``y_train`` (float64).
    """
    k = check_kernel(k_train, "k_train")
    y = _check_targets(y_train, "y_train", k.shape[0], "k_train")
    lam = effective_reg(k, reg, scale_reg_by_trace)
    k[np.diag_indices_from(k)] += lam  # k is check_kernel's private symmetrised copy
    alpha, _ = solve_psd(k, y)
    return alpha


def predict(k_test_train: Any, alpha: Any) -> np.ndarray:
    """``f(x) = K_xX alpha``: ``(m, n) @ (n,)|(n, k) -> (m,)|(m, k)``."""
    alpha = check_array(alpha, "alpha", ndim=(1, 2), dtype=np.float64)
    k = _check_cross(k_test_train, alpha.shape[0])
    return k @ alpha


def fit_predict(
    k_train: Any,
    y_train: Any,
    k_test_train: Any,
    reg: float = 0.0,
    scale_reg_by_trace: bool = True,
) -> np.ndarray:
    """``predict(k_test_train, fit(k_train, y_train, reg, scale_reg_by_trace))``.

    Pass ``k_test_train = k_train`` for train predictions.
    """
    k = check_kernel(k_train, "k_train")
    _check_cross(k_test_train, k.shape[0])
    return predict(k_test_train, fit(k, y_train, reg, scale_reg_by_trace))


def krr_jax(
    k_train: Any,
    y_train: Any,
    k_test_train: Any,
    reg: float = 1e-6,
    scale_reg_by_trace: bool = True,
):
    """Differentiable KRR prediction ``K_xX (K + lam I)^-1 y`` as a ``jnp`` array.

    Same maths as :func:`fit_predict` (``lam = reg * tr(K)/n`` by default) but
    written in ``jax.numpy`` (``jax.scipy.linalg.solve(assume_a="pos")``) so that
    ``jax.grad`` flows to all of ``k_train``, ``y_train``, ``k_test_train`` and
    ``reg`` -- used by kernel inducing points (KIP) and by attacks on kernel
    predictors.  No jitter fallback (keep ``reg > 0``).  Works under ``jit``;
    argument checks are skipped for traced values.

    Returns:
      ``(m,)`` or ``(m, k)`` ``jnp`` array.
    """
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    if not is_tracer(reg):
        check_scalar(reg, "reg", kind=(int, float), min_value=0)
    arrays = {}
    for name, val, nd in (("k_train", k_train, (2,)), ("y_train", y_train, (1, 2)),
                          ("k_test_train", k_test_train, (2,))):
        if not is_tracer(val):
            check_array(val, name, ndim=nd)
        arrays[name] = jnp.asarray(val)
    k, y, kx = arrays["k_train"], arrays["y_train"], arrays["k_test_train"]
    n = k.shape[0]
    if k.shape != (n, n):
        raise ValueError(f"k_train must be square, got shape {k.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y_train must have {n} rows to match k_train, got shape {y.shape}")
    if kx.shape[1] != n:
        raise ValueError(
            f"k_test_train must have {n} columns (one per training point), got shape {kx.shape}")
    lam = reg * jnp.trace(k) / n if scale_reg_by_trace else reg
    alpha = jsl.solve(k + lam * jnp.eye(n, dtype=k.dtype), y, assume_a="pos")
    return kx @ alpha


# --------------------------------------------------------------------------- #
# Gradient-descent dynamics in closed form
# --------------------------------------------------------------------------- #
class GDDynamics(NamedTuple):
    """Outputs of :func:`gd_dynamics` / :func:`gd_dynamics_discrete`.

    ``train``: ``f_t(X)``, shape ``(T,) + y.shape`` for an array of times
    (``y.shape`` for a scalar time).  ``test``: ``f_t(x)`` with ``(T, m[, k])``,
    or ``None`` when no ``k_test_train`` was given.  Unpacks as
    ``f_train, f_test = gd_dynamics(...)``.
    """

    train: np.ndarray
    test: np.ndarray | None


def _prepare_dynamics(k_train, y_train, k_test_train, lr, f0_train, f0_test):
    k = check_kernel(k_train, "k_train")
    n = k.shape[0]
    y = _check_targets(y_train, "y_train", n, "k_train")
    check_scalar(lr, "lr", kind=(int, float), min_value=0, strict_min=True)
    f0 = np.zeros_like(y) if f0_train is None else check_array(
        f0_train, "f0_train", dtype=np.float64)
    if f0.shape != y.shape:
        raise ValueError(f"f0_train must have the shape of y_train {y.shape}, got {f0.shape}")
    kx = None
    f0x = None
    if k_test_train is not None:
        kx = _check_cross(k_test_train, n)
        m = kx.shape[0]
        if f0_test is None:
            f0x = np.zeros((m,) + y.shape[1:])
        else:
            f0x = check_array(f0_test, "f0_test", dtype=np.float64)
            if f0x.shape != (m,) + y.shape[1:]:
                raise ValueError(
                    f"f0_test must have shape {(m,) + y.shape[1:]}, got {f0x.shape}")
    elif f0_test is not None:
        raise ValueError("f0_test was given without k_test_train")
    lam, v = np.linalg.eigh(k)
    lam = np.clip(lam, 0.0, None)  # PSD up to round-off
    # residual r0 = f0 - y in the eigenbasis: (n,) or (n, k)
    r0 = v.T @ (f0 - y)
    return lam, v, y, r0, kx, f0x


def _assemble(decay, gain, v, y, r0, kx, f0x, scalar):
    """decay: (T, n) factors on train residual; gain: (T, n) factors g_i with
    f_t(x) = f0(x) - K_xX V diag(g) V^T (f0 - y)."""
    extra = (None,) * (r0.ndim - 1)
    train = y[None] + np.einsum("ij,tj...->ti...", v, decay[(...,) + extra] * r0[None])
    test = None
    if kx is not None:
        proj = kx @ v  # (m, n)
        test = f0x[None] - np.einsum("ij,tj...->ti...", proj,
                                     gain[(...,) + extra] * r0[None])
    if scalar:
        train = train[0]
        test = None if test is None else test[0]
    return GDDynamics(train, test)


def _times(t, name, integer=False):
    arr = check_array(t, name, ndim=(0, 1), dtype=None)
    if integer and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integers, got {arr}")
        arr = np.round(arr).astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0")
    return np.atleast_1d(arr).astype(np.int64 if integer else np.float64), arr.ndim == 0


def gd_dynamics(
    k_train: Any,
    y_train: Any,
    t: Any,
    k_test_train: Any = None,
    lr: float = 1.0,
    f0_train: Any = None,
    f0_test: Any = None,
) -> GDDynamics:
    """Closed-form gradient flow ``df/dt = -lr K (f - y)`` on ``1/2 ||f(X) - y||^2``.

    ``f_t(X) = y + exp(-lr t K) (f0(X) - y)``;
    ``f_t(x) = f0(x) + K_xX K^-1 (I - exp(-lr t K)) (y - f0(X))``, computed with
    ``K = V diag(lambda) V^T`` and ``(1 - exp(-lr t lambda)) / lambda -> lr t``
    for ``lambda -> 0`` (so no ``K^-1`` is formed; eigenvalues are clipped at 0).
    As ``t -> inf`` the test prediction tends to the interpolating KRR solution
    (``reg=0``) when ``f0 = 0``.

    Args:
      k_train: ``(n, n)`` symmetric PSD; y_train: ``(n,)`` or ``(n, k)``.
      t: time ``>= 0``, scalar or 1-D array of ``T`` times.
      k_test_train: optional ``(m, n)``.
      lr: learning rate ``> 0`` (only ``lr * t`` matters).
      f0_train, f0_test: outputs at initialisation (default 0), shapes of
        ``y_train`` and ``(m,) + y_train.shape[1:]``.

    Returns:
      :class:`GDDynamics` ``(train, test)``; a leading time axis iff ``t`` is an
      array.
    """
    lam, v, y, r0, kx, f0x = _prepare_dynamics(k_train, y_train, k_test_train, lr,
                                               f0_train, f0_test)
    ts, scalar = _times(t, "t")
    a = lr * ts[:, None] * lam[None, :]  # (T, n)
    decay = np.exp(-a)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(lam[None, :] > 0, -np.expm1(-a) / lam[None, :], lr * ts[:, None])
    return _assemble(decay, gain, v, y, r0, kx, f0x, scalar)


def gd_dynamics_discrete(
    k_train: Any,
    y_train: Any,
    steps: Any,
    k_test_train: Any = None,
    lr: float = 1.0,
    f0_train: Any = None,
    f0_test: Any = None,
) -> GDDynamics:
    """Closed form of ``steps`` full-batch GD steps ``f <- f - lr K_.X (f(X) - y)``.

    That is GD with step ``lr`` on ``1/2 sum_i (f(x_i) - y_i)^2`` for a
    linearised model with tangent kernel ``K``::

        f_k(X) = y + (I - lr K)^k (f0(X) - y)
        f_k(x) = f0(x) + K_xX V diag((1 - (1 - lr lambda)^k) / lambda) V^T (y - f0(X))

    (the gain tends to ``lr k`` for ``lambda -> 0``).  Converges iff
    ``lr < 2 / lambda_max``.  Arguments as :func:`gd_dynamics`, with integer
    ``steps >= 0`` (scalar or 1-D) instead of ``t``.
    """
    lam, v, y, r0, kx, f0x = _prepare_dynamics(k_train, y_train, k_test_train, lr,
                                               f0_train, f0_test)
    ks, scalar = _times(steps, "steps", integer=True)
    base = 1.0 - lr * lam[None, :]  # (1, n)
    kk = ks[:, None].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        decay = np.power(base, kk)
        # accurate 1 - (1 - x)^k for small x via expm1/log1p where 0 <= x < 1
        x = lr * lam[None, :]
        safe = (x > 0) & (x < 1)
        one_minus = np.where(safe, -np.expm1(kk * np.log1p(-np.where(safe, x, 0.0))),
                             1.0 - decay)
        gain = np.where(lam[None, :] > 0, one_minus / lam[None, :], lr * kk)
    return _assemble(decay, gain, v, y, r0, kx, f0x, scalar)
