r"""Inductive bias of convolutions: two provable FC-vs-CONV separations.

Lecture module of ``notebooks/01_inductive_bias.ipynb``.

1. **Sample complexity** (Li, Zhang, Arora, ICLR 2021).  Gaussian "images" with
   ``P`` pixels and 2 channels, ``x[:, p, 0, c] ~ N(0, 1)``, label
   ``y = sign(||x_channel 1||^2 - ||x_channel 2||^2)``.  A 1x1 convolution with
   quadratic activation and global average pooling computes
   ``f(x) = sum_r a_r mean_p (w_r . x_p)^2 = <A, G(x)>`` with the 2x2 channel
   Gram matrix ``G = (1/P) sum_p x_p x_p^T``: a linear model in 3 features,
   ``O(1)`` samples whatever ``d = 2P``.  Any *orthogonally equivariant*
   learner (an FC net from a Gaussian init trained by GD, the rotation-invariant
   FC NTK regression) needs ``Omega(d^2)`` samples; they also prove a gap for
   *permutation-equivariant* learners (Adam or AdaGrad from an i.i.d. init), with an
   ``Omega(d)`` lower bound.
   :func:`channel_norm_task`, :func:`channel_cnn`, :func:`fc_net`,
   :func:`gd_learning_curve` (the GD core of :mod:`lecture_lib.train`, vmapped over
   seeds and sizes by :func:`gd_runs`), :func:`krr_learning_curve`,
   :func:`channel_task_curves` (the three learners at once), :func:`samples_needed`,
   :func:`random_rotation`, :func:`random_permutation`, :func:`equivariance_check`.

2. **Computational separation** (Malach, Shalev-Shwartz, ICLR 2021).  A
   ``k``-pattern on ``x in {-1, +1}^n`` is ``f(x) = g(x_{j*}, ..., x_{j*+k-1})``
   for some ``g: {+-1}^k -> {+-1}`` and an (unknown) window position ``j*``.
   The CNN ``h(x) = sum_j <u^(j), sigma(W x_{j:j+k} + b)>`` with Theorem 4's
   initialisation ``W in {+-1/k}^{q x k}``, ``b = 1/k - 1``, ``u = 0`` learns it
   with GD; each filter is the indicator of one pattern (a column of the truth
   table).  The proof asks every pattern to get at least half its expected share
   ``q / 2^(k+1)`` of the ``q`` filters: a Chernoff bound per pattern
   (``P(N_z <= mu/2) <= exp(-mu/8)``, ``mu = q / 2^k``) and a union bound over the
   ``2^k`` patterns give ``q > 2^(k+3) log(2^k / delta)``; mere coverage (every
   count >= 1, the coupon collector) needs only ``2^k log(2^k / delta)``.
   :func:`k_pattern_task`, :func:`kpattern_cnn`, :func:`kpattern_runs`,
   :func:`filter_truth_table`, :func:`pattern_index`, :func:`pattern_counts`,
   :func:`coupon_collector_times`, :func:`coverage_probability`,
   :func:`min_count_samples`, :func:`min_count_probability`, :func:`filters_needed`,
   :func:`exact_filters_needed`, :func:`union_bound`, :func:`filters_bound`,
   :func:`coverage_failure_bound`, :func:`half_share_failure_bound`,
   :func:`theorem4_bound`, :func:`theorem4_lr`.

Figures (static and for :func:`lecture_lib.widgets.live_plot`):
:func:`plot_learning_curves`, :func:`learning_curve_figure`, :func:`plot_need`,
:func:`plot_kpattern_steps`, :func:`kpattern_steps_figure`, :func:`plot_kpattern_vs_n`, :func:`min_count_figure`,
:func:`theorem4_figure`.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import kernels, krr, metrics, precision, train
from ..progress import progress as progress_bar
from ..validation import (
    check_array, check_choice, check_int_sequence, check_rng, check_same_length, check_scalar,
)

__all__ = [
    # GD runs
    "Runs", "gd_runs",
    # part 1
    "channel_norm_task", "channel_cnn", "fc_net", "Curve", "gd_learning_curve",
    "krr_learning_curve", "samples_needed", "CNN_LABEL", "FC_GD_LABEL", "FC_NTK_LABEL",
    "ChannelCurves", "channel_task_curves", "channel_task_sweep", "sample_need", "random_rotation",
    "random_permutation", "Equivariance", "equivariance_check",
    # part 2
    "parity", "k_pattern_task", "pattern_index", "kpattern_cnn", "KPatternRuns", "kpattern_runs",
    "filter_truth_table", "pattern_counts", "coupon_collector_times",
    "coverage_probability", "min_count_samples", "min_count_probability", "filters_needed",
    "exact_filters_needed", "union_bound", "filters_bound", "coverage_failure_bound",
    "half_share_failure_bound", "theorem4_bound", "theorem4_lr",
    # figures
    "plot_learning_curves", "learning_curve_figure", "plot_need", "plot_kpattern_steps", "kpattern_steps_figure",
    "plot_kpattern_vs_n", "min_count_figure", "theorem4_figure",
]


# --------------------------------------------------------------------------- #
# GD runs: many (configuration, seed) trainings in one compiled call
# --------------------------------------------------------------------------- #
class Runs(NamedTuple):
    """Full-batch trainings of ``C`` configurations x ``S`` seeds, recorded at ``R`` steps.

    Attributes:
      step: ``(R,)`` GD steps done at each record.
      train_acc: ``(R, C, S)`` sign agreement on the (masked) training rows.
      test_acc: ``(R, C, S)`` sign agreement on the configuration's test set.
      test_outputs: ``(C, S, M)`` test outputs at the last step.
    A run whose outputs are not finite (diverged) has ``nan`` accuracies from then on.
    """

    step: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    test_outputs: np.ndarray


@functools.lru_cache(maxsize=32)
def _gd_machine(apply_fn: Callable, optimizer: str, lr: float):
    """jit(vmap over configurations of vmap over seeds) of GD steps, evaluation and outputs.

    The steps are :func:`lecture_lib.train.run` on the (row-masked) mean squared loss
    ``L = 1/(2 sum m_i) sum_i m_i (f(x_i) - y_i)^2``; ``start``/``stop`` are traced, so
    every chunk of steps and every call with the same shapes share one compilation.
    """
    obj = train.objective(train.make_model(apply_fn), "mse", "mean")
    opt = train.optimizer(optimizer, lr)
    opt_init, _, get_params = opt

    def advance(state, p0, x, y, mask, start, stop):
        return train.run(obj, opt, state, train.Problem(p0, x, y, mask), start, stop)[0]

    def evaluate(state, x, y, mask, xt, yt):
        p = get_params(state)
        f, ft = apply_fn(p, x)[:, 0], apply_fn(p, xt)[:, 0]
        ok = jnp.all(jnp.isfinite(f)) & jnp.all(jnp.isfinite(ft))
        train_acc = jnp.sum(mask * (f * y > 0)) / jnp.sum(mask)
        test_acc = jnp.mean(ft * yt > 0)
        return jnp.where(ok, train_acc, jnp.nan), jnp.where(ok, test_acc, jnp.nan), ft

    seeds = jax.vmap(advance, in_axes=(0, 0, 0, 0, 0, None, None))
    advance_all = jax.jit(jax.vmap(seeds, in_axes=(0, 0, 0, 0, 0, None, None)))
    ev_seeds = jax.vmap(evaluate, in_axes=(0, 0, 0, 0, None, None))
    evaluate_all = jax.jit(jax.vmap(ev_seeds, in_axes=(0, 0, 0, 0, 0, 0)))
    init_all = jax.jit(jax.vmap(jax.vmap(opt_init)))
    return init_all, advance_all, evaluate_all


def gd_runs(
    apply_fn: Callable,
    params: Any,
    x: Any,
    y: Any,
    x_test: Any,
    y_test: Any,
    *,
    lr: float,
    steps: int,
    optimizer: str = "gd",
    mask: Any = None,
    record_steps: Sequence[int] | None = None,
    progress: bool = False,
) -> Runs:
    """Train ``C x S`` copies of a one-output network by full-batch GD (or Adam) in one call.

    Every copy minimises the mean squared loss on its own data with
    :func:`lecture_lib.train.run` (the library's GD core), all of them vmapped and
    compiled once; accuracies are recorded at ``record_steps``.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n, 1)``.
      params: initial parameters, every leaf with leading axes ``(C, S)``.
      x: ``(C, S, N, ...)`` training inputs; y: ``(C, S, N)`` labels in ``{-1, +1}``.
      x_test: ``(C, M, ...)``; y_test: ``(C, M)`` (one test set per configuration).
      lr, steps: step size and number of steps.
      optimizer: ``"gd"`` or ``"adam"`` (full batch both).
      mask: ``(C, S, N)`` row weights in ``{0, 1}`` (``None``: all rows), e.g. the first
        ``N_c`` rows for training-set size ``N_c`` (several sizes, one compilation).
      record_steps: increasing steps ``<= steps`` to record (default: ``[steps]``).
      progress: ``tqdm.auto`` bar over the record steps.

    Returns:
      :class:`Runs`.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    optimizer = check_choice(optimizer, "optimizer", ("gd", "adam"))
    check_scalar(lr, "lr", min_value=0, strict_min=True)
    check_scalar(steps, "steps", kind=int, min_value=1)
    x = check_array(x, "x", min_ndim=4)
    y = check_array(y, "y", ndim=3)
    x_test = check_array(x_test, "x_test", ndim=x.ndim - 1)
    y_test = check_array(y_test, "y_test", ndim=2)
    c, s, n = x.shape[:3]
    if y.shape != (c, s, n):
        raise ValueError(f"y must have shape {(c, s, n)} (configurations, seeds, rows), got {y.shape}")
    if x_test.shape[0] != c or y_test.shape != x_test.shape[:2] or x_test.shape[2:] != x.shape[3:]:
        raise ValueError(f"x_test must be ({c}, M, {', '.join(map(str, x.shape[3:]))}) and y_test ({c}, M), "
                         f"got {x_test.shape} and {y_test.shape}")
    if not np.all(np.isin(y, (-1, 1))) or not np.all(np.isin(y_test, (-1, 1))):
        raise ValueError("y and y_test must hold labels in {-1, +1}")
    if mask is None:
        mask = np.ones((c, s, n), dtype=x.dtype)
    mask = check_array(mask, "mask", ndim=3)
    if mask.shape != (c, s, n) or np.any(mask.sum(axis=-1) <= 0):
        raise ValueError(f"mask must have shape {(c, s, n)} with at least one row per run, got {mask.shape}")
    for leaf in jax.tree_util.tree_leaves(params):
        if jnp.shape(leaf)[:2] != (c, s):
            raise ValueError(f"every leaf of params must have leading axes {(c, s)}, got {jnp.shape(leaf)}")
    rec = [steps] if record_steps is None else check_int_sequence(
        record_steps, "record_steps", min_value=1, increasing=True)
    if rec[-1] > steps:
        raise ValueError(f"record_steps must be <= steps={steps}, got {rec[-1]}")

    init_all, advance_all, evaluate_all = _gd_machine(apply_fn, optimizer, float(lr))
    dtype = x.dtype
    xj, yj, mj = jnp.asarray(x), jnp.asarray(y, dtype), jnp.asarray(mask, dtype)
    xtj, ytj = jnp.asarray(x_test), jnp.asarray(y_test, dtype)
    p0 = jax.tree_util.tree_map(jnp.asarray, params)
    state = init_all(p0)
    train_acc, test_acc = [], []
    done, ft = 0, None
    for target in progress_bar(rec, progress, desc=f"{optimizer} ({c}x{s} runs)"):
        state = advance_all(state, p0, xj, yj, mj, done, target)
        done = target
        tr, te, ft = evaluate_all(state, xj, yj, mj, xtj, ytj)
        train_acc.append(np.asarray(tr, dtype=float))
        test_acc.append(np.asarray(te, dtype=float))
    train_acc, test_acc = np.stack(train_acc), np.stack(test_acc)
    # once diverged, always diverged (NaN outputs stay NaN, but say it explicitly)
    bad = np.cumsum(np.isnan(train_acc) | np.isnan(test_acc), axis=0) > 0
    train_acc[bad], test_acc[bad] = np.nan, np.nan
    return Runs(np.asarray(rec), train_acc, test_acc, np.asarray(ft, dtype=float))


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


