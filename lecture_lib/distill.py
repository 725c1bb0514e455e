r"""Dataset distillation: learn a small synthetic training set that trains a model as well as
the real data does.

KIP: kernel inducing points (Nguyen, Chen, Lee ICLR'21; Nguyen, Novak, Xiao, Lee NeurIPS'21)
-------------------------------------------------------------------------------------------
A labelled *support set* ``(X_s, y_s)`` of ``m`` points is the training set of kernel ridge
regression; its loss on a batch ``(X_t, y_t)`` of the real *target* data (eq. 7 of the ICLR
paper) is::

    L(X_s, y_s) = 1/2 mean_{i in batch} || y_t,i - K(x_t,i, X_s) (K(X_s, X_s) + lam I)^{-1} y_s ||^2,
    lam = reg * tr(K(X_s, X_s)) / m

(:func:`kip_loss`; the KRR solve is :func:`lecture_lib.krr.krr_jax`).  Algorithm 1: sample a
kernel (from a family, or the one fixed kernel), a batch of the support and a batch of the
target data; back-propagate ``L`` into ``X_s`` (and optionally ``y_s``); update with Adam.

* Pure core, ``jit``/``vmap``-able: :func:`krr_predict`, :func:`kip_loss`,
  :func:`kip_objective` (``L(support, x_t, y_t, key, kernel_index)``) and :func:`kip_run`
  (the optimiser steps ``start .. stop-1`` in a ``lax.fori_loop``, writing each step's loss
  and whether its loss and gradient were finite into buffers).
* Checked loop: :func:`kip` validates its input, runs the core in chunks between records,
  checks finiteness after every chunk and returns a :class:`KIPResult`.
* ``perturb(predict, x_t, y_t, key) -> x_t'`` replaces each target batch before the loss,
  with ``predict(x) = K(x, X_s)(K_ss + lam I)^{-1} y_s`` the current KRR predictor and the
  result a constant for the gradient -- the same hook as :func:`lecture_lib.train.run`
  (adversarial KIP, Tsilivis, Su, Kempe 2022: ``perturb`` = a
  :func:`lecture_lib.attacks.pgd_jax` attack on ``predict``).

Pitfall: the ReLU NTK/NNGP contains ``arccos`` of the cosine between two inputs, whose
derivative is infinite at angle 0.  A support point that coincides with (or is parallel to)
a target point -- e.g. right after initialising the support with real images that are also
in the target set -- can give NaN/inf gradients, notably in float32.  :func:`kip` checks the
loss and the gradient of every step (``on_nonfinite="raise"`` or ``"skip"``).

Neural-network-based distillation (the background methods)
---------------------------------------------------------
All three differentiate through training steps of a network written with the GD core
(:func:`lecture_lib.train.objective` / :func:`lecture_lib.train.run`):

* :func:`unrolled_loss` -- ``L_outer(theta_T)`` after ``T`` GD steps of size ``lr`` on
  ``L_inner`` from ``theta_0``.  Dataset distillation of Wang, Zhu, Torralba, Efros ('18)
  differentiates it with respect to the synthetic inputs and ``lr`` (averaging over random
  ``theta_0``); MAML (Finn, Abbeel, Levine ICML'17) with respect to ``theta_0`` (averaging
  over tasks): the same bi-level problem.
* :func:`gradient_match_distance`, :func:`gradient_match_loss` -- gradient matching (Zhao,
  Mopuri, Bilen ICLR'21): per class, the gradient of the loss on real and on synthetic data
  should point the same way, layer by layer and output unit by output unit.
* :func:`trajectory_match_loss` -- matching training trajectories (Cazenavette et al.
  CVPR'22): ``N`` GD steps on the synthetic data from an expert's parameters at epoch ``t``
  should land near the expert at epoch ``t + M``.

Helpers: :func:`class_balanced_indices` (random real subsets with the same number of images per
class), :func:`zca_whitening` (the regularised ZCA of the KIP papers for RGB images).
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import krr, losses, metrics
from . import train as _train
from .precision import resolve_dtype
from .progress import progress as _progress
from .validation import (
    check_array, check_choice, check_int_sequence, check_key, check_same_length, check_scalar,
)

__all__ = [
    "Support", "KIPProblem", "KIPResult", "krr_predict", "kip_loss", "kip_objective", "kip_run",
    "kip", "unrolled_loss", "gradient_match_distance", "gradient_match_loss",
    "trajectory_match_loss", "class_balanced_indices", "zca_whitening", "NONFINITE_POLICIES",
]

NONFINITE_POLICIES: tuple[str, ...] = ("raise", "skip")


class Support(NamedTuple):
    """The learned support set: inputs ``x (m, ...)`` and labels ``y (m, k)`` (a pytree)."""

    x: Any
    y: Any


class KIPProblem(NamedTuple):
    """Arguments of :func:`kip_run` (all jit arguments): target inputs ``x (n, ...)`` and labels
    ``y (n, k)``, a PRNG ``key`` (target/support batches, kernel samples, ``perturb``), the
    ridge ``reg`` and ``label_scale`` (1: learn the labels, 0: keep them)."""

    x: Any
    y: Any
    key: Any
    reg: Any = 1e-6
    label_scale: Any = 0.0


# --------------------------------------------------------------------------- #
# pure core
# --------------------------------------------------------------------------- #
def krr_predict(kernel_fn: Callable, x_support: Any, y_support: Any, x: Any, *, reg: Any = 1e-6,
                get: str = "ntk") -> jnp.ndarray:
    """``K(x, X_s) (K(X_s, X_s) + lam I)^{-1} y_s`` with ``lam = reg tr(K_ss)/m`` (pure, jnp).

    ``kernel_fn(x1, x2, get)`` is a neural-tangents ``kernel_fn`` (e.g. ``kernels.fc(...)[2]``)
    or any function with that signature returning ``(n1, n2)``.  Returns ``(n, k)``.
    """
    k_ss = kernel_fn(x_support, x_support, get)
    k_xs = kernel_fn(x, x_support, get)
    return krr.krr_jax(k_ss, y_support, k_xs, reg)


def kip_loss(kernel_fn: Callable, x_support: Any, y_support: Any, x_target: Any, y_target: Any, *,
             reg: Any = 1e-6, get: str = "ntk") -> jnp.ndarray:
    """The KRR loss of KIP, ``1/2 mean_i ||y_t,i - K_ts (K_ss + lam I)^{-1} y_s||^2`` (pure).

    ``losses.mse`` with ``reduction="mean"`` on the KRR prediction for ``x_target`` from the
    support (see :func:`krr_predict`).  Differentiable in ``x_support``, ``y_support``,
    ``x_target`` and ``reg``.
    """
    pred = krr_predict(kernel_fn, x_support, y_support, x_target, reg=reg, get=get)
    return losses.mse(pred, y_target)


def _kernel_tuple(kernel_fns: Any) -> tuple[Callable, ...]:
    fns = (kernel_fns,) if callable(kernel_fns) else tuple(kernel_fns) if isinstance(
        kernel_fns, (list, tuple)) else None
    if not fns:
        raise TypeError("kernel_fn must be a kernel function or a non-empty list of kernel functions, "
                        f"got {type(kernel_fns).__name__}")
    for f in fns:
        if not callable(f):
            raise TypeError(f"kernel_fn must hold callables, got {type(f).__name__}")
    return fns


def kip_objective(kernel_fns: Any, *, get: str = "ntk", perturb: Callable | None = None) -> Callable:
    """``L(support, x_t, y_t, key, kernel_index, reg) -> (loss, prediction)`` (pure).

    Args:
      kernel_fns: one kernel function or a sequence of them (the family of Algorithm 1);
        ``kernel_index`` (may be traced) picks one with ``lax.switch``.
      get: ``"ntk"`` or ``"nngp"``.
      perturb: optional ``perturb(predict, x_t, y_t, key) -> x_t'`` applied to the target batch
        first (its output is a constant for the gradient); ``predict`` is the KRR predictor of
        the current support with the selected kernel.
    """
    fns = _kernel_tuple(kernel_fns)
    get = check_choice(get, "get", ("ntk", "nngp"))
    if perturb is not None and not callable(perturb):
        raise TypeError(f"perturb must be callable, got {type(perturb).__name__}")

    def kernel(index, a, b):
        if len(fns) == 1:
            return fns[0](a, b, get)
        return jax.lax.switch(index, [lambda a_, b_, f=f: f(a_, b_, get) for f in fns], a, b)

    def predict_with(index, support, x, reg):
        k_ss = kernel(index, support.x, support.x)
        return krr.krr_jax(k_ss, support.y, kernel(index, x, support.x), reg)

    def L(support, x_t, y_t, key, kernel_index, reg):
        support = Support(*support)
        if perturb is not None:
            frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, support)
            x_t = jax.lax.stop_gradient(
                perturb(lambda z: predict_with(kernel_index, frozen, z, reg), x_t, y_t, key))
        pred = predict_with(kernel_index, support, x_t, reg)
        return losses.mse(pred, y_t), pred

    L.n_kernels = len(fns)
    return L


def kip_run(
    objective_fn: Callable,
    opt: tuple[Callable, Callable, Callable],
    state: Any,
    problem: KIPProblem,
    start: Any,
    stop: Any,
    loss_buffer: Any,
    finite_buffer: Any,
    *,
    n_kernels: int = 1,
    target_batch: int | None = None,
    support_batch: int | None = None,
) -> tuple[Any, Any, Any]:
    """KIP steps ``start, ..., stop - 1`` (pure; ``jit``/``vmap``-able).

    Step ``i`` uses ``key_i = fold_in(problem.key, i)`` to draw a kernel index (uniform over
    ``n_kernels``), a target batch of ``target_batch`` rows without replacement (``None``: all
    rows), a support batch of ``support_batch`` rows (``None``: the whole support; rows outside
    the batch get a zero gradient) and the key of ``perturb``.  The label gradient is multiplied
    by ``problem.label_scale``.  A step whose loss or gradient is not finite is *not applied*.

    Args:
      objective_fn: from :func:`kip_objective`.
      opt: ``(init, update, get_params)`` (e.g. :func:`lecture_lib.train.optimizer`);
        ``state = opt[0](Support(x, y))`` initially.
      problem: :class:`KIPProblem`.
      start, stop: step range (may be traced).
      loss_buffer: ``(T,)`` float array, ``T >= stop``; entry ``i`` receives the batch loss
        before update ``i``.
      finite_buffer: ``(T,)`` bool array; entry ``i`` receives whether step ``i`` was finite.
      n_kernels, target_batch, support_batch: static.

    Returns:
      ``(state, loss_buffer, finite_buffer)``.
    """
    _, opt_update, get_params = opt
    n = problem.x.shape[0]

    def body(i, carry):
        st, buf, ok = carry
        params = get_params(st)
        m = params.x.shape[0]
        k_kernel, k_target, k_support, k_perturb = jax.random.split(
            jax.random.fold_in(problem.key, i), 4)
        index = jax.random.randint(k_kernel, (), 0, n_kernels) if n_kernels > 1 else 0
        x_t, y_t = problem.x, problem.y
        if target_batch is not None:
            idx = jax.random.permutation(k_target, n)[:target_batch]
            x_t, y_t = jnp.take(x_t, idx, axis=0), jnp.take(y_t, idx, axis=0)

        def loss_of(p):
            if support_batch is not None:
                sidx = jax.random.permutation(k_support, m)[:support_batch]
                p = Support(jnp.take(p.x, sidx, axis=0), jnp.take(p.y, sidx, axis=0))
            return objective_fn(p, x_t, y_t, k_perturb, index, problem.reg)

        (value, _), g = jax.value_and_grad(loss_of, has_aux=True)(params)
        g = Support(g.x, g.y * jnp.asarray(problem.label_scale, g.y.dtype))
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(g.x)) & jnp.all(jnp.isfinite(g.y))
        new = opt_update(i, g, st)
        st = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, st)
        return st, buf.at[i].set(value.astype(buf.dtype)), ok.at[i].set(finite)

    return jax.lax.fori_loop(start, stop, body, (state, loss_buffer, finite_buffer))


# --------------------------------------------------------------------------- #
# checked loop
# --------------------------------------------------------------------------- #
class KIPResult(NamedTuple):
    """Output of :func:`kip` (numpy arrays; ``R`` records, ``S`` steps).

    Attributes:
      x, y: final support ``(m, ...)``, ``(m, k)``.
      x_init, y_init: the initial support.
      step: ``(R,)`` updates done at each record (0 = initial support).
      x_history, y_history: ``(R, m, ...)``, ``(R, m, k)`` the support at each record (``None``
        with ``record_support=False``).
      step_loss: ``(S,)`` the target-batch loss before each update (with the sampled kernel).
      finite: ``(S,)`` whether each step's loss and gradient were finite (a non-finite step is
        not applied).
      test_loss, test_acc: ``(R,)`` loss and accuracy of KRR with ``eval_kernel_fn`` from the
        support on ``(x_test, y_test)``, or ``None`` without test data.
      learn_labels, lr, reg: the settings used.
    """

    x: np.ndarray
    y: np.ndarray
    x_init: np.ndarray
    y_init: np.ndarray
    step: np.ndarray
    x_history: np.ndarray | None
    y_history: np.ndarray | None
    step_loss: np.ndarray
    finite: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    learn_labels: bool
    lr: float
    reg: float


@functools.lru_cache(maxsize=64)
def _compiled_chunk(fns: tuple, get: str, perturb: Any, optimizer: str, target_batch: Any,
                    support_batch: Any):
    objective_fn = kip_objective(list(fns), get=get, perturb=perturb)

    def chunk(state, problem, lr, buf, ok, start, stop):
        opt = _train.optimizer(optimizer, lr)
        return kip_run(objective_fn, opt, state, problem, start, stop, buf, ok,
                       n_kernels=len(fns), target_batch=target_batch, support_batch=support_batch)

    return jax.jit(chunk)


@functools.lru_cache(maxsize=64)
def _compiled_eval(kernel_fn: Callable, get: str):
    def ev(x_s, y_s, x, y, reg):
        pred = krr_predict(kernel_fn, x_s, y_s, x, reg=reg, get=get)
        return losses.mse(pred, y), pred

    return jax.jit(ev)


def _record_steps(steps: int, record_every: int | None, record_steps: Sequence[int] | None) -> list[int]:
    """:func:`lecture_lib.train.record_schedule` (about 20 records by default), always with step 0."""
    return sorted(set(_train.record_schedule(steps, record_every, record_steps, default_records=20)) | {0})


def kip(
    kernel_fn: Any,
    x_support: Any,
    y_support: Any,
    x_target: Any,
    y_target: Any,
    *,
    steps: int = 200,
    lr: float = 0.04,
    optimizer: str = "adam",
    learn_labels: bool = False,
    reg: float = 1e-6,
    get: str = "ntk",
    target_batch: int | None = None,
    support_batch: int | None = None,
    key: Any = None,
    perturb: Callable | None = None,
    x_test: Any = None,
    y_test: Any = None,
    eval_kernel_fn: Callable | None = None,
    record_every: int | None = None,
    record_steps: Sequence[int] | None = None,
    record_support: bool = True,
    on_nonfinite: str = "raise",
    dtype: Any = "float64",
    progress: bool = True,
) -> KIPResult:
    """Kernel inducing points (Algorithm 1 of Nguyen et al. ICLR'21) with checks.

    Args:
      kernel_fn: a kernel function ``kernel_fn(x1, x2, get)`` (``kernels.fc(...)[2]``), or a
        sequence of them: every step samples one uniformly ("sample a random kernel": the
        kernel's hyperparameters sampled from a family instead of fixed).
      x_support, y_support: initial support ``(m, ...)`` and labels ``(m, k)``, e.g. a
        class-balanced random subset of the target data (:func:`class_balanced_indices`).
      x_target, y_target: the real data ``(n, ...)``, ``(n, k)`` the support should replace.
      steps: number of updates; lr: step size of ``optimizer`` (``"adam"`` as in the reference
        code, ``"gd"``/``"sgd"`` plain steps).
      learn_labels: also learn ``y_s`` (by the same optimiser).
      reg: ridge, relative to ``tr(K_ss)/m``.
      get: ``"ntk"`` or ``"nngp"``.
      target_batch: rows of the target data per step (``None``: all).
      support_batch: rows of the support per step (``None``: all).
      key: int or PRNG key for the batches, kernel samples and ``perturb`` (default
        ``config.seed()``).
      perturb: ``perturb(predict, x_t, y_t, key) -> x_t'``: transform each target batch (e.g.
        adversarial examples of the current KRR predictor); see :func:`kip_objective`.
      x_test, y_test: held-out data evaluated at every record with ``eval_kernel_fn`` (default:
        the first kernel function).
      record_every / record_steps: records (default 20 equally spaced; step 0 always).
      record_support: keep the support at every record (for figures and widgets).
      on_nonfinite: ``"raise"`` a ``FloatingPointError`` at the first step with a non-finite
        loss or gradient, or ``"skip"`` such steps (warning once; see ``finite``).
      dtype: ``"float64"`` (default, as the reference code: the KRR solve with ``reg=1e-6`` needs
        it) or ``"float32"``.
      progress: tqdm bar over steps.

    Returns:
      :class:`KIPResult`.
    """
    fns = _kernel_tuple(kernel_fn)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(lr, "lr", min_value=0.0, strict_min=True)
    optimizer = check_choice(optimizer, "optimizer", _train.OPTIMIZERS)
    for flag, name in ((learn_labels, "learn_labels"), (record_support, "record_support"),
                       (progress, "progress")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    check_scalar(reg, "reg", min_value=0.0)
    get = check_choice(get, "get", ("ntk", "nngp"))
    on_nonfinite = check_choice(on_nonfinite, "on_nonfinite", NONFINITE_POLICIES)
    if perturb is not None and not callable(perturb):
        raise TypeError(f"perturb must be callable, got {type(perturb).__name__}")
    if eval_kernel_fn is not None and not callable(eval_kernel_fn):
        raise TypeError(f"eval_kernel_fn must be callable, got {type(eval_kernel_fn).__name__}")
    np_dtype, ctx = resolve_dtype(dtype)

    xs0 = check_array(x_support, "x_support", min_ndim=2, dtype=np_dtype)
    ys0 = check_array(y_support, "y_support", ndim=2, dtype=np_dtype)
    check_same_length("x_support", xs0, "y_support", ys0)
    xt = check_array(x_target, "x_target", min_ndim=2, dtype=np_dtype)
    yt = check_array(y_target, "y_target", ndim=2, dtype=np_dtype)
    check_same_length("x_target", xt, "y_target", yt)
    if xt.shape[1:] != xs0.shape[1:]:
        raise ValueError(f"x_target must have per-example shape {xs0.shape[1:]} like x_support, "
                         f"got {xt.shape[1:]}")
    if yt.shape[1] != ys0.shape[1]:
        raise ValueError(f"y_target must have {ys0.shape[1]} label columns like y_support, got {yt.shape[1]}")
    m, n = xs0.shape[0], xt.shape[0]
    if target_batch is not None:
        check_scalar(target_batch, "target_batch", kind=int, min_value=1, max_value=n)
        target_batch = int(target_batch)
    if support_batch is not None:
        check_scalar(support_batch, "support_batch", kind=int, min_value=1, max_value=m)
        support_batch = int(support_batch)
    has_test = x_test is not None
    if has_test != (y_test is not None):
        raise ValueError("give both x_test and y_test, or neither")
    if has_test:
        xte = check_array(x_test, "x_test", min_ndim=2, dtype=np_dtype)
        yte = check_array(y_test, "y_test", ndim=2, dtype=np_dtype)
        check_same_length("x_test", xte, "y_test", yte)
        if xte.shape[1:] != xs0.shape[1:] or yte.shape[1] != ys0.shape[1]:
            raise ValueError("x_test/y_test must have the per-example shapes of x_support/y_support")
    rec_steps = _record_steps(steps, record_every, record_steps)
    key = check_key(key)

    chunk = _compiled_chunk(fns, get, perturb, optimizer, target_batch, support_batch)
    ev = _compiled_eval(eval_kernel_fn or fns[0], get) if has_test else None
    with ctx:
        opt_init, _, get_params = _train.optimizer(optimizer, float(lr))
        state = opt_init(Support(jnp.asarray(xs0), jnp.asarray(ys0)))
        problem = KIPProblem(jnp.asarray(xt), jnp.asarray(yt), key, jnp.asarray(reg, np_dtype),
                             jnp.asarray(1.0 if learn_labels else 0.0, np_dtype))
        lr_j = jnp.asarray(lr, np_dtype)
        buf = jnp.zeros((steps,), np_dtype)
        ok = jnp.zeros((steps,), bool)
        if has_test:
            xte_j, yte_j = jnp.asarray(xte), jnp.asarray(yte)
        xs_hist, ys_hist, t_loss, t_acc = [], [], [], []

        def record(st):
            p = get_params(st)
            x_np, y_np = np.asarray(p.x), np.asarray(p.y)
            if record_support:
                xs_hist.append(x_np)
                ys_hist.append(y_np)
            if has_test:
                loss_v, pred = ev(p.x, p.y, xte_j, yte_j, problem.reg)
                t_loss.append(float(loss_v))
                t_acc.append(float(metrics.accuracy(np.asarray(pred), yte)))
            return x_np, y_np

        bar = _progress(total=steps, desc="KIP", enabled=progress)
        warned = False
        done = 0
        try:
            for target in rec_steps:
                if target > done:
                    state, buf, ok = chunk(state, problem, lr_j, buf, ok, done, target)
                    fin = np.asarray(ok[done:target])
                    if not fin.all():
                        bad = done + int(np.flatnonzero(~fin)[0])
                        msg = (f"KIP step {bad}: the loss or its gradient is not finite "
                               f"({int((~fin).sum())} of steps {done}..{target - 1}). With ReLU kernels "
                               "this happens where a support point is parallel to a target point "
                               "(arccos at angle 0): use dtype='float64', perturb the initial support "
                               "slightly, or lower lr.")
                        if on_nonfinite == "raise":
                            raise FloatingPointError(msg)
                        if not warned:
                            warnings.warn(msg + " Skipping such steps.", RuntimeWarning, stacklevel=2)
                            warned = True
                    if bar is not None:
                        bar.update(target - done)
                        bar.set_postfix(loss=f"{float(buf[target - 1]):.4g}", refresh=False)
                    done = target
                x_np, y_np = record(state)
        finally:
            if bar is not None:
                bar.close()

    return KIPResult(
        x=x_np, y=y_np, x_init=xs0, y_init=ys0, step=np.asarray(rec_steps, dtype=np.int64),
        x_history=np.stack(xs_hist) if record_support else None,
        y_history=np.stack(ys_hist) if record_support else None,
        step_loss=np.asarray(buf, dtype=np.float64), finite=np.asarray(ok, dtype=bool),
        test_loss=np.asarray(t_loss) if has_test else None,
        test_acc=np.asarray(t_acc) if has_test else None,
        learn_labels=bool(learn_labels), lr=float(lr), reg=float(reg),
    )


# --------------------------------------------------------------------------- #
# neural-network-based distillation: the bi-level losses
# --------------------------------------------------------------------------- #
def _gd_steps(objective_fn: Callable, params0: Any, x: Any, y: Any, lr: Any, steps: int) -> Any:
    """``steps`` full-batch GD steps of size ``lr`` from ``params0`` (train.run; differentiable)."""
    opt = _train.optimizer("gd", lr)
    state, _ = _train.run(objective_fn, opt, opt[0](params0), _train.Problem(params0, x, y),
                          0, steps)
    return opt[2](state)


def unrolled_loss(objective_fn: Callable, params0: Any, x_inner: Any, y_inner: Any, x_outer: Any,
                  y_outer: Any, lr: Any, steps: int = 1) -> jnp.ndarray:
    """``L(theta_T; x_outer, y_outer)`` after ``T = steps`` GD steps on ``L(.; x_inner, y_inner)``.

    ``theta_{t+1} = theta_t - lr grad L(theta_t; x_inner, y_inner)`` from ``theta_0 = params0``
    with :func:`lecture_lib.train.run` (``objective_fn`` from :func:`lecture_lib.train.objective`;
    ``params0`` is also its centring point).  Pure and differentiable in every argument but
    ``steps`` (static):

    * Wang et al. '18 (dataset distillation): ``x_inner`` = synthetic images, ``lr`` learned,
      ``x_outer`` = real batch, averaged over random ``params0``; gradient w.r.t.
      ``(x_inner, lr)``.
    * MAML (Finn et al. '17): ``(x_inner, y_inner)`` = a task's support examples,
      ``(x_outer, y_outer)`` its query examples, averaged over tasks; gradient w.r.t. ``params0``.
    """
    check_scalar(steps, "steps", kind=int, min_value=1)
    theta = _gd_steps(objective_fn, params0, x_inner, y_inner, lr, int(steps))
    return objective_fn(theta, params0, x_outer, y_outer)


def gradient_match_distance(g_real: Any, g_syn: Any, eps: float = 1e-6) -> jnp.ndarray:
    """Layer-wise gradient distance of Zhao et al. (ICLR'21, ``dis_metric="ours"``).

    For every weight array (stax keeps the output units on the last axis: ``(in, out)`` dense,
    ``(H, W, in, out)`` conv), the sum over output units ``j`` of
    ``1 - <g_real[..., j], g_syn[..., j]> / (|g_real[..., j]| |g_syn[..., j]| + eps)``.  Bias
    arrays (a single entry per output unit: ``(out,)`` or stax's ``(1, out)``) are ignored, as
    in the reference code.  The norms are ``sqrt(sum g^2 + eps^2)``, so that a unit whose
    gradient is exactly zero (a dead ReLU) gives a finite gradient (``jnp.linalg.norm`` has a
    NaN derivative at 0).  ``g_real``, ``g_syn``: gradient pytrees of the same structure.
    """
    leaves_r = jax.tree_util.tree_leaves(g_real)
    leaves_s = jax.tree_util.tree_leaves(g_syn)
    if len(leaves_r) != len(leaves_s):
        raise ValueError("g_real and g_syn must have the same structure")
    total = jnp.asarray(0.0)
    for a, b in zip(leaves_r, leaves_s):
        if a.shape != b.shape:
            raise ValueError(f"g_real and g_syn leaves differ in shape: {a.shape} vs {b.shape}")
        if a.ndim == 0 or a.size == a.shape[-1]:
            continue  # a bias: one number per output unit
        a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
        na = jnp.sqrt(jnp.sum(a2 * a2, axis=0) + eps**2)
        nb = jnp.sqrt(jnp.sum(b2 * b2, axis=0) + eps**2)
        total = total + jnp.sum(1.0 - jnp.sum(a2 * b2, axis=0) / (na * nb + eps))
    return total


def gradient_match_loss(objective_fn: Callable, params: Any, x_real: Any, y_real: Any, x_syn: Any,
                        y_syn: Any) -> jnp.ndarray:
    """``sum_c D(grad L(params; real batch of class c), grad L(params; synthetic images of c))``.

    Class-major arrays: ``x_real (C, b, ...)``, ``y_real (C, b, ...)``, ``x_syn (C, ipc, ...)``,
    ``y_syn (C, ipc, ...)``; ``D`` is :func:`gradient_match_distance`, the real gradients are
    constants.  Pure; differentiate w.r.t. ``x_syn``.
    """
    grad = jax.grad(objective_fn)

    def per_class(xr, yr, xs, ys):
        g_r = jax.tree_util.tree_map(jax.lax.stop_gradient, grad(params, params, xr, yr))
        return gradient_match_distance(g_r, grad(params, params, xs, ys))

    return jnp.sum(jax.vmap(per_class)(x_real, y_real, x_syn, y_syn))


def trajectory_match_loss(objective_fn: Callable, params_start: Any, params_target: Any, x_syn: Any,
                          y_syn: Any, lr: Any, steps: int) -> jnp.ndarray:
    """``||theta_N - theta*_{t+M}||^2 / ||theta*_t - theta*_{t+M}||^2`` (Cazenavette et al.).

    ``theta_N``: ``N = steps`` full-batch GD steps of size ``lr`` on the synthetic data from the
    expert's ``params_start = theta*_t``; ``params_target = theta*_{t+M}``.  Pure;
    differentiable in ``x_syn``, ``y_syn`` and ``lr``.
    """
    check_scalar(steps, "steps", kind=int, min_value=1)
    theta = _gd_steps(objective_fn, params_start, x_syn, y_syn, lr, int(steps))

    def sq(a, b):
        return sum(jnp.sum((u - v) ** 2) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                        jax.tree_util.tree_leaves(b)))

    return sq(theta, params_target) / sq(params_start, params_target)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def class_balanced_indices(labels: Any, per_class: int, seed: int = 0) -> np.ndarray:
    """``per_class`` random indices of every class of ``labels``, grouped by class (sorted labels).

    ``labels``: integer labels ``(n,)`` or one-hot ``(n, k)``.  Deterministic in ``seed``.
    Returns ``(C * per_class,)`` int64.
    """
    y = check_array(labels, "labels", ndim=(1, 2))
    y = y if y.ndim == 1 else np.argmax(y, axis=1)
    check_scalar(per_class, "per_class", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    rng = np.random.default_rng(int(seed))
    out = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} examples, per_class={per_class}")
        out.append(np.sort(rng.choice(members, size=int(per_class), replace=False)))
    return np.concatenate(out).astype(np.int64)


def zca_whitening(x_train: Any, x_test: Any = None, *, reg: float = 0.1,
                  layer_norm: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Regularised ZCA whitening fitted on ``x_train`` (the RGB preprocessing of the KIP papers).

    Every image is flattened to ``d`` features; with ``layer_norm`` it is first centred (over
    its own features) and scaled to unit norm.  With ``C = X^T X / n = U diag(s) U^T`` the
    transform is ``x -> x U diag(s + reg tr(C)/d)^{-1/2} U^T`` (as neural-tangents' / KIP's
    ``zca_reg``, relative to the mean eigenvalue).  Returns ``(x_train_w, x_test_w)`` in the
    input shapes (``x_test_w`` is ``None`` without ``x_test``).
    """
    check_scalar(reg, "reg", min_value=0.0, strict_min=True)
    if not isinstance(layer_norm, (bool, np.bool_)):
        raise TypeError(f"layer_norm must be a bool, got {type(layer_norm).__name__}")
    xtr = check_array(x_train, "x_train", min_ndim=2, dtype=np.float64)
    xte = None if x_test is None else check_array(x_test, "x_test", min_ndim=2, dtype=np.float64)
    if xte is not None and xte.shape[1:] != xtr.shape[1:]:
        raise ValueError(f"x_test must have per-example shape {xtr.shape[1:]}, got {xte.shape[1:]}")

    def prep(x):
        f = x.reshape(len(x), -1)
        if layer_norm:
            f = f - f.mean(axis=1, keepdims=True)
            norms = np.linalg.norm(f, axis=1, keepdims=True)
            f = f / np.where(norms > 0, norms, 1.0)
        return f

    ftr = prep(xtr)
    cov = ftr.T @ ftr / ftr.shape[0]
    s, u = np.linalg.eigh(cov)
    s = np.clip(s, 0.0, None) + float(reg) * np.trace(cov) / cov.shape[0]
    w = (u / np.sqrt(s)) @ u.T
    out_tr = (ftr @ w).reshape(xtr.shape)
    out_te = None if xte is None else (prep(xte) @ w).reshape(xte.shape)
    return out_tr, out_te
