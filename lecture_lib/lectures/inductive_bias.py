"""Inductive bias of convolutions: two provable FC-vs-CONV separations.

Lecture module of ``notebooks/01_inductive_bias.ipynb``.

1. **Sample complexity** (Li, Zhang, Arora, ICLR 2021).  Gaussian "images" with
   ``P`` pixels and 2 channels, ``x[:, p, 0, c] ~ N(0, 1)``, label
   ``y = sign(||x_channel 1||^2 - ||x_channel 2||^2)``.  A 1x1 convolution with
   quadratic activation and global average pooling computes
   ``f(x) = sum_r a_r mean_p (w_r . x_p)^2 = <A, G(x)>`` with the 2x2 channel
   Gram matrix ``G = (1/P) sum_p x_p x_p^T``: a linear model in 3 features,
   ``O(1)`` samples whatever ``d = 2P``.  Any *orthogonally equivariant*
   learner (an FC net from a Gaussian init trained by GD, the rotation-invariant
   FC NTK regression) needs ``Omega(d^2)`` samples.
   :func:`channel_norm_task`, :func:`channel_cnn`, :func:`gd_learning_curve`
   (the GD core of :mod:`lecture_lib.train`, vmapped over seeds and sizes),
   :func:`krr_learning_curve`,
   :func:`channel_task_curves` (the three learners at once),
   :func:`samples_needed`, :func:`random_rotation`.

2. **Computational separation** (Malach, Shalev-Shwartz, ICLR 2021).  A
   ``k``-pattern on ``x in {-1, +1}^n`` is ``f(x) = g(x_{j*}, ..., x_{j*+k-1})``
   for some ``g: {+-1}^k -> {+-1}`` and an (unknown) window position ``j*``.
   The CNN ``h(x) = sum_j <u^(j), sigma(W x_{j:j+k} + b)>`` with Theorem 4's
   initialisation ``W in {+-1/k}^{q x k}``, ``b = 1/k - 1``, ``u = 0`` learns it
   with GD; each filter is the indicator of one pattern (a column of the
   truth table), and ``q`` random filters must cover all ``2^k`` patterns (coupon
   collector; the theorem asks ``q > 2^(k+3) log(2^k / delta)``).
   :func:`k_pattern_task`, :func:`kpattern_cnn`, :func:`filter_truth_table`,
   :func:`coupon_collector_times`, :func:`coverage_probability`,
   :func:`filters_needed`, :func:`exact_filters_needed`, :func:`union_bound`,
   :func:`filters_bound`, :func:`theorem4_bound`, :func:`theorem4_lr`.

Plots for the notebook's widgets: :func:`plot_learning_curves`,
:func:`plot_coverage`, :func:`plot_theorem4`.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import kernels, krr, metrics, train
from ..progress import progress as progress_bar
from ..validation import check_array, check_rng, check_same_length, check_scalar

__all__ = [
    "channel_norm_task", "channel_task_curves", "CNN_LABEL", "FC_GD_LABEL", "FC_NTK_LABEL", "channel_cnn", "gd_learning_curve", "krr_learning_curve",
    "samples_needed", "random_rotation", "k_pattern_task", "parity", "kpattern_cnn",
    "filter_truth_table", "pattern_index", "coupon_collector_times",
    "coverage_probability", "filters_needed", "filters_bound", "union_bound",
    "theorem4_bound", "theorem4_lr", "exact_filters_needed", "plot_learning_curves",
    "plot_coverage", "plot_theorem4",
]


# --------------------------------------------------------------------------- #
# 1. Li, Zhang, Arora: sign(||channel 1||^2 - ||channel 2||^2)
# --------------------------------------------------------------------------- #
def channel_norm_task(n: int, pixels: int, seed: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian 2-channel images and the label ``sign(||ch 1||^2 - ||ch 2||^2)``.

    Args:
      n: number of examples.
      pixels: pixels per channel ``P`` (input dimension ``d = 2P``).
      seed: int or ``np.random.Generator``.

    Returns:
      ``x`` of shape ``(n, P, 1, 2)`` (NHWC, float32, i.i.d. ``N(0, 1)``) and
      ``y`` of shape ``(n,)`` in ``{-1, +1}`` (float32).  For FC learners use
      ``x.reshape(n, -1)`` (a vector in ``R^d``).
    """
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(pixels, "pixels", kind=int, min_value=1)
    rng = check_rng(seed)
    x = rng.standard_normal((n, pixels, 1, 2)).astype(np.float32)
    margin = (x[..., 0] ** 2).sum(axis=(1, 2)) - (x[..., 1] ** 2).sum(axis=(1, 2))
    y = np.where(margin >= 0, 1.0, -1.0).astype(np.float32)
    return x, y


