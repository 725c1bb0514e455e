r"""Training finite networks: one gradient-descent core for every notebook.

The core is pure JAX and can be ``jit``-ed and ``vmap``-ed by any experiment (ensembles,
seeds, label columns, training-set masks); the checked wrapper :func:`fit` runs it and returns
a :class:`Trajectory`.  Data and initial parameters are always *arguments* of the compiled
functions, never closure constants (constants make XLA fold the network and compile for
minutes), and each static configuration compiles once.

Models
    A model is ``model(params, params0, x) -> (n, k)``: :func:`make_model` builds it from a
    stax-style ``apply_fn(params, x)``, optionally *centred* (``f - f_0``, the trick of
    Lee et al. that removes the random initial function) or *linearised*
    (``f_0 + J_0 (w - w_0)``, the first-order Taylor model of Lee et al. 2019).
Objective
    ``L(params, params0, x, y, mask) = loss(model(params, params0, x), y)`` with a loss of
    :mod:`lecture_lib.losses` (``"mse"``/``"cross_entropy"``, reduction ``"mean"``/``"sum"``,
    optional row mask).
Optimisers
    ``"gd"`` (full batch), ``"sgd"`` (minibatches drawn by a key-seeded shuffle per epoch),
    ``"adam"`` (``jax.example_libraries.optimizers``).
Pure core
    :func:`run` performs steps ``start .. stop - 1`` on a :class:`Problem` and writes the
    loss before every update into a buffer.
Network vs kernel learning rate
    One GD step of size ``lr`` on the ``"mean"`` MSE moves a linearised model's training
    outputs by ``-(lr / n) Theta (f - y)``; on the ``"sum"`` MSE by ``-lr Theta (f - y)``.
    :func:`kernel_lr` converts (the step of :func:`lecture_lib.krr.gd_dynamics_discrete`),
    :func:`network_lr` converts back, :func:`max_stable_lr` is the stability edge.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries import optimizers as _opt

from . import losses as _losses
from . import metrics
from .progress import progress as _progress
from .validation import (
    check_array, check_choice, check_int_sequence, check_key, check_same_length, check_scalar,
)

__all__ = [
    "OPTIMIZERS", "Problem", "Trajectory", "make_model", "objective", "optimizer", "run",
    "fit", "record_schedule", "kernel_lr", "network_lr", "max_stable_lr",
]

OPTIMIZERS: tuple[str, ...] = ("gd", "sgd", "adam")


# ----------------------------------------------------------------------------
# models, objective, optimisers
# ----------------------------------------------------------------------------
def make_model(apply_fn: Callable, *, centred: bool = False, linearised: bool = False) -> Callable:
    """``model(params, params0, x)`` from ``apply_fn(params, x) -> (n,) | (n, k)``.

    * plain: ``f(w, x)``;
    * ``linearised``: ``f(w0, x) + J_w f(w0, x) (w - w0)`` (computed with ``jax.jvp``, as
      ``nt.linearize`` does, but with ``w0`` an argument);
    * ``centred``: the model minus its value at ``w0`` (``f(w) - f(w0)``), which starts at 0.

    One-output models return ``(n, 1)``.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    for flag, name in ((centred, "centred"), (linearised, "linearised")):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")

    def as_2d(f):
        return f[:, None] if f.ndim == 1 else f

    if linearised:
        def base(p, p0, x):
            dp = jax.tree_util.tree_map(lambda a, b: a - b, p, p0)
            f0, df = jax.jvp(lambda q: apply_fn(q, x), (p0,), (dp,))
            return as_2d(df) if centred else as_2d(f0 + df)
        return base

    def model(p, p0, x):
        f = as_2d(apply_fn(p, x))
        return f - as_2d(apply_fn(p0, x)) if centred else f

    return model


def objective(model: Callable, loss: str = "mse", reduction: str = "mean") -> Callable:
    """``L(params, params0, x, y, mask=None) = loss(model(params, params0, x), y)``."""
    loss_fn = _losses.get(loss)
    reduction = check_choice(reduction, "reduction", _losses.REDUCTIONS)

    def L(p, p0, x, y, mask=None):
        return loss_fn(model(p, p0, x), y, reduction=reduction, mask=mask)

    return L


