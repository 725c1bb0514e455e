r"""Experiments of ``notebooks/06_adversarial_examples.ipynb``: adversarial examples, the NTK
adversary, and why robustness costs data and accuracy.

* :func:`digits_task`, :func:`mlp`, :func:`small_cnn`, :func:`train_networks` -- the finite
  networks under attack: an MLP (two independent seeds) and a small CNN trained on 8x8 digits
  with pixels in ``[0, 1]`` (the attack's clip range), by :func:`lecture_lib.train.fit`.
* :func:`attack_sweep` -- FGSM, PGD and random noise of the same norm at every radius
  (:func:`lecture_lib.attacks.robustness_curve`); :class:`Gallery` draws clean image,
  perturbation and adversarial image with the network's confidence (the panda/gibbon slide).
* :func:`ntk_adversary`, :func:`transfer` -- Tsilivis & Kempe's NTK adversary: PGD on the
  infinite-width predictor ``f_t(x) = Theta(x, X) Theta^{-1} (I - (I - eta Theta)^t) Y``
  (:func:`lecture_lib.attacks.kernel_predictor`), and the accuracy of finite networks on the
  adversarial inputs of every source (white-box, another network, the NTK, noise).
* :func:`sample_complexity` -- Schmidt et al.'s Gaussian model: exact standard and L-inf
  robust errors of the mean classifier against the number of samples
  (:mod:`lecture_lib.robustness`).
* :func:`adversarial_training` -- PGD adversarial training (Madry et al.) on digits for several
  radii in one compiled ensemble run, with clean and robust train/test accuracy over training
  (the trade-off and robust overfitting, Zhang et al., Rice et al.).
* :func:`tsipras_tradeoff` -- the same adversarial training on Tsipras et al.'s distribution,
  where the accuracy-robustness trade-off is a theorem.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import attacks, config, data, kernels, krr, robustness, train
from ..validation import (
    check_array, check_choice, check_int_sequence, check_same_length, check_scalar,
)

__all__ = [
    "CLIP", "digits_task", "mlp", "small_cnn", "Networks", "train_networks",
    "softmax",
    "AttackCurves", "attack_sweep", "plot_curves", "Gallery",
    "NTKAdversary", "ntk_adversary", "TransferTable", "transfer", "plot_transfer",
    "SampleComplexity", "sample_complexity", "samples_needed", "plot_sample_complexity",
    "AdversarialTraining", "adversarial_training", "plot_adversarial_training",
    "Tradeoff", "tsipras_tradeoff", "plot_tradeoff",
]

#: pixel range of the digits (``standardize="pixel"``): attacks are clipped to it
CLIP: tuple[float, float] = (0.0, 1.0)


# --------------------------------------------------------------------------- #
# Data and networks
# --------------------------------------------------------------------------- #
def digits_task(n_train: int = 1000, n_test: int = 300, seed: int = 0) -> data.Dataset:
    """8x8 digits as images ``(n, 8, 8, 1)`` with pixels in ``[0, 1]``, integer labels 0-9.

    At ``LECTURE_SCALE=full`` pass MNIST instead (``data.load_mnist``, same conventions).
    """
    ds = data.digits(n_train=n_train, n_test=n_test, seed=seed, image=True, standardize="pixel",
                     dtype=np.float32)
    return data.Dataset(ds.x_train, ds.y_train.astype(np.int32), ds.x_test,
                        ds.y_test.astype(np.int32))


def _stax():
    # neural-tangents after lecture_lib.kernels (which keeps its TensorFlow part from loading)
    from neural_tangents import stax

    return stax


@functools.lru_cache(maxsize=8)
def mlp(width: int = 128, depth: int = 2, classes: int = 10):
    """``Flatten -> [Dense(width) -> ReLU] * depth -> Dense(classes)`` (NTK parameterisation),
    a stax triple whose ``kernel_fn`` is the FC NTK used by the NTK adversary.  Cached: every
    call with the same arguments returns the same functions, so the compiled training,
    prediction and attack functions (cached per ``apply_fn``) are shared between sections."""
    return _stax().serial(_stax().Flatten(), kernels.fc(depth, width, out_dim=classes))


# small_cnn lives in the core (lecture_lib.kernels.small_cnn; notebook 04 uses it too)
small_cnn = kernels.small_cnn


class Networks(NamedTuple):
    """Output of :func:`train_networks`: ``models`` maps a name to an
    :class:`lecture_lib.attacks.Predictor` (``"MLP"``, ``"MLP (seed 2)"``, ``"CNN"``);
    ``test_accuracy`` the same names to clean test accuracies; ``kernel_fn`` the FC NTK
    of the MLP architecture."""

    models: dict
    test_accuracy: dict
    kernel_fn: Any


def train_networks(ds: data.Dataset, *, seed: int = 0, width: int = 128, steps: int = 300,
                   lr: float = 3e-3, cnn_channels: Sequence[int] = (8, 16),
                   progress: bool = False) -> Networks:
    """Two MLPs (independent initialisations, trained together as an ensemble) and a CNN,
    full-batch Adam on the softmax cross-entropy, ``steps`` updates each."""
    import jax

    check_scalar(seed, "seed", kind=int, min_value=0)
    init_m, apply_m, kfn = mlp(width)
    shape = (1,) + ds.x_train.shape[1:]
    p_mlp = kernels.normal_init(init_m, shape, seed=1000 * seed + 1, n_members=2)
    tr_m = train.fit(apply_m, p_mlp, ds.x_train, ds.y_train, loss="cross_entropy",
                     optimizer="adam", lr=lr, steps=steps, ensemble=True, x_test=ds.x_test,
                     y_test=ds.y_test, record_every=steps, progress=progress)
    init_c, apply_c, _ = small_cnn(cnn_channels)
    tr_c = train.fit(apply_c, kernels.normal_init(init_c, shape, seed=1000 * seed + 2), ds.x_train, ds.y_train,
                     loss="cross_entropy", optimizer="adam", lr=lr, steps=steps,
                     x_test=ds.x_test, y_test=ds.y_test, record_every=steps, progress=progress)
    member = [jax.tree_util.tree_map(lambda a, i=i: a[i], tr_m.params) for i in range(2)]
    models = {"MLP": attacks.Predictor(apply_m, member[0]),
              "MLP (seed 2)": attacks.Predictor(apply_m, member[1]),
              "CNN": attacks.Predictor(apply_c, tr_c.params)}
    acc = {"MLP": float(tr_m.test_acc[-1, 0]), "MLP (seed 2)": float(tr_m.test_acc[-1, 1]),
           "CNN": float(tr_c.test_acc[-1])}
    return Networks(models, acc, kfn)


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax ``(n, k)``: the network's "confidence" of the slide."""
    z = check_array(logits, "logits", ndim=2, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- #
# White-box attacks against eps, with the random-noise control
# --------------------------------------------------------------------------- #
class AttackCurves(NamedTuple):
    """Robust accuracy of one model against radius, for one norm: ``pgd``, ``fgsm`` and
    ``noise`` (:class:`lecture_lib.attacks.RobustnessCurve` each, same ``eps``)."""

    pgd: attacks.RobustnessCurve
    fgsm: attacks.RobustnessCurve
    noise: attacks.RobustnessCurve

    @property
    def eps(self) -> np.ndarray:
        return self.pgd.eps


def attack_sweep(model: attacks.Predictor, x: Any, y: Any, eps: Sequence[float], *,
                 norm: str = "linf", steps: int = 20, restarts: int = 1, key: int = 0,
                 keep_adv: bool = True) -> AttackCurves:
    """PGD (``steps`` steps of ``2.5 eps / steps``, ``restarts``), FGSM and random noise of
    norm ``eps`` (:func:`lecture_lib.attacks.random_noise`) at every radius, clipped to
    :data:`CLIP`."""
    kw = dict(norm=norm, clip=CLIP, key=key)
    return AttackCurves(
        attacks.robustness_curve(model, x, y, eps, method="pgd", steps=steps, restarts=restarts,
                                 keep_adv=keep_adv, **kw),
        attacks.robustness_curve(model, x, y, eps, method="fgsm", keep_adv=keep_adv, **kw),
        attacks.robustness_curve(model, x, y, eps, method="noise", keep_adv=keep_adv, **kw))


_STYLE = {"pgd": dict(marker="o"), "fgsm": dict(marker="s", ls="--"),
          "noise": dict(marker="^", ls=":")}


def plot_curves(ax, curves: AttackCurves, label: str = "", color: str | None = None) -> None:
    """Robust accuracy against ``eps`` for PGD, FGSM and noise (one colour per model)."""
    norm = curves.pgd.norm
    for method in ("pgd", "fgsm", "noise"):
        c = getattr(curves, method)
        ax.plot(c.eps, c.accuracy, color=color, label=f"{label} {method.upper()}".strip(),
                **_STYLE[method])
    name = "$L_\\infty$" if norm == "linf" else "$L_2$"
    ax.set(xlabel=f"radius $\\epsilon$ ({name}, pixels in [0, 1])",
           ylabel="test accuracy", ylim=(-0.03, 1.03))


class Gallery:
    """Clean image, perturbation (rescaled) and adversarial image for ``k`` examples, with
    the predicted class and its softmax confidence, drawn once and updated in place
    (:func:`lecture_lib.widgets.live_plot` calls :meth:`update`).

    ``x (k, H, W[, 1])``; ``update(x_adv, p_clean, p_adv, title)`` with ``p_* (k, classes)``.
    """

    def __init__(self, fig, x: Any, labels: Any):
        self.x = check_array(x, "x", ndim=(3, 4))[..., 0] if np.ndim(x) == 4 else check_array(x, "x", ndim=3)
        self.labels = check_array(labels, "labels", ndim=1)
        k = self.x.shape[0]
        self.fig = fig
        self.axes = np.asarray(fig.subplots(3, k, squeeze=False))
        self.im = []
        for j in range(k):
            col = []
            for i, (cmap, lim) in enumerate([("gray_r", (0, 1)), ("RdBu_r", (-1, 1)), ("gray_r", (0, 1))]):
                ax = self.axes[i, j]
                col.append(ax.imshow(np.zeros_like(self.x[j]), cmap=cmap, vmin=lim[0], vmax=lim[1]))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            self.im.append(col)
        for i, name in enumerate(["clean", "perturbation\n(rescaled)", "adversarial"]):
            self.axes[i, 0].set_ylabel(name, fontsize=9)

    def update(self, x_adv: Any, p_clean: Any, p_adv: Any, title: str = "") -> None:
        x_adv = np.asarray(x_adv)
        x_adv = x_adv[..., 0] if x_adv.ndim == 4 else x_adv
        for j, col in enumerate(self.im):
            delta = x_adv[j] - self.x[j]
            scale = max(float(np.abs(delta).max()), 1e-12)
            col[0].set_data(self.x[j])
            col[1].set_data(delta / scale)
            col[2].set_data(x_adv[j])
            pc, pa = p_clean[j], p_adv[j]
            self.axes[0, j].set_title(f"'{int(np.argmax(pc))}' {100 * pc.max():.0f}%", fontsize=9)
            self.axes[1, j].set_title(f"max |δ| = {np.abs(delta).max():.2f}", fontsize=8)
            wrong = int(np.argmax(pa)) != int(self.labels[j])
            self.axes[2, j].set_title(f"'{int(np.argmax(pa))}' {100 * pa.max():.0f}%", fontsize=9,
                                      color="C3" if wrong else "k")
        self.fig.suptitle(title, fontsize=10)


# --------------------------------------------------------------------------- #
# The NTK adversary and transfer
# --------------------------------------------------------------------------- #
class NTKAdversary(NamedTuple):
    """Output of :func:`ntk_adversary`.

    ``steps (S,)``: GD steps ``t`` of the kernel predictors (``np.inf``: kernel regression);
    ``accuracy (S,)``: their clean test accuracy; ``predictors``: the
    :class:`lecture_lib.attacks.Predictor` of each ``t``; ``t_default``: the one attacked
    over all radii in ``curve`` (white-box on the kernel, with ``curve.x_adv (E, n, ...)``);
    ``eps_t`` and ``x_adv_t (S, n, ...)``: the attack at radius ``eps_t`` for every ``t``;
    ``lr``: the kernel step ``1 / lambda_max(Theta)``.
    """

    steps: np.ndarray
    accuracy: np.ndarray
    predictors: list
    t_default: float
    curve: attacks.RobustnessCurve
    eps_t: float
    x_adv_t: np.ndarray
    lr: float


def ntk_adversary(kernel_fn: Any, ds: data.Dataset, eps: Sequence[float], *,
                  t_steps: Sequence[float] = (10, 100, 1000, np.inf), t_default: float = np.inf,
                  eps_t: float = 0.15, steps: int = 10, classes: int = 10, key: int = 0
                  ) -> NTKAdversary:
    """PGD on the infinitely wide network's predictor ``f_t`` (the NTK adversary).

    ``f_t(x) = Theta(x, X) Theta^{-1} (I - (I - eta Theta)^t) Y`` with one-hot ``Y``, after
    ``t`` GD steps of size ``eta = 1 / lambda_max(Theta)`` from ``f_0 = 0`` (the mean of an
    infinite ensemble of wide networks), ``t = inf``: kernel regression (ridge ``1e-6``).
    Attacked with ``steps`` PGD steps on the softmax cross-entropy of its outputs, clipped to
    :data:`CLIP` (Tsilivis & Kempe's notebook: 10 steps; their binary CIFAR tasks use
    the logistic loss on one output).
    """
    y_hot = data.one_hot(ds.y_train, classes)
    import scipy.linalg

    k = kernels.analytic_kernel(kernel_fn, ds.x_train, dtype="float64")
    n = len(k)
    lr = 1.0 / float(scipy.linalg.eigh(k, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])
    t_all = [float(t) for t in t_steps]
    if float(t_default) not in t_all:
        t_all.append(float(t_default))
    krr_pred = attacks.kernel_predictor(kernel_fn, ds.x_train, y_hot, reg=1e-6, k_train=k)
    finite = [int(t) for t in t_all if not np.isinf(t)]
    # every finite t from ONE eigendecomposition: the dual coefficients alpha_t of
    # attacks.kernel_predictor(..., steps=t, lr=lr), i.e. gd_dynamics_discrete at e_i
    alphas = iter(krr.gd_dynamics_discrete(k, y_hot, np.asarray(finite), k_test_train=np.eye(n),
                                           lr=lr).test if finite else [])
    preds = [krr_pred if np.isinf(t) else
             attacks.Predictor(krr_pred.apply_fn, attacks.KernelParams(krr_pred.params.x_train,
                                                                       next(alphas)), krr_pred.dtype)
             for t in t_all]
    acc = np.array([attacks.accuracy(p, ds.x_test, ds.y_test) for p in preds])
    kw = dict(steps=steps, clip=CLIP, key=key)
    i_def = t_all.index(float(t_default))
    curve = attacks.robustness_curve(preds[i_def], ds.x_test, ds.y_test, eps, **kw)
    eps_list = [float(e) for e in np.asarray(eps)]
    # the default predictor at eps_t is already in the curve (same attack, same key)
    x_t = np.stack([curve.x_adv[eps_list.index(float(eps_t))] if i == i_def and float(eps_t) in eps_list
                    else attacks.attack_model(p, ds.x_test, ds.y_test, eps_t, **kw).x_adv
                    for i, p in enumerate(preds)])
    return NTKAdversary(np.asarray(t_all), acc, preds, float(t_default), curve, float(eps_t), x_t, lr)


class TransferTable(NamedTuple):
    """``accuracy[target][source]`` ``(E,)``: accuracy of each target network on the
    adversarial inputs of each source, at radii ``eps (E,)``."""

    eps: np.ndarray
    accuracy: dict


def transfer(targets: Mapping[str, attacks.Predictor], sources: Mapping[str, Any], y: Any,
             eps: Sequence[float]) -> TransferTable:
    """Evaluate every target on every source's adversarial inputs ``(E, n, ...)``.

    A source named like a target is its white-box attack; any other source is a transfer
    (black-box) attack."""
    eps = check_array(eps, "eps", ndim=1)
    out: dict = {}
    for tname, model in targets.items():
        out[tname] = {}
        for sname, x_adv in sources.items():
            x_adv = np.asarray(x_adv)
            if x_adv.shape[0] != len(eps):
                raise ValueError(f"source {sname!r} has {x_adv.shape[0]} radii, eps has {len(eps)}")
            out[tname][sname] = np.array([attacks.accuracy(model, xa, y) for xa in x_adv])
    return TransferTable(eps.astype(np.float64), out)


def plot_transfer(ax, table: TransferTable, target: str, colors: Mapping[str, str] | None = None) -> None:
    """Accuracy of ``target`` under each source's attack against ``eps``."""
    for i, (sname, acc) in enumerate(table.accuracy[target].items()):
        kind = "white-box" if sname == target else ("control" if "noise" in sname else "transfer")
        ax.plot(table.eps, acc, marker="os^vD"[i % 5],
                color=None if colors is None else colors.get(sname),
                ls="-" if kind == "white-box" else (":" if kind == "control" else "--"),
                label=f"{sname} ({kind})")
    ax.set(xlabel="radius $\\epsilon$ ($L_\\infty$)", ylabel="test accuracy", ylim=(-0.03, 1.03),
           title=f"target: {target}")


# --------------------------------------------------------------------------- #
# Schmidt et al.: robust generalisation needs more data
# --------------------------------------------------------------------------- #
class SampleComplexity(NamedTuple):
    """Output of :func:`sample_complexity`: ``n (N,)``; mean standard and robust errors of
    the mean classifier over ``draws`` training sets (``standard``, ``robust`` ``(N,)``) and
    their standard deviations; the model's ``d``, ``sigma``, the radius ``eps``."""

    n: np.ndarray
    standard: np.ndarray
    robust: np.ndarray
    standard_sd: np.ndarray
    robust_sd: np.ndarray
    d: int
    sigma: float
    eps: float


def sample_complexity(n_values: Sequence[int], d: int, eps: float | Sequence[float], *,
                      c: float = 0.5, draws: int = 200, seed: int = 0
                      ) -> SampleComplexity | dict[float, SampleComplexity]:
    """Errors of ``w = mean_i y_i x_i`` in :func:`lecture_lib.robustness.schmidt_model` ``(d, c)``.

    Since ``y_i x_i = theta* + sigma g_i``, ``w ~ N(theta*, sigma^2 / n I)`` exactly: each
    of the ``draws`` training sets is drawn as that one vector (the notebook checks it against
    the mean of real samples); errors are the exact ones of
    :func:`lecture_lib.robustness.gaussian_linear_errors` (L-inf attack of radius ``eps``).
    A sequence ``eps`` evaluates the same draws at every radius and returns
    ``{eps: SampleComplexity}`` (the numbers of one call per radius with the same ``seed``).
    """
    n_values = check_int_sequence(n_values, "n_values", min_value=1, increasing=True)
    check_scalar(draws, "draws", kind=int, min_value=1)
    several = np.ndim(eps) > 0
    eps_list = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=np.float64))]
    model = robustness.schmidt_model(d, c)
    rng = np.random.default_rng(seed)
    std = np.zeros((len(n_values), draws))
    rob = np.zeros((len(eps_list), len(n_values), draws))
    for i, n in enumerate(n_values):
        w = model.theta[None, :] + model.sigma / np.sqrt(n) * rng.standard_normal((draws, int(d)))
        for k, e in enumerate(eps_list):
            std[i], rob[k, i] = robustness.gaussian_linear_errors(w, model, e, "linf")
    out = {e: SampleComplexity(np.asarray(n_values), std.mean(1), rob[k].mean(1), std.std(1),
                               rob[k].std(1), int(d), model.sigma, e)
           for k, e in enumerate(eps_list)}
    return out if several else out[eps_list[0]]