@functools.lru_cache(maxsize=None)
def channel_cnn(channels: int = 8) -> tuple[Callable, Callable]:
    """Weight-shared model of Li et al.: 1x1 conv -> ``z^2`` -> global avg pool -> dense.

    ``f(x) = (1/sqrt(r)) sum_r a_r (1/P) sum_p (w_r . x_p / sqrt(C))^2`` with
    ``x_p in R^C`` the channel vector of pixel ``p`` and ``r = channels``
    filters ``w_r`` shared by all pixels (a 1x1 convolution), NTK
    parameterisation, ``w, a ~ N(0, 1)``.  Equivalently ``f = <A, G(x)>`` with
    ``G = (1/P) sum_p x_p x_p^T`` the ``C x C`` channel Gram matrix and
    ``A = sum_r a_r w_r w_r^T / (C sqrt(r))``: the rule ``G_11 - G_22`` is
    expressible with ``r >= 2`` filters, whatever the number of pixels.

    Cached: the same ``channels`` returns the same functions, so jit-compiled
    training loops are reused.

    Returns:
      ``init_fn(key, input_shape) -> (output_shape, params)`` (stax convention,
      ``params = (w (C, r), a (r,))``) and ``apply_fn(params, x) -> (n, 1)`` for
      NHWC inputs ``(n, H, W, C)``.
    """
    check_scalar(channels, "channels", kind=int, min_value=1)

    def init_fn(key, input_shape):
        c = int(input_shape[-1])
        k1, k2 = jax.random.split(key)
        w = jax.random.normal(k1, (c, channels), jnp.float32)
        a = jax.random.normal(k2, (channels,), jnp.float32)
        return (input_shape[0], 1), (w, a)

    def apply_fn(params, x):
        w, a = params
        z = jnp.einsum("nhwc,cr->nhwr", x, w) / jnp.sqrt(w.shape[0])   # 1x1 conv
        pooled = jnp.mean(z**2, axis=(1, 2))                            # z^2, avg pool
        return (pooled @ a)[:, None] / jnp.sqrt(channels)

    return init_fn, apply_fn


def random_rotation(d: int, seed: Any = 0) -> np.ndarray:
    """Haar-random orthogonal matrix ``U`` of shape ``(d, d)`` (QR with sign fix)."""
    check_scalar(d, "d", kind=int, min_value=1)
    a = check_rng(seed).standard_normal((d, d))
    qmat, r = np.linalg.qr(a)
    return qmat * np.sign(np.diag(r))[None, :]


def _check_sizes(sizes: Any, n: int) -> np.ndarray:
    sizes = check_array(sizes, "sizes", ndim=1)
    if not np.issubdtype(sizes.dtype, np.integer):
        raise TypeError(f"sizes must hold integers, got dtype {sizes.dtype}")
    if np.any(sizes < 1) or np.any(sizes > n):
        raise ValueError(f"sizes must lie in [1, {n}] (the number of training rows), got {sizes}")
    return sizes.astype(int)


def _check_xy(x, y, x_test, y_test):
    x = check_array(x, "x", min_ndim=2)
    y = check_array(y, "y", ndim=1)
    x_test = check_array(x_test, "x_test", ndim=x.ndim)
    y_test = check_array(y_test, "y_test", ndim=1)
    check_same_length("x", x, "y", y)
    check_same_length("x_test", x_test, "y_test", y_test)
    if x_test.shape[1:] != x.shape[1:]:
        raise ValueError(f"x_test must have per-example shape {x.shape[1:]}, got {x_test.shape[1:]}")
    return x, y, x_test, y_test


def _size_groups(sizes: np.ndarray, ratio: float = 8.0) -> list[list[int]]:
    """Split increasing ``sizes`` into groups whose largest/smallest <= ``ratio``."""
    groups: list[list[int]] = []
    for i in np.argsort(sizes, kind="stable"):
        if groups and sizes[i] <= ratio * sizes[groups[-1][0]]:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return groups


@functools.lru_cache(maxsize=16)
def _gd_runner(apply_fn: Callable, lr: float, steps: int) -> Callable:
    """jit(vmap over masks (sizes) of vmap over seeds) of a full GD run -> test outputs.

    The run is :func:`lecture_lib.train.run` on the masked mean MSE; the mask selects the
    first ``N`` rows of a padded training set, so all sizes of a group share one compilation.
    """
    obj = train.objective(train.make_model(apply_fn), "mse", "mean")
    opt = train.optimizer("gd", lr)
    opt_init, _, get_params = opt

    def one_run(p, xb, yb, mask, xt):
        state, _ = train.run(obj, opt, opt_init(p), train.Problem(p, xb, yb, mask), 0, steps)
        return apply_fn(get_params(state), xt)[:, 0]

    over_seeds = jax.vmap(one_run, in_axes=(0, 0, 0, None, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(None, None, None, 0, None)))


