r"""Experiments of ``notebooks/02_ntk_primer.ipynb``: finite networks against their
infinite-width kernel.

Three measurements that the notebook plots and asserts on:

* :func:`kernel_convergence` -- the empirical NTK
  ``Theta_w(x, x') = sum_p d f(x)/d theta_p d f(x')/d theta_p`` of a width-``w``
  network at initialisation against the analytic NTK ``Theta``: the relative
  Frobenius error ``||Theta_w - Theta||_F / ||Theta||_F`` is
  ``O(w^{-1/2})`` (fluctuations of an average over ``w`` units).
* :func:`lazy_training` -- full-batch gradient descent on a finite network
  next to the closed form of gradient descent for the *linearised* model with
  the analytic NTK (Lee et al. 2019)::

      f_k(x) = f_0(x) + K_xX V diag((1 - (1 - eta lambda)^k) / lambda) V^T (y - f_0(X)),

  ``eta = train.kernel_lr(lr, n)`` because the network minimises
  ``1/(2n) sum_i (f(x_i) - y_i)^2``; ``f_0`` is the network's own output at
  initialisation.  Also records how far the weights move
  (:func:`layer_weight_changes`).
* :func:`class_contrast` -- how much more similar a kernel finds two images of
  the same class than of different classes (used for the CNTK vs FC figure).

A 1-D regression toy on the unit circle, :func:`circle_task`, makes the
predictions easy to plot against the angle.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import data, kernels, krr, metrics, train
from ..progress import progress as progress_bar
from ..validation import (
    check_array, check_choice, check_int_sequence, check_same_length, check_scalar,
)

__all__ = [
    "CircleTask", "circle_task", "KernelConvergence", "kernel_convergence",
    "LazyRun", "lazy_training", "layer_weight_changes", "class_contrast",
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
    for i, w in enumerate(progress_bar(widths, progress, desc="empirical NTK per width")):
        init_fn, apply_fn, _ = kernels.fc(depth, w, activation, W_std, b_std)
        for s in range(seeds):
            _, params = init_fn(jax.random.PRNGKey(s), x.shape)
            k = kernels.empirical_ntk(apply_fn, params, x)
            empirical[i, s] = k
            errors[i, s] = metrics.relative_error(k, analytic)
    return KernelConvergence(np.asarray(widths), errors, empirical, analytic)


# --------------------------------------------------------------------------- #
# Lazy training: the network follows the closed-form NTK dynamics
# --------------------------------------------------------------------------- #
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
    (R, n); ``gap`` (R,) relative gap ``||net - ntk|| / ||ntk||`` on the test
    inputs; ``weight_change`` float ``||w_T - w_0|| / ||w_0||`` over all
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
        gap = metrics.relative_error(net_test, ntk_test, axis=1)
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
