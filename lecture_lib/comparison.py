"""Finite networks versus their infinite-width kernels (notebook 04).

Four tools, one per part of the slides "NTK vs NN" and "Why the NTK?":

* **Finite vs infinite width** (Lee et al., NeurIPS'20): :func:`gd_outputs`
  trains an *ensemble* of networks with full-batch gradient descent (vmapped
  over the members, optionally *centred*: ``f - f0``), :func:`width_sweep`
  repeats it over widths and compares with the NTK prediction at the same
  step and with NTK/NNGP kernel regression.
* **Cost of kernel regression** (the "superquadratic" remark): best-of-k
  timings of the kernel computation and of the Cholesky solve vs the number of
  samples (:func:`cost_scaling`), power-law fits (:func:`fit_exponent`,
  :func:`crossover`) and XLA's memory accounting of a kernel computation with
  and without ``nt.batch`` (:func:`kernel_memory`).
* **Small data** (Arora et al., ICLR'20): :class:`GramStackClassifier`, an
  SVM / kernel-ridge classifier on precomputed Gram matrices (one per
  hyperparameter, e.g. NTK depth) that plugs into scikit-learn's
  ``GridSearchCV``; :func:`nested_cv` scores it and any scikit-learn baseline
  with the same outer and inner folds; :func:`format_table`.
  :func:`rbf_kernel` and :func:`laplace_kernel` put other kernels on the
  same footing (same folds, same SVM).
* **Early-time linearity** (Hu et al., NeurIPS'20): :func:`linearization_gap`
  trains a network and its first-order Taylor expansion (``nt.linearize``) in
  lock-step and measures how far they drift apart.

Conventions: the training loss is the one of :mod:`lecture_lib.train`,
``L = 1/(2n) sum_i ||f(x_i) - y_i||^2``; one GD step with learning rate ``lr``
moves the outputs, to first order, by ``-(lr/n) Theta (f - y)``, so the kernel
prediction after ``s`` steps is ``krr.gd_dynamics_discrete`` with ``lr/n``.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sklearn.base import BaseEstimator, ClassifierMixin

from .validation import check_array, check_choice, check_same_length, check_scalar

__all__ = [
    "best_time", "cost_scaling", "max_stable_lr", "fit_exponent", "crossover", "kernel_memory",
    "gap_covariance_bytes", "gd_outputs", "width_sweep", "relative_gap",
    "linearization_gap", "GramStackClassifier", "gram_stack", "nested_cv", "pooled",
    "format_table", "rbf_kernel", "laplace_kernel",
]


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #
def _x64():
    """Context enabling float64 in JAX locally (no-op when already global)."""
    import jax

    if jax.config.jax_enable_x64:
        return contextlib.nullcontext()
    from jax.experimental import enable_x64

    return enable_x64()


def _tqdm(iterable, progress: bool, **kwargs):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def _check_sizes(values: Any, name: str, min_value: int = 1) -> list[int]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of integers, got {type(values).__name__}")
    out = []
    for v in values:
        check_scalar(v, name, kind=int, min_value=min_value)
        out.append(int(v))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _block(x):
    """Wait for JAX's asynchronous dispatch (works for numpy and pytrees)."""
    import jax

    return jax.block_until_ready(x)