def gd_learning_curve(
    init_fn: Callable,
    apply_fn: Callable,
    x: Any,
    y: Any,
    x_test: Any,
    y_test: Any,
    sizes: Sequence[int],
    lr: float,
    steps: int,
    n_seeds: int = 1,
    seed: int = 0,
    progress: bool = True,
    group_ratio: float = 8.0,
) -> np.ndarray:
    """Test accuracy of a network trained by full-batch GD on ``N`` examples.

    For each ``N`` in ``sizes`` and each seed ``s < n_seeds``: initialise with
    ``init_fn(jax.random.PRNGKey(seed + s))`` (i.i.d. Gaussian for stax layers),
    train on the rows ``x[s M : s M + N]`` (``M = max(sizes)``: independent
    training sets per seed, nested across sizes) with ``steps`` steps of plain
    GD, step ``lr``, on ``L = 1/(2N) sum_i (f(x_i) - y_i)^2`` (the normalisation
    of :mod:`lecture_lib.losses`), and measure the test accuracy.  Plain
    GD from an i.i.d. Gaussian init is orthogonally equivariant for an FC net
    (Li et al., 2021).

    Implementation: sizes within a factor ``group_ratio`` of each other are
    padded to the largest of them and trained together in one ``vmap`` (masked
    loss): one compilation per group instead of one per size, at the price of
    computing on the padding (raise ``group_ratio`` for cheap models).

    Args:
      init_fn, apply_fn: stax pair; ``apply_fn(params, x) -> (n, 1)``.
      x, y: training pool ``(n, ...)`` with ``n >= n_seeds * max(sizes)``,
        labels ``(n,)`` in ``{-1, +1}``.
      x_test, y_test: held-out set.
      sizes: training-set sizes ``>= 1``.
      lr, steps: GD step size and number of steps.
      n_seeds: independent (data, init) draws per size.
      seed: first PRNG seed.
      progress: ``tqdm.auto`` bar over the size groups.
      group_ratio: see above, ``>= 1``.

    Returns:
      ``(len(sizes), n_seeds)`` test accuracies (sign agreement); a diverged
      run (non-finite output) gets ``nan``.
    """
    x, y, x_test, y_test = _check_xy(x, y, x_test, y_test)
    check_scalar(n_seeds, "n_seeds", kind=int, min_value=1)
    sizes = _check_sizes(sizes, x.shape[0] // n_seeds)
    check_scalar(lr, "lr", min_value=0, strict_min=True)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    check_scalar(group_ratio, "group_ratio", min_value=1)
    m_max = int(sizes.max())
    shape = (1,) + x.shape[1:]
    keys = jnp.stack([jax.random.PRNGKey(seed + s) for s in range(n_seeds)])
    params0 = jax.vmap(lambda k: init_fn(k, shape)[1])(keys)
    xt = jnp.asarray(x_test)
    run = _gd_runner(apply_fn, float(lr), int(steps))
    out = np.empty((len(sizes), n_seeds))
    for group in progress_bar(_size_groups(sizes, group_ratio), progress, desc="GD training"):
        width = int(sizes[group].max())
        xb = np.stack([x[s * m_max:s * m_max + width] for s in range(n_seeds)])
        yb = np.stack([y[s * m_max:s * m_max + width] for s in range(n_seeds)])
        masks = (np.arange(width)[None, :] < sizes[group][:, None]).astype(x.dtype)
        f = np.asarray(run(params0, jnp.asarray(xb), jnp.asarray(yb), jnp.asarray(masks), xt))
        finite = np.all(np.isfinite(f), axis=-1)              # (group, seeds); diverged: NaN
        acc = metrics.accuracy(np.where(finite[..., None], f, 0.0)[..., None], y_test)
        out[group] = np.where(finite, acc, np.nan)
    return out


def krr_learning_curve(
    k_train: Any, y: Any, k_test_train: Any, y_test: Any, sizes: Sequence[int], reg: float = 1e-6
) -> np.ndarray:
    """Test accuracy of kernel regression trained on the first ``N`` rows.

    ``pred = K_{test, :N} (K_{:N, :N} + reg tr(K)/N I)^-1 y_{:N}`` via
    :func:`lecture_lib.krr.fit_predict`; the kernel of the whole pool is
    computed once and sliced.  For an infinitely wide net trained by GD to
    convergence (NTK), ``reg -> 0``.

    Args:
      k_train: ``(n, n)`` kernel of the training pool.
      y: ``(n,)`` labels in ``{-1, +1}``.
      k_test_train: ``(m, n)`` test-vs-pool kernel.
      y_test: ``(m,)``.
      sizes: training-set sizes ``1 <= N <= n``.
      reg: ridge (relative to the mean diagonal).

    Returns:
      ``(len(sizes),)`` test accuracies.
    """
    k_train = check_array(k_train, "k_train", ndim=2)
    y = check_array(y, "y", ndim=1)
    k_test_train = check_array(k_test_train, "k_test_train", ndim=2)
    y_test = check_array(y_test, "y_test", ndim=1)
    n = k_train.shape[0]
    if k_train.shape != (n, n) or y.shape[0] != n or k_test_train.shape[1] != n:
        raise ValueError(
            f"k_train must be (n, n) with n = len(y) = k_test_train.shape[1], got "
            f"{k_train.shape}, {y.shape}, {k_test_train.shape}")
    check_same_length("k_test_train", k_test_train, "y_test", y_test)
    sizes = _check_sizes(sizes, n)
    check_scalar(reg, "reg", min_value=0)
    from threadpoolctl import threadpool_limits

    acc = []
    # Single-threaded BLAS up to n = 4096: as fast for n ~ 1000 and immune to the
    # ~100x slowdown of multi-threaded OpenBLAS on an oversubscribed CPU
    # (measured: Cholesky n=1024 took 2.5 s with 2 threads, 0.025 s with 1).
    with threadpool_limits(limits=1 if sizes.max() <= 4096 else None, user_api="blas"):
        for n_tr in sizes:
            pred = krr.fit_predict(k_train[:n_tr, :n_tr], y[:n_tr], k_test_train[:, :n_tr], reg=reg)
            acc.append(metrics.accuracy(pred, y_test))
    return np.asarray(acc)


def samples_needed(sizes: Any, accuracy: Any, threshold: float = 0.75) -> float:
    """Smallest training-set size at which ``accuracy`` reaches ``threshold``.

    Linear interpolation in ``log N`` between the last size below and the first
    size at or above the threshold (after which the curve may still dip: the
    first crossing is used).  Returns ``sizes[0]`` if the first point already
    reaches it and ``inf`` if no point does.

    Args:
      sizes: ``(m,)`` increasing positive sizes.
      accuracy: ``(m,)`` accuracies (e.g. averaged over seeds).
    """
    sizes = check_array(sizes, "sizes", ndim=1, dtype=float)
    accuracy = check_array(accuracy, "accuracy", ndim=1, dtype=float)
    if sizes.shape != accuracy.shape:
        raise ValueError(f"sizes and accuracy must have the same shape, got {sizes.shape} and {accuracy.shape}")
    if np.any(sizes <= 0) or np.any(np.diff(sizes) <= 0):
        raise ValueError("sizes must be positive and strictly increasing")
    check_scalar(threshold, "threshold", min_value=0, max_value=1)
    above = np.nonzero(accuracy >= threshold)[0]
    if above.size == 0:
        return math.inf
    i = int(above[0])
    if i == 0:
        return float(sizes[0])
    a0, a1 = accuracy[i - 1], accuracy[i]
    t = (threshold - a0) / (a1 - a0)
    return float(np.exp(np.log(sizes[i - 1]) + t * (np.log(sizes[i]) - np.log(sizes[i - 1]))))


CNN_LABEL = "CNN: 1x1 conv, z², avg pool (GD)"
FC_GD_LABEL = "FC net, Gaussian init (plain GD)"
FC_NTK_LABEL = "FC NTK regression (rotation invariant)"


def channel_task_curves(
    pixels: int,
    fc_sizes: Sequence[int],
    cnn_sizes: Sequence[int],
    krr_sizes: Sequence[int] | None = None,
    n_test: int = 1000,
    cnn_seeds: int = 8,
    cnn: bool = True,
    fc_gd: bool = True,
    fc_width: int = 64,
    fc_lr: float = 2.0,
    fc_steps: int = 200,
    cnn_channels: int = 8,
    cnn_lr: float = 0.2,
    cnn_steps: int = 200,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sample-complexity curves of the three learners on :func:`channel_norm_task`.

    * CNN (:func:`channel_cnn`) trained by GD, ``cnn_seeds`` independent
      (data, init) draws per size (``cnn=False`` skips it);
    * FC net (one hidden ReLU layer of ``fc_width``, NTK parameterisation,
      Gaussian init) trained by plain GD, one draw per size (``fc_gd=False``
      skips it);
    * kernel regression with the FC NTK (infinite width, ``reg = 1e-6``).

    Args:
      pixels: pixels per channel (``d = 2 * pixels``).
      fc_sizes, cnn_sizes: training-set sizes for the FC net and the CNN.
      krr_sizes: sizes for the kernel regression (default ``fc_sizes``).
      n_test: test-set size.
      seed: data seed; the test set uses ``seed + 1``.

    Returns:
      ``{label: (sizes, accuracies)}`` with the labels :data:`CNN_LABEL`
      (accuracies ``(m, cnn_seeds)``), :data:`FC_GD_LABEL` (``(m, 1)``) and
      :data:`FC_NTK_LABEL` (``(m,)``).
    """
    check_scalar(pixels, "pixels", kind=int, min_value=1)
    fc_sizes = np.asarray(fc_sizes, dtype=int)
    cnn_sizes = np.asarray(cnn_sizes, dtype=int)
    krr_sizes = fc_sizes if krr_sizes is None else np.asarray(krr_sizes, dtype=int)
    pool = int(max(fc_sizes.max(), krr_sizes.max(), cnn_seeds * cnn_sizes.max()))
    x, y = channel_norm_task(pool, pixels, seed=seed)
    xt, yt = channel_norm_task(n_test, pixels, seed=seed + 1)
    xf, xtf = x.reshape(pool, -1), xt.reshape(n_test, -1)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if cnn:
        c_init, c_apply = channel_cnn(cnn_channels)
        out[CNN_LABEL] = (cnn_sizes, gd_learning_curve(
            c_init, c_apply, x, y, xt, yt, cnn_sizes, cnn_lr, cnn_steps, n_seeds=cnn_seeds,
            seed=seed, progress=False, group_ratio=float(cnn_sizes.max())))
    f_init, f_apply, f_kernel = kernels.fc(depth=1, width=fc_width)
    if fc_gd:
        out[FC_GD_LABEL] = (fc_sizes, gd_learning_curve(
            f_init, f_apply, xf, y, xtf, yt, fc_sizes, fc_lr, fc_steps, n_seeds=1,
            seed=seed, progress=False))
    n_k = int(krr_sizes.max())
    k_train = kernels.analytic_kernel(f_kernel, xf[:n_k], dtype="float64")
    k_test = kernels.analytic_kernel(f_kernel, xtf, xf[:n_k], dtype="float64")
    out[FC_NTK_LABEL] = (krr_sizes, krr_learning_curve(k_train, y[:n_k], k_test, yt, krr_sizes))
    return out


# --------------------------------------------------------------------------- #
# 2. Malach, Shalev-Shwartz: k-patterns
# --------------------------------------------------------------------------- #
def parity(z: Any) -> np.ndarray:
    """``g(z) = prod_i z_i`` for ``z`` of shape ``(..., k)`` in ``{-1, +1}``."""
    z = check_array(z, "z", min_ndim=1)
    return np.prod(z, axis=-1)


def k_pattern_task(
    n_samples: int, n: int, k: int, position: int, g: Callable | Any = parity, seed: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform ``x in {-1, +1}^n`` labelled by a ``k``-pattern.

    ``y = g(x[position : position + k])`` (Malach & Shalev-Shwartz, Def. of a
    ``k``-pattern: the label depends only on ``k`` *consecutive* bits, at a
    window position the learner does not know).

    Args:
      n_samples: number of examples.
      n: input length.
      k: pattern length, ``1 <= k <= n``.
      position: window start ``j*``, ``0 <= j* <= n - k``.
      g: callable ``(m, k) -> (m,)`` in ``{-1, +1}`` (default: parity, the
        hard case for fully-connected nets), or a truth table of shape
        ``(2^k,)`` indexed by :func:`pattern_index`.
      seed: int or ``np.random.Generator``.

    Returns:
      ``x`` ``(n_samples, n)`` float32 and ``y`` ``(n_samples,)`` float32.
    """
    check_scalar(n_samples, "n_samples", kind=int, min_value=1)
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(k, "k", kind=int, min_value=1, max_value=n)
    check_scalar(position, "position", kind=int, min_value=0, max_value=n - k)
    rng = check_rng(seed)
    x = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_samples, n))
    window = x[:, position:position + k]
    if callable(g):
        y = np.asarray(g(window), dtype=np.float32)
    else:
        table = check_array(g, "g", ndim=1)
        if table.shape[0] != 2**k:
            raise ValueError(f"g as a truth table must have 2**k = {2**k} entries, got {table.shape[0]}")
        y = table[pattern_index(window)].astype(np.float32)
    if y.shape != (n_samples,) or not np.all(np.abs(y) == 1):
        raise ValueError("g must map each window (k,) to a label in {-1, +1}")
    return x, y


