"""Finite networks versus their infinite-width kernels.

Lecture module of ``notebooks/04_ntk_vs_finite_networks.ipynb``; four experiments, one per part
of the slides "NTK vs NN" and "Why the NTK?":

* **Finite vs infinite width** (Lee et al., NeurIPS'20): :func:`width_sweep` trains an
  *ensemble* of centred networks (``f - f0``) per width with the GD core
  (``train.fit(..., ensemble=True, centred=True)``) and compares them with the NTK
  prediction at the same step and with NTK/NNGP kernel regression.
* **Cost of kernel regression** (the "superquadratic" remark): counted work, independent of the
  machine's load -- XLA's flop count of the Gram-matrix computation and the closed-form flops of
  the Cholesky solve (:func:`cost_counts`, :func:`cholesky_solve_flops`) -- and, as the
  illustration, best-of-k timings of both stages vs the number of samples
  (:func:`cost_scaling`), power-law fits (:func:`lecture_lib.metrics.power_law_fit`,
  :func:`crossover`) and XLA's memory accounting of a kernel computation with and without
  ``nt.batch`` (:func:`kernel_memory`).
* **Small data** (Arora et al., ICLR'20): NTK Gram stacks
  (:func:`lecture_lib.kernels.gram_stack`) under
  :class:`lecture_lib.estimators.GramStackClassifier` and
  :func:`lecture_lib.estimators.nested_cv` against scikit-learn baselines on the same
  folds; :func:`format_table`, :func:`paired_differences` (fold-by-fold comparison).
* **Early-time linearity**: :func:`linearization_gap` trains a network and its first-order
  Taylor expansion in the weights (``train.make_model(..., linearised=True)``; Lee et al.
  NeurIPS'19) in lock-step and measures how far they drift apart; :func:`input_linear_kernel` and
  :func:`input_linear_gap` compare the network with a *linear model on its inputs* (Hu et al.
  NeurIPS'20).
* **Few-shot** (Arora et al., ICLR'20, section 5): :func:`few_shot` compares kernel regression
  with a precomputed CNTK and a small CNN (``kernels.small_cnn``) trained by the GD core on the
  same class-balanced draws of a few images per class (:func:`few_shot_draws`).

Conventions: the training loss is the ``"mean"`` MSE ``L = 1/(2n) sum_i ||f(x_i) - y_i||^2``;
one GD step with learning rate ``lr`` moves the outputs, to first order, by
``-train.kernel_lr(lr, n) Theta (f - y)``, so the kernel prediction after ``s`` steps is
``krr.gd_dynamics_discrete`` with ``lr=train.kernel_lr(lr, n)``.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import kernels, krr, losses, metrics, train
from ..precision import x64
from ..progress import progress as progress_bar
from ..timing import block, compiled_cost
from ..validation import (
    check_array, check_choice, check_int_sequence, check_same_length, check_scalar,
)

__all__ = [
    "CostCounts", "cost_counts", "cholesky_solve_flops", "CostScaling", "cost_scaling", "crossover", "KernelMemory", "kernel_memory",
    "gap_covariance_bytes", "WidthSweep", "width_sweep", "LinearizationGap",
    "linearization_gap", "input_linear_kernel", "input_linear_gap", "paired_differences",
    "format_table", "FewShot", "few_shot_draws", "few_shot",
]


# --------------------------------------------------------------------------- #
# cost of kernel regression
# --------------------------------------------------------------------------- #
class CostCounts(NamedTuple):
    """Output of :func:`cost_counts`: ``n`` (S,) sample sizes; ``kernel_flops`` (S,) XLA's flop
    count of computing the ``n x n`` Gram matrix; ``solve_flops`` (S,) the closed-form flops of
    its Cholesky solve (:func:`cholesky_solve_flops`)."""

    n: np.ndarray
    kernel_flops: np.ndarray
    solve_flops: np.ndarray


def cholesky_solve_flops(n: int, k: int = 1) -> float:
    """Flops of solving ``K a = y`` for ``y`` of shape ``(n, k)`` by Cholesky: the factorisation
    ``n^3/3`` plus two triangular solves ``2 k n^2`` (leading terms; Golub & Van Loan)."""
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(k, "k", kind=int, min_value=1)
    return n ** 3 / 3 + 2 * k * n ** 2


def cost_counts(kernel_fn: Callable, x_pool: Any, ns: Sequence[int], get: str = "ntk",
                dtype: Any = "float32") -> CostCounts:
    """Count, rather than time, the two stages of kernel regression for ``n`` in ``ns``.

    ``kernel_flops``: :func:`lecture_lib.timing.compiled_cost` of ``kernel_fn(X, X, get)`` on the
    first ``n`` rows of ``x_pool`` (compiled, not run: the count does not depend on the load of
    the machine); ``solve_flops``: :func:`cholesky_solve_flops` (XLA does not count the LAPACK
    call of a Cholesky on CPU, so its closed form is used).  Kernel entries cost a fixed number of
    flops each for a fixed input size, so ``kernel_flops ~ n^2`` while ``solve_flops ~ n^3``.
    """
    x_pool = check_array(x_pool, "x_pool", ndim=(2, 4))
    ns = check_int_sequence(ns, "ns", min_value=1, increasing=True)
    if ns[-1] > x_pool.shape[0]:
        raise ValueError(f"x_pool must have at least max(ns)={ns[-1]} rows, got {x_pool.shape[0]}")
    x_pool = np.asarray(x_pool, dtype=dtype)
    flops = [compiled_cost(lambda a: kernel_fn(a, a, get), x_pool[:n]).flops for n in ns]
    return CostCounts(np.asarray(ns), np.asarray(flops, dtype=np.float64),
                      np.asarray([cholesky_solve_flops(n) for n in ns]))


class CostScaling(NamedTuple):
    """Output of :func:`cost_scaling`: sizes ``n`` and best times (seconds) ``kernel_s``,
    ``solve_s`` (NaN when not timed) and ``total_s`` per size."""

    n: np.ndarray
    kernel_s: np.ndarray
    solve_s: np.ndarray
    total_s: np.ndarray


def cost_scaling(
    kernel_fn: Callable,
    x_pool: Any,
    ns: Sequence[int],
    repeats: int = 3,
    get: str = "ntk",
    reg: float = 1e-4,
    batch_size: int = 0,
    solve: bool = True,
    dtype: Any = "float32",
    blas_threads: int | None = 1,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Time kernel regression's two stages against the number of samples ``n``.

    For each ``n``: ``kernel_s`` = best time of ``K = k(X, X)`` for the first
    ``n`` rows of ``x_pool`` (``kernels.analytic_kernel``, compiled once per
    shape before timing; cost ``O(n^2)`` kernel entries, each costing a fixed
    amount for a fixed input size), and ``solve_s`` = best time of the ridge
    solve ``(K + reg tr(K)/n I)^-1 y`` by Cholesky (``O(n^3)``; the solve of
    ``krr.fit``, done in place to keep one ``n x n`` matrix in memory).  The ``repeats`` rounds are
    interleaved over the sizes (round 1: all sizes, round 2: all sizes, ...)
    and the minimum per size is kept.

    Args:
      kernel_fn: stax kernel function (``kernels.fc(...)[2]``, ``conv(...)[2]``).
      x_pool: ``(N, d)`` or ``(N, H, W, C)`` inputs, ``N >= max(ns)``.
      ns: increasing sample sizes.
      repeats: best-of-``repeats`` timings.
      get, batch_size, dtype: passed to ``kernels.analytic_kernel``.
      reg: ridge of the solve, relative to ``tr(K)/n`` as in ``krr.fit``.
      solve: also time the solve (``False``: ``solve_s`` is NaN).
      blas_threads: BLAS threads for the solve (``threadpoolctl``); the default
        ``1`` gives stable timings on a shared CPU (idle multithreaded BLAS
        workers spin and are preempted), ``None`` keeps the library default.

    Returns:
      :class:`CostScaling`.
    """
    x_pool = check_array(x_pool, "x_pool", ndim=(2, 4))
    ns = check_int_sequence(ns, "ns", min_value=1, increasing=True)
    if ns[-1] > x_pool.shape[0]:
        raise ValueError(f"x_pool must have at least max(ns)={ns[-1]} rows, got {x_pool.shape[0]}")
    check_scalar(reg, "reg", min_value=0.0)
    rng = np.random.default_rng(0)
    check_scalar(repeats, "repeats", kind=int, min_value=1)

    def kernel_call(n):
        return kernels.analytic_kernel(kernel_fn, x_pool[:n], get=get, batch_size=batch_size,
                                       dtype=dtype)

    for n in progress_bar(ns, progress, desc="compile"):  # warm-up: compile every shape
        block(kernel_call(n))
    k_s = np.full(len(ns), np.inf)
    s_s = np.full(len(ns), np.inf if solve else np.nan)
    # Interleave: round r times every size, so a burst of load from other processes
    # inflates one round of all sizes rather than all rounds of one size.  Only one
    # Gram matrix is alive at a time (memory ~ max(ns)^2, not sum(ns^2)).
    for _ in progress_bar(range(repeats), progress, desc="timing rounds"):
        for i, n in enumerate(ns):
            t0 = time.perf_counter()
            gram = block(kernel_call(n))
            k_s[i] = min(k_s[i], time.perf_counter() - t0)
            if solve:
                gram = np.array(gram, dtype=np.float64)  # our own copy: factorised in place
                y = rng.standard_normal(n)
                with _blas_limit(blas_threads):
                    t0 = time.perf_counter()
                    _ridge_cholesky_solve(gram, y, reg)
                    s_s[i] = min(s_s[i], time.perf_counter() - t0)
            del gram
    k_s, s_s = np.asarray(k_s), np.asarray(s_s)
    return CostScaling(np.asarray(ns), k_s, s_s, k_s + np.nan_to_num(s_s))