def samples_needed(res: SampleComplexity, level: float = 0.05) -> tuple[float, float]:
    """Smallest ``n`` (log-linear interpolation) with mean standard / robust error ``<= level``
    (``inf`` if not reached on ``res.n``)."""
    check_scalar(level, "level", min_value=0.0, max_value=1.0, strict_min=True)

    def first(err):
        below = np.nonzero(err <= level)[0]
        if not below.size:
            return float("inf")
        i = below[0]
        if i == 0:
            return float(res.n[0])
        e0, e1, n0, n1 = err[i - 1], err[i], np.log(res.n[i - 1]), np.log(res.n[i])
        return float(np.exp(n0 + (e0 - level) / (e0 - e1) * (n1 - n0)))

    return first(res.standard), first(res.robust)


def plot_sample_complexity(ax, res: SampleComplexity, color: str | None = None, label: str = "") -> None:
    """Standard (dashed) and robust (solid) error against ``n`` (log scale) with +-1 sd bands."""
    for err, sd, ls, name in ((res.standard, res.standard_sd, "--", "standard"),
                              (res.robust, res.robust_sd, "-", f"$L_\\infty$-robust, ε={res.eps:g}")):
        (line,) = ax.semilogx(res.n, err, ls=ls, color=color, label=f"{label} {name}".strip())
        ax.fill_between(res.n, np.clip(err - sd, 0, 1), np.clip(err + sd, 0, 1),
                        color=line.get_color(), alpha=0.15)
    ax.set(xlabel="training samples $n$", ylabel="test error", ylim=(-0.02, 0.72))


