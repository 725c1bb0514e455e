"""Training speed and spectral bias of two-layer ReLU networks.

Lecture module of ``notebooks/03_training_speed_spectral_bias.ipynb``.  Two settings:

* **Arora et al. (ICML'19)**: a two-layer ReLU network
  ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x)`` with fixed output signs ``a_r``
  and first-layer weights trained by full-batch gradient descent on
  ``Phi(W) = 1/2 sum_i (f(x_i) - y_i)^2``.  For unit-norm inputs the residual
  follows ``y - u(k) ~ (I - eta H)^k y`` with the Gram matrix
  ``H_ij = x_i . x_j (pi - arccos(x_i . x_j)) / (2 pi)``
  (:func:`lecture_lib.recursion.two_layer_relu_ntk`), so label components on large
  eigenvalues are learned first; random labels put their energy on the small ones.
* **Basri et al. (NeurIPS'19)**, **Bietti & Mairal (NeurIPS'19)**, **Cao et al.
  (IJCAI'21)**: on the sphere the NTK of such a network is a dot-product kernel
  ``kappa(x . x')``; its eigenfunctions are spherical harmonics (Fourier modes
  on the circle) and its eigenvalues decay with the degree/frequency
  (:func:`lecture_lib.spectral.sphere_ntk_eigenvalues`), which is why low
  frequencies are fitted first.

Notebook 03 trains the circle network at two initial scales: ``N(0, I)`` (init scale 1) and a
larger one that has the same tangent kernel at initialisation (ReLU is positively homogeneous:
the activation patterns do not depend on ``|w_r|``) but moves its weights relatively less (lazier),
next to the closed form with that finite network's own kernel (:func:`two_layer_relu_net` with
:func:`lecture_lib.kernels.empirical_ntk`).  Its widgets are ``widgets.live_plot`` figures built
here (``live_*``) from precomputed tables (:func:`circle_modes`).

The textbook pieces live in the core: the kernel in :mod:`lecture_lib.recursion`,
spectra, label projections and Fourier amplitudes in :mod:`lecture_lib.spectral`,
label noise and circle points in :mod:`lecture_lib.data`, the GD loop in
:mod:`lecture_lib.train`.  This module holds the papers' network and target, the
notebook's step grids and thresholds, and the plots its widgets redraw (each draws on a
given ``Axes`` and returns what it computed).
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from .. import krr, spectral, train
from ..plotting import loglog_fit
from ..validation import check_array, check_int_sequence, check_same_length, check_scalar

__all__ = [
    "sines",
    "TwoLayerNet",
    "two_layer_relu_net",
    "TwoLayerGD",
    "train_two_layer_gd",
    # notebook helpers
    "log_steps",
    "steps_to_threshold",
    "nearest_index",
    "circle_kernel_dynamics",
    # plots
    "plot_label_noise_residuals",
    "plot_label_energy",
    "plot_complexity_and_error",
    "plot_residual_prediction",
    "plot_cumulative_energy",
    "plot_circle_fit",
    "plot_frequency_residuals",
    "plot_circle_predictions",
    "plot_circle_kernel_dynamics",
    "plot_circle_eigenvalues",
    "plot_even_degree_decay",
    "plot_sphere_eigenvalues",
    # controls, precomputed tables and live figures (widgets.live_plot)
    "subspace_energy_quantile",
    "CircleModes",
    "circle_modes",
    "live_residual_prediction",
    "live_circle_fit",
    "live_circle_modes",
]


def _check_freqs(freqs: Sequence[int], name: str) -> list[int]:
    if isinstance(freqs, (int, np.integer)):
        freqs = [int(freqs)]
    return check_int_sequence(freqs, name, min_value=0)


# --------------------------------------------------------------------------
# Circle tasks (Basri et al. NeurIPS'19)
# --------------------------------------------------------------------------
def sines(t: Any, freqs: Sequence[int], amplitudes: Sequence[float] | None = None) -> np.ndarray:
    """Target ``sum_j A_j sin(k_j t)`` (Basri et al.: ``sin(4t) + sin(14t)``).

    Args:
      t: angles, shape (n,).
      freqs: integer frequencies ``k_j >= 0``.
      amplitudes: ``A_j`` (default all 1).

    Returns:
      np.ndarray (n,).
    """
    t = check_array(t, "t", ndim=1).astype(np.float64)
    freqs = _check_freqs(freqs, "freqs")
    amps = np.ones(len(freqs)) if amplitudes is None else check_array(amplitudes, "amplitudes", ndim=1)
    if len(amps) != len(freqs):
        raise ValueError(f"amplitudes must have len(freqs)={len(freqs)} entries, got {len(amps)}")
    return np.sum(amps[:, None] * np.sin(np.asarray(freqs)[:, None] * t[None, :]), axis=0)


# --------------------------------------------------------------------------
# A two-layer ReLU network trained by full-batch GD (first layer only)
# --------------------------------------------------------------------------
class TwoLayerNet(NamedTuple):
    """A two-layer ReLU network of :func:`two_layer_relu_net`.

    ``params = (W (m, D), a / sqrt(m) (m,))`` with ``D = d + 1`` when there is a bias
    input; ``apply_fn(params, x)`` takes raw inputs (n, d) and returns (n, 1) (the stax shape);
    ``augment(x)`` appends the bias input column ``bias`` (numpy); ``apply_augmented``
    takes augmented inputs and returns (n,) (the training loop's form).  The output signs are not
    trained (``stop_gradient``), so the tangent kernel of ``apply_fn`` is the
    first-layer NTK, ``(1/m) sum_r 1{w_r.x~ >= 0} 1{w_r.x~' >= 0} x~.x~'`` with
    ``x~ = (x, bias)``: at init it depends only on the *directions* of the ``w_r``,
    so it is the same for every ``init_scale`` (ReLU is positively homogeneous).
    """

    apply_fn: Any
    params: Any
    augment: Any
    apply_augmented: Any


def two_layer_relu_net(
    d: int,
    width: int,
    *,
    bias: float = 0.0,
    init_scale: float = 1.0,
    symmetric: bool = True,
    seed: int = 0,
    dtype: Any = np.float32,
) -> TwoLayerNet:
    """The network ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x + bias b_r)`` at initialisation.

    ``(w_r, b_r) ~ N(0, init_scale^2 I)``, ``a_r = +-1``; ``symmetric=True`` pairs every
    neuron with a copy of opposite ``a`` (``f_0 = 0``).  The ``init_scale`` draws are
    ``init_scale`` times the same standard-normal draws for a given ``seed``, so two
    scales share their neuron directions (and their NTK at init).  Use it with
    :func:`lecture_lib.kernels.empirical_ntk` (``apply_fn``, ``params``).

    Args:
      d: input dimension.
      width: hidden units m (even when ``symmetric``).
      bias, init_scale, symmetric, seed, dtype: as :func:`train_two_layer_gd`.

    Returns:
      :class:`TwoLayerNet`.
    """
    import jax
    import jax.numpy as jnp

    check_scalar(d, "d", kind=int, min_value=1)
    check_scalar(width, "width", kind=int, min_value=1)
    if symmetric and width % 2:
        raise ValueError(f"width must be even when symmetric=True, got {width}")
    check_scalar(bias, "bias", kind=(int, float), min_value=0.0)
    check_scalar(init_scale, "init_scale", kind=(int, float), min_value=0.0, strict_min=True)
    big_d = d + (1 if bias > 0 else 0)

    def augment(z):
        z = np.asarray(z, dtype=dtype)
        if bias > 0:
            z = np.concatenate([z, np.full((z.shape[0], 1), bias, dtype=dtype)], axis=1)
        return z

    rng = np.random.default_rng(seed)
    half = width // 2 if symmetric else width
    w_half = rng.normal(0.0, init_scale, size=(half, big_d))
    a_half = rng.choice((-1.0, 1.0), size=half)
    if symmetric:
        w0, a = np.concatenate([w_half, w_half]), np.concatenate([a_half, -a_half])
    else:
        w0, a = w_half, a_half
    params0 = (jnp.asarray(w0, dtype=dtype), jnp.asarray(a / np.sqrt(width), dtype=dtype))

    def apply_augmented(params, z):  # the output signs a (1/sqrt(m) folded in) are not trained
        w, a_out = params
        return jax.nn.relu(z @ w.T) @ jax.lax.stop_gradient(a_out)

    def apply_fn(params, z):
        z = jnp.asarray(z, dtype=params[0].dtype)
        if bias > 0:
            z = jnp.concatenate([z, jnp.full((z.shape[0], 1), bias, dtype=z.dtype)], axis=1)
        return apply_augmented(params, z)[:, None]

    return TwoLayerNet(apply_fn, params0, augment, apply_augmented)


class TwoLayerGD(NamedTuple):
    """Output of :func:`train_two_layer_gd` (``L`` label columns, ``S`` snapshots).

    ``step`` (steps+1,); ``residual_norm`` (steps+1, L) = ``||y - u(k)||`` before step ``k``
    (last row: after the final step); ``relative_change`` (L,) = ``||W_k - W_0||_F / ||W_0||_F``
    at the end; ``snapshot_steps`` (S,) and ``predictions`` (S, n_eval, L) on ``x_eval``
    (``None`` without ``x_eval``).
    """

    step: np.ndarray
    residual_norm: np.ndarray
    relative_change: np.ndarray
    snapshot_steps: np.ndarray | None
    predictions: np.ndarray | None


def train_two_layer_gd(
    x: Any,
    y: Any,
    *,
    width: int,
    lr: float,
    steps: int,
    bias: float = 0.0,
    init_scale: float = 1.0,
    symmetric: bool = True,
    seed: int = 0,
    x_eval: Any = None,
    snapshot_steps: Sequence[int] | None = None,
    n_chunks: int = 20,
    progress: bool = True,
    dtype: Any = np.float32,
) -> TwoLayerGD:
    """Train ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x + bias b_r)`` by GD on the first layer.

    The setting of Arora et al. (ICML'19) and Basri et al. (NeurIPS'19): output
    signs ``a_r`` fixed, ``(w_r, b_r) ~ N(0, init_scale^2 I)``, loss
    ``Phi = 1/2 sum_i (f(x_i) - y_i)^2`` (the ``"sum"`` MSE: the step ``lr``
    multiplies the Gram matrix of :func:`lecture_lib.recursion.two_layer_relu_ntk`
    directly, ``train.kernel_lr(lr, n, "sum") = lr``, so the linearised residual is
    ``(I - lr H)^k y``).  ``symmetric=True`` pairs every neuron with a copy of opposite
    sign ``a`` so that ``f = 0`` at initialisation, as the prediction
    ``||y - u(k)|| = ||(I - lr H)^k y||`` assumes (Arora et al. instead take a small
    ``init_scale``).

    The network is :func:`two_layer_relu_net` (same ``seed``: same initial weights).
    Several label vectors (columns of ``y``) are trained in one pass
    (``train.fit(..., label_columns=True)``), each by its own network started from the
    same initial weights.

    Args:
      x: inputs (n, d).
      y: targets (n,) or (n, L).
      width: hidden units m (even when ``symmetric``).
      lr: GD step size eta.
      steps: number of GD steps.
      bias: input scale of the first-layer bias (0: no bias).
      init_scale: standard deviation of the first-layer weights.
      symmetric: antisymmetric initialisation (``f_0 = 0``).
      seed: seed for the initialisation.
      x_eval: optional inputs (n_eval, d) at which to record predictions.
      snapshot_steps: steps (0..steps) at which predictions on ``x_eval``
        are stored (default: 0 and ``steps``).
      n_chunks: the loop runs in about ``n_chunks`` compiled chunks (progress granularity).
      progress: show a tqdm progress bar.
      dtype: float dtype of the computation (float64 needs ``jax_enable_x64``).

    Returns:
      :class:`TwoLayerGD`.  Arrays keep the ``L`` axis even when ``y`` is 1-D.
    """
    x = check_array(x, "x", ndim=2)
    y = check_array(y, "y", ndim=(1, 2))
    check_same_length("x", x, "y", y)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(n_chunks, "n_chunks", kind=int, min_value=1)
    net = two_layer_relu_net(x.shape[1], width, bias=bias, init_scale=init_scale, symmetric=symmetric,
                             seed=seed, dtype=dtype)
    check_scalar(lr, "lr", kind=(int, float), min_value=0.0, strict_min=True)
    y2 = (y[:, None] if y.ndim == 1 else y).astype(dtype)
    snaps = None
    if x_eval is not None:
        x_eval = check_array(x_eval, "x_eval", ndim=2)
        if x_eval.shape[1] != x.shape[1]:
            raise ValueError(f"x_eval must have {x.shape[1]} features, got shape {x_eval.shape}")
        snaps = np.array(sorted(set(int(s) for s in (snapshot_steps if snapshot_steps is not None else (0, steps)))))
        if snaps.size == 0 or snaps.min() < 0 or snaps.max() > steps:
            raise ValueError(f"snapshot_steps must lie in [0, steps={steps}]")
    elif snapshot_steps is not None:
        raise ValueError("snapshot_steps needs x_eval")

    xa = net.augment(x)
    xe = net.augment(x_eval) if x_eval is not None else None
    params0, apply = net.params, net.apply_augmented

    grid = range(0, steps, max(1, -(-steps // n_chunks)))
    rec = sorted(set(grid) | {steps} | (set(snaps.tolist()) if snaps is not None else set()))
    tr = train.fit(apply, params0, xa, y2, reduction="sum", lr=lr, steps=steps,
                   label_columns=True, x_test=xe, record_steps=rec,
                   record_outputs=xe is not None, progress=progress)
    w_final = np.asarray(tr.params[0], dtype=np.float64)                    # (L, m, D)
    w0_64 = np.asarray(params0[0], dtype=np.float64)
    change = np.sqrt(np.sum((w_final - w0_64) ** 2, axis=(1, 2)) / np.sum(w0_64**2))
    predictions = None
    if xe is not None:
        idx = [tr.step.tolist().index(s) for s in snaps]
        predictions = np.moveaxis(tr.test_outputs[idx, :, :, 0], 1, 2).astype(np.float64)
    return TwoLayerGD(
        step=np.arange(steps + 1),
        residual_norm=np.sqrt(2.0 * tr.step_loss),
        relative_change=change,
        snapshot_steps=snaps,
        predictions=predictions,
    )


# --------------------------------------------------------------------------
# Notebook helpers: data, step grids, thresholds, closed-form circle dynamics
# --------------------------------------------------------------------------
def log_steps(start: int, stop: int, num: int, include: Any = None) -> np.ndarray:
    """Integer GD steps ``unique(int(geomspace(start, stop, num)) + include)``, sorted.

    A log-spaced grid for closed-form dynamics and snapshots, merged with the
    steps ``include`` (e.g. ``[0]`` or every step of a training run).

    Returns:
      np.ndarray of ints, shape (<= num + len(include),).
    """
    check_scalar(start, "start", kind=int, min_value=1)
    check_scalar(stop, "stop", kind=int, min_value=start)
    check_scalar(num, "num", kind=int, min_value=1)
    grid = np.geomspace(start, stop, num).astype(int)
    if include is None:
        return np.unique(grid)
    include = check_array(include, "include", ndim=1)
    if not np.all(include == np.round(include)):
        raise ValueError("include must hold integer steps")
    return np.unique(np.concatenate([include, grid]))


def steps_to_threshold(values: Any, steps: Any, level: float, *, relative: bool = False) -> int | float:
    """First step at which a decreasing quantity reaches ``level``.

    Returns ``steps[i]`` for the first ``i`` with ``values[i] <= level``
    (``relative=True``: ``values[i] <= level * values[0]``, e.g. 10% of the
    initial residual ``||y||``), or ``inf`` when that never happens on the grid.

    Args:
      values: residual norms or amplitudes, shape (T,).
      steps: the GD steps of ``values``, shape (T,).
      level: threshold (a fraction of ``values[0]`` when ``relative``).

    Returns:
      int step, or ``numpy.inf``.
    """
    values = check_array(values, "values", ndim=1)
    steps = check_array(steps, "steps", ndim=1)
    if values.shape != steps.shape:
        raise ValueError(f"values and steps must have the same shape, got {values.shape} and {steps.shape}")
    check_scalar(level, "level", kind=(int, float))
    hit = np.nonzero(values <= (level * values[0] if relative else level))[0]
    return int(steps[hit[0]]) if hit.size else np.inf


def nearest_index(grid: Any, value: float) -> int:
    """Index of the entry of ``grid`` (T,) closest to ``value`` (the first one on ties)."""
    grid = check_array(grid, "grid", ndim=1)
    check_scalar(value, "value", kind=(int, float))
    return int(np.argmin(np.abs(grid - value)))


def circle_kernel_dynamics(
    t: Any, k_train: Any, k_test_train: Any, freqs: Sequence[int], steps: Any, *, lr: float | None = None,
):
    """Closed-form kernel GD on the circle target ``sum_j sin(k_j t)`` and its residual per frequency.

    ``u(s) = (I - (I - lr K)^s) y`` on the training angles (and the matching
    prediction at test points), :func:`lecture_lib.krr.gd_dynamics_discrete`
    with the loss ``1/2 sum_i (u_i - y_i)^2`` of :func:`train_two_layer_gd`.

    Args:
      t: training angles (n,).
      k_train: Gram matrix (n, n).
      k_test_train: kernel (m, n) between test and training points.
      freqs: the target's frequencies (:func:`sines`).
      steps: GD steps (T,).
      lr: step ``eta`` (default ``1 / lambda_max(k_train)``).

    Returns:
      ``(dyn, amplitudes)``: ``dyn.train`` (T, n), ``dyn.test`` (T, m), and the
      amplitude of each frequency in the training residual ``y - u(s)``, (T, len(freqs)).
    """
    y = sines(t, freqs)
    if lr is None:
        k = check_array(k_train, "k_train", ndim=2)
        lr = 1.0 / np.linalg.eigvalsh(k).max()
    dyn = krr.gd_dynamics_discrete(k_train, y, steps, k_test_train, lr=lr)
    return dyn, spectral.fourier_amplitudes(t, y - dyn.train, freqs)


# --------------------------------------------------------------------------
# Plots of notebook 03 (draw on given axes; widgets call them on each move)
# --------------------------------------------------------------------------
def _check_curves(curves: Mapping[Any, Any], name: str, length: int | None = None) -> dict:
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"{name} must be a non-empty mapping {{key: array}}")
    out = {key: check_array(v, f"{name}[{key!r}]", ndim=1) for key, v in curves.items()}
    if length is not None:
        for key, v in out.items():
            if len(v) != length:
                raise ValueError(f"{name}[{key!r}] must have length {length}, got {len(v)}")
    return out


def plot_label_noise_residuals(ax, steps: Any, net: Mapping[float, Any], ntk: Mapping[float, Any],
                               title: str = "") -> None:
    """Training residual ``||y - u(k)||`` of the network (solid) and its NTK prediction (dashed).

    One colour (viridis) per label-noise level of ``net``; x axis symlog.

    Args:
      ax: matplotlib axes.
      steps: GD steps (T,).
      net: ``{noise: residual norms (T_p,)}`` of the trained networks, ``T_p <= T`` (drawn
        on ``steps[:T_p]``: runs of different lengths).
      ntk: ``{noise: predicted residual norms (T,)}``; must hold every key of ``net``.
      title: axes title.
    """
    import matplotlib as mpl

    steps = check_array(steps, "steps", ndim=1)
    net = _check_curves(net, "net")
    for p, v in net.items():
        if len(v) > len(steps):
            raise ValueError(f"net[{p!r}] must have at most len(steps)={len(steps)} entries (length), got {len(v)}")
    ntk = _check_curves(ntk, "ntk", len(steps))
    missing = [p for p in net if p not in ntk]
    if missing:
        raise ValueError(f"ntk must hold every noise level of net, missing {missing}")
    colors = mpl.colormaps["viridis"](np.linspace(0, 0.9, len(net)))
    for c, p in zip(colors, net):
        ax.plot(steps[:len(net[p])], net[p], color=c, label=f"net, noise {p:.0%}")
        ax.plot(steps, ntk[p], "--", color=c, lw=1)
    ax.plot([], [], "k--", lw=1, label="NTK prediction")
    ax.set_xscale("symlog", linthresh=1)
    ax.set(xlabel="GD step k (log scale after 1)", ylabel=r"training residual $\|y - u(k)\|_2$", title=title)
    ax.legend(fontsize=8)


def plot_label_energy(ax, projections: Mapping[str, Any], top: int = 20) -> np.ndarray:
    """Bars of :func:`lecture_lib.spectral.label_energy` on the top eigenvectors, one group per label vector.

    Args:
      ax: matplotlib axes.
      projections: ``{label: v_i^T y (n,)}`` in descending eigenvalue order.
      top: number of eigenvectors shown.

    Returns:
      np.ndarray (len(projections), top): the energies drawn.
    """
    projections = _check_curves(projections, "projections")
    n = len(next(iter(projections.values())))
    check_scalar(top, "top", kind=int, min_value=1, max_value=n)
    energies = np.stack([spectral.label_energy(p)[:top] for p in projections.values()])
    idx = np.arange(1, top + 1)
    width = 0.8 / len(projections)
    for j, (label, e) in enumerate(zip(projections, energies)):
        ax.bar(idx + (j - (len(projections) - 1) / 2) * width, e, width=width, label=label)
    ax.axhline(1 / n, color="gray", ls=":", label="uniform spread 1/n")
    ax.set(yscale="log", ylim=(1e-5, 1), xlabel="eigenvector i (descending eigenvalue)",
           ylabel=r"$(v_i^\top y)^2 / \|y\|^2$",
           title=f"label energy on the top {top} eigenvectors of $H^\\infty$")
    ax.legend()
    return energies


def plot_complexity_and_error(ax, complexity: Mapping[float, float], test_error: Mapping[float, float]):
    """Complexity measure ``sqrt(2 y^T H^-1 y / n)`` and test error against the label noise.

    Args:
      ax: matplotlib axes (complexity, left scale).
      complexity: ``{noise fraction: complexity}``.
      test_error: ``{noise fraction: test error of the net}`` (right scale, red).

    Returns:
      The twin axes of the test error.
    """
    for arg, name in ((complexity, "complexity"), (test_error, "test_error")):
        if not isinstance(arg, Mapping) or not arg:
            raise TypeError(f"{name} must be a non-empty mapping {{noise: value}}")
    ax.plot(np.array(list(complexity)) * 100, list(complexity.values()), "o-",
            label=r"$\sqrt{2y^\top H^{-1}y/n}$")
    ax.set(xlabel="label noise (% of labels replaced by coin flips)", ylabel="complexity measure",
           title="complexity and test error (true test labels)")
    ax2 = ax.twinx()
    ax2.plot(np.array(list(test_error)) * 100, list(test_error.values()), "s--", color="C3",
             label="test error of the net")
    ax2.set_ylabel("test error", color="C3")
    ax2.grid(False)
    ax.legend(loc="upper left")
    ax2.legend(loc="lower right")
    return ax2


def plot_residual_prediction(ax, eigvals: Any, projections: Mapping[float, Any], noise: float, lr: float,
                             steps: Any, *, references: tuple[float, float] = (0.0, 1.0),
                             net: tuple[Any, Any] | None = None, title: str = "") -> np.ndarray:
    """NTK prediction ``||(I - lr H)^k y||`` for one noise level against true and random labels.

    The two ``references`` (true and random labels) are grey (dotted,
    dash-dotted); ``noise`` is thick blue; ``net = (steps, residuals)`` adds a
    trained network (its step 0 is dropped on the log axis).

    Args:
      ax: matplotlib axes.
      eigvals: eigenvalues of H (n,), descending.
      projections: ``{noise: v_i^T y (n,)}``; holds ``noise`` and ``references``.
      noise: the noise level to highlight.
      lr: GD step ``eta``.
      steps: GD steps (T,) of the prediction.
      references: the two grey reference levels (true and random labels).
      net: ``(steps (S,), residual norms (S,))`` of a trained network, or None.
      title: axes title.

    Returns:
      np.ndarray (T,): the predicted residual norms for ``noise``.
    """
    for p in (noise, *references):
        if p not in projections:
            raise ValueError(f"projections has no entry for noise level {p!r}")
    for p, style in zip(references, (":", "-.")):
        ax.plot(steps, spectral.residual_norms(eigvals, projections[p], lr, steps), style, color="gray",
                label=f"NTK, noise {p:.0%}")
    res = spectral.residual_norms(eigvals, projections[noise], lr, steps)
    ax.plot(steps, res, "C0", lw=2, label=f"NTK, noise {noise:.0%}")
    if net is not None:
        net_steps, net_res = (check_array(a, f"net[{i}]", ndim=1) for i, a in enumerate(net))
        ax.plot(net_steps[1:], net_res[1:], "C1", label="trained net")
    ax.set(xscale="log", xlabel="GD step k", ylabel=r"$\|y - u(k)\|_2$", title=title)
    ax.legend(fontsize=8)
    return res


def plot_cumulative_energy(ax, projections: Mapping[float, Any], noise: float, *,
                           references: Mapping[float, str] | None = None) -> np.ndarray:
    """Fraction of ``||y||^2`` on the top eigenvectors (:func:`lecture_lib.spectral.cumulative_energy`).

    Args:
      ax: matplotlib axes.
      projections: ``{noise: v_i^T y (n,)}``, descending eigenvalue order.
      noise: level drawn in blue.
      references: ``{noise: label}`` drawn in grey (dotted, dash-dotted);
        default ``{0.0: "true", 1.0: "random"}``.

    Returns:
      np.ndarray (n,): the cumulative energy of ``noise``.
    """
    references = {0.0: "true", 1.0: "random"} if references is None else dict(references)
    for p in (noise, *references):
        if p not in projections:
            raise ValueError(f"projections has no entry for noise level {p!r}")
    cum = spectral.cumulative_energy(projections[noise])
    idx = np.arange(1, len(cum) + 1)
    ax.semilogx(idx, cum, "C0", label=f"noise {noise:.0%}")
    for (p, label), style in zip(references.items(), (":", "-.")):
        ax.semilogx(idx, spectral.cumulative_energy(projections[p]), style, color="gray", label=label)
    ax.set(xlabel="number of top eigenvectors", ylabel=r"fraction of $\|y\|^2$", title="cumulative label energy")
    ax.legend(fontsize=8)
    return cum


def plot_circle_fit(ax, t: Any, target: Any, step: int, *, net: tuple[Any, Any], kernel: tuple[Any, Any],
                    ylim: tuple[float, float] = (-2.3, 2.3)) -> int:
    """Target, network and NTK closed-form fit on the circle at the saved step ``step``.

    Args:
      ax: matplotlib axes.
      t: angles (m,) of the plot.
      target: target values (m,).
      step: GD step; the first saved network step ``>= step`` is shown.
      net: ``(steps (S,), fits (S, m))`` saved network predictions.
      kernel: ``(steps (T,), fits (T, m))`` closed-form predictions; the first
        kernel step ``>=`` the shown network step is drawn (dashed).

    Returns:
      Index into ``net``'s steps of the snapshot drawn (the title names its step).
    """
    t = check_array(t, "t", ndim=1)
    target = check_array(target, "target", ndim=1)
    net_steps, net_fit = check_array(net[0], "net steps", ndim=1), check_array(net[1], "net fits", ndim=2)
    k_steps, k_fit = check_array(kernel[0], "kernel steps", ndim=1), check_array(kernel[1], "kernel fits", ndim=2)
    if step > net_steps[-1] or step > k_steps[-1]:
        raise ValueError(f"step must be <= the last saved step {min(net_steps[-1], k_steps[-1])}, got {step}")
    i = int(np.searchsorted(net_steps, step))
    j = int(np.searchsorted(k_steps, net_steps[i]))
    ax.plot(t, target, color="lightsteelblue", lw=3, label="target")
    ax.plot(t, net_fit[i], color="navy", label="network")
    ax.plot(t, k_fit[j], "--", color="C1", lw=1, label="NTK closed form")
    ax.set(xlabel="angle t (rad)", ylabel="f(t)", title=f"step {net_steps[i]}", ylim=ylim)
    return i


def plot_frequency_residuals(ax, freqs: Sequence[int], kernel: tuple[Any, Any], *,
                             net: tuple[Any, Any] | None = None, mark: float | None = None,
                             ylabel: str = "amplitude of frequency k in the residual",
                             title: str | None = None) -> None:
    """Amplitude of each target frequency in the training residual against the GD step (log x).

    With ``net`` the network is solid and the kernel dashed (colour ``C{j}``
    for frequency ``j``); without it the kernel curves are solid.  Call
    ``ax.legend()`` afterwards.

    Args:
      ax: matplotlib axes.
      freqs: the frequencies (F,).
      kernel: ``(steps (T,), amplitudes (T, F))`` of the closed form.
      net: ``(steps (S,), amplitudes (S, F))`` of the network.
      mark: a vertical line at this step (e.g. the end of training).
      ylabel: y label.
      title: default ``residual per frequency ($\\sin 4t + \\sin 14t$)``.
    """
    freqs = _check_freqs(freqs, "freqs")
    curves = {"kernel": kernel} if net is None else {"net": net, "kernel": kernel}
    for name, (s, a) in curves.items():
        a = check_array(a, f"{name} amplitudes", ndim=2)
        if a.shape != (len(s), len(freqs)):
            raise ValueError(f"{name} amplitudes must have shape ({len(s)}, {len(freqs)}), got {a.shape}")
    for j, k in enumerate(freqs):
        if net is None:
            ax.plot(kernel[0], kernel[1][:, j], color=f"C{j}", label=f"k = {k}")
        else:
            ax.plot(net[0], net[1][:, j], color=f"C{j}", label=f"network, k = {k}")
            ax.plot(kernel[0], kernel[1][:, j], "--", color=f"C{j}", lw=1, label=f"NTK, k = {k}")
    if mark is not None:
        ax.axvline(mark, color="gray", lw=0.8)
    if title is None:
        title = "residual per frequency ($" + " + ".join(rf"\sin {k}t" for k in freqs) + "$)"
    ax.set(xscale="log", xlabel="GD step", ylabel=ylabel, title=title)


def plot_circle_predictions(ax, t: Any, target: Any, steps: Any, fits: Any, marks: Sequence[float],
                            colors: Sequence[str] = ("C2", "C3", "k")) -> list[int]:
    """Kernel predictions on the circle at the saved steps nearest to ``marks``, over the target.

    Args:
      ax: matplotlib axes.
      t: angles (m,); target: values (m,).
      steps: saved steps (T,); fits: predictions (T, m).
      marks: requested steps (one curve each, colours ``colors``).

    Returns:
      The steps drawn.
    """
    t = check_array(t, "t", ndim=1)
    target = check_array(target, "target", ndim=1)
    fits = check_array(fits, "fits", ndim=2)
    steps = check_array(steps, "steps", ndim=1)
    if fits.shape != (len(steps), len(t)) or target.shape != t.shape:
        raise ValueError(f"target must have shape {t.shape} and fits ({len(steps)}, {len(t)}), "
                         f"got {target.shape} and {fits.shape}")
    if len(marks) > len(colors):
        raise ValueError(f"marks must have at most len(colors)={len(colors)} entries, got {len(marks)}")
    ax.plot(t, target, color="lightsteelblue", lw=3, label="target")
    drawn = []
    for s, c in zip(marks, colors):
        i = nearest_index(steps, s)
        ax.plot(t, fits[i], color=c, lw=1, label=f"step {steps[i]}")
        drawn.append(int(steps[i]))
    ax.set(xlabel="angle t (rad)", ylabel="f(t)", title="kernel prediction on the circle")
    ax.legend(fontsize=8, loc="lower left")
    return drawn


def plot_circle_kernel_dynamics(axes, t: Any, t_plot: Any, k_train: Any, k_plot_train: Any,
                                freqs: Sequence[int], steps: Any, *, marks: Sequence[float],
                                title: str = "NTK dynamics") -> np.ndarray:
    """Closed-form kernel GD on ``sum_j sin(k_j t)``: residual per frequency (left) and fits (right).

    Runs :func:`circle_kernel_dynamics` (``lr = 1/lambda_max``; one ``n x n``
    eigendecomposition, fast enough for a slider) and draws
    :func:`plot_frequency_residuals` on ``axes[0]`` and
    :func:`plot_circle_predictions` at the steps nearest ``marks`` on ``axes[1]``.

    Args:
      axes: two matplotlib axes.
      t: training angles (n,); t_plot: plotting angles (m,).
      k_train: Gram matrix (n, n); k_plot_train: kernel (m, n).
      freqs: the target's frequencies (F,).
      steps: GD steps (T,).
      marks: steps of the fits drawn on the right (at most 3).
      title: title of the left panel.

    Returns:
      np.ndarray (T, F): amplitude of each frequency in the training residual.
    """
    if len(axes) != 2:
        raise ValueError(f"axes must hold two axes, got {len(axes)}")
    freqs = _check_freqs(freqs, "freqs")
    dyn, amp = circle_kernel_dynamics(t, k_train, k_plot_train, freqs, steps)
    steps = np.asarray(steps)
    plot_frequency_residuals(axes[0], freqs, (steps, amp), ylabel="residual amplitude", title=title)
    axes[0].set_ylim(-0.05, 1.05)
    axes[0].legend()
    plot_circle_predictions(axes[1], t_plot, sines(t_plot, freqs), steps, dyn.test, marks)
    return amp


def _floored(mu: np.ndarray, floor: float) -> np.ndarray:
    return np.maximum(np.abs(mu), floor)


def plot_circle_eigenvalues(ax, ks: Any, mu_by_bias: Mapping[float, Any], *, gram: tuple[Any, Any] | None = None,
                            gram_bias: float | None = None, floor: float = 1e-16,
                            ylim: tuple[float, float] = (1e-17, 1.0)) -> None:
    """NTK eigenvalues ``mu_k`` on the circle by frequency (log y), with Gram eigenvalues / n as dots.

    Args:
      ax: matplotlib axes.
      ks: frequencies (K,).
      mu_by_bias: ``{bias: mu (K,)}`` (:func:`lecture_lib.spectral.sphere_ntk_eigenvalues`, ``dim=2``);
        ``|mu|`` is floored at ``floor`` (exact zeros).
      gram: ``(freqs (n,), eigvals / n (n,))`` from :func:`lecture_lib.spectral.circulant_spectrum`.
      gram_bias: the bias of that Gram matrix (legend).
      floor, ylim: floor of ``|mu|`` on the log axis and the y range.
    """
    ks = check_array(ks, "ks", ndim=1)
    mu_by_bias = _check_curves(mu_by_bias, "mu_by_bias", len(ks))
    for j, (b, mu) in enumerate(mu_by_bias.items()):
        ax.semilogy(ks, _floored(mu, floor), "o-", ms=3, color=f"C{j}", label=f"bias {b}")
    if gram is not None:
        ax.semilogy(gram[0], gram[1], "k.", ms=5,
                    label=f"Gram eigenvalues / n (bias {gram_bias}, n = {len(gram[1])})")
    ax.set(xlabel="frequency k", ylabel=rf"$\mu_k$ (|.|, floored at {floor:.0e})", ylim=ylim,
           title="circle: NTK eigenvalue by frequency")
    ax.legend(fontsize=8)


def plot_even_degree_decay(ax, ks: Any, mu_by_dim: Mapping[int, Any], *, fit_from: int = 10) -> dict[int, float]:
    """Even-degree eigenvalues ``mu_k`` (k >= 2) on log-log axes with a power-law fit for ``k >= fit_from``.

    Args:
      ax: matplotlib axes.
      ks: degrees (K,).
      mu_by_dim: ``{dim: mu (K,)}`` without bias (colours C0, C1, ...).
      fit_from: smallest degree of the fit.

    Returns:
      ``{dim: fitted exponent}`` (``mu_k ~ k^{-dim}`` asymptotically).
    """
    import matplotlib.ticker as mticker

    ks = check_array(ks, "ks", ndim=1)
    mu_by_dim = _check_curves(mu_by_dim, "mu_by_dim", len(ks))
    even = (ks >= 2) & (ks % 2 == 0)
    fit = even & (ks >= fit_from)
    if np.sum(fit) < 2:
        raise ValueError(f"need at least two even degrees >= fit_from={fit_from} in ks")
    slopes = {}
    for j, (d, mu) in enumerate(mu_by_dim.items()):
        slopes[d] = loglog_fit(ax, ks[fit], mu[fit], label=f"d = {d}", color=f"C{j}", ms=3)
        ax.loglog(ks[even], mu[even], ".", color=f"C{j}")
    ax.set(xlabel="degree k (even)", ylabel=r"$\mu_k$",
           title=f"no bias: decay of even degrees (fit k >= {fit_from})")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ticks = [2**i for i in range(1, int(np.log2(ks[even].max())) + 1)]
    ax.set_xticks(ticks, [str(x) for x in ticks])
    ax.legend(fontsize=8)
    return slopes


def plot_sphere_eigenvalues(ax, ks: Any, mu: Mapping[tuple[int, float], Any], *, bias: float,
                            floor: float = 1e-16, ylim: tuple[float, float] = (1e-17, 1.0),
                            colors: Sequence[str] | None = None) -> None:
    """Eigenvalues by degree on ``S^{d-1}`` without bias (dots, ``|mu|`` floored) and with ``bias`` (lines).

    Args:
      ax: matplotlib axes.
      ks: degrees (K,).
      mu: ``{(dim, b): mu (K,)}`` for ``b`` in ``(0.0, bias)``.
      bias: the bias of the lines.
      floor, ylim: floor of ``|mu|`` on the log axis and the y range.
      colors: one colour per dimension (default C0, C1, ...).
    """
    ks = check_array(ks, "ks", ndim=1)
    mu = _check_curves(mu, "mu", len(ks))
    dims = list(dict.fromkeys(d for d, _ in mu))
    colors = [f"C{j}" for j in range(len(dims))] if colors is None else list(colors)
    if len(colors) < len(dims):
        raise ValueError(f"colors must have one entry per dimension ({len(dims)}), got {len(colors)}")
    for d, c in zip(dims, colors):
        for b in (0.0, bias):
            if (d, b) not in mu:
                raise ValueError(f"mu has no entry for (dim, bias) = {(d, b)}")
        ax.semilogy(ks, _floored(mu[(d, 0.0)], floor), "o", ms=3, color=c, label=f"d = {d}, no bias")
        ax.semilogy(ks, mu[(d, bias)], "-", color=c, label=f"d = {d}, bias {bias}")
    ax.set(xlabel="degree k", ylabel=rf"$\mu_k$ (|.|, floored at {floor:.0e})", ylim=ylim,
           title="sphere $S^{d-1}$: odd degrees vanish without bias")
    ax.legend(fontsize=7, ncol=2)


# --------------------------------------------------------------------------
# Controls, per-frequency tables and the live figures of the notebook's widgets
# --------------------------------------------------------------------------
def subspace_energy_quantile(n: int, k: int, q: float) -> float:
    """Quantile ``q`` of the energy of a fixed unit vector on a uniformly random k-dim subspace of R^n.

    The control for "label energy on the top ``k`` eigenvectors": a basis that knows
    nothing of the data.  For a Haar-random subspace (equivalently a fixed ``y`` and a
    uniformly random rotation) ``||P y||^2 / ||y||^2 ~ Beta(k/2, (n-k)/2)``, mean ``k/n``.

    Args:
      n: dimension (number of labels).
      k: subspace dimension, ``1 <= k < n``.
      q: probability in (0, 1).

    Returns:
      float: the ``q`` quantile.
    """
    from scipy.stats import beta

    check_scalar(n, "n", kind=int, min_value=2)
    check_scalar(k, "k", kind=int, min_value=1, max_value=n - 1)
    check_scalar(q, "q", kind=(int, float), min_value=0.0, max_value=1.0, strict_min=True)
    if q >= 1.0:
        raise ValueError(f"q must be < 1, got {q}")
    return float(beta.ppf(q, k / 2, (n - k) / 2))


class CircleModes(NamedTuple):
    """Closed-form kernel GD on each single-frequency target ``sin(k t)`` (:func:`circle_modes`).

    ``freqs`` (F,); ``steps`` (T,); ``amplitudes`` (T, F): amplitude of frequency ``k`` in the
    training residual of the target ``sin(k t)``; ``fits`` (T, m, F): the prediction at the
    plotting angles.  Kernel GD is linear in the target and, on the equally spaced grid, the
    Fourier modes are eigenvectors of the Gram matrix: the dynamics of ``sum_j sin(k_j t)`` is
    the sum of the columns, and each frequency's residual amplitude is its own column's.
    """

    freqs: np.ndarray
    steps: np.ndarray
    amplitudes: np.ndarray
    fits: np.ndarray


def circle_modes(t: Any, k_train: Any, k_plot_train: Any, freqs: Sequence[int], steps: Any, *,
                 lr: float | None = None) -> CircleModes:
    """Precompute :class:`CircleModes` (one eigendecomposition for all frequencies).

    Args:
      t: training angles (n,), equally spaced (:func:`lecture_lib.data.circle_points`).
      k_train: Gram matrix (n, n); k_plot_train: kernel (m, n) from plotting to training angles.
      freqs: frequencies (F,), each ``< n/2``.
      steps: GD steps (T,).
      lr: step (default ``1 / lambda_max(k_train)``, as :func:`circle_kernel_dynamics`).
    """
    t = check_array(t, "t", ndim=1)
    freqs = _check_freqs(freqs, "freqs")
    if max(freqs) >= len(t) / 2:
        raise ValueError(f"freqs must be < n/2 = {len(t) / 2} on the grid, got max {max(freqs)}")
    if lr is None:
        lr = 1.0 / np.linalg.eigvalsh(check_array(k_train, "k_train", ndim=2)).max()
    y = np.stack([np.sin(k * t) for k in freqs], axis=1)                       # (n, F)
    dyn = krr.gd_dynamics_discrete(k_train, y, steps, k_plot_train, lr=lr)    # train (T, n, F)
    res = np.moveaxis(y[None] - dyn.train, 2, 1)                               # (T, F, n)
    amp = np.stack([spectral.fourier_amplitudes(t, res[:, j], [k])[:, 0] for j, k in enumerate(freqs)], axis=1)
    return CircleModes(np.asarray(freqs), np.asarray(steps), amp, dyn.test)


def live_residual_prediction(eigvals: Any, projections: Mapping[float, Any], steps: Any,
                             lr_factors: Sequence[float], *, net: Mapping[float, tuple[Any, Any]] | None = None,
                             complexity: Mapping[float, float] | None = None,
                             references: tuple[float, float] = (0.0, 1.0), figsize=(12, 3.8)):
    """Figure and ``update(noise, lr_times_lmax)`` for the label-noise widget (``widgets.live_plot``).

    Left: NTK prediction ``||(I - eta H)^k y||`` for ``eta = lr_times_lmax / lambda_max`` at the chosen
    noise level (blue) next to true and random labels (grey), with the trained network (orange) where
    ``net`` has that level and ``lr_times_lmax == 1``; right: cumulative label energy.  Everything is
    precomputed here: ``update`` only moves lines.

    Args:
      eigvals: eigenvalues of H (n,), descending.
      projections: ``{noise: v_i^T y (n,)}``; holds ``references``.
      steps: GD steps (T,) of the prediction (>= 1: log axis).
      lr_factors: the values ``eta lambda_max`` of the slider.
      net: ``{noise: (steps (S,), residual norms (S,))}`` of trained networks (at ``eta lambda_max = 1``).
      complexity: ``{noise: complexity}`` for the title.
      references: the grey noise levels (true, random).

    Returns:
      ``(fig, update)``.
    """
    import matplotlib.pyplot as plt

    eigvals = check_array(eigvals, "eigvals", ndim=1)
    steps = check_array(steps, "steps", ndim=1)
    for p in references:
        if p not in projections:
            raise ValueError(f"projections has no entry for noise level {p!r}")
    net = {} if net is None else dict(net)
    pred = {(p, c): spectral.residual_norms(eigvals, projections[p], c / eigvals[0], steps)
            for p in projections for c in lr_factors}
    cum = {p: spectral.cumulative_energy(projections[p]) for p in projections}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=figsize)
    refs = [a1.plot(steps, steps * 0.0 + 1.0, style, color="gray", label=f"NTK, noise {p:.0%}")[0]
            for p, style in zip(references, (":", "-."))]
    (line,) = a1.plot(steps, steps * 0.0 + 1.0, "C0", lw=2)
    (net_line,) = a1.plot([], [], "C1", label="trained net")
    top = max(float(np.max(v)) for v in pred.values() if np.all(np.isfinite(v)))
    a1.set(xscale="log", xlabel="GD step k", ylabel=r"$\|y - u(k)\|_2$", ylim=(0, 1.05 * top),
           xlim=(steps[0], steps[-1]))
    idx = np.arange(1, len(eigvals) + 1)
    (cum_line,) = a2.semilogx(idx, idx * 0.0, "C0")
    for (p, label), style in zip(zip(references, ("true", "random")), (":", "-.")):
        a2.semilogx(idx, cum[p], style, color="gray", label=label)
    a2.set(xlabel="number of top eigenvectors", ylabel=r"fraction of $\|y\|^2$",
           title="cumulative label energy", ylim=(0, 1.02))

    def update(noise, lr_times_lmax):
        for ln, p in zip(refs, references):
            ln.set_ydata(pred[p, lr_times_lmax])
        line.set_ydata(pred[noise, lr_times_lmax])
        line.set_label(f"NTK, noise {noise:.0%}")
        if noise in net and lr_times_lmax == 1.0:
            s, r = (check_array(a, "net", ndim=1) for a in net[noise])
            net_line.set_data(s[1:], r[1:])
            net_line.set_label(f"trained net (noise {noise:.0%})")
        else:
            net_line.set_data([], [])
            net_line.set_label("_nolegend_")
        title = rf"$\eta\lambda_{{max}}$ = {lr_times_lmax}"
        if complexity is not None and noise in complexity:
            title += f", complexity {complexity[noise]:.2f}"
        a1.set_title(title)
        a1.legend(fontsize=8, loc="upper right")
        cum_line.set_ydata(cum[noise])
        cum_line.set_label(f"noise {noise:.0%}")
        a2.legend(fontsize=8, loc="lower right")

    return fig, update


def live_circle_fit(t: Any, target: Any, snapshot_steps: Any, nets: Mapping[str, tuple[Any, Any]], *,
                    kernel: tuple[Any, Any], freqs: Sequence[int] = (4, 14), ylim=(-2.3, 2.3), figsize=(9, 3.8)):
    """Figure and ``update(step)`` for the training-run widget on the circle.

    Args:
      t: plotting angles (m,); target: values (m,).
      snapshot_steps: saved steps (S,) of the networks.
      nets: ``{label: (fits (S, m), residual amplitudes (S, F))}``, one line each (C0, C2, ...).
      kernel: ``(steps (T,), fits (T, m))`` of the closed form; the first kernel step ``>=`` the
        network step is drawn (dashed).
      freqs: the target's frequencies (title).

    Returns:
      ``(fig, update)``; ``update(step)`` takes a saved step.
    """
    import matplotlib.pyplot as plt

    t = check_array(t, "t", ndim=1)
    snaps = check_array(snapshot_steps, "snapshot_steps", ndim=1)
    k_steps, k_fit = check_array(kernel[0], "kernel steps", ndim=1), check_array(kernel[1], "kernel fits", ndim=2)
    freqs = _check_freqs(freqs, "freqs")
    for label, (fits, amp) in nets.items():
        if np.shape(fits) != (len(snaps), len(t)) or np.shape(amp) != (len(snaps), len(freqs)):
            raise ValueError(f"nets[{label!r}] must hold fits ({len(snaps)}, {len(t)}) and amplitudes "
                             f"({len(snaps)}, {len(freqs)}), got {np.shape(fits)} and {np.shape(amp)}")
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot(t, target, color="lightsteelblue", lw=3, label="target")
    lines = {label: ax.plot(t, t * 0.0, color=c, label=label)[0]
             for label, c in zip(nets, ("navy", "C2", "C4", "C5"))}
    (k_line,) = ax.plot(t, t * 0.0, "--", color="C1", lw=1, label="NTK closed form (infinite width)")
    ax.set(xlabel="angle t (rad)", ylabel="f(t)", ylim=ylim)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over the curves

    def update(step):
        i = int(np.searchsorted(snaps, step))
        if i >= len(snaps) or snaps[i] != step:
            raise ValueError(f"step must be a saved step, got {step}")
        parts = []
        for label, (fits, amp) in nets.items():
            lines[label].set_ydata(fits[i])
            parts.append(f"{label.split(' (')[0]}: " + ", ".join(f"{a:.2f}" for a in amp[i]))
        j = min(int(np.searchsorted(k_steps, step)), len(k_steps) - 1)
        k_line.set_ydata(k_fit[j])
        ax.set_title(f"step {step}; residual amplitude of k = {', '.join(map(str, freqs))}: " + "; ".join(parts),
                     fontsize=9)

    return fig, update


def live_circle_modes(t_plot: Any, modes: Mapping[float, CircleModes], *, marks: Sequence[float],
                      figsize=(13, 4.2)):
    """Figure and ``update(k_low, k_high, bias)`` for the kernel-dynamics widget.

    Left: residual amplitude of each of the two frequencies against the GD step; right: the
    prediction for ``sin(k_low t) + sin(k_high t)`` at the saved steps nearest ``marks``.
    ``modes`` maps a bias value to its :func:`circle_modes` table; ``bias`` of ``update``
    is a key of ``modes``.

    Returns:
      ``(fig, update)``.
    """
    import matplotlib.pyplot as plt

    t_plot = check_array(t_plot, "t_plot", ndim=1)
    if not isinstance(modes, Mapping) or not modes:
        raise TypeError("modes must be a non-empty mapping {bias: CircleModes}")
    first = next(iter(modes.values()))
    steps = first.steps
    if len(marks) > 3:
        raise ValueError(f"marks must have at most 3 entries, got {len(marks)}")
    mark_idx = [nearest_index(steps, s) for s in marks]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=figsize)
    amp_lines = [a1.plot(steps, steps * 0.0, color=f"C{j}")[0] for j in range(2)]
    a1.set(xscale="log", xlabel="GD step", ylabel="residual amplitude", ylim=(-0.05, 1.05),
           xlim=(steps[0], steps[-1]))
    (target_line,) = a2.plot(t_plot, t_plot * 0.0, color="lightsteelblue", lw=3, label="target")
    fit_lines = [a2.plot(t_plot, t_plot * 0.0, color=c, lw=1, label=f"step {steps[i]}")[0]
                 for i, c in zip(mark_idx, ("C2", "C3", "k"))]
    a2.set(xlabel="angle t (rad)", ylabel="f(t)", title="kernel prediction on the circle", ylim=(-2.3, 2.3))
    a2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=4)  # below the axes

    def update(k_low, k_high, bias):
        m = modes[bias]
        cols = []
        for k in (k_low, k_high):
            hit = np.nonzero(m.freqs == k)[0]
            if hit.size == 0:
                raise ValueError(f"frequency {k} was not precomputed (freqs {m.freqs.tolist()})")
            cols.append(int(hit[0]))
        for j, (ln, c, k) in enumerate(zip(amp_lines, cols, (k_low, k_high))):
            ln.set_ydata(m.amplitudes[:, c])
            ln.set_label(f"k = {k}")
        a1.set_title(f"NTK dynamics, bias {bias}")
        a1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)  # below the axes
        target_line.set_ydata(np.sin(k_low * t_plot) + np.sin(k_high * t_plot))
        for ln, i in zip(fit_lines, mark_idx):
            ln.set_ydata(m.fits[i, :, cols[0]] + m.fits[i, :, cols[1]])

    return fig, update