def _ridge_cholesky_solve(k: np.ndarray, y: np.ndarray, reg: float) -> np.ndarray:
    """``(K + reg tr(K)/n I)^-1 y`` by Cholesky, overwriting ``k`` (no n x n copies).

    The solve of ``krr.fit`` without its input validation and symmetrising
    copies, so that the timing is the ``O(n^3)`` factorisation and the memory
    stays at one ``n x n`` matrix.
    """
    import scipy.linalg

    n = k.shape[0]
    k[np.diag_indices(n)] += reg * np.trace(k) / n
    c = scipy.linalg.cho_factor(k, lower=True, overwrite_a=True, check_finite=False)
    return scipy.linalg.cho_solve(c, y, check_finite=False)


def _blas_limit(threads: int | None):
    if threads is None:
        return contextlib.nullcontext()
    check_scalar(threads, "blas_threads", kind=int, min_value=1)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def crossover(n: Any, t_a: Any, t_b: Any, n_b: Any = None) -> float:
    """Size where the fitted power laws of ``t_a`` and ``t_b`` cross.

    Solves ``c_a n^p_a = c_b n^p_b`` with both laws fitted in log-log space;
    ``t_b`` is measured at ``n_b`` (default: the same sizes ``n``), e.g. the CNTK
    kernel time against the solve time measured at other sizes (the solve
    depends on ``n`` only).  ``inf`` when the exponents are equal.
    Extrapolates beyond the measured range when needed (read it as an estimate).
    """
    n = check_array(n, "n", ndim=1, dtype=float)
    n_b = n if n_b is None else check_array(n_b, "n_b", ndim=1, dtype=float)
    t_a = check_array(t_a, "t_a", ndim=1, dtype=float)
    t_b = check_array(t_b, "t_b", ndim=1, dtype=float)
    check_same_length("n", n, "t_a", t_a)
    check_same_length("n_b", n_b, "t_b", t_b)
    if np.any(n <= 0) or np.any(n_b <= 0) or np.any(t_a <= 0) or np.any(t_b <= 0):
        raise ValueError("n, n_b, t_a and t_b must be positive")
    pa, ca = metrics.power_law_fit(n, t_a)
    pb, cb = metrics.power_law_fit(n_b, t_b)
    if np.isclose(pa, pb):
        return float("inf")
    return float(np.exp((np.log(ca) - np.log(cb)) / (pb - pa)))