# --------------------------------------------------------------------------- #
# Adversarial training on digits: trade-off and robust overfitting
# --------------------------------------------------------------------------- #
class AdversarialTraining(NamedTuple):
    """Output of :func:`adversarial_training` (``M`` training radii, ``R`` records).

    ``eps_train (M,)``; ``eps_eval``: radius of the robust evaluation; ``step (R,)`` updates
    done; ``epoch (R,)``; ``clean_train``, ``clean_test``, ``robust_train``, ``robust_test``
    ``(R, M)`` accuracies (robust: PGD with ``eval_steps`` steps and ``eval_restarts``
    restarts at ``eps_eval``); ``models``: the final :class:`lecture_lib.attacks.Predictor`
    of each radius.
    """

    eps_train: np.ndarray
    eps_eval: float
    step: np.ndarray
    epoch: np.ndarray
    clean_train: np.ndarray
    clean_test: np.ndarray
    robust_train: np.ndarray
    robust_test: np.ndarray
    models: list


def adversarial_training(ds: data.Dataset, eps_train: Sequence[float], *, eps_eval: float,
                         width: int = 128, depth: int = 2, steps: int = 600, lr: float = 3e-3,
                         lr_drop: float | None = 0.5, batch_size: int | None = None,
                         attack_steps: int = 5, eval_steps: int = 10, eval_restarts: int = 1,
                         records: int = 12, seed: int = 0, progress: bool = False
                         ) -> AdversarialTraining:
    """Madry et al.'s PGD adversarial training of :func:`mlp` at every radius of
    ``eps_train`` (``0``: standard training), as *one* ensemble run of
    :func:`lecture_lib.train.fit` (same initialisation for every radius, the radius passed to
    :func:`lecture_lib.attacks.pgd_perturb` through ``perturb_args``).

    Training: Adam, ``lr`` divided by 10 after a fraction ``lr_drop`` of the steps (Rice et
    al.'s piecewise schedule; ``None``: constant); PGD-``attack_steps`` from a random start,
    step ``2.5 eps / attack_steps``, clipped to :data:`CLIP`.  Evaluation at ``records``
    evenly spaced checkpoints on the training and test sets.
    """
    import jax
    import jax.numpy as jnp

    eps_train = check_array(eps_train, "eps_train", ndim=1, dtype=np.float32)
    check_scalar(eps_eval, "eps_eval", min_value=0.0)
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(records, "records", kind=int, min_value=1, max_value=steps)
    if lr_drop is not None:
        check_scalar(lr_drop, "lr_drop", min_value=0.0, max_value=1.0)
        drop_at = int(lr_drop * steps)
        schedule = lambda i: jnp.where(i < drop_at, lr, lr / 10)  # noqa: E731
    else:
        schedule = lr
    init, apply, _ = mlp(width, depth)
    m = len(eps_train)
    p0 = kernels.normal_init(init, (1,) + ds.x_train.shape[1:], seed=1000 * seed + 3)
    params = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (m,) + a.shape), p0)
    rec = sorted({int(round(s)) for s in np.linspace(0, steps, records + 1)})
    tr = train.fit(apply, params, ds.x_train, ds.y_train, loss="cross_entropy", optimizer="adam",
                   lr=schedule, steps=steps, batch_size=batch_size, key=seed, ensemble=True,
                   perturb=attacks.pgd_perturb(None, steps=attack_steps, clip=CLIP),
                   perturb_args=eps_train, record_steps=rec, record_params=True,
                   progress=progress)
    shape = (len(tr.step), m)
    out = {k: np.zeros(shape) for k in ("clean_train", "clean_test", "robust_train", "robust_test")}
    kw = dict(steps=eval_steps, restarts=eval_restarts, clip=CLIP, key=seed)
    for r, ph in enumerate(tr.params_history):
        for j in range(m):
            model = attacks.Predictor(apply, jax.tree_util.tree_map(lambda a, j=j: a[j], ph))
            for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
                res = attacks.attack_model(model, x, y, float(eps_eval), **kw)
                out[f"clean_{split}"][r, j] = res.clean_accuracy
                out[f"robust_{split}"][r, j] = res.robust_accuracy
    final = [attacks.Predictor(apply, jax.tree_util.tree_map(lambda a, j=j: a[j], tr.params))
             for j in range(m)]
    per_epoch = len(ds.x_train) // (batch_size or len(ds.x_train))
    return AdversarialTraining(eps_train.astype(np.float64), float(eps_eval), tr.step,
                               tr.step / per_epoch, out["clean_train"], out["clean_test"],
                               out["robust_train"], out["robust_test"], final)