def pattern_index(z: Any) -> np.ndarray:
    """Index in ``[0, 2^k)`` of sign patterns ``z`` of shape ``(..., k)``.

    Bit ``i`` (most significant first) is 1 where ``z_i > 0``; works for
    filters in ``{+-1/k}^k`` too.
    """
    z = check_array(z, "z", min_ndim=1)
    k = z.shape[-1]
    weights = 2 ** np.arange(k - 1, -1, -1)
    return ((z > 0).astype(np.int64) * weights).sum(axis=-1)


def kpattern_cnn(n: int, k: int, q: int) -> tuple[Callable, Callable]:
    """Malach & Shalev-Shwartz's CNN ``h(x) = sum_j <u^(j), relu(W x_{j:j+k} + b)>``.

    ``W`` ``(q, k)`` is shared by the ``n - k + 1`` windows (a 1-D convolution
    with ``q`` filters of width ``k``), ``u`` ``(n - k + 1, q)`` is a separate
    read-out per window, the bias ``b = 1/k - 1`` is fixed.

    Theorem 4 initialisation (``init_fn(key)``): ``W ~ U{+-1/k}^{q x k}``,
    ``u = 0``.  Then ``relu(w . z + b) = (1/k) 1[z = k w]``: each filter is the
    indicator of one pattern.

    Returns:
      ``init_fn(key) -> params = (W, u)`` and ``apply_fn(params, x) -> (m, 1)``
      for ``x`` of shape ``(m, n)``.  Parameter count ``q k + (n - k + 1) q``.
    """
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(k, "k", kind=int, min_value=1, max_value=n)
    check_scalar(q, "q", kind=int, min_value=1)
    b = 1.0 / k - 1.0
    n_win = n - k + 1

    def init_fn(key):
        w = jax.random.rademacher(key, (q, k), dtype=jnp.float32) / k
        return w, jnp.zeros((n_win, q), jnp.float32)

    def apply_fn(params, x):
        w, u = params
        pre = jax.lax.conv_general_dilated(
            x[:, :, None], w.T[:, None, :], (1,), "VALID",
            dimension_numbers=("NHC", "HIO", "NHC"))          # (m, n_win, q)
        h = jax.nn.relu(pre + b)
        return jnp.einsum("mjq,jq->m", h, u)[:, None]

    return init_fn, apply_fn