# --------------------------------------------------------------------------- #
# cost of kernel regression
# --------------------------------------------------------------------------- #
def best_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeats`` wall time (seconds) of ``fn()``, after ``warmup`` calls.

    The minimum, not the mean: on a shared CPU other processes only ever add
    time, so the minimum is the least noisy estimate of the cost.  JAX results
    are waited for (``block_until_ready``).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_scalar(repeats, "repeats", kind=int, min_value=1)
    check_scalar(warmup, "warmup", kind=int, min_value=0)
    for _ in range(warmup):
        _block(fn())
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        _block(fn())
        best = min(best, time.perf_counter() - t0)
    return float(best)


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
      dict with arrays ``n``, ``kernel_s``, ``solve_s``, ``total_s`` (seconds).
    """
    from . import kernels

    x_pool = check_array(x_pool, "x_pool", ndim=(2, 4))
    ns = _check_sizes(ns, "ns")
    if any(b <= a for a, b in zip(ns, ns[1:])):
        raise ValueError(f"ns must be strictly increasing, got {ns}")
    if ns[-1] > x_pool.shape[0]:
        raise ValueError(f"x_pool must have at least max(ns)={ns[-1]} rows, got {x_pool.shape[0]}")
    check_scalar(reg, "reg", min_value=0.0)
    rng = np.random.default_rng(0)
    check_scalar(repeats, "repeats", kind=int, min_value=1)

    def kernel_call(n):
        return kernels.analytic_kernel(kernel_fn, x_pool[:n], get=get, batch_size=batch_size,
                                       dtype=dtype)

    for n in _tqdm(ns, progress, desc="compile", leave=False):  # warm-up: compile every shape
        _block(kernel_call(n))
    k_s = np.full(len(ns), np.inf)
    s_s = np.full(len(ns), np.inf if solve else np.nan)
    # Interleave: round r times every size, so a burst of load from other processes
    # inflates one round of all sizes rather than all rounds of one size.  Only one
    # Gram matrix is alive at a time (memory ~ max(ns)^2, not sum(ns^2)).
    for _ in _tqdm(range(repeats), progress, desc="timing rounds", leave=False):
        for i, n in enumerate(ns):
            t0 = time.perf_counter()
            gram = _block(kernel_call(n))
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
    return {"n": np.asarray(ns), "kernel_s": k_s, "solve_s": s_s,
            "total_s": k_s + np.nan_to_num(s_s)}


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


def fit_exponent(n: Any, t: Any, last: int | None = None) -> float:
    """Exponent ``p`` of the least-squares power law ``t ~ c n^p`` (log-log fit).

    ``last``: fit only the ``last`` largest sizes (fixed overheads flatten the
    small-``n`` end of timing curves).
    """
    n = check_array(n, "n", ndim=1, dtype=float)
    t = check_array(t, "t", ndim=1, dtype=float)
    check_same_length("n", n, "t", t)
    if last is not None:
        check_scalar(last, "last", kind=int, min_value=2)
        n, t = n[-last:], t[-last:]
    if n.size < 2:
        raise ValueError("n must hold at least 2 sizes to fit an exponent")
    if np.any(n <= 0) or np.any(t <= 0):
        raise ValueError("n and t must be positive for a log-log fit")
    p, _ = np.polyfit(np.log(n), np.log(t), 1)
    return float(p)


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
    pa, la = np.polyfit(np.log(n), np.log(t_a), 1)
    pb, lb = np.polyfit(np.log(n_b), np.log(t_b), 1)
    if np.isclose(pa, pb):
        return float("inf")
    return float(np.exp((la - lb) / (pb - pa)))


_MEMORY_CACHE: dict = {}  # (id(kernel_fn), shape, dtype, get) -> XLA memory stats


def kernel_memory(
    kernel_fn: Callable,
    x: Any,
    get: str = "ntk",
    batch_size: int = 0,
    dtype: Any = "float32",
) -> dict[str, int]:
    """XLA's memory accounting of computing ``k(x, x)``, without running it.

    Compiles the kernel computation and reads ``memory_analysis()`` of the
    executable: ``temp`` = bytes of intermediate buffers XLA allocates
    (the peak working memory on top of inputs and outputs), ``output`` = bytes
    of the result.  With ``batch_size > 0`` the computation is the one
    ``nt.batch`` compiles, on one ``batch_size x batch_size`` block; the full
    ``n x n`` result is then assembled on the host (``output`` reports its size).

    Returns:
      dict ``temp``, ``output``, ``peak`` (= temp + output + arguments), in bytes.
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
    ctx = _x64() if dtype == "float64" else contextlib.nullcontext()
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
    return {"temp": temp, "output": output, "peak": temp + output + args}


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
def max_stable_lr(k_train: Any) -> float:
    """Largest stable GD learning rate ``2 n / lambda_max(K)`` for the loss of this module.

    One step moves the training outputs by ``-(lr/n) K (f - y)``; the linearised
    dynamics converge iff ``lr * lambda_max / n < 2``.  Above it the network
    can still converge after a "catapult" (Lewkowycz et al. 2020), the linear
    model cannot.
    """
    k = check_array(k_train, "k_train", ndim=2, dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k_train must be square, got shape {k.shape}")
    lam = float(np.linalg.eigvalsh(0.5 * (k + k.T))[-1])
    if lam <= 0:
        raise ValueError("k_train must have a positive eigenvalue")
    return 2.0 * k.shape[0] / lam


def _linearized(apply_fn: Callable) -> Callable:
    """``g(p, p0, x) = f(p0, x) + J_p f(p0, x) (p - p0)`` -- what ``nt.linearize``
    computes, with ``p0`` an argument instead of a closure constant (closure
    constants make XLA constant-fold the network and compile for minutes)."""
    import jax

    def g(p, p0, x):
        dp = jax.tree.map(lambda a, b: a - b, p, p0)
        f0, df = jax.jvp(lambda q: apply_fn(q, x), (p0,), (dp,))
        return f0 + df

    return g


def _gd_run(model, params, x_train, y, x_eval, lr, steps, centred, ensemble):
    """GD on ``model(p, p0, x)``; data and ``p0`` are jit arguments, never constants."""
    import jax
    import jax.numpy as jnp

    n = x_train.shape[0]

    def outs(p, p0, xt, xe):
        ft, fe = model(p, p0, xt), model(p, p0, xe)
        if centred:
            ft, fe = ft - model(p0, p0, xt), fe - model(p0, p0, xe)
        return ft, fe

    def run(p, p0, xt, yt, k):
        f0 = model(p0, p0, xt) if centred else 0.0

        def loss(q):
            return 0.5 * jnp.sum((model(q, p0, xt) - f0 - yt) ** 2) / n

        grad = jax.grad(loss)
        return jax.lax.fori_loop(
            0, k, lambda _, q: jax.tree.map(lambda a, g: a - lr * g, q, grad(q)), p)

    if ensemble:
        run_j = jax.jit(jax.vmap(run, in_axes=(0, 0, None, None, None)))
        outs_j = jax.jit(jax.vmap(outs, in_axes=(0, 0, None, None)))
    else:
        run_j, outs_j = jax.jit(run), jax.jit(outs)
    xt, xe, yt = jnp.asarray(x_train), jnp.asarray(x_eval), jnp.asarray(y)
    p0 = params
    p, done = params, 0
    rec_t, rec_e = [], []
    for s in steps:
        if s > done:
            p = run_j(p, p0, xt, yt, s - done)
            done = s
        ft, fe = outs_j(p, p0, xt, xe)
        rec_t.append(np.asarray(ft))
        rec_e.append(np.asarray(fe))
    return {"step": np.asarray(steps), "train": np.stack(rec_t), "eval": np.stack(rec_e),
            "params": p}


def _check_gd_args(apply_fn, x_train, y_train, x_eval, lr, record_steps):
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    x_train = check_array(x_train, "x_train", min_ndim=2)
    y_train = check_array(y_train, "y_train", ndim=(1, 2))
    x_eval = check_array(x_eval, "x_eval", min_ndim=2)
    check_same_length("x_train", x_train, "y_train", y_train)
    check_scalar(lr, "lr", strict_min=True, min_value=0.0)
    steps = _check_sizes(record_steps, "record_steps", min_value=0)
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"record_steps must be strictly increasing, got {steps}")
    return x_train, y_train.reshape(len(y_train), -1), x_eval, steps


