r"""Experiments of ``notebooks/05_dataset_distillation.ipynb``: dataset distillation, KIP and the
intrinsic dimension of data.

The textbook pieces live in the core: the KIP loss and loop and the bi-level losses of the
network-based methods in :mod:`lecture_lib.distill`, the MLE estimator in
:mod:`lecture_lib.intrinsic_dim`, networks and their training in :mod:`lecture_lib.train`.
This module holds the story on 8x8 digits:

* background (section 1): :func:`wang_distillation` (Wang et al. '18, one GD step from random
  or from one *fixed* initialisation), :func:`maml` (the same bi-level problem, differentiated
  in the initialisation), :func:`gradient_matching` (Zhao et al. ICLR'21),
  :func:`expert_trajectories` + :func:`trajectory_matching` (Cazenavette et al. CVPR'22), all
  evaluated with one protocol (:func:`train_on_sets`);
* KIP (sections 2-3): :func:`run_kip` against :func:`random_subset_accuracy`, and
  :func:`transfer_to_networks` (finite MLPs, standard and centred, against the kernel);
* intrinsic dimension (sections 4-5): :func:`validate_mle`, :func:`dataset_dimensions`,
  :func:`latent_classes` + :func:`dimension_learning_curves`, and :func:`support_geometry`
  (correlation and dimension of the KIP support against a noise control);
* :func:`paper_scale_kip` for ``LECTURE_SCALE=full`` (MNIST, Fashion-MNIST, CIFAR-10 with ZCA).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import data, distill, intrinsic_dim, kernels, krr, metrics, train
from ..progress import progress as progress_bar
from ..validation import check_array, check_int_sequence, check_scalar

__all__ = [
    "DigitsTask", "digits_task", "mosaic", "mlp", "param_pool", "SyntheticSet", "random_real_sets", "train_on_sets",
    "WangDistillation", "wang_distillation", "one_step_accuracy", "template_similarity",
    "MAMLResult", "maml", "gradient_matching", "expert_trajectories", "trajectory_matching",
    "kip_kernel", "run_kip", "random_subset_accuracy", "Transfer", "transfer_to_networks",
    "DimensionValidation", "validate_mle", "shuffle_features", "dataset_dimensions",
    "latent_classes", "mnist1d_signals", "LearningCurves", "dimension_learning_curves",
    "SupportGeometry", "support_geometry", "mean_abs_correlation",
    "paper_scale_kip", "PAPER_KIP_FC", "plot_kip_curves", "plot_learning_curves",
    "plot_support_geometry",
]


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
class DigitsTask(NamedTuple):
    """8x8 digits, flattened and standardised (one mean and std for all pixels, fitted on train).

    ``x_train (n, 64)``, ``y_train (n, 10)`` one-hot labels centred by ``-1/10`` (as the KIP
    reference code), ``labels_train (n,)`` int; the same for the test split;
    ``image_shape = (8, 8)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray
    image_shape: tuple[int, int]


def digits_task(seed: int = 0, n_test: int = 500) -> DigitsTask:
    """The 1797 digits split into ``1797 - n_test`` training and ``n_test`` test images (stratified,
    seeded), "channel" standardisation (as KIP does for grayscale images)."""
    check_scalar(n_test, "n_test", kind=int, min_value=10, max_value=1000)
    ds = data.digits(n_train=1797 - n_test, n_test=n_test, seed=seed, image=True,
                     standardize="channel", one_hot=True)
    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)  # noqa: E731
    return DigitsTask(flat(ds.x_train), ds.y_train - 0.1, ds.y_train.argmax(1), flat(ds.x_test),
                      ds.y_test - 0.1, ds.y_test.argmax(1), (8, 8))


def mosaic(x: Any, ncols: int = 10, image_shape: tuple[int, int] = (8, 8), pad: int = 1) -> np.ndarray:
    """Tile ``x (m, H*W)`` into one ``(rows*(H+pad), ncols*(W+pad))`` array (NaN padding), row-major.

    One ``imshow`` of a mosaic redraws much faster than ``m`` small axes (for widgets)."""
    x = check_array(x, "x", ndim=(2, 3))
    h, w = image_shape
    imgs = x.reshape(len(x), h, w)
    rows = int(np.ceil(len(imgs) / ncols))
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad), np.nan)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = img
    return out


# --------------------------------------------------------------------------- #
# networks and one evaluation protocol for synthetic sets
# --------------------------------------------------------------------------- #
def mlp(width: int = 128, out_dim: int = 10) -> tuple[Callable, Callable]:
    """``(init_fn, apply_fn)`` of the one-hidden-layer ReLU MLP of section 1 (NTK
    parameterisation, ``W_std = sqrt 2``, ``b_std = 0.1``: the network of the FC1 kernel)."""
    init_fn, apply_fn, _ = kernels.fc(depth=1, width=width, b_std=0.1, out_dim=out_dim)
    return init_fn, apply_fn


def param_pool(width: int, count: int, seed: int = 0, d: int = 64, out_dim: int = 10) -> Any:
    """``count`` initialisations of :func:`mlp` as one pytree with a leading axis ``count``.

    In the NTK parameterisation every parameter of ``stax.Dense`` is standard normal
    (``W (d_in, d_out)``, ``b (1, d_out)``), so the pool is drawn with numpy
    (``default_rng(seed)``) in the structure of ``init_fn``'s output: no random-number graph
    inside the compiled experiments (compiling ``jax.random`` code costs seconds on a laptop CPU).
    """
    check_scalar(count, "count", kind=int, min_value=1)
    init_fn, _ = mlp(width, out_dim)
    shapes = jax.eval_shape(lambda k: init_fn(k, (-1, d))[1], jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(
        lambda s_: jnp.asarray(rng.standard_normal((count,) + s_.shape), jnp.float32), shapes)


def _take(pool: Any, idx: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: a[idx], pool)


class SyntheticSet(NamedTuple):
    """A distilled (or random real) training set: ``x (m, 64)``, integer ``labels (m,)``, the
    learned step size ``lr`` (``nan`` if none), the distillation loss per outer step ``loss (T,)``
    and the method's ``name``."""

    name: str
    x: np.ndarray
    labels: np.ndarray
    lr: float
    loss: np.ndarray


def random_real_sets(task: DigitsTask, ipc: int, draws: int, seed: int = 0) -> list[SyntheticSet]:
    """``draws`` class-balanced random subsets of the training images, ``ipc`` per class."""
    out = []
    for s in range(draws):
        idx = distill.class_balanced_indices(task.labels_train, ipc, seed=seed * 1000 + s)
        out.append(SyntheticSet(f"random real #{s}", task.x_train[idx], task.labels_train[idx],
                                float("nan"), np.zeros(0)))
    return out


@functools.lru_cache(maxsize=16)
def _train_sets_fn(width: int):
    _, apply_fn = mlp(width)
    model = train.make_model(apply_fn)
    obj = train.objective(model, "cross_entropy")

    def one(p, x, y, lr, steps, x_test):
        opt = train.optimizer("gd", lr)
        st, _ = train.run(obj, opt, opt[0](p), train.Problem(p, x, y), 0, steps)
        return jnp.argmax(model(opt[2](st), p, x_test), axis=1)

    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None, None, None, None, None)),
                            in_axes=(None, 0, 0, 0, None, None)))