def filter_truth_table(w: Any, patterns: Any = None) -> np.ndarray:
    """Activations ``relu(w_i . z + 1/k - 1)`` of filters ``w`` ``(q, k)`` on all patterns.

    Args:
      w: filters ``(q, k)``.
      patterns: ``(m, k)`` sign patterns; default all ``2^k`` in
        :func:`pattern_index` order.

    Returns:
      ``(m, q)``; with Theorem 4's ``w in {+-1/k}^k`` each column is ``1/k``
      on exactly one pattern and 0 elsewhere.
    """
    w = check_array(w, "w", ndim=2)
    k = w.shape[1]
    if patterns is None:
        bits = (np.arange(2**k)[:, None] >> np.arange(k - 1, -1, -1)[None, :]) & 1
        patterns = 2.0 * bits - 1.0
    patterns = check_array(patterns, "patterns", ndim=2)
    if patterns.shape[1] != k:
        raise ValueError(f"patterns must have {k} columns like w, got {patterns.shape}")
    return np.maximum(patterns @ w.T + 1.0 / k - 1.0, 0.0)


def coupon_collector_times(k: int, trials: int, seed: Any = 0) -> np.ndarray:
    """Number of random filters needed until every ``k``-pattern has a matching filter.

    Each trial draws filters ``w ~ U{+-1/k}^k`` one at a time (Theorem 4's
    initialisation) and records the first ``q`` at which the ``q`` filters match
    all ``2^k`` patterns, i.e. the truth table is complete: the coupon-collector
    time with ``2^k`` coupons (mean ``2^k H_{2^k} ~ 2^k ln 2^k``).

    Returns:
      ``(trials,)`` int array.
    """
    check_scalar(k, "k", kind=int, min_value=1, max_value=16)
    check_scalar(trials, "trials", kind=int, min_value=1)
    rng = check_rng(seed)
    m = 2**k
    block = int(m * (math.log(m) + 4)) + 8
    weights = 2 ** np.arange(k - 1, -1, -1)
    times = np.empty(trials, dtype=np.int64)
    for t in range(trials):
        first = np.full(m, -1, dtype=np.int64)
        seen, offset = 0, 0
        while seen < m:
            signs = rng.integers(0, 2, size=(block, k))        # filter w = (2 s - 1)/k
            ids = signs @ weights
            uniq, idx = np.unique(ids, return_index=True)
            new = first[uniq] < 0
            first[uniq[new]] = offset + idx[new]
            seen = int(np.count_nonzero(first >= 0))
            offset += block
        times[t] = first.max() + 1
    return times