def gd_outputs(
    apply_fn: Callable,
    params: Any,
    x_train: Any,
    y_train: Any,
    x_eval: Any,
    lr: float,
    record_steps: Sequence[int],
    centred: bool = False,
    ensemble: bool = False,
) -> dict[str, np.ndarray]:
    """Full-batch GD on ``L = 1/(2n) sum_i ||f(x_i) - y_i||^2``; outputs at chosen steps.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n, k)``.
      params: initial parameters; with ``ensemble=True`` a pytree whose leaves
        carry a leading ensemble axis ``E`` (members trained in parallel with
        ``jax.vmap``; stack them with ``jax.tree.map(lambda *a: jnp.stack(a), *ps)``).
      x_train: ``(n, ...)``; y_train: ``(n, k)`` (or ``(n,)``, treated as ``k = 1``).
      x_eval: ``(m, ...)`` points where the outputs are recorded.
      lr: learning rate (see :func:`max_stable_lr`).
      record_steps: increasing step counts (``0`` = initialisation).
      centred: train ``f(x) - f_0(x)`` (the network minus its initial function),
        the trick of Lee et al. that removes the random initial function
        whose infinite-width limit is a Gaussian process (NNGP prior sample).

    Returns:
      dict ``step`` ``(T,)``, ``train`` ``(T, [E,] n, k)``, ``eval`` ``(T, [E,] m, k)``,
      ``params`` (final parameters).  Outputs are the centred ones when ``centred``.
    """
    x_train, y, x_eval, steps = _check_gd_args(apply_fn, x_train, y_train, x_eval, lr,
                                               record_steps)
    return _gd_run(lambda p, p0, x: apply_fn(p, x), params, x_train, y, x_eval, lr, steps,
                   centred, ensemble)