def _train_sets(task, params0, xs, labels, lrs, steps, width):
    preds = _train_sets_fn(int(width))(params0, jnp.asarray(xs, jnp.float32),
                                       jnp.asarray(np.asarray(labels).astype(np.int32)),
                                       jnp.asarray(lrs, jnp.float32), jnp.int32(steps),
                                       jnp.asarray(task.x_test, jnp.float32))
    return np.mean(np.asarray(preds) == task.labels_test[None, None], axis=-1)


def train_on_sets(task: DigitsTask, sets: Sequence[SyntheticSet], *, members: int = 4, steps: int = 300,
                  lr: float = 1.0, width: int = 128, seed: int = 0) -> np.ndarray:
    """Test accuracy ``(len(sets), members)`` of MLPs trained on each set by full-batch GD.

    Every set gets the same ``members`` initialisations (:func:`param_pool`) and ``steps`` steps
    of size ``lr`` on the mean cross-entropy (the GD core :func:`lecture_lib.train.run`, vmapped
    over sets and members: one compilation).  All sets must have the same size.
    """
    if not sets:
        raise ValueError("sets must not be empty")
    sizes = {len(s.x) for s in sets}
    if len(sizes) != 1:
        raise ValueError(f"all sets must have the same size, got sizes {sorted(sizes)}")
    check_scalar(members, "members", kind=int, min_value=1)
    check_scalar(steps, "steps", kind=int, min_value=1)
    p0 = param_pool(width, members, seed=seed + 1, d=sets[0].x.shape[-1])
    return _train_sets(task, p0, np.stack([s.x for s in sets]), np.stack([s.labels for s in sets]),
                       np.full(len(sets), float(lr)), steps, width)


# --------------------------------------------------------------------------- #
# Wang et al. '18: one GD step from random (or one fixed) initialisation
# --------------------------------------------------------------------------- #
class WangDistillation(NamedTuple):
    """Output of :func:`wang_distillation`: the synthetic set (with its learned step size ``lr``),
    ``fixed_init``, and ``params0``, the initialisation it was distilled for when fixed (else
    ``None``)."""

    synthetic: SyntheticSet
    fixed_init: bool
    params0: Any


@functools.lru_cache(maxsize=16)
def _wang_fn(width: int, steps: int, lr_images: float):
    _, apply_fn = mlp(width)
    obj = train.objective(train.make_model(apply_fn), "cross_entropy")
    opt_init, opt_update, get_params = train.optimizer("adam", lr_images)

    def outer_loss(p, theta0s, xb, yb, y_syn):
        lr = jnp.exp(p[1])   # the learned step size eta~ (log-parameterised)
        per = jax.vmap(lambda th: distill.unrolled_loss(obj, th, p[0], y_syn, xb, yb, lr, 1))(theta0s)
        return jnp.mean(per)

    def run(x0, log_lr0, pool, init_idx, batch_idx, x_real, y_real, y_syn):
        def body(i, carry):
            st, buf = carry
            value, g = jax.value_and_grad(outer_loss)(
                get_params(st), _take(pool, init_idx[i]), x_real[batch_idx[i]], y_real[batch_idx[i]], y_syn)
            return opt_update(i, g, st), buf.at[i].set(value)

        st, buf = jax.lax.fori_loop(0, steps, body, (opt_init((x0, log_lr0)), jnp.zeros(steps)))
        return get_params(st), buf

    return jax.jit(run)


def wang_distillation(task: DigitsTask, *, ipc: int = 1, fixed_init: bool = False, steps: int = 300,
                      inits_per_step: int = 4, pool_size: int = 256, real_batch: int = 256,
                      lr_images: float = 0.05, lr0: float = 1.0, width: int = 128,
                      seed: int = 0) -> WangDistillation:
    """Algorithm 1 of Wang, Zhu, Torralba, Efros ('18) at MLP scale.

    Synthetic images ``x~`` (``ipc`` per class, initialised as Gaussian noise) and a step size
    ``eta~ = exp(log_eta)`` are learned so that one GD step on ``x~`` from initialisations
    ``theta_0 ~ p(theta_0)`` minimises the cross-entropy on a real batch:
    ``min E_theta0 L(theta_0 - eta~ grad L(theta_0; x~); x_real)``
    (:func:`lecture_lib.distill.unrolled_loss`), Adam (``lr_images``) on ``(x~, log eta~)``,
    ``inits_per_step`` initialisations per step.  ``fixed_init=True``: every step uses the same
    ``theta_0`` (the slide's "fixed initialisation").  Departures from the reference: an MLP
    instead of LeNet, Adam instead of plain GD on the outer problem, ``log eta`` learned (keeps
    it positive), initialisations drawn from a pool of ``pool_size``.
    """
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(ipc, "ipc", kind=int, min_value=1)
    check_scalar(inits_per_step, "inits_per_step", kind=int, min_value=1)
    rng = np.random.default_rng(seed)
    n, d = task.x_train.shape
    labels = np.repeat(np.arange(10), ipc).astype(np.int32)
    x0 = rng.standard_normal((len(labels), d)).astype(np.float32)
    pool = param_pool(width, pool_size, seed=seed + 1, d=d)
    if fixed_init:
        init_idx = np.zeros((steps, inits_per_step), np.int32)
    else:
        init_idx = rng.integers(0, pool_size, (steps, inits_per_step)).astype(np.int32)
    batch_idx = np.stack([rng.choice(n, real_batch, replace=False) for _ in range(steps)]).astype(np.int32)
    (x_syn, log_lr), buf = _wang_fn(int(width), int(steps), float(lr_images))(
        jnp.asarray(x0), jnp.log(jnp.float32(lr0)), pool, jnp.asarray(init_idx), jnp.asarray(batch_idx),
        jnp.asarray(task.x_train, jnp.float32), jnp.asarray(task.labels_train.astype(np.int32)),
        jnp.asarray(labels))
    syn = SyntheticSet("Wang et al. (fixed init)" if fixed_init else "Wang et al. (random inits)",
                       np.asarray(x_syn, np.float64), labels, float(np.exp(log_lr)), np.asarray(buf))
    return WangDistillation(syn, bool(fixed_init), _take(pool, 0) if fixed_init else None)