def optimizer(name: str, lr: float | Callable[[int], float]) -> tuple[Callable, Callable, Callable]:
    """``(init, update, get_params)`` of ``jax.example_libraries.optimizers`` for ``name``.

    ``"gd"`` and ``"sgd"`` are both ``optimizers.sgd`` (the update ``w - lr g``); they differ
    only in the batches :func:`run` feeds them.  ``lr`` may be a schedule ``lr(step)``.
    """
    name = check_choice(name, "optimizer", OPTIMIZERS)
    return _opt.adam(lr) if name == "adam" else _opt.sgd(lr)


_make_optimizer = optimizer  # `fit` has an argument called `optimizer`


class Problem(NamedTuple):
    """The arguments of a training run (all jit *arguments*): initial parameters ``params0``
    (the centring/linearisation point), inputs ``x (n, ...)``, targets ``y``, row ``mask (n,)``
    or ``None``, and a PRNG ``key`` for minibatches (``None`` for full batch)."""

    params0: Any
    x: Any
    y: Any
    mask: Any = None
    key: Any = None


def run(
    objective_fn: Callable,
    opt: tuple[Callable, Callable, Callable],
    state: Any,
    problem: Problem,
    start: Any,
    stop: Any,
    loss_buffer: Any = None,
    *,
    batch_size: int | None = None,
    perturb: Callable | None = None,
    model: Callable | None = None,
) -> tuple[Any, Any]:
    """Optimiser steps ``start, ..., stop - 1`` (pure; ``jit``/``vmap``-able).

    Args:
      objective_fn: from :func:`objective`.
      opt: from :func:`optimizer`; ``state = opt[0](params)`` initially.
      state: optimiser state.
      problem: :class:`Problem`.
      start, stop: step range (may be traced: one compilation for every chunk).
      loss_buffer: optional array of shape ``(T,)``, ``T >= stop``; entry ``i`` receives the
        objective before update ``i`` (for SGD/Adam with ``batch_size``: the minibatch loss).
      batch_size: static minibatch size (``None``: full batch).  Epoch ``e`` shuffles the rows
        with ``fold_in(problem.key, e)``; the ``n % batch_size`` left-over rows sit it out.
      perturb, model: adversarial training (Madry et al. 2018).  Before each update the batch
        inputs are replaced by ``perturb(predict, x, y, key)`` with
        ``predict = lambda x: model(params, params0, x)`` at the current parameters and a fresh
        ``key = fold_in(problem.key, i)``; the result is a constant for the gradient (e.g. a
        :func:`lecture_lib.attacks.pgd_jax` attack on ``predict``).  ``model`` is required with
        ``perturb``.

    Returns:
      ``(state, loss_buffer)``.
    """
    _, opt_update, get_params = opt
    n = problem.x.shape[0]
    value_and_grad = jax.value_and_grad(objective_fn)
    if perturb is not None and model is None:
        raise ValueError("perturb needs the model (model(params, params0, x)) it attacks")

    def body(i, carry):
        st, buf = carry
        x, y, mask = problem.x, problem.y, problem.mask
        if batch_size is not None:
            n_batches = n // batch_size
            epoch, j = i // n_batches, i % n_batches
            perm = jax.random.permutation(jax.random.fold_in(problem.key, epoch), n)
            idx = jax.lax.dynamic_slice(perm, (j * batch_size,), (batch_size,))
            x, y = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            mask = None if mask is None else jnp.take(mask, idx, axis=0)
        params = get_params(st)
        if perturb is not None:
            key = jax.random.fold_in(problem.key, i)
            x = jax.lax.stop_gradient(
                perturb(lambda z: model(params, problem.params0, z), x, y, key))
        value, g = value_and_grad(params, problem.params0, x, y, mask)
        if buf is not None:
            buf = buf.at[i].set(value.astype(buf.dtype))
        return opt_update(i, g, st), buf

    return jax.lax.fori_loop(start, stop, body, (state, loss_buffer))