@functools.lru_cache(maxsize=None)
def fc_net(width: int) -> tuple[Callable, Callable, Callable]:
    """One-hidden-layer ReLU net ``x -> Dense(width) -> relu -> Dense(1)`` (NTK parameterisation).

    :func:`lecture_lib.kernels.fc` with ``depth=1``, ``W_std = sqrt(2)``, no bias: the
    first layer computes ``sqrt(2/d) W x`` with ``W ~ N(0, 1)`` i.i.d., so a rotation
    ``U`` of the inputs is absorbed by ``W -> W U^T``, which has the same law (the net
    trained by GD is orthogonally equivariant).  Cached per width, so jit-compiled
    training loops are reused across calls.

    Returns:
      the stax triple ``(init_fn, apply_fn, kernel_fn)``; params
      ``[(W1 (d, width), b1), (), (W2 (width, 1), b2)]``.
    """
    check_scalar(width, "width", kind=int, min_value=1)
    return kernels.fc(depth=1, width=width)


def random_rotation(d: int, seed: Any = 0) -> np.ndarray:
    """Haar-random orthogonal matrix ``U`` of shape ``(d, d)`` (QR with sign fix)."""
    check_scalar(d, "d", kind=int, min_value=1)
    a = check_rng(seed).standard_normal((d, d))
    qmat, r = np.linalg.qr(a)
    return qmat * np.sign(np.diag(r))[None, :]


def random_permutation(d: int, seed: Any = 0) -> np.ndarray:
    """Uniformly random ``d x d`` permutation matrix ``P`` (``(P x)_i = x_{pi(i)}``)."""
    check_scalar(d, "d", kind=int, min_value=1)
    return np.eye(d)[check_rng(seed).permutation(d)]


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