def one_step_accuracy(task: DigitsTask, synthetic: SyntheticSet, params0: Any, *, width: int = 128) -> np.ndarray:
    """Test accuracy after ONE GD step of size ``synthetic.lr`` on the synthetic set, from each of
    the initialisations ``params0`` (a batch: leading axis ``E``, e.g. :func:`param_pool`).
    Returns ``(E,)``."""
    return _train_sets(task, params0, synthetic.x[None], synthetic.labels[None], [synthetic.lr], 1, width)[0]


def template_similarity(task: DigitsTask, synthetic: SyntheticSet) -> float:
    """Mean cosine between each synthetic image and the mean training image of its class: how
    much a distilled image looks like its digit (1 = the class template itself)."""
    out = []
    for x, c in zip(synthetic.x, synthetic.labels):
        t = task.x_train[task.labels_train == c].mean(axis=0)
        out.append(float(x @ t / (np.linalg.norm(x) * np.linalg.norm(t) + 1e-12)))
    return float(np.mean(out))


# --------------------------------------------------------------------------- #
# MAML: the same bi-level problem, differentiated in the initialisation
# --------------------------------------------------------------------------- #
class MAMLResult(NamedTuple):
    """Output of :func:`maml`: meta-training ``loss (T,)``; query accuracy after one inner step
    on fresh test tasks from the meta-learned initialisation (``acc_maml (N,)``) and from the
    random initialisation it started from (``acc_init (N,)``)."""

    loss: np.ndarray
    acc_maml: np.ndarray
    acc_init: np.ndarray


def _class_table(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(C, n_min, d)``: the first ``n_min`` examples of every class (``n_min`` = smallest class)."""
    classes = np.unique(labels)
    n_min = min(int(np.sum(labels == c)) for c in classes)
    return np.stack([x[labels == c][:n_min] for c in classes])


def _few_shot_tasks(labels: np.ndarray, count: int, ways: int, shots: int, queries: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``support (count, ways*shots)``, ``query (count, ways*queries)``: ``ways`` random
    classes per task, class ``j`` of the task is output ``j`` (rows ordered class-major)."""
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    classes = np.array(sorted(members))
    smallest = min(len(v) for v in members.values())
    if shots + queries > smallest:
        raise ValueError(f"shots + queries = {shots + queries} exceeds the smallest class ({smallest} "
                         "examples); lower shots or queries")
    sup = np.empty((count, ways * shots), np.int32)
    qry = np.empty((count, ways * queries), np.int32)
    for t in range(count):
        for j, c in enumerate(rng.choice(classes, ways, replace=False)):
            pick = rng.choice(members[c], shots + queries, replace=False)
            sup[t, j * shots:(j + 1) * shots] = pick[:shots]
            qry[t, j * queries:(j + 1) * queries] = pick[shots:]
    return sup, qry


@functools.lru_cache(maxsize=16)
def _maml_fns(width: int, ways: int, meta_steps: int, inner_lr: float, outer_lr: float):
    _, apply_fn = mlp(width, out_dim=ways)
    model = train.make_model(apply_fn)
    obj = train.objective(model, "cross_entropy")
    opt_init, opt_update, get_params = train.optimizer("adam", outer_lr)

    def meta_loss(theta, x, sup, qry, ys, yq):
        # one task = (support, query); the MAML loss is Wang et al.'s unrolled loss in theta_0
        per = jax.vmap(lambda s_, q_: distill.unrolled_loss(obj, theta, x[s_], ys, x[q_], yq, inner_lr, 1))(sup, qry)
        return jnp.mean(per)

    def meta_train(theta0, x, sup, qry, ys, yq):
        def body(i, carry):
            st, buf = carry
            value, g = jax.value_and_grad(meta_loss)(get_params(st), x, sup[i], qry[i], ys, yq)
            return opt_update(i, g, st), buf.at[i].set(value)

        st, buf = jax.lax.fori_loop(0, meta_steps, body, (opt_init(theta0), jnp.zeros(meta_steps)))
        return get_params(st), buf

    def evaluate(theta, x, sup, qry, ys, yq):
        opt = train.optimizer("gd", inner_lr)

        def acc(s_, q_):
            st, _ = train.run(obj, opt, opt[0](theta), train.Problem(theta, x[s_], ys), 0, 1)
            return jnp.mean(jnp.argmax(model(opt[2](st), theta, x[q_]), axis=1) == yq)

        return jax.vmap(acc)(sup, qry)

    def both(theta0, xtr, sup, qry, xte, tsup, tqry, ys, yq):
        theta, buf = meta_train(theta0, xtr, sup, qry, ys, yq)
        return buf, evaluate(theta, xte, tsup, tqry, ys, yq), evaluate(theta0, xte, tsup, tqry, ys, yq)

    return jax.jit(both)


def maml(task: DigitsTask, *, ways: int = 2, shots: int = 5, queries: int = 10, meta_steps: int = 100,
         tasks_per_step: int = 8, inner_lr: float = 2.0, outer_lr: float = 0.003, test_tasks: int = 200,
         width: int = 64, seed: int = 0) -> MAMLResult:
    """MAML (Finn, Abbeel, Levine ICML'17) on few-shot digit tasks, with the loss of Wang et al.

    A task: ``ways`` random digit classes, mapped to outputs ``0..ways-1`` in random order;
    ``shots`` support and ``queries`` query images per class.  The meta-loss is
    :func:`lecture_lib.distill.unrolled_loss` with the task's support as the inner data and its
    query as the outer data (one inner GD step of size ``inner_lr``), averaged over
    ``tasks_per_step`` tasks and minimised over ``theta_0`` by Adam.  Training tasks use the
    training images, test tasks the test images.
    """
    check_scalar(ways, "ways", kind=int, min_value=2, max_value=10)
    check_scalar(meta_steps, "meta_steps", kind=int, min_value=1)
    rng = np.random.default_rng(seed)
    sup, qry = _few_shot_tasks(task.labels_train, meta_steps * tasks_per_step, ways, shots, queries, rng)
    sup = sup.reshape(meta_steps, tasks_per_step, -1)
    qry = qry.reshape(meta_steps, tasks_per_step, -1)
    tsup, tqry = _few_shot_tasks(task.labels_test, test_tasks, ways, shots, queries, rng)
    ys = jnp.asarray(np.repeat(np.arange(ways), shots).astype(np.int32))
    yq = jnp.asarray(np.repeat(np.arange(ways), queries).astype(np.int32))
    theta0 = _take(param_pool(width, 1, seed=seed + 2, d=task.x_train.shape[1], out_dim=ways), 0)
    fn = _maml_fns(int(width), int(ways), int(meta_steps), float(inner_lr), float(outer_lr))
    buf, acc_maml, acc_init = fn(theta0, jnp.asarray(task.x_train, jnp.float32), jnp.asarray(sup),
                                 jnp.asarray(qry), jnp.asarray(task.x_test, jnp.float32), jnp.asarray(tsup),
                                 jnp.asarray(tqry), ys, yq)
    return MAMLResult(np.asarray(buf), np.asarray(acc_maml), np.asarray(acc_init))


# --------------------------------------------------------------------------- #
# gradient matching (Zhao et al. ICLR'21) and trajectory matching (Cazenavette et al. CVPR'22)
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=16)
def _gm_fn(width: int, iterations: int, outer_loop: int, inner_loop: int, lr_images: float, lr_net: float):
    _, apply_fn = mlp(width)
    obj = train.objective(train.make_model(apply_fn), "cross_entropy")
    opt_init, opt_update, get_params = train.optimizer("adam", lr_images)
    net_opt = train.optimizer("gd", lr_net)

    def run(x0, pool, batch_idx, table, y_real, y_syn):
        C, ipc, d = x0.shape

        def iteration(it, carry):
            st, buf = carry
            theta = _take(pool, it)             # a fresh initialisation per iteration

            def outer(ol, c):
                st_, theta_, total = c
                x_real = jnp.take_along_axis(table, batch_idx[it, ol][..., None], axis=1)   # (C, b, d)
                value, g = jax.value_and_grad(lambda xs: distill.gradient_match_loss(
                    obj, theta_, x_real, y_real, xs, y_syn))(get_params(st_))
                st_ = opt_update(it * outer_loop + ol, g, st_)
                xs = get_params(st_).reshape(-1, d)
                nst, _ = train.run(obj, net_opt, net_opt[0](theta_),
                                   train.Problem(theta_, xs, y_syn.reshape(-1)), 0, inner_loop)
                return st_, net_opt[2](nst), total + value

            st, _, total = jax.lax.fori_loop(0, outer_loop, outer, (st, theta, 0.0))
            return st, buf.at[it].set(total / outer_loop)

        st, buf = jax.lax.fori_loop(0, iterations, iteration, (opt_init(x0), jnp.zeros(iterations)))
        return get_params(st), buf

    return jax.jit(run)