_MEMORY_CACHE: dict = {}  # (id(kernel_fn), shape, dtype, get) -> XLA memory stats


class KernelMemory(NamedTuple):
    """Output of :func:`kernel_memory`, in bytes: ``temp`` (XLA's intermediate buffers),
    ``output`` (the ``n x n`` result), ``peak`` (temp + output + arguments)."""

    temp: int
    output: int
    peak: int


def kernel_memory(
    kernel_fn: Callable,
    x: Any,
    get: str = "ntk",
    batch_size: int = 0,
    dtype: Any = "float32",
) -> KernelMemory:
    """XLA's memory accounting of computing ``k(x, x)``, without running it.

    Compiles the kernel computation and reads ``memory_analysis()`` of the
    executable: ``temp`` = bytes of intermediate buffers XLA allocates
    (the peak working memory on top of inputs and outputs), ``output`` = bytes
    of the result.  With ``batch_size > 0`` the computation is the one
    ``nt.batch`` compiles, on one ``batch_size x batch_size`` block; the full
    ``n x n`` result is then assembled on the host (``output`` reports its size).

    Returns:
      :class:`KernelMemory`.
    """
    import functools

    import jax
    import jax.numpy as jnp

    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    x = check_array(x, "x", ndim=(2, 4))
    get = check_choice(get, "get", ("ntk", "nngp"))
    check_scalar(batch_size, "batch_size", kind=int, min_value=0)
    dtype = check_choice(np.dtype(dtype).name, "dtype", ("float32", "float64"))
    n = x.shape[0]
    block = x if batch_size == 0 else x[: min(batch_size, n)]
    ctx = x64() if dtype == "float64" else contextlib.nullcontext()
    key = (id(kernel_fn), block.shape, dtype, get)
    stats = _MEMORY_CACHE.get(key, (None, None))[1]
    if stats is None:
        with ctx:
            arg = jnp.asarray(block, dtype=dtype)
            fn = jax.jit(functools.partial(kernel_fn, get=get))
            stats = fn.lower(arg, arg).compile().memory_analysis()
        _MEMORY_CACHE[key] = (kernel_fn, stats)  # keep kernel_fn alive: ids stay unique
    itemsize = np.dtype(dtype).itemsize
    temp = int(stats.temp_size_in_bytes)
    output = int(n * n * itemsize)
    args = int(stats.argument_size_in_bytes)
    return KernelMemory(temp, output, temp + output + args)


