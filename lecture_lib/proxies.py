r"""Training-free proxies for neural architecture search, computed from kernels at (or near)
initialisation, and the rank statistics that judge them.

Kernels (on a probe batch ``x`` of ``n`` inputs)
    :func:`ntk_fn` and :func:`empirical_ntks` -- the empirical NTK of many networks at once:
    of the pooled logit ``F = (f_1 + ... + f_k)/sqrt(k)``, ``grad_w F(x) . grad_w F(x')``
    (the summed-logit kernel TE-NAS computes; at initialisation its mean is the traced NTK),
    or traced over the ``k`` outputs, ``(1/k) sum_c grad_w f_c(x) . grad_w f_c(x')`` as
    :func:`lecture_lib.kernels.empirical_ntk`.
    :func:`monte_carlo_nngp` -- the NNGP kernel ``E_w[f(x) f(x')^T] / k`` estimated from the
    outputs of ``S`` random initialisations (Park et al. 2020 use such Monte-Carlo NNGPs).
Scalar proxies of a kernel ``K`` ``(n, n)``
    :func:`condition_number` ``kappa = lambda_max / lambda_min`` (TE-NAS, Chen et al. ICLR'21:
    small is better, the network trains fast in every direction);
    :func:`frobenius_norm` ``||K||_F`` and :func:`kernel_mean` ``mean_ij K_ij`` (KNAS, Xu et al.
    ICML'21: large is better; the Frobenius norm bounds ``lambda_min`` from above at ``O(n^2)``
    instead of ``O(n^3)``);
    :func:`label_gradient_alignment`
    ``A(K, y) = <K - mu(K), Y - mu(Y)>_F / (||K - mu(K)||_F ||Y - mu(Y)||_F)`` with
    ``Y_ij = 1[y_i = y_j]`` and ``mu`` the mean of all entries (LGA, Mok et al. CVPR'22;
    Deshpande et al. 2021 for model selection before fine-tuning: large is better);
    :func:`nngp_accuracy` -- validation accuracy of kernel regression with an (NNGP) kernel.
Judging a proxy
    :func:`kendall_tau` between proxy scores and accuracies (``scipy.stats.kendalltau``,
    tau-b), :func:`top_pick` -- the candidate a proxy would choose.

All scalar proxies take numpy kernels; the orientation ("higher is better") of each is in
:data:`HIGHER_IS_BETTER`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._neural_tangents import nt
from .validation import check_array, check_choice, check_scalar

__all__ = [
    "HIGHER_IS_BETTER", "ntk_fn", "empirical_ntks", "monte_carlo_nngp", "condition_number",
    "frobenius_norm", "kernel_mean", "label_gradient_alignment", "nngp_accuracy",
    "kendall_tau", "top_pick",
]

#: orientation of each scalar proxy: ``True`` if a larger value predicts a better network
HIGHER_IS_BETTER: dict[str, bool] = {
    "condition_number": False, "frobenius_norm": True, "kernel_mean": True,
    "label_gradient_alignment": True, "nngp_accuracy": True,
}
_OUTPUTS = ("trace", "sum")


# --------------------------------------------------------------------------- #
# Kernels of many networks
# --------------------------------------------------------------------------- #
def _flat_rows(tree: Any, n: int) -> jnp.ndarray:
    return jnp.concatenate([a.reshape(n, -1) for a in jax.tree_util.tree_leaves(tree)], axis=1)


def ntk_fn(apply_fn: Callable, output: str = "sum") -> Callable:
    """``ntk(x1, x2, params) -> (n1, n2)``, a JAX function (jit-, vmap- and grad-able).

    ``output="trace"``: ``(1/k) sum_c J_c(x1) J_c(x2)^T`` (``neural_tangents.empirical_ntk_fn``
    with ``trace_axes=(-1,)``).  ``output="sum"``: the NTK of the pooled logit
    ``F = (f_1 + ... + f_k) / sqrt(k)``, ``grad F(x1) . grad F(x2)``, from one per-example
    gradient per input: ``k`` times cheaper, and at initialisation its expectation equals the
    traced NTK (outputs are independent, so the cross terms vanish; the "sum of logits"
    kernel of TE-NAS, analysed by Mohamadi et al. 2023).
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    output = check_choice(output, "output", _OUTPUTS)
    if output == "trace":
        return nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0)

    def pooled(p, x):
        out = apply_fn(p, x[None])
        return jnp.sum(out) / jnp.sqrt(out.shape[-1])

    grads = jax.vmap(jax.grad(pooled), in_axes=(None, 0))

    def ntk(x1, x2, p):
        j1 = _flat_rows(grads(p, x1), x1.shape[0])
        j2 = j1 if x2 is None else _flat_rows(grads(p, x2), x2.shape[0])
        return j1 @ j2.T

    return ntk