def gradient_matching(task: DigitsTask, *, ipc: int = 1, iterations: int = 100, outer_loop: int = 5,
                      inner_loop: int = 5, real_per_class: int = 32, lr_images: float = 0.01,
                      lr_net: float = 1.0, width: int = 128, seed: int = 0) -> SyntheticSet:
    """Dataset condensation with gradient matching (Zhao, Mopuri, Bilen ICLR'21), Algorithm 1.

    For each of ``iterations`` fresh network initialisations: ``outer_loop`` times, (i) one Adam
    step on the synthetic images against :func:`lecture_lib.distill.gradient_match_loss`
    (per class, ``real_per_class`` real images vs the ``ipc`` synthetic ones), (ii)
    ``inner_loop`` GD steps of the network on the synthetic set (:func:`lecture_lib.train.run`).
    Synthetic images start from random real images.  Departures: an MLP instead of the ConvNet,
    Adam on the images instead of SGD with momentum, no augmentation.
    """
    check_scalar(iterations, "iterations", kind=int, min_value=1)
    check_scalar(ipc, "ipc", kind=int, min_value=1)
    rng = np.random.default_rng(seed)
    table = _class_table(task.x_train, task.labels_train)          # (C, n_min, d)
    C, n_min, d = table.shape
    idx0 = distill.class_balanced_indices(task.labels_train, ipc, seed=seed)
    x0 = task.x_train[idx0].reshape(C, ipc, d)
    batch_idx = np.stack([[[rng.choice(n_min, real_per_class, replace=False) for _ in range(C)]
                           for _ in range(outer_loop)] for _ in range(iterations)]).astype(np.int32)
    y_syn = np.repeat(np.arange(C), ipc).reshape(C, ipc).astype(np.int32)
    y_real = np.repeat(np.arange(C), real_per_class).reshape(C, real_per_class).astype(np.int32)
    x, buf = _gm_fn(int(width), int(iterations), int(outer_loop), int(inner_loop), float(lr_images),
                    float(lr_net))(jnp.asarray(x0, jnp.float32), param_pool(width, iterations, seed=seed + 3, d=d),
                                   jnp.asarray(batch_idx), jnp.asarray(table, jnp.float32),
                                   jnp.asarray(y_real), jnp.asarray(y_syn))
    return SyntheticSet("gradient matching", np.asarray(x, np.float64).reshape(-1, d), y_syn.reshape(-1),
                        float("nan"), np.asarray(buf))


@functools.lru_cache(maxsize=16)
def _experts_fn(width: int, epochs: int, steps_per_epoch: int):
    _, apply_fn = mlp(width)
    obj = train.objective(train.make_model(apply_fn), "cross_entropy")

    def one(p0, x, y, lr):
        opt = train.optimizer("gd", lr)

        def epoch(st, e):
            st, _ = train.run(obj, opt, st, train.Problem(p0, x, y), e * steps_per_epoch,
                              (e + 1) * steps_per_epoch)
            return st, opt[2](st)

        _, hist = jax.lax.scan(epoch, opt[0](p0), jnp.arange(epochs))
        return hist

    return jax.jit(jax.vmap(one, in_axes=(0, None, None, None)))


def expert_trajectories(task: DigitsTask, *, experts: int = 3, epochs: int = 12, steps_per_epoch: int = 5,
                        lr: float = 1.0, width: int = 128, seed: int = 0) -> Any:
    """Training trajectories of ``experts`` MLPs on the full training set (full-batch GD on the
    cross-entropy with the GD core, ``steps_per_epoch`` steps per "epoch"), parameters kept at
    every epoch.  Returns a pytree with leaves ``(experts, epochs + 1, ...)`` (epoch 0 = init)."""
    check_scalar(experts, "experts", kind=int, min_value=1)
    check_scalar(epochs, "epochs", kind=int, min_value=1)
    p0 = param_pool(width, experts, seed=seed + 4, d=task.x_train.shape[1])
    hist = _experts_fn(int(width), int(epochs), int(steps_per_epoch))(
        p0, jnp.asarray(task.x_train, jnp.float32), jnp.asarray(task.labels_train.astype(np.int32)),
        jnp.float32(lr))
    return jax.tree_util.tree_map(lambda a, h: jnp.concatenate([a[:, None], h], axis=1), p0, hist)