def relative_gap(f: Any, f_ref: Any) -> np.ndarray:
    """``||f - f_ref||_F / ||f_ref||_F`` over the last two axes (examples, outputs).

    ``f``: ``(..., m, k)``; ``f_ref``: ``(m, k)`` or broadcastable.  Returns an
    array of the leading shape of ``f`` (e.g. one gap per ensemble member).
    """
    f = check_array(f, "f", min_ndim=2)
    f_ref = check_array(f_ref, "f_ref", min_ndim=2)
    denom = np.linalg.norm(f_ref, axis=(-2, -1))
    if np.any(denom == 0):
        raise ValueError("f_ref must not be all zeros")
    return np.linalg.norm(f - f_ref, axis=(-2, -1)) / denom


def _accuracy(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy over the example axis (-2) for one-hot ``y`` (m, k); any leading axes."""
    return np.mean(np.argmax(pred, axis=-1) == np.argmax(y, axis=-1), axis=-1)


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
) -> dict[str, Any]:
    """Centred networks of growing width versus the infinite-width kernel (Lee et al. '20).

    For each width, ``n_ensemble`` fully connected networks (``kernels.fc``,
    NTK parameterisation) are trained with ``steps`` full-batch GD steps from
    independent initialisations, *centred* (``f - f_0``).  The infinite-width
    prediction of the same procedure is linear GD with the NTK,
    ``f_s(x) = Theta_xX Theta^-1 (I - (I - lr/n Theta)^s) y``
    (``krr.gd_dynamics_discrete``); after infinitely many steps it is NTK kernel
    regression.  NNGP regression (the Bayesian posterior mean) is reported too.
    Networks train in float32 (members vmapped, one compilation per width);
    kernels and closed forms are float64.

    Args:
      widths: hidden widths, increasing.
      x_train, x_test: ``(n, d)``, ``(m, d)``.  y_train, y_test: one-hot ``(n, k)``, ``(m, k)``.
      depth: hidden layers.  lr, steps: GD.  reg: ridge of the kernel regressions.
      seed: member ``e`` of every width uses ``PRNGKey(seed + e)``.

    Returns:
      dict with ``widths`` ``(W,)``; ``pred_test`` ``(W, E, m, k)`` network outputs;
      ``ntk_gd_test`` ``(m, k)`` infinite-width prediction after ``steps`` steps;
      ``ntk_krr_test``, ``nngp_krr_test`` ``(m, k)``; ``gap`` ``(W, E)``
      = ``relative_gap(pred_test, ntk_gd_test)``; ``gap_ensemble`` ``(W,)``
      = gap of the ensemble mean; ``test_mse`` ``(W, E)`` and ``test_acc``
      ``(W, E)``; ``ensemble_acc`` ``(W,)``; ``ntk_gd_acc``, ``ntk_krr_acc``,
      ``nngp_krr_acc``, ``ntk_gd_mse``, ``ntk_krr_mse``, ``nngp_krr_mse`` floats.
    """
    import jax
    import jax.numpy as jnp

    from . import kernels, krr

    widths = _check_sizes(widths, "widths")
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
                                      lr=lr / n)
    ntk_gd_test = np.asarray(ntk_gd.test)
    ntk_krr = krr.fit_predict(ntk[tr, tr], y_train, ntk[te, tr], reg=reg)
    nngp_krr = krr.fit_predict(nngp[tr, tr], y_train, nngp[te, tr], reg=reg)

    preds = []
    for width in _tqdm(widths, progress, desc="width"):
        init_fn, apply_fn, _ = kernels.fc(depth=depth, width=width, activation=activation,
                                          W_std=W_std, b_std=b_std, out_dim=k)
        members = [init_fn(jax.random.PRNGKey(seed + e), (-1, x_train.shape[1]))[1]
                   for e in range(n_ensemble)]
        stacked = jax.tree.map(lambda *a: jnp.stack(a).astype(jnp.float32), *members)
        out = gd_outputs(apply_fn, stacked, x_train.astype(np.float32),
                         y_train.astype(np.float32), x_test.astype(np.float32), lr, [steps],
                         centred=True, ensemble=True)
        preds.append(out["eval"][-1].astype(np.float64))
    pred = np.stack(preds)  # (W, E, m, k)

    def mse(p):
        return 0.5 * np.mean(np.sum((p - y_test) ** 2, axis=-1), axis=-1)

    return {
        "widths": np.asarray(widths), "pred_test": pred, "ntk_gd_test": ntk_gd_test,
        "ntk_krr_test": ntk_krr, "nngp_krr_test": nngp_krr,
        "gap": relative_gap(pred, ntk_gd_test),
        "gap_ensemble": relative_gap(pred.mean(axis=1), ntk_gd_test),
        "test_mse": mse(pred), "test_acc": _accuracy(pred, y_test),
        "ensemble_acc": _accuracy(pred.mean(axis=1), y_test),
        "ntk_gd_acc": float(_accuracy(ntk_gd_test, y_test)),
        "ntk_krr_acc": float(_accuracy(ntk_krr, y_test)),
        "nngp_krr_acc": float(_accuracy(nngp_krr, y_test)),
        "ntk_gd_mse": float(mse(ntk_gd_test)), "ntk_krr_mse": float(mse(ntk_krr)),
        "nngp_krr_mse": float(mse(nngp_krr)),
    }


def linearization_gap(
    apply_fn: Callable,
    params: Any,
    x_train: Any,
    y_train: Any,
    x_eval: Any,
    lr: float,
    record_steps: Sequence[int],
) -> dict[str, np.ndarray]:
    """Train a network and its linearisation in lock-step and measure how they part.

    ``f_lin(w, x) = f(w0, x) + J(w0, x)(w - w0)`` (``nt.linearize``) is trained
    with the same GD (same ``lr``, same data, same initialisation) as ``f``.
    (Computed with ``jax.jvp`` exactly as ``nt.linearize`` does, but with ``w0``
    passed as an argument so that compilation stays fast.)  Use
    ``lr < max_stable_lr(ntk)``: above it the linear model diverges.

    Returns:
      dict ``step`` ``(T,)``; ``gap`` ``(T,)`` = ``||f_t - f_lin,t|| / ||f_lin,t - f_0||``
      on ``x_eval`` (the part of the learned change that the linear model misses;
      NaN at step 0); ``gap_abs`` ``(T,)`` = ``||f_t - f_lin,t|| / sqrt(m)``;
      ``loss_net``, ``loss_lin`` ``(T,)`` training losses.
    """
    x_train, y, x_eval, steps = _check_gd_args(apply_fn, x_train, y_train, x_eval, lr,
                                               record_steps)
    net = _gd_run(lambda p, p0, x: apply_fn(p, x), params, x_train, y, x_eval, lr, steps,
                  False, False)
    lin = _gd_run(_linearized(apply_fn), params, x_train, y, x_eval, lr, steps, False, False)
    diff = np.linalg.norm(net["eval"] - lin["eval"], axis=(-2, -1))
    change = np.linalg.norm(lin["eval"] - lin["eval"][:1], axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(change > 0, diff / np.where(change > 0, change, 1.0), np.nan)

    def loss(f):
        return 0.5 * np.mean(np.sum((f - y) ** 2, axis=-1), axis=-1)

    return {"step": net["step"], "gap": gap, "gap_abs": diff / np.sqrt(net["eval"].shape[1]),
            "loss_net": loss(net["train"]), "loss_lin": loss(lin["train"])}


# --------------------------------------------------------------------------- #
# small-data comparison (Arora et al. ICLR'20)
# --------------------------------------------------------------------------- #
def gram_stack(kernel_fns: Sequence[Callable] | Mapping[Any, Callable], x: Any,
               get: str = "ntk") -> np.ndarray:
    """Stack of Gram matrices ``(n, n, K)``, one per kernel function, in float64.

    ``kernel_fns``: stax kernel functions (e.g. NTKs of several depths) or plain
    callables ``f(x1, x2) -> (n1, n2)`` (e.g. :func:`rbf_kernel` partials); a
    callable is treated as stax when it accepts ``get=``.  The stack is the ``X``
    of :class:`GramStackClassifier`.
    """
    import jax.numpy as jnp

    fns = list(kernel_fns.values()) if isinstance(kernel_fns, Mapping) else list(kernel_fns)
    if not fns:
        raise ValueError("kernel_fns must not be empty")
    x = check_array(x, "x", ndim=(2, 4))
    get = check_choice(get, "get", ("ntk", "nngp"))
    grams = []
    for f in fns:
        if not callable(f):
            raise TypeError(f"kernel_fns must hold callables, got {type(f).__name__}")
        if getattr(f, "_is_plain_kernel", False):
            grams.append(np.asarray(f(x, x), dtype=np.float64))
        else:  # eager call: for one Gram matrix, compiling costs more than it saves
            with _x64():
                grams.append(np.asarray(f(jnp.asarray(x, dtype=jnp.float64), None, get),
                                        dtype=np.float64))
    return np.stack(grams, axis=-1)


def _plain(f):
    f._is_plain_kernel = True
    return f


def rbf_kernel(gamma: float) -> Callable[[Any, Any], np.ndarray]:
    """``k(x, x') = exp(-gamma ||x - x'||^2 / d)`` (``d`` = number of features)."""
    check_scalar(gamma, "gamma", min_value=0.0, strict_min=True)

    def k(x1, x2):
        from sklearn.metrics.pairwise import rbf_kernel as rbf

        a, b = np.reshape(x1, (len(x1), -1)), np.reshape(x2, (len(x2), -1))
        return rbf(a, b, gamma=gamma / a.shape[1])

    return _plain(k)


def laplace_kernel(gamma: float) -> Callable[[Any, Any], np.ndarray]:
    """``k(x, x') = exp(-gamma ||x - x'||_2 / sqrt(d))`` (the Laplace kernel, L2 distance)."""
    check_scalar(gamma, "gamma", min_value=0.0, strict_min=True)

    def k(x1, x2):
        from sklearn.metrics.pairwise import euclidean_distances

        a, b = np.reshape(x1, (len(x1), -1)), np.reshape(x2, (len(x2), -1))
        return np.exp(-gamma * euclidean_distances(a, b) / np.sqrt(a.shape[1]))

    return _plain(k)




class GramStackClassifier(ClassifierMixin, BaseEstimator):
    """Kernel SVM or kernel ridge classifier on precomputed Gram matrices.

    ``X`` is not a feature matrix but a Gram stack: ``fit(K[train][:, train], y)``
    and ``predict(K[test][:, train])`` with ``K`` of shape ``(n, n, n_kernels)``
    from :func:`gram_stack`; ``kernel`` selects the slice.  scikit-learn's
    cross-validation splits both axes of such "pairwise" inputs, so the whole
    grid (kernel slice, ``C`` / ``reg``) can be searched with ``GridSearchCV``
    without recomputing any kernel.  This is the protocol of Arora et al.
    (ICLR'20): NTK of several depths as a precomputed kernel of an SVM.

    Parameters: ``kernel`` (int, slice of the stack), ``solver`` ("svm": ``SVC``
    with one-vs-one, parameter ``C``; "krr": ridge regression on one-hot labels
    ``(K + reg * mean(diag K) I) a = Y``, prediction by argmax).
    """

    def __init__(self, kernel: int = 0, solver: str = "svm", C: float = 1.0, reg: float = 1e-3):
        self.kernel = kernel
        self.solver = solver
        self.C = C
        self.reg = reg

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = True
        return tags

    def _slice(self, X, name):
        X = check_array(X, name, ndim=3)
        check_scalar(self.kernel, "kernel", kind=int, min_value=0, max_value=X.shape[2] - 1)
        return X[:, :, self.kernel]

    def fit(self, X, y):
        solver = check_choice(self.solver, "solver", ("svm", "krr"))
        k = self._slice(X, "X")
        if k.shape[0] != k.shape[1]:
            raise ValueError(f"X must be a square Gram stack (n, n, K) for fit, got {X.shape}")
        y = check_array(y, "y", ndim=1, finite=False)
        check_same_length("X", k, "y", y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if solver == "svm":
            from sklearn.svm import SVC

            check_scalar(self.C, "C", min_value=0.0, strict_min=True)
            self.model_ = SVC(kernel="precomputed", C=self.C).fit(k, codes)
        else:
            from . import krr

            check_scalar(self.reg, "reg", min_value=0.0)
            onehot = np.eye(len(self.classes_))[codes]
            self.alpha_ = krr.fit(k, onehot - onehot.mean(axis=0), reg=self.reg)
            self.offset_ = onehot.mean(axis=0)
        return self

    def decision_function(self, X):
        k = self._slice(X, "X")
        if self.solver == "svm":
            return self.model_.decision_function(k)
        from . import krr

        return krr.predict(k, self.alpha_) + self.offset_

    def predict(self, X):
        k = self._slice(X, "X")
        if self.solver == "svm":
            return self.classes_[self.model_.predict(k)]
        from . import krr

        return self.classes_[np.argmax(krr.predict(k, self.alpha_) + self.offset_, axis=1)]


def nested_cv(
    estimator: Any,
    param_grid: Mapping[str, Sequence[Any]] | None,
    X: Any,
    y: Any,
    n_splits: int = 5,
    inner_splits: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Outer-fold test accuracies of ``estimator`` tuned by an inner grid search.

    Outer: ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``;
    inner: ``GridSearchCV(estimator, param_grid, cv=StratifiedKFold(inner_splits,
    shuffle=True, random_state=seed + 1))`` refitted on each outer training part.
    Every model compared with the same ``seed`` sees the same folds, so the
    comparison is paired.  ``param_grid=None`` skips the inner search.
    ``X`` may be a feature matrix or a Gram stack (:class:`GramStackClassifier`).

    Returns:
      ``np.ndarray`` ``(n_splits,)`` of test accuracies.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

    y = check_array(y, "y", ndim=1, finite=False)
    if not hasattr(estimator, "fit"):
        raise TypeError(f"estimator must be a scikit-learn estimator, got {type(estimator).__name__}")
    check_scalar(n_splits, "n_splits", kind=int, min_value=2)
    check_scalar(inner_splits, "inner_splits", kind=int, min_value=2)
    check_scalar(seed, "seed", kind=int, min_value=0)
    outer = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    model = estimator
    if param_grid:
        inner = StratifiedKFold(inner_splits, shuffle=True, random_state=seed + 1)
        model = GridSearchCV(estimator, dict(param_grid), cv=inner)
    return np.asarray(cross_val_score(model, X, y, cv=outer), dtype=float)


def pooled(ds: Any, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Join a ``data.Dataset``'s train and test parts into one ``(x, y)`` for cross-validation.

    Load the data set without standardisation (``standardize=False``) and let
    this z-score every feature over the pooled set (the preprocessing of the
    UCI benchmark of Fernandez-Delgado et al. used by Arora et al.; labels are
    not used, so no label information leaks across folds).  Image inputs are
    flattened to ``(n, d)``.
    """
    if not isinstance(ds, tuple) or len(ds) != 4:
        raise TypeError(f"ds must be a Dataset (x_train, y_train, x_test, y_test), got {type(ds).__name__}")
    x = np.concatenate([check_array(ds[0], "ds.x_train", min_ndim=2),
                        check_array(ds[2], "ds.x_test", min_ndim=2)])
    y = np.concatenate([check_array(ds[1], "ds.y_train", ndim=1),
                        check_array(ds[3], "ds.y_test", ndim=1)])
    x = x.reshape(len(x), -1).astype(np.float64)
    if standardize:
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return x, y


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
