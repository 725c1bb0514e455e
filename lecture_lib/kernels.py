"""Neural-tangents architectures and their infinite-width (analytic) and
finite-width (empirical) kernels, plus the classical kernels they are compared with.

Conventions
-----------
* FC inputs have shape ``(n, d)``; conv inputs are NHWC ``(n, H, W, C)``.
* All kernels are returned as ``np.ndarray`` of shape ``(n1, n2)``; the NTK is
  traced over the output axis (``trace_axes=(-1,)``), i.e. it is the kernel of a
  single output unit (for ``out_dim=k`` the analytic kernel is the same for every
  output and the empirical one is the *mean* over outputs, see ``empirical_ntk``).
* ``parameterization="ntk"`` (default) is the NTK parameterization of Jacot et
  al.: a dense layer computes ``W_std / sqrt(d_in) * W x + b_std * b`` with
  ``W, b ~ N(0, 1)``, so the first-layer covariance is
  ``W_std**2 * x.x' / d + b_std**2`` (see :mod:`lecture_lib.recursion`).

Precision
---------
The library never flips ``jax_enable_x64`` globally.  ``analytic_kernel`` and
``empirical_ntk`` take ``dtype``: ``None`` keeps the current JAX default
(float32 unless the notebook enabled x64); ``"float64"`` computes inside a
*local* :func:`lecture_lib.precision.x64` scope.  For analytic **CNTKs** on CPU
use float64: it is both more accurate and several times *faster* than float32
(measured in ``benchmarks/results.md``).

Other kernels
-------------
:func:`rbf_kernel` and :func:`laplace_kernel` (plain callables ``k(x1, x2)``),
:func:`center_kernel` and :func:`normalize_kernel` (transformations of a Gram
matrix), :func:`gram_stack` (one Gram matrix per kernel, for model selection).
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._neural_tangents import nt, stax  # neural-tangents without its TensorFlow interop

from . import kernel_measures
from .precision import resolve_dtype, x64
from .validation import check_array, check_choice, check_int_sequence, check_scalar, is_tracer

__all__ = [
    "ACTIVATIONS", "fc", "conv", "small_cnn", "normal_init", "analytic_kernel", "analytic_kernel_jax",
    "empirical_ntk", "activation_layer", "rbf_kernel", "laplace_kernel",
    "center_kernel", "normalize_kernel", "gram_stack",
]

ACTIVATIONS: tuple[str, ...] = ("relu", "erf", "tanh", "gelu", "identity")
_PARAMETERIZATIONS = ("ntk", "standard")
_GETS = ("ntk", "nngp")

StaxTriple = tuple[Callable, Callable, Callable]


# --------------------------------------------------------------------------- #
# Architectures
# --------------------------------------------------------------------------- #
def activation_layer(activation: str):
    """The stax layer for ``activation`` in :data:`ACTIVATIONS`.

    ``relu``/``erf``/``gelu``/``identity`` have closed-form kernels in
    neural-tangents; ``tanh`` has none, so it uses Gauss-Hermite quadrature
    (``stax.ElementwiseNumerical(jnp.tanh, deg=25)`` with the exact derivative;
    its "numerical layer" warning is silenced), slower and approximate.
    """
    activation = check_choice(activation, "activation", ACTIVATIONS)
    if activation == "relu":
        return stax.Relu()
    if activation == "erf":
        return stax.Erf()
    if activation == "gelu":
        return stax.Gelu()
    if activation == "tanh":
        with warnings.catch_warnings():  # nt warns that quadrature is approximate
            warnings.simplefilter("ignore", UserWarning)
            return stax.ElementwiseNumerical(
                jnp.tanh, deg=25, df=lambda x: 1.0 - jnp.tanh(x) ** 2)
    return stax.Identity()


def _check_arch(depth, W_std, b_std, out_dim, parameterization):
    check_scalar(depth, "depth", kind=int, min_value=0)
    check_scalar(W_std, "W_std", kind=(int, float), min_value=0, strict_min=True)
    check_scalar(b_std, "b_std", kind=(int, float), min_value=0)
    check_scalar(out_dim, "out_dim", kind=int, min_value=1)
    return check_choice(parameterization, "parameterization", _PARAMETERIZATIONS)


def fc(
    depth: int = 2,
    width: int = 512,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    out_dim: int = 1,
    parameterization: str = "ntk",
) -> StaxTriple:
    """Fully-connected network ``[Dense(width) -> act] * depth -> Dense(out_dim)``.

    Args:
      depth: number of hidden layers ``L`` (``L + 1`` dense layers in total).
      width: hidden width (only matters for ``init_fn``/``apply_fn``; the analytic
        kernel is the infinite-width limit).
      activation: one of :data:`ACTIVATIONS`.
      W_std, b_std: weight and bias standard deviations (all layers).
      out_dim: number of outputs.
      parameterization: ``"ntk"`` or ``"standard"``.

    Returns:
      ``(init_fn, apply_fn, kernel_fn)`` from ``neural_tangents.stax.serial``.
      Inputs have shape ``(n, d)``.
    """
    parameterization = _check_arch(depth, W_std, b_std, out_dim, parameterization)
    check_scalar(width, "width", kind=int, min_value=1)
    act = activation_layer(activation)
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=W_std, b_std=b_std,
                              parameterization=parameterization), act]
    layers.append(stax.Dense(out_dim, W_std=W_std, b_std=b_std,
                             parameterization=parameterization))
    return stax.serial(*layers)


def conv(
    depth: int = 2,
    channels: int = 64,
    activation: str = "relu",
    filter_shape: tuple[int, int] = (3, 3),
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    out_dim: int = 1,
    pooling: str = "global_avg",
    parameterization: str = "ntk",
) -> StaxTriple:
    """Convolutional network on NHWC images (CNTK / CNN-GP when infinite).

    ``[Conv(channels, filter_shape, SAME) -> act] * depth -> pool -> Dense(out_dim)``
    where ``pool`` is ``GlobalAvgPool`` (``pooling="global_avg"``) or ``Flatten``
    (``pooling="flatten"``).  Inputs: ``(n, H, W, C)``.

    Cost note: the analytic kernel with ``global_avg`` pooling tracks all pixel
    pairs, O(n1 n2 (HW)^2) memory/time -- keep images small (8x8 digits) and use
    ``analytic_kernel(..., batch_size=...)``.  ``flatten`` only tracks the
    diagonal pixel pairs and is much cheaper.
    """
    parameterization = _check_arch(depth, W_std, b_std, out_dim, parameterization)
    check_scalar(channels, "channels", kind=int, min_value=1)
    pooling = check_choice(pooling, "pooling", ("global_avg", "flatten"))
    if (not isinstance(filter_shape, (tuple, list)) or len(filter_shape) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                       and s >= 1 for s in filter_shape)):
        raise ValueError(
            f"filter_shape must be a pair of positive ints, got {filter_shape!r}")
    act = activation_layer(activation)
    layers = []
    for _ in range(depth):
        layers += [stax.Conv(channels, tuple(filter_shape), padding="SAME",
                             W_std=W_std, b_std=b_std,
                             parameterization=parameterization), act]
    layers.append(stax.GlobalAvgPool() if pooling == "global_avg" else stax.Flatten())
    layers.append(stax.Dense(out_dim, W_std=W_std, b_std=b_std,
                             parameterization=parameterization))
    return stax.serial(*layers)


def small_cnn(channels: Any = (8, 16), hidden: int = 64, classes: int = 10):
    """``[Conv3x3(c) -> ReLU -> AvgPool2x2]`` per entry of ``channels`` ``-> Flatten ->
    Dense(hidden) -> ReLU -> Dense(classes)``: the CNN of Tsilivis & Kempe's
    ``robust_train_CNN.py`` (conv 32/64, dense 256) shrunk for 8x8 images and a CPU.

    Returns ``(init_fn, apply_fn, kernel_fn)``: ``init_fn`` and ``kernel_fn`` are those of the
    stax network (NTK parameterisation, no biases); ``apply_fn`` computes the same function
    (to float rounding) with each 3x3 "SAME" convolution written as one matrix product over
    the nine shifted copies of the input (im2col), which XLA runs ~3x faster on a CPU than
    its convolution, training and attacks alike.  Used by notebooks 04 (few-shot CNTK vs CNN)
    and 06 (adversarial examples).
    """
    channels = check_int_sequence(channels, "channels", min_value=1)
    check_scalar(hidden, "hidden", kind=int, min_value=1)
    check_scalar(classes, "classes", kind=int, min_value=1)
    layers = []
    for c in channels:
        layers += [stax.Conv(c, (3, 3), padding="SAME"), stax.Relu(),
                   stax.AvgPool((2, 2), (2, 2))]
    layers += [stax.Flatten(), stax.Dense(hidden), stax.Relu(), stax.Dense(classes)]
    init_fn, _, kernel_fn = stax.serial(*layers)
    n_conv = len(channels)

    def conv3x3(h, w):
        n, hh, ww, c = h.shape
        hp = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches = jnp.concatenate([hp[:, i:i + hh, j:j + ww, :] for i in range(3)
                                   for j in range(3)], axis=-1)        # (n, H, W, 9 c), HWIO order
        return patches @ (w.reshape(9 * c, -1) / np.sqrt(9 * c))

    def avg_pool(h):
        n, hh, ww, c = h.shape
        h = h[:, : hh // 2 * 2, : ww // 2 * 2]                         # "VALID" pooling
        return h.reshape(n, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))

    def apply_fn(params, x, **_):
        h = x
        for i in range(n_conv):
            h = avg_pool(jax.nn.relu(conv3x3(h, params[3 * i][0])))
        h = h.reshape(h.shape[0], -1)
        w1, w2 = params[3 * n_conv + 1][0], params[3 * n_conv + 3][0]
        h = jax.nn.relu(h @ w1 / np.sqrt(w1.shape[0]))
        return h @ w2 / np.sqrt(w2.shape[0])

    return init_fn, apply_fn, kernel_fn


def normal_init(init_fn: Callable, input_shape: Any, seed: Any = 0,
                n_members: int | None = None, dtype: Any = None) -> Any:
    """Initial parameters of a stax network in the NTK parameterisation, drawn with numpy.

    In the NTK parameterisation (the default of :func:`fc`, :func:`conv`, :func:`small_cnn`)
    every ``Dense``/``Conv`` weight and bias is ``N(0, 1)``: the ``W_std / sqrt(fan_in)`` and
    ``b_std`` factors sit in ``apply_fn``.  So the parameters are i.i.d. standard normal
    arrays in the structure and shapes of ``init_fn(key, input_shape)[1]``, taken from
    ``jax.eval_shape`` (nothing is compiled), drawn leaf by leaf from
    ``np.random.default_rng(seed)``.  Same distribution as ``init_fn(PRNGKey, ...)``, without
    compiling ``jax.random`` (2-5 s of CPU per architecture outside ``jit`` on this stack).
    Not for ``parameterization="standard"``, whose weights have variance ``W_std^2 / fan_in``.

    Args:
      init_fn: stax ``init_fn(key, input_shape) -> (output_shape, params)``.
      input_shape: e.g. ``(-1, d)`` or ``(-1, H, W, C)``.
      seed: anything ``np.random.default_rng`` accepts (int, sequence of ints).
      n_members: ``None``: one network; an int ``E``: every leaf gets a leading member axis
        ``E`` of independent draws (for ``train.fit(..., ensemble=True)`` or ``vmap``).
      dtype: of the returned arrays (default: the dtype of ``init_fn``'s leaves).

    Returns:
      the parameter pytree, numpy arrays of shape ``(E,) + leaf shape`` or the leaf shape.
    """
    _check_callable(init_fn, "init_fn")
    if n_members is not None:
        check_scalar(n_members, "n_members", kind=int, min_value=1)
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError as err:
        raise TypeError(f"input_shape must be a sequence of ints, got {input_shape!r}") from err
    shapes = jax.eval_shape(lambda k: init_fn(k, shape)[1], jax.ShapeDtypeStruct((2,), np.uint32))
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    rng = np.random.default_rng(seed)
    lead = () if n_members is None else (int(n_members),)
    return jax.tree_util.tree_unflatten(tree, [
        rng.standard_normal(lead + tuple(l.shape)).astype(l.dtype if dtype is None else dtype)
        for l in leaves])


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def _check_inputs(x1, x2):
    x1 = check_array(x1, "x1", ndim=(2, 4))
    if x2 is not None:
        x2 = check_array(x2, "x2", ndim=(2, 4))
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have the same feature shape, got {x1.shape[1:]} "
                f"and {x2.shape[1:]}")
    return x1, x2


def _check_callable(f, name):
    if not callable(f):
        raise TypeError(f"{name} must be callable, got {type(f).__name__}")


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    """Repeat the last row so that ``len(x)`` is a multiple of ``multiple``."""
    extra = (-x.shape[0]) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)


@functools.lru_cache(maxsize=32)
def _jitted_kernel_fn(kernel_fn, get):
    return jax.jit(functools.partial(kernel_fn, get=get))


@functools.lru_cache(maxsize=32)
def _batched_kernel_fn(kernel_fn, batch_size):
    return nt.batch(kernel_fn, batch_size=batch_size, device_count=0,
                    store_on_device=False)


# --------------------------------------------------------------------------- #
# Analytic kernels
# --------------------------------------------------------------------------- #
def analytic_kernel(
    kernel_fn: Callable,
    x1: Any,
    x2: Any = None,
    get: str = "ntk",
    batch_size: int = 0,
    dtype: Any = None,
) -> np.ndarray:
    """Infinite-width kernel ``K(x1, x2)`` of a stax ``kernel_fn``.

    Args:
      kernel_fn: third element of a stax triple (e.g. ``fc(...)[2]``).
      x1: ``(n1, d)`` or ``(n1, H, W, C)``.
      x2: same feature shape, ``(n2, ...)``; ``None`` means ``x2 = x1``.
      get: ``"ntk"`` or ``"nngp"``.
      batch_size: ``0``: one jitted call.  ``> 0``: ``nt.batch`` in blocks of
        ``batch_size x batch_size`` (bounded memory, needed for CNTKs).
        ``nt.batch`` requires ``n1`` and ``n2`` to be multiples of
        ``batch_size`` (otherwise it silently shrinks the block to
        ``gcd(n1, n2)``, which can be 1); here the inputs are padded by
        repeating their last row up to a multiple and the result is cropped,
        so any ``n`` works at the cost of at most ``batch_size - 1`` extra rows.
      dtype: ``None`` (JAX default), ``"float32"`` or ``"float64"``.
        ``"float64"`` runs in a local ``enable_x64`` scope (the global flag is
        not changed).  **Use float64 for CNTKs on CPU**: faster than float32
        there (see ``benchmarks/results.md``) and more accurate; for FC kernels
        both are fast, and float64 makes results match
        :mod:`lecture_lib.recursion` to ~1e-8 (relu, arccos near cos = 1) or
        ~1e-15 (erf), instead of ~1e-6 in float32.

    Returns:
      ``np.ndarray`` of shape ``(n1, n2)`` (float64 if ``dtype="float64"``).
    """
    _check_callable(kernel_fn, "kernel_fn")
    get = check_choice(get, "get", _GETS)
    check_scalar(batch_size, "batch_size", kind=int, min_value=0)
    np_dtype, ctx = resolve_dtype(dtype)
    x1, x2 = _check_inputs(x1, x2)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    with ctx:
        a1 = np.asarray(x1, dtype=np_dtype)
        a2 = None if x2 is None else np.asarray(x2, dtype=np_dtype)
        if batch_size == 0:
            out = _jitted_kernel_fn(kernel_fn, get)(a1, a2)
        else:
            bs = min(batch_size, max(n1, n2))
            batched = _batched_kernel_fn(kernel_fn, bs)
            p1 = _pad_rows(a1, bs)
            p2 = None if a2 is None else _pad_rows(a2, bs)
            out = batched(p1, p2, get=get)
        out = np.asarray(out)[:n1, :n2]
    return out


def analytic_kernel_jax(
    kernel_fn: Callable, x1: Any, x2: Any = None, get: str = "ntk"
) -> jnp.ndarray:
    """Like :func:`analytic_kernel` but returns a ``jnp`` array and is
    differentiable (``jax.grad``/``jit``) with respect to ``x1`` and ``x2``.

    Used for attacks on kernel predictors and dataset distillation (KIP).
    No batching.  Wrap the function you differentiate in ``jax.jit``: eager
    calls of neural-tangents kernels dispatch many small ops and are much
    slower.  Caveat: for relu the NTK/NNGP is not differentiable where
    ``x1[i]`` is parallel to ``x2[j]`` (arc-cosine at angle 0; gradients there
    can be NaN/inf) -- differentiate w.r.t. points that do not coincide with
    the other set, e.g. support points in KIP or adversarial test points.
    """
    _check_callable(kernel_fn, "kernel_fn")
    get = check_choice(get, "get", _GETS)
    if not is_tracer(x1) and not isinstance(x1, jax.Array):
        x1 = check_array(x1, "x1", ndim=(2, 4))
    if x2 is not None and not is_tracer(x2) and not isinstance(x2, jax.Array):
        x2 = check_array(x2, "x2", ndim=(2, 4))
    x1 = jnp.asarray(x1)
    x2 = None if x2 is None else jnp.asarray(x2)
    if x1.ndim not in (2, 4):
        raise ValueError(f"x1 must have 2 or 4 dimensions, got shape {x1.shape}")
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same feature shape, got {x1.shape[1:]} "
            f"and {x2.shape[1:]}")
    return kernel_fn(x1, x2, get)


# --------------------------------------------------------------------------- #
# Empirical NTK
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=32)
def _jitted_entk(apply_fn):
    return jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0))


def empirical_ntk(
    apply_fn: Callable,
    params: Any,
    x1: Any,
    x2: Any = None,
    batch_size: int = 0,
    dtype: Any = None,
) -> np.ndarray:
    """Finite-width NTK ``Theta(x1, x2) = (1/k) sum_k J_k(x1) J_k(x2)^T``.

    ``J_k`` is the Jacobian of output ``k`` w.r.t. all parameters; the mean over
    the ``k = out_dim`` outputs is ``trace_axes=(-1,)`` of
    ``nt.empirical_ntk_fn`` (neural-tangents divides the trace by ``k``), so it
    is directly comparable with the per-output analytic NTK.

    Args:
      apply_fn, params: from a stax triple and its ``init_fn``.
      x1: ``(n1, ...)`` inputs; x2: ``(n2, ...)`` or ``None`` (``x2 = x1``).
      batch_size: ``0``: one call.  ``> 0``: blocks of ``batch_size`` rows and
        columns (last block padded to keep one compiled shape); with
        ``x2=None`` only the upper block triangle is computed and mirrored.
      dtype: ``None``, ``"float32"`` or ``"float64"`` (see
        :func:`analytic_kernel`); params are cast to the same dtype.

    Returns:
      ``np.ndarray`` ``(n1, n2)``.
    """
    _check_callable(apply_fn, "apply_fn")
    if params is None:
        raise TypeError("params must be a pytree of arrays, got None")
    check_scalar(batch_size, "batch_size", kind=int, min_value=0)
    np_dtype, ctx = resolve_dtype(dtype)
    x1, x2 = _check_inputs(x1, x2)
    symmetric = x2 is None
    n1 = x1.shape[0]
    n2 = n1 if symmetric else x2.shape[0]
    with ctx:
        fn = _jitted_entk(apply_fn)
        p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=np_dtype), params)
        a1 = np.asarray(x1, dtype=np_dtype)
        a2 = a1 if symmetric else np.asarray(x2, dtype=np_dtype)
        if batch_size == 0 or batch_size >= max(n1, n2):
            return np.asarray(fn(a1, a2, p))
        bs = batch_size
        p1, p2 = _pad_rows(a1, bs), _pad_rows(a2, bs)
        out = np.zeros((p1.shape[0], p2.shape[0]), dtype=np_dtype)
        for i in range(0, p1.shape[0], bs):
            for j in range(0, p2.shape[0], bs):
                if symmetric and j < i:
                    out[i:i + bs, j:j + bs] = out[j:j + bs, i:i + bs].T
                    continue
                out[i:i + bs, j:j + bs] = np.asarray(
                    fn(p1[i:i + bs], p2[j:j + bs], p))
        return out[:n1, :n2]


# --------------------------------------------------------------------------- #
# Classical kernels and Gram-matrix transformations
# --------------------------------------------------------------------------- #
def _plain(f):
    f._is_plain_kernel = True
    return f


def rbf_kernel(gamma: float) -> Callable[[Any, Any], np.ndarray]:
    """``k(x, x') = exp(-gamma ||x - x'||^2 / d)`` (``d`` = number of features), as a callable."""
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


def _square(k: Any, name: str = "k") -> np.ndarray:
    k = check_array(k, name, ndim=2, dtype=np.float64)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be square, got shape {k.shape}")
    return k


def center_kernel(k: Any) -> np.ndarray:
    """Centred kernel ``H K H`` with ``H = I - 1 1^T / n``: square ``(n, n)`` or a stack
    ``(..., n, n)`` of them.

    The kernel of the features minus their mean over the ``n`` samples: removes
    the part every pair of samples shares (e.g. the large constant offset of a
    CNTK with global average pooling on non-negative images), which otherwise
    dominates a heat map of the kernel.  The same function as
    :func:`lecture_lib.kernel_measures.center` (one implementation, there).
    """
    return kernel_measures.center(k)


def normalize_kernel(k: Any) -> np.ndarray:
    """Cosine-normalised kernel ``K_ij / sqrt(K_ii K_jj)`` of a square PSD ``(n, n)`` matrix."""
    k = _square(k)
    d = np.diag(k)
    if np.any(d <= 0):
        raise ValueError("k must have a positive diagonal")
    s = np.sqrt(d)
    return k / s[:, None] / s[None, :]


def gram_stack(kernel_fns: Any, x: Any, get: str = "ntk") -> np.ndarray:
    """Stack of Gram matrices ``(n, n, K)``, one per kernel function, in float64.

    ``kernel_fns``: a sequence or mapping of stax kernel functions (e.g. NTKs of several
    depths) or plain callables ``f(x1, x2) -> (n1, n2)`` (:func:`rbf_kernel`,
    :func:`laplace_kernel`).  The stack is the ``X`` of
    :class:`lecture_lib.estimators.GramStackClassifier`.
    """
    from collections.abc import Mapping

    fns = list(kernel_fns.values()) if isinstance(kernel_fns, Mapping) else list(kernel_fns)
    if not fns:
        raise ValueError("kernel_fns must not be empty")
    x = check_array(x, "x", ndim=(2, 4))
    get = check_choice(get, "get", _GETS)
    grams = []
    for f in fns:
        if not callable(f):
            raise TypeError(f"kernel_fns must hold callables, got {type(f).__name__}")
        if getattr(f, "_is_plain_kernel", False):
            grams.append(np.asarray(f(x, x), dtype=np.float64))
        else:  # eager call: for one Gram matrix, compiling costs more than it saves
            with x64():
                grams.append(np.asarray(f(jnp.asarray(x, dtype=jnp.float64), None, get),
                                        dtype=np.float64))
    return np.stack(grams, axis=-1)
