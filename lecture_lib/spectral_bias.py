"""Training speed and spectral bias of two-layer ReLU networks (notebook 03).

Two settings from the lectures:

* **Arora et al. (ICML'19)**: a two-layer ReLU network
  ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x)`` with fixed output signs ``a_r``
  and first-layer weights trained by full-batch gradient descent on
  ``Phi(W) = 1/2 sum_i (f(x_i) - y_i)^2``.  For unit-norm inputs the residual
  follows ``y - u(k) ~ (I - eta H)^k y`` with the Gram matrix
  ``H_ij = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi)``
  (:func:`two_layer_relu_ntk`), so label components on large eigenvalues are
  learned first; random labels put their energy on the small ones.
* **Basri et al. (NeurIPS'19)**, **Bietti & Mairal (NeurIPS'19)**, **Cao et al.
  (IJCAI'21)**: on the sphere the NTK of such a network is a dot-product kernel
  ``kappa(x . x')``; its eigenfunctions are spherical harmonics (Fourier modes
  on the circle) and its eigenvalues decay with the degree/frequency
  (:func:`sphere_ntk_eigenvalues`), which is why low frequencies are fitted
  first.

The generic pieces (eigendecomposition, label projections, residual norms,
complexity measure) live in :mod:`lecture_lib.spectral`; this module holds the
kernels, tasks and the small training loop specific to these papers.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
from scipy import special

from .validation import check_array, check_same_length, check_scalar

__all__ = [
    "two_layer_relu_ntk",
    "two_layer_relu_ntk_angle",
    "corrupt_labels",
    "circle_points",
    "sines",
    "fourier_amplitudes",
    "harmonic_multiplicity",
    "dot_product_kernel_eigenvalues",
    "sphere_ntk_eigenvalues",
    "train_two_layer_gd",
]


# --------------------------------------------------------------------------
# The two-layer ReLU NTK (infinite-width Gram matrix H^infinity)
# --------------------------------------------------------------------------
def _relu_terms(cos_t: np.ndarray, theta: np.ndarray, scale: np.ndarray,
                train_output: bool) -> np.ndarray:
    """Kernel from the angle ``theta`` between augmented inputs and their norm product."""
    first = scale * cos_t * (np.pi - theta) / (2.0 * np.pi)
    if not train_output:
        return first
    second = scale * (np.sin(theta) + (np.pi - theta) * cos_t) / (2.0 * np.pi)
    return first + second


def two_layer_relu_ntk(
    x1: Any,
    x2: Any = None,
    *,
    bias: float = 0.0,
    train_output: bool = False,
) -> np.ndarray:
    """Infinite-width NTK Gram matrix of a two-layer ReLU network.

    Network: ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x + bias * b_r)`` with
    ``(w_r, b_r) ~ N(0, I)``, ``a_r ~ U{-1, +1}``.  With augmented inputs
    ``x~ = (x, bias)`` and ``theta`` the angle between ``x~`` and ``x~'``::

        H(x, x') = x~ . x~' (pi - theta) / (2 pi)                       (first layer)
                 + |x~||x~'| (sin theta + (pi - theta) cos theta) / (2 pi)   (if train_output)

    With ``bias=0`` and ``train_output=False`` this is ``H^infinity`` of
    Arora et al. (ICML'19), eq. (3).

    Args:
      x1: inputs, shape (n1, d).
      x2: inputs, shape (n2, d); ``None`` means ``x1``.
      bias: scale ``beta >= 0`` of the (trained) first-layer bias.
      train_output: also count the output-layer gradients (both layers trained).

    Returns:
      np.ndarray (n1, n2), float64.
    """
    x1 = check_array(x1, "x1", ndim=2).astype(np.float64)
    x2 = x1 if x2 is None else check_array(x2, "x2", ndim=2).astype(np.float64)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    dots = x1 @ x2.T + bias**2
    n1 = np.sqrt(np.sum(x1**2, axis=1) + bias**2)
    n2 = np.sqrt(np.sum(x2**2, axis=1) + bias**2)
    scale = np.outer(n1, n2)
    if np.any(scale == 0):
        raise ValueError("x1/x2 contain a zero row and bias=0: the ReLU NTK angle is undefined")
    cos_t = np.clip(dots / scale, -1.0, 1.0)
    theta = np.arccos(cos_t)
    return _relu_terms(cos_t, theta, scale, train_output)


def two_layer_relu_ntk_angle(
    theta: Any, *, bias: float = 0.0, train_output: bool = False
) -> np.ndarray:
    """The NTK of :func:`two_layer_relu_ntk` between two unit vectors at angle ``theta``.

    On the unit sphere the kernel is a dot-product kernel ``kappa(cos theta)``.
    The angle ``theta~`` between the augmented inputs is computed stably as
    ``2 arcsin(sin(theta/2) / sqrt(1 + bias^2))``, which keeps ``kappa`` an
    analytic function of ``theta`` (needed for accurate high-degree projections).

    Args:
      theta: angles in radians, any shape, values in [0, pi].
      bias, train_output: as in :func:`two_layer_relu_ntk`.

    Returns:
      np.ndarray with the shape of ``theta``.
    """
    theta = check_array(theta, "theta", allow_empty=True).astype(np.float64)
    if np.any((theta < -1e-12) | (theta > np.pi + 1e-12)):
        raise ValueError("theta must lie in [0, pi]")
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    scale = 1.0 + bias**2
    theta_aug = 2.0 * np.arcsin(np.sin(theta / 2.0) / np.sqrt(scale))
    cos_t = np.cos(theta_aug)
    return _relu_terms(cos_t, theta_aug, np.asarray(scale), train_output)


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------
def corrupt_labels(y: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Replace a random ``fraction`` of +-1 labels by independent random +-1 labels.

    As in Arora et al. (ICML'19, Sec. 5): ``round(fraction * n)`` positions are
    chosen without replacement and each gets a fresh fair coin, so about half
    of them actually flip; ``fraction=1`` gives fully random labels.  Nested in
    ``fraction`` for a fixed seed: the corrupted set at 0.5 contains the one at
    0.25 and the random draws agree on it.

    Args:
      y: labels in {-1, +1}, shape (n,).
      fraction: in [0, 1].
      seed: random seed.

    Returns:
      np.ndarray (n,) float64 of +-1 labels.
    """
    y = check_array(y, "y", ndim=1).astype(np.float64)
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must contain only -1 and +1 labels")
    check_scalar(fraction, "fraction", kind=(int, float), min_value=0.0, max_value=1.0)
    check_scalar(seed, "seed", kind=int)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    coins = rng.choice((-1.0, 1.0), size=len(y))
    n_bad = int(round(fraction * len(y)))
    out = y.copy()
    idx = order[:n_bad]
    out[idx] = coins[idx]
    return out


# --------------------------------------------------------------------------
# Circle tasks (Basri et al. NeurIPS'19)
# --------------------------------------------------------------------------
def circle_points(n: int, *, random: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on the unit circle.

    Args:
      n: number of points.
      random: uniform random angles instead of the equally spaced grid
        ``t_j = 2 pi j / n`` (on the grid any rotation-invariant Gram matrix is
        circulant, so its eigenvectors are exactly the Fourier modes).
      seed: seed for ``random=True``.

    Returns:
      ``(t, x)``: angles (n,) in [0, 2 pi) and points (n, 2) = (cos t, sin t).
    """
    check_scalar(n, "n", kind=int, min_value=1)
    if random:
        t = np.sort(np.random.default_rng(seed).uniform(0.0, 2 * np.pi, size=n))
    else:
        t = 2 * np.pi * np.arange(n) / n
    return t, np.stack([np.cos(t), np.sin(t)], axis=1)


def sines(t: Any, freqs: Sequence[int], amplitudes: Sequence[float] | None = None) -> np.ndarray:
    """Target ``sum_j A_j sin(k_j t)`` (Basri et al.: ``sin(4t) + sin(14t)``).

    Args:
      t: angles, shape (n,).
      freqs: integer frequencies ``k_j >= 0``.
      amplitudes: ``A_j`` (default all 1).

    Returns:
      np.ndarray (n,).
    """
    t = check_array(t, "t", ndim=1).astype(np.float64)
    freqs = _check_freqs(freqs, "freqs")
    amps = np.ones(len(freqs)) if amplitudes is None else check_array(amplitudes, "amplitudes", ndim=1)
    if len(amps) != len(freqs):
        raise ValueError(f"amplitudes must have len(freqs)={len(freqs)} entries, got {len(amps)}")
    return np.sum(amps[:, None] * np.sin(np.asarray(freqs)[:, None] * t[None, :]), axis=0)


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


# --------------------------------------------------------------------------
# Eigenvalues of dot-product kernels on spheres (Funk-Hecke)
# --------------------------------------------------------------------------
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
    """Eigenvalues by degree of the two-layer ReLU NTK (:func:`two_layer_relu_ntk`) on S^{dim-1}.

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
        lambda th: two_layer_relu_ntk_angle(th, bias=bias, train_output=train_output),
        degrees, dim, n_quad=n_quad,
    )


# --------------------------------------------------------------------------
# A two-layer ReLU network trained by full-batch GD (first layer only)
# --------------------------------------------------------------------------
def train_two_layer_gd(
    x: Any,
    y: Any,
    *,
    width: int,
    lr: float,
    steps: int,
    bias: float = 0.0,
    init_scale: float = 1.0,
    symmetric: bool = True,
    seed: int = 0,
    x_eval: Any = None,
    snapshot_steps: Sequence[int] | None = None,
    n_chunks: int = 20,
    progress: bool = True,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Train ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x + bias b_r)`` by GD on the first layer.

    The setting of Arora et al. (ICML'19) and Basri et al. (NeurIPS'19): output
    signs ``a_r`` fixed, ``(w_r, b_r) ~ N(0, init_scale^2 I)``, loss
    ``Phi = 1/2 sum_i (f(x_i) - y_i)^2`` (a sum, not a mean: the step ``lr``
    multiplies the Gram matrix of :func:`two_layer_relu_ntk` directly, so the
    linearised residual is ``(I - lr H)^k y``).  ``symmetric=True`` pairs every
    neuron with a copy of opposite sign ``a`` so that ``f = 0`` at
    initialisation, as the prediction ``||y - u(k)|| = ||(I - lr H)^k y||``
    assumes (Arora et al. instead take a small ``init_scale``).

    Several label vectors (columns of ``y``) are trained in one pass, each by
    its own network started from the same initial weights.

    Args:
      x: inputs (n, d).
      y: targets (n,) or (n, L).
      width: hidden units m (even when ``symmetric``).
      lr: GD step size eta.
      steps: number of GD steps.
      bias: input scale of the first-layer bias (0: no bias).
      init_scale: standard deviation of the first-layer weights.
      symmetric: antisymmetric initialisation (``f_0 = 0``).
      seed: seed for the initialisation.
      x_eval: optional inputs (n_eval, d) at which to record predictions.
      snapshot_steps: steps (0..steps) at which predictions on ``x_eval``
        are stored (default: 0 and ``steps``).
      n_chunks: the loop runs as ``n_chunks`` jitted ``lax.scan`` chunks
        (progress bar granularity).
      progress: show a tqdm progress bar.
      dtype: float dtype of the computation (float64 needs ``jax_enable_x64``).

    Returns:
      dict with ``step`` (steps+1,), ``loss`` (steps+1, L) = Phi after each step
      (index 0: at init), ``residual_norm`` (steps+1, L) = ||y - u(k)||,
      ``relative_change`` (L,) = ||W_k - W_0||_F / ||W_0||_F at the end, and
      if ``x_eval`` is given ``snapshot_steps`` (S,) and ``predictions``
      (S, n_eval, L).  Arrays keep the ``L`` axis even when ``y`` is 1-D.
    """
    import jax
    import jax.numpy as jnp
    from tqdm.auto import tqdm

    x = check_array(x, "x", ndim=2)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    check_scalar(width, "width", kind=int, min_value=1)
    if symmetric and width % 2:
        raise ValueError(f"width must be even when symmetric=True, got {width}")
    check_scalar(lr, "lr", kind=(int, float), min_value=0.0, strict_min=True)
    check_scalar(steps, "steps", kind=int, min_value=0)
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    check_scalar(init_scale, "init_scale", kind=(int, float), min_value=0.0, strict_min=True)
    check_scalar(n_chunks, "n_chunks", kind=int, min_value=1)
    y2 = (y[:, None] if y.ndim == 1 else y).astype(dtype)
    n, n_labels = y2.shape
    if x_eval is not None:
        x_eval = check_array(x_eval, "x_eval", ndim=2)
        if x_eval.shape[1] != x.shape[1]:
            raise ValueError(f"x_eval must have {x.shape[1]} features, got shape {x_eval.shape}")
        snaps = np.array(sorted(set(int(s) for s in (snapshot_steps if snapshot_steps is not None else (0, steps)))))
        if snaps.size == 0 or snaps.min() < 0 or snaps.max() > steps:
            raise ValueError(f"snapshot_steps must lie in [0, steps={steps}]")
    elif snapshot_steps is not None:
        raise ValueError("snapshot_steps needs x_eval")

    def augment(z):
        z = jnp.asarray(z, dtype=dtype)
        if bias > 0:
            z = jnp.concatenate([z, jnp.full((z.shape[0], 1), bias, dtype=dtype)], axis=1)
        return z

    xa = augment(x)
    xe = augment(x_eval) if x_eval is not None else None
    d_aug = xa.shape[1]
    rng = np.random.default_rng(seed)
    half = width // 2 if symmetric else width
    w_half = rng.normal(0.0, init_scale, size=(half, d_aug))
    a_half = rng.choice((-1.0, 1.0), size=half)
    if symmetric:
        w0 = np.concatenate([w_half, w_half])
        a = np.concatenate([a_half, -a_half])
    else:
        w0, a = w_half, a_half
    a = jnp.asarray(a / np.sqrt(width), dtype=dtype)  # 1/sqrt(m) folded into a
    w0 = jnp.asarray(np.broadcast_to(w0, (n_labels,) + w0.shape).copy(), dtype=dtype)  # (L, m, D)
    yj = jnp.asarray(y2)

    def apply(w, z):  # w (L, m, D), z (N, D) -> (N, L)
        return jnp.einsum("lmn,m->nl", jax.nn.relu(jnp.einsum("lmd,nd->lmn", w, z)), a)

    def loss_fn(w):
        r = apply(w, xa) - yj
        return 0.5 * jnp.sum(r**2), r

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    n_snap = len(snaps) if xe is not None else 0
    snaps_j = jnp.asarray(snaps if xe is not None else np.zeros(1, int))

    def record(buf, w, step):
        if xe is None:
            return buf
        hit = jnp.any(snaps_j == step)
        idx = jnp.argmax(snaps_j == step)
        return jax.lax.cond(hit, lambda b: b.at[idx].set(apply(w, xe)), lambda b: b, buf)

    def body(carry, step):
        w, buf = carry
        (_, r), g = grad_fn(w)
        w = w - lr * g
        buf = record(buf, w, step + 1)
        return (w, buf), jnp.sqrt(jnp.sum(r**2, axis=0))  # residual before this step

    @jax.jit
    def chunk(w, buf, start, length_marker):
        idx = start + jnp.arange(length_marker.shape[0])
        return jax.lax.scan(body, (w, buf), idx)

    buf = jnp.zeros((max(n_snap, 1), xe.shape[0] if xe is not None else 1, n_labels), dtype=dtype)
    buf = record(buf, w0, 0)
    w = w0
    res_hist = []
    size = max(1, math.ceil(steps / n_chunks))
    bounds = list(range(0, steps, size))
    for start in tqdm(bounds, desc="GD", disable=not progress, leave=False):
        length = min(size, steps - start)
        (w, buf), res = chunk(w, buf, start, jnp.zeros(length))
        res_hist.append(np.asarray(res))
    final_res = np.asarray(jnp.sqrt(jnp.sum((apply(w, xa) - yj) ** 2, axis=0)))[None]
    residual = np.concatenate(res_hist + [final_res], axis=0).astype(np.float64)
    out: dict[str, np.ndarray] = {
        "step": np.arange(steps + 1),
        "residual_norm": residual,
        "loss": 0.5 * residual**2,
        "relative_change": np.asarray(
            jnp.sqrt(jnp.sum((w - w0) ** 2, axis=(1, 2)) / jnp.sum(w0**2, axis=(1, 2)))
        ).astype(np.float64),
    }
    if xe is not None:
        out["snapshot_steps"] = snaps
        out["predictions"] = np.asarray(buf).astype(np.float64)
    return out
