r"""The empirical NTK of a network on a fixed probe set, recorded along training.

Fort et al. (NeurIPS 2020) follow the *empirical* tangent kernel of a network on a fixed set of
``n`` probe inputs while it trains::

    Theta_t(x, x') = (1/k) sum_{c=1}^k  grad_w f_c(w_t, x) . grad_w f_c(w_t, x')

(traced over the ``k`` outputs, as :func:`lecture_lib.kernels.empirical_ntk`).  This module
computes it for every checkpoint of a training run at once; :mod:`lecture_lib.kernel_measures`
measures how it moves.

Kernel functions
    Pure JAX ``ntk(params, x1, x2=None) -> (n1, n2)``, jit- and vmap-able:

    * :func:`ntk_fn` -- any ``apply_fn`` (neural-tangents' Jacobian contraction), cost
      ``O(n^2 k P)`` for ``P`` parameters.
    * :func:`fc_ntk_fn` -- networks of :func:`lecture_lib.kernels.fc`, exactly, layer by layer.
      A dense layer ``z_l = c_W h_{l-1} W_l + c_b b_l`` (``c_W = W_std / sqrt(d_in)``,
      ``c_b = b_std`` in the NTK parameterisation; ``c_W = c_b = 1`` in the standard one) has
      per-example gradients ``c_W h_{l-1} (x) delta_l^c(x)^T`` and ``c_b delta_l^c(x)`` with
      ``delta_l^c = d f_c / d z_l`` (back-propagation), so its share of the kernel is::

          (c_W^2 h_{l-1}(x) . h_{l-1}(x') + c_b^2) * sum_c delta_l^c(x) . delta_l^c(x')

      ``O(n^2 (d_in + k d_out))`` per layer instead of ``O(n^2 k d_in d_out)``: for a width-256
      MLP with 10 outputs on 100 probe points, about a hundred times fewer operations.

Along training
    :func:`ntk_path` evaluates such a function at every parameter record of
    ``train.fit(..., record_params=True)`` (``Trajectory.params_history``; ensemble members
    ``vmap``-ed, records ``lax.map``-ed), in one compiled call per (function, shapes).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import kernels
from ._neural_tangents import nt
from .validation import check_array, check_choice, check_scalar

__all__ = ["ntk_fn", "fc_ntk_fn", "ntk_path"]

_PARAMETERIZATIONS = ("ntk", "standard")


def ntk_fn(apply_fn: Callable) -> Callable:
    """``ntk(params, x1, x2=None) -> (n1, n2)`` for any ``apply_fn(params, x) -> (n, k)``.

    ``neural_tangents.empirical_ntk_fn`` with ``trace_axes=(-1,)`` (the mean over the ``k``
    outputs, as :func:`lecture_lib.kernels.empirical_ntk`), with the parameters first so that
    :func:`ntk_path` can map it over records.  The same ``apply_fn`` gives the same function
    object (cached), hence one compilation.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    return _generic(apply_fn)


@functools.lru_cache(maxsize=32)
def _generic(apply_fn: Callable) -> Callable:
    entk = nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0)

    def ntk(params, x1, x2=None):
        return entk(x1, x2, params)

    return ntk


def fc_ntk_fn(activation: str = "relu", W_std: float = 2**0.5, b_std: float = 0.0,
              parameterization: str = "ntk") -> Callable:
    """Exact, fast ``ntk(params, x1, x2=None) -> (n1, n2)`` for :func:`lecture_lib.kernels.fc`.

    Pass the same ``activation``, ``W_std``, ``b_std``, ``parameterization`` as to
    ``kernels.fc`` (the depth, width and number of outputs are read from ``params``, the stax
    list ``[(W_1, b_1), (), (W_2, b_2), (), ..., (W_{L+1}, b_{L+1})]`` of its ``init_fn``).
    Inputs ``(n, d)``.  The layer-wise formula is in the module docstring; it equals
    :func:`ntk_fn` of the network's ``apply_fn`` up to float round-off.  Same arguments, same
    function object (cached).
    """
    activation = check_choice(activation, "activation", kernels.ACTIVATIONS)
    check_scalar(W_std, "W_std", kind=(int, float), min_value=0, strict_min=True)
    check_scalar(b_std, "b_std", kind=(int, float), min_value=0)
    parameterization = check_choice(parameterization, "parameterization", _PARAMETERIZATIONS)
    return _fc(activation, float(W_std), float(b_std), parameterization)


def _dense_layers(params: Any) -> list:
    """The ``(W, b)`` pairs of a ``kernels.fc`` parameter list, checked."""
    if not isinstance(params, (list, tuple)) or len(params) % 2 != 1:
        raise ValueError("params must be the parameter list of kernels.fc: [(W, b), (), (W, b), "
                         "..., (W, b)] (dense layers and activations alternating)")
    dense = []
    for i, p in enumerate(params):
        if i % 2:
            if not (isinstance(p, (tuple, list)) and len(p) == 0):
                raise ValueError(f"params[{i}] must be () (an activation layer), got {type(p).__name__}")
            continue
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and jnp.ndim(p[0]) == 2):
            raise ValueError(f"params[{i}] must be a dense layer's (W, b) with W of shape "
                             "(d_in, d_out)")
        dense.append(p)
    return dense