class Curve(NamedTuple):
    """A learning curve: ``sizes (m,)``, ``test_acc`` and ``train_acc`` ``(m, seeds)``
    (``train_acc`` is ``None`` for a learner that interpolates by construction)."""

    sizes: np.ndarray
    test_acc: np.ndarray
    train_acc: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        """Test accuracy averaged over seeds (NaN runs left out), ``(m,)``."""
        acc = np.asarray(self.test_acc, dtype=float)
        return acc if acc.ndim == 1 else np.nanmean(acc, axis=1)


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
) -> Curve:
    """Test and training accuracy of a network trained by full-batch GD on ``N`` examples.

    For each ``N`` in ``sizes`` and each seed ``s < n_seeds``: initialise with
    ``init_fn(jax.random.PRNGKey(seed + s))`` (i.i.d. Gaussian for stax layers),
    train on the rows ``x[s M : s M + N]`` (``M = max(sizes)``: independent
    training sets per seed, nested across sizes) with ``steps`` steps of plain
    GD, step ``lr``, on ``L = 1/(2N) sum_i (f(x_i) - y_i)^2`` (the normalisation
    of :mod:`lecture_lib.losses`), and measure the accuracies.  Plain
    GD from an i.i.d. Gaussian init is orthogonally equivariant for an FC net
    (Li et al., 2021).

    Implementation (:func:`gd_runs`): sizes within a factor ``group_ratio`` of each other are
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
      :class:`Curve` with ``(len(sizes), n_seeds)`` accuracies; a diverged run
      (non-finite output) gets ``nan``.
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
    test_acc = np.empty((len(sizes), n_seeds))
    train_acc = np.empty((len(sizes), n_seeds))
    for group in progress_bar(_size_groups(sizes, group_ratio), progress, desc="GD training"):
        c, width = len(group), int(sizes[group].max())
        xb = np.stack([x[s * m_max:s * m_max + width] for s in range(n_seeds)])
        yb = np.stack([y[s * m_max:s * m_max + width] for s in range(n_seeds)])
        masks = (np.arange(width)[None, :] < sizes[group][:, None]).astype(x.dtype)
        runs = gd_runs(
            apply_fn, jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (c,) + a.shape), params0),
            np.broadcast_to(xb, (c,) + xb.shape), np.broadcast_to(yb, (c,) + yb.shape),
            np.broadcast_to(x_test, (c,) + x_test.shape), np.broadcast_to(y_test, (c,) + y_test.shape),
            lr=lr, steps=steps, mask=np.broadcast_to(masks[:, None, :], (c, n_seeds, width)))
        test_acc[group], train_acc[group] = runs.test_acc[-1], runs.train_acc[-1]
    return Curve(sizes, test_acc, train_acc)


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
FC_GD_LABEL = "FC net, Gaussian init (GD)"
FC_NTK_LABEL = "FC NTK regression (infinite width)"


class ChannelCurves(NamedTuple):
    """The three learners' :class:`Curve` on :func:`channel_norm_task` at one ``d = 2P``
    (``cnn`` / ``fc_gd`` are ``None`` when skipped)."""

    d: int
    cnn: Curve | None
    fc_gd: Curve | None
    fc_ntk: Curve

    def items(self) -> list[tuple[str, Curve]]:
        """``[(label, curve), ...]`` of the learners present, in plotting order."""
        return [(lab, c) for lab, c in ((CNN_LABEL, self.cnn), (FC_GD_LABEL, self.fc_gd),
                                        (FC_NTK_LABEL, self.fc_ntk)) if c is not None]


def channel_task_curves(
    pixels: int,
    *,
    fc_sizes: Sequence[int],
    cnn_sizes: Sequence[int],
    krr_sizes: Sequence[int],
    n_test: int,
    seeds: int,
    fc_width: int,
    fc_lr: float,
    fc_steps: int,
    cnn_channels: int,
    cnn_lr: float,
    cnn_steps: int,
    cnn: bool = True,
    fc_gd: bool = True,
    seed: int = 0,
) -> ChannelCurves:
    """Sample-complexity curves of the three learners on :func:`channel_norm_task`.

    * CNN (:func:`channel_cnn` with ``cnn_channels`` filters) and FC net
      (:func:`fc_net` of ``fc_width``) trained by full-batch GD on the mean squared loss
      (:func:`gd_learning_curve`), the same number ``seeds`` of independent
      (training set, init) draws per size for both (``cnn=False`` / ``fc_gd=False`` skip them);
    * kernel regression with the FC net's NTK (infinite width, trained to
      convergence; ``reg = 1e-6``), one training set.

    All hyperparameters are keyword arguments without defaults, so a notebook states them.

    Args:
      pixels: pixels per channel (``d = 2 * pixels``).
      fc_sizes, cnn_sizes, krr_sizes: training-set sizes per learner.
      n_test: test-set size.
      seed: data seed (training pool); the test set uses ``seed + 1``.

    Returns:
      :class:`ChannelCurves`.
    """
    check_scalar(pixels, "pixels", kind=int, min_value=1)
    check_scalar(seeds, "seeds", kind=int, min_value=1)
    fc_sizes = np.asarray(fc_sizes, dtype=int)
    cnn_sizes = np.asarray(cnn_sizes, dtype=int)
    krr_sizes = np.asarray(krr_sizes, dtype=int)
    pool = int(max(seeds * fc_sizes.max(), krr_sizes.max(), seeds * cnn_sizes.max()))
    x, y = channel_norm_task(pool, pixels, seed=seed)
    xt, yt = channel_norm_task(n_test, pixels, seed=seed + 1)
    xf, xtf = x.reshape(pool, -1), xt.reshape(n_test, -1)
    cnn_curve = fc_curve = None
    if cnn:
        c_init, c_apply = channel_cnn(cnn_channels)
        cnn_curve = gd_learning_curve(
            c_init, c_apply, x, y, xt, yt, cnn_sizes, cnn_lr, cnn_steps, n_seeds=seeds,
            seed=seed, progress=False, group_ratio=float(cnn_sizes.max()))
    f_init, f_apply, f_kernel = fc_net(fc_width)
    if fc_gd:
        fc_curve = gd_learning_curve(
            f_init, f_apply, xf, y, xtf, yt, fc_sizes, fc_lr, fc_steps, n_seeds=seeds,
            seed=seed, progress=False)
    n_k = int(krr_sizes.max())
    k_train = kernels.analytic_kernel(f_kernel, xf[:n_k], dtype="float64")
    k_test = kernels.analytic_kernel(f_kernel, xtf, xf[:n_k], dtype="float64")
    ntk = Curve(krr_sizes, krr_learning_curve(k_train, y[:n_k], k_test, yt, krr_sizes))
    return ChannelCurves(2 * pixels, cnn_curve, fc_curve, ntk)


def _stacked_gd_curves(init_fns, apply_fn, xs, ys, x_tests, y_tests, sizes, lr, steps, n_seeds, seeds,
                       group_ratio):
    """:func:`gd_learning_curve` for several problems of equal shapes at once (one compilation per
    size group for all of them): problem ``i`` has the pool ``xs[i]``, ``ys[i]``, the test set
    ``x_tests[i]``, ``y_tests[i]``, the init ``init_fns[i](PRNGKey(seeds[i] + s))`` (params only)."""
    m_max = int(sizes.max())
    params0 = [jax.vmap(f)(jnp.stack([jax.random.PRNGKey(sd + s) for s in range(n_seeds)]))
               for f, sd in zip(init_fns, seeds)]
    n_prob = len(xs)
    test_acc = np.empty((n_prob, len(sizes), n_seeds))
    train_acc = np.empty((n_prob, len(sizes), n_seeds))
    for group in _size_groups(sizes, group_ratio):
        c, width = len(group), int(sizes[group].max())
        rep = lambda a: np.repeat(np.stack(a), c, axis=0)  # noqa: E731  (problem-major, then size)
        xb = rep([np.stack([x[s * m_max:s * m_max + width] for s in range(n_seeds)]) for x in xs])
        yb = rep([np.stack([y[s * m_max:s * m_max + width] for s in range(n_seeds)]) for y in ys])
        masks = (np.arange(width)[None, :] < sizes[group][:, None]).astype(xb.dtype)
        mask = np.broadcast_to(np.tile(masks, (n_prob, 1))[:, None, :], (n_prob * c, n_seeds, width))
        params = jax.tree_util.tree_map(lambda *a: jnp.repeat(jnp.stack(a), c, axis=0), *params0)
        runs = gd_runs(apply_fn, params, xb, yb, rep(x_tests), rep(y_tests), lr=lr, steps=steps, mask=mask)
        test_acc[:, group] = runs.test_acc[-1].reshape(n_prob, c, n_seeds)
        train_acc[:, group] = runs.train_acc[-1].reshape(n_prob, c, n_seeds)
    return [Curve(sizes, te, tr) for te, tr in zip(test_acc, train_acc)]


def channel_task_sweep(
    pixels: Sequence[int],
    *,
    kernel_only: Sequence[int] = (),
    fc_sizes: Sequence[int],
    cnn_sizes: Sequence[int],
    krr_sizes: Sequence[int],
    n_test: int,
    seeds: int,
    fc_width: int,
    fc_lr: float,
    fc_steps: int,
    cnn_channels: int,
    cnn_lr: float,
    cnn_steps: int,
    seed: int = 0,
) -> dict[int, ChannelCurves]:
    """:func:`channel_task_curves` ``(P, ..., seed=seed + P)`` for every ``P`` in ``pixels`` (all three
    learners) and in ``kernel_only`` (FC NTK only), keyed by ``d = 2P``, with one compilation per
    learner (and size group) for all ``P`` instead of one per ``P``.

    The inputs are zero-padded to ``P_max`` pixels and scaled by ``sqrt(P_max / P)``, which changes
    nothing a learner computes: the CNN's average pool gives ``(1/P_max) sum_p (P_max/P) z_p^2 =
    (1/P) sum_p z_p^2``; the FC net's first layer ``sqrt(2/d_max) W x_pad = sqrt(2/d) W_{:d} x`` (its
    init is the ``d``-input init padded with unused rows, which get no gradient); the FC NTK sees
    ``x_pad . x'_pad / d_max = x . x' / d``.  Same data, inits and results as the per-``P`` calls
    (up to float round-off; checked in the tests).
    """
    pixels = [int(p) for p in pixels]
    kernel_only = [int(p) for p in kernel_only]
    check_int_sequence(pixels + kernel_only, "pixels", min_value=1)
    check_scalar(seeds, "seeds", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    fc_sizes = np.asarray(fc_sizes, dtype=int)
    cnn_sizes = np.asarray(cnn_sizes, dtype=int)
    krr_sizes = np.asarray(krr_sizes, dtype=int)
    _check_sizes(fc_sizes, 10**12), _check_sizes(cnn_sizes, 10**12), _check_sizes(krr_sizes, 10**12)
    every = sorted(set(pixels + kernel_only))
    p_max = max(every)
    pool = int(max(seeds * fc_sizes.max(), krr_sizes.max(), seeds * cnn_sizes.max()))

    def padded(a, p):   # (n, P, 1, 2) -> (n, P_max, 1, 2)
        return np.pad(a * np.float32(np.sqrt(p_max / p)), [(0, 0), (0, p_max - p), (0, 0), (0, 0)])

    data = {}
    for p in every:
        x, y = channel_norm_task(pool, p, seed=seed + p)
        xt, yt = channel_norm_task(n_test, p, seed=seed + p + 1)
        data[p] = (padded(x, p), y, padded(xt, p), yt)
    main = [p for p in every if p in pixels]
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    cnn_curves = fc_curves = [None] * len(main)
    if main:
        c_init, c_apply = channel_cnn(cnn_channels)
        cnn_curves = _stacked_gd_curves(
            [lambda k: c_init(k, (1, p_max, 1, 2))[1]] * len(main), c_apply,
            *([data[p][i] for p in main] for i in range(4)), cnn_sizes, cnn_lr, cnn_steps, seeds,
            [seed + p for p in main], float(cnn_sizes.max()))
        f_init, f_apply, _ = fc_net(fc_width)

        def fc_init(p):
            def init(k):
                (w1, b1), mid, last = f_init(k, (1, 2 * p))[1]
                return [(jnp.pad(w1, ((0, 2 * (p_max - p)), (0, 0))), b1), mid, last]
            return init

        fc_curves = _stacked_gd_curves(
            [fc_init(p) for p in main], f_apply, [flat(data[p][0]) for p in main], [data[p][1] for p in main],
            [flat(data[p][2]) for p in main], [data[p][3] for p in main], fc_sizes, fc_lr, fc_steps, seeds,
            [seed + p for p in main], 8.0)
    f_kernel = fc_net(fc_width)[2]
    n_k = int(krr_sizes.max())
    out = {}
    for p in every:
        x, y, xt, yt = data[p]
        k_train = kernels.analytic_kernel(f_kernel, flat(x[:n_k]), dtype="float64")
        k_test = kernels.analytic_kernel(f_kernel, flat(xt), flat(x[:n_k]), dtype="float64")
        ntk = Curve(krr_sizes, krr_learning_curve(k_train, y[:n_k], k_test, yt, krr_sizes))
        i = main.index(p) if p in main else None
        out[2 * p] = ChannelCurves(2 * p, None if i is None else cnn_curves[i], None if i is None else fc_curves[i], ntk)
    return out


def sample_need(curves: Sequence[ChannelCurves], label: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(d, N_needed)`` of one learner over several :class:`ChannelCurves` (``inf`` where
    the seed-averaged accuracy never reaches ``threshold`` on the grid)."""
    ds, need = [], []
    for cc in curves:
        curve = dict(cc.items()).get(label)
        if curve is not None:
            ds.append(cc.d)
            need.append(samples_needed(curve.sizes, curve.mean(), threshold))
    return np.asarray(ds), np.asarray(need, dtype=float)