@functools.lru_cache(maxsize=16)
def _tm_fn(width: int, iterations: int, syn_steps: int, expert_epochs: int, lr_images: float, lr_lr: float):
    _, apply_fn = mlp(width)
    obj = train.objective(train.make_model(apply_fn), "cross_entropy")
    opt_x = train.optimizer("adam", lr_images)
    opt_l = train.optimizer("adam", lr_lr)

    def run(x0, log_lr0, history, picks, y_syn):
        def body(i, carry):
            sx, sl, buf = carry
            e, t = picks[i, 0], picks[i, 1]
            start = jax.tree_util.tree_map(lambda a: a[e, t], history)
            target = jax.tree_util.tree_map(lambda a: a[e, t + expert_epochs], history)
            value, (gx, gl) = jax.value_and_grad(
                lambda x, ll: distill.trajectory_match_loss(obj, start, target, x, y_syn, jnp.exp(ll), syn_steps),
                argnums=(0, 1))(opt_x[2](sx), opt_l[2](sl))
            return opt_x[1](i, gx, sx), opt_l[1](i, gl, sl), buf.at[i].set(value)

        sx, sl, buf = jax.lax.fori_loop(0, iterations, body, (opt_x[0](x0), opt_l[0](log_lr0), jnp.zeros(iterations)))
        return opt_x[2](sx), opt_l[2](sl), buf

    return jax.jit(run)


def trajectory_matching(task: DigitsTask, history: Any, *, ipc: int = 1, iterations: int = 200,
                        syn_steps: int = 10, expert_epochs: int = 2, max_start_epoch: int = 8,
                        lr_images: float = 0.01, lr_lr: float = 0.01, lr0: float = 1.0, width: int = 128,
                        seed: int = 0) -> SyntheticSet:
    """Matching training trajectories (Cazenavette et al. CVPR'22) at MLP scale.

    Each iteration picks an expert and a start epoch ``t < max_start_epoch`` of ``history``
    (:func:`expert_trajectories`), runs ``syn_steps`` full-batch GD steps of a learned size
    ``eta~`` on the synthetic set from ``theta*_t`` and minimises
    :func:`lecture_lib.distill.trajectory_match_loss` against ``theta*_{t + expert_epochs}``
    (Adam on the images, ``lr_images``, and on ``log eta~``, ``lr_lr``).  Images start from
    random real images.  Departures: MLP, full-batch expert and student steps, Adam instead of
    SGD with momentum, ``log eta`` learned, no augmentation or ZCA.
    """
    leaves = jax.tree_util.tree_leaves(history)
    n_experts, n_epochs = leaves[0].shape[:2]
    if n_epochs < max_start_epoch + expert_epochs:
        raise ValueError(f"history has {n_epochs} epochs, need max_start_epoch + expert_epochs = "
                         f"{max_start_epoch + expert_epochs}")
    rng = np.random.default_rng(seed)
    idx0 = distill.class_balanced_indices(task.labels_train, ipc, seed=seed)
    labels = task.labels_train[idx0].astype(np.int32)
    picks = np.stack([rng.integers(0, n_experts, iterations), rng.integers(0, max_start_epoch, iterations)],
                     axis=1).astype(np.int32)
    x, log_lr, buf = _tm_fn(int(width), int(iterations), int(syn_steps), int(expert_epochs), float(lr_images),
                            float(lr_lr))(jnp.asarray(task.x_train[idx0], jnp.float32),
                                          jnp.log(jnp.float32(lr0)), history, jnp.asarray(picks),
                                          jnp.asarray(labels))
    return SyntheticSet("trajectory matching", np.asarray(x, np.float64), labels, float(np.exp(log_lr)),
                        np.asarray(buf))


# --------------------------------------------------------------------------- #
# KIP on digits
# --------------------------------------------------------------------------- #
def kip_kernel(depth: int = 1, W_std: float = 2**0.5, b_std: float = 0.1) -> Callable:
    """The FC ReLU NTK of the KIP reference code (``depth`` hidden layers, NTK
    parameterisation, ``W_std = sqrt 2``, ``b_std = 0.1``): ``kernel_fn(x1, x2, get)``."""
    return kernels.fc(depth=depth, width=1, activation="relu", W_std=W_std, b_std=b_std)[2]


def run_kip(task: DigitsTask, ipc: int, *, kernel_fn: Any, learn_labels: bool = False, steps: int = 200,
            lr: float = 0.04, target_batch: int | None = 256, record_every: int = 10, seed: int = 0,
            progress: bool = True) -> distill.KIPResult:
    """:func:`lecture_lib.distill.kip` on the digits: the support starts as ``ipc`` random training
    images per class (:func:`lecture_lib.distill.class_balanced_indices` with ``seed``) with their
    centred one-hot labels; the target is the whole training set (``target_batch`` rows per
    step); the test split is evaluated at every record with the first kernel."""
    idx = distill.class_balanced_indices(task.labels_train, ipc, seed=seed)
    return distill.kip(kernel_fn, task.x_train[idx], task.y_train[idx], task.x_train, task.y_train,
                       steps=steps, lr=lr, learn_labels=learn_labels, target_batch=target_batch, key=seed,
                       x_test=task.x_test, y_test=task.y_test, record_every=record_every, progress=progress)


def random_subset_accuracy(task: DigitsTask, ipc: int, draws: int, k_train: Any, k_test_train: Any, *,
                           reg: float = 1e-6, seed: int = 0) -> np.ndarray:
    """Test accuracy of KRR trained on ``draws`` class-balanced random real subsets (``ipc`` per
    class), from the precomputed kernels ``k_train (n, n)`` and ``k_test_train (m, n)`` of the
    whole training set.  Returns ``(draws,)``."""
    check_scalar(draws, "draws", kind=int, min_value=1)
    k_train = check_array(k_train, "k_train", ndim=2)
    k_test_train = check_array(k_test_train, "k_test_train", ndim=2)
    out = []
    for s in range(draws):
        idx = distill.class_balanced_indices(task.labels_train, ipc, seed=seed * 1000 + 500 + s)
        pred = krr.fit_predict(k_train[np.ix_(idx, idx)], task.y_train[idx], k_test_train[:, idx], reg=reg)
        out.append(metrics.accuracy(pred, task.y_test))
    return np.asarray(out)


