r"""Experiments of ``notebooks/07_robust_features.ipynb``: robust and non-robust features, where
they sit in the NTK spectrum, robustness from distilled data, and poisoning through the NTK.

* :func:`non_robust_dataset` -- Ilyas et al. (NeurIPS'19), "not bugs, features": targeted
  adversarial examples of a trained network towards ``t = (y + 1) mod 10`` relabelled as ``t``
  (their deterministic ``D_det``), a fresh network trained on them and tested on the *real*
  test set, against the control of random noise of the same norm with the same relabelling.
* :func:`eigen_feature_robustness` -- Tsilivis & Kempe (NeurIPS'22), "robustness lies at the
  top": the NTK predictor of a binary digit pair split into eigen-features
  ``f_i(x) = K(x, X) v_i v_i^T y / lambda_i`` (:func:`lecture_lib.spectral.eigen_features`);
  usefulness (clean accuracy) and robustness (accuracy under PGD) of each feature and of the
  cumulative predictors ``sum_{i<k} f_i``.
* :func:`adversarial_kip` -- Tsilivis, Su & Kempe ('22): KIP whose target batches are replaced by
  PGD adversarial examples of the current support predictor (:func:`lecture_lib.distill.kip`
  with ``perturb=attacks.pgd_perturb(...)``); robustness of the kernel predictor and of a network
  trained normally on each support set, next to adversarial training on the real data.
* :func:`ntga_experiment` -- Yuan & Wu (ICML'21): training images poisoned within ``eps`` by
  :func:`lecture_lib.poisoning.ntga`, networks trained on them, against random noise of the
  same size.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import attacks, data, distill, kernels, losses, poisoning, spectral, train
from ..validation import check_array, check_scalar

__all__ = [
    "CLIP", "digits_flat", "mlp", "train_many", "NonRobust", "non_robust_dataset", "plot_non_robust",
    "EigenFeatures", "stacked_apply", "eigen_feature_robustness", "plot_usefulness_robustness",
    "plot_cumulative", "top_vs_late", "AdvKIP", "adversarial_kip", "plot_adv_kip",
    "NTGA", "ntga_experiment", "plot_ntga",
]

#: pixel range of the digits: every attack and poison is clipped to it
CLIP: tuple[float, float] = (0.0, 1.0)


def digits_flat(n_train: int, n_test: int, seed: int = 0, classes: Sequence[int] | None = None
                ) -> data.Dataset:
    """8x8 digits as vectors ``(n, 64)`` with pixels in ``[0, 1]`` (float64), integer labels."""
    ds = data.digits(classes=classes, n_train=n_train, n_test=n_test, seed=seed, image=False,
                     standardize="pixel")
    return data.Dataset(ds.x_train, ds.y_train.astype(np.int32), ds.x_test,
                        ds.y_test.astype(np.int32))


def mlp(width: int = 128, depth: int = 2, classes: int = 10):
    """``[Dense(width) -> ReLU] * depth -> Dense(classes)`` (NTK parameterisation): the finite
    network whose infinite-width kernel is ``kernels.fc(depth)[2]``.  Cached: every network of
    one architecture shares one ``apply_fn``, hence one compiled attack."""
    return _mlp_cached(int(width), int(depth), int(classes))


@functools.lru_cache(maxsize=8)
def _mlp_cached(width: int, depth: int, classes: int):
    return kernels.fc(depth, width, out_dim=classes)


def train_many(xs: Any, ys: Any, *, seed: int = 0, width: int = 128, steps: int = 200, lr: float = 3e-3,
               loss: str = "cross_entropy") -> list:
    """Train one :func:`mlp` per data set, all from the same initialisation, in *one* compiled
    call: :func:`lecture_lib.train.run` (full-batch Adam, ``steps`` updates) ``vmap``-ed over
    the data sets ``xs (M, n, d)``, ``ys (M, n)`` (integer labels) or ``(M, n, k)``.
    Returns ``M`` :class:`lecture_lib.attacks.Predictor`."""
    import jax
    import jax.numpy as jnp

    xs = check_array(xs, "xs", ndim=3, dtype=np.float32)
    ys = np.asarray(ys)
    if len(ys) != len(xs) or ys.shape[1] != xs.shape[1]:
        raise ValueError(f"ys must have shape (M, n, ...) like xs {xs.shape[:2]}, got {ys.shape}")
    check_scalar(steps, "steps", kind=int, min_value=1)
    init, apply, _ = mlp(width, classes=10)
    p0 = init(jax.random.PRNGKey(seed), (1, xs.shape[2]))[1]
    obj = train.objective(train.make_model(apply), loss)
    opt = train.optimizer("adam", lr)

    @jax.jit
    def fit_all(x_all, y_all):
        def one(x, y):
            state, _ = train.run(obj, opt, opt[0](p0), train.Problem(p0, x, y), 0, steps)
            return opt[2](state)
        return jax.vmap(one)(x_all, y_all)

    params = fit_all(jnp.asarray(xs), jnp.asarray(ys))
    return [attacks.Predictor(apply, jax.tree_util.tree_map(lambda a, i=i: a[i], params))
            for i in range(len(xs))]


# --------------------------------------------------------------------------- #
# Ilyas et al.: a data set of non-robust features
# --------------------------------------------------------------------------- #
class NonRobust(NamedTuple):
    """Output of :func:`non_robust_dataset`.

    ``source_acc``: clean test accuracy of the source network; ``fooled``: share of the
    training set its targeted attack sends to the target class; ``x_adv``, ``target`` the new
    training set; ``acc_non_robust``: real test accuracy of a fresh network trained on
    ``(x_adv, target)``; ``acc_control``: the same with random noise of the same norm instead of
    the attack; ``eps``, ``norm``; ``x``, ``y`` the original training images and labels.
    """

    source_acc: float
    fooled: float
    x: np.ndarray
    y: np.ndarray
    x_adv: np.ndarray
    target: np.ndarray
    acc_non_robust: float
    acc_control: float
    eps: float
    norm: str


def non_robust_dataset(ds: data.Dataset, *, eps: float = 1.5, norm: str = "l2", attack_steps: int = 20,
                       width: int = 128, steps: int = 200, seed: int = 0) -> NonRobust:
    r"""Ilyas et al.'s deterministic non-robust data set ``D_det`` on digits.

    1. Train a network ``f`` on ``ds`` (Adam, softmax cross-entropy).
    2. For every training image, ``t = (y + 1) mod 10`` and a *targeted* PGD attack
       ``x_adv = argmin_{||d|| <= eps} CE(f(x + d), t)`` (``attack_steps`` steps of
       ``2.5 eps / attack_steps``, clipped to :data:`CLIP`); relabel ``x_adv`` as ``t``.
       The image still shows ``y``: only non-robust features point to ``t``.
    3. Train a fresh network (another initialisation) on ``(x_adv, t)``; test it on the real
       test set.  Control: ``x + noise`` of the same norm, labelled ``t``.
    """
    import jax

    check_scalar(eps, "eps", min_value=0.0, strict_min=True)
    # the source network through train_many (one compiled call, no recording): cheaper than train.fit
    source = train_many(np.asarray(ds.x_train, np.float32)[None], np.asarray(ds.y_train)[None],
                        seed=seed, width=width, steps=steps)[0]
    source_acc = attacks.accuracy(source, np.asarray(ds.x_test, np.float32), ds.y_test)
    target = ((ds.y_train + 1) % 10).astype(np.int32)
    apply, params = source.apply_fn, source.params

    def toward_target(x, t):     # pgd_jax *maximises*: minus the CE towards t
        return -losses.cross_entropy(apply(params, x), t)

    attack = jax.jit(lambda x, t: attacks.pgd_jax(toward_target, x, t, eps, 2.5 * eps / attack_steps,
                                                  attack_steps, norm=norm, clip=CLIP))
    x_adv = np.asarray(attack(np.asarray(ds.x_train, np.float32), target), np.float64)
    fooled = float(np.mean(np.argmax(attacks.predict(source, x_adv.astype(np.float32)), 1) == target))
    noise = attacks.random_noise(ds.x_train, eps, norm=norm, key=seed, clip=CLIP)
    nets = train_many(np.stack([x_adv, noise]), np.stack([target, target]), seed=seed + 1000,
                      width=width, steps=steps)
    accs = [attacks.accuracy(net, np.asarray(ds.x_test, np.float32), ds.y_test) for net in nets]
    return NonRobust(float(source_acc), fooled, np.asarray(ds.x_train), np.asarray(ds.y_train),
                     x_adv, target, accs[0], accs[1], float(eps), norm)


def plot_non_robust(axes, res: NonRobust, n: int = 5) -> None:
    """Top row of ``axes`` (``(2, n)``): original images with their label; bottom row: the
    non-robust training images with the label they are trained with."""
    for j in range(n):
        for row, (img, lab, title) in enumerate(((res.x[j], res.y[j], "shows"),
                                                 (res.x_adv[j], res.target[j], "labelled"))):
            ax = axes[row, j]
            ax.imshow(np.asarray(img).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{title} {int(lab)}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])


# --------------------------------------------------------------------------- #
# Tsilivis & Kempe: robustness of the eigen-features of the NTK predictor
# --------------------------------------------------------------------------- #
class EigenFeatures(NamedTuple):
    """Output of :func:`eigen_feature_robustness` for several class pairs ``P``.

    ``pairs``: the ``(a, b)`` digit pairs; ``eps``: attack radius (L-inf);
    ``index (F,)``: the eigen-features evaluated (0 = largest eigenvalue);
    ``eigvals (P, n)``; ``clean``, ``robust`` ``(P, F)``: usefulness and robustness (accuracy
    under PGD) of each feature; ``k (K,)``: cumulative predictor sizes (``k = n`` the full NTK
    predictor); ``cum_clean``, ``cum_robust`` ``(P, K)``; ``full_clean (P,)``: accuracy of the
    NTK predictor computed directly (:func:`lecture_lib.attacks.kernel_predictor`).
    """

    pairs: list
    eps: float
    index: np.ndarray
    eigvals: np.ndarray
    clean: np.ndarray
    robust: np.ndarray
    k: np.ndarray
    cum_clean: np.ndarray
    cum_robust: np.ndarray
    full_clean: np.ndarray


def stacked_apply(kernel_fn):
    import jax.numpy as jnp

    def apply_fn(params, x):
        # example j is scored by its own predictor: f_j(x_j) = K(x_j, X) . alpha_j
        x_train, alpha = params
        return jnp.sum(kernels.analytic_kernel_jax(kernel_fn, x, x_train) * alpha, axis=1)

    return apply_fn


def eigen_feature_robustness(pairs: Sequence[Sequence[int]], *, n_train: int = 120, n_test: int = 80,
                             eps: float = 0.1, n_top: int = 20, n_tail: int = 12,
                             k_values: Sequence[int] = (1, 2, 3, 5, 10, 20, 50),
                             depth: int = 2, reg: float = 1e-6, attack_steps: int = 10,
                             restarts: int = 2, seed: int = 0) -> EigenFeatures:
    r"""Usefulness and robustness of the eigen-features of the NTK predictor, per class pair.

    For each pair ``(a, b)`` (labels ``-1``/``+1``): ``K = K(X, X)`` the FC NTK of ``depth``
    hidden layers, ``f_i(x) = K(x, X) v_i v_i^T y / (lambda_i + lam)``
    (:func:`lecture_lib.spectral.eigen_feature_coefficients`).  Feature ``i``'s usefulness is
    the test accuracy of ``sign f_i``; its robustness the accuracy under an L-inf PGD attack
    on ``f_i`` itself (``attack_steps`` steps, ``restarts`` restarts, logistic loss, clipped
    to :data:`CLIP`; :func:`lecture_lib.attacks.attack_model`).  Evaluated: the top ``n_top``
    features and ``n_tail`` more, log-spaced to the last one, and the cumulative predictors
    ``sum_{i<k} f_i`` for ``k`` in ``k_values`` and ``k = n``.  All predictors of a pair are
    attacked in one compiled call (one copy of the test set per predictor).
    """
    kfn = kernels.fc(depth)[2]
    apply_fn = stacked_apply(kfn)
    out = {key: [] for key in ("eigvals", "clean", "robust", "cum_clean", "cum_robust", "full")}
    index = ks = None
    for pair in pairs:
        a, b = (int(c) for c in pair)
        ds = data.binary_task(digits_flat(n_train, n_test, seed, classes=(a, b)), a, b)
        k = kernels.analytic_kernel(kfn, ds.x_train, dtype="float64")
        lam, alphas = spectral.eigen_feature_coefficients(k, ds.y_train, reg)
        n = len(lam)
        index = np.unique(np.r_[np.arange(min(n_top, n)),
                                np.geomspace(min(n_top, n - 1), n - 1, n_tail).astype(int)])
        ks = np.unique(np.r_[[kk for kk in k_values if kk < n], n]).astype(int)
        coefs = np.concatenate([alphas[index], np.cumsum(alphas, axis=0)[ks - 1]])
        m = len(ds.x_test)
        model = attacks.Predictor(apply_fn, (ds.x_train, np.repeat(coefs, m, axis=0)), "float64")
        xs = np.tile(ds.x_test, (len(coefs), 1))
        ys = np.tile(ds.y_test, len(coefs))
        res = attacks.attack_model(model, xs, ys, eps, steps=attack_steps, restarts=restarts,
                                   clip=CLIP, key=seed)
        clean = res.clean.reshape(len(coefs), m).mean(1)
        robust = res.robust.reshape(len(coefs), m).mean(1)
        full = attacks.kernel_predictor(kfn, ds.x_train, ds.y_train, reg=reg, k_train=k)
        out["eigvals"].append(lam)
        out["clean"].append(clean[:len(index)])
        out["robust"].append(robust[:len(index)])
        out["cum_clean"].append(clean[len(index):])
        out["cum_robust"].append(robust[len(index):])
        out["full"].append(attacks.accuracy(full, ds.x_test, ds.y_test))
    return EigenFeatures([tuple(int(c) for c in p) for p in pairs], float(eps), index,
                         np.stack(out["eigvals"]), np.stack(out["clean"]), np.stack(out["robust"]),
                         ks, np.stack(out["cum_clean"]), np.stack(out["cum_robust"]),
                         np.asarray(out["full"]))


def top_vs_late(res: EigenFeatures, *, useful: float = 0.6, top: int = 3, late: int = 10
                ) -> tuple[float, float, int, int]:
    """Share of its accuracy a *useful* feature (clean accuracy ``>= useful``) keeps under
    attack, ``robust / clean``, averaged over the useful features of index ``< top`` and over
    those of index ``>= late``, pooled over all class pairs.  Returns
    ``(top_share, late_share, n_top_useful, n_late_useful)`` (``nan`` where none is useful).
    Features of no usefulness are left out: their "robustness" is trivial (a constant
    predictor is never fooled, and is never right more than by chance)."""
    check_scalar(useful, "useful", min_value=0.5, max_value=1.0)
    keep = res.clean >= useful
    share = np.where(keep, res.robust / np.maximum(res.clean, 1e-12), np.nan)
    top_mask = keep & (res.index < top)[None, :]
    late_mask = keep & (res.index >= late)[None, :]

    def mean(mask):
        return float(np.mean(share[mask])) if mask.any() else float("nan")

    return mean(top_mask), mean(late_mask), int(top_mask.sum()), int(late_mask.sum())


def plot_usefulness_robustness(ax, res: EigenFeatures, p: int, *, useful: float = 0.6):
    """The robustness-usefulness graph of pair ``p``: one point per eigen-feature, coloured by
    its index (log scale); the chance level and the usefulness threshold dashed.  Returns the
    scatter artist (its offsets and colours are what a widget moves)."""
    import matplotlib.colors as mcolors

    sc = ax.scatter(res.clean[p], res.robust[p], c=res.index + 1, cmap="viridis",
                    norm=mcolors.LogNorm(1, res.index.max() + 1), s=28, edgecolor="k", lw=0.3)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, zorder=0)
    ax.axvline(0.5, color="0.5", ls=":", lw=0.8)
    ax.axvline(useful, color="C3", ls="--", lw=0.8)
    ax.set_xlim(0.2, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("usefulness: clean test accuracy of sign f_i")
    ax.set_ylabel(f"robustness: accuracy under PGD, eps = {res.eps:g}")
    return sc


def plot_cumulative(ax, res: EigenFeatures, p: int):
    """Clean and robust accuracy of the cumulative predictor ``sum_{i<k} f_i`` against ``k``.
    Returns the two line artists."""
    (l1,) = ax.semilogx(res.k, res.cum_clean[p], "o-", label="clean")
    (l2,) = ax.semilogx(res.k, res.cum_robust[p], "s-", label=f"PGD, eps = {res.eps:g}")
    ax.set_xlabel("k: number of top eigen-features summed")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0.3, 1.02)
    ax.legend(loc="lower right")
    return l1, l2


# --------------------------------------------------------------------------- #
# Tsilivis, Su & Kempe: adversarial KIP
# --------------------------------------------------------------------------- #
class AdvKIP(NamedTuple):
    """Output of :func:`adversarial_kip`.

    ``names``: the training sets (``"random real"``, ``"KIP"``, ``"adv-KIP"``);
    ``kernel_clean``, ``kernel_robust``: accuracy of the NTK-KRR predictor of each support
    set, clean and under PGD at ``eps``; ``net_clean``, ``net_robust``: the same for a network
    trained normally (MSE on the support labels) on each set; ``at_clean``, ``at_robust``:
    networks trained on the real data normally (index 0) and adversarially (index 1, PGD at
    ``eps``); ``support``: the ``(x, y)`` of each set; ``kip_loss``: the step loss of KIP and
    adv-KIP.
    """

    names: list
    eps: float
    kernel_clean: np.ndarray
    kernel_robust: np.ndarray
    net_clean: np.ndarray
    net_robust: np.ndarray
    at_clean: np.ndarray
    at_robust: np.ndarray
    support: list
    kip_loss: list


def adversarial_kip(ds: data.Dataset, *, eps: float = 0.1, per_class: int = 3, kip_steps: int = 100,
                    lr: float = 0.01, target_batch: int = 100, attack_steps: int = 5,
                    eval_steps: int = 20, eval_restarts: int = 1, width: int = 128,
                    net_steps: int = 300, at_steps: int = 100, at_attack_steps: int = 3,
                    seed: int = 0) -> AdvKIP:
    r"""KIP and adversarial KIP on digits with the FC NTK, and what their support sets teach.

    Both start from the same class-balanced random real subset (``per_class`` images per
    class, slightly jittered: the ReLU NTK's gradient is undefined where a support point equals
    a target point); labels fixed (one-hot).  adv-KIP: every target batch is first replaced by
    PGD-``attack_steps`` adversarial examples (L-inf ``eps``, random start, cross-entropy of
    the support predictor's outputs) of the *current* KRR predictor,
    ``perturb = attacks.pgd_perturb(eps, ...)``.  Evaluation: PGD-``eval_steps`` with
    ``eval_restarts`` restarts at ``eps`` on the test set, against (i) the KRR predictor of
    each support set, (ii) an MLP trained normally on it (Adam on the MSE, ``net_steps``), and
    (iii) MLPs trained on all real data, normally and with PGD adversarial training
    (``at_steps`` full-batch Adam steps on PGD-``at_attack_steps`` examples,
    :func:`lecture_lib.attacks.pgd_perturb`).
    """
    kfn = kernels.fc(2)[2]
    y_hot = data.one_hot(ds.y_train, 10)
    idx = distill.class_balanced_indices(ds.y_train, per_class, seed=seed)
    rng = np.random.default_rng(seed)
    xs0 = ds.x_train[idx] + 1e-3 * rng.normal(size=ds.x_train[idx].shape)
    ys0 = y_hot[idx]
    kw = dict(steps=kip_steps, lr=lr, target_batch=target_batch, key=seed, progress=False,
              record_support=False)
    plain = distill.kip(kfn, xs0, ys0, ds.x_train, y_hot, **kw)
    adv = distill.kip(kfn, xs0, ys0, ds.x_train, y_hot,
                      perturb=attacks.pgd_perturb(eps, steps=attack_steps, clip=CLIP), **kw)
    sets = [(ds.x_train[idx], ys0), (plain.x, plain.y), (adv.x, adv.y)]
    ev = dict(steps=eval_steps, restarts=eval_restarts, clip=CLIP, key=seed)
    xt32 = np.asarray(ds.x_test, np.float32)
    kc, kr, nc, nr = [], [], [], []
    for xs, ys in sets:
        r = attacks.attack_model(attacks.kernel_predictor(kfn, xs, ys, reg=1e-6), ds.x_test,
                                 ds.y_test, eps, **ev)
        kc.append(r.clean_accuracy)
        kr.append(r.robust_accuracy)
    nets = train_many(np.stack([x for x, _ in sets]), np.stack([y for _, y in sets]), seed=seed,
                      width=width, steps=net_steps, lr=1e-3, loss="mse")
    for net in nets:
        r = attacks.attack_model(net, xt32, ds.y_test, eps, **ev)
        nc.append(r.clean_accuracy)
        nr.append(r.robust_accuracy)
    ac, ar = [], []
    for net in _standard_and_adversarial(ds, eps, width=width, steps=at_steps,
                                         attack_steps=at_attack_steps, seed=seed):
        r = attacks.attack_model(net, xt32, ds.y_test, eps, **ev)
        ac.append(r.clean_accuracy)
        ar.append(r.robust_accuracy)
    return AdvKIP(["random real", "KIP", "adv-KIP"], float(eps), np.asarray(kc), np.asarray(kr),
                  np.asarray(nc), np.asarray(nr), np.asarray(ac), np.asarray(ar),
                  [(np.asarray(x), np.asarray(y)) for x, y in sets],
                  [plain.step_loss, adv.step_loss])


def _standard_and_adversarial(ds, eps, *, width, steps, attack_steps, seed):
    """Standard and PGD adversarial training of one :func:`mlp` on the real data, as one ensemble
    run of :func:`lecture_lib.train.fit` (the radius per member through ``perturb_args``)."""
    import jax
    import jax.numpy as jnp

    init, apply, _ = mlp(width, classes=10)
    p0 = init(jax.random.PRNGKey(seed), (1, ds.x_train.shape[1]))[1]
    params = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (2,) + a.shape), p0)
    tr = train.fit(apply, params, np.asarray(ds.x_train, np.float32), ds.y_train, loss="cross_entropy",
                   optimizer="adam", lr=3e-3, steps=steps, key=seed, ensemble=True,
                   perturb=attacks.pgd_perturb(None, steps=attack_steps, clip=CLIP),
                   perturb_args=np.array([0.0, eps], np.float32), record_every=steps, progress=False)
    return [attacks.Predictor(apply, jax.tree_util.tree_map(lambda a, j=j: a[j], tr.params))
            for j in range(2)]


def plot_adv_kip(ax, res: AdvKIP) -> None:
    """Grouped bars: clean and robust test accuracy of the kernel predictor and of a network
    trained on each support set, and of networks trained on all real data (standard, AT)."""
    labels = [f"{n}\n(kernel)" for n in res.names] + [f"{n}\n(MLP)" for n in res.names] + \
        ["all real\n(MLP)", "all real, AT\n(MLP)"]
    clean = np.r_[res.kernel_clean, res.net_clean, res.at_clean]
    robust = np.r_[res.kernel_robust, res.net_robust, res.at_robust]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, clean, 0.4, label="clean")
    ax.bar(x + 0.2, robust, 0.4, label=f"PGD, eps = {res.eps:g}")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper left", ncol=2)


# --------------------------------------------------------------------------- #
# Yuan & Wu: neural tangent generalization attacks
# --------------------------------------------------------------------------- #
class NTGA(NamedTuple):
    """Output of :func:`ntga_experiment`: ``names`` (``"clean"``, ``"noise"``, ``"NTGA"``),
    ``test_acc``: real test accuracy of a network trained on each training set,
    ``train_acc``: its accuracy on the set it was trained on, ``kernel_acc``: the test accuracy
    of the surrogate (NTK regression) trained on it; ``x_clean``, ``x_noise``, ``x_poison``;
    ``eps``, ``t``."""

    names: list
    test_acc: np.ndarray
    train_acc: np.ndarray
    kernel_acc: np.ndarray
    x_clean: np.ndarray
    x_noise: np.ndarray
    x_poison: np.ndarray
    eps: float
    t: float | None


def ntga_experiment(ds: data.Dataset, *, n_val: int = 150, eps: float = 0.2, t: float | None = 64.0,
                    attack_steps: int = 10, width: int = 128, steps: int = 150, seed: int = 0) -> NTGA:
    """NTGA on digits: the last ``n_val`` training examples are the attacker's validation set,
    the others are poisoned (L-inf ``eps``, FC NTK surrogate at time ``t``, ``attack_steps``
    PGD steps, :func:`lecture_lib.poisoning.ntga`) and train a fresh MLP (Adam, cross-entropy);
    controls: the clean set and random sign noise of the same L-inf norm."""
    check_scalar(n_val, "n_val", kind=int, min_value=1, max_value=len(ds.x_train) - 2)
    kfn = kernels.fc(2)[2]
    x, y = ds.x_train[:-n_val], ds.y_train[:-n_val]
    xv, yv = ds.x_train[-n_val:], ds.y_train[-n_val:]
    x_p = poisoning.ntga(kfn, x, data.one_hot(y, 10), xv, data.one_hot(yv, 10), eps, t=t,
                         steps=attack_steps, clip=CLIP)
    x_n = attacks.random_noise(x, eps, key=seed, clip=CLIP)
    te, tr_acc, ka = [], [], []
    nets = train_many(np.stack([x, x_n, x_p]), np.stack([y, y, y]), seed=seed, width=width, steps=steps)
    for xx, net in zip((x, x_n, x_p), nets):
        te.append(attacks.accuracy(net, np.asarray(ds.x_test, np.float32), ds.y_test))
        tr_acc.append(attacks.accuracy(net, np.asarray(xx, np.float32), y))
        kp = attacks.kernel_predictor(kfn, xx, data.one_hot(y, 10), reg=1e-4)
        ka.append(attacks.accuracy(kp, ds.x_test, ds.y_test))
    return NTGA(["clean", "noise", "NTGA"], np.asarray(te), np.asarray(tr_acc), np.asarray(ka),
                np.asarray(x), x_n, x_p, float(eps), t)


def plot_ntga(ax, res: NTGA) -> None:
    """Bars: real test accuracy of the MLP and of the NTK surrogate trained on the clean, the
    noisy and the poisoned training set."""
    x = np.arange(len(res.names))
    ax.bar(x - 0.2, res.test_acc, 0.4, label="MLP trained on it")
    ax.bar(x + 0.2, res.kernel_acc, 0.4, label="NTK regression on it")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{n}\n(eps = {res.eps:g})" if n != "clean" else n for n in res.names])
    ax.set_ylabel("accuracy on the real test set")
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper right")
