r"""Gated networks that hold a whole search space of architectures ("supernets").

A :class:`Supernet` is a chain of ``max_depth`` hidden layers of ``max_width`` units (an MLP on
``(n, d)`` inputs) or channels (a CNN on NHWC images: 3x3 ``SAME`` convolutions, the feature
map flattened before the read-out).  Hidden layer ``l = 1..L`` computes

.. math::

    z_l = W_l h_{l-1},\qquad
    h_l = u \odot \big(g^{skip}_l\, h_{l-1} + g^{relu}_l\, \mathrm{relu}(z_l)
                       + g^{tanh}_l\, \tanh(z_l)\big),

(``h_0 = x``; the first layer has no skip term because ``x`` and ``h_1`` differ in size) and the
output is ``f = W_{out} h_L`` (``h_L`` flattened for a CNN).  No biases.  The gates
``g`` (``(max_depth, 3)``, columns :data:`OPS`) and the unit mask ``u`` (``(max_width,)``) are
*fixed*: they are stored in the parameters under ``"arch"`` and pass through
``jax.lax.stop_gradient``, so gradient descent never changes them and their gradient (hence
their contribution to the empirical NTK) is exactly zero.  With 0/1 gates the network *is* one
architecture of the space, exactly:

* depth ``d``: layers ``d+1..L`` are identities (gates ``(1, 0, 0)``);
* width ``w``: units ``w..max_width-1`` are masked (``u = 0``); their weights get zero gradient;
* activation: one of the ``relu``/``tanh`` gates; skip connections: ``g_skip = 1`` on layers
  ``2..d`` (a residual block ``h + act(W h)``);
* initialisation scale ``c``: ``W_l ~ N(0, (c * gain)^2 / fan_in)`` with the *active* fan-in and
  the critical gain of the activation (``sqrt(2)`` for relu, 1 for tanh), read-out
  ``N(0, c^2 / fan_in)``: ``c = 1`` is He / LeCun initialisation.

Because every architecture of a supernet shares one ``apply`` and one parameter shape, a whole
search space trains in a single ``train.fit(..., ensemble=True)`` call and its empirical NTKs
come from one compiled function: one compilation instead of one per candidate.  With several
gates open on a layer the network is the "mixed-op" supernet of DARTS / TE-NAS (Chen et al.
ICLR'21), whose ops :func:`lecture_lib.proxies` can score and prune one by one.

Parameters are a dict ``{"w": {"first", "hidden", "out"}, "arch": {"gates", "units"}}``
(``hidden`` stacks the ``max_depth - 1`` square layers); :func:`stack` puts several on a leading
member axis for ``ensemble=True``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .validation import check_choice, check_rng, check_scalar

__all__ = ["OPS", "KINDS", "ACTIVATIONS", "GAINS", "Arch", "Supernet", "stack", "unstack"]

OPS: tuple[str, ...] = ("skip", "relu", "tanh")
KINDS: tuple[str, ...] = ("mlp", "cnn")
ACTIVATIONS: tuple[str, ...] = ("relu", "tanh")
#: critical weight std (``b = 0``) of each activation: He for relu, LeCun for tanh
GAINS: dict[str, float] = {"relu": math.sqrt(2.0), "tanh": 1.0}


class Arch(NamedTuple):
    """One uniform architecture of a search space.

    ``kind`` ``"mlp"``/``"cnn"``; ``depth`` hidden layers (``>= 1``); ``width`` units or
    channels; ``activation`` ``"relu"``/``"tanh"``; ``skip``: residual connections on layers
    ``2..depth``; ``init_scale``: multiple ``c`` of the critical weight std.
    """

    kind: str
    depth: int
    width: int
    activation: str = "relu"
    skip: bool = False
    init_scale: float = 1.0

    @property
    def label(self) -> str:
        """Short name, e.g. ``"mlp d3 w32 relu+skip c2"``."""
        act = self.activation + ("+skip" if self.skip and self.depth > 1 else "")
        return f"{self.kind} d{self.depth} w{self.width} {act} c{self.init_scale:g}"


def _check_arch(arch: Any, kind: str, max_depth: int, max_width: int) -> Arch:
    if not isinstance(arch, Arch):
        raise TypeError(f"arch must be a supernet.Arch, got {type(arch).__name__}")
    if arch.kind != kind:
        raise ValueError(f"arch.kind is {arch.kind!r} but the supernet is a {kind!r}")
    check_scalar(arch.depth, "arch.depth", kind=int, min_value=1, max_value=max_depth)
    check_scalar(arch.width, "arch.width", kind=int, min_value=1, max_value=max_width)
    check_choice(arch.activation, "arch.activation", ACTIVATIONS)
    if not isinstance(arch.skip, (bool, np.bool_)):
        raise TypeError(f"arch.skip must be a bool, got {type(arch.skip).__name__}")
    check_scalar(arch.init_scale, "arch.init_scale", min_value=0.0, strict_min=True)
    return arch


class Supernet:
    """A gated chain network over a search space (see the module docstring).

    Args:
      kind: ``"mlp"`` (inputs ``(n, d)``) or ``"cnn"`` (inputs ``(n, H, W, C)``).
      max_depth: number of hidden layers ``L`` of the supernet.
      max_width: units (MLP) or channels (CNN) per hidden layer.
      in_shape: shape of one input, ``(d,)`` or ``(H, W, C)``.
      out_dim: number of outputs.

    Attributes:
      apply: ``apply(params, x) -> (n, out_dim)``; one function object per supernet (compiled
        functions keyed on it are shared by all its architectures).
    """

    def __init__(self, kind: str, max_depth: int, max_width: int, in_shape: Sequence[int],
                 out_dim: int):
        self.kind = check_choice(kind, "kind", KINDS)
        self.max_depth = int(check_scalar(max_depth, "max_depth", kind=int, min_value=1))
        self.max_width = int(check_scalar(max_width, "max_width", kind=int, min_value=1))
        self.out_dim = int(check_scalar(out_dim, "out_dim", kind=int, min_value=1))
        if isinstance(in_shape, (int, np.integer)) or not hasattr(in_shape, "__len__"):
            raise TypeError(f"in_shape must be a tuple of ints, got {in_shape!r}")
        in_shape = tuple(int(check_scalar(s, "in_shape", kind=int, min_value=1)) for s in in_shape)
        if len(in_shape) != (1 if self.kind == "mlp" else 3):
            raise ValueError(f"in_shape must be (d,) for an mlp and (H, W, C) for a cnn, "
                             f"got {in_shape}")
        self.in_shape = in_shape
        self.apply = self._make_apply()

    def __repr__(self) -> str:
        return (f"Supernet({self.kind!r}, max_depth={self.max_depth}, max_width={self.max_width}, "
                f"in_shape={self.in_shape}, out_dim={self.out_dim})")

    # ------------------------------------------------------------------ shapes
    @property
    def _pixels(self) -> int:
        return 1 if self.kind == "mlp" else self.in_shape[0] * self.in_shape[1]

    @property
    def _in_fan(self) -> int:
        return self.in_shape[0] if self.kind == "mlp" else 9 * self.in_shape[-1]

    def _weight_shapes(self) -> dict[str, tuple[int, ...]]:
        w, L = self.max_width, self.max_depth
        if self.kind == "mlp":
            first, hidden = (self.in_shape[0], w), (L - 1, w, w)
        else:
            first, hidden = (3, 3, self.in_shape[-1], w), (L - 1, 3, 3, w, w)
            return {"first": first, "hidden": hidden,
                    "out": (self.in_shape[0] * self.in_shape[1] * w, self.out_dim)}
        return {"first": first, "hidden": hidden, "out": (w, self.out_dim)}

    # ------------------------------------------------------------------ gates
    def gates(self, arch: Arch) -> np.ndarray:
        """``(max_depth, 3)`` 0/1 gates (columns :data:`OPS`) of a uniform architecture."""
        arch = _check_arch(arch, self.kind, self.max_depth, self.max_width)
        g = np.zeros((self.max_depth, len(OPS)), np.float32)
        act = OPS.index(arch.activation)
        g[: arch.depth, act] = 1.0
        if arch.skip:
            g[1: arch.depth, 0] = 1.0
        g[arch.depth:, 0] = 1.0  # identity layers beyond the depth
        return g

    def units(self, width: int) -> np.ndarray:
        """``(max_width,)`` mask with the first ``width`` units on."""
        check_scalar(width, "width", kind=int, min_value=1, max_value=self.max_width)
        u = np.zeros(self.max_width, np.float32)
        u[:width] = 1.0
        return u

    def _check_gates(self, gates: Any) -> np.ndarray:
        g = np.asarray(gates, dtype=np.float32)
        if g.shape != (self.max_depth, len(OPS)):
            raise ValueError(f"gates must have shape ({self.max_depth}, {len(OPS)}), got {g.shape}")
        if not np.all(np.isin(g, (0.0, 1.0))):
            raise ValueError("gates must hold 0/1 values")
        if g[0, 0] != 0:
            raise ValueError("gates[0, 0] (skip on the first layer) must be 0: x and h_1 differ in size")
        if np.any(g.sum(axis=1) == 0):
            raise ValueError("every layer needs at least one open gate (skip for an identity layer)")
        return g

    # ------------------------------------------------------------------ init
    def init(self, seed: Any, arch: Arch | None = None, *, gates: Any = None, units: Any = None,
             w_std: Any = None) -> dict:
        """Parameters of one architecture, drawn with ``numpy`` from ``seed`` (an int or a
        ``numpy.random.Generator``).

        Either ``arch`` (a uniform :class:`Arch`: gates, unit mask and weight stds follow from
        it) or explicit ``gates`` ``(max_depth, 3)``, ``units`` ``(max_width,)`` (default all on)
        and ``w_std`` ``(max_depth + 1,)`` (per weight matrix, input layer first, read-out
        last; default ``sqrt(2)`` for hidden layers and 1 for the read-out).  Entries of layer
        ``l`` are ``N(0, w_std[l]^2 / fan_in)`` with the active fan-in (``sum(units)``, times 9
        for a 3x3 convolution); the masked units' weights are drawn too but never used.
        """
        rng = check_rng(seed)
        if arch is not None:
            if gates is not None or units is not None or w_std is not None:
                raise ValueError("give arch or (gates, units, w_std), not both")
            arch = _check_arch(arch, self.kind, self.max_depth, self.max_width)
            gates, units = self.gates(arch), self.units(arch.width)
            c = float(arch.init_scale)
            w_std = np.r_[np.full(self.max_depth, c * GAINS[arch.activation]), c]
        else:
            if gates is None:
                raise ValueError("give arch or gates")
            gates = self._check_gates(gates)
            units = np.ones(self.max_width, np.float32) if units is None else np.asarray(units, np.float32)
            if units.shape != (self.max_width,) or not np.all(np.isin(units, (0.0, 1.0))) or units.sum() < 1:
                raise ValueError(f"units must be a 0/1 mask of shape ({self.max_width},) with a unit on")
            w_std = (np.r_[np.full(self.max_depth, math.sqrt(2.0)), 1.0] if w_std is None
                     else np.asarray(w_std, np.float64))
            if w_std.shape != (self.max_depth + 1,) or np.any(w_std <= 0):
                raise ValueError(f"w_std must hold {self.max_depth + 1} positive stds")
        width = float(np.sum(units))
        fan_hidden = width * (9 if self.kind == "cnn" else 1)
        shapes = self._weight_shapes()
        hidden_std = (w_std[1:-1] / math.sqrt(fan_hidden)).reshape((-1,) + (1,) * (len(shapes["hidden"]) - 1))
        w = {  # numpy draws: no JAX compilation per weight shape
            "first": rng.standard_normal(shapes["first"]) * (w_std[0] / math.sqrt(self._in_fan)),
            "hidden": rng.standard_normal(shapes["hidden"]) * hidden_std,
            "out": rng.standard_normal(shapes["out"]) * (w_std[-1] / math.sqrt(width * self._pixels)),
        }
        w = {k: jnp.asarray(v, jnp.float32) for k, v in w.items()}
        return {"w": w, "arch": {"gates": jnp.asarray(gates), "units": jnp.asarray(units)}}

    def init_many(self, seed: Any, archs: Sequence[Arch]) -> dict:
        """Stacked parameters (leading member axis) of ``archs``, drawn in turn from one
        ``numpy`` generator seeded with ``seed``."""
        archs = list(archs)
        if not archs:
            raise ValueError("archs must not be empty")
        rng = check_rng(seed)
        return stack([self.init(rng, a) for a in archs])

    # ------------------------------------------------------------------ apply
    def _make_apply(self):
        cnn = self.kind == "cnn"

        def layer(h, w):
            if cnn:  # 3x3 SAME convolution as one matmul over patches (fast under vmap on CPU)
                return _patches3x3(h) @ w.reshape(-1, w.shape[-1])
            return h @ w

        def apply(params, x):
            w = params["w"]
            arch = jax.tree_util.tree_map(jax.lax.stop_gradient, params["arch"])
            g, u = arch["gates"], arch["units"]
            z = layer(x, w["first"])
            h = u * (g[0, 1] * jax.nn.relu(z) + g[0, 2] * jnp.tanh(z))

            def body(h, wg):
                wl, gl = wg
                z = layer(h, wl)
                return u * (gl[0] * h + gl[1] * jax.nn.relu(z) + gl[2] * jnp.tanh(z)), None

            if self.max_depth > 1:
                h, _ = jax.lax.scan(body, h, (w["hidden"], g[1:]))
            if cnn:
                h = h.reshape(h.shape[0], -1)
            return h @ w["out"]

        return apply


def stack(params_list: Sequence[Any]) -> Any:
    """Stack parameter pytrees of the same structure on a new leading (member) axis."""
    params_list = list(params_list)
    if not params_list:
        raise ValueError("params_list must not be empty")
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params_list)


def unstack(params: Any) -> list:
    """Inverse of :func:`stack`: a list of pytrees, one per member."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no leaves")
    m = leaves[0].shape[0]
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], params) for i in range(m)]


def _patches3x3(h: jnp.ndarray) -> jnp.ndarray:
    """``(n, H, W, C) -> (n, H, W, 9 C)``: the 3x3 neighbourhood of every pixel (zero padded),
    ordered like a ``(3, 3, C, C_out)`` HWIO kernel reshaped to ``(9 C, C_out)``."""
    n, hh, ww, _ = h.shape
    p = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([p[:, i:i + hh, j:j + ww, :] for i in range(3) for j in range(3)], axis=-1)