class Equivariance(NamedTuple):
    """Predictions of FC nets trained on transformed inputs (:func:`equivariance_check`).

    Attributes:
      optimizers, transforms: the row and column names.
      max_diff: ``(len(optimizers), len(transforms))``: ``max_i |f(x_i) - f_T(T x_i)|`` over
        the test set, ``f`` trained on ``(x_j, y_j)`` from ``W``, ``f_T`` on ``(T x_j, y_j)``
        from the transformed init ``W T^T``.
      scale: ``(len(optimizers),)`` ``max_i |f(x_i)|``.
      test_acc: ``(len(optimizers), 1 + len(transforms))`` test accuracy on the original and on
        each transformed task.
    """

    optimizers: tuple[str, ...]
    transforms: tuple[str, ...]
    max_diff: np.ndarray
    scale: np.ndarray
    test_acc: np.ndarray


def equivariance_check(
    x: Any,
    y: Any,
    x_test: Any,
    y_test: Any,
    transforms: Mapping[str, Any],
    *,
    width: int,
    steps: int,
    lrs: Mapping[str, float],
    seed: int = 0,
) -> Equivariance:
    """Is training an FC net equivariant under rotations / permutations of the inputs?

    For each optimizer (``"gd"``, ``"adam"``) and each orthogonal ``T`` (``d x d``): train
    :func:`fc_net` ``(width)`` from ``W`` on ``(x_i, y_i)`` and from ``W T^T`` on
    ``(T x_i, y_i)`` (a coupling: ``W T^T`` has the law of ``W``, i.i.d. Gaussian), full
    batch, in float64, and compare the predictions ``f(x)`` and ``f_T(T x)`` on the test set.
    GD commutes with every orthogonal ``T`` (the gradient of the first layer rotates along),
    Adam only with permutations (and sign flips): it rescales each coordinate by its own
    ``sqrt(v_i)``, and ``(T g)^2 != T (g^2)`` for a rotation.

    Args:
      x: ``(n, d)``, y: ``(n,)`` in ``{-1, +1}``; x_test, y_test: ``(m, d)``, ``(m,)``.
      transforms: ``{name: (d, d) orthogonal matrix}``.
      width, steps: network width and number of full-batch steps.
      lrs: ``{optimizer: lr}`` for the optimizers to compare.
      seed: init seed.

    Returns:
      :class:`Equivariance`.
    """
    x, y, x_test, y_test = _check_xy(x, y, x_test, y_test)
    if x.ndim != 2:
        raise ValueError(f"x must be (n, d), got shape {x.shape}")
    d = x.shape[1]
    names = tuple(transforms)
    mats = []
    for name in names:
        t = check_array(transforms[name], f"transforms[{name!r}]", ndim=2, dtype=np.float64)
        if t.shape != (d, d) or not np.allclose(t @ t.T, np.eye(d), atol=1e-10):
            raise ValueError(f"transforms[{name!r}] must be a {d}x{d} orthogonal matrix")
        mats.append(t)
    if not lrs:
        raise ValueError("lrs must name at least one optimizer, e.g. {'gd': 1.0}")
    init_fn, apply_fn, _ = fc_net(width)
    with precision.x64():
        _, p = init_fn(jax.random.PRNGKey(seed), (1, d))
        p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), p)
        (w1, b1), relu_params, last = p
        params = [p] + [[(jnp.asarray(t) @ w1, b1), relu_params, last] for t in mats]  # W T^T (x @ W layout)
        params = jax.tree_util.tree_map(lambda *a: jnp.stack(a)[:, None], *params)  # (C, 1, ...)
        xs = np.stack([x.astype(np.float64)] + [x @ t.T for t in mats])[:, None]
        xts = np.stack([x_test.astype(np.float64)] + [x_test @ t.T for t in mats])
        c = len(mats) + 1
        ys = np.broadcast_to(y.astype(np.float64), (c, 1, len(y)))
        yts = np.broadcast_to(y_test.astype(np.float64), (c, len(y_test)))
        diffs, scales, accs = [], [], []
        for opt, lr in lrs.items():
            runs = gd_runs(apply_fn, params, xs, ys, xts, yts, lr=lr, steps=steps, optimizer=opt)
            out = runs.test_outputs[:, 0]                                     # (C, m)
            diffs.append(np.abs(out[1:] - out[0]).max(axis=1))
            scales.append(np.abs(out[0]).max())
            accs.append(runs.test_acc[-1, :, 0])
    return Equivariance(tuple(lrs), names, np.asarray(diffs), np.asarray(scales), np.asarray(accs))


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