def plot_adversarial_training(ax, res: AdversarialTraining, member: int, robust: bool = True,
                              color: str | None = None) -> None:
    """Train (dashed) and test (solid) accuracy over training for one training radius."""
    kind = "robust" if robust else "clean"
    tr, te = getattr(res, f"{kind}_train")[:, member], getattr(res, f"{kind}_test")[:, member]
    lab = f"ε_train={res.eps_train[member]:g}"
    (line,) = ax.plot(res.epoch, te, "-o", ms=3, color=color, label=f"{lab} test")
    ax.plot(res.epoch, tr, "--", color=line.get_color(), label=f"{lab} train")
    what = f"robust accuracy (PGD, ε={res.eps_eval:g})" if robust else "clean accuracy"
    ax.set(xlabel="epoch", ylabel=what, ylim=(-0.03, 1.03))


# --------------------------------------------------------------------------- #
# Tsipras et al.: the trade-off as a theorem
# --------------------------------------------------------------------------- #
class Tradeoff(NamedTuple):
    """Output of :func:`tsipras_tradeoff`: ``eps_train (E,)``; exact ``standard`` and
    ``robust`` accuracy ``(E,)`` of each adversarially trained linear classifier (robust at
    radius ``eps_attack = 2 eta``) and at its own training radius (``robust_own``);
    ``pgd_robust (E,)``: the robust accuracy at ``eps_attack`` measured by PGD on a test
    sample (a check of the closed form); ``weight_robust (E,)``: the share
    ``|w_1| / ||w||_1`` of the robust feature; ``p``, ``eta``, ``d``."""

    eps_train: np.ndarray
    standard: np.ndarray
    robust: np.ndarray
    robust_own: np.ndarray
    pgd_robust: np.ndarray
    weight_robust: np.ndarray
    p: float
    eta: float
    d: int


