"""Small JAX training loops for finite networks.

Works with any ``apply_fn(params, x) -> (n,) or (n, k)`` and a pytree of
parameters, e.g. the ``(init_fn, apply_fn, kernel_fn)`` triples of
:mod:`lecture_lib.kernels` / ``neural_tangents.stax``.

Losses (``f = apply_fn(params, x)``, ``n`` examples, ``k`` outputs)
--------------------------------------------------------------------
``"mse"``
    ``L = 1/(2n) sum_i sum_j (f_ij - y_ij)^2``.  With this normalisation, GD
    with step ``lr`` on a linearised network follows
    ``f_t = y + (I - lr K / n)^t (f_0 - y)`` (``K`` the NTK Gram matrix), i.e.
    :func:`lecture_lib.krr.gd_dynamics_discrete` with step ``lr / n``.
``"cross_entropy"``
    ``k >= 2`` outputs: softmax cross-entropy
    ``L = -1/n sum_i sum_j y_ij log softmax(f_i)_j`` with one-hot (or soft)
    labels ``y`` of shape ``(n, k)`` or integer labels of shape ``(n,)``.
    One output (``(n,)`` or ``(n, 1)``) with labels in ``{-1, +1}``: the
    logistic loss ``L = 1/n sum_i log(1 + exp(-y_i f_i))`` (binary
    cross-entropy of ``sigmoid(f)``).

Accuracy: sign agreement for one output and ``{-1, +1}`` targets; argmax
agreement for ``k >= 2`` outputs (targets one-hot/2-D or integer labels);
``NaN`` otherwise (regression targets).

Optimizers: ``"gd"`` (full-batch gradient descent), ``"sgd"`` (minibatches of
``batch_size`` drawn by a key-seeded shuffle each epoch) and ``"adam"``
(``jax.example_libraries.optimizers.adam``; full batch unless ``batch_size``).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries import optimizers as _opt

from . import config
from .validation import check_array, check_choice, check_same_length, check_scalar

__all__ = [
    "TrainResult", "train", "relative_weight_change", "mse_loss",
    "cross_entropy_loss", "accuracy", "evaluate", "LOSSES", "OPTIMIZERS",
]

LOSSES: tuple[str, ...] = ("mse", "cross_entropy")
OPTIMIZERS: tuple[str, ...] = ("gd", "sgd", "adam")

HISTORY_KEYS: tuple[str, ...] = (
    "step", "train_loss", "test_loss", "train_acc", "test_acc", "weight_change",
)


class TrainResult(NamedTuple):
    """Output of :func:`train`.

    Attributes:
      params: the trained parameters (same pytree structure as the input).
      history: dict of 1-D ``np.ndarray`` of length ``R`` (number of records):
        ``step`` (updates done so far; 0 is the initialisation),
        ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc`` (``NaN``
        without a test set / for regression targets), ``weight_change``
        (:func:`relative_weight_change` from the initial parameters; ``NaN``
        when those are all zero).
        With ``record_params=True`` also ``params_history``: a list of ``R``
        parameter pytrees (numpy leaves).
    """

    params: Any
    history: dict[str, Any]


# ----------------------------------------------------------------------------
# losses and accuracy (pure jnp: usable inside jit/grad)
# ----------------------------------------------------------------------------
def _as_2d(f: jnp.ndarray) -> jnp.ndarray:
    return f[:, None] if f.ndim == 1 else f


def mse_loss(pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """``0.5 * mean_i sum_j (pred_ij - y_ij)^2``; pred/y ``(n,)`` or ``(n, k)``."""
    pred, y = _as_2d(pred), _as_2d(y)
    if pred.shape != y.shape:
        raise ValueError(f"mse_loss: pred shape {pred.shape} and y shape {y.shape} differ")
    return 0.5 * jnp.mean(jnp.sum((pred - y) ** 2, axis=1))


def cross_entropy_loss(pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """Softmax cross-entropy (``k >= 2`` outputs) or logistic loss (one output).

    ``pred (n, k)`` with ``y`` one-hot/soft ``(n, k)`` or integer ``(n,)``:
    ``-mean_i sum_j y_ij log softmax(pred_i)_j``.  ``pred (n,)`` or ``(n, 1)``
    with ``y`` in ``{-1, +1}``: ``mean_i log(1 + exp(-y_i pred_i))``.
    """
    pred = _as_2d(pred)
    if y.shape[0] != pred.shape[0] or (y.ndim == 2 and y.shape[1] != pred.shape[1]) or y.ndim > 2:
        raise ValueError(f"cross_entropy_loss: y shape {y.shape} does not fit pred shape "
                         f"{pred.shape}")
    if pred.shape[1] == 1:
        margin = pred[:, 0] * jnp.reshape(y, (-1,)).astype(pred.dtype)
        return jnp.mean(jax.nn.softplus(-margin))
    logp = jax.nn.log_softmax(pred, axis=1)
    if y.ndim == 1:
        return -jnp.mean(jnp.take_along_axis(logp, y.astype(jnp.int32)[:, None], axis=1))
    return -jnp.mean(jnp.sum(y.astype(pred.dtype) * logp, axis=1))


_LOSS_FNS: dict[str, Callable] = {"mse": mse_loss, "cross_entropy": cross_entropy_loss}


def _accuracy_mode(y: np.ndarray, out_dim: int) -> str | None:
    """'sign', 'argmax', 'labels' or None (no meaningful accuracy)."""
    if out_dim == 1:
        yy = y.reshape(-1)
        return "sign" if np.all(np.isin(yy, (-1, 1))) else None
    if y.ndim == 1:
        return "labels"
    return "argmax"


def _accuracy_jnp(pred: jnp.ndarray, y: jnp.ndarray, mode: str | None) -> jnp.ndarray:
    pred = _as_2d(pred)
    if mode is None:
        return jnp.asarray(jnp.nan, dtype=pred.dtype)
    if mode == "sign":
        return jnp.mean((jnp.sign(pred[:, 0]) == jnp.reshape(y, (-1,))).astype(pred.dtype))
    labels = y.astype(jnp.int32) if mode == "labels" else jnp.argmax(y, axis=1)
    return jnp.mean((jnp.argmax(pred, axis=1) == labels).astype(pred.dtype))


def accuracy(pred: Any, y: Any) -> float:
    """Fraction of correct predictions.

    One output (``pred (n,)``/``(n, 1)``) and ``y`` in ``{-1, +1}``: mean of
    ``sign(pred) == y``.  ``pred (n, k)``, ``k >= 2``: ``argmax(pred) == y``
    for integer labels ``y (n,)``, or ``== argmax(y)`` for ``y (n, k)``.
    Returns ``NaN`` for one output with targets other than ``{-1, +1}``.
    """
    pred = check_array(pred, "pred", ndim=(1, 2))
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("pred", pred, "y", y)
    out_dim = 1 if pred.ndim == 1 else pred.shape[1]
    _check_targets(y, out_dim, None, "y")
    return float(_accuracy_jnp(jnp.asarray(pred), jnp.asarray(y), _accuracy_mode(y, out_dim)))


def _check_targets(y: np.ndarray, out_dim: int, loss: str | None, name: str) -> None:
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
    # 1-D targets with k >= 2 outputs: integer class labels (not for mse).
    if loss == "mse":
        raise ValueError(f"{name} must have shape (n, {out_dim}) for loss='mse' with "
                         f"{out_dim} outputs (one-hot encode class labels), got {y.shape}")
    if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= out_dim:
        raise ValueError(f"{name} of shape (n,) must hold integer class labels in "
                         f"[0, {out_dim}) for a network with {out_dim} outputs")


def evaluate(apply_fn: Callable, params: Any, x: Any, y: Any,
             loss: str = "mse") -> dict[str, float]:
    """Loss and accuracy of ``apply_fn(params, x)`` against ``y``.

    Returns ``{"loss": float, "acc": float}`` (``acc`` is ``NaN`` for
    regression targets), with the losses of :func:`train`.
    """
    loss = check_choice(loss, "loss", LOSSES)
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    pred = jnp.asarray(apply_fn(params, jnp.asarray(x)))
    out_dim = 1 if pred.ndim == 1 else pred.shape[1]
    _check_targets(y, out_dim, loss, "y")
    yj = _prep_targets(y, out_dim)
    return {"loss": float(_LOSS_FNS[loss](pred, yj)),
            "acc": float(_accuracy_jnp(pred, yj, _accuracy_mode(y, out_dim)))}


def _prep_targets(y: np.ndarray, out_dim: int) -> jnp.ndarray:
    if out_dim >= 2 and y.ndim == 1:
        return jnp.asarray(y.astype(np.int32))
    return jnp.asarray(y.astype(np.result_type(y.dtype, np.float32)))


# ----------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------
def _leaves(params: Any, name: str) -> tuple[list[np.ndarray], Any]:
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise ValueError(f"{name} has no array leaves")
    return [np.asarray(leaf, dtype=np.float64) for leaf in leaves], treedef


def relative_weight_change(params0: Any, params1: Any) -> float:
    """``||w1 - w0|| / ||w0||`` with the Euclidean norm over all leaves.

    ``w`` concatenates every array of the pytree (weights and biases).  After
    training in the NTK parameterisation it shrinks as the width grows (the
    "lazy training" regime, Lee et al. 2019).  Raises ``ValueError`` if
    ``||w0|| = 0`` or the pytrees differ in structure or leaf shapes.
    """
    l0, t0 = _leaves(params0, "params0")
    l1, t1 = _leaves(params1, "params1")
    if t0 != t1:
        raise ValueError("params0 and params1 must have the same pytree structure")
    for a, b in zip(l0, l1):
        if a.shape != b.shape:
            raise ValueError(f"params0 and params1 have leaves of different shapes: "
                             f"{a.shape} vs {b.shape}")
    num = math.sqrt(sum(float(np.sum((b - a) ** 2)) for a, b in zip(l0, l1)))
    den = math.sqrt(sum(float(np.sum(a ** 2)) for a in l0))
    if not (np.isfinite(num) and np.isfinite(den)):
        raise ValueError("params0/params1 contain NaN or infinity")
    if den == 0.0:
        raise ValueError("params0 has zero norm; the relative change is undefined")
    return num / den


def _sq_norm_diff(p0: Any, p1: Any) -> jnp.ndarray:
    diffs = jax.tree_util.tree_map(lambda a, b: jnp.sum((b - a) ** 2), p0, p1)
    return sum(jax.tree_util.tree_leaves(diffs))


def _sq_norm(p: Any) -> jnp.ndarray:
    return sum(jnp.sum(a ** 2) for a in jax.tree_util.tree_leaves(p))


# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------
def _as_key(key: Any) -> jax.Array:
    if key is None:
        return jax.random.PRNGKey(config.seed())
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and shape == ():
        return key
    if dtype is not None and shape == (2,) and dtype == np.uint32:
        return jnp.asarray(key)
    raise TypeError("key must be an int or a single jax PRNG key (jax.random.PRNGKey(seed) "
                    f"or jax.random.key(seed)), got {type(key).__name__}")


def train(
    apply_fn: Callable,
    params: Any,
    x: Any,
    y: Any,
    loss: str = "mse",
    optimizer: str = "gd",
    lr: float | Callable[[int], float] = 1.0,
    steps: int = 1000,
    batch_size: int | None = None,
    record_every: int | None = None,
    x_test: Any = None,
    y_test: Any = None,
    key: Any = None,
    progress: bool = True,
    record_params: bool = False,
) -> TrainResult:
    """Train ``apply_fn(params, x)`` on ``(x, y)`` and record its history.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n,) or (n, k)``, differentiable in
        ``params`` (e.g. a neural-tangents ``stax`` apply function).
      params: initial parameter pytree (not modified).
      x: inputs ``(n, ...)`` (``(n, d)`` for FC nets, ``(n, H, W, C)`` for
        convolutions).
      y: targets ``(n,)`` or ``(n, k)``; integer labels ``(n,)`` or one-hot
        ``(n, k)`` for ``cross_entropy`` with ``k >= 2`` outputs, ``{-1, +1}``
        labels for one output (see the module docstring for the losses).
      loss: ``"mse"`` or ``"cross_entropy"``.
      optimizer: ``"gd"`` (full batch), ``"sgd"`` (minibatches, needs
        ``batch_size``) or ``"adam"`` (full batch unless ``batch_size``).
      lr: learning rate ``> 0``, or a schedule ``lr(step) -> float`` written
        with ``jnp`` (it is traced: ``step`` is a traced integer).
      steps: number of parameter updates ``>= 1``.
      batch_size: minibatch size ``1 <= b <= n`` for ``sgd``/``adam``. Each
        epoch draws a fresh permutation from ``key`` and runs ``n // b``
        batches; the ``n % b`` left-over examples sit that epoch out.
      record_every: record the history every this many updates (default
        ``max(1, steps // 100)``); step 0 and the last step are always recorded.
      x_test, y_test: optional held-out set, both or neither.
      key: int or ``jax.random.PRNGKey`` seeding the minibatch shuffles
        (default ``config.seed()``); the same key gives the same run.
      progress: show a ``tqdm.auto`` progress bar.
      record_params: also keep a copy of the parameters at every record in
        ``history["params_history"]`` (memory: ``R`` copies of the model).

    Returns:
      :class:`TrainResult` ``(params, history)``.

    Training stops early with a ``RuntimeWarning`` if the training loss
    becomes NaN or infinite (step size too large); the history then ends at
    the first non-finite record.

    The updates run as jit-compiled ``lax.fori_loop`` chunks of
    ``record_every`` steps, so Python overhead is paid once per record.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    loss = check_choice(loss, "loss", LOSSES)
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    if callable(lr):
        lr_sched = lr
    else:
        check_scalar(lr, "lr", min_value=0.0, strict_min=True)
        lr_sched = float(lr)
    check_scalar(steps, "steps", kind=int, min_value=1)
    if record_every is None:
        record_every = max(1, steps // 100)
    check_scalar(record_every, "record_every", kind=int, min_value=1)
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    n = x.shape[0]
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1, max_value=n)
        if optimizer == "gd" and batch_size != n:
            raise ValueError("batch_size must be None for optimizer='gd' (full batch); "
                             "use optimizer='sgd' for minibatches")
    elif optimizer == "sgd":
        raise ValueError("batch_size is required for optimizer='sgd'")
    if (x_test is None) != (y_test is None):
        raise ValueError("x_test and y_test must be given together")
    has_test = x_test is not None
    if has_test:
        x_test = check_array(x_test, "x_test", ndim=x.ndim)
        y_test = check_array(y_test, "y_test", ndim=y.ndim)
        check_same_length("x_test", x_test, "y_test", y_test)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_test must have per-example shape {x.shape[1:]}, "
                             f"got {x_test.shape[1:]}")
    key = _as_key(key)

    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves")
    if any(not np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves):
        raise ValueError("params contains NaN or infinity")
    try:
        out = jax.eval_shape(apply_fn, params, jnp.asarray(x[:1]))
    except Exception as err:  # noqa: BLE001 - rethrow with context
        raise TypeError(f"apply_fn(params, x) failed on x[:1]: {err}") from err
    if not hasattr(out, "shape") or len(out.shape) not in (1, 2) or out.shape[0] != 1:
        raise ValueError("apply_fn(params, x) must return an array of shape (n,) or "
                         f"(n, k); got {getattr(out, 'shape', type(out).__name__)} for n=1")
    out_dim = 1 if len(out.shape) == 1 else out.shape[1]
    _check_targets(y, out_dim, loss, "y")
    if has_test:
        _check_targets(y_test, out_dim, loss, "y_test")
    mode = _accuracy_mode(y, out_dim)

    xj, yj = jnp.asarray(x), _prep_targets(y, out_dim)
    if has_test:
        xtj, ytj = jnp.asarray(x_test), _prep_targets(y_test, out_dim)
    loss_fn = _LOSS_FNS[loss]

    def objective(p, xb, yb):
        return loss_fn(apply_fn(p, xb), yb)

    if optimizer == "adam":
        opt_init, opt_update, get_params = _opt.adam(lr_sched)
    else:
        opt_init, opt_update, get_params = _opt.sgd(lr_sched)

    bs = n if batch_size is None else batch_size
    n_batches = n // bs
    minibatch = bs < n or optimizer == "sgd"

    def body(i, state):
        if minibatch:
            epoch, j = i // n_batches, i % n_batches
            perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
            idx = jax.lax.dynamic_slice(perm, (j * bs,), (bs,))
            xb, yb = jnp.take(xj, idx, axis=0), jnp.take(yj, idx, axis=0)
        else:
            xb, yb = xj, yj
        grads = jax.grad(objective)(get_params(state), xb, yb)
        return opt_update(i, grads, state)

    @jax.jit
    def run_chunk(state, start, stop):
        return jax.lax.fori_loop(start, stop, body, state)

    @jax.jit
    def metrics(p, p0):
        f = apply_fn(p, xj)
        res = [loss_fn(f, yj), _accuracy_jnp(f, yj, mode)]
        if has_test:
            ft = apply_fn(p, xtj)
            res += [loss_fn(ft, ytj), _accuracy_jnp(ft, ytj, mode)]
        sq0 = _sq_norm(p0)
        res.append(jnp.where(sq0 > 0, jnp.sqrt(_sq_norm_diff(p0, p) / jnp.where(sq0 > 0, sq0, 1.0)),
                             jnp.nan))
        return res

    hist: dict[str, list] = {k: [] for k in HISTORY_KEYS}
    params_hist: list = []

    def record(step, p):
        vals = [float(v) for v in jax.device_get(metrics(p, params))]
        hist["step"].append(step)
        hist["train_loss"].append(vals[0])
        hist["train_acc"].append(vals[1])
        hist["test_loss"].append(vals[2] if has_test else np.nan)
        hist["test_acc"].append(vals[3] if has_test else np.nan)
        hist["weight_change"].append(vals[-1])
        if record_params:
            params_hist.append(jax.tree_util.tree_map(np.asarray, jax.device_get(p)))
        return np.isfinite(vals[0])

    state = opt_init(params)
    record(0, params)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"train ({optimizer}, {loss})", leave=False)
    try:
        done = 0
        while done < steps:
            stop = min(done + record_every, steps)
            state = run_chunk(state, done, stop)
            p = get_params(state)
            ok = record(stop, p)
            if bar is not None:
                bar.update(stop - done)
                bar.set_postfix(loss=f"{hist['train_loss'][-1]:.4g}", refresh=False)
            done = stop
            if not ok:
                warnings.warn(f"training diverged: the training loss is not finite at "
                              f"step {stop}; stopping (lower lr)", RuntimeWarning,
                              stacklevel=2)
                break
    finally:
        if bar is not None:
            bar.close()

    history: dict[str, Any] = {
        k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64)
        for k, v in hist.items()
    }
    if record_params:
        history["params_history"] = params_hist
    return TrainResult(params=get_params(state), history=history)