@functools.lru_cache(maxsize=None)
def kpattern_cnn(n: int, k: int, q: int) -> tuple[Callable, Callable]:
    """Malach & Shalev-Shwartz's CNN ``h(x) = sum_j <u^(j), relu(W x_{j:j+k} + b)>``.

    ``W`` ``(q, k)`` is shared by the ``n - k + 1`` windows (a 1-D convolution
    with ``q`` filters of width ``k``), ``u`` ``(n - k + 1, q)`` is a separate
    read-out per window, the bias ``b = 1/k - 1`` is fixed.

    Theorem 4 initialisation (``init_fn(key)``): ``W ~ U{+-1/k}^{q x k}``,
    ``u = 0``.  Then ``relu(w . z + b) = (1/k) 1[z = k w]``: each filter is the
    indicator of one pattern.  Cached per ``(n, k, q)`` (jit reuse).

    Returns:
      ``init_fn(key) -> params = (W, u)`` and ``apply_fn(params, x) -> (m, 1)``
      for ``x`` of shape ``(m, n)``.  Parameter count ``q k + (n - k + 1) q``.
    """
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(k, "k", kind=int, min_value=1, max_value=n)
    check_scalar(q, "q", kind=int, min_value=1)
    b = 1.0 / k - 1.0
    n_win = n - k + 1
    # window j is x[j:j+k]: unfolding the windows and one matmul is faster on CPU than
    # lax.conv_general_dilated for these shapes
    windows = np.arange(n_win)[:, None] + np.arange(k)[None, :]

    def init_fn(key):
        w = jax.random.rademacher(key, (q, k), dtype=jnp.float32) / k
        return w, jnp.zeros((n_win, q), jnp.float32)

    def apply_fn(params, x):
        w, u = params
        m = x.shape[0]
        pre = (x[:, windows].reshape(m * n_win, k) @ w.T).reshape(m, n_win * q)  # the convolution
        h = jax.nn.relu(pre + b)
        return (h @ u.reshape(n_win * q))[:, None]

    return init_fn, apply_fn


@functools.lru_cache(maxsize=None)
def _masked_kpattern_apply(n: int, k: int, q: int) -> Callable:
    """``apply_fn`` of :func:`kpattern_cnn` ``(n, k, q)`` for inputs ``(m, n, 2)``: channel 0 the
    bits, channel 1 a 0/1 validity mask; the features of a window with any invalid bit are 0."""
    b = 1.0 / k - 1.0
    n_win = n - k + 1
    windows = np.arange(n_win)[:, None] + np.arange(k)[None, :]

    def apply_fn(params, x):
        w, u = params
        m = x.shape[0]
        bits, valid = x[..., 0], x[..., 1]
        pre = (bits[:, windows].reshape(m * n_win, k) @ w.T).reshape(m, n_win, q)
        keep = jnp.prod(valid[:, windows], axis=-1)[..., None]            # (m, n_win, 1)
        h = (jax.nn.relu(pre + b) * keep).reshape(m, n_win * q)
        return (h @ u.reshape(n_win * q))[:, None]

    return apply_fn


class KPatternRuns(NamedTuple):
    """Training runs on ``k``-parities of several input lengths (:func:`kpattern_runs`).

    Attributes:
      learner: ``"cnn"`` or ``"fc"``; ``n``: ``(C,)`` input lengths; ``position``: ``(C,)``
      window starts ``j*``; ``n_train``: training-set size; ``n_params``: ``(C,)``;
      ``step``: ``(R,)``; ``train_acc``, ``test_acc``: ``(R, C, S)`` over ``S`` seeds
      (independent training sets and inits).
    """

    learner: str
    n: np.ndarray
    position: np.ndarray
    n_train: int
    n_params: np.ndarray
    step: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray


def kpattern_runs(
    learner: str,
    ns: Sequence[int],
    n_train: int,
    *,
    k: int,
    lr: float,
    steps: int,
    record_steps: Sequence[int],
    n_test: int,
    seeds: int,
    q: int | None = None,
    width: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> KPatternRuns:
    """Train the CNN (``q`` filters) or an FC net (``width``) on the ``k``-parity, by full-batch GD.

    For each input length ``n`` a window position ``j*`` is drawn (uniform, from ``seed``);
    each of the ``seeds`` runs has its own ``n_train`` training examples and init, all share
    an ``n_test`` test set per ``n``.  The loss is the mean squared loss, the step ``lr``.

    * ``"cnn"``: :func:`kpattern_cnn` ``(n, k, q)`` with Theorem 4's init (the same ``W`` for
      every ``n`` of a seed).  All ``n`` are trained in one compiled call: inputs are
      padded to ``n_max`` and the features of the windows overlapping the padding are masked
      to 0, which makes the padded net compute and train exactly like the net on ``n`` bits.
    * ``"fc"``: :func:`fc_net` ``(width)`` (i.i.d. Gaussian init, permutation equivariant).
      All ``n`` are trained in one compiled call: inputs are zero-padded to ``n_max`` and
      scaled by ``sqrt(n_max / n)``, which makes the padded net compute exactly what the
      net on ``n`` inputs computes (first layer ``sqrt(2/n_max) W x_pad = sqrt(2/n) W_{:n} x``)
      and get exactly its gradients.

    Returns:
      :class:`KPatternRuns`.
    """
    learner = check_choice(learner, "learner", ("cnn", "fc"))
    ns = np.asarray(check_int_sequence(ns, "ns", min_value=k), dtype=int)
    check_scalar(n_train, "n_train", kind=int, min_value=1)
    check_scalar(k, "k", kind=int, min_value=1)
    check_scalar(n_test, "n_test", kind=int, min_value=1)
    check_scalar(seeds, "seeds", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    if learner == "cnn":
        check_scalar(q, "q", kind=int, min_value=1)
    else:
        check_scalar(width, "width", kind=int, min_value=1)
    positions = np.array([int(np.random.default_rng([seed, int(n), 7]).integers(0, n - k + 1)) for n in ns])
    data = []
    for n, j in zip(ns, positions):
        xs, ys = zip(*(k_pattern_task(n_train, int(n), k, int(j), seed=np.random.default_rng([seed, int(n), s]))
                       for s in range(seeds)))
        xt, yt = k_pattern_task(n_test, int(n), k, int(j), seed=np.random.default_rng([seed, int(n), 10**6]))
        data.append((np.stack(xs), np.stack(ys), xt, yt))
    keys = [jax.random.PRNGKey(seed * 1000 + s) for s in range(seeds)]

    def stack(trees):
        return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)

    n_max = int(ns.max())
    if learner == "cnn":
        # One compiled call for all n: the inputs are padded to n_max and carry a second
        # channel that is 1 on the real bits; _masked_kpattern_apply zeroes the features of
        # every window that overlaps the padding, so their read-out gets no gradient (and stays
        # 0) and W gets none from them: the padded net computes, and is trained exactly like,
        # the net on n bits (checked in the tests).
        init_fn, _ = kpattern_cnn(n_max, k, int(q))
        apply_fn = _masked_kpattern_apply(n_max, k, int(q))

        def pad2(a, n):
            bits = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, n_max - n)])
            valid = np.broadcast_to((np.arange(n_max) < n).astype(a.dtype), bits.shape)
            return np.stack([bits, valid], axis=-1)

        xs = np.stack([pad2(d[0], n) for n, d in zip(ns, data)]).astype(np.float32)
        ys = np.stack([d[1] for d in data])
        xts = np.stack([pad2(d[2], n) for n, d in zip(ns, data)]).astype(np.float32)
        yts = np.stack([d[3] for d in data])
        params = stack([stack([init_fn(key) for key in keys]) for _ in ns])
        runs = gd_runs(apply_fn, params, xs, ys, xts, yts, lr=lr, steps=steps,
                       record_steps=record_steps, progress=progress)
        step, train_acc, test_acc = runs.step, runs.train_acc, runs.test_acc
        n_params = [q * k + (n - k + 1) * q for n in ns]
    else:
        init_fn, apply_fn, _ = fc_net(int(width))
        pad = lambda a, n: np.pad(a * np.sqrt(n_max / n), [(0, 0)] * (a.ndim - 1) + [(0, n_max - n)])  # noqa: E731
        xs = np.stack([pad(d[0], n) for n, d in zip(ns, data)]).astype(np.float32)
        ys = np.stack([d[1] for d in data])
        xts = np.stack([pad(d[2], n) for n, d in zip(ns, data)]).astype(np.float32)
        yts = np.stack([d[3] for d in data])
        per_n = []
        for n in ns:   # the init of the net on n inputs, padded with unused rows
            trees = []
            for key in keys:
                _, p = init_fn(key, (1, int(n)))
                (w1, b1), relu_params, last = p
                trees.append([(jnp.pad(w1, ((0, n_max - int(n)), (0, 0))), b1), relu_params, last])
            per_n.append(stack(trees))
        runs = gd_runs(apply_fn, stack(per_n), xs, ys, xts, yts, lr=lr, steps=steps,
                       record_steps=record_steps, progress=progress)
        step, train_acc, test_acc = runs.step, runs.train_acc, runs.test_acc
        n_params = [width * (n + 2) + 1 for n in ns]
    return KPatternRuns(learner, ns, positions, int(n_train), np.asarray(n_params), step, train_acc, test_acc)


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


