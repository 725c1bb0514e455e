r"""Experiments of ``notebooks/08_kernel_dynamics.ipynb``: how the empirical NTK of a trained
network moves, for standard (STD) and adversarial (AT) training.

* :func:`probe_set` -- Fort et al.'s fixed probe set (``per_class`` training images of each
  class, sorted by class so that kernel matrices show class blocks).
* :func:`train_runs` -- STD and PGD-AT (Madry et al.) of the same initialisations, for several
  seeds, as *one* ensemble run of :func:`lecture_lib.train.fit` (the attack radius per member
  through ``perturb_args``); the empirical NTK on the probe set at every epoch
  (:func:`lecture_lib.ntk_tracking.ntk_path`).
* :func:`measure` -- every measurement of the slides on such a kernel path
  (:mod:`lecture_lib.kernel_measures`): Fort et al.'s distance heat map, velocity and polar
  coordinates; Baratin et al.'s kernel-target alignment and effective rank; Tsilivis &
  Kempe's top-eigenvalue mass and the kernel norm.
* :func:`linearise_from` -- Fort et al.'s experiment: linearise the network at epoch ``t``
  (``f_t + J_t (w - w_t)``) and train the linear model for the remaining epochs.
* :func:`statements` -- the slides' STD-vs-AT statements, one number per seed each.
* ``plot_*`` and :func:`dynamics_figure` -- the figures the notebook and its widget draw.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import attacks, data, kernel_measures, kernels, ntk_tracking, train
from ..validation import check_array, check_int_sequence, check_scalar

__all__ = [
    "CLIP", "MODES", "probe_set", "Runs", "train_runs", "Measures", "measure",
    "Linearised", "linearise_from", "Statements", "statements", "lazy_epoch",
    "plot_distance", "plot_polar", "plot_curves", "dynamics_figure",
]

CLIP = (0.0, 1.0)  # pixels of data.digits(standardize="pixel")
MODES = ("STD", "AT")


def probe_set(ds: data.Dataset, per_class: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` training examples of every class, sorted by class:
    ``(x (n, d), y (n,))`` with ``n = per_class * classes``."""
    check_scalar(per_class, "per_class", kind=int, min_value=1)
    y = np.asarray(ds.y_train)
    if y.ndim != 1:
        raise ValueError("ds must have integer labels (n,)")
    idx = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) < per_class:
            raise ValueError(f"class {c} has only {len(rows)} training examples < per_class")
        idx.extend(rows[:per_class])
    idx = np.asarray(idx)
    return np.asarray(ds.x_train)[idx], y[idx]


class Runs(NamedTuple):
    """Output of :func:`train_runs` (``S`` seeds, ``R`` records, ``n`` probe points).

    ``epoch (R,)``; ``kernels (M, S, R, n, n)`` empirical NTKs (axis 0: :data:`MODES`,
    ``M = 2``, or STD only, ``M = 1``); ``test_acc``, ``train_acc`` ``(M, S, R)`` clean
    accuracies; ``robust_acc (M, S)`` final PGD accuracy on the test set at ``eps``;
    ``params_history``: the list of ``R`` parameter records (leaves ``(M S, ...)``, member
    ``M s + m``); ``apply_fn``; ``eps``; ``lr``;
    ``batch_size``; ``steps_per_epoch``; ``seconds``: wall time of training + kernels.
    """

    epoch: np.ndarray
    kernels: np.ndarray
    test_acc: np.ndarray
    train_acc: np.ndarray
    robust_acc: np.ndarray
    params_history: list
    apply_fn: Any
    eps: float
    lr: float
    batch_size: int
    steps_per_epoch: int
    seconds: float


