"""FGSM and PGD adversarial attacks against any differentiable JAX model, networks or kernels.

An attack maximises a loss over the per-example ball ``||x_adv_i - x_i|| <= eps``
(``norm="linf"``: max over all non-batch axes; ``norm="l2"``: Euclidean norm over all
non-batch axes), optionally inside the data range ``clip=(lo, hi)``.

Steps (``g = grad_x loss``, per example ``i``)::

    linf:  x <- x + step_size * sign(g_i)
    l2:    x <- x + step_size * g_i / ||g_i||_2        (no move where g_i = 0)

followed by projection onto the eps-ball around the clean ``x`` and clipping to
``clip``.  FGSM (Goodfellow et al. 2015) is one such step with ``step_size = eps`` from
the clean input; PGD (Madry et al. 2018) iterates ``steps`` times, optionally from a
uniform random point of the ball, and with *random restarts* keeps, per example, the
worst point found.  Steps are normalised per example, so the scale of the loss (sum vs
mean over examples) does not matter.

Two interfaces
--------------
*Loss functions* (:func:`fgsm`, :func:`pgd`, :func:`pgd_jax`, :func:`robust_accuracy`):
``loss_fn(x, y) -> scalar`` is any differentiable JAX function, e.g.
``loss_for_predictor(lambda x: apply_fn(params, x))``.  Each new closure compiles anew.

*Models* (:class:`Predictor`, :func:`attack_model`, :func:`robustness_curve`,
:func:`input_gradient`, :func:`accuracy`): a model is ``apply_fn(params, x)`` with the
parameters passed to the compiled attack as an *argument*, so every network of one
architecture (every checkpoint of a training run, every seed) and every ``eps`` share one
compilation.  :func:`attack_model` returns the adversarial inputs together with the
per-example verdict ``robust`` (correct on the clean input and on every PGD iterate of
every restart).

Kernel predictors: the NTK adversary
------------------------------------
:func:`kernel_predictor` turns a neural-tangents ``kernel_fn`` and training data into a
:class:`Predictor` ``f(x) = K(x, X) alpha`` (kernel ridge regression, or the mean output
of infinitely wide networks after gradient descent for time ``t``), differentiable in
``x`` through :func:`lecture_lib.kernels.analytic_kernel_jax`.  Attacking it is the
"NTK adversary" of Tsilivis & Kempe (NeurIPS 2022): adversarial examples of an infinitely
wide network, computed without training any network.

Adversarial training
--------------------
:func:`pgd_perturb` builds the ``perturb`` hook of :func:`lecture_lib.train.fit`
(Madry et al. 2018: every training batch is replaced by its PGD attack on the current
model before the update).  :func:`random_noise` is the control: a random perturbation of
the same norm.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import krr, losses, metrics
from .precision import resolve_dtype
from .validation import (
    check_array, check_choice, check_key, check_same_length, check_scalar, is_tracer,
)

__all__ = [
    "NORMS", "METHODS",
    # loss-function interface
    "fgsm", "pgd", "pgd_jax", "loss_for_predictor", "robust_accuracy", "perturbation_norms",
    # model interface
    "Predictor", "KernelParams", "kernel_predictor", "predict", "accuracy", "AttackResult",
    "attack_model", "RobustnessCurve", "robustness_curve", "input_gradient",
    # training and controls
    "pgd_perturb", "random_noise",
]

NORMS: tuple[str, ...] = ("linf", "l2")
METHODS: tuple[str, ...] = ("pgd", "fgsm", "noise")


# ----------------------------------------------------------------------------
# pure-jax core
# ----------------------------------------------------------------------------
def _per_example_l2(v: jnp.ndarray) -> jnp.ndarray:
    """``||v_i||_2`` over all non-batch axes, shaped ``(n, 1, ..., 1)``."""
    axes = tuple(range(1, v.ndim))
    return jnp.sqrt(jnp.sum(v * v, axis=axes, keepdims=True))


def _step_direction(g: jnp.ndarray, norm: str) -> jnp.ndarray:
    if norm == "linf":
        return jnp.sign(g)
    gn = _per_example_l2(g)
    return jnp.where(gn > 0, g / jnp.where(gn > 0, gn, 1.0), 0.0)


def _project(delta: jnp.ndarray, eps: jnp.ndarray, norm: str) -> jnp.ndarray:
    if norm == "linf":
        return jnp.clip(delta, -eps, eps)
    dn = _per_example_l2(delta)
    scale = jnp.where(dn > eps, eps / jnp.where(dn > 0, dn, 1.0), 1.0)
    return delta * scale


def _random_start(key: jax.Array, x: jnp.ndarray, eps: jnp.ndarray, norm: str) -> jnp.ndarray:
    """A uniform sample of the per-example eps-ball (L-inf box or L2 ball)."""
    if norm == "linf":
        return jax.random.uniform(key, x.shape, x.dtype, -1.0, 1.0) * eps
    k1, k2 = jax.random.split(key)
    d = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    z = jax.random.normal(k1, x.shape, x.dtype)
    z = z / jnp.maximum(_per_example_l2(z), jnp.finfo(x.dtype).tiny)
    r = jax.random.uniform(k2, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype) ** (1.0 / d)
    return z * r * eps


def _per_example_loss(loss_fn: Callable, x: jnp.ndarray, y: Any) -> jnp.ndarray:
    """``(n,)`` values ``loss_fn(x[i:i+1], y[i:i+1])`` (for losses that are means or sums of
    per-example terms these rank the examples' own losses)."""
    if y is None:
        return jax.vmap(lambda xi: loss_fn(xi[None], None))(x)
    return jax.vmap(lambda xi, yi: loss_fn(xi[None], yi[None]))(x, y)


def pgd_jax(
    loss_fn: Callable[[Any, Any], Any],
    x: jnp.ndarray,
    y: Any,
    eps: Any,
    step_size: Any,
    steps: Any,
    norm: str = "linf",
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: jax.Array | None = None,
    restarts: int = 1,
) -> jnp.ndarray:
    """PGD without input checks, returning a ``jnp`` array: usable inside
    ``jit`` (e.g. adversarial training).  ``eps``, ``step_size``, ``steps`` and
    ``clip`` may be traced; ``norm``/``random_start``/``restarts`` must be static.

    With ``restarts = R > 1`` the attack runs ``R`` times (restart ``r > 0`` from a
    random point of the ball, restart 0 from a random point only if ``random_start``)
    and keeps, per example, the last iterate of the restart with the largest
    per-example loss ``loss_fn(x_adv[i:i+1], y[i:i+1])`` (Rice et al. 2020's rule).
    See :func:`pgd` for the arguments."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    eps = jnp.asarray(eps, x.dtype)
    step_size = jnp.asarray(step_size, x.dtype)
    grad_fn = jax.grad(loss_fn)
    if (random_start or restarts > 1) and key is None:
        raise ValueError("key is required when random_start=True or restarts > 1")

    def clip_fn(v):
        return v if clip is None else jnp.clip(v, clip[0], clip[1])

    def body(_, xa):
        g = grad_fn(xa, y)
        xa = xa + step_size * _step_direction(g, norm)
        return clip_fn(x + _project(xa - x, eps, norm))

    def one_run(start_random, k):
        x0 = clip_fn(x + _random_start(k, x, eps, norm)) if start_random else x
        return jax.lax.fori_loop(0, steps, body, x0)

    if restarts == 1:
        return one_run(random_start, key)
    best = one_run(random_start, jax.random.fold_in(key, 0))
    best_loss = _per_example_loss(loss_fn, best, y)

    def restart(r, carry):
        best, best_loss = carry
        xa = one_run(True, jax.random.fold_in(key, r))
        la = _per_example_loss(loss_fn, xa, y)
        better = la > best_loss
        shape = (-1,) + (1,) * (x.ndim - 1)
        return jnp.where(better.reshape(shape), xa, best), jnp.maximum(la, best_loss)

    return jax.lax.fori_loop(1, restarts, restart, (best, best_loss))[0]


_pgd_jit = jax.jit(pgd_jax, static_argnames=("loss_fn", "norm", "random_start", "restarts"))


# ----------------------------------------------------------------------------
# public, checked API
# ----------------------------------------------------------------------------
def _check_common(loss_fn, x, y, eps, norm, clip, batch_size):
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    x = check_array(x, "x", min_ndim=1)
    if y is not None:
        y = check_array(y, "y", min_ndim=1)
        check_same_length("x", x, "y", y)
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", NORMS)
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2:
            raise TypeError("clip must be None or a pair (lo, hi)")
        lo, hi = clip
        check_scalar(lo, "clip[0]")
        check_scalar(hi, "clip[1]")
        if not lo < hi:
            raise ValueError(f"clip must satisfy lo < hi, got {clip}")
        if x.min() < lo or x.max() > hi:
            raise ValueError(f"x has values outside clip={tuple(clip)}: "
                             f"[{x.min():.4g}, {x.max():.4g}]")
        clip = (float(lo), float(hi))
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1)
    xs = jnp.asarray(x[: (batch_size or x.shape[0])])
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        xs = xs.astype(jnp.float32)
    ys = None if y is None else jnp.asarray(y[: xs.shape[0]])
    try:
        out = jax.eval_shape(loss_fn, xs, ys)
    except Exception as err:  # noqa: BLE001 - rethrow with context
        raise TypeError(f"loss_fn(x, y) failed: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError("loss_fn(x, y) must return a scalar, got shape "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return x, y, norm, clip


def _run(loss_fn, x, y, eps, step_size, steps, norm, random_start, clip, key, batch_size,
         restarts=1):
    n = x.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    outs = []
    for b, start in enumerate(range(0, n, bs)):
        xb = x[start:start + bs]
        yb = None if y is None else jnp.asarray(y[start:start + bs])
        kb = None if key is None else jax.random.fold_in(key, b)
        outs.append(np.asarray(_pgd_jit(loss_fn, jnp.asarray(xb), yb, eps, step_size,
                                        steps, norm=norm, random_start=random_start,
                                        clip=clip, key=kb, restarts=restarts)))
    x_adv = np.concatenate(outs, axis=0)
    return _finalize(x, x_adv, eps, norm, clip)


def _finalize(x: np.ndarray, x_adv: np.ndarray, eps: float, norm: str,
              clip: tuple[float, float] | None) -> np.ndarray:
    """Re-project in the dtype of ``x`` (float64 for numpy input even when JAX
    computed in float32), so the eps-ball and clip range hold in the output."""
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    xx = x.astype(dtype, copy=False)
    delta = x_adv.astype(dtype) - xx
    if norm == "linf":
        delta = np.clip(delta, -eps, eps)
    else:
        dn = np.sqrt(np.sum(delta.reshape(len(delta), -1) ** 2, axis=1))
        scale = np.where(dn > eps, eps / np.where(dn > 0, dn, 1.0), 1.0)
        delta = delta * scale.reshape((-1,) + (1,) * (delta.ndim - 1)).astype(dtype)
    out = xx + delta
    if clip is not None:
        out = np.clip(out, clip[0], clip[1])
    return out


def fgsm(
    loss_fn: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    eps: float,
    norm: str = "linf",
    clip: tuple[float, float] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Fast gradient (sign) method: one step of size ``eps``.

    ``x_adv = x + eps * sign(g)`` (``linf``) or ``x + eps * g / ||g||_2``
    (``l2``, per example), ``g = grad_x loss_fn(x, y)``, then clipped to
    ``clip``.

    Args:
      loss_fn: ``loss_fn(x, y) -> scalar``, differentiable in ``x``.
      x: clean inputs ``(n, ...)``; must lie inside ``clip`` when given.
      y: targets passed through to ``loss_fn`` (``(n, ...)``) or ``None``.
      eps: radius ``>= 0`` of the per-example ball (``eps = 0`` returns ``x``).
      norm: ``"linf"`` or ``"l2"`` (over all non-batch axes).
      clip: ``(lo, hi)`` data range, or ``None``.
      batch_size: attack this many examples at a time (valid when the loss
        is a sum/mean of per-example terms); ``None``: all at once.

    Returns:
      ``x_adv`` as ``np.ndarray`` of the shape and (float) dtype of ``x``.
    """
    x, y, norm, clip = _check_common(loss_fn, x, y, eps, norm, clip, batch_size)
    return _run(loss_fn, x, y, eps, eps, 1, norm, False, clip, None, batch_size)


def pgd(
    loss_fn: Callable[[Any, Any], Any],
    x: Any,
    y: Any,
    eps: float,
    step_size: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: Any = None,
    batch_size: int | None = None,
    restarts: int = 1,
) -> np.ndarray:
    """Projected gradient descent (ascent on the loss), Madry et al. 2018.

    ``x_0 = x`` (or ``x`` + uniform noise in the eps-ball when
    ``random_start``), then ``steps`` times: move ``step_size`` along
    ``sign(g)`` (``linf``) or ``g / ||g||_2`` (``l2``), project onto the
    per-example eps-ball around ``x``, clip to ``clip``.

    Args:
      loss_fn, x, y, eps, norm, clip, batch_size: as in :func:`fgsm`.
      step_size: step length ``> 0``; default ``2.5 * eps / steps``.
      steps: number of iterations ``>= 1``.
      random_start: start from a uniform random point of the ball.
      key: int or ``jax.random.PRNGKey`` for the random starts (default 0);
        the same key gives the same result.
      restarts: run the attack this many times (restarts after the first start from
        random points of the ball) and keep, per example, the run with the largest
        per-example loss ``loss_fn(x_adv[i:i+1], y[i:i+1])`` (Rice et al. 2020).  For
        losses that are means of per-example terms (as :func:`loss_for_predictor` builds).

    Returns:
      ``x_adv`` as ``np.ndarray`` of the shape and (float) dtype of ``x``
      (the last iterate).  Not traceable (it checks inputs and returns numpy):
      inside ``jit``/adversarial training use :func:`pgd_jax`.
    """
    x, y, norm, clip = _check_common(loss_fn, x, y, eps, norm, clip, batch_size)
    check_scalar(steps, "steps", kind=int, min_value=1)
    if step_size is None:
        step_size = 2.5 * eps / steps
    else:
        check_scalar(step_size, "step_size", min_value=0.0, strict_min=True)
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
    check_scalar(restarts, "restarts", kind=int, min_value=1)
    key = check_key(key, default=0) if (random_start or restarts > 1) else None
    return _run(loss_fn, x, y, eps, step_size, steps, norm, bool(random_start), clip, key,
                batch_size, int(restarts))


def loss_for_predictor(predict_fn: Callable[[Any], Any], loss: str = "mse"
                       ) -> Callable[[Any, Any], Any]:
    """``loss_fn(x, y) = L(predict_fn(x), y)`` for use with :func:`fgsm`/:func:`pgd`.

    ``predict_fn(x) -> (n,) or (n, k)`` is a differentiable JAX function (a
    network ``lambda x: apply_fn(params, x)``, a kernel predictor
    ``lambda x: K(x, X_train) @ alpha``).  ``loss``: ``"mse"``
    (``0.5 mean_i sum_j (f_ij - y_ij)^2``) or ``"cross_entropy"`` (softmax
    cross-entropy with integer/one-hot labels, logistic loss for one output
    with ``{-1, +1}`` labels), as in :mod:`lecture_lib.losses` (``"mean"`` reduction).
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}")
    base = losses.get(loss)

    def loss_fn(x, y):
        return base(predict_fn(x), y)

    loss_fn.__doc__ = f"{loss} loss of predict_fn(x) against y"
    return loss_fn


def perturbation_norms(x: Any, x_adv: Any, norm: str = "linf") -> np.ndarray:
    """Per-example ``||x_adv_i - x_i||`` (``linf`` or ``l2`` over non-batch axes), ``(n,)``."""
    x = check_array(x, "x", min_ndim=1)
    x_adv = check_array(x_adv, "x_adv", min_ndim=1)
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {x.shape} and {x_adv.shape}")
    norm = check_choice(norm, "norm", NORMS)
    d = (x_adv - x).reshape(x.shape[0], -1).astype(np.float64)
    return np.abs(d).max(axis=1) if norm == "linf" else np.sqrt((d * d).sum(axis=1))


def robust_accuracy(
    predict_fn: Callable[[Any], Any],
    x: Any,
    y: Any,
    eps: float,
    attack: str = "pgd",
    loss: str = "cross_entropy",
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = False,
    clip: tuple[float, float] | None = None,
    key: Any = None,
    batch_size: int | None = None,
    restarts: int = 1,
) -> float:
    """Accuracy of ``predict_fn`` on adversarial inputs.

    Attacks ``loss_for_predictor(predict_fn, loss)`` with :func:`fgsm`
    (``attack="fgsm"``) or :func:`pgd` and returns
    :func:`lecture_lib.metrics.accuracy` of ``predict_fn(x_adv)`` against ``y``
    (sign agreement for one output and ``{-1, +1}`` labels, argmax otherwise).
    ``eps = 0`` gives the clean accuracy.  For networks and kernel predictors given as
    ``apply_fn(params, x)``, :func:`attack_model` is stronger (it counts an example as
    broken when any PGD iterate fools the model) and compiles once per architecture.
    """
    attack = check_choice(attack, "attack", ("fgsm", "pgd"))
    loss_fn = loss_for_predictor(predict_fn, loss)
    if attack == "fgsm":
        x_adv = fgsm(loss_fn, x, y, eps, norm=norm, clip=clip, batch_size=batch_size)
    else:
        x_adv = pgd(loss_fn, x, y, eps, step_size=step_size, steps=steps, norm=norm,
                    random_start=random_start, clip=clip, key=key, batch_size=batch_size,
                    restarts=restarts)
    n = x_adv.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    pred = np.concatenate([np.asarray(predict_fn(jnp.asarray(x_adv[s:s + bs])))
                           for s in range(0, n, bs)], axis=0)
    return metrics.accuracy(pred, y)


# ----------------------------------------------------------------------------
# models as (apply_fn, params): one compilation per architecture
# ----------------------------------------------------------------------------
class Predictor(NamedTuple):
    """A model ``f(x) = apply_fn(params, x)`` with outputs ``(n,)`` or ``(n, k)``.

    ``apply_fn`` is static (compiled attacks are cached per function object), ``params`` a
    pytree of arrays passed to them as an *argument*, so all networks of one architecture
    share one compilation.  ``dtype``: ``None`` (JAX's default, float32) or ``"float64"``:
    :func:`attack_model`, :func:`predict`, :func:`accuracy`, ... then compute in a local
    float64 scope (the default of :func:`kernel_predictor`).  ``f(x)`` calls
    ``apply_fn(params, x)`` directly (traceable, no dtype scope).

    A trained network: ``Predictor(apply_fn, trajectory.params)``.
    """

    apply_fn: Callable
    params: Any
    dtype: str | None = None

    def __call__(self, x):
        return self.apply_fn(self.params, x)


class KernelParams(NamedTuple):
    """Parameters of a kernel predictor ``f(x) = K(x, x_train) alpha``: the training inputs
    ``x_train (n, ...)`` and the dual coefficients ``alpha (n,)`` or ``(n, k)``."""

    x_train: Any
    alpha: Any


def _check_model(model: Any, name: str = "model") -> tuple[Predictor, Any]:
    if not isinstance(model, Predictor):
        raise TypeError(f"{name} must be an attacks.Predictor(apply_fn, params) (a trained "
                        f"network or attacks.kernel_predictor(...)), got {type(model).__name__}")
    if not callable(model.apply_fn):
        raise TypeError(f"{name}.apply_fn must be callable, got {type(model.apply_fn).__name__}")
    _, ctx = resolve_dtype(model.dtype, f"{name}.dtype")
    return model, ctx


@functools.lru_cache(maxsize=64)
def _kernel_apply(kernel_fn: Callable, get: str) -> Callable:
    """One ``apply_fn`` per ``(kernel_fn, get)``: kernel predictors of one kernel share it."""
    from . import kernels

    def apply_fn(params: KernelParams, x):
        return kernels.analytic_kernel_jax(kernel_fn, x, params.x_train, get=get) @ params.alpha

    apply_fn.__doc__ = f"f(x) = K_{get}(x, params.x_train) @ params.alpha"
    return apply_fn


def kernel_predictor(
    kernel_fn: Callable,
    x_train: Any,
    y_train: Any,
    *,
    reg: float | None = None,
    t: float | None = None,
    steps: int | None = None,
    lr: float = 1.0,
    get: str = "ntk",
    dtype: str | None = "float64",
    batch_size: int = 0,
    k_train: Any = None,
) -> Predictor:
    r"""The kernel predictor ``f(x) = K(x, X) alpha`` as a differentiable :class:`Predictor`.

    ``K = kernel_fn(., ., get)`` is a neural-tangents kernel (``get="ntk"``: the NTK,
    ``"nngp"``: the NNGP kernel), ``X = x_train (n, ...)``, ``Y = y_train`` ``(n,)`` or
    ``(n, k)`` (e.g. one-hot labels).  ``alpha`` is fixed by exactly one of:

    * ``reg`` (the default, ``1e-6``, when none is given): kernel ridge regression,
      ``alpha = (K + lam I)^{-1} Y``, ``lam = reg tr(K) / n`` (:func:`lecture_lib.krr.fit`);
      ``reg -> 0`` is the infinitely wide network trained to convergence;
    * ``t``: gradient flow on ``1/2 ||f(X) - Y||^2`` for time ``t`` from ``f_0 = 0``,
      ``alpha_t = K^{-1} (I - e^{-lr t K}) Y = V diag((1 - e^{-lr t lambda}) / lambda) V^T Y``
      (:func:`lecture_lib.krr.gd_dynamics`): the mean output of infinitely wide networks
      after training time ``t`` (Lee et al. 2019), Tsilivis & Kempe's ``f^{ntk}_t``;
    * ``steps``: that many discrete GD steps of size ``lr``
      (:func:`lecture_lib.krr.gd_dynamics_discrete`); a network trained with step ``eta`` on
      the *mean* MSE corresponds to ``lr = train.kernel_lr(eta, n)``.

    Attacking this predictor (``attack_model(kernel_predictor(...), x, y, eps)``) is the
    NTK adversary: the gradient ``d loss(f(x), y) / dx`` flows through ``K(x, X)``
    (:func:`lecture_lib.kernels.analytic_kernel_jax`).  For ReLU kernels it is undefined at
    inputs that coincide with (are parallel to) a training input: attack test points.

    Args:
      kernel_fn: third element of a stax triple (e.g. ``kernels.fc(2)[2]``; it must accept
        ``x_train``'s shape).
      x_train, y_train: training set.
      reg, t, steps, lr: see above (``lr > 0`` only enters with ``t``/``steps``).
      get: ``"ntk"`` or ``"nngp"``.
      dtype: precision of the predictor (``"float64"``: train kernel and attacks in float64).
      batch_size: ``nt.batch`` block size for the train kernel (see
        :func:`lecture_lib.kernels.analytic_kernel`; 0: one call).
      k_train: the ``(n, n)`` train kernel if already computed (several predictors of one
        kernel), else computed here in float64.

    Returns:
      ``Predictor(apply_fn, KernelParams(x_train, alpha), dtype)``; ``apply_fn`` is shared
      by all predictors of the same ``(kernel_fn, get)``.
    """
    from . import kernels

    if not callable(kernel_fn):
        raise TypeError(f"kernel_fn must be callable, got {type(kernel_fn).__name__}")
    get = check_choice(get, "get", ("ntk", "nngp"))
    x_train = check_array(x_train, "x_train", ndim=(2, 4))
    y_train = check_array(y_train, "y_train", ndim=(1, 2), dtype=np.float64)
    check_same_length("x_train", x_train, "y_train", y_train)
    given = [name for name, v in (("reg", reg), ("t", t), ("steps", steps)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of reg, t, steps; got {', '.join(given)}")
    check_scalar(lr, "lr", min_value=0.0, strict_min=True)
    np_dtype, _ = resolve_dtype(dtype)
    if k_train is None:
        k = kernels.analytic_kernel(kernel_fn, x_train, get=get, dtype="float64",
                                    batch_size=batch_size)
    else:
        k = check_array(k_train, "k_train", ndim=2, dtype=np.float64)
        if k.shape != (len(x_train), len(x_train)):
            raise ValueError(f"k_train must have shape {(len(x_train), len(x_train))}, got {k.shape}")
    n = k.shape[0]
    if t is not None:
        check_scalar(t, "t", min_value=0.0)
        alpha = krr.gd_dynamics(k, y_train, float(t), k_test_train=np.eye(n), lr=float(lr)).test
    elif steps is not None:
        check_scalar(steps, "steps", kind=int, min_value=0)
        alpha = krr.gd_dynamics_discrete(k, y_train, int(steps), k_test_train=np.eye(n),
                                         lr=float(lr)).test
    else:
        reg = 1e-6 if reg is None else reg
        check_scalar(reg, "reg", min_value=0.0)
        alpha = krr.fit(k, y_train, reg)
    # alpha = "f_t at test inputs whose kernel row is e_i", i.e. V diag(gain) V^T Y
    params = KernelParams(np.asarray(x_train, np_dtype), np.asarray(alpha, np_dtype))
    return Predictor(_kernel_apply(kernel_fn, get), params, None if dtype is None else
                     np.dtype(np_dtype).name)


def _as_float(x: np.ndarray, dtype: Any) -> np.ndarray:
    return x.astype(dtype, copy=False)


def _batches(n: int, batch_size: int | None):
    bs = n if batch_size is None else min(batch_size, n)
    return [(b, s, min(s + bs, n)) for b, s in enumerate(range(0, n, bs))]


@functools.lru_cache(maxsize=64)
def _jit_apply(apply_fn: Callable) -> Callable:
    return jax.jit(apply_fn)


def predict(model: Predictor, x: Any, batch_size: int | None = None) -> np.ndarray:
    """``model(x)`` as numpy (in the model's dtype scope, jitted, in batches)."""
    model, ctx = _check_model(model)
    x = check_array(x, "x", min_ndim=1)
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1)
    np_dtype, _ = resolve_dtype(model.dtype)
    with ctx:
        f = _jit_apply(model.apply_fn)
        return np.concatenate([np.asarray(f(model.params, jnp.asarray(_as_float(x[s:e], np_dtype))))
                               for _, s, e in _batches(len(x), batch_size)], axis=0)


def accuracy(model: Predictor, x: Any, y: Any, batch_size: int | None = None) -> float:
    """:func:`lecture_lib.metrics.accuracy` of ``model(x)`` against ``y`` (integer labels,
    one-hot rows, or ``{-1, +1}`` for one output).  Evaluating ``x_adv`` of another model
    gives the accuracy under a *transferred* attack."""
    y = check_array(y, "y", ndim=(1, 2))
    return metrics.accuracy(predict(model, x, batch_size), y)


def _correct(pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """``(n,)`` bool: the jnp twin of :func:`lecture_lib.metrics.accuracy` per example."""
    pred = pred[:, None] if pred.ndim == 1 else pred
    if pred.shape[1] == 1:
        return jnp.sign(pred[:, 0]) == jnp.reshape(y, (-1,)).astype(pred.dtype)
    labels = y if y.ndim == 1 else jnp.argmax(y, axis=1)
    return jnp.argmax(pred, axis=1) == labels.astype(jnp.int32)


def _correct_np(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(n,)`` bool per example, the rule of :func:`lecture_lib.metrics.accuracy`."""
    pred = pred[:, None] if pred.ndim == 1 else pred
    if pred.shape[1] == 1:
        return np.sign(pred[:, 0]) == np.reshape(y, (-1,))
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    return np.argmax(pred, axis=1) == labels


def _loss_per_example(base: Callable, pred: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    pred = pred[:, None] if pred.ndim == 1 else pred
    return jax.vmap(lambda p, t: base(p[None], t[None]))(pred, y)


def _direction_either(g: jnp.ndarray, l2: jnp.ndarray) -> jnp.ndarray:
    """:func:`_step_direction` with the norm chosen by a traced bool ``l2``."""
    return jnp.where(l2, _step_direction(g, "l2"), _step_direction(g, "linf"))


def _project_either(delta: jnp.ndarray, eps: jnp.ndarray, l2: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(l2, _project(delta, eps, "l2"), _project(delta, eps, "linf"))


def _random_start_either(key: jax.Array, x: jnp.ndarray, eps: jnp.ndarray,
                         l2: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(l2, _random_start(key, x, eps, "l2"), _random_start(key, x, eps, "linf"))


def _model_attack_core(apply_fn, loss, params, x, y, clean, eps, step_size, steps,
                       restarts, random_start, lo, hi, key, l2):
    """PGD on ``loss(apply_fn(params, x), y)`` tracking the worst iterate per example.

    Everything but ``apply_fn`` and ``loss`` is traced (one compilation serves every radius,
    norm -- ``l2``: a bool, ``False`` for L-inf; both step rules are computed elementwise and
    one is selected, the same numbers as a norm-specialised loop --, step count, restart
    count and clip range), and the model appears at one call site (compiling a kernel
    predictor's gradient dominates the cost of a call).
    Candidates are the iterates after 1, ..., ``steps`` steps of every restart; per example
    the attack keeps the candidate that is misclassified with the largest loss, or, if none
    is misclassified, the one with the largest loss.  Returns ``(x_adv, robust)``:
    ``robust[i]`` = ``clean[i]`` and correct on every candidate.
    """
    base = losses.get(loss)
    eps = jnp.asarray(eps, x.dtype)
    step_size = jnp.asarray(step_size, x.dtype)
    shape = (-1,) + (1,) * (x.ndim - 1)

    def clip_fn(v):
        return jnp.clip(v, lo, hi)

    def objective(z):
        pred = apply_fn(params, z)
        return base(pred, y), pred

    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def consider(state, z, pred):
        best_x, best_wrong, best_loss, broken = state
        wrong = ~_correct(pred, y)
        lz = _loss_per_example(base, pred, y)
        better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (lz > best_loss))
        return (jnp.where(better.reshape(shape), z, best_x), best_wrong | wrong,
                jnp.where(better, lz, best_loss), broken | wrong)

    def one_restart(r, state):
        k = jax.random.fold_in(key, r)
        noise = _random_start_either(k, x, eps, l2)
        start_random = jnp.logical_or(random_start, r > 0)
        xa = clip_fn(x + jnp.where(start_random, noise, jnp.zeros_like(x)))

        def step(i, carry):  # i = 0 .. steps: gradient at x_i, x_i a candidate if i > 0
            xa, state = carry
            (_, pred), g = value_and_grad(xa)
            new = consider(state, xa, pred)
            state = jax.tree_util.tree_map(lambda u, v: jnp.where(i > 0, u, v), new, state)
            moved = clip_fn(x + _project_either(xa + step_size * _direction_either(g, l2) - x,
                                                eps, l2))
            return jnp.where(i < steps, moved, xa), state

        return jax.lax.fori_loop(0, steps + 1, step, (xa, state))[1]

    n = x.shape[0]
    init = (x, jnp.zeros(n, bool), jnp.full(n, -jnp.inf, x.dtype), ~clean)
    best_x, _, _, broken = jax.lax.fori_loop(0, restarts, one_restart, init)
    return best_x, ~broken


_model_attack_jit = jax.jit(_model_attack_core, static_argnums=(0, 1))


class AttackResult(NamedTuple):
    """Output of :func:`attack_model`.

    ``x_adv`` ``(n, ...)``: per example the worst point found (misclassified if possible);
    ``robust`` ``(n,)`` bool: correct on the clean input and on every iterate of every
    restart (``robust.mean()`` is the robust accuracy, never above
    ``accuracy(model, x_adv, y)`` except for examples the model gets wrong only when clean);
    ``clean`` ``(n,)`` bool: correct on the clean input.
    """

    x_adv: np.ndarray
    robust: np.ndarray
    clean: np.ndarray

    @property
    def robust_accuracy(self) -> float:
        return float(np.mean(self.robust))

    @property
    def clean_accuracy(self) -> float:
        return float(np.mean(self.clean))


def _check_attack_args(x, y, eps, norm, clip, steps, step_size, restarts, random_start,
                       batch_size, loss):
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", NORMS)
    loss = check_choice(loss, "loss", tuple(losses.LOSSES))
    check_scalar(steps, "steps", kind=int, min_value=1)
    if step_size is not None:
        check_scalar(step_size, "step_size", min_value=0.0, strict_min=True)
    check_scalar(restarts, "restarts", kind=int, min_value=1)
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
    if batch_size is not None:
        check_scalar(batch_size, "batch_size", kind=int, min_value=1)
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2:
            raise TypeError("clip must be None or a pair (lo, hi)")
        lo, hi = float(check_scalar(clip[0], "clip[0]")), float(check_scalar(clip[1], "clip[1]"))
        if not lo < hi:
            raise ValueError(f"clip must satisfy lo < hi, got {clip}")
        if x.min() < lo or x.max() > hi:
            raise ValueError(f"x has values outside clip={tuple(clip)}: "
                             f"[{x.min():.4g}, {x.max():.4g}]")
        clip = (lo, hi)
    return x, y, norm, clip, loss


def attack_model(
    model: Predictor,
    x: Any,
    y: Any,
    eps: float,
    *,
    method: str = "pgd",
    norm: str = "linf",
    steps: int = 20,
    step_size: float | None = None,
    restarts: int = 1,
    random_start: bool = False,
    loss: str = "cross_entropy",
    clip: tuple[float, float] | None = None,
    key: Any = None,
    batch_size: int | None = None,
) -> AttackResult:
    """White-box attack on ``model`` (a network or a kernel predictor).

    ``method="pgd"``: ``steps`` steps of size ``step_size`` (default ``2.5 eps / steps``,
    Madry et al.) on ``loss(model(x), y)``; restart 0 starts at ``x`` (at a random point of
    the ball if ``random_start``), restarts ``1 .. restarts-1`` at random points.
    ``method="fgsm"``: one step of size ``eps`` from ``x`` (``steps``, ``restarts`` ignored).
    ``method="noise"``: :func:`random_noise` of norm ``eps`` (the control).
    Per example the worst point visited is kept (see :class:`AttackResult`); an example
    counts as robust only if no visited point fools the model -- the evaluation that
    gradient masking cannot flatter by a lucky last iterate.

    Args:
      model: :class:`Predictor`.
      x: clean inputs ``(n, ...)``; y: labels (integer ``(n,)``, one-hot ``(n, k)``, or
        ``{-1, +1}`` for one output).
      eps: radius ``>= 0``; norm: ``"linf"`` or ``"l2"``.
      loss: ``"cross_entropy"`` (softmax CE / logistic) or ``"mse"`` (on the outputs).
      clip: data range ``(lo, hi)`` (``x`` must lie inside) or ``None``.
      key: int or PRNG key for random starts / noise (default 0).
      batch_size: attack this many examples at a time (``None``: all).

    Returns:
      :class:`AttackResult` with ``x_adv`` in the dtype of ``x`` (float).
    """
    model, ctx = _check_model(model)
    method = check_choice(method, "method", METHODS)
    x, y, norm, clip, loss = _check_attack_args(x, y, eps, norm, clip, steps, step_size,
                                                restarts, random_start, batch_size, loss)
    key = check_key(key, default=0)
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    if method == "noise":
        x_adv = random_noise(x, eps, norm=norm, key=key, clip=clip)
        clean = _correct_np(predict(model, x, batch_size), y)
        return AttackResult(x_adv, clean & _correct_np(predict(model, x_adv, batch_size), y), clean)
    if method == "fgsm":
        steps, step_size, restarts, random_start = 1, float(eps), 1, False
    elif step_size is None:
        step_size = 2.5 * float(eps) / steps
    np_dtype, _ = resolve_dtype(model.dtype)
    clean = _correct_np(predict(model, x, batch_size), y)
    lo, hi = (-np.inf, np.inf) if clip is None else clip
    outs, robust = [], []
    with ctx:
        for b, s, e in _batches(len(x), batch_size):
            xa, rb = _model_attack_jit(
                model.apply_fn, loss, model.params,
                jnp.asarray(_as_float(x[s:e], np_dtype)), jnp.asarray(y[s:e]),
                jnp.asarray(clean[s:e]), float(eps), float(step_size), int(steps),
                int(restarts), bool(random_start), lo, hi, jax.random.fold_in(key, b),
                norm == "l2")
            outs.append(np.asarray(xa))
            robust.append(np.asarray(rb))
    x_adv = _finalize(x.astype(out_dtype, copy=False), np.concatenate(outs), float(eps), norm, clip)
    return AttackResult(x_adv, np.concatenate(robust), clean)


class RobustnessCurve(NamedTuple):
    """Output of :func:`robustness_curve`: ``eps (E,)``, ``accuracy (E,)`` (robust accuracy
    at each radius; ``eps = 0`` is the clean accuracy), ``x_adv (E, n, ...)`` or ``None``,
    and the ``method``/``norm`` used."""

    eps: np.ndarray
    accuracy: np.ndarray
    x_adv: np.ndarray | None
    method: str
    norm: str


def robustness_curve(
    model: Predictor,
    x: Any,
    y: Any,
    eps: Sequence[float],
    *,
    method: str = "pgd",
    norm: str = "linf",
    keep_adv: bool = True,
    **kwargs: Any,
) -> RobustnessCurve:
    """:func:`attack_model` at every radius of ``eps`` (one compilation for all).

    ``kwargs`` go to :func:`attack_model` (``steps``, ``restarts``, ``clip``, ``key``, ...;
    the default ``step_size`` scales with each ``eps``).  ``keep_adv=False`` drops the
    adversarial inputs (memory).
    """
    eps_arr = check_array(eps, "eps", ndim=1)
    if np.any(eps_arr < 0):
        raise ValueError(f"eps must be >= 0, got {eps_arr}")
    if not isinstance(keep_adv, bool):
        raise TypeError(f"keep_adv must be a bool, got {type(keep_adv).__name__}")
    accs, advs = [], []
    for e in eps_arr:
        res = attack_model(model, x, y, float(e), method=method, norm=norm, **kwargs)
        accs.append(res.robust_accuracy)
        if keep_adv:
            advs.append(res.x_adv)
    return RobustnessCurve(eps_arr.astype(np.float64), np.asarray(accs),
                           np.stack(advs) if keep_adv else None, method, norm)


def input_gradient(model: Predictor, x: Any, y: Any, loss: str = "cross_entropy",
                   batch_size: int | None = None) -> np.ndarray:
    """``d/dx_i loss(model(x_i), y_i)`` per example, ``(n, ...)`` like ``x``: the direction
    FGSM follows (for a kernel predictor: through ``K(x, X)``)."""
    model, ctx = _check_model(model)
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    base = losses.get(loss)
    np_dtype, _ = resolve_dtype(model.dtype)
    with ctx:
        g = _jit_input_grad(model.apply_fn, base)
        return np.concatenate([
            np.asarray(g(model.params, jnp.asarray(_as_float(x[s:e], np_dtype)), jnp.asarray(y[s:e])))
            for _, s, e in _batches(len(x), batch_size)], axis=0)


@functools.lru_cache(maxsize=64)
def _jit_input_grad(apply_fn: Callable, base: Callable) -> Callable:
    # the loss is summed over examples, so row i is the gradient of example i's own loss
    return jax.jit(jax.grad(lambda p, z, t: base(apply_fn(p, z), t, reduction="sum"), argnums=1))


# ----------------------------------------------------------------------------
# adversarial training and the random-noise control
# ----------------------------------------------------------------------------
def pgd_perturb(
    eps: float | None,
    *,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    loss: str = "cross_entropy",
    random_start: bool = True,
    clip: tuple[float, float] | None = None,
) -> Callable:
    """The ``perturb`` hook of :func:`lecture_lib.train.fit` for PGD adversarial training.

    Madry et al. (2018): minimise ``E max_{||delta|| <= eps} loss(f(x + delta), y)``; the
    inner maximum is approximated by ``steps`` PGD steps (default ``step_size = 2.5 eps /
    steps``) from a random start on the *current* model, the outer minimum by the usual
    update on the perturbed batch.  ``loss`` must match the training loss.  Returns
    ``perturb(predict, x, y, key) -> x_adv`` (pure JAX, :func:`pgd_jax`); ``eps = 0``
    returns the batch unchanged (standard training through the same code path).

    ``eps=None`` returns ``perturb(predict, x, y, key, eps)`` instead, the radius coming from
    ``fit(..., perturb_args=...)``: with ``ensemble=True`` one radius per member, so standard
    (``eps = 0``) and adversarial training of several radii run in one compiled call.

    Example::

        res = train.fit(apply_fn, params, x, y, loss="cross_entropy", optimizer="adam",
                        lr=1e-3, steps=500, perturb=attacks.pgd_perturb(0.1, clip=(0, 1)))
        ens = train.fit(apply_fn, params_stack, x, y, loss="cross_entropy", ensemble=True,
                        perturb=attacks.pgd_perturb(None), perturb_args=np.array([0, .1]))
    """
    if eps is not None:
        check_scalar(eps, "eps", min_value=0.0)
    check_scalar(steps, "steps", kind=int, min_value=1)
    if step_size is not None:
        check_scalar(step_size, "step_size", min_value=0.0, strict_min=True)
    norm = check_choice(norm, "norm", NORMS)
    loss = check_choice(loss, "loss", tuple(losses.LOSSES))
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {type(random_start).__name__}")
    if clip is not None:
        if not isinstance(clip, (tuple, list)) or len(clip) != 2 or not clip[0] < clip[1]:
            raise ValueError(f"clip must be None or a pair lo < hi, got {clip!r}")
        clip = (float(clip[0]), float(clip[1]))
    random_start = bool(random_start)

    def attack(predict, x, y, key, radius):
        size = 2.5 * radius / steps if step_size is None else step_size
        return pgd_jax(loss_for_predictor(predict, loss), x, y, radius, size, steps,
                       norm=norm, random_start=random_start, clip=clip, key=key)

    what = f"PGD-{steps} ({norm}, random start {random_start}) on the {loss} loss"
    if eps is None:
        def perturb(predict, x, y, key, radius):
            return attack(predict, x, y, key, radius)
        perturb.__doc__ = what + ", radius from perturb_args"
        return perturb
    eps = float(eps)
    if eps == 0:
        def perturb(predict, x, y, key):
            return x
    else:
        def perturb(predict, x, y, key):
            return attack(predict, x, y, key, eps)
    perturb.__doc__ = what + f", eps={eps:g}"
    return perturb


def random_noise(x: Any, eps: float, *, norm: str = "linf", key: Any = None,
                 clip: tuple[float, float] | None = None) -> np.ndarray:
    """A random perturbation of norm exactly ``eps`` (before clipping): the control.

    ``linf``: ``eps * s`` with i.i.d. random signs ``s`` -- a random corner of the box,
    with the L-inf *and* L2 norms (``eps sqrt(d)``) of an FGSM step; ``l2``: ``eps`` times a
    uniformly random unit direction.  Then clipped to ``clip``.  Returns ``x``'s shape,
    float dtype.
    """
    x = check_array(x, "x", min_ndim=1)
    check_scalar(eps, "eps", min_value=0.0)
    norm = check_choice(norm, "norm", NORMS)
    key = check_key(key, default=0)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    if norm == "linf":
        d = np.asarray(jax.random.rademacher(key, x.shape, jnp.float32)).astype(dtype)
    else:
        z = np.asarray(jax.random.normal(key, x.shape, jnp.float32)).astype(np.float64)
        nz = np.sqrt((z.reshape(len(z), -1) ** 2).sum(1)).reshape((-1,) + (1,) * (x.ndim - 1))
        d = (z / np.maximum(nz, 1e-30)).astype(dtype)
    out = x.astype(dtype, copy=False) + np.asarray(eps, dtype) * d
    if clip is not None:
        out = np.clip(out, clip[0], clip[1])
    return out
