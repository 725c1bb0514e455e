r"""Pruning masks, sparse networks and Neural Tangent Transfer.

A *mask* is a pytree with the structure of the parameters: for each weight matrix / kernel
(:func:`is_prunable`; biases are never pruned) an array of the same shape holding 0 where the
weight is pruned and the weight's multiplier where it is kept (1, or ``1/sqrt(p)`` for rescaled
random pruning); other leaves hold 1.  The *density* ``p`` is the fraction of prunable weights
kept.

Sparse networks
    :func:`masked` turns ``apply_fn(params, x)`` into ``apply_fn({"w": params, "mask": mask}, x)
    = apply_fn(params * mask, x)`` with the mask behind ``jax.lax.stop_gradient``: gradient
    descent (``train.fit``) updates only the kept weights (a pruned weight's gradient is exactly
    0), the empirical NTK of the result is the NTK of the sparse network, and many masks train
    side by side with ``ensemble=True``.
Masks
    :func:`random_mask` -- each weight kept independently with probability ``p``, optionally
    rescaled by ``1/sqrt(p)`` (Yang & Wang 2022: with the rescaling the NTK of a randomly pruned
    wide network converges to the NTK of the dense one; without it every layer's output variance
    shrinks by ``p`` and the NTK with it).
    :func:`magnitude_mask` -- keep the ``p`` fraction of largest ``|w|`` in each layer
    (layer-wise, as the NTT reference code's default).
Neural Tangent Transfer (Liu & Zenke, ICML'20)
    :func:`ntt_objective` and :func:`neural_tangent_transfer`: starting from the dense network
    ``w_t`` at initialisation (the *teacher*) and its magnitude mask, optimise a sparse *student*
    ``w_s`` on unlabelled inputs to match the teacher's outputs and empirical NTK,

    .. math::

        L(w_s) = \lambda_K \,\|\Theta_s(X_1, X_2) - \Theta_t(X_1, X_2)\|^2
               + \|f_s(X) - f_t(X)\|^2 + \tfrac{\lambda_2}{p}\, \|w_s\|^2,

    (``X = X_1 \cup X_2``, the two halves of the batch), with the mask recomputed by magnitude
    every few steps; the transferred sparse network is then trained on labels as usual.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import proxies, train
from .progress import progress as _progress
from .validation import check_array, check_choice, check_rng, check_scalar

__all__ = [
    "is_prunable", "masked", "sparse_params", "apply_mask", "ones_mask", "random_mask",
    "magnitude_mask", "mask_density", "stack_masks", "ntt_objective", "NTTResult",
    "neural_tangent_transfer",
]


def is_prunable(leaf: Any) -> bool:
    """A leaf is a prunable weight when it is a matrix or conv kernel: at least 2 dimensions,
    one of them before the last of size > 1.  Biases are not: ``(k,)``, and stax's ``(1, k)``
    / ``(1, 1, 1, k)`` (so a dense layer with a single input, ``(1, k)``, is never pruned)."""
    shape = np.shape(leaf)
    return len(shape) >= 2 and max(shape[:-1]) > 1


def _check_density(density: Any) -> float:
    check_scalar(density, "density", min_value=0.0, strict_min=True, max_value=1.0)
    return float(density)


def _leaves(params: Any, name: str = "params"):
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise ValueError(f"{name} has no array leaves")
    if not any(is_prunable(a) for a in leaves):
        raise ValueError(f"{name} has no prunable weights (matrices or conv kernels)")
    return leaves, treedef


@functools.lru_cache(maxsize=32)
def masked(apply_fn: Callable) -> Callable:
    """``apply(sp, x) = apply_fn(sp["w"] * stop_gradient(sp["mask"]), x)`` for the sparse
    parameters ``sp = sparse_params(params, mask)``.  One function object per ``apply_fn``
    (cached), so compiled functions keyed on it are shared."""
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")

    def apply(sp, x):
        m = jax.lax.stop_gradient(sp["mask"])
        return apply_fn(jax.tree_util.tree_map(lambda w, k: w * k, sp["w"], m), x)

    return apply


def sparse_params(params: Any, mask: Any) -> dict:
    """``{"w": params, "mask": mask}``, the parameters of :func:`masked` networks."""
    if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(mask):
        raise ValueError("mask must have the same pytree structure as params")
    return {"w": params, "mask": mask}


def apply_mask(params: Any, mask: Any) -> Any:
    """The effective weights ``params * mask`` (leaf by leaf)."""
    if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(mask):
        raise ValueError("mask must have the same pytree structure as params")
    return jax.tree_util.tree_map(lambda w, m: w * m, params, mask)


def ones_mask(params: Any) -> Any:
    """The mask of the dense network (all ones, float32)."""
    leaves, treedef = _leaves(params)
    return jax.tree_util.tree_unflatten(treedef, [np.ones(np.shape(a), np.float32) for a in leaves])


def random_mask(params: Any, density: float, seed: Any = 0, *, rescale: bool = False) -> Any:
    """Keep each prunable weight independently with probability ``density``.

    Args:
      params: parameter pytree.
      density: keep probability ``p`` in ``(0, 1]``.
      seed: int or ``numpy.random.Generator``.
      rescale: kept weights are multiplied by ``1/sqrt(p)`` (Yang & Wang 2022), which keeps
        each layer's pre-activation variance, and the NTK, as in the dense network.

    Returns:
      mask pytree (float32).
    """
    p = _check_density(density)
    if not isinstance(rescale, bool):
        raise TypeError(f"rescale must be a bool, got {type(rescale).__name__}")
    rng = check_rng(seed)
    leaves, treedef = _leaves(params)
    scale = 1.0 / math.sqrt(p) if rescale else 1.0
    out = [(rng.random(np.shape(a)) < p).astype(np.float32) * np.float32(scale) if is_prunable(a)
           else np.ones(np.shape(a), np.float32) for a in leaves]
    return jax.tree_util.tree_unflatten(treedef, out)


def magnitude_mask(params: Any, density: float) -> Any:
    """Keep, in every prunable layer, the ``round(p * size)`` (at least 1) weights of largest
    ``|w|`` (ties broken by position); layer-wise, so every layer has density ``p``."""
    p = _check_density(density)
    leaves, treedef = _leaves(params)
    out = []
    for a in leaves:
        a = np.asarray(a)
        if not is_prunable(a):
            out.append(np.ones(a.shape, np.float32))
            continue
        keep = max(1, int(round(p * a.size)))
        order = np.argsort(-np.abs(a).ravel(), kind="stable")
        m = np.zeros(a.size, np.float32)
        m[order[:keep]] = 1.0
        out.append(m.reshape(a.shape))
    return jax.tree_util.tree_unflatten(treedef, out)


def mask_density(mask: Any) -> float:
    """Fraction of non-zero entries over the prunable leaves of ``mask``."""
    leaves, _ = _leaves(mask, "mask")
    kept = sum(float(np.count_nonzero(np.asarray(a))) for a in leaves if is_prunable(a))
    total = sum(np.size(a) for a in leaves if is_prunable(a))
    return kept / total


def stack_masks(masks: Sequence[Any]) -> Any:
    """Stack masks (or any pytrees of the same structure) on a leading member axis."""
    masks = list(masks)
    if not masks:
        raise ValueError("masks must not be empty")
    return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x) for x in a]), *masks)


# --------------------------------------------------------------------------- #
# Neural Tangent Transfer
# --------------------------------------------------------------------------- #
def ntt_objective(apply_fn: Callable, *, kernel_weight: float = 1.0, l2_weight: float = 1e-4,
                  output: str = "sum") -> Callable:
    """The NTT loss as an objective of :func:`lecture_lib.train.run`.

    ``objective(w_s, w_t, x, target, mask)``: ``w_s`` the student's dense parameters,
    ``w_t`` the teacher's (``Problem.params0``), ``x`` ``(n, ...)`` unlabelled inputs (split in
    halves ``X_1, X_2`` for the kernel), ``target = {"f": f_t(X), "ntk": Theta_t(X_1, X_2),
    "density": p}`` and ``mask`` the student's mask (``Problem.mask``; full batch only).
    With the student's effective weights ``v = w_s * mask`` and ``Theta_v`` the NTK of the
    *sparse* network (gradients with respect to the kept weights only: the reference code
    differentiates the masked network with respect to every weight, pruned ones included) it
    returns

        ``kernel_weight * ||Theta_v - Theta_t||_F^2 / ||Theta_t||_F^2
        + ||f_v - f_t||_F^2 / ||f_t||_F^2 + l2_weight / p * ||v||^2``.

    The two distances are *relative* (the reference code uses mean squared differences with
    weights tuned for MNIST; relative distances need no re-tuning when the kernel's scale
    changes with the architecture).

    ``output``: ``"sum"`` (default: the NTK of the pooled logit ``sum_c f_c / sqrt(k)``, one
    Jacobian row per input, ``k`` times cheaper; at initialisation its mean is the traced NTK,
    see :func:`lecture_lib.proxies.ntk_fn`) or ``"trace"`` (the NTK averaged over outputs, as
    the reference code).
    """
    output = check_choice(output, "output", ("trace", "sum"))
    check_scalar(kernel_weight, "kernel_weight", min_value=0.0)
    check_scalar(l2_weight, "l2_weight", min_value=0.0)
    sparse_ntk = proxies.ntk_fn(masked(apply_fn), output)

    def objective(w_s, w_t, x, target, mask):
        del w_t  # the teacher enters through the precomputed target
        student = jax.tree_util.tree_map(lambda w, m: w * m, w_s, mask)
        half = x.shape[0] // 2
        k_s = sparse_ntk(x[:half], x[half:], {"w": w_s, "mask": mask})
        f_s = apply_fn(student, x)
        l2 = sum(jnp.sum(a ** 2) for a in jax.tree_util.tree_leaves(student))
        return (kernel_weight * jnp.sum((k_s - target["ntk"]) ** 2) / jnp.sum(target["ntk"] ** 2)
                + jnp.sum((f_s - target["f"]) ** 2) / jnp.sum(target["f"] ** 2)
                + l2_weight / target["density"] * l2)

    return objective


class NTTResult(NamedTuple):
    """Output of :func:`neural_tangent_transfer` (``D`` densities, ``R`` records).

    ``densities`` (D,); ``params`` the students' dense parameters and ``masks`` their final
    masks (leading axis D; the sparse network is ``masked(apply_fn)`` of
    ``sparse_params(params, masks)``); ``steps`` (R,); ``loss`` (R, D) the NTT objective;
    ``kernel_distance`` (R, D) ``||Theta_s - Theta_t||_F / ||Theta_t||_F`` and
    ``output_distance`` (R, D) ``||f_s - f_t||_F / ||f_t||_F`` on the transfer batch;
    ``initial_masks`` the magnitude masks of the teacher it started from.
    """

    densities: np.ndarray
    params: Any
    masks: Any
    steps: np.ndarray
    loss: np.ndarray
    kernel_distance: np.ndarray
    output_distance: np.ndarray
    initial_masks: Any


def neural_tangent_transfer(
    apply_fn: Callable,
    teacher_params: Any,
    x: Any,
    densities: Sequence[float],
    *,
    steps: int = 200,
    lr: float = 1e-3,
    kernel_weight: float = 1.0,
    l2_weight: float = 1e-4,
    mask_update_every: int = 50,
    output: str = "sum",
    progress: bool = True,
) -> NTTResult:
    """Neural Tangent Transfer (Liu & Zenke 2020) to several densities at once.

    Each density's student starts from the teacher's parameters and its layer-wise magnitude
    mask (:func:`magnitude_mask`), then takes ``steps`` full-batch Adam steps on
    :func:`ntt_objective` (``train.run``, all densities in one ``vmap``); every
    ``mask_update_every`` steps (but not in the last such window, as the reference code) the
    mask is recomputed from the magnitudes of the student's current dense parameters.

    Args:
      apply_fn: ``apply_fn(params, x) -> (n, k)``.
      teacher_params: the dense network at initialisation.
      x: unlabelled transfer inputs ``(n, ...)``, ``n >= 2`` (halves for the kernel).
      densities: target densities in ``(0, 1]``.
      steps, lr: Adam steps and step size.
      kernel_weight, l2_weight, output: see :func:`ntt_objective`.
      mask_update_every: steps between mask updates.
      progress: progress bar over mask-update windows.

    Returns:
      :class:`NTTResult`.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    x = check_array(x, "x", min_ndim=2)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 inputs, got {x.shape[0]}")
    dens = [_check_density(d) for d in densities]
    if not dens:
        raise ValueError("densities must not be empty")
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(lr, "lr", min_value=0.0, strict_min=True)
    check_scalar(mask_update_every, "mask_update_every", kind=int, min_value=1)
    output = check_choice(output, "output", ("trace", "sum"))
    _leaves(teacher_params, "teacher_params")

    xj = jnp.asarray(x, jnp.float32)
    half = xj.shape[0] // 2
    ntk = proxies.ntk_fn(apply_fn, output)
    sparse_ntk = proxies.ntk_fn(masked(apply_fn), output)
    teacher = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), teacher_params)
    f_t = apply_fn(teacher, xj)
    k_t = ntk(xj[:half], xj[half:], teacher)
    d = len(dens)
    masks0 = [magnitude_mask(teacher, p) for p in dens]
    masks = stack_masks(masks0)
    target = {"f": f_t, "ntk": k_t, "density": jnp.asarray(dens, jnp.float32)}

    obj = ntt_objective(apply_fn, kernel_weight=kernel_weight, l2_weight=l2_weight, output=output)
    opt = train.optimizer("adam", lr)
    opt_init, _, get_params = opt

    def chunk(state, mask, density, start, stop):
        tgt = {"f": target["f"], "ntk": target["ntk"], "density": density}
        st, _ = train.run(obj, opt, state, train.Problem(teacher, xj, tgt, mask, None), start, stop)
        w = get_params(st)
        student = jax.tree_util.tree_map(lambda a, m: a * m, w, mask)
        k_s = sparse_ntk(xj[:half], xj[half:], {"w": w, "mask": mask})
        f_s = apply_fn(student, xj)
        return st, (obj(w, teacher, xj, tgt, mask), jnp.linalg.norm(k_s - k_t) / jnp.linalg.norm(k_t),
                    jnp.linalg.norm(f_s - f_t) / jnp.linalg.norm(f_t))

    chunk_j = jax.jit(jax.vmap(chunk, in_axes=(0, 0, 0, None, None)))  # one compilation
    dens_j = jnp.asarray(dens, jnp.float32)
    stacked = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (d,) + a.shape), teacher)
    state = jax.vmap(opt_init)(stacked)

    bounds = sorted(set(range(0, steps, mask_update_every)) | {steps})
    last_update = steps - mask_update_every
    rec_steps, losses, kdist, fdist = [], [], [], []

    def record(step, metrics):
        lo, kd, fd = (np.asarray(v, np.float64) for v in metrics)
        rec_steps.append(step)
        losses.append(lo)
        kdist.append(kd)
        fdist.append(fd)

    state, metrics = chunk_j(state, masks, dens_j, 0, 0)  # no step: the starting point
    record(0, metrics)
    windows = list(zip(bounds[:-1], bounds[1:]))
    for start, stop in _progress(windows, progress, desc="neural tangent transfer"):
        state, metrics = chunk_j(state, masks, dens_j, start, stop)
        record(stop, metrics)
        if stop % mask_update_every == 0 and stop < last_update:
            w = jax.vmap(get_params)(state)
            masks = stack_masks([magnitude_mask(jax.tree_util.tree_map(lambda a, i=i: a[i], w), p)
                                 for i, p in enumerate(dens)])
    final = jax.vmap(get_params)(state)
    return NTTResult(np.asarray(dens), final, masks, np.asarray(rec_steps),
                     np.stack(losses), np.stack(kdist), np.stack(fdist), stack_masks(masks0))