def pattern_counts(w: Any) -> np.ndarray:
    """``N_z``: the number of filters of ``w`` ``(q, k)`` matching each pattern ``z``, ``(2^k,)``."""
    w = check_array(w, "w", ndim=2)
    return np.bincount(pattern_index(w), minlength=2 ** w.shape[1])


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


def min_count_samples(k: int, q: Any, trials: int, seed: Any = 0) -> np.ndarray:
    """Simulated ``min_z N_z``: the fewest filters any of the ``2^k`` patterns gets among ``q``.

    Theorem 4's ``q`` filters are i.i.d. uniform over the ``2^k`` patterns, so the counts
    ``(N_z)_z`` are multinomial ``(q; 2^-k, ..., 2^-k)``; each trial draws them once per ``q``.

    Args:
      k: pattern length.
      q: int array ``(m,)`` of filter numbers ``>= 0``.
      trials: initialisations per ``q``.

    Returns:
      ``(m, trials)`` int array (``>= 1`` means all patterns covered; the proof of
      Theorem 4 uses ``>= q / 2^(k+1)``).
    """
    check_scalar(k, "k", kind=int, min_value=1, max_value=16)
    check_scalar(trials, "trials", kind=int, min_value=1)
    q_arr = check_array(q, "q", ndim=1, dtype=None)
    if not np.issubdtype(q_arr.dtype, np.integer) or np.any(q_arr < 0):
        raise ValueError("q must hold non-negative integers")
    rng = check_rng(seed)
    p = np.full(2**k, 2.0**-k)
    return np.stack([rng.multinomial(int(qq), p, size=trials).min(axis=1) for qq in q_arr])


def min_count_probability(q: int, k: int, m: int) -> float:
    """Exact ``P(min_z N_z >= m)`` for ``q`` filters over ``2^k`` patterns (multinomial).

    Dynamic programme over the patterns: given ``r`` filters left for the last ``j``
    patterns, the next pattern's count is ``Binomial(r, 1/j)``.  Cost ``O(2^k q^2)``:
    meant for ``q`` up to a few thousand.
    """
    from scipy.stats import binom

    check_scalar(k, "k", kind=int, min_value=1, max_value=12)
    check_scalar(q, "q", kind=int, min_value=0)
    check_scalar(m, "m", kind=int, min_value=0)
    patterns = 2**k
    r = np.arange(q + 1)
    ok = (r >= m).astype(float)                         # one pattern left: it gets all r
    for j in range(2, patterns + 1):                    # j patterns left
        pmf = binom.pmf(r[None, :], r[:, None], 1.0 / j)  # [r, c]: P(next count = c | r left)
        nxt = np.zeros(q + 1)
        for rr in range(q + 1):
            c = np.arange(m, rr + 1)
            nxt[rr] = np.dot(pmf[rr, c], ok[rr - c])
        ok = nxt
    return float(ok[q])


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


def _check_k_delta(k, delta):
    k = np.asarray(k, dtype=float)
    delta = np.asarray(delta, dtype=float)
    if np.any(k < 1) or np.any(delta <= 0) or np.any(delta >= 1):
        raise ValueError("k must be >= 1 and delta in (0, 1)")
    return k, delta


def filters_bound(k: Any, delta: Any) -> np.ndarray:
    """Theorem 4's filter count ``2^(k+3) log(2^k / delta)`` (natural log): the ``q`` at which
    :func:`half_share_failure_bound` equals ``delta``."""
    k, delta = _check_k_delta(k, delta)
    return 2.0 ** (k + 3) * np.log(2.0**k / delta)


def union_bound(k: Any, delta: Any) -> np.ndarray:
    """``2^k log(2^k / delta)``: enough filters to cover every pattern w.p. ``1 - delta`` by the
    union bound ``2^k (1 - 2^-k)^q <= 2^k exp(-q / 2^k) <= delta``."""
    k, delta = _check_k_delta(k, delta)
    return 2.0**k * np.log(2.0**k / delta)


def coverage_failure_bound(q: Any, k: Any) -> np.ndarray:
    """Union bound on ``P(some pattern has no filter)``: ``2^k (1 - 2^-k)^q``."""
    q, k = np.asarray(q, dtype=float), np.asarray(k, dtype=float)
    if np.any(q < 0) or np.any(k < 1):
        raise ValueError("q must be >= 0 and k >= 1")
    return 2.0**k * (1.0 - 2.0**-k) ** q


def half_share_failure_bound(q: Any, k: Any) -> np.ndarray:
    """Chernoff + union bound on ``P(some pattern has fewer than q / 2^(k+1) filters)``.

    Each count ``N_z ~ Binomial(q, 2^-k)`` has mean ``mu = q / 2^k`` and
    ``P(N_z <= mu / 2) <= exp(-(1/2)^2 mu / 2) = exp(-q / 2^(k+3))`` (multiplicative
    Chernoff bound with deviation 1/2); the union over the ``2^k`` patterns gives
    ``2^k exp(-q / 2^(k+3))``, which is ``<= delta`` iff ``q >= 2^(k+3) log(2^k / delta)``
    (:func:`filters_bound`): the factor 8 of Theorem 4.
    """
    q, k = np.asarray(q, dtype=float), np.asarray(k, dtype=float)
    if np.any(q < 0) or np.any(k < 1):
        raise ValueError("q must be >= 0 and k >= 1")
    return 2.0**k * np.exp(-q / 2.0 ** (k + 3))


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
# Figures (static, and (fig, update) pairs for lecture_lib.widgets.live_plot)
# --------------------------------------------------------------------------- #
_COLORS = {CNN_LABEL: "C0", FC_GD_LABEL: "C1", FC_NTK_LABEL: "C2"}


def _band(ax, sizes, acc, color):
    acc = np.asarray(acc, dtype=float)
    if acc.ndim == 2 and acc.shape[1] > 1:
        return ax.fill_between(sizes, np.nanmin(acc, 1), np.nanmax(acc, 1), color=color, alpha=0.15, lw=0)
    return None