def gap_covariance_bytes(n1: int, n2: int, spatial: int, itemsize: int = 4) -> int:
    """Size of one pixel-pixel covariance tensor of a CNTK with global average pooling.

    The kernel of a conv net with global pooling needs, for every pair of
    inputs, the covariance between all pairs of spatial positions:
    ``n1 * n2 * spatial^2`` numbers (``spatial = H * W``), i.e. memory that grows
    like ``n^2 (HW)^2`` -- the reason ``nt.batch`` exists.
    """
    for v, name in ((n1, "n1"), (n2, "n2"), (spatial, "spatial"), (itemsize, "itemsize")):
        check_scalar(v, name, kind=int, min_value=1)
    return int(n1) * int(n2) * int(spatial) ** 2 * int(itemsize)


# --------------------------------------------------------------------------- #
# finite networks trained by gradient descent
# --------------------------------------------------------------------------- #


# --------------------------------------------------------------------------- #
# finite networks of growing width vs the kernel
# --------------------------------------------------------------------------- #
class WidthSweep(NamedTuple):
    """Output of :func:`width_sweep` (``W`` widths, ``E`` members, ``m`` test points, ``k`` outputs).

    ``widths`` (W,); ``pred_test`` (W, E, m, k) centred network outputs after ``steps`` steps;
    ``ntk_gd_test`` (m, k) the infinite-width prediction after the same steps;
    ``ntk_krr_test``, ``nngp_krr_test`` (m, k) kernel regression; ``gap`` (W, E) and
    ``gap_ensemble`` (W,) relative distance of members / of the ensemble mean to
    ``ntk_gd_test``; ``test_mse``, ``test_acc`` (W, E); ``ensemble_acc`` (W,); and floats
    ``ntk_gd_acc``, ``ntk_krr_acc``, ``nngp_krr_acc``, ``ntk_gd_mse``, ``ntk_krr_mse``,
    ``nngp_krr_mse``.  MSEs are the training objective ``1/2 mean_i sum_j (f_ij - y_ij)^2``.
    """

    widths: np.ndarray
    pred_test: np.ndarray
    ntk_gd_test: np.ndarray
    ntk_krr_test: np.ndarray
    nngp_krr_test: np.ndarray
    gap: np.ndarray
    gap_ensemble: np.ndarray
    test_mse: np.ndarray
    test_acc: np.ndarray
    ensemble_acc: np.ndarray
    ntk_gd_acc: float
    ntk_krr_acc: float
    nngp_krr_acc: float
    ntk_gd_mse: float
    ntk_krr_mse: float
    nngp_krr_mse: float