def coverage_probability(q: Any, k: int) -> np.ndarray:
    """Exact ``P(q random filters cover all 2^k patterns)``.

    Markov chain on the number ``s`` of distinct patterns seen: ``s -> s + 1``
    with probability ``(2^k - s) / 2^k``.

    Args:
      q: int or int array of filter counts ``>= 0``.
      k: pattern length.

    Returns:
      array with the shape of ``q``.
    """
    check_scalar(k, "k", kind=int, min_value=1, max_value=12)
    q_arr = check_array(q, "q", dtype=None)
    if not np.issubdtype(q_arr.dtype, np.integer) or np.any(q_arr < 0):
        raise ValueError("q must hold non-negative integers")
    m = 2**k
    stay = np.arange(m + 1) / m
    p = np.zeros(m + 1)
    p[0] = 1.0
    q_max = int(q_arr.max())
    full = np.empty(q_max + 1)
    full[0] = p[m]
    for t in range(1, q_max + 1):
        moved = np.zeros(m + 1)
        moved[1:] = p[:-1] * (1.0 - stay[:-1])
        p = p * stay + moved
        full[t] = p[m]
    return full[q_arr]


def filters_needed(times: Any, delta: float) -> int:
    """Empirical ``(1 - delta)``-quantile of coupon-collector times.

    The smallest ``q`` such that at least a fraction ``1 - delta`` of the
    simulated initialisations cover every pattern with ``q`` filters.
    """
    times = check_array(times, "times", ndim=1)
    check_scalar(delta, "delta", min_value=0, max_value=1, strict_min=True)
    srt = np.sort(times)
    idx = int(math.ceil((1.0 - delta) * len(srt))) - 1
    return int(srt[max(idx, 0)])