class Transfer(NamedTuple):
    """Output of :func:`transfer_to_networks` (``S`` training sets, ``E`` networks each).

    ``names (S,)``; ``steps``; test accuracy of the standard networks ``acc_standard (S, E)``, of
    the centred ones ``acc_centred (S, E)``, of the kernel closed form after the same number of
    GD steps ``acc_kernel (S,)`` and of KRR (``reg = 1e-6``, the KIP predictor) ``acc_krr (S,)``;
    relative distance of the networks' test outputs to the closed form, ``gap_standard (S, E)``,
    ``gap_centred (S, E)``."""

    names: tuple[str, ...]
    steps: int
    acc_standard: np.ndarray
    acc_centred: np.ndarray
    acc_kernel: np.ndarray
    acc_krr: np.ndarray
    gap_standard: np.ndarray
    gap_centred: np.ndarray


@functools.lru_cache(maxsize=16)
def _mse_fit_fn(width: int, steps: int):
    _, apply_fn, _ = kernels.fc(depth=1, width=width, b_std=0.1, out_dim=10)
    model = train.make_model(apply_fn)
    obj = train.objective(model, "mse")

    def one(p, x, y, lr, x_test):
        opt = train.optimizer("gd", lr)
        st, _ = train.run(obj, opt, opt[0](p), train.Problem(p, x, y), 0, steps)
        return model(opt[2](st), p, x_test)

    fit = jax.vmap(jax.vmap(one, in_axes=(0, None, 0, None, None)), in_axes=(None, 0, 0, 0, None))
    f0 = jax.vmap(lambda p, x: model(p, p, x), in_axes=(0, None))
    return jax.jit(fit), jax.jit(jax.vmap(f0, in_axes=(None, 0)))


def transfer_to_networks(task: DigitsTask, sets: dict[str, tuple[Any, Any]], *, kernel_fn: Any,
                         width: int = 512, members: int = 3, steps: int = 500, seed: int = 0) -> Transfer:
    """Train finite MLPs (the network of ``kip_kernel()``: depth 1, NTK parameterisation) on each
    set ``name -> (x (m, 64), y (m, 10))`` by full-batch GD on the mean MSE, standard and centred.

    Centred means the model ``f(theta, x) - f(theta_0, x)`` (Lee et al. 2019), which starts at 0
    like the kernel predictor; it is trained, as in :func:`lecture_lib.train.fit`, as the plain
    network on the targets ``y + f(theta_0, X)`` (the same gradients), and its predictions are
    ``f(theta_T, x) - f(theta_0, x)``.  The step is ``lr = m / lambda_max(K)`` (kernel step
    ``1/lambda_max``, :func:`lecture_lib.train.network_lr`), and the networks are compared with
    the closed form of the same ``steps`` GD steps for the kernel (:func:`lecture_lib.krr.gd_dynamics_discrete`,
    ``f_0 = 0``).  All sets must have the same size.
    """
    names = tuple(sets)
    xs = np.stack([np.asarray(v[0], np.float64) for v in sets.values()])
    ys = np.stack([np.asarray(v[1], np.float64) for v in sets.values()])
    m = xs.shape[1]
    lrs, kern, kr = [], [], []
    for x, y in zip(xs, ys):
        k_ss = kernels.analytic_kernel(kernel_fn, x, dtype="float64")
        k_ts = kernels.analytic_kernel(kernel_fn, task.x_test, x, dtype="float64")
        lr = train.network_lr(1.0 / float(np.linalg.eigvalsh(k_ss)[-1]), m)
        lrs.append(lr)
        kern.append(krr.gd_dynamics_discrete(k_ss, y, steps, k_ts, lr=train.kernel_lr(lr, m)).test)
        kr.append(metrics.accuracy(krr.fit_predict(k_ss, y, k_ts, reg=1e-6), task.y_test))
    kern = np.stack(kern)                                              # (S, n_test, 10)
    p0 = param_pool(width, members, seed=seed + 5, d=xs.shape[-1])
    fit, f0 = _mse_fit_fn(int(width), int(steps))
    xs32, xt32 = jnp.asarray(xs, jnp.float32), jnp.asarray(task.x_test, jnp.float32)
    f0_train = np.asarray(f0(p0, xs32))                                # (S, E, m, 10)
    f0_test = np.asarray(f0(p0, xt32[None]))[0]                        # (E, n_test, 10)
    targets = np.concatenate([np.broadcast_to(ys[:, None], f0_train.shape), ys[:, None] + f0_train])
    out = np.asarray(fit(p0, jnp.concatenate([xs32, xs32]), jnp.asarray(targets, jnp.float32),
                         jnp.asarray(lrs + lrs, jnp.float32), xt32), np.float64)   # (2S, E, n_test, 10)
    S = len(names)
    standard, centred = out[:S], out[S:] - f0_test[None]
    acc = lambda f: np.asarray(metrics.accuracy(f, task.y_test))    # noqa: E731
    gap = lambda f: metrics.relative_error(f, kern[:, None], axis=(2, 3))  # noqa: E731
    return Transfer(names, int(steps), acc(standard), acc(centred), acc(kern), np.asarray(kr),
                    gap(standard), gap(centred))


# --------------------------------------------------------------------------- #
# intrinsic dimension
# --------------------------------------------------------------------------- #
class DimensionValidation(NamedTuple):
    """Output of :func:`validate_mle`: true ``dims (D,)``, neighbour counts ``ks (K,)``, MLE
    estimates ``(D, K)`` on the flat Gaussian (``gaussian``) and on the sphere (``sphere``), with
    MacKay-Ghahramani averaging, and on the Gaussian with Levina-Bickel's averaging of the
    per-point estimates (``gaussian_mean``); ``n`` points in ``ambient`` dimensions."""

    dims: np.ndarray
    ks: np.ndarray
    gaussian: np.ndarray
    sphere: np.ndarray
    gaussian_mean: np.ndarray
    n: int
    ambient: int


def validate_mle(dims: Sequence[int] = (2, 4, 8, 16), ks: Sequence[int] = (3, 5, 10, 20), *, n: int = 1000,
                 ambient: int = 64, seed: int = 0) -> DimensionValidation:
    """MLE estimates on synthetic data of known intrinsic dimension embedded in ``R^ambient``
    (:func:`lecture_lib.intrinsic_dim.gaussian_subspace` and :func:`~lecture_lib.intrinsic_dim.sphere`)."""
    dims = check_int_sequence(dims, "dims", min_value=1, increasing=True)
    ks = check_int_sequence(ks, "ks", min_value=3, increasing=True)
    g, sp, gm = [], [], []
    for i, d in enumerate(dims):
        xg = intrinsic_dim.gaussian_subspace(n, d, ambient, seed=seed + i)
        dist = intrinsic_dim.knn_distances(xg, max(ks))
        g.append([intrinsic_dim.mle_dimension(k=k, distances=dist) for k in ks])
        gm.append([intrinsic_dim.mle_dimension(k=k, distances=dist, averaging="mean") for k in ks])
        sp.append(intrinsic_dim.mle_dimensions(intrinsic_dim.sphere(n, d, ambient, seed=seed + i), ks))
    return DimensionValidation(np.asarray(dims), np.asarray(ks), np.asarray(g), np.asarray(sp), np.asarray(gm),
                               int(n), int(ambient))