def width_sweep(
    widths: Sequence[int],
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    depth: int = 1,
    n_ensemble: int = 3,
    lr: float = 1.0,
    steps: int = 500,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.1,
    reg: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> WidthSweep:
    """Centred networks of growing width versus the infinite-width kernel (Lee et al. '20).

    For each width, ``n_ensemble`` fully connected networks (``kernels.fc``,
    NTK parameterisation) are trained with ``steps`` full-batch GD steps from
    independent initialisations, *centred* (``f - f_0``).  The infinite-width
    prediction of the same procedure is linear GD with the NTK,
    ``f_s(x) = Theta_xX Theta^-1 (I - (I - lr/n Theta)^s) y``
    (``krr.gd_dynamics_discrete`` with ``train.kernel_lr(lr, n)``); after infinitely many
    steps it is NTK kernel regression.  NNGP regression (the Bayesian posterior mean) is
    reported too.  Networks train in float32 (members vmapped, one compilation per width);
    kernels and closed forms are float64.

    Args:
      widths: hidden widths, increasing.
      x_train, x_test: ``(n, d)``, ``(m, d)``.  y_train, y_test: one-hot ``(n, k)``, ``(m, k)``.
      depth: hidden layers.  lr, steps: GD.  reg: ridge of the kernel regressions.
      seed: the members of width ``w`` are ``kernels.normal_init(..., seed=(seed, w))``.

    Returns:
      :class:`WidthSweep`.
    """
    import jax
    import jax.numpy as jnp

    widths = check_int_sequence(widths, "widths", min_value=1)
    x_train = check_array(x_train, "x_train", ndim=2)
    x_test = check_array(x_test, "x_test", ndim=2)
    y_train = check_array(y_train, "y_train", ndim=2)
    y_test = check_array(y_test, "y_test", ndim=2)
    check_same_length("x_train", x_train, "y_train", y_train)
    check_same_length("x_test", x_test, "y_test", y_test)
    check_scalar(n_ensemble, "n_ensemble", kind=int, min_value=1)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int)
    n, k = y_train.shape
    _, _, kernel_fn = kernels.fc(depth=depth, width=widths[0], activation=activation,
                                 W_std=W_std, b_std=b_std, out_dim=k)
    x_all = np.concatenate([x_train, x_test])
    ntk = kernels.analytic_kernel(kernel_fn, x_all, get="ntk", dtype="float64")
    nngp = kernels.analytic_kernel(kernel_fn, x_all, get="nngp", dtype="float64")
    tr, te = slice(0, n), slice(n, None)
    ntk_gd = krr.gd_dynamics_discrete(ntk[tr, tr], y_train, steps, k_test_train=ntk[te, tr],
                                      lr=train.kernel_lr(lr, n))
    ntk_gd_test = np.asarray(ntk_gd.test)
    ntk_krr = krr.fit_predict(ntk[tr, tr], y_train, ntk[te, tr], reg=reg)
    nngp_krr = krr.fit_predict(nngp[tr, tr], y_train, nngp[te, tr], reg=reg)

    preds = []
    for width in progress_bar(widths, progress, desc="width"):
        init_fn, apply_fn, _ = kernels.fc(depth=depth, width=width, activation=activation,
                                          W_std=W_std, b_std=b_std, out_dim=k)
        stacked = kernels.normal_init(init_fn, (-1, x_train.shape[1]), seed=(seed, width),
                                      n_members=n_ensemble, dtype=np.float32)
        run = train.fit(apply_fn, stacked, x_train.astype(np.float32), y_train.astype(np.float32),
                        lr=lr, steps=steps, ensemble=True, centred=True,
                        x_test=x_test.astype(np.float32), record_steps=[steps],
                        record_outputs=True, progress=False)
        preds.append(run.test_outputs[-1].astype(np.float64))
    pred = np.stack(preds)  # (W, E, m, k)

    def mse(p):  # the training objective 1/2 mean_i sum_j, for any leading axes
        return 0.5 * np.mean(np.sum((p - y_test) ** 2, axis=-1), axis=-1)

    return WidthSweep(
        widths=np.asarray(widths), pred_test=pred, ntk_gd_test=ntk_gd_test,
        ntk_krr_test=ntk_krr, nngp_krr_test=nngp_krr,
        gap=metrics.relative_error(pred, ntk_gd_test, axis=(-2, -1)),
        gap_ensemble=metrics.relative_error(pred.mean(axis=1), ntk_gd_test, axis=(-2, -1)),
        test_mse=mse(pred), test_acc=metrics.accuracy(pred, y_test),
        ensemble_acc=metrics.accuracy(pred.mean(axis=1), y_test),
        ntk_gd_acc=metrics.accuracy(ntk_gd_test, y_test),
        ntk_krr_acc=metrics.accuracy(ntk_krr, y_test),
        nngp_krr_acc=metrics.accuracy(nngp_krr, y_test),
        ntk_gd_mse=float(mse(ntk_gd_test)), ntk_krr_mse=float(mse(ntk_krr)),
        nngp_krr_mse=float(mse(nngp_krr)),
    )


# --------------------------------------------------------------------------- #
# early-time linearity
# --------------------------------------------------------------------------- #
class LinearizationGap(NamedTuple):
    """Output of :func:`linearization_gap`: ``step`` (T,); ``gap`` (T,)
    ``||f_t - f_lin,t|| / ||f_lin,t - f_0||`` on ``x_eval`` (the part of the learned change the
    linear model misses; NaN at step 0); ``gap_abs`` (T,) ``||f_t - f_lin,t|| / sqrt(m)``;
    ``loss_net``, ``loss_lin`` (T,) training losses; ``f_train`` (T, n, k), ``f_test`` (T, m, k)
    the network's outputs on ``x_train`` / ``x_eval`` (for :func:`input_linear_gap`)."""

    step: np.ndarray
    gap: np.ndarray
    gap_abs: np.ndarray
    loss_net: np.ndarray
    loss_lin: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray


def linearization_gap(
    apply_fn: Callable,
    params: Any,
    x_train: Any,
    y_train: Any,
    x_eval: Any,
    lr: float,
    record_steps: Sequence[int],
) -> LinearizationGap:
    """Train a network and its linearisation in lock-step and measure how they part.

    ``f_lin(w, x) = f(w0, x) + J(w0, x)(w - w0)`` (``train.make_model(linearised=True)``,
    what ``nt.linearize`` computes) is trained with the same GD (same ``lr``, same data, same
    initialisation) as ``f``.  Use ``lr < train.max_stable_lr(ntk)``: above it the linear
    model diverges.

    Returns:
      :class:`LinearizationGap`.
    """
    record_steps = check_int_sequence(record_steps, "record_steps", min_value=0, increasing=True)
    y_train = check_array(y_train, "y_train", ndim=(1, 2))
    y = y_train.reshape(len(y_train), -1)
    kwargs = dict(lr=lr, steps=max(record_steps[-1], 1), record_steps=record_steps,
                  x_test=x_eval, record_outputs=True, progress=False)
    net = train.fit(apply_fn, params, x_train, y, **kwargs)
    lin = train.fit(apply_fn, params, x_train, y, linearised=True, **kwargs)
    diff = np.linalg.norm(net.test_outputs - lin.test_outputs, axis=(-2, -1))
    change = np.linalg.norm(lin.test_outputs - lin.test_outputs[:1], axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(change > 0, diff / np.where(change > 0, change, 1.0), np.nan)
    return LinearizationGap(net.step, gap, diff / np.sqrt(net.test_outputs.shape[1]),
                            net.train_loss, lin.train_loss, net.train_outputs, net.test_outputs)


def input_linear_kernel(k_train: Any, x_train: Any) -> tuple[float, float]:
    """The kernel of a linear model on the inputs closest to a kernel matrix: ``(c0, c1)`` with
    ``K_lin(x, x') = c0 + c1 x.x'/d`` the least-squares fit of ``k_train`` ``(n, n)`` on
    ``[1, X X^T / d]`` over all entries.

    Hu et al. (NeurIPS'20) show that early in training a two-layer network follows a linear
    model on its inputs, whose tangent kernel is exactly of this form, with ``c0, c1`` given by
    the activation's Gaussian moments when ``||x||^2 = d``; for data that is not on that sphere
    (digits) we read the two numbers off the network's NTK instead.
    """
    k = check_array(k_train, "k_train", ndim=2, dtype=np.float64)
    x = check_array(x_train, "x_train", ndim=2, dtype=np.float64)
    if k.shape != (len(x), len(x)):
        raise ValueError(f"k_train must be (n, n) for the n={len(x)} rows of x_train, got {k.shape}")
    g = x @ x.T / x.shape[1]
    design = np.stack([np.ones(g.size), g.ravel()], axis=1)
    (c0, c1), *_ = np.linalg.lstsq(design, k.ravel(), rcond=None)
    return float(c0), float(c1)


def input_linear_gap(gap: LinearizationGap, x_train: Any, y_train: Any, x_eval: Any,
                     c0: float, c1: float, lr: float) -> np.ndarray:
    """``||Delta f_t - Delta g_t|| / ||Delta f_t||`` on ``x_eval`` per recorded step: how much of
    the network's learned change ``Delta f_t = f_t - f_0`` a linear model on the inputs misses.

    ``g`` is the linear model with tangent kernel ``c0 + c1 x.x'/d`` trained by the same GD
    (``lr`` of the mean MSE, from the network's initial outputs), in closed form
    (``krr.gd_dynamics_discrete``).  NaN at step 0.
    """
    x = check_array(x_train, "x_train", ndim=2, dtype=np.float64)
    xe = check_array(x_eval, "x_eval", ndim=2, dtype=np.float64)
    y = check_array(y_train, "y_train", ndim=(1, 2), dtype=np.float64).reshape(len(x), -1)
    d = x.shape[1]
    k_lin = c0 + c1 * (x @ x.T) / d
    k_lin_test = c0 + c1 * (xe @ x.T) / d
    f0_train, f0_test = np.asarray(gap.f_train[0], np.float64), np.asarray(gap.f_test[0], np.float64)
    lin = krr.gd_dynamics_discrete(k_lin, y, gap.step, k_test_train=k_lin_test,
                                   lr=train.kernel_lr(lr, len(x)), f0_train=f0_train,
                                   f0_test=f0_test)
    d_net = np.asarray(gap.f_test, np.float64) - f0_test[None]
    d_lin = lin.test - f0_test[None]
    num = np.linalg.norm(d_net - d_lin, axis=(-2, -1))
    den = np.linalg.norm(d_net, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def paired_differences(scores: Mapping[str, Mapping[str, Any]], model: str) -> dict[str, np.ndarray]:
    """Per-fold differences ``score[model] - score[other]`` over every data set's folds, for
    each other model: ``{other: (sum of folds,)}``.  The folds must be the same for all models
    (``estimators.nested_cv`` with one seed), so each difference is paired."""
    if not scores:
        raise ValueError("scores must not be empty")
    models = list(next(iter(scores.values())).keys())
    if model not in models:
        raise ValueError(f"model must be one of {models}, got {model!r}")
    out = {}
    for other in models:
        if other == model:
            continue
        diffs = [np.asarray(row[model], float) - np.asarray(row[other], float)
                 for row in scores.values()]
        out[other] = np.concatenate(diffs)
    return out


# --------------------------------------------------------------------------- #
# small-data comparison (Arora et al. ICLR'20)
# --------------------------------------------------------------------------- #
def format_table(scores: Mapping[str, Mapping[str, Any]], digits: int = 3) -> str:
    """Markdown table ``dataset x model`` of ``mean +- std`` over folds; best mean(s) in bold."""
    if not scores:
        raise ValueError("scores must not be empty")
    models = list(next(iter(scores.values())).keys())
    lines = ["| data set | " + " | ".join(models) + " |",
             "|---|" + "---|" * len(models)]
    for name, row in scores.items():
        means = {m: float(np.mean(row[m])) for m in models}
        best = max(means.values())
        cells = []
        for m in models:
            s = f"{means[m]:.{digits}f} ± {np.std(row[m]):.{digits}f}"
            cells.append(f"**{s}**" if np.isclose(means[m], best, rtol=0, atol=1e-12) else s)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# few-shot: CNTK vs a trained CNN (Arora et al. ICLR'20, section 5)
# --------------------------------------------------------------------------- #
class FewShot(NamedTuple):
    """Output of :func:`few_shot` (``S`` sizes, ``D`` draws): ``shots`` (S,) images per class;
    ``indices`` list of ``S`` arrays ``(D, shots * classes)`` into the pool; ``kernel_acc``,
    ``net_acc`` (S, D) test accuracies of kernel regression and of the trained network on the
    *same* draw (paired); ``net_train_acc`` (S, D) the network's accuracy on its training draw."""

    shots: np.ndarray
    indices: list
    kernel_acc: np.ndarray
    net_acc: np.ndarray
    net_train_acc: np.ndarray


def few_shot_draws(y_pool: Any, shots: Sequence[int], n_draws: int, seed: int = 0) -> list:
    """``D`` random class-balanced subsets of a labelled pool per size: for each ``s`` in
    ``shots`` an int array ``(n_draws, s * classes)`` of pool indices, ``s`` of every class,
    drawn without replacement (independently per draw; seeded)."""
    y = check_array(y_pool, "y_pool", ndim=1, finite=False).astype(int)
    shots = check_int_sequence(shots, "shots", min_value=1, increasing=True)
    check_scalar(n_draws, "n_draws", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int)
    classes = np.unique(y)
    by_class = [np.flatnonzero(y == c) for c in classes]
    if shots[-1] > min(len(b) for b in by_class):
        raise ValueError(f"shots must be at most the smallest class size {min(len(b) for b in by_class)}, "
                         f"got {shots[-1]}")
    rng = np.random.default_rng(seed)
    return [np.stack([np.concatenate([rng.choice(b, s, replace=False) for b in by_class])
                      for _ in range(n_draws)]) for s in shots]


def few_shot(
    k_pool: Any,
    k_test_pool: Any,
    x_pool: Any,
    y_pool: Any,
    x_test: Any,
    y_test: Any,
    init_fn: Callable,
    apply_fn: Callable,
    shots: Sequence[int],
    n_draws: int = 4,
    seed: int = 0,
    reg: float = 1e-4,
    lr: float = 1e-2,
    steps: int = 200,
    progress: bool = True,
) -> FewShot:
    """Few-shot classification: kernel regression vs a trained network on the same draws.

    For every size ``s`` in ``shots`` and each of ``n_draws`` class-balanced draws of ``s``
    images per class from the pool (:func:`few_shot_draws`): (a) kernel regression on one-hot
    targets with the precomputed kernel (``k_pool`` (N, N) on the pool, ``k_test_pool`` (m, N)
    test x pool; ``krr.fit_predict`` with ridge ``reg``), (b) the network
    ``(init_fn, apply_fn)`` trained from its own initialisation (one per run) with full-batch
    Adam (``lr``, ``steps``) on softmax cross-entropy by the GD core (``train.run``; all runs
    padded to the largest draw with the padding masked out of the loss, ``vmap``-ped, one
    compilation).  Accuracies on the same test set.

    Args:
      x_pool: ``(N, ...)`` inputs of the pool; y_pool ``(N,)`` integer labels ``0..k-1``;
      x_test, y_test: ``(m, ...)``, ``(m,)``.
      seed: draws use ``few_shot_draws(..., seed)``, the networks ``kernels.normal_init(..., seed)`` (own init per run).

    Returns:
      :class:`FewShot`.
    """
    import jax
    import jax.numpy as jnp

    y_pool = check_array(y_pool, "y_pool", ndim=1, finite=False).astype(int)
    y_test = check_array(y_test, "y_test", ndim=1, finite=False).astype(int)
    x_pool = check_array(x_pool, "x_pool", min_ndim=2)
    x_test = check_array(x_test, "x_test", min_ndim=2)
    check_same_length("x_pool", x_pool, "y_pool", y_pool)
    check_same_length("x_test", x_test, "y_test", y_test)
    k_pool = check_array(k_pool, "k_pool", ndim=2)
    k_test_pool = check_array(k_test_pool, "k_test_pool", ndim=2)
    if k_pool.shape != (len(y_pool), len(y_pool)) or k_test_pool.shape != (len(y_test), len(y_pool)):
        raise ValueError(f"k_pool must be (N, N) and k_test_pool (m, N) for N={len(y_pool)}, "
                         f"m={len(y_test)}; got {k_pool.shape} and {k_test_pool.shape}")
    check_scalar(steps, "steps", kind=int, min_value=1)
    draws = few_shot_draws(y_pool, shots, n_draws, seed)
    n_classes = int(max(y_pool.max(), y_test.max())) + 1
    eye = np.eye(n_classes)

    model = train.make_model(apply_fn)
    obj = train.objective(model, "cross_entropy", "mean")
    opt = train.optimizer("adam", lr)
    x_test_j = jnp.asarray(x_test, jnp.float32)

    def fit_eval(p, x, y, mask):
        state, _ = train.run(obj, opt, opt[0](p), train.Problem(p, x, y, mask), 0, steps)
        p1 = opt[2](state)
        return model(p1, p1, x), model(p1, p1, x_test_j)

    # every (size, draw) run padded to the largest size, the padding rows masked out of the
    # loss: one compilation and one vmapped call for all runs
    m = max(ix.shape[1] for ix in draws)
    idx_all = np.concatenate([np.pad(ix, ((0, 0), (0, m - ix.shape[1])), mode="edge") for ix in draws])
    mask = np.concatenate([np.broadcast_to(np.arange(m) < ix.shape[1], (n_draws, m)) for ix in draws])
    params = kernels.normal_init(init_fn, (-1,) + x_pool.shape[1:], seed=seed,
                                 n_members=len(idx_all), dtype=np.float32)
    f_tr, f_te = jax.device_get(jax.jit(jax.vmap(fit_eval))(
        params, jnp.asarray(x_pool[idx_all], jnp.float32), jnp.asarray(y_pool[idx_all], jnp.int32),
        jnp.asarray(mask, jnp.float32)))
    hit_tr = np.argmax(f_tr, axis=-1) == y_pool[idx_all]
    n_train = (np.sum(hit_tr * mask, axis=-1) / mask.sum(axis=-1)).reshape(len(draws), n_draws)
    n_acc = np.mean(np.argmax(f_te, axis=-1) == y_test, axis=-1).reshape(len(draws), n_draws)

    k_acc = np.zeros((len(draws), n_draws))
    for i, idx in enumerate(progress_bar(draws, progress, desc="kernel regression")):
        for d, ix in enumerate(idx):
            pred = krr.fit_predict(k_pool[np.ix_(ix, ix)], eye[y_pool[ix]], k_test_pool[:, ix], reg=reg)
            k_acc[i, d] = metrics.accuracy(pred, y_test)
    return FewShot(np.asarray(check_int_sequence(shots, "shots")), draws, k_acc, n_acc, n_train)