# ----------------------------------------------------------------------------
# learning rates: network <-> kernel closed form
# ----------------------------------------------------------------------------
def kernel_lr(lr: float, n: int, reduction: str = "mean") -> float:
    """The kernel closed form's step for GD with step ``lr`` on the network's MSE.

    ``"mean"`` (``L = 1/(2n) sum_i |f_i - y_i|^2``): ``lr / n``; ``"sum"``: ``lr``.  Pass it
    as ``lr`` of :func:`lecture_lib.krr.gd_dynamics_discrete`.
    """
    check_scalar(lr, "lr", min_value=0.0, strict_min=True)
    check_scalar(n, "n", kind=int, min_value=1)
    reduction = check_choice(reduction, "reduction", _losses.REDUCTIONS)
    return float(lr) / n if reduction == "mean" else float(lr)


def network_lr(kernel_step: float, n: int, reduction: str = "mean") -> float:
    """Inverse of :func:`kernel_lr`: the network step whose kernel closed form has ``kernel_step``."""
    check_scalar(kernel_step, "kernel_step", min_value=0.0, strict_min=True)
    check_scalar(n, "n", kind=int, min_value=1)
    reduction = check_choice(reduction, "reduction", _losses.REDUCTIONS)
    return float(kernel_step) * n if reduction == "mean" else float(kernel_step)