def tsipras_tradeoff(eps_train: Sequence[float], *, d: int = 100, p: float = 0.9,
                     n: int = 2000, n_test: int = 2000, steps: int = 300, lr: float = 0.05,
                     seed: int = 0, progress: bool = False) -> Tradeoff:
    """Adversarial training of a linear classifier ``sign(w . x + b)`` on
    :func:`lecture_lib.robustness.tsipras_data` at every radius (one ensemble run of
    :func:`lecture_lib.train.fit`, logistic loss, Adam).  For a linear model one L-inf
    step of size ``eps`` is the exact inner maximum, so ``pgd_perturb(None, steps=1)`` is
    exact adversarial training here."""
    import jax.numpy as jnp

    eps_train = check_array(eps_train, "eps_train", ndim=1, dtype=np.float32)
    eta = 3.0 / np.sqrt(d)
    x, y = robustness.tsipras_data(n, d, p, eta, seed=seed)
    xt, yt = robustness.tsipras_data(n_test, d, p, eta, seed=seed + 1000)
    x, xt = x.astype(np.float32), xt.astype(np.float32)

    def apply(params, z):
        return z @ params["w"] + params["b"]

    m = len(eps_train)
    params = {"w": jnp.zeros((m, d + 1)), "b": jnp.zeros((m,))}
    tr = train.fit(apply, params, x, y, loss="cross_entropy", optimizer="adam", lr=lr,
                   steps=steps, ensemble=True, perturb=attacks.pgd_perturb(None, steps=1,
                                                                           random_start=False),
                   perturb_args=eps_train, record_every=steps, progress=progress)
    w, b = np.asarray(tr.params["w"], np.float64), np.asarray(tr.params["b"], np.float64)
    std, rob, own, pgd, share = (np.zeros(m) for _ in range(5))
    for j in range(m):
        std[j], rob[j] = robustness.tsipras_linear_accuracy(w[j], b[j], p=p, eta=eta, eps=2 * eta)
        own[j] = robustness.tsipras_linear_accuracy(w[j], b[j], p=p, eta=eta,
                                                    eps=float(eps_train[j]))[1]
        model = attacks.Predictor(apply, {"w": w[j].astype(np.float32),
                                          "b": np.float32(b[j])})
        pgd[j] = attacks.attack_model(model, xt, yt, 2 * eta, steps=10).robust_accuracy
        share[j] = abs(w[j, 0]) / max(np.abs(w[j]).sum(), 1e-300)
    return Tradeoff(eps_train.astype(np.float64), std, rob, own, pgd, share, float(p), float(eta), int(d))


def plot_tradeoff(ax, res: Tradeoff) -> None:
    """Standard and robust accuracy of the trained linear classifiers against the training
    radius (in units of ``eta``), with the accuracy ``p`` of the robust feature alone."""
    e = res.eps_train / res.eta
    ax.plot(e, res.standard, "-o", label="standard accuracy")
    ax.plot(e, res.robust, "-s", label=f"robust accuracy at ε = 2η = {2 * res.eta:.2f}")
    ax.plot(e, res.pgd_robust, "x", color="k", label="robust accuracy, PGD on test samples")
    ax.axhline(res.p, color="0.5", ls=":", label=f"p = {res.p:g} (robust feature alone)")
    ax.set(xlabel="training radius ε / η", ylabel="accuracy", ylim=(-0.03, 1.03))