def train_runs(ds: data.Dataset, x_probe: Any, *, seeds: Sequence[int] = (0, 1, 2),
               eps: float = 0.1, width: int = 256, depth: int = 2, epochs: int = 20,
               batch_size: int = 50, lr: float = 0.3, attack_steps: int = 3,
               parameterization: str = "standard", eval_steps: int = 10,
               clip: tuple[float, float] | None = CLIP, adversarial: bool = True,
               progress: bool = False) -> Runs:
    """STD (``eps = 0``) and PGD-AT (``eps``) of one ReLU MLP per seed, same initialisation
    for both modes; SGD, softmax cross-entropy, records at every epoch.

    The network is ``kernels.fc(depth, width, parameterization=...)`` with 10 outputs; the
    attack is :func:`lecture_lib.attacks.pgd_perturb` (``attack_steps`` steps of ``2.5 eps /
    attack_steps`` from a random start, L-inf, clipped to :data:`CLIP`).  Every member's
    empirical NTK on ``x_probe`` is computed at every record with the layer-wise formula of
    :func:`lecture_lib.ntk_tracking.fc_ntk_fn`.  ``adversarial=False``: STD only (axis 0 of
    the results has length 1; a cheaper control run).  ``eval_steps=0``: no PGD evaluation
    (``robust_acc`` is NaN).
    """
    import time

    import jax
    import jax.numpy as jnp

    seeds = check_int_sequence(seeds, "seeds", min_value=0)
    check_scalar(eps, "eps", min_value=0.0, strict_min=True)
    check_scalar(epochs, "epochs", kind=int, min_value=1)
    check_scalar(eval_steps, "eval_steps", kind=int, min_value=0)
    check_scalar(batch_size, "batch_size", kind=int, min_value=1, max_value=len(ds.x_train))
    x_probe = check_array(x_probe, "x_probe", ndim=2, dtype=np.float32)
    if not isinstance(adversarial, bool):
        raise TypeError(f"adversarial must be a bool, got {type(adversarial).__name__}")
    modes = MODES if adversarial else MODES[:1]
    t0 = time.perf_counter()
    w_std = 2**0.5
    init, apply, _ = kernels.fc(depth, width, "relu", W_std=w_std, b_std=0.0, out_dim=10,
                                parameterization=parameterization)
    p_seed = [init(jax.random.PRNGKey(s), (1, ds.x_train.shape[1]))[1] for s in seeds]
    # member M s + m: seed s, mode m (0 STD, 1 AT); both modes start from the same weights
    nm = len(modes)
    params = jax.tree_util.tree_map(lambda *a: jnp.stack([b for b in a for _ in modes]), *p_seed)
    radius = np.tile(np.asarray([0.0, eps][:nm], np.float32), len(seeds))
    hook = dict(perturb=attacks.pgd_perturb(None, steps=attack_steps, clip=clip),
                perturb_args=radius) if adversarial else {}
    per_epoch = len(ds.x_train) // batch_size
    steps = epochs * per_epoch
    tr = train.fit(apply, params, ds.x_train.astype(np.float32), ds.y_train,
                   loss="cross_entropy", optimizer="sgd", lr=lr, steps=steps,
                   batch_size=batch_size, key=seeds[0], ensemble=True, **hook,
                   x_test=ds.x_test.astype(np.float32), y_test=ds.y_test,
                   record_steps=list(range(0, steps + 1, per_epoch)), record_params=True,
                   progress=progress)
    ntk = ntk_tracking.fc_ntk_fn("relu", w_std, 0.0, parameterization)
    k = ntk_tracking.ntk_path(ntk, tr.params_history, x_probe, members=True)  # (R, M S, n, n)
    s, r, n = len(seeds), k.shape[0], k.shape[-1]
    k = np.moveaxis(k.reshape(r, s, nm, n, n), 0, 2).transpose(1, 0, 2, 3, 4)  # (M, S, R, n, n)
    robust = np.full((nm, s), np.nan)
    for j in range(nm * s if eval_steps > 0 else 0):
        model = attacks.Predictor(apply, jax.tree_util.tree_map(lambda a, j=j: a[j], tr.params))
        res = attacks.attack_model(model, ds.x_test.astype(np.float32), ds.y_test, float(eps),
                                   steps=eval_steps, clip=clip, key=seeds[0])
        robust[j % nm, j // nm] = res.robust_accuracy

    def by_mode(a):  # (R, M S) -> (M, S, R)
        return np.asarray(a).reshape(r, s, nm).transpose(2, 1, 0)

    return Runs(tr.step / per_epoch, k, by_mode(tr.test_acc), by_mode(tr.train_acc), robust,
                tr.params_history, apply, float(eps), float(lr), batch_size, per_epoch,
                time.perf_counter() - t0)


class Measures(NamedTuple):
    """Output of :func:`measure`, arrays over the leading axes ``L`` of the kernels (e.g.
    ``(2, S)``) and ``R`` records: ``distance (*L, R, R)``, ``velocity (*L, R - 1)`` (per
    epoch), ``r``, ``theta (*L, R)`` (polar), ``alignment``, ``effective_rank`` (of the
    kernel), ``effective_rank_centred`` (of ``H K H``), ``top_mass``, ``norm (*L, R)``
    (``||K_t||_F``), ``epoch (R,)``, ``top`` (the ``m`` of ``top_mass``)."""

    epoch: np.ndarray
    distance: np.ndarray
    velocity: np.ndarray
    r: np.ndarray
    theta: np.ndarray
    alignment: np.ndarray
    effective_rank: np.ndarray
    effective_rank_centred: np.ndarray
    top_mass: np.ndarray
    norm: np.ndarray
    top: int


def measure(kernels_: Any, epoch: Any, y_probe: Any, top: int = 10) -> Measures:
    """All measurements of :mod:`lecture_lib.kernel_measures` on kernel paths
    ``(*L, R, n, n)`` recorded at ``epoch (R,)``; ``y_probe (n,)`` the probe labels."""
    km = kernel_measures
    k = check_array(kernels_, "kernels", min_ndim=3, dtype=np.float64)
    polar = km.polar_coordinates(k)
    return Measures(np.asarray(epoch, np.float64), km.distance_matrix(k),
                    km.kernel_velocity(k, epoch), polar.r, polar.theta,
                    np.asarray(km.kernel_target_alignment(k, y_probe)),
                    np.asarray(km.effective_rank(k)),
                    np.asarray(km.effective_rank(k, centered=True)),
                    np.asarray(km.top_eigen_mass(k, top)),
                    np.sqrt(np.sum(k**2, axis=(-2, -1))), top)


def lazy_epoch(theta: Any, epoch: Any, fraction: float = 0.9) -> np.ndarray:
    """First epoch at which the angle ``theta_t`` reaches ``fraction`` of its final value
    (after it, the kernel mostly grows or stays: the "lazy" phase); over leading axes."""
    theta = check_array(theta, "theta", min_ndim=1, dtype=np.float64)
    epoch = check_array(epoch, "epoch", ndim=1, dtype=np.float64)
    check_scalar(fraction, "fraction", min_value=0.0, max_value=1.0, strict_min=True)
    reached = theta >= fraction * theta[..., -1:]
    return epoch[np.argmax(reached, axis=-1)]


class Linearised(NamedTuple):
    """Output of :func:`linearise_from`: ``t (T,)`` the linearisation epochs, ``test_acc
    (T,)`` final test accuracy of the linear model ``f_t + J_t (w - w_t)`` trained from epoch
    ``t`` to the end, ``network_acc``: the network's own final test accuracy."""

    t: np.ndarray
    test_acc: np.ndarray
    network_acc: float


def linearise_from(runs: Runs, ds: data.Dataset, t_epochs: Sequence[int], *, seed: int = 0,
                   mode: int = 0) -> Linearised:
    """Fort et al.: linearise member (``seed`` index, ``mode``) at each epoch of
    ``t_epochs`` and train the linearised model with the same SGD for the remaining
    epochs (one ensemble run: member ``i`` is linearised at ``t_epochs[i]``; a member with
    fewer remaining epochs stops changing -- its learning rate is 0 after its budget)."""
    import jax
    import jax.numpy as jnp

    t_epochs = check_int_sequence(t_epochs, "t_epochs", min_value=0, increasing=True)
    total = int(runs.epoch[-1])
    if t_epochs[-1] >= total:
        raise ValueError(f"t_epochs must be < the last epoch {total}")
    member = runs.kernels.shape[0] * seed + mode
    recs = [int(np.flatnonzero(runs.epoch == t)[0]) for t in t_epochs]
    params = jax.tree_util.tree_map(
        lambda *a: jnp.stack([b[member] for b in a]), *[runs.params_history[i] for i in recs])
    per = runs.steps_per_epoch
    steps = (total - t_epochs[0]) * per
    # member i trains for (total - t_i) epochs: a per-member step budget through perturb_args
    # would need a second hook; instead the schedule is shared and we read each member's
    # accuracy at its own budget from the recorded trajectory.
    rec = sorted({(total - t) * per for t in t_epochs} | {0})
    tr = train.fit(runs.apply_fn, params, ds.x_train.astype(np.float32), ds.y_train,
                   loss="cross_entropy", optimizer="sgd", lr=runs.lr, steps=steps,
                   batch_size=runs.batch_size, key=seed, ensemble=True, linearised=True,
                   x_test=ds.x_test.astype(np.float32), y_test=ds.y_test, record_steps=rec,
                   progress=False)
    acc = np.array([tr.test_acc[list(tr.step).index((total - t) * per), i]
                    for i, t in enumerate(t_epochs)])
    return Linearised(np.asarray(t_epochs, np.float64), acc,
                      float(runs.test_acc[mode, seed, -1]))


class Statements(NamedTuple):
    """The slides' STD-vs-AT statements, one value per seed ``(S,)`` for each mode
    ``(2, S)``: ``theta_final`` (the final angle, "AT rotates more"), ``lazy_epoch``
    (:func:`lazy_epoch`, "AT becomes lazy earlier"), ``top_mass`` and ``effective_rank`` at
    the end ("AT depends more on the top eigenvalues"), ``norm_growth`` ``||K_f|| / ||K_0||``
    ("AT gives a more conservative kernel"), ``alignment`` at the end."""

    theta_final: np.ndarray
    lazy_epoch: np.ndarray
    top_mass: np.ndarray
    effective_rank: np.ndarray
    effective_rank_centred: np.ndarray
    norm_growth: np.ndarray
    alignment: np.ndarray


def statements(m: Measures) -> Statements:
    """:class:`Statements` from the :class:`Measures` of kernels ``(2, S, R, n, n)``."""
    return Statements(m.theta[..., -1], lazy_epoch(m.theta, m.epoch), m.top_mass[..., -1],
                      m.effective_rank[..., -1], m.effective_rank_centred[..., -1],
                      m.norm[..., -1] / m.norm[..., 0],
                      m.alignment[..., -1])


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #
def plot_distance(ax, m: Measures, index: tuple = (0, 0), title: str = ""):
    """Fort et al.'s heat map ``d(Theta_i, Theta_j)`` between epochs for kernel ``index``."""
    d = m.distance[index]
    e = m.epoch
    im = ax.imshow(d, origin="lower", cmap="magma", extent=(e[0], e[-1], e[0], e[-1]),
                   vmin=0.0, vmax=max(float(d.max()), 1e-12))
    ax.set(xlabel="epoch j", ylabel="epoch i", title=title or "kernel distance")
    ax.grid(False)
    return im


def plot_polar(ax, m: Measures, index: tuple = (0, 0), label: str = "", color=None):
    """The slide's polar picture ``(theta_t, r_t)`` on a polar ``ax``, dots at every epoch."""
    (line,) = ax.plot(m.theta[index], m.r[index], "o-", ms=3, label=label, color=color)
    ax.set_thetamin(0)
    ax.set_thetamax(max(5.0, float(np.degrees(np.max(m.theta))) * 1.1))
    return line


def plot_curves(ax, m: Measures, name: str, label_prefix: str = "", colors=("C0", "C3")):
    """``name`` (a field of :class:`Measures` over records) against epoch, STD and AT, mean
    over seeds with every seed thin."""
    v = np.asarray(getattr(m, name))
    e = m.epoch if v.shape[-1] == len(m.epoch) else 0.5 * (m.epoch[1:] + m.epoch[:-1])
    for mode, c in zip(range(2), colors):
        for s in range(v.shape[1]):
            ax.plot(e, v[mode, s], color=c, lw=0.6, alpha=0.4)
        ax.plot(e, v[mode].mean(axis=0), color=c, lw=2, label=f"{label_prefix}{MODES[mode]}")
    ax.set_xlabel("epoch")
    return ax


def dynamics_figure(runs: Runs, m: Measures, y_probe: Any):
    """``(fig, update)`` for ``widgets.live_plot``: ``update(epoch, mode)`` shows the probe
    kernel of seed 0 at that epoch (normalised by its largest entry), the heat-map row of that
    epoch, and marks the epoch on the polar trajectory."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 3.8))
    ax_k = fig.add_subplot(1, 3, 1)
    ax_d = fig.add_subplot(1, 3, 2)
    ax_p = fig.add_subplot(1, 3, 3, projection="polar")
    k0 = runs.kernels[0, 0, 0]
    im = ax_k.imshow(k0 / np.abs(k0).max(), cmap="viridis", vmin=-0.2, vmax=1.0)
    ax_k.set(xlabel="probe j (sorted by class)", ylabel="probe i")
    ax_k.grid(False)
    fig.colorbar(im, ax=ax_k, fraction=0.046, label=r"$\Theta_t / \max \Theta_t$")
    lines = {}
    for mode, c in zip(range(2), ("C0", "C3")):
        (lines[mode],) = ax_d.plot(m.epoch, m.distance[mode, 0, 0], color=c, label=MODES[mode])
    ax_d.set(xlabel="epoch j", ylabel=r"$d(\Theta_t, \Theta_j)$", ylim=(0, 1.05 * m.distance[:, 0].max()))
    ax_d.legend(loc="upper left")
    vline = ax_d.axvline(0, color="k", ls=":")
    for mode, c in zip(range(2), ("C0", "C3")):
        plot_polar(ax_p, m, (mode, 0), MODES[mode], color=c)
    (dot,) = ax_p.plot([0], [0], "k*", ms=14)
    ax_p.set_title(r"polar: $\theta_t$ (angle), $r_t$ (radius)", fontsize=10)
    ax_p.legend(loc="upper right", fontsize=8)

    def update(epoch=0, mode="STD"):
        j = MODES.index(mode)
        i = int(np.flatnonzero(m.epoch == epoch)[0])
        k = runs.kernels[j, 0, i]
        im.set_data(k / np.abs(k).max())
        ax_k.set_title(f"{mode} empirical NTK, epoch {epoch:g}\n||Theta_t|| / ||Theta_0|| = "
                       f"{m.norm[j, 0, i] / m.norm[j, 0, 0]:.2f}", fontsize=10)
        for jj in range(2):
            lines[jj].set_ydata(m.distance[jj, 0, i])
        vline.set_xdata([epoch, epoch])
        ax_d.set_title(f"distance of epoch {epoch:g} to every epoch", fontsize=10)
        dot.set_data([m.theta[j, 0, i]], [m.r[j, 0, i]])

    return fig, update