def shuffle_features(x: Any, seed: int = 0) -> np.ndarray:
    """Control data: every column of ``x (n, d)`` permuted independently across the rows.  Keeps
    each feature's distribution, destroys the dependence between features that makes data
    low-dimensional."""
    x = check_array(x, "x", ndim=2)
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(col) for col in x.T], axis=1)


def dataset_dimensions(x: Any, ks: Sequence[int] = (3, 5, 10, 20), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MLE dimension of the distinct rows of ``x`` and of their :func:`shuffle_features` control,
    for each ``k``: ``(estimates (K,), control (K,))``."""
    x = np.unique(check_array(x, "x", ndim=2, dtype=np.float64), axis=0)
    ctrl = np.unique(shuffle_features(x, seed), axis=0)
    return intrinsic_dim.mle_dimensions(x, ks), intrinsic_dim.mle_dimensions(ctrl, ks)


def latent_classes(n: int, d: int, *, d_max: int = 32, ambient: int = 64, seed: int = 0,
                   generator_seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """Two classes generated from ``d`` latent dimensions (Pope et al.'s GAN experiment in miniature).

    ``z ~ N(0, I_d)`` (the other ``d_max - d`` latent coordinates are 0, as Pope et al. zero GAN
    latents), label ``1[z_1 > 0]``; a fixed random "generator" ``x = tanh(A z / sqrt(d_max) + b)``
    (``A (ambient, d_max)``, ``b`` from ``generator_seed``) maps ``z`` to ``R^ambient``.  The
    label rule is the same for every ``d`` (and has no noise); only the intrinsic dimension of
    the inputs grows.  Returns ``(x (n, ambient), labels (n,))``.
    """
    check_scalar(d, "d", kind=int, min_value=1, max_value=d_max)
    check_scalar(n, "n", kind=int, min_value=2)
    g = np.random.default_rng(generator_seed)
    A = g.standard_normal((ambient, d_max))
    b = 0.3 * g.standard_normal(ambient)
    rng = np.random.default_rng(seed)
    z = np.zeros((n, d_max))
    z[:, :d] = rng.standard_normal((n, d))
    return np.tanh(z @ A.T / np.sqrt(d_max) + b), (z[:, 0] > 0).astype(np.int64)


def mnist1d_signals(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-1D signals ``(n, 40)`` and labels (Greydanus 2020), generated with the
    ``mnist1d`` package's reference settings but only ``n`` samples (train and test together).

    :func:`lecture_lib.data.mnist1d` always generates the 5000-sample reference set, which takes
    ~15 s of CPU here; the intrinsic dimension needs only a sample.  NumPy's and Python's global
    random states are restored afterwards.
    """
    check_scalar(n, "n", kind=int, min_value=20)
    x, y, x_test, y_test = data.mnist1d_generate(int(n), int(seed))
    return (np.concatenate([x, x_test]).astype(np.float64),
            np.concatenate([y, y_test]).astype(np.int64))


class LearningCurves(NamedTuple):
    """Output of :func:`dimension_learning_curves`: latent ``dims (D,)``, training sizes
    ``n_train (N,)``, test error ``(D, N, R)`` over ``R`` repeats, and the MLE estimate of each
    data set's dimension ``mle (D,)`` (``k = 10``)."""

    dims: np.ndarray
    n_train: np.ndarray
    error: np.ndarray
    mle: np.ndarray


def dimension_learning_curves(dims: Sequence[int] = (2, 4, 8, 16), n_train: Sequence[int] = (20, 40, 80, 160, 320),
                              *, kernel_fn: Any, n_test: int = 500, repeats: int = 2, reg: float = 1e-4,
                              seed: int = 0) -> LearningCurves:
    """Learning curves of one model (kernel regression with ``kernel_fn``, the infinite-width
    network) on :func:`latent_classes` data of growing intrinsic dimension; nested training sets."""
    dims = check_int_sequence(dims, "dims", min_value=1, increasing=True)
    n_train = check_int_sequence(n_train, "n_train", min_value=2, increasing=True)
    n_max = n_train[-1]
    err = np.zeros((len(dims), len(n_train), repeats))
    mle = []
    for i, d in enumerate(dims):
        for r in range(repeats):
            x, lab = latent_classes(n_max + n_test, d, seed=seed * 100 + r)
            if r == 0:
                mle.append(intrinsic_dim.mle_dimension(x, 10))
            k = kernels.analytic_kernel(kernel_fn, x, dtype="float64")     # train and test together
            y = 2.0 * lab - 1.0
            for j, m in enumerate(n_train):
                pred = krr.fit_predict(k[:m, :m], y[:m], k[n_max:, :m], reg=reg)
                err[i, j, r] = np.mean(np.sign(pred) != y[n_max:])
    return LearningCurves(np.asarray(dims), np.asarray(n_train), err, np.asarray(mle))


def mean_abs_correlation(x: Any) -> float:
    """Mean ``|corr(x_i, x_j)|`` over pairs ``i != j`` of rows (each image centred over its
    pixels and scaled to unit norm): how correlated the images of a set are."""
    x = check_array(x, "x", ndim=2, dtype=np.float64)
    z = x - x.mean(axis=1, keepdims=True)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    c = np.abs(z @ z.T)
    m = len(x)
    return float((c.sum() - np.trace(c)) / (m * (m - 1)))


class SupportGeometry(NamedTuple):
    """Output of :func:`support_geometry` over the records of a KIP run: ``step (R,)``, mean
    absolute correlation ``corr (R,)`` and MLE dimension ``dim (R, K)`` (``ks (K,)``) of the KIP
    support, the same for the noise control (``corr_noise``, ``dim_noise``), and the mean distance
    of the images from their initial values ``distance (R,)`` (the same for both)."""

    step: np.ndarray
    ks: np.ndarray
    corr: np.ndarray
    dim: np.ndarray
    corr_noise: np.ndarray
    dim_noise: np.ndarray
    distance: np.ndarray


def support_geometry(result: distill.KIPResult, ks: Sequence[int] = (3, 5, 10), seed: int = 0) -> SupportGeometry:
    """Correlation and intrinsic dimension of the KIP support over training, next to a control.

    The control moves every initial image by the same distance as KIP did at that record,
    ``||x_t,i - x_0,i||``, but along a fixed random direction (Gaussian noise of the same size):
    whatever the control shows too is not specific to KIP.
    """
    if result.x_history is None:
        raise ValueError("result has no x_history (run kip with record_support=True)")
    ks = check_int_sequence(ks, "ks", min_value=3, increasing=True)
    hist = result.x_history.reshape(len(result.x_history), len(result.x_init), -1)
    x0 = hist[0]
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(x0.shape)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    corr, dim, corr_n, dim_n, dist = [], [], [], [], []
    for xt in hist:
        r = np.linalg.norm(xt - x0, axis=1, keepdims=True)
        noisy = x0 + r * u
        corr.append(mean_abs_correlation(xt))
        corr_n.append(mean_abs_correlation(noisy))
        dim.append(intrinsic_dim.mle_dimensions(xt, ks))
        dim_n.append(intrinsic_dim.mle_dimensions(noisy, ks))
        dist.append(float(r.mean()))
    return SupportGeometry(np.asarray(result.step), np.asarray(ks), np.asarray(corr), np.asarray(dim),
                           np.asarray(corr_n), np.asarray(dim_n), np.asarray(dist))


# --------------------------------------------------------------------------- #
# paper scale (LECTURE_SCALE=full, meant for a GPU)
# --------------------------------------------------------------------------- #
#: KIP FC test accuracy (%) of the slide's table (Nguyen et al. NeurIPS'21, Table 1; label learning,
#: FC kernels; "-" entries of the table are absent).
PAPER_KIP_FC: dict[str, dict[int, float]] = {
    "mnist": {1: 85.5, 10: 97.2, 50: 98.4},
    "cifar10": {1: 40.5, 10: 53.1, 50: 58.6},
}


def paper_scale_kip(name: str, ipcs: Sequence[int] = (1, 10, 50), *, steps: int = 1000,
                    target_batch: int = 5000, depth: int = 1, zca_reg: float = 0.1, seed: int = 0,
                    progress: bool = True) -> dict[int, float]:
    """KIP-FC with label learning on MNIST, Fashion-MNIST or CIFAR-10 (``data.load(name)``):
    grayscale standardised per channel, RGB regularised-ZCA-whitened
    (:func:`lecture_lib.distill.zca_whitening`), as in the KIP papers.  Returns
    ``{ipc: test accuracy}``.  Needs the data set cached or a network, and a GPU for the default
    sizes (``steps=1000``, ``target_batch=5000``; the reference trains for longer)."""
    name = name.lower()
    rgb = name == "cifar10"
    ds = data.load(name, standardize="pixel" if rgb else "channel", one_hot=True, seed=seed, progress=progress)
    xtr, xte = ds.x_train, ds.x_test
    if rgb:
        xtr, xte = distill.zca_whitening(xtr, xte, reg=zca_reg)
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    k = ds.y_train.shape[1]
    ytr, yte = ds.y_train - 1.0 / k, ds.y_test - 1.0 / k
    labels = ds.y_train.argmax(1)
    kfn = kip_kernel(depth)
    out = {}
    for ipc in ipcs:
        idx = distill.class_balanced_indices(labels, ipc, seed=seed)
        res = distill.kip(kfn, xtr[idx], ytr[idx], xtr, ytr, steps=steps, learn_labels=True,
                          target_batch=min(target_batch, len(xtr)), key=seed, record_every=steps,
                          record_support=False, progress=progress)
        pred = np.concatenate([np.asarray(distill.krr_predict(kfn, res.x, res.y, xte[i:i + 1000]))
                               for i in range(0, len(xte), 1000)])
        out[int(ipc)] = float(metrics.accuracy(pred, yte))
    return out


# --------------------------------------------------------------------------- #
# figures
# --------------------------------------------------------------------------- #
def plot_kip_curves(ax, runs: dict, baselines: dict[int, np.ndarray]) -> None:
    """Test accuracy over KIP steps, one line per ``(ipc, learn_labels) -> KIPResult`` of ``runs``,
    with the mean +- std of the random real subsets of the same size (``baselines[ipc]``) as bands."""
    colors = {}
    for (ipc, learn), r in runs.items():
        c = colors.setdefault(ipc, f"C{len(colors)}")
        ax.plot(r.step, r.test_acc, color=c, ls="-" if learn else "--",
                label=f"KIP {ipc}/class, labels {'learned' if learn else 'fixed'}")
    for ipc, acc in baselines.items():
        c = colors.get(ipc, "0.5")
        ax.axhspan(acc.mean() - acc.std(), acc.mean() + acc.std(), color=c, alpha=0.15)
        ax.axhline(acc.mean(), color=c, lw=0.8, alpha=0.6, label=f"random real {ipc}/class (mean +- std)")
    ax.set(xlabel="KIP step", ylabel="test accuracy (KRR, FC NTK)", title="KIP support vs random real subsets")
    ax.legend(fontsize=7, loc="lower right")


def plot_learning_curves(ax, lc: LearningCurves) -> None:
    """Test error against training-set size, one line per latent dimension (mean over repeats)."""
    for i, d in enumerate(lc.dims):
        ax.loglog(lc.n_train, lc.error[i].mean(axis=1), "o-",
                  label=f"d = {d} (MLE {lc.mle[i]:.1f})")
    ax.set(xlabel="training examples n", ylabel="test error",
           title="One model, data of growing intrinsic dimension")
    ax.legend(fontsize=7)


def plot_support_geometry(axes, geo: SupportGeometry, k_index: int = 1) -> None:
    """Two panels: mean |correlation| and MLE dimension (``ks[k_index]``) of the KIP support and
    of its noise control, against the KIP step."""
    ax0, ax1 = axes
    ax0.plot(geo.step, geo.corr, "o-", label="KIP support")
    ax0.plot(geo.step, geo.corr_noise, "s--", label="control: same-size noise")
    ax0.set(xlabel="KIP step", ylabel="mean |corr| between images", title="Correlation across images")
    ax0.legend(fontsize=8)
    k = geo.ks[k_index]
    ax1.plot(geo.step, geo.dim[:, k_index], "o-", label="KIP support")
    ax1.plot(geo.step, geo.dim_noise[:, k_index], "s--", label="control: same-size noise")
    ax1.set(xlabel="KIP step", ylabel=f"MLE dimension (k = {k})", title="Intrinsic dimension of the support")
    ax1.legend(fontsize=8)
