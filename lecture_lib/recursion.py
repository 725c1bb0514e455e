r"""The NNGP / NTK recursion of a fully-connected network, written out step by
step in numpy (Jacot, Gabriel & Hongler 2018; Arora et al. 2019, slide
"NTK recursion").

Network (NTK parameterization, ``L = depth`` hidden layers, as
``kernels.fc(depth, activation=..., W_std, b_std)``)::

    h^(0) = W_std / sqrt(d) W^(0) x + b_std b^(0)
    h^(l) = W_std / sqrt(N) W^(l) sigma(h^(l-1)) + b_std b^(l),   l = 1..L

Infinite-width recursion (``x, x'`` two inputs)::

    Sigma^(0)(x, x')  = W_std^2 x.x'/d + b_std^2
    Lambda^(l)        = [[Sigma^(l-1)(x, x), Sigma^(l-1)(x, x')],
                         [Sigma^(l-1)(x, x'), Sigma^(l-1)(x', x')]]
    Sigma^(l)(x, x')      = W_std^2 E_{(u,v)~N(0, Lambda^(l))}[sigma(u) sigma(v)]   + b_std^2
    Sigma_dot^(l)(x, x')  = W_std^2 E_{(u,v)~N(0, Lambda^(l))}[sigma'(u) sigma'(v)]
    Theta^(0) = Sigma^(0),   Theta^(l) = Sigma^(l) + Theta^(l-1) * Sigma_dot^(l)

and NNGP = ``Sigma^(L)``, NTK = ``Theta^(L)`` (kernel of the scalar output).

Closed-form Gaussian expectations, with ``q1 = Lambda_11, q2 = Lambda_22,
c = Lambda_12`` and ``cos(theta) = c / sqrt(q1 q2)``:

* relu (arc-cosine kernels of Cho & Saul 2009)::

      E[relu(u) relu(v)] = sqrt(q1 q2) / (2 pi) * (sin(theta) + (pi - theta) cos(theta))
      E[relu'(u) relu'(v)] = (pi - theta) / (2 pi)

* erf (Williams 1997)::

      E[erf(u) erf(v)] = 2/pi * arcsin(2 c / sqrt((1 + 2 q1)(1 + 2 q2)))
      E[erf'(u) erf'(v)] = 4/pi / sqrt((1 + 2 q1)(1 + 2 q2) - 4 c^2)

These match neural-tangents' ``stax`` kernels (tested to 1e-5 in float64).

The two-layer ReLU NTK of Arora et al. (ICML'19) and Basri et al. (NeurIPS'19),
:func:`two_layer_relu_ntk`, is the same arc-cosine pair applied once to the raw
inputs (first layer trained, optionally the output layer too).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .validation import check_array, check_choice, check_scalar

__all__ = ["RECURSION_ACTIVATIONS", "arccos_expectations", "gaussian_expectations",
           "fc_recursion", "kernel_vs_angle", "two_layer_relu_ntk", "two_layer_relu_ntk_angle"]

RECURSION_ACTIVATIONS: tuple[str, ...] = ("relu", "erf")


def arccos_expectations(theta: Any, norm: Any) -> tuple[np.ndarray, np.ndarray]:
    """ReLU's arc-cosine pair from the angle ``theta`` between ``(u, v)`` and ``norm = sqrt(q1 q2)``:

    ``E[relu(u) relu(v)] = norm (sin theta + (pi - theta) cos theta) / (2 pi)`` and
    ``E[relu'(u) relu'(v)] = (pi - theta) / (2 pi)`` (Cho & Saul 2009).
    """
    theta = np.asarray(theta, dtype=np.float64)
    norm = np.asarray(norm, dtype=np.float64)
    e_act = norm / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    e_der = (np.pi - theta) / (2 * np.pi)
    return e_act, e_der


def gaussian_expectations(
    q1: Any, q2: Any, c: Any, activation: str = "relu"
) -> tuple[np.ndarray, np.ndarray]:
    """``(E[sigma(u) sigma(v)], E[sigma'(u) sigma'(v)])`` for
    ``(u, v) ~ N(0, [[q1, c], [c, q2]])``, elementwise over broadcastable arrays.

    ``activation`` in ``("relu", "erf")``; closed forms in the module docstring.
    Cosines are clipped to ``[-1, 1]`` against round-off.
    """
    activation = check_choice(activation, "activation", RECURSION_ACTIVATIONS)
    q1 = np.asarray(q1, dtype=np.float64)
    q2 = np.asarray(q2, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if activation == "relu":
        norm = np.sqrt(q1 * q2)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.where(norm > 0, c / np.where(norm > 0, norm, 1.0), 1.0)
        return arccos_expectations(np.arccos(np.clip(cos, -1.0, 1.0)), norm)
    prod = (1 + 2 * q1) * (1 + 2 * q2)
    e_act = 2 / np.pi * np.arcsin(np.clip(2 * c / np.sqrt(prod), -1.0, 1.0))
    e_der = 4 / np.pi / np.sqrt(prod - 4 * c**2)
    return e_act, e_der


def _check_hyper(depth, activation, W_std, b_std):
    check_scalar(depth, "depth", kind=int, min_value=0)
    activation = check_choice(activation, "activation", RECURSION_ACTIVATIONS)
    check_scalar(W_std, "W_std", kind=(int, float), min_value=0, strict_min=True)
    check_scalar(b_std, "b_std", kind=(int, float), min_value=0)
    return activation


def _recurse(sigma0, q1, q2, depth, activation, W_std, b_std):
    """Run the recursion from the first-layer covariance ``sigma0`` (n1, n2) and
    the variances ``q1`` (n1,), ``q2`` (n2,) of the two input sets."""
    w2, b2 = float(W_std) ** 2, float(b_std) ** 2
    sigma = [sigma0]
    sigma_dot = []
    theta = sigma0
    for _ in range(depth):
        # Lambda^(l): the 2x2 covariance of (h(x), h(x')) for every pair,
        # stored as the three arrays (q1[:, None], q2[None, :], Sigma^(l-1)).
        e_act, e_der = gaussian_expectations(q1[:, None], q2[None, :], sigma[-1],
                                             activation)
        s_new = w2 * e_act + b2
        s_dot = w2 * e_der
        # the diagonal variances follow the same map with c = q
        q1 = w2 * gaussian_expectations(q1, q1, q1, activation)[0] + b2
        q2 = w2 * gaussian_expectations(q2, q2, q2, activation)[0] + b2
        theta = s_new + theta * s_dot
        sigma.append(s_new)
        sigma_dot.append(s_dot)
    return {"sigma": sigma, "sigma_dot": sigma_dot, "nngp": sigma[-1], "ntk": theta}


def fc_recursion(
    x1: Any,
    x2: Any = None,
    depth: int = 2,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.0,
) -> dict[str, Any]:
    """NNGP and NTK of ``kernels.fc(depth, activation=..., W_std, b_std)`` by the
    layer-wise recursion (module docstring), in float64 numpy.

    Args:
      x1: ``(n1, d)``; x2: ``(n2, d)`` or ``None`` (``x2 = x1``).
      depth: number of hidden layers ``L >= 0``.
      activation: ``"relu"`` or ``"erf"``.
      W_std, b_std: as in :func:`lecture_lib.kernels.fc`.

    Returns:
      dict with ``sigma`` = ``[Sigma^(0), ..., Sigma^(L)]`` (each ``(n1, n2)``),
      ``sigma_dot`` = ``[Sigma_dot^(1), ..., Sigma_dot^(L)]``,
      ``nngp`` = ``Sigma^(L)`` and ``ntk`` = ``Theta^(L)``.
    """
    activation = _check_hyper(depth, activation, W_std, b_std)
    x1 = check_array(x1, "x1", ndim=2, dtype=np.float64)
    x2 = x1 if x2 is None else check_array(x2, "x2", ndim=2, dtype=np.float64)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"x1 and x2 must have the same number of features, got {x1.shape[1]} "
            f"and {x2.shape[1]}")
    d = x1.shape[1]
    w2, b2 = float(W_std) ** 2, float(b_std) ** 2
    sigma0 = w2 * (x1 @ x2.T) / d + b2
    q1 = w2 * np.sum(x1**2, axis=1) / d + b2
    q2 = w2 * np.sum(x2**2, axis=1) / d + b2
    return _recurse(sigma0, q1, q2, depth, activation, W_std, b_std)


def kernel_vs_angle(
    angles: Any,
    depth: int = 2,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    get: str = "ntk",
) -> np.ndarray:
    """Kernel between two inputs at angle ``gamma`` on the sphere.

    Inputs are normalised so that ``x.x/d = 1`` (neural-tangents' ``1/d``
    convention), hence ``Sigma^(0) = W_std^2 cos(gamma) + b_std^2``; the result
    does not depend on ``d``.

    Args:
      angles: array of angles in radians (any shape).
      get: ``"ntk"`` or ``"nngp"``; other arguments as :func:`fc_recursion`.

    Returns:
      ``np.ndarray`` with the shape of ``angles``.
    """
    activation = _check_hyper(depth, activation, W_std, b_std)
    get = check_choice(get, "get", ("ntk", "nngp"))
    angles = check_array(angles, "angles", dtype=np.float64)
    shape = angles.shape
    w2, b2 = float(W_std) ** 2, float(b_std) ** 2
    sigma0 = (w2 * np.cos(angles.reshape(1, -1)) + b2)
    q = np.array([w2 + b2])
    q2 = np.full(sigma0.shape[1], w2 + b2)
    out = _recurse(sigma0, q, q2, depth, activation, W_std, b_std)[get]
    return out.reshape(shape)


def two_layer_relu_ntk(
    x1: Any,
    x2: Any = None,
    *,
    bias: float = 0.0,
    train_output: bool = False,
) -> np.ndarray:
    """Infinite-width NTK Gram matrix of a two-layer ReLU network.

    Network: ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x + bias * b_r)`` with
    ``(w_r, b_r) ~ N(0, I)``, ``a_r ~ U{-1, +1}``.  With augmented inputs
    ``x~ = (x, bias)``, ``c = x~ . x~'`` and the arc-cosine pair of
    :func:`gaussian_expectations` at ``(q1, q2, c) = (|x~|^2, |x~'|^2, c)``::

        H(x, x') = c E[relu'(u) relu'(v)]          (first layer: c (pi - theta) / (2 pi))
                 + E[relu(u) relu(v)]              (if train_output: the output layer)

    With ``bias=0`` and ``train_output=False`` this is ``H^infinity`` of
    Arora et al. (ICML'19), eq. (3).

    Args:
      x1: inputs, shape (n1, d).
      x2: inputs, shape (n2, d); ``None`` means ``x1``.
      bias: scale ``beta >= 0`` of the (trained) first-layer bias.
      train_output: also count the output-layer gradients (both layers trained).

    Returns:
      np.ndarray (n1, n2), float64.
    """
    x1 = check_array(x1, "x1", ndim=2, dtype=np.float64)
    x2 = x1 if x2 is None else check_array(x2, "x2", ndim=2, dtype=np.float64)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    c = x1 @ x2.T + bias**2
    q1 = np.sum(x1**2, axis=1) + bias**2
    q2 = np.sum(x2**2, axis=1) + bias**2
    if np.any(q1 == 0) or np.any(q2 == 0):
        raise ValueError("x1/x2 contain a zero row and bias=0: the ReLU NTK angle is undefined")
    e_act, e_der = gaussian_expectations(q1[:, None], q2[None, :], c, "relu")
    return c * e_der + e_act if train_output else c * e_der


def two_layer_relu_ntk_angle(
    theta: Any, *, bias: float = 0.0, train_output: bool = False
) -> np.ndarray:
    """The NTK of :func:`two_layer_relu_ntk` between two unit vectors at angle ``theta``.

    On the unit sphere the kernel is a dot-product kernel ``kappa(cos theta)``.
    The angle ``theta~`` between the augmented inputs is computed stably as
    ``2 arcsin(sin(theta/2) / sqrt(1 + bias^2))``, which keeps ``kappa`` an
    analytic function of ``theta`` (needed for accurate high-degree projections).

    Args:
      theta: angles in radians, any shape, values in [0, pi].
      bias, train_output: as in :func:`two_layer_relu_ntk`.

    Returns:
      np.ndarray with the shape of ``theta``.
    """
    theta = check_array(theta, "theta", allow_empty=True, dtype=np.float64)
    if np.any((theta < -1e-12) | (theta > np.pi + 1e-12)):
        raise ValueError("theta must lie in [0, pi]")
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    scale = 1.0 + bias**2                                   # |x~|^2 = |x~'|^2
    theta_aug = 2.0 * np.arcsin(np.sin(theta / 2.0) / np.sqrt(scale))
    e_act, e_der = arccos_expectations(theta_aug, scale)
    first = scale * np.cos(theta_aug) * e_der               # c = scale cos(theta~)
    return first + e_act if train_output else first