def plot_learning_curves(ax, curves: ChannelCurves, n_mark: float | None = None, title: str = "",
                         threshold: float | None = None, legend: bool = True) -> None:
    """Test accuracy vs training-set size (log x) of the learners in ``curves``.

    Mean over seeds (lines) and min-max over seeds (bands); a dotted line at chance,
    a dashed one at ``threshold``, a vertical one at ``n_mark``.  The legend goes to the
    right of the axes (``legend=False``: none, e.g. for a figure-wide legend).
    """
    for label, curve in curves.items():
        ax.semilogx(curve.sizes, curve.mean(), "o-", ms=4, color=_COLORS[label], label=label)
        _band(ax, curve.sizes, curve.test_acc, _COLORS[label])
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    if threshold is not None:
        ax.axhline(threshold, color="k", lw=0.8, ls="--")
    if n_mark is not None:
        ax.axvline(n_mark, color="k", lw=0.8)
    ax.set_xlabel("number of training samples N")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.4, 1.02)
    ax.set_title(title)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)


def learning_curve_figure(curves: Sequence[ChannelCurves], threshold: float,
                          figsize: tuple[float, float] = (9.0, 3.8)):
    """The widget figure: one dimension's learning curves and a readout at a sample size.

    Returns:
      ``(fig, update)`` with ``update(d, N)`` (``d`` one of the curves' ``d``): redraws
      the curves at ``d`` and marks ``N``, printing each learner's mean test accuracy at
      its grid size nearest to ``N``.
    """
    import matplotlib.pyplot as plt

    by_d = {cc.d: cc for cc in curves}
    if not by_d:
        raise ValueError("curves must hold at least one ChannelCurves")
    fig, ax = plt.subplots(figsize=figsize)
    lines = {lab: ax.semilogx([1, 2], [0.5, 0.5], "o-", ms=4, color=_COLORS[lab], label=lab)[0]
             for lab in (CNN_LABEL, FC_GD_LABEL, FC_NTK_LABEL)}
    bands: list = []
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.axhline(threshold, color="k", lw=0.8, ls="--", label=f"{threshold:.0%} (samples-needed threshold)")
    mark = ax.axvline(1, color="k", lw=0.8)
    text = ax.text(1.02, 0.02, "", transform=ax.transAxes, va="bottom", fontsize=8)
    all_sizes = np.concatenate([c.sizes for cc in curves for _, c in cc.items()])
    ax.set_xlim(all_sizes.min() / 1.3, all_sizes.max() * 1.3)
    ax.set_ylim(0.4, 1.02)
    ax.set_xlabel("number of training samples N")
    ax.set_ylabel("test accuracy")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)

    def update(d, N):
        cc = by_d[d]
        present = dict(cc.items())
        for band in bands:
            band.remove()
        bands.clear()
        readout = [f"at N = {N}:"]
        for lab, line in lines.items():
            curve = present.get(lab)
            line.set_visible(curve is not None)
            if curve is None:
                continue
            mean = curve.mean()
            line.set_data(curve.sizes, mean)
            band = _band(ax, curve.sizes, curve.test_acc, _COLORS[lab])
            if band is not None:
                bands.append(band)
            i = int(np.argmin(np.abs(np.log(curve.sizes) - np.log(N))))
            readout.append(f"{lab.split(':')[0].split(',')[0].split(' (')[0]}: {mean[i]:.2f} (N={curve.sizes[i]})")
        mark.set_xdata([N, N])
        text.set_text("\n".join(readout))
        ax.set_title(f"d = {d} ({d // 2} pixels × 2 channels)")

    return fig, update


def plot_need(ax, curves: Sequence[ChannelCurves], threshold: float, largest: Mapping[str, float]) -> dict:
    """Samples needed for ``threshold`` test accuracy vs ``d`` (log-log), one learner a colour.

    A power law is fitted (and its exponent put in the legend) only through **three or
    more** finite points; a learner that does not reach the threshold on its grid is drawn
    as a triangle at its largest size ``largest[label]`` (a lower bound).

    Returns:
      ``{label: exponent or None}``.
    """
    slopes = {}
    for label in (CNN_LABEL, FC_GD_LABEL, FC_NTK_LABEL):
        ds, need = sample_need(curves, label, threshold)
        if ds.size == 0:
            continue
        ok = np.isfinite(need)
        color = _COLORS[label]
        if ok.sum() >= 3:
            p, c = metrics.power_law_fit(ds[ok], need[ok])
            ax.loglog(ds[ok], need[ok], "o", color=color)
            grid = np.geomspace(ds[ok].min(), ds[ok].max(), 50)
            ax.loglog(grid, c * grid**p, "--", color=color, label=f"{label}: N ∝ d^{p:.2f}")
            slopes[label] = p
        else:
            ax.loglog(ds[ok], need[ok], "o-", color=color, label=f"{label} (no fit: {ok.sum()} points)")
            slopes[label] = None
        if (~ok).any():
            ax.loglog(ds[~ok], np.full((~ok).sum(), largest[label]), "^", color=color, ms=9,
                      label=f"{label}: > {largest[label]:g} (not reached)")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel(f"samples needed for {threshold:.0%} test accuracy")
    ax.set_title("sample need vs dimension")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return slopes


def _runs_label(r: KPatternRuns, i: int) -> str:
    what = "CNN" if r.learner == "cnn" else "FC"
    return f"{what}, {r.n_params[i]} params, N={r.n_train}"


def plot_kpattern_steps(ax_test, ax_train, runs: Sequence[KPatternRuns], n: int) -> None:
    """Test and training accuracy vs GD step at input length ``n`` (mean over seeds, min-max band)."""
    for j, r in enumerate(runs):
        hits = np.nonzero(r.n == n)[0]
        if hits.size == 0:
            raise ValueError(f"runs[{j}] has no input length n={n}; it has {r.n.tolist()}")
        i = int(hits[0])
        for ax, acc in ((ax_test, r.test_acc), (ax_train, r.train_acc)):
            a = acc[:, i, :]
            (line,) = ax.plot(r.step, np.nanmean(a, axis=1), "o-", ms=3, label=_runs_label(r, i))
            if a.shape[1] > 1:
                ax.fill_between(r.step, np.nanmin(a, 1), np.nanmax(a, 1), color=line.get_color(), alpha=0.15, lw=0)
    for ax, what in ((ax_test, "test"), (ax_train, "training")):
        ax.axhline(0.5, color="gray", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("GD step")
        ax.set_ylabel(f"{what} accuracy")
        ax.set_ylim(0.35, 1.03)
        ax.set_title(f"{what} accuracy, n = {n}")
    ax_train.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)


