r"""Experiments of ``notebooks/02_ntk_primer.ipynb``: finite networks against their
infinite-width kernel.

Three measurements that the notebook plots and asserts on:

* :func:`kernel_convergence` -- the empirical NTK
  ``Theta_w(x, x') = sum_p d f(x)/d theta_p d f(x')/d theta_p`` of a width-``w``
  network at initialisation against the analytic NTK ``Theta``: the relative
  Frobenius error ``||Theta_w - Theta||_F / ||Theta||_F``.  Jacot et al.
  (2018) prove the convergence ``Theta_w -> Theta``; the ``w^{-1/2}`` rate of
  the fluctuations is the central limit theorem for one hidden layer (an
  average over ``w`` i.i.d. units) and is computed for deep ReLU nets by
  Hanin & Nica (2020: relative variance ~ depth / width); Arora et al. (2019)
  give a non-asymptotic high-probability bound (width polynomial in
  ``depth / error``).
* :func:`lazy_training` -- full-batch gradient descent on a finite network
  next to the closed form of gradient descent for the *linearised* model with
  the analytic NTK (Lee et al. 2019)::

      f_k(x) = f_0(x) + K_xX V diag((1 - (1 - eta lambda)^k) / lambda) V^T (y - f_0(X)),

  ``eta = train.kernel_lr(lr, n)`` because the network minimises
  ``1/(2n) sum_i (f(x_i) - y_i)^2``; ``f_0`` is the network's own output at
  initialisation.  The gap between the two is measured relative to the
  learned change ``f_k - f_0`` (:func:`learned_change_gap`), not to ``f_k``,
  which contains the random ``f_0`` that both share.  Also records how far
  the weights move (:func:`layer_weight_changes`).
* :func:`compare_kernels_on_splits` -- kernel regression with the CNTK and the
  FC NTK on the same disjoint digit splits, for a paired comparison;
  :func:`class_contrast` -- how much more similar a kernel finds two images of
  the same class than of different classes (the CNTK vs FC heat maps).
* :func:`angle_figure`, :func:`entries_figure`, :func:`training_figure` --
  ``(fig, update)`` pairs for ``widgets.live_plot``.

A 1-D regression toy on the unit circle, :func:`circle_task`, makes the
predictions easy to plot against the angle.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import data, kernels, krr, metrics, ntk_tracking, recursion, train
from ..progress import progress as progress_bar
from ..validation import (
    check_array, check_choice, check_int_sequence, check_same_length, check_scalar,
)

__all__ = [
    "CircleTask", "circle_task", "KernelConvergence", "kernel_convergence",
    "LazyRun", "lazy_training", "learned_change_gap", "layer_weight_changes", "class_contrast",
    "SplitComparison", "compare_kernels_on_splits",
    "angle_figure", "entries_figure", "training_figure",
]


# --------------------------------------------------------------------------- #
# Data: regression on the circle
# --------------------------------------------------------------------------- #
class CircleTask(NamedTuple):
    """Regression on the unit circle: ``x = (cos t, sin t)``, ``y = g(t)``.

    ``t_train`` (n,), ``x_train`` (n, 2), ``y_train`` (n,); same for the test
    grid (m equally spaced angles in ``[0, 2 pi)``).
    """

    t_train: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    t_test: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _default_target(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * t) + 0.5 * np.cos(3 * t)


def circle_task(
    n_train: int = 12,
    n_test: int = 200,
    seed: int = 0,
    target: Callable[[np.ndarray], np.ndarray] | None = None,
) -> CircleTask:
    """Seeded 1-D regression toy on the unit circle.

    Args:
      n_train: number of training angles, drawn uniformly in ``[0, 2 pi)`` and
        sorted.
      n_test: size of the equally spaced test grid.
      seed: seed of the training angles.
      target: ``g(t)`` on an array of angles; default
        ``sin(2 t) + 0.5 cos(3 t)``.

    Returns:
      :class:`CircleTask` (float64 arrays).
    """
    check_scalar(n_train, "n_train", kind=int, min_value=1)
    check_scalar(n_test, "n_test", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    if target is None:
        target = _default_target
    elif not callable(target):
        raise TypeError(f"target must be callable, got {type(target).__name__}")
    t_train, x_train = data.circle_points(n_train, random=True, seed=seed)
    t_test, x_test = data.circle_points(n_test)
    y_train = check_array(target(t_train), "target(t_train)", ndim=1, dtype=np.float64)
    y_test = check_array(target(t_test), "target(t_test)", ndim=1, dtype=np.float64)
    return CircleTask(t_train, x_train, y_train, t_test, x_test, y_test)


# --------------------------------------------------------------------------- #
# Empirical NTK -> analytic NTK
# --------------------------------------------------------------------------- #
class KernelConvergence(NamedTuple):
    """Output of :func:`kernel_convergence`.

    ``widths`` (W,), ``errors`` (W, S) relative Frobenius errors,
    ``empirical`` (W, S, n, n) the empirical NTKs, ``analytic`` (n, n).
    """

    widths: np.ndarray
    errors: np.ndarray
    empirical: np.ndarray
    analytic: np.ndarray


def kernel_convergence(
    x: Any,
    widths: Sequence[int],
    seeds: int = 3,
    depth: int = 2,
    activation: str = "relu",
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    progress: bool = True,
) -> KernelConvergence:
    """Empirical NTK of ``kernels.fc(depth, width)`` at initialisation vs the analytic NTK.

    For each width ``w`` and seed ``s = 0..seeds-1`` the network is
    initialised with ``PRNGKey(s)`` and its empirical NTK ``Theta_w`` on ``x``
    (:func:`lecture_lib.ntk_tracking.fc_ntk_fn`: the layer-wise formula, no jit compile per width)
    is compared with the analytic ``Theta`` (float64):
    ``errors[i, s] = ||Theta_w - Theta||_F / ||Theta||_F``.

    Args:
      x: inputs ``(n, d)``.
      widths: hidden widths to try.
      seeds: number of initialisations per width.
      depth, activation, W_std, b_std: as :func:`lecture_lib.kernels.fc`.
      progress: ``tqdm.auto`` bar over widths.

    Returns:
      :class:`KernelConvergence`.
    """
    import jax

    x = check_array(x, "x", ndim=2)
    widths = check_int_sequence(widths, "widths", min_value=1)
    check_scalar(seeds, "seeds", kind=int, min_value=1)
    analytic = kernels.analytic_kernel(
        kernels.fc(depth, 1, activation, W_std, b_std)[2], x, dtype="float64")
    n = x.shape[0]
    errors = np.zeros((len(widths), seeds))
    empirical = np.zeros((len(widths), seeds, n, n))
    ntk = ntk_tracking.fc_ntk_fn(activation, W_std, b_std)
    xj = jax.numpy.asarray(x)   # the network's dtype (float32 unless x64 is on)
    for i, w in enumerate(progress_bar(widths, progress, desc="empirical NTK per width")):
        init_fn, apply_fn, _ = kernels.fc(depth, w, activation, W_std, b_std)
        for s in range(seeds):
            _, params = init_fn(jax.random.PRNGKey(s), x.shape)
            k = np.asarray(ntk(params, xj), np.float64)
            empirical[i, s] = k
            errors[i, s] = metrics.relative_error(k, analytic)
    return KernelConvergence(np.asarray(widths), errors, empirical, analytic)


# --------------------------------------------------------------------------- #
# Lazy training: the network follows the closed-form NTK dynamics
# --------------------------------------------------------------------------- #
def learned_change_gap(net: Any, ntk: Any) -> np.ndarray:
    """``||net_k - ntk_k|| / ||ntk_k - f_0||`` per recorded step ``k`` (rows).

    ``net`` and ``ntk`` are ``(R, m)`` outputs of the network and of the
    closed form, started from the same ``f_0 = net[0] = ntk[0]``.  Dividing by
    the *learned change* ``ntk_k - f_0`` (not by ``ntk_k``, which contains the
    random ``f_0`` that both share) measures which fraction of what the model
    learns the linear model gets wrong.  NaN where the change is 0 (step 0).
    """
    net = check_array(net, "net", ndim=2, dtype=np.float64)
    ntk = check_array(ntk, "ntk", ndim=2, dtype=np.float64)
    if net.shape != ntk.shape:
        raise ValueError(f"net and ntk must have the same shape, got {net.shape} and {ntk.shape}")
    diff = np.linalg.norm(net - ntk, axis=1)
    change = np.linalg.norm(ntk - ntk[0], axis=1)
    return np.where(change > 0, diff / np.where(change > 0, change, 1.0), np.nan)


def layer_weight_changes(params0: Any, params1: Any) -> np.ndarray:
    """Per-layer ``||W1 - W0||_F / ||W0||_F`` for a ``stax.serial`` network.

    ``params`` is the stax list with one entry per layer; layers without
    parameters (activations) are skipped and, for ``(W, b)`` layers, only the
    weight matrix ``W`` counts (with ``b_std = 0`` the biases never move).

    Returns:
      ``(n_weight_layers,)`` array, input layer first.
    """
    if not isinstance(params0, (list, tuple)) or not isinstance(params1, (list, tuple)):
        raise TypeError("params0 and params1 must be stax parameter lists (one entry per layer)")
    if len(params0) != len(params1):
        raise ValueError(f"params0 and params1 must have the same number of layers, "
                         f"got {len(params0)} and {len(params1)}")
    out = []
    for p0, p1 in zip(params0, params1):
        if isinstance(p0, (list, tuple)) and len(p0) > 0:
            out.append(metrics.relative_change(p0[0], p1[0]))
    if not out:
        raise ValueError("params0 has no layer with weights")
    return np.asarray(out)


class LazyRun(NamedTuple):
    """One width of :func:`lazy_training`.

    ``steps`` (R,) recorded GD steps; ``net_test``/``ntk_test`` (R, m) network
    and closed-form predictions on the test inputs; ``net_train``/``ntk_train``
    (R, n); ``gap`` (R,) the part of the learned change that the closed form
    misses, ``||net_k - ntk_k|| / ||ntk_k - f_0||`` on the test inputs (NaN at
    step 0; see :func:`learned_change_gap`); ``weight_change`` float
    ``||w_T - w_0|| / ||w_0||`` over all
    parameters; ``layer_changes`` (L+1,) per weight matrix;
    ``train_loss`` (R,).
    """

    width: int
    steps: np.ndarray
    net_test: np.ndarray
    ntk_test: np.ndarray
    net_train: np.ndarray
    ntk_train: np.ndarray
    gap: np.ndarray
    weight_change: float
    layer_changes: np.ndarray
    train_loss: np.ndarray


def lazy_training(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    widths: Sequence[int],
    depth: int = 2,
    activation: str = "relu",
    steps: int = 300,
    lr: float | None = None,
    record_every: int = 10,
    seed: int = 0,
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    progress: bool = True,
) -> tuple[dict[int, LazyRun], float]:
    """Train ``kernels.fc(depth, w)`` by full-batch GD (MSE) for every width and
    compare with the closed-form NTK prediction from the same ``f_0``.

    The closed form is :func:`lecture_lib.krr.gd_dynamics_discrete` with the
    analytic NTK and step ``train.kernel_lr(lr, n)`` (see the module docstring).

    Args:
      x_train: ``(n, d)``; y_train: ``(n,)`` real targets; x_test: ``(m, d)``.
      widths: hidden widths.
      depth, activation, W_std, b_std: as :func:`lecture_lib.kernels.fc`.
      steps: GD steps; record_every: record every this many steps.
      lr: network learning rate; default ``n / lambda_max(K)`` (the linear
        model's fastest mode then contracts by ``1 - 1 = 0`` per step, well
        inside the stable range ``lr < 2 n / lambda_max``).
      seed: initialisation seed (``PRNGKey(seed)``), the same for every width.
      progress: progress bar over widths.

    Returns:
      ``(runs, lr)``: dict ``width -> LazyRun`` and the learning rate used.
    """
    import jax

    x_train = check_array(x_train, "x_train", ndim=2)
    y_train = check_array(y_train, "y_train", ndim=1, dtype=np.float64)
    check_same_length("x_train", x_train, "y_train", y_train)
    x_test = check_array(x_test, "x_test", ndim=2)
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(f"x_test must have {x_train.shape[1]} features like x_train, "
                         f"got shape {x_test.shape}")
    widths = check_int_sequence(widths, "widths", min_value=1)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(record_every, "record_every", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    activation = check_choice(activation, "activation", kernels.ACTIVATIONS)
    n = x_train.shape[0]

    kfn = kernels.fc(depth, 1, activation, W_std, b_std)[2]
    k_train = kernels.analytic_kernel(kfn, x_train, dtype="float64")
    k_test = kernels.analytic_kernel(kfn, x_test, x_train, dtype="float64")
    if lr is None:  # kernel step 1 / lambda_max: the fastest mode contracts to 0 in one step
        lr = train.network_lr(1.0 / float(np.linalg.eigvalsh(k_train)[-1]), n)
    else:
        check_scalar(lr, "lr", kind=(int, float), min_value=0, strict_min=True)
        lr = float(lr)

    xt32 = np.asarray(x_train, dtype=np.float32)
    xs32 = np.asarray(x_test, dtype=np.float32)
    runs: dict[int, LazyRun] = {}
    for w in progress_bar(widths, progress, desc="GD per width"):
        init_fn, apply_fn, _ = kernels.fc(depth, w, activation, W_std, b_std)
        _, params0 = init_fn(jax.random.PRNGKey(seed), xt32.shape)
        tr = train.fit(apply_fn, params0, xt32, y_train.astype(np.float32), lr=lr, steps=steps,
                       record_every=record_every, x_test=xs32, record_outputs=True,
                       progress=False)
        net_train = tr.train_outputs[..., 0].astype(np.float64)
        net_test = tr.test_outputs[..., 0].astype(np.float64)
        ntk_train, ntk_test = krr.gd_dynamics_discrete(
            k_train, y_train, tr.step, k_test_train=k_test, lr=train.kernel_lr(lr, n),
            f0_train=net_train[0], f0_test=net_test[0])
        gap = learned_change_gap(net_test, ntk_test)
        runs[w] = LazyRun(
            width=w, steps=tr.step, net_test=net_test, ntk_test=ntk_test,
            net_train=net_train, ntk_train=ntk_train, gap=gap,
            weight_change=float(tr.weight_change[-1]),
            layer_changes=layer_weight_changes(params0, tr.params),
            train_loss=tr.train_loss)
    return runs, lr


# --------------------------------------------------------------------------- #
# Kernel matrices by class
# --------------------------------------------------------------------------- #
def class_contrast(k: Any, labels: Any, center: bool = True) -> float:
    """Mean normalised similarity within classes minus between classes.

    ``mean_{i != j, y_i = y_j} K~_ij - mean_{y_i != y_j} K~_ij`` with
    ``K~ = kernels.normalize_kernel(kernels.center_kernel(k))`` (``center=False``: no
    centring); larger means the kernel separates the classes more (0: it
    ignores the labels).  With centring the value does not change when a
    constant is added to every entry of ``k``, so kernels with different
    offsets can be compared.
    """
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    kn = kernels.normalize_kernel(kernels.center_kernel(k) if center else k)
    labels = check_array(labels, "labels", ndim=1)
    if labels.shape[0] != kn.shape[0]:
        raise ValueError(f"labels must have {kn.shape[0]} entries, got {labels.shape[0]}")
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    if not np.any(same & off) or not np.any(~same):
        raise ValueError("labels must contain at least two classes and a repeated class")
    return float(kn[same & off].mean() - kn[~same].mean())


# --------------------------------------------------------------------------- #
# Two kernels on the same disjoint splits (paired comparison)
# --------------------------------------------------------------------------- #
class SplitComparison(NamedTuple):
    """Output of :func:`compare_kernels_on_splits`.

    ``names`` (M,) kernel names; ``accuracy`` (S, M) test accuracy of kernel
    regression per split and kernel; ``contrast`` (S, M) :func:`class_contrast`
    of each train kernel; ``k_train`` (M, n, n) the train kernels of split 0
    and ``labels`` (n,) its integer labels (for the heat maps).
    """

    names: tuple
    accuracy: np.ndarray
    contrast: np.ndarray
    k_train: np.ndarray
    labels: np.ndarray


def compare_kernels_on_splits(
    kernel_fns: dict,
    x: Any,
    y: Any,
    n_splits: int,
    n_train: int,
    n_test: int,
    seed: int = 0,
    reg: float = 1e-6,
    batch_size: int = 10,
    progress: bool = True,
) -> SplitComparison:
    """Kernel regression with several kernels on the same ``n_splits`` disjoint splits.

    The examples are cut into ``n_splits`` disjoint stratified splits of
    ``n_train + n_test`` examples (no example is used in two splits, so the
    splits are independent draws); on each split every kernel fits
    ``krr.fit_predict`` to the centred one-hot targets ``y - 1/k`` and is
    scored by test accuracy.  Because all kernels see the same splits, their
    accuracies can be compared split by split (a paired comparison).

    Args:
      kernel_fns: ``name -> (kernel_fn, flatten)``: a stax ``kernel_fn`` and
        whether it takes flattened inputs ``(n, H*W*C)`` (FC) instead of
        images (CNN).
      x: images ``(N, H, W, C)``; y: one-hot labels ``(N, k)``.
      n_splits, n_train, n_test: ``n_splits * (n_train + n_test) <= N``.
      seed: seed of the splits.
      reg: ridge of :func:`lecture_lib.krr.fit_predict` (trace-scaled).
      batch_size: ``nt.batch`` block size of :func:`lecture_lib.kernels.analytic_kernel`
        (kernels in float64, fastest for CNTKs on CPU).
      progress: progress bar over splits.

    Returns:
      :class:`SplitComparison`.
    """
    if not isinstance(kernel_fns, dict) or not kernel_fns:
        raise TypeError("kernel_fns must be a non-empty dict name -> (kernel_fn, flatten)")
    for name, v in kernel_fns.items():
        if not (isinstance(v, tuple) and len(v) == 2 and callable(v[0]) and isinstance(v[1], bool)):
            raise TypeError(f"kernel_fns[{name!r}] must be a (kernel_fn, flatten: bool) pair")
    x = check_array(x, "x", ndim=4)
    y = check_array(y, "y", ndim=2, dtype=np.float64)
    check_same_length("x", x, "y", y)
    check_scalar(n_splits, "n_splits", kind=int, min_value=1)
    check_scalar(n_train, "n_train", kind=int, min_value=2)
    check_scalar(n_test, "n_test", kind=int, min_value=1)
    check_scalar(seed, "seed", kind=int, min_value=0)
    if n_splits * (n_train + n_test) > x.shape[0]:
        raise ValueError(f"n_splits * (n_train + n_test) must be <= {x.shape[0]} examples, "
                         f"got {n_splits} * ({n_train} + {n_test})")
    names = tuple(kernel_fns)
    labels_all = y.argmax(1)
    targets = y - 1.0 / y.shape[1]
    free = np.arange(x.shape[0])
    acc = np.zeros((n_splits, len(names)))
    contrast = np.zeros((n_splits, len(names)))
    k_first, labels_first = [], None
    for s in progress_bar(range(n_splits), progress, desc="splits"):
        tr, te = data.stratified_split(y[free], n_train, n_test, seed=seed * 1000 + s)
        tr, te = free[tr], free[te]
        free = np.setdiff1d(free, np.concatenate([tr, te]))
        both = np.concatenate([tr, te])
        for m, name in enumerate(names):
            kfn, flatten = kernel_fns[name]
            xs = x.reshape(len(x), -1) if flatten else x
            k = kernels.analytic_kernel(kfn, xs[both], xs[tr], batch_size=batch_size, dtype="float64")
            k_tr, k_te = k[:n_train], k[n_train:]
            k_tr = 0.5 * (k_tr + k_tr.T)
            pred = krr.fit_predict(k_tr, targets[tr], k_te, reg=reg)
            acc[s, m] = metrics.accuracy(pred, y[te])
            contrast[s, m] = class_contrast(k_tr, labels_all[tr])
            if s == 0:
                k_first.append(k_tr)
                labels_first = labels_all[tr]
    return SplitComparison(names, acc, contrast, np.stack(k_first), labels_first)


# --------------------------------------------------------------------------- #
# Figures that the notebook's widgets redraw (``widgets.live_plot(fig, update, ...)``)
# --------------------------------------------------------------------------- #
def angle_figure(gamma: Any):
    """Kernel against the angle: ``(fig, update)``.

    ``update(depth, activation, get, W_std, b_std)`` evaluates
    :func:`lecture_lib.recursion.kernel_vs_angle` on ``gamma`` (closed form on a
    few hundred angles: well under a millisecond) and moves the two curves:
    the kernel value (left, limits follow the data) and ``k(gamma) / k(0)``
    (right).
    """
    import matplotlib.pyplot as plt

    gamma = check_array(gamma, "gamma", ndim=1, dtype=np.float64)
    deg = np.degrees(gamma)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    (raw,) = ax[0].plot(deg, 0 * deg, color="C0")
    (norm,) = ax[1].plot(deg, 0 * deg, color="C0")
    ax[0].set(xlabel="angle $\\gamma$ (degrees)", ylabel="kernel value")
    ax[1].set(title="normalised by the value at $\\gamma=0$", xlabel="angle $\\gamma$ (degrees)",
              ylabel="$k(\\gamma)/k(0)$", ylim=(-0.1, 1.05))
    ax[1].axhline(0, color="0.7", lw=0.8)

    def update(depth=2, activation="relu", get="ntk", W_std=2**0.5, b_std=0.0):
        k = recursion.kernel_vs_angle(gamma, depth=depth, activation=activation, W_std=W_std,
                                      b_std=b_std, get=get)
        raw.set_ydata(k)
        norm.set_ydata(k / k[0])
        ax[0].set_title(f"{get.upper()}, {activation}, depth {depth}: "
                        f"$k(\\pi) = {k[-1]:.3f}$")
        ax[0].relim()
        ax[0].autoscale_view()

    return fig, update


def entries_figure(conv: KernelConvergence):
    """Empirical against analytic kernel entries: ``(fig, update)``.

    Left: the width chosen by ``update(width)`` (one colour per seed, the
    seed's relative error in the legend); right: the widest network, fixed,
    for reference.  The diagonal is "empirical = analytic".
    """
    import matplotlib.pyplot as plt

    if not isinstance(conv, KernelConvergence):
        raise TypeError(f"conv must be a KernelConvergence, got {type(conv).__name__}")
    lim = [conv.analytic.min() * 0.9, conv.analytic.max() * 1.1]
    a = conv.analytic.ravel()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    dots = []
    for side, ax in enumerate(axes):
        ax.plot(lim, lim, "k--", lw=1, label="empirical = analytic")
        dots.append([ax.scatter(a, conv.empirical[-1, s].ravel(), s=8, alpha=0.6, color=f"C{s % 10}")
                     for s in range(conv.errors.shape[1])])
        ax.set(xlabel="analytic NTK $\\Theta(x_i,x_j)$", xlim=lim, ylim=lim)
    axes[0].set_ylabel("empirical NTK $\\hat\\Theta_w(x_i,x_j)$")

    def label(ax, i, sc):
        for s, d in enumerate(sc):
            d.set_label(f"seed {s}: error {conv.errors[i, s]:.2f}")
        ax.set_title(f"Kernel entries, width {conv.widths[i]}")
        ax.legend(fontsize=7, loc="upper left")

    label(axes[1], len(conv.widths) - 1, dots[1])
    axes[1].set_title(f"Kernel entries, width {conv.widths[-1]} (widest, fixed)")

    def update(width):
        i = list(conv.widths).index(width)
        for s, d in enumerate(dots[0]):
            d.set_offsets(np.column_stack([a, conv.empirical[i, s].ravel()]))
        label(axes[0], i, dots[0])

    return fig, update


def training_figure(task: CircleTask, runs: dict, ylim: tuple = (-2.5, 2.5)):
    """Network against closed form during training: ``(fig, update)``.

    ``update(step, width)`` shows the recorded snapshot at the first recorded
    step ``>= step`` of ``runs[width]`` (a :func:`lazy_training` result) and
    its :func:`learned_change_gap` in the title.
    """
    import matplotlib.pyplot as plt

    if not isinstance(task, CircleTask):
        raise TypeError(f"task must be a CircleTask, got {type(task).__name__}")
    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict width -> LazyRun")
    deg = np.degrees(task.t_test)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(deg, task.y_test, color="0.7", label="target")
    (net,) = ax.plot(deg, 0 * deg, lw=2.5, alpha=0.6, color="C0", label="network")
    (ntk,) = ax.plot(deg, 0 * deg, "k--", label="closed-form NTK")
    ax.plot(np.degrees(task.t_train), task.y_train, "ko", label="training points")
    ax.set(xlabel="angle $t$ (degrees)", ylabel="output $f(x)$", ylim=ylim)
    ax.legend(fontsize=8, loc="upper right", ncol=2)

    def update(step, width):
        r = runs[width]
        k = min(int(np.searchsorted(r.steps, step)), len(r.steps) - 1)
        net.set_ydata(r.net_test[k])
        ntk.set_ydata(r.ntk_test[k])
        gap = "n/a at step 0" if np.isnan(r.gap[k]) else f"{r.gap[k]:.3f}"
        ax.set_title(f"width {width}, step {r.steps[k]}: gap / learned change {gap}")

    return fig, update