def filters_bound(k: Any, delta: Any) -> np.ndarray:
    """Theorem 4's filter count ``2^(k+3) log(2^k / delta)`` (natural log)."""
    k = np.asarray(k, dtype=float)
    delta = np.asarray(delta, dtype=float)
    if np.any(k < 1) or np.any(delta <= 0) or np.any(delta >= 1):
        raise ValueError("k must be >= 1 and delta in (0, 1)")
    return 2.0 ** (k + 3) * np.log(2.0**k / delta)


def union_bound(k: Any, delta: Any) -> np.ndarray:
    """``2^k log(2^k / delta)``: enough filters by the union bound
    ``2^k (1 - 2^-k)^q <= 2^k exp(-q / 2^k) <= delta``."""
    k = np.asarray(k, dtype=float)
    delta = np.asarray(delta, dtype=float)
    if np.any(k < 1) or np.any(delta <= 0) or np.any(delta >= 1):
        raise ValueError("k must be >= 1 and delta in (0, 1)")
    return 2.0**k * np.log(2.0**k / delta)


def theorem4_bound(q: Any, T: Any, n: Any, k: Any, c: float = 1.0) -> dict[str, np.ndarray]:
    """Terms of Theorem 4's bound on the average loss along GD.

    ``(1/T) sum_t L(h_t) <= 2 c n^2 k^2 2^k / q + 2 (2^k k)^2 / sqrt(q n)
    + c^2 n^1.5 sqrt(q) / T`` (all arguments broadcast).

    Returns:
      dict with ``"term1"`` (``~1/q``), ``"term2"`` (``~1/sqrt(q n)``),
      ``"term3"`` (``~sqrt(q)/T``) and ``"total"``.
    """
    q, T, n, k = (np.asarray(v, dtype=float) for v in (q, T, n, k))
    for name, v in (("q", q), ("T", T), ("n", n), ("k", k)):
        if np.any(~np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be positive")
    check_scalar(c, "c", min_value=0, strict_min=True)
    t1 = 2.0 * c * n**2 * k**2 * 2.0**k / q
    t2 = 2.0 * (2.0**k * k) ** 2 / np.sqrt(q * n)
    t3 = c**2 * n**1.5 * np.sqrt(q) / T
    return {"term1": t1, "term2": t2, "term3": t3, "total": t1 + t2 + t3}


def theorem4_lr(n: Any, q: Any, T: Any) -> np.ndarray:
    """Theorem 4's step size ``eta = sqrt(n) / sqrt(q T)``."""
    n, q, T = (np.asarray(v, dtype=float) for v in (n, q, T))
    if np.any(n <= 0) or np.any(q <= 0) or np.any(T <= 0):
        raise ValueError("n, q and T must be positive")
    return np.sqrt(n) / np.sqrt(q * T)


def exact_filters_needed(k: int, delta: float) -> int:
    """Smallest ``q`` with ``P(q filters cover all 2^k patterns) >= 1 - delta`` (exact)."""
    check_scalar(k, "k", kind=int, min_value=1, max_value=12)
    check_scalar(delta, "delta", min_value=0, max_value=1, strict_min=True)
    q_max = int(math.ceil(float(union_bound(k, min(delta, 0.5))))) + 1
    probs = coverage_probability(np.arange(q_max + 1), k)
    return int(np.argmax(probs >= 1.0 - delta))


# --------------------------------------------------------------------------- #
# Plots (used by the notebook and its widgets)
# --------------------------------------------------------------------------- #
def plot_learning_curves(ax, curves: dict, n_mark: float | None = None, title: str = "",
                         threshold: float | None = None) -> None:
    """Test accuracy vs training-set size (log x) for several learners.

    Args:
      ax: matplotlib axes.
      curves: ``{label: (sizes, accuracies)}``; accuracies ``(m,)`` or
        ``(m, seeds)`` (mean plotted, min-max band shaded).
      n_mark: draw a vertical line at this size.
      threshold: draw a horizontal line at this accuracy.
    """
    for label, (sizes, acc) in curves.items():
        acc = np.asarray(acc, dtype=float)
        mean = acc if acc.ndim == 1 else np.nanmean(acc, axis=1)
        (line,) = ax.semilogx(sizes, mean, "o-", label=label)
        if acc.ndim == 2 and acc.shape[1] > 1:
            ax.fill_between(sizes, np.nanmin(acc, 1), np.nanmax(acc, 1), color=line.get_color(), alpha=0.15)
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    if threshold is not None:
        ax.axhline(threshold, color="k", lw=0.8, ls="--")
    if n_mark is not None:
        ax.axvline(n_mark, color="k", lw=0.8)
    ax.set_xlabel("number of training samples N")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.4, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)