def max_stable_lr(k_train: Any, reduction: str = "mean") -> float:
    """Largest stable network step: :func:`network_lr` of ``2 / lambda_max(K)``.

    The linearised dynamics ``f <- f - kernel_lr * K (f - y)`` converge iff
    ``kernel_lr * lambda_max < 2``.  Above it the network can still converge after a
    "catapult" (Lewkowycz et al. 2020); the linear model cannot.
    """
    k = check_array(k_train, "k_train", ndim=2, dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k_train must be square, got shape {k.shape}")
    lam = float(np.linalg.eigvalsh(0.5 * (k + k.T))[-1])
    if lam <= 0:
        raise ValueError("k_train must have a positive eigenvalue")
    return network_lr(2.0 / lam, k.shape[0], reduction)


# ----------------------------------------------------------------------------
# the checked wrapper
# ----------------------------------------------------------------------------
class Trajectory(NamedTuple):
    """A training run recorded at ``R`` steps (``M`` = the member axes: ensemble members or
    label columns, absent for a single network).

    Attributes:
      step: ``(R,)`` updates done at each record (0 = initialisation).
      params: final parameters (leading member axis for ensembles/label columns).
      train_loss, test_loss: ``(R, *M)`` full-batch objective on the training / test set
        (``test_loss`` is ``None`` without ``y_test``).
      train_acc, test_acc: ``(R, *M)`` accuracy (:func:`lecture_lib.metrics.accuracy`), or
        ``None`` for regression targets / no test labels.
      weight_change: ``(R, *M)`` ``||w_t - w_0|| / ||w_0||`` (NaN if ``w_0 = 0``).
      step_loss: ``(S + 1, *M)``: the objective before each of the ``S`` updates (the
        minibatch loss for SGD/Adam with ``batch_size``) and, last, the full-batch loss at the end.
      train_outputs, test_outputs: ``(R, *M, n, k)`` / ``(R, *M, m, k)`` model outputs (centred
        for centred models) when ``record_outputs=True``, else ``None``.
      params_history: list of ``R`` parameter pytrees (numpy) when ``record_params=True``.
    """

    step: np.ndarray
    params: Any
    train_loss: np.ndarray
    test_loss: np.ndarray | None
    train_acc: np.ndarray | None
    test_acc: np.ndarray | None
    weight_change: np.ndarray
    step_loss: np.ndarray
    train_outputs: np.ndarray | None = None
    test_outputs: np.ndarray | None = None
    params_history: list | None = None


def _is_classification(y: np.ndarray, out_dim: int, loss: str) -> bool:
    if out_dim == 1:
        return bool(np.all(np.isin(y, (-1, 1))))
    return y.ndim == 1 or loss == "cross_entropy" or bool(np.all(np.isin(y, (0, 1))))


def _check_targets(y: np.ndarray, out_dim: int, loss: str, name: str) -> None:
    """Shape/value checks of targets ``y`` against a network with ``out_dim`` outputs."""
    if out_dim == 1:
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(f"{name} must have shape (n,) or (n, 1) for a network "
                             f"with 1 output, got {y.shape}")
        if loss == "cross_entropy" and not np.all(np.isin(y, (-1, 1))):
            raise ValueError(f"{name} must hold labels in {{-1, +1}} for cross_entropy "
                             "with 1 output (logistic loss)")
        return
    if y.ndim == 2:
        if y.shape[1] != out_dim:
            raise ValueError(f"{name} has {y.shape[1]} columns but the network has "
                             f"{out_dim} outputs")
        return
    if loss == "mse":
        raise ValueError(f"{name} must have shape (n, {out_dim}) for loss='mse' with "
                         f"{out_dim} outputs (one-hot encode class labels), got {y.shape}")
    if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= out_dim:
        raise ValueError(f"{name} of shape (n,) must hold integer class labels in "
                         f"[0, {out_dim}) for a network with {out_dim} outputs")


def _prep_targets(y: np.ndarray, out_dim: int) -> jnp.ndarray:
    if out_dim >= 2 and y.ndim == 1:
        return jnp.asarray(y.astype(np.int32))
    return jnp.asarray(y.astype(np.result_type(y.dtype, np.float32)))


def record_schedule(steps: int, record_every: int | None = None,
                    record_steps: Sequence[int] | None = None, default_records: int = 100) -> list[int]:
    """The steps at which a loop of ``steps`` updates records its state (0 = before the first).

    ``record_steps``: exactly these (increasing, ``<= steps``); else every ``record_every``
    steps plus the last (default: about ``default_records`` records).  Shared by
    :func:`fit` and :func:`lecture_lib.distill.kip`.
    """
    if record_steps is not None:
        if record_every is not None:
            raise ValueError("give record_every or record_steps, not both")
        rec = check_int_sequence(record_steps, "record_steps", min_value=0, increasing=True)
        if rec[-1] > steps:
            raise ValueError(f"record_steps must be <= steps={steps}, got {rec[-1]}")
        return rec
    if record_every is None:
        record_every = max(1, steps // default_records)
    check_scalar(record_every, "record_every", kind=int, min_value=1)
    return sorted(set(range(0, steps, record_every)) | {steps})


def fit(
    apply_fn: Callable,
    params: Any,
    x: Any,
    y: Any,
    *,
    loss: str = "mse",
    reduction: str = "mean",
    optimizer: str = "gd",
    lr: float | Callable[[int], float] = 1.0,
    steps: int = 1000,
    batch_size: int | None = None,
    key: Any = None,
    mask: Any = None,
    centred: bool = False,
    linearised: bool = False,
    ensemble: bool = False,
    label_columns: bool = False,
    perturb: Callable | None = None,
    perturb_args: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    record_every: int | None = None,
    record_steps: Sequence[int] | None = None,
    record_outputs: bool = False,
    record_params: bool = False,
    progress: bool = True,
) -> Trajectory:
    """Train ``apply_fn`` on ``(x, y)`` with the GD core and record the trajectory.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,) | (n, k)``, differentiable in ``params``.
      params: initial parameters (not modified).  With ``ensemble=True`` every leaf carries a
        leading member axis ``E`` and the members train in parallel (``vmap``).
      x: inputs ``(n, ...)``; y: targets ``(n,)`` or ``(n, k)`` (integer labels ``(n,)`` or
        one-hot for ``cross_entropy`` with ``k >= 2`` outputs; ``+-1`` for one output).
      loss, reduction: see :mod:`lecture_lib.losses`.
      optimizer: ``"gd"``, ``"sgd"`` (needs ``batch_size``) or ``"adam"``.
      lr: step size ``> 0`` or a schedule ``lr(step)`` written in ``jnp``.
      steps: number of updates ``>= 1``.
      batch_size: minibatch size for ``sgd``/``adam`` (``None``: full batch).
      key: int or PRNG key for the minibatch shuffles (default ``config.seed()``).
      mask: optional ``(n,)`` 0/1 row weights of the loss (rows with 0 do not train).
      centred, linearised: see :func:`make_model`.
      label_columns: each column of ``y (n, L)`` is a separate regression target, trained by
        its own copy of the one-output network from the same ``params`` (member axis ``L``).
      perturb: adversarial training: ``perturb(predict, x, y, key) -> x_adv`` replaces every
        training batch before its update (see :func:`run`); e.g. ``lambda f, x, y, k:
        attacks.pgd_jax(attacks.loss_for_predictor(f, "cross_entropy"), x, y, eps, step, 10,
        random_start=True, key=k)``.  Recorded losses are on the clean data.
      perturb_args: optional extra argument of ``perturb``, which is then called as
        ``perturb(predict, x, y, key, perturb_args)``; with ``ensemble``/``label_columns``
        every leaf has a leading member axis and each member gets its own slice (e.g. one
        attack radius per member, ``perturb_args=np.array([0.0, 0.1])``: standard and
        adversarial training in one compiled run).
      x_test, y_test: held-out inputs (``y_test`` may be ``None`` to only record outputs).
      record_every / record_steps: record every this many updates (default ``steps // 100``;
        step 0 and the last step are always recorded) or at these increasing steps.
      record_outputs: keep the model outputs at each record.
      record_params: keep a copy of the parameters at each record (memory!).
      progress: ``tqdm`` bar.

    Returns:
      :class:`Trajectory`.  If the training loss of every member becomes non-finite, training
      stops with a ``RuntimeWarning`` and the trajectory ends at that record.
    """
    model = make_model(apply_fn, centred=centred, linearised=linearised)
    loss = check_choice(loss, "loss", tuple(_losses.LOSSES))
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    obj = objective(model, loss, reduction)
    if not callable(lr):
        check_scalar(lr, "lr", min_value=0.0, strict_min=True)
        lr = float(lr)
    check_scalar(steps, "steps", kind=int, min_value=1)
    rec_steps = record_schedule(steps, record_every, record_steps)
    for flag, name in ((ensemble, "ensemble"), (label_columns, "label_columns"),
                       (record_outputs, "record_outputs"), (record_params, "record_params"),
                       (progress, "progress")):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if ensemble and label_columns:
        raise ValueError("ensemble and label_columns cannot be combined")
    if perturb is not None and not callable(perturb):
        raise TypeError(f"perturb must be callable, got {type(perturb).__name__}")
    if perturb_args is not None and perturb is None:
        raise ValueError("perturb_args was given without perturb")
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    n = x.shape[0]
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1, max_value=n)
        if optimizer == "gd":
            raise ValueError("batch_size must be None for optimizer='gd' (full batch); "
                             "use optimizer='sgd' for minibatches")
    elif optimizer == "sgd":
        raise ValueError("batch_size is required for optimizer='sgd'")
    if mask is not None:
        mask = check_array(mask, "mask", ndim=1)
        check_same_length("x", x, "mask", mask)
    if y_test is not None and x_test is None:
        raise ValueError("y_test was given without x_test")
    has_test = x_test is not None
    if has_test:
        x_test = check_array(x_test, "x_test", ndim=x.ndim)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_test must have per-example shape {x.shape[1:]}, got {x_test.shape[1:]}")
        if y_test is not None:
            y_test = check_array(y_test, "y_test", ndim=y.ndim)
            check_same_length("x_test", x_test, "y_test", y_test)
    key = check_key(key)

    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves")
    if any(not np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves):
        raise ValueError("params contains NaN or infinity")
    member = jax.tree_util.tree_map(lambda a: a[0], params) if ensemble else params
    try:
        out = jax.eval_shape(apply_fn, member, jnp.asarray(x[:1]))
    except Exception as err:  # noqa: BLE001 - rethrow with context
        raise TypeError(f"apply_fn(params, x) failed on x[:1]: {err}") from err
    if not hasattr(out, "shape") or len(out.shape) not in (1, 2) or out.shape[0] != 1:
        raise ValueError("apply_fn(params, x) must return an array of shape (n,) or "
                         f"(n, k); got {getattr(out, 'shape', type(out).__name__)} for n=1")
    out_dim = 1 if len(out.shape) == 1 else out.shape[1]

    if label_columns:
        if out_dim != 1 or y.ndim != 2:
            raise ValueError("label_columns needs a one-output network and y of shape (n, L)")
        n_members = y.shape[1]
        yj = jnp.asarray(y.T[:, :, None].astype(np.result_type(y.dtype, np.float32)))  # (L, n, 1)
        ytj = None
        if has_test and y_test is not None:
            ytj = jnp.asarray(y_test.T[:, :, None].astype(np.result_type(y_test.dtype, np.float32)))
        params = jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (n_members,) + jnp.shape(a)), params)
        classify = False
        y_axis = 0
    else:
        _check_targets(y, out_dim, loss, "y")
        if has_test and y_test is not None:
            _check_targets(y_test, out_dim, loss, "y_test")
        yj = _prep_targets(y, out_dim)
        ytj = None if not (has_test and y_test is not None) else _prep_targets(y_test, out_dim)
        classify = _is_classification(y, out_dim, loss)
        y_axis = None
    batched = ensemble or label_columns
    xj = jnp.asarray(x)
    xtj = jnp.asarray(x_test) if has_test else None
    mj = None if mask is None else jnp.asarray(mask, dtype=xj.dtype if jnp.issubdtype(xj.dtype, jnp.floating) else jnp.float32)

    opt = _make_optimizer(optimizer, lr)
    opt_init, _, get_params = opt

    # A centred MSE model f - f0 trained on y is the plain model trained on y + f0(X): same
    # gradients, without recomputing f0 in every step.
    train_obj, train_model, y_train, y_train_axis = obj, model, yj, y_axis
    if centred and not linearised and loss == "mse" and perturb is None:
        plain = make_model(apply_fn)
        f0 = (jax.vmap(lambda p: plain(p, p, xj)) if batched else (lambda p: plain(p, p, xj)))(params)
        y_train = (yj[..., None] if yj.ndim == 1 else yj) + f0
        train_obj, y_train_axis = objective(plain, loss, reduction), (0 if batched else None)

    def chunk_fn(state, p0, x_, y_, m_, key_, buf, start, stop, pargs):
        pert = perturb if pargs is None else (lambda f, xb, yb, k: perturb(f, xb, yb, k, pargs))
        return run(train_obj, opt, state, Problem(p0, x_, y_, m_, key_), start, stop, buf,
                   batch_size=batch_size, perturb=pert, model=train_model)

    def record_fn(p, p0, x_, y_, m_, xt_, yt_):
        f = model(p, p0, x_)
        res = {"train_loss": obj(p, p0, x_, y_, m_)}
        if record_outputs or classify:
            res["train_outputs"] = f
        if xt_ is not None:
            ft = model(p, p0, xt_)
            res["test_outputs"] = ft
            if yt_ is not None:
                res["test_loss"] = obj(p, p0, xt_, yt_)
        sq0 = sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(p0))
        sqd = sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree_util.tree_leaves(p),
                                                       jax.tree_util.tree_leaves(p0)))
        res["weight_change"] = jnp.where(sq0 > 0, jnp.sqrt(sqd / jnp.where(sq0 > 0, sq0, 1.0)), jnp.nan)
        return res

    if batched:
        pargs_axis = None if perturb_args is None else 0
        chunk_j = jax.jit(jax.vmap(chunk_fn, in_axes=(0, 0, None, y_train_axis, None, None, 0, None,
                                                      None, pargs_axis)))
        record_j = jax.jit(jax.vmap(record_fn, in_axes=(0, 0, None, y_axis, None, None, y_axis)))
    else:
        chunk_j, record_j = jax.jit(chunk_fn), jax.jit(record_fn)

    params0 = params
    state = jax.vmap(opt_init)(params) if batched else opt_init(params)
    n_members = jax.tree_util.tree_leaves(params)[0].shape[0] if batched else None
    pargs = None if perturb_args is None else jax.tree_util.tree_map(jnp.asarray, perturb_args)
    if pargs is not None and batched:
        bad = [jnp.shape(a) for a in jax.tree_util.tree_leaves(pargs)
               if jnp.ndim(a) == 0 or jnp.shape(a)[0] != n_members]
        if bad:
            raise ValueError(f"perturb_args must have a leading member axis of length {n_members} "
                             f"in every leaf, got shapes {bad}")
    buf = jnp.zeros(((n_members,) if batched else ()) + (steps,), jnp.float32)

    records: list[dict] = []
    params_hist: list = []

    def record(step, p):
        vals = jax.device_get(record_j(p, params0, xj, yj, mj, xtj, ytj))
        vals = {k: np.asarray(v) for k, v in vals.items()}
        vals["step"] = step
        records.append(vals)
        if record_params:
            params_hist.append(jax.tree_util.tree_map(np.asarray, jax.device_get(p)))
        finite = np.isfinite(vals["train_loss"])
        return bool(np.any(finite)), bool(np.all(finite))

    bar = _progress(total=steps, desc=f"train ({optimizer}, {loss})", enabled=progress)
    warned = False
    done = 0
    try:
        for target in rec_steps:
            if target > done:
                state, buf = chunk_j(state, params0, xj, y_train, mj, key, buf, done, target,
                                     pargs)
                if bar is not None:
                    bar.update(target - done)
                done = target
            any_ok, all_ok = record(done, get_params(state) if not batched else jax.vmap(get_params)(state))
            if bar is not None:
                bar.set_postfix(loss=f"{float(np.nanmean(records[-1]['train_loss'])):.4g}", refresh=False)
            if not all_ok and not warned:
                warned = True
                warnings.warn(f"training diverged: the training loss is not finite at step {done} "
                              f"for {'some members' if any_ok else 'the network'} (lower lr)",
                              RuntimeWarning, stacklevel=2)
            if not any_ok:
                break
    finally:
        if bar is not None:
            bar.close()

    final = get_params(state) if not batched else jax.vmap(get_params)(state)

    def stack(name):
        return np.stack([r[name] for r in records]) if name in records[0] else None

    def acc_of(outputs, labels):
        if outputs is None or labels is None or not classify:
            return None
        if out_dim == 1:
            labels = np.reshape(labels, (-1,))
        ok = np.isfinite(outputs)
        if ok.all():
            return np.asarray(metrics.accuracy(outputs, labels), dtype=np.float64)
        # diverged members (warned above): their accuracy is NaN, the others' as usual
        acc = np.asarray(metrics.accuracy(np.where(ok, outputs, 0.0), labels), dtype=np.float64)
        return np.where(ok.all(axis=(-2, -1)), acc, np.nan)

    train_outputs, test_outputs = stack("train_outputs"), stack("test_outputs")
    buf = np.asarray(buf, dtype=np.float64)
    last = stack("train_loss")[-1]
    step_loss = np.concatenate([np.moveaxis(buf[..., :done], -1, 0), np.asarray(last, np.float64)[None]])
    return Trajectory(
        step=np.asarray([r["step"] for r in records], dtype=np.int64),
        params=final,
        train_loss=stack("train_loss").astype(np.float64),
        test_loss=None if stack("test_loss") is None else stack("test_loss").astype(np.float64),
        train_acc=acc_of(train_outputs, y),
        test_acc=acc_of(test_outputs, y_test),
        weight_change=stack("weight_change").astype(np.float64),
        step_loss=step_loss,
        train_outputs=train_outputs if record_outputs else None,
        test_outputs=test_outputs if (record_outputs and has_test) else None,
        params_history=params_hist if record_params else None,
    )