@functools.lru_cache(maxsize=32)
def _fc(activation: str, W_std: float, b_std: float, parameterization: str) -> Callable:
    act_apply = kernels.activation_layer(activation)[1]

    def sigma(z):
        return act_apply((), z)

    def coefficients(d_in):
        if parameterization == "ntk":
            return W_std / np.sqrt(d_in), b_std
        return 1.0, 1.0

    def features(dense, x):
        """Inputs ``h_{l-1}`` and back-propagated ``delta_l (n, k, d_l)`` of every dense layer."""
        hs, zs, h = [], [], x
        for l, (W, b) in enumerate(dense):
            c_w, c_b = coefficients(W.shape[0])
            hs.append(h)
            z = c_w * h @ W + c_b * jnp.reshape(b, (1, -1))
            zs.append(z)
            h = sigma(z) if l < len(dense) - 1 else z
        k = dense[-1][0].shape[1]
        delta = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype), (x.shape[0], k, k))
        deltas = [delta]
        for l in range(len(dense) - 1, 0, -1):
            W = dense[l][0]
            c_w, _ = coefficients(W.shape[0])
            slope = jax.jvp(sigma, (zs[l - 1],), (jnp.ones_like(zs[l - 1]),))[1]
            delta = (delta @ (c_w * W).T) * slope[:, None, :]
            deltas.append(delta)
        return hs, deltas[::-1]

    def ntk(params, x1, x2=None):
        dense = _dense_layers(params)
        h1, d1 = features(dense, x1)
        h2, d2 = (h1, d1) if x2 is None else features(dense, x2)
        k = dense[-1][0].shape[1]
        out = 0.0
        for (W, _), a1, a2, g1, g2 in zip(dense, h1, h2, d1, d2):
            c_w, c_b = coefficients(W.shape[0])
            inputs = c_w**2 * (a1 @ a2.T) + c_b**2
            grads = g1.reshape(g1.shape[0], -1) @ g2.reshape(g2.shape[0], -1).T
            out = out + inputs * grads
        return out / k

    return ntk


@functools.lru_cache(maxsize=32)
def _path_fn(ntk: Callable, members: bool) -> Callable:
    def one(p, x):
        return jax.vmap(lambda q: ntk(q, x))(p) if members else ntk(p, x)

    return jax.jit(lambda stacked, x: jax.lax.map(lambda p: one(p, x), stacked))


def ntk_path(ntk: Callable, params_history: Sequence[Any], x: Any, *,
             members: bool = False) -> np.ndarray:
    """The empirical NTK on the probe inputs ``x`` at every record of a training run.

    Args:
      ntk: ``ntk(params, x1, x2=None)`` from :func:`ntk_fn` or :func:`fc_ntk_fn`.
      params_history: list of ``R`` parameter pytrees, e.g. ``Trajectory.params_history`` of
        ``train.fit(..., record_params=True)``.
      x: probe inputs ``(n, ...)`` (the same at every record: Fort et al.'s fixed probe set).
      members: the leaves carry a leading member axis ``M`` (``train.fit(..., ensemble=True)``);
        every member's kernel is computed (``vmap``).

    Returns:
      float64 ``(R, n, n)``, or ``(R, M, n, n)`` with ``members``.  One compilation per
      ``ntk``, parameter shapes and ``x`` shape; memory holds one record's Jacobians at a time.
    """
    if not callable(ntk):
        raise TypeError(f"ntk must be callable, got {type(ntk).__name__}")
    if not isinstance(members, bool):
        raise TypeError(f"members must be a bool, got {type(members).__name__}")
    if isinstance(params_history, (str, bytes)) or not isinstance(params_history, Sequence):
        raise TypeError("params_history must be a list of parameter pytrees (one per record), "
                        f"got {type(params_history).__name__}")
    if len(params_history) == 0:
        raise ValueError("params_history must not be empty")
    x = check_array(x, "x", min_ndim=2)
    structure = jax.tree_util.tree_structure(params_history[0])
    for i, p in enumerate(params_history):
        if jax.tree_util.tree_structure(p) != structure:
            raise ValueError(f"params_history[{i}] has another structure than params_history[0]")
    leaves = jax.tree_util.tree_leaves(params_history[0])
    if not leaves:
        raise ValueError("params_history[0] has no array leaves")
    if members:
        m = np.shape(leaves[0])[0] if np.ndim(leaves[0]) else None
        if m is None or any(np.ndim(a) == 0 or np.shape(a)[0] != m for a in leaves):
            raise ValueError("members=True needs a leading member axis of the same length in "
                             "every leaf")
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(v) for v in a]),
                                     *params_history)
    xj = jnp.asarray(x, dtype=jax.tree_util.tree_leaves(stacked)[0].dtype)
    return np.asarray(_path_fn(ntk, members)(stacked, xj), dtype=np.float64)