@functools.lru_cache(maxsize=16)
def _ntk_chunk_fn(apply_fn: Callable, output: str):
    ntk = ntk_fn(apply_fn, output)
    return jax.jit(lambda x, params: jax.lax.map(lambda p: ntk(x, None, p), params))


def empirical_ntks(apply_fn: Callable, params: Any, x: Any, *, output: str = "sum",
                   chunk: int = 8) -> np.ndarray:
    """Empirical NTKs ``(M, n, n)`` on ``x`` of ``M`` networks whose parameters are stacked on
    a leading member axis (e.g. :func:`lecture_lib.supernet.stack`).

    Args:
      apply_fn: ``apply_fn(params, x) -> (n, k)``; one function object for all members.
      params: pytree whose leaves have a leading member axis ``M``.
      x: probe inputs ``(n, ...)``.
      output: ``"sum"`` -- the NTK of the pooled logit (see :func:`ntk_fn`; the kernel of
        TE-NAS, ``k`` times cheaper); ``"trace"`` -- ``(1/k) sum_c J_c J_c^T`` (the mean over
        outputs, as :func:`lecture_lib.kernels.empirical_ntk`).
      chunk: members per compiled call (``lax.map`` inside, so memory holds one member's
        Jacobian at a time); the last chunk is padded, so every call with the same parameter
        and input shapes reuses one compilation, whatever ``M`` is.

    Returns:
      float64 ``np.ndarray`` ``(M, n, n)``.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    output = check_choice(output, "output", _OUTPUTS)
    check_scalar(chunk, "chunk", kind=int, min_value=1)
    x = check_array(x, "x", min_ndim=2)
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves")
    m = int(np.shape(leaves[0])[0]) if np.ndim(leaves[0]) else 0
    if m < 1 or any(np.ndim(a) == 0 or np.shape(a)[0] != m for a in leaves):
        raise ValueError("every leaf of params must have the same leading member axis")
    fn = _ntk_chunk_fn(apply_fn, output)
    xj = jnp.asarray(x, jnp.float32)
    out = []
    for start in range(0, m, chunk):
        idx = np.minimum(np.arange(start, start + chunk), m - 1)  # pad by repeating the last
        part = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], params)
        out.append(np.asarray(fn(xj, part))[: min(chunk, m - start)])
    return np.concatenate(out).astype(np.float64)


def monte_carlo_nngp(outputs: Any, outputs2: Any = None) -> np.ndarray:
    """Monte-Carlo NNGP kernel from the outputs of ``S`` independently initialised networks.

    ``K(x_i, x'_j) = 1/(S k) sum_s sum_c f_{s,c}(x_i) f_{s,c}(x'_j)``, an unbiased estimate of
    the NNGP kernel ``E_w[f_c(x) f_c(x')]`` of the architecture (outputs are i.i.d. over ``c``
    and ``s`` at initialisation).

    Args:
      outputs: ``(S, n, k)`` outputs on ``x`` (``(S, n)`` for one output).
      outputs2: ``(S, m, k)`` outputs of the *same* networks on ``x'``; ``None``: ``x' = x``.

    Returns:
      ``(n, m)`` float64 kernel.
    """
    f = check_array(outputs, "outputs", ndim=(2, 3), dtype=np.float64)
    f = f[..., None] if f.ndim == 2 else f
    g = f if outputs2 is None else check_array(outputs2, "outputs2", ndim=(2, 3), dtype=np.float64)
    g = g[..., None] if g.ndim == 2 else g
    if g.shape[0] != f.shape[0] or g.shape[2] != f.shape[2]:
        raise ValueError(f"outputs2 must come from the same {f.shape[0]} networks with "
                         f"{f.shape[2]} outputs, got shape {g.shape}")
    a = np.moveaxis(f, 0, 1).reshape(f.shape[1], -1)  # (n, S k) features
    b = np.moveaxis(g, 0, 1).reshape(g.shape[1], -1)
    return a @ b.T / (f.shape[0] * f.shape[2])


# --------------------------------------------------------------------------- #
# Scalar proxies
# --------------------------------------------------------------------------- #
def _square(k: Any, name: str = "k") -> np.ndarray:
    k = check_array(k, name, ndim=2, dtype=np.float64, finite=False)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be square, got shape {k.shape}")
    return k


def condition_number(k: Any) -> float:
    """``lambda_max / lambda_min`` of the symmetric PSD kernel ``k`` (TE-NAS).

    ``inf`` when ``lambda_min <= 0`` (a singular kernel: some direction never trains) or when
    ``k`` holds non-finite values (a network whose gradients overflowed).
    """
    k = _square(k)
    if not np.all(np.isfinite(k)):
        return float("inf")
    lam = np.linalg.eigvalsh(0.5 * (k + k.T))
    if lam[-1] <= 0 or lam[0] <= 0:
        return float("inf")
    return float(lam[-1] / lam[0])


def frobenius_norm(k: Any) -> float:
    """``||k||_F = sqrt(sum_ij k_ij^2)`` (KNAS); NaN for non-finite kernels."""
    k = _square(k)
    return float(np.linalg.norm(k)) if np.all(np.isfinite(k)) else float("nan")


def kernel_mean(k: Any) -> float:
    """``mean_ij k_ij`` (the mean-of-kernel variant of KNAS); NaN for non-finite kernels."""
    k = _square(k)
    return float(k.mean()) if np.all(np.isfinite(k)) else float("nan")


def _label_matrix(y: Any, n: int) -> np.ndarray:
    y = check_array(y, "y", ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"y must have {n} rows like the kernel, got {y.shape[0]}")
    if y.ndim == 2:  # one-hot (or soft) labels: Y = y y^T
        return y.astype(np.float64) @ y.T.astype(np.float64)
    return (y[:, None] == y[None, :]).astype(np.float64)


def label_gradient_alignment(k: Any, y: Any) -> float:
    """Label-gradient alignment (Mok et al. CVPR'22; Deshpande et al. 2021).

    ``A = <K - mu(K), Y - mu(Y)>_F / (||K - mu(K)||_F ||Y - mu(Y)||_F)`` in ``[-1, 1]``, with
    ``Y_ij = 1`` if ``y_i = y_j`` else 0 (``Y = y y^T`` for one-hot ``y (n, c)``) and ``mu``
    the mean of all entries: the correlation between the kernel's similarities and the
    labels'.  ``Y`` may equally use ``+-1``: centring and normalising remove any affine change.

    Args:
      k: ``(n, n)`` kernel (an empirical NTK).
      y: integer labels ``(n,)`` or one-hot ``(n, c)``.

    Returns:
      float; NaN for a non-finite or constant kernel.
    """
    k = _square(k)
    yy = _label_matrix(y, k.shape[0])
    if not np.all(np.isfinite(k)):
        return float("nan")
    kc, yc = k - k.mean(), yy - yy.mean()
    nk, ny = np.linalg.norm(kc), np.linalg.norm(yc)
    if ny == 0:
        raise ValueError("y must contain at least two classes")
    if nk == 0:
        return float("nan")
    return float(np.sum(kc * yc) / (nk * ny))


def nngp_accuracy(k_train: Any, y_train: Any, k_val_train: Any, y_val: Any, *,
                  reg: float = 1e-2) -> float:
    """Validation accuracy of kernel ridge regression on one-hot targets (NNGP-guided NAS).

    Fits ``alpha = (K + reg * tr(K)/n * I)^{-1} (Y - 1/c)`` on the training kernel (centred
    one-hot targets of the ``c`` classes in ``y_train``) and predicts ``K_val,train alpha``;
    the predicted class is the argmax.  NaN when the kernel is not finite.

    Args:
      k_train: ``(n, n)``; y_train: integer labels ``(n,)``.
      k_val_train: ``(m, n)``; y_val: integer labels ``(m,)``.
      reg: ridge, relative to the mean diagonal of ``k_train``.
    """
    from . import krr

    check_scalar(reg, "reg", min_value=0.0, strict_min=True)
    k_train = _square(k_train, "k_train")
    k_val_train = check_array(k_val_train, "k_val_train", ndim=2, dtype=np.float64, finite=False)
    y_train = check_array(y_train, "y_train", ndim=1)
    y_val = check_array(y_val, "y_val", ndim=1)
    n = k_train.shape[0]
    if y_train.shape[0] != n or k_val_train.shape != (y_val.shape[0], n):
        raise ValueError(f"shapes do not fit: k_train {k_train.shape}, y_train {y_train.shape}, "
                         f"k_val_train {k_val_train.shape}, y_val {y_val.shape}")
    if not (np.all(np.isfinite(k_train)) and np.all(np.isfinite(k_val_train))):
        return float("nan")
    if np.trace(k_train) <= 0:
        return float("nan")
    classes = np.unique(y_train)
    targets = (y_train[:, None] == classes[None, :]).astype(np.float64) - 1.0 / len(classes)
    pred = krr.fit_predict(k_train, targets, k_val_train, reg=reg)
    return float(np.mean(classes[np.argmax(pred, axis=1)] == y_val))


# --------------------------------------------------------------------------- #
# Judging proxies
# --------------------------------------------------------------------------- #
def _oriented(scores: Any, higher_is_better: bool, name: str = "scores") -> np.ndarray:
    s = check_array(scores, name, ndim=1, dtype=np.float64, finite=False)
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise TypeError(f"higher_is_better must be a bool, got {type(higher_is_better).__name__}")
    s = s if higher_is_better else -s
    return np.where(np.isnan(s), -np.inf, s)  # an undefined proxy ranks last


def kendall_tau(scores: Any, accuracy: Any, *, higher_is_better: bool = True) -> float:
    """Kendall's tau-b between proxy scores and accuracies (1: the proxy ranks the candidates
    exactly as their accuracy does; 0: unrelated; -1: reversed).

    ``higher_is_better=False`` flips the proxy (e.g. the condition number).  A NaN score
    ranks last (worst); NaN accuracies (diverged networks) count as the lowest accuracy.
    """
    from scipy.stats import kendalltau

    s = _oriented(scores, higher_is_better)
    a = check_array(accuracy, "accuracy", ndim=1, dtype=np.float64, finite=False)
    if a.shape != s.shape:
        raise ValueError(f"scores and accuracy must have the same length, got {s.shape} and {a.shape}")
    if len(a) < 2:
        raise ValueError("need at least two candidates")
    a = np.where(np.isnan(a), -np.inf, a)
    # ranks, so that +-inf are ordinary (tied) values for scipy
    from scipy.stats import rankdata

    tau = kendalltau(rankdata(s), rankdata(a)).statistic
    return float(tau)


def top_pick(scores: Any, *, higher_is_better: bool = True) -> int:
    """Index of the candidate with the best proxy score (NaN scores never win)."""
    s = _oriented(scores, higher_is_better)
    if np.all(np.isneginf(s)):
        raise ValueError("every score is NaN")
    return int(np.argmax(s))