def plot_coverage(ax, times: Any, k: int, delta: float) -> None:
    """Empirical and exact ``P(q filters cover all 2^k patterns)`` with the bounds."""
    times = np.sort(check_array(times, "times", ndim=1))
    q_needed = filters_needed(times, delta)
    q_union, q_thm = float(union_bound(k, delta)), float(filters_bound(k, delta))
    grid = np.unique(np.geomspace(1, 1.2 * q_thm, 400).astype(int))
    ax.semilogx(grid, coverage_probability(grid, k), "k-", lw=1, label="exact")
    ax.step(times, np.arange(1, len(times) + 1) / len(times), where="post", color="C0",
            label=f"simulated ({len(times)} inits)")
    ax.axhline(1 - delta, color="gray", ls=":", lw=0.8)
    ax.axvline(q_needed, color="C0", ls="--", label=f"simulated q needed = {q_needed}")
    ax.axvline(q_union, color="C2", ls="--", label=f"union bound 2^k log(2^k/δ) = {q_union:.0f}")
    ax.axvline(q_thm, color="C3", ls="--", label=f"Theorem 4: 2^(k+3) log(2^k/δ) = {q_thm:.0f}")
    ax.set_xlabel("number of filters q")
    ax.set_ylabel("P(all 2^k patterns matched)")
    ax.set_title(f"coupon collector, k = {k} ({2**k} patterns), δ = {delta}")
    ax.legend(loc="upper left", fontsize=8)


def plot_theorem4(ax, n: float, k: float, T: float, c: float = 1.0, q_max: float = 1e12) -> float:
    """The three terms of Theorem 4's bound vs ``q`` (log-log); returns the minimising ``q``."""
    q = np.geomspace(1, q_max, 400)
    terms = theorem4_bound(q, T, n, k, c)
    for key, label in (("term1", "2cn²k²2^k/q"), ("term2", "2(2^k k)²/√(qn)"),
                       ("term3", "c²n^1.5√q/T")):
        ax.loglog(q, terms[key], "--", label=label)
    ax.loglog(q, terms["total"], "k-", lw=2, label="bound (sum)")
    i = int(np.argmin(terms["total"]))
    ax.plot(q[i], terms["total"][i], "ko")
    ax.axhline(1.0, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("number of filters q")
    ax.set_ylabel("bound on the average loss")
    ax.set_title(f"Theorem 4 bound, n={n:g}, k={k:g}, T={T:.0e}: min {terms['total'][i]:.3g} at q={q[i]:.2g}")
    ax.legend(fontsize=8)
    return float(q[i])