def kpattern_steps_figure(runs: Sequence[KPatternRuns], figsize=(11.5, 3.6)):
    """The widget version of :func:`plot_kpattern_steps`: ``(fig, update)`` with ``update(n)``.

    Test (left) and training (right) accuracy against the GD step, mean over seeds, one line
    per run; every run must hold every ``n`` of the first run.
    """
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("runs must hold at least one KPatternRuns")
    fig, (ax_test, ax_train) = plt.subplots(1, 2, figsize=figsize, sharey=True)
    lines = [(ax_test.plot(r.step, np.zeros(len(r.step)), "o-", ms=3, color=f"C{j}")[0],
              ax_train.plot(r.step, np.zeros(len(r.step)), "o-", ms=3, color=f"C{j}")[0])
             for j, r in enumerate(runs)]
    steps = np.concatenate([r.step for r in runs])
    for ax, what in ((ax_test, "test"), (ax_train, "training")):
        ax.axhline(0.5, color="gray", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlim(steps.min() / 1.3, steps.max() * 1.3)
        ax.set_ylim(0.35, 1.03)
        ax.set_xlabel("GD step")
        ax.set_ylabel(f"{what} accuracy")
    leg = [None]

    def update(n):
        for r, (lt, ltr) in zip(runs, lines):
            hits = np.nonzero(r.n == n)[0]
            if hits.size == 0:
                raise ValueError(f"a run has no input length n={n}; it has {r.n.tolist()}")
            i = int(hits[0])
            lt.set_ydata(np.nanmean(r.test_acc[:, i, :], axis=1))
            ltr.set_ydata(np.nanmean(r.train_acc[:, i, :], axis=1))
            lt.set_label(_runs_label(r, i))
        ax_test.set_title(f"test accuracy, n = {n} bits")
        ax_train.set_title(f"training accuracy, n = {n} bits")
        if leg[0] is not None:
            leg[0].remove()
        leg[0] = ax_train.legend(handles=[lt for lt, _ in lines], loc="upper left",
                                 bbox_to_anchor=(1.02, 1.0), fontsize=8)

    return fig, update


def plot_kpattern_vs_n(ax, runs: Sequence[KPatternRuns]) -> None:
    """Final test accuracy (solid, min-max band) and training accuracy (dotted) vs input length ``n``."""
    for r in runs:
        what = "CNN" if r.learner == "cnn" else "FC"
        te, tr = r.test_acc[-1], r.train_acc[-1]
        (line,) = ax.plot(r.n, np.nanmean(te, axis=1), "o-", label=f"{what}, N = {r.n_train}: test")
        if te.shape[1] > 1:
            ax.fill_between(r.n, np.nanmin(te, 1), np.nanmax(te, 1), color=line.get_color(), alpha=0.15, lw=0)
        ax.plot(r.n, np.nanmean(tr, axis=1), ":", color=line.get_color(), label=f"{what}, N = {r.n_train}: train")
    ax.axhline(0.5, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("input length n (bits)")
    ax.set_ylabel("accuracy after training")
    ax.set_ylim(0.35, 1.03)
    ax.set_title("k-parity at an unknown window: accuracy vs n")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)


def min_count_figure(sims: Mapping[int, tuple[np.ndarray, np.ndarray]], figsize=(11.5, 4.0)):
    """The coupon-collector widget: per-pattern filter counts against ``q``, with the bounds.

    Args:
      sims: ``{k: (q_grid (m,), min_counts (m, trials))}`` from :func:`min_count_samples`.

    Returns:
      ``(fig, update)`` with ``update(k, delta)``.  Left: the simulated ``min_z N_z``
      (median, 5-95 % band) against ``q``, next to the expected share ``q/2^k``, the half
      share ``q/2^(k+1)`` the proof asks for, and 1 (coverage); right: the simulated
      probabilities of coverage and of the half-share event with their union / Chernoff
      lower bounds; vertical lines: the union-bound ``q`` for coverage and Theorem 4's ``q``.
    """
    import matplotlib.pyplot as plt

    if not sims:
        raise ValueError("sims must hold at least one k")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=figsize)
    (med,) = ax0.loglog([1], [1], "o-", ms=3, color="C0", label="simulated min_z N_z (median)")
    band = [None]
    (share,) = ax0.loglog([1], [1], "-", color="gray", lw=1, label="expected share q/2^k")
    (half,) = ax0.loglog([1], [1], "--", color="C3", label="half share q/2^(k+1) (Theorem 4's proof)")
    ax0.axhline(1, color="k", lw=0.8, ls=":", label="1 filter (coverage)")
    (p_cov,) = ax1.semilogx([1], [0], "o-", ms=3, color="C0", label="P(every pattern ≥ 1 filter), simulated")
    (p_cov_x,) = ax1.semilogx([1], [0], "-", color="k", lw=1, label="… exact (Markov chain)")
    (b_cov,) = ax1.semilogx([1], [0], ":", color="C0", label="… union bound 1 − 2^k(1−2^−k)^q")
    (p_half,) = ax1.semilogx([1], [0], "o-", ms=3, color="C3", label="P(every pattern ≥ q/2^(k+1)), simulated")
    (b_half,) = ax1.semilogx([1], [0], ":", color="C3", label="… Chernoff+union 1 − 2^k e^(−q/2^(k+3))")
    level = ax1.axhline(0.95, color="gray", lw=0.8, ls="--")
    vlines = [ax.axvline(1, color=c, lw=1, ls="-.") for ax in (ax0, ax1) for c in ("C2", "C3")]
    ax0.set_xlabel("number of filters q")
    ax0.set_ylabel("filters per pattern")
    ax1.set_xlabel("number of filters q")
    ax1.set_ylabel("probability over initialisations")
    ax1.set_ylim(-0.03, 1.03)
    ax0.legend(loc="upper left", fontsize=7)
    leg = [None]

    def update(k, delta):
        q, mins = sims[k]
        q = np.asarray(q, dtype=float)
        med.set_data(q, np.maximum(np.median(mins, axis=1), 0.5))
        if band[0] is not None:
            band[0].remove()
        band[0] = ax0.fill_between(q, np.maximum(np.percentile(mins, 5, axis=1), 0.5),
                                   np.maximum(np.percentile(mins, 95, axis=1), 0.5), color="C0", alpha=0.2, lw=0)
        share.set_data(q, q / 2**k)
        half.set_data(q, q / 2 ** (k + 1))
        q_union, q_thm = float(union_bound(k, delta)), float(filters_bound(k, delta))
        for line, x in zip(vlines, (q_union, q_thm, q_union, q_thm)):
            line.set_xdata([x, x])
        vlines[0].set_label(f"union bound for coverage: q = {q_union:.0f}")
        vlines[1].set_label(f"Theorem 4: q = 2^(k+3) log(2^k/δ) = {q_thm:.0f}")
        p_cov.set_data(q, np.mean(mins >= 1, axis=1))
        p_cov_x.set_data(q, coverage_probability(q.astype(int), k) if k <= 12 else np.full_like(q, np.nan))
        b_cov.set_data(q, np.clip(1 - coverage_failure_bound(q, k), 0, 1))
        p_half.set_data(q, np.mean(mins >= q[:, None] / 2 ** (k + 1), axis=1))
        b_half.set_data(q, np.clip(1 - half_share_failure_bound(q, k), 0, 1))
        level.set_ydata([1 - delta, 1 - delta])
        level.set_label(f"1 − δ = {1 - delta:g}")
        for ax in (ax0, ax1):
            ax.set_xlim(q.min() / 1.2, q.max() * 1.2)
        ax0.set_ylim(0.4, q.max() / 2**k * 2)
        ax0.set_title(f"k = {k}: {2**k} patterns, {mins.shape[1]} initialisations per q")
        ax1.set_title(f"coverage vs Theorem 4's event, δ = {delta}")
        if leg[0] is not None:
            leg[0].remove()
        leg[0] = ax1.legend(handles=[p_cov, p_cov_x, b_cov, p_half, b_half, level, vlines[0], vlines[1]],
                            loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)

    return fig, update


def theorem4_figure(q_max: float = 1e14, figsize=(9.5, 4.0)):
    """Theorem 4's three terms against ``q`` (log-log), for the bound-calculator widget.

    Returns:
      ``(fig, update)`` with ``update(n, k, log10_T, c)``; the title gives the minimum of
      the bound over ``q`` and where it is attained.
    """
    import matplotlib.pyplot as plt

    q = np.geomspace(1, q_max, 400)
    fig, ax = plt.subplots(figsize=figsize)
    lines = {key: ax.loglog(q, np.ones_like(q), "--", label=lab)[0]
             for key, lab in (("term1", "2cn²k²2^k/q"), ("term2", "2(2^k k)²/√(qn)"), ("term3", "c²n^1.5√q/T"))}
    (total,) = ax.loglog(q, np.ones_like(q), "k-", lw=2, label="bound (sum)")
    (best,) = ax.plot([1], [1], "ko")
    ax.axhline(1.0, color="gray", ls=":", lw=0.8, label="loss 1 (trivial)")
    ax.set_xlabel("number of filters q")
    ax.set_ylabel("bound on the average loss")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)

    def update(n, k, log10_T, c):
        terms = theorem4_bound(q, 10.0**log10_T, n, k, c)
        for key, line in lines.items():
            line.set_ydata(terms[key])
        total.set_ydata(terms["total"])
        i = int(np.argmin(terms["total"]))
        best.set_data([q[i]], [terms["total"][i]])
        lo = max(terms["total"].min() / 30, 1e-6)
        ax.set_ylim(lo, max(terms["total"].max(), 10 * lo))
        ax.set_title(f"n={n:g}, k={k:g}, T=1e{log10_T:g}, c={c:g}: "
                     f"min {terms['total'][i]:.3g} at q={q[i]:.2g}", fontsize=10)
        update.q_best, update.min_bound = float(q[i]), float(terms["total"][i])

    return fig, update
