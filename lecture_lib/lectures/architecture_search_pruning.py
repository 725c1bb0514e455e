r"""Experiments of ``notebooks/09_architecture_search_pruning.ipynb``: the NTK as a cheap
stand-in for training, for architecture search, model selection before fine-tuning, and
pruning.

* **Search space** (:func:`search_space`): a few dozen real MLPs and small CNNs on 8x8 digits
  over depth, width, activation, skip connections and initialisation scale, all held by two
  gated supernets (:mod:`lecture_lib.supernet`) so that each family trains in one compiled,
  vmapped call (:class:`EnsembleTrainer`, built on :func:`lecture_lib.train.run`).
  :func:`evaluate_search_space` trains every candidate briefly (minibatch SGD) for its test
  accuracy -- the ground truth -- and computes the training-free proxies of
  :mod:`lecture_lib.proxies` at initialisation (NTK condition number, Frobenius norm, mean,
  Monte-Carlo NNGP validation accuracy, label-gradient alignment) and LGA after 1, 3, 5 epochs.
  :func:`judge_proxies` gives Kendall's tau of every proxy against the accuracy (all candidates,
  and the trainable ones only) and the accuracy of each proxy's top pick.
* **Prune-by-proxy search** (:func:`prune_search`), in the spirit of TE-NAS (Chen et al.
  ICLR'21): start from the supernet with every op open on every layer, and in each round remove
  on every layer the op whose removal improves the proxy most, until one op per layer is left.
* **Model selection for fine-tuning** (:func:`pretrain_zoo`, :func:`select_for_finetuning`;
  Deshpande et al. 2021): LGA of each pretrained candidate's NTK on a small sample of the new
  task, against the accuracy it reaches after fine-tuning.
* **Pruning**: :func:`random_pruning_ntk` (Yang & Wang 2022: random pruning with and without the
  ``1/sqrt(p)`` rescaling, and the NTK) and :func:`pruning_comparison` (Neural Tangent Transfer,
  Liu & Zenke ICML'20, against magnitude and random pruning at matched density).
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

from .. import data, kernels, metrics, proxies, pruning, supernet, train
from ..progress import progress as progress_bar
from ..validation import check_array, check_choice, check_int_sequence, check_scalar

__all__ = [
    "Digits", "digits_task", "search_space", "supernets", "EnsembleTrainer",
    "SearchSpaceResults", "evaluate_search_space", "PROXY_NAMES", "ProxyReport", "judge_proxies",
    "PruneSearch", "prune_search", "arch_from_gates", "describe_gates",
    "SOURCES", "TransferTask", "transfer_task", "Zoo", "pretrain_zoo", "Selection",
    "select_for_finetuning", "layer_stds", "top_k_best", "proxy_explorer", "pruning_explorer",
    "PRUNING_METHODS", "train_candidates", "subset",
    "RandomPruningNTK", "random_pruning_ntk", "PruningComparison", "pruning_comparison",
    "plot_taus", "plot_selection", "plot_random_pruning",
]

N_CLASSES = 10


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
class Digits(NamedTuple):
    """A seeded, stratified split of the 8x8 digits, flattened ``(n, 64)`` and standardised per
    pixel with training statistics; integer labels.  ``images(x)`` reshapes to NHWC."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @staticmethod
    def images(x: np.ndarray) -> np.ndarray:
        """``(n, 64) -> (n, 8, 8, 1)``."""
        return np.asarray(x).reshape(len(x), 8, 8, 1)


def digits_task(seed: int = 0, n_train: int = 256, n_val: int = 256, n_test: int = 512,
                classes: Sequence[int] | None = None) -> Digits:
    """Train / validation / test split of the digits (``classes``: keep only these digits).

    Validation data serve the proxies that need labelled held-out data (NNGP accuracy);
    the test data only the ground truth.
    """
    check_scalar(seed, "seed", kind=int, min_value=0)
    for v, name, lo in ((n_train, "n_train", 1), (n_val, "n_val", 0), (n_test, "n_test", 1)):
        check_scalar(v, name, kind=int, min_value=lo)
    ds = data.digits(classes=classes, n_train=n_train + n_val, n_test=n_test, seed=seed,
                     image=False, standardize="none")
    tr, va = data.stratified_split(ds.y_train, n_train, n_val, seed=seed)
    x_tr = ds.x_train[tr]
    # z-score per pixel on the training images; std floored at 1 (pixel values are 0..16) so
    # that nearly blank border pixels are not blown up
    mu, sd = x_tr.mean(0), np.maximum(x_tr.std(0), 1.0)

    def f(x):
        return ((x - mu) / sd).astype(np.float32)

    return Digits(f(x_tr), ds.y_train[tr].astype(np.int64), f(ds.x_train[va]),
                  ds.y_train[va].astype(np.int64), f(ds.x_test), ds.y_test.astype(np.int64))


# --------------------------------------------------------------------------- #
# Training many networks of one kind: compiled once
# --------------------------------------------------------------------------- #
def _take(tree: Any, idx: np.ndarray) -> Any:
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], tree)


def _n_members(params: Any) -> int:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise ValueError("params must be stacked on a leading member axis")
    return int(np.shape(leaves[0])[0])


class EnsembleTrainer:
    """Trains many networks of one ``apply_fn`` side by side with :func:`lecture_lib.train.run`.

    Members are processed in chunks of ``chunk`` (the last one padded by repetition) and each
    chunk is ``jax.vmap``-ed, so every call with the same parameter and data shapes reuses one
    compilation -- whatever the number of members, and across experiments (the NAS candidates,
    the pruned architectures, the pretrained zoo and its fine-tuning all share it).  Each member
    may have its own data (``x (M, n, ...)``, ``y (M, n)``) or share one set.

    Minibatch SGD/Adam: ``batch_size`` rows per step, epoch ``e`` shuffles with
    ``fold_in(key, e)`` (the same order for every member), ``n // batch_size`` steps per epoch.
    Use :meth:`cached` to get the trainer of a configuration.
    """

    def __init__(self, apply_fn: Callable, *, loss: str = "cross_entropy", optimizer: str = "sgd",
                 lr: float = 0.1, batch_size: int | None = 32, chunk: int = 8):
        if not callable(apply_fn):
            raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
        check_scalar(chunk, "chunk", kind=int, min_value=1)
        if batch_size is not None:
            check_scalar(batch_size, "batch_size", kind=int, min_value=1)
        self.apply_fn, self.batch_size, self.chunk = apply_fn, batch_size, chunk
        obj = train.objective(train.make_model(apply_fn), loss)
        self._opt = opt = train.optimizer(optimizer, lr)

        def steps(state, p0, x, y, key, start, stop):
            st, _ = train.run(obj, opt, state, train.Problem(p0, x, y, None, key), start, stop,
                              batch_size=batch_size)
            return st

        self._steps = jax.jit(jax.vmap(steps, in_axes=(0, 0, 0, 0, None, None, None)))
        self._init = jax.jit(jax.vmap(opt[0]))
        self._get = jax.jit(jax.vmap(opt[2]))
        self._predict = jax.jit(jax.vmap(apply_fn, in_axes=(0, None)))

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def cached(apply_fn: Callable, *, loss: str = "cross_entropy", optimizer: str = "sgd",
               lr: float = 0.1, batch_size: int | None = 32, chunk: int = 8) -> "EnsembleTrainer":
        """The (shared) trainer of this configuration."""
        return EnsembleTrainer(apply_fn, loss=loss, optimizer=optimizer, lr=lr,
                               batch_size=batch_size, chunk=chunk)

    def steps_per_epoch(self, n: int) -> int:
        return 1 if self.batch_size is None else n // self.batch_size

    def fit(self, params: Any, x: Any, y: Any, checkpoints: Sequence[int], *, seed: int = 0,
            progress: bool = False) -> list:
        """Train every member; return its parameters after each of the increasing step counts
        ``checkpoints`` (a list of stacked pytrees, one per checkpoint; 0 = the start).

        ``x``: ``(n, ...)`` shared or ``(M, n, ...)`` per member; ``y``: ``(n,)`` / ``(M, n)``
        integer labels (or targets of the loss).
        """
        m = _n_members(params)
        cps = check_int_sequence(checkpoints, "checkpoints", min_value=0)
        if any(b < a for a, b in zip(cps, cps[1:])):
            raise ValueError(f"checkpoints must be non-decreasing, got {cps}")
        x, y = np.asarray(x), np.asarray(y)
        per_member = x.ndim >= 2 and x.shape[0] == m and y.ndim >= 2 and y.shape[0] == m
        key = jax.random.PRNGKey(seed)
        outs: list[list] = [[] for _ in cps]
        chunks = list(range(0, m, self.chunk))
        for start in progress_bar(chunks, progress, desc="training members"):
            idx = np.minimum(np.arange(start, start + self.chunk), m - 1)
            p0 = _take(params, idx)
            xs = jnp.asarray(x[idx] if per_member else np.broadcast_to(x, (self.chunk,) + x.shape))
            ys = jnp.asarray(y[idx] if per_member else np.broadcast_to(y, (self.chunk,) + y.shape))
            state, done = self._init(p0), 0
            keep = min(self.chunk, m - start)
            for i, c in enumerate(cps):
                if c > done:
                    state = self._steps(state, p0, xs, ys, key, done, c)
                    done = c
                outs[i].append(_take(self._get(state), np.arange(keep)))
        return [jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *o) for o in outs]

    def predict(self, params: Any, x: Any) -> np.ndarray:
        """Outputs ``(M, n, k)`` of every member on shared inputs ``x``."""
        m = _n_members(params)
        xj = jnp.asarray(x)
        out = []
        for start in range(0, m, self.chunk):
            idx = np.minimum(np.arange(start, start + self.chunk), m - 1)
            out.append(np.asarray(self._predict(_take(params, idx), xj))[: min(self.chunk, m - start)])
        return np.concatenate(out)


# --------------------------------------------------------------------------- #
# The search space and its ground truth
# --------------------------------------------------------------------------- #
MLP_DEPTH, MLP_WIDTH = 6, 32
CNN_DEPTH, CNN_WIDTH = 2, 8


@functools.lru_cache(maxsize=1)
def supernets() -> dict[str, supernet.Supernet]:
    """The two supernets that hold the search space: ``"mlp"`` (6 layers x 32 units on the 64
    flattened pixels) and ``"cnn"`` (2 conv layers x 8 channels on 8x8 images)."""
    return {"mlp": supernet.Supernet("mlp", MLP_DEPTH, MLP_WIDTH, (64,), N_CLASSES),
            "cnn": supernet.Supernet("cnn", CNN_DEPTH, CNN_WIDTH, (8, 8, 1), N_CLASSES)}


def search_space() -> list[supernet.Arch]:
    """The candidates: 33 MLPs and 6 small CNNs.

    MLPs of width 32: depth 1, 3, 6 x relu/tanh x with/without skip connections (depth > 1) x
    initialisation scale 0.5, 1, 2 (30), plus three of width 8.  CNNs with 8 channels (3x3
    convolutions, flattened read-out): relu depth 1; relu depth 2 at scales 0.5, 1, 2; relu
    depth 2 with a skip connection; tanh depth 2.
    """
    out = []
    for d, act, skip, c in itertools.product((1, 3, 6), ("relu", "tanh"), (False, True), (0.5, 1.0, 2.0)):
        if d == 1 and skip:
            continue
        out.append(supernet.Arch("mlp", d, MLP_WIDTH, act, skip, c))
    out += [supernet.Arch("mlp", 1, 8, "relu"), supernet.Arch("mlp", 3, 8, "relu"),
            supernet.Arch("mlp", 3, 8, "tanh")]
    out += [supernet.Arch("cnn", 1, CNN_WIDTH, "relu"),
            *(supernet.Arch("cnn", 2, CNN_WIDTH, "relu", False, c) for c in (0.5, 1.0, 2.0)),
            supernet.Arch("cnn", 2, CNN_WIDTH, "relu", True), supernet.Arch("cnn", 2, CNN_WIDTH, "tanh")]
    return out


def _inputs(kind: str, x: np.ndarray) -> np.ndarray:
    return Digits.images(x) if kind == "cnn" else np.asarray(x)


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean softmax cross-entropy per member: logits ``(M, n, k)``, labels ``(n,)`` -> ``(M,)``."""
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(logp, y[None, :, None], axis=-1)[..., 0].mean(axis=-1)


def _accuracy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy per member; NaN for a member with non-finite outputs (diverged)."""
    ok = np.all(np.isfinite(logits), axis=(-2, -1))
    acc = np.mean(np.argmax(np.where(np.isfinite(logits), logits, 0.0), axis=-1) == y, axis=-1)
    return np.where(ok, acc, np.nan)


#: proxies reported for every candidate (see :func:`evaluate_search_space`)
PROXY_NAMES: tuple[str, ...] = (
    "NTK condition number", "NTK Frobenius norm", "NTK mean", "NNGP val. accuracy",
    "LGA at init", "LGA after 1 epoch", "LGA after 3 epochs", "LGA after 5 epochs",
)
_HIGHER = {"NTK condition number": False}


class SearchSpaceResults(NamedTuple):
    """Output of :func:`evaluate_search_space` for ``C`` candidates.

    ``archs`` the candidates; ``labels`` their names; ``kind`` ``(C,)`` ``"mlp"``/``"cnn"``;
    ``test_acc`` ``(C,)`` after the brief training (NaN: diverged); ``train_loss`` ``(C,)``
    final training cross-entropy; ``trainable`` ``(C,)`` bool (finite loss below half the
    chance level ``ln 10``); ``proxies`` ``{name: (C,)}`` for :data:`PROXY_NAMES`;
    ``ntk0`` ``(C, n_probe, n_probe)`` the NTKs at initialisation; ``epochs`` of the LGA
    checkpoints; ``steps``/``epoch_steps`` of the training; ``probe_labels`` ``(n_probe,)``.
    """

    archs: list
    labels: list
    kind: np.ndarray
    test_acc: np.ndarray
    train_loss: np.ndarray
    trainable: np.ndarray
    proxies: dict
    ntk0: np.ndarray
    epochs: tuple
    steps: int
    epoch_steps: int
    probe_labels: np.ndarray


def train_candidates(archs: Sequence[supernet.Arch], ds: Digits, *, seed: int = 0,
                     epochs: int = 20, lr: float = 0.1, batch_size: int = 32,
                     checkpoint_epochs: Sequence[int] = (1, 3, 5), gates: Any = None,
                     progress: bool = False) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """Initialise (seed ``seed``) and train candidates of *one* kind with minibatch SGD.

    Returns ``(params, test_acc (C,), train_loss (C,), checkpoints)`` where ``params`` maps
    ``0`` and every checkpoint epoch to stacked parameters, and the last entry is the trained
    network (key ``"final"``).  ``gates``: alternatively a list of ``(gates, w_std)`` pairs of
    the MLP supernet (architectures found by :func:`prune_search`).
    """
    kinds = {a.kind for a in archs} if gates is None else {"mlp"}
    if len(kinds) != 1:
        raise ValueError(f"archs must all be of one kind, got {sorted(kinds)}")
    kind = kinds.pop()
    net = supernets()[kind]
    rng = np.random.default_rng(seed)
    if gates is None:
        params = net.init_many(rng, archs)
    else:
        params = supernet.stack([net.init(rng, gates=g, w_std=s) for g, s in gates])
    tr = EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=lr, batch_size=batch_size)
    spe = tr.steps_per_epoch(len(ds.x_train))
    cps = [0] + [int(e) * spe for e in checkpoint_epochs] + [epochs * spe]
    outs = tr.fit(params, _inputs(kind, ds.x_train), ds.y_train, cps, seed=seed, progress=progress)
    snap = {0: outs[0], **{int(e): o for e, o in zip(checkpoint_epochs, outs[1:-1])}, "final": outs[-1]}
    # one (512, ...) evaluation shape for everything: test set, and train + validation
    test_logits = tr.predict(outs[-1], _inputs(kind, ds.x_test))
    tv_logits = tr.predict(outs[-1], _inputs(kind, np.concatenate([ds.x_train, ds.x_val])))
    n = len(ds.x_train)
    with np.errstate(all="ignore"):
        loss = _cross_entropy(tv_logits[:, :n], ds.y_train)
    return snap, _accuracy(test_logits, ds.y_test), np.where(np.isfinite(loss), loss, np.nan), cps


def _ntk_proxies(k: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "NTK condition number": np.array([proxies.condition_number(a) for a in k]),
        "NTK Frobenius norm": np.array([proxies.frobenius_norm(a) for a in k]),
        "NTK mean": np.array([proxies.kernel_mean(a) for a in k]),
        "LGA at init": np.array([proxies.label_gradient_alignment(a, y) for a in k]),
    }


def evaluate_search_space(ds: Digits, archs: Sequence[supernet.Arch] | None = None, *,
                          seed: int = 0, epochs: int = 20, lr: float = 0.1,
                          batch_size: int = 32, n_probe: int = 64, nngp_samples: int = 8,
                          nngp_reg: float = 1e-2, progress: bool = True) -> SearchSpaceResults:
    """Ground truth and proxies of every candidate.

    Ground truth: test accuracy after ``epochs`` epochs of minibatch SGD (``lr``,
    ``batch_size``; cross-entropy), from the initialisation drawn with ``seed``.
    Proxies, on a probe batch of the first ``n_probe`` training images (labels for LGA):
    the empirical NTK at initialisation (of the pooled logit, :func:`lecture_lib.proxies.ntk_fn`)
    -> condition number,
    Frobenius norm, mean, LGA; LGA of the NTK after 1, 3, 5 epochs of the same training;
    and the validation accuracy of kernel regression (train -> validation set) with the
    Monte-Carlo NNGP kernel of ``nngp_samples`` fresh initialisations.
    """
    archs = search_space() if archs is None else list(archs)
    check_scalar(n_probe, "n_probe", kind=int, min_value=2, max_value=len(ds.x_train))
    check_scalar(nngp_samples, "nngp_samples", kind=int, min_value=1)
    kinds = np.array([a.kind for a in archs])
    c = len(archs)
    acc, loss = np.full(c, np.nan), np.full(c, np.nan)
    prox = {name: np.full(c, np.nan) for name in PROXY_NAMES}
    ntk0 = np.zeros((c, n_probe, n_probe))
    y_probe = ds.y_train[:n_probe]
    n = len(ds.x_train)
    lga_epochs = (1, 3, 5)
    groups = [k for k in supernet.KINDS if np.any(kinds == k)]
    for kind in progress_bar(groups, progress, desc="search space"):
        sel = np.flatnonzero(kinds == kind)
        group = [archs[i] for i in sel]
        net = supernets()[kind]
        snap, acc[sel], loss[sel], _ = train_candidates(
            group, ds, seed=seed, epochs=epochs, lr=lr, batch_size=batch_size,
            checkpoint_epochs=lga_epochs)
        x_probe = _inputs(kind, ds.x_train[:n_probe])
        k0 = proxies.empirical_ntks(net.apply, snap[0], x_probe)
        ntk0[sel] = k0
        for name, v in _ntk_proxies(k0, y_probe).items():
            prox[name][sel] = v
        for e, name in zip(lga_epochs, PROXY_NAMES[5:]):
            ke = proxies.empirical_ntks(net.apply, snap[e], x_probe)
            prox[name][sel] = [proxies.label_gradient_alignment(a, y_probe) for a in ke]
        # Monte-Carlo NNGP: outputs of fresh initialisations on train + validation images
        tr = EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=lr, batch_size=batch_size)
        x_tv = _inputs(kind, np.concatenate([ds.x_train, ds.x_val]))
        rng = np.random.default_rng([seed, 1])
        # all draws in one stacked predict (one pass over padded chunks instead of one per draw)
        draws = [net.init_many(rng, group) for _ in range(nngp_samples)]
        stacked = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *draws)
        f = tr.predict(stacked, x_tv).reshape((nngp_samples, len(group)) + (len(x_tv), -1)).swapaxes(0, 1)
        with threadpool_limits(1):  # small solves: one BLAS thread is much faster under load
            for j, i in enumerate(sel):
                k = proxies.monte_carlo_nngp(f[j])
                prox["NNGP val. accuracy"][i] = proxies.nngp_accuracy(
                    k[:n, :n], ds.y_train, k[n:, :n], ds.y_val, reg=nngp_reg)
    trainable = np.isfinite(loss) & (loss < 0.5 * np.log(N_CLASSES))
    spe = n // batch_size
    return SearchSpaceResults(archs, [a.label for a in archs], kinds, acc, loss, trainable, prox,
                              ntk0, lga_epochs, epochs * spe, spe, y_probe)


class ProxyReport(NamedTuple):
    """Output of :func:`judge_proxies`: per proxy (in :data:`PROXY_NAMES` order)
    ``tau_all`` / ``tau_trainable`` Kendall tau against the test accuracy, ``pick`` the index of
    its top candidate and ``pick_acc`` that candidate's accuracy; ``best_acc`` / ``median_acc``
    over all candidates; ``n_trainable``."""

    names: tuple
    tau_all: np.ndarray
    tau_trainable: np.ndarray
    pick: np.ndarray
    pick_acc: np.ndarray
    best_acc: float
    median_acc: float
    n_trainable: int


def judge_proxies(res: SearchSpaceResults) -> ProxyReport:
    """Kendall tau of every proxy with the accuracy, on all and on the trainable candidates,
    and the accuracy of each proxy's top pick (diverged candidates count as the worst)."""
    tau_all, tau_tr, pick, pick_acc = [], [], [], []
    acc = np.where(np.isnan(res.test_acc), -np.inf, res.test_acc)
    tr = res.trainable
    for name in PROXY_NAMES:
        s, hib = res.proxies[name], _HIGHER.get(name, True)
        tau_all.append(proxies.kendall_tau(s, acc, higher_is_better=hib))
        tau_tr.append(proxies.kendall_tau(s[tr], acc[tr], higher_is_better=hib)
                      if tr.sum() >= 2 else np.nan)
        i = proxies.top_pick(s, higher_is_better=hib)
        pick.append(i)
        pick_acc.append(res.test_acc[i])
    return ProxyReport(PROXY_NAMES, np.array(tau_all), np.array(tau_tr), np.array(pick),
                       np.array(pick_acc), float(np.nanmax(res.test_acc)),
                       float(np.nanmedian(np.where(np.isnan(res.test_acc), 0.1, res.test_acc))),
                       int(tr.sum()))


# --------------------------------------------------------------------------- #
# Prune-by-proxy search over the supernet (TE-NAS style)
# --------------------------------------------------------------------------- #
def layer_stds(gates: Any) -> np.ndarray:
    """Weight stds of a gated MLP: He (``sqrt 2``) on layers with the relu op open, LeCun (1)
    otherwise; read-out 1."""
    g = np.asarray(gates)
    relu = supernet.OPS.index("relu")
    return np.r_[np.where(g[:, relu] > 0, np.sqrt(2.0), 1.0), 1.0]


def describe_gates(gates: Any) -> str:
    """``"relu > skip > tanh+skip ..."``: the open ops of each layer."""
    g = np.asarray(gates)
    return " > ".join("+".join(op for op, on in zip(supernet.OPS, row) if on) for row in g)


def arch_from_gates(gates: Any) -> str:
    """Short name of a one-op-per-layer architecture: its non-identity layers, e.g.
    ``"mlp d3: relu-tanh-relu"`` (identity layers only shorten the network)."""
    g = np.asarray(gates)
    ops = [supernet.OPS[int(np.argmax(row))] for row in g if row.sum() == 1]
    layers = [o for o in ops if o != "skip"]
    return f"mlp d{len(layers)}: " + "-".join(layers)


class PruneSearch(NamedTuple):
    """Output of :func:`prune_search`.

    ``proxy``; ``history`` list of the gate arrays ``(L, 3)`` before each round and the final
    one; ``scores`` per round ``(L, 3)``: the proxy (oriented, higher is better, mean over
    repeats) of the supernet with that op removed (NaN where nothing was tried); ``removed``
    per round the list of ``(layer, op)`` pruned; ``gates`` the final one-op-per-layer gates;
    ``n_kernels`` the number of empirical NTKs computed.
    """

    proxy: str
    history: list
    scores: list
    removed: list
    gates: np.ndarray
    n_kernels: int


_LOOP_PROXIES = ("NTK condition number", "NTK Frobenius norm", "NTK mean", "LGA at init")


def _score(name: str, k: np.ndarray, y: np.ndarray) -> float:
    """Oriented proxy value (higher is better); the condition number on a log scale."""
    if name == "NTK condition number":
        return -float(np.log(proxies.condition_number(k)))
    if name == "NTK Frobenius norm":
        return float(np.log(proxies.frobenius_norm(k)))
    if name == "NTK mean":
        return proxies.kernel_mean(k)
    return proxies.label_gradient_alignment(k, y)


def prune_search(x_probe: Any, y_probe: Any, *, proxy: str = "NTK condition number",
                 repeats: int = 2, seed: int = 0, progress: bool = False) -> PruneSearch:
    """Prune the MLP supernet op by op with a training-free proxy (the TE-NAS loop).

    Start with every op open (relu and tanh on layer 1; skip, relu, tanh on layers 2..6).
    Each round, for every layer that still has more than one op and every op on it, the
    proxy is computed for the supernet *without* that op (the same weights, ``repeats``
    initialisations, averaged); on every such layer the op whose removal scores best is
    pruned.  Stops when each layer has one op (two rounds here).  TE-NAS ranks by the NTK
    condition number and the number of linear regions together; here one proxy at a time.

    Args:
      x_probe: ``(n, 64)`` probe inputs; y_probe: their labels (for LGA).
      proxy: one of ``"NTK condition number"``, ``"NTK Frobenius norm"``, ``"NTK mean"``,
        ``"LGA at init"``.
      repeats: initialisations per evaluation; seed: their seed.
    """
    if proxy not in _LOOP_PROXIES:
        raise ValueError(f"proxy must be one of {_LOOP_PROXIES}, got {proxy!r}")
    check_scalar(repeats, "repeats", kind=int, min_value=1)
    x_probe = check_array(x_probe, "x_probe", ndim=2)
    y_probe = check_array(y_probe, "y_probe", ndim=1)
    net = supernets()["mlp"]
    gates = np.ones((net.max_depth, len(supernet.OPS)), np.float32)
    gates[0, 0] = 0.0
    history, scores, removed = [gates.copy()], [], []
    n_kernels = 0
    rounds = int(gates.sum(axis=1).max()) - 1
    for _ in progress_bar(range(rounds), progress, desc="prune rounds"):
        tries = [(l, o) for l in range(net.max_depth) if gates[l].sum() > 1
                 for o in range(len(supernet.OPS)) if gates[l, o]]
        if not tries:
            break
        variants = []
        for l, o in tries:
            g = gates.copy()
            g[l, o] = 0.0
            variants.append(g)
        params = []
        for r in range(repeats):  # the same weights for every variant of a repeat
            for g in variants:
                params.append(net.init(np.random.default_rng([seed, r]), gates=g, w_std=layer_stds(g)))
        ks = proxies.empirical_ntks(net.apply, supernet.stack(params), x_probe)
        n_kernels += len(ks)
        vals = np.array([_score(proxy, k, y_probe) for k in ks]).reshape(repeats, len(variants))
        mean = np.nanmean(np.where(np.isfinite(vals), vals, np.nan), axis=0)
        table = np.full(gates.shape, np.nan)
        for (l, o), v in zip(tries, mean):
            table[l, o] = v
        cut = []
        for l in sorted({l for l, _ in tries}):
            row = np.where(np.isnan(table[l]), -np.inf, table[l])
            o = int(np.argmax(row))
            gates[l, o] = 0.0
            cut.append((l, supernet.OPS[o]))
        scores.append(table)
        removed.append(cut)
        history.append(gates.copy())
    return PruneSearch(proxy, history, scores, removed, gates.copy(), n_kernels)


# --------------------------------------------------------------------------- #
# LGA for model selection before fine-tuning (Deshpande et al. 2021)
# --------------------------------------------------------------------------- #
ZOO_ARCH = supernet.Arch("mlp", 2, MLP_WIDTH, "relu")
SOURCES: tuple[str, ...] = (
    "digits 5-9 (other images)", "digits 0-9", "digits 0-4", "digits 0-4, random labels",
    "digits 5-9, pixels shuffled", "Gaussian noise, random labels",
)


class Zoo(NamedTuple):
    """Pretrained candidates: ``names`` (C,), ``source`` (C,) the pretraining task (``"none"``
    for the untrained network), ``epochs`` (C,) of pretraining, ``params`` stacked (C, ...)."""

    names: list
    source: list
    epochs: np.ndarray
    params: Any


class TransferTask(NamedTuple):
    """Pretraining sources and a small target task (digits 5-9), disjoint images.

    ``x_sources`` ``(S, n, 64)``, ``y_sources`` ``(S, n)`` for :data:`SOURCES`; ``target`` a
    :class:`Digits` with ``n_small`` training images (the fine-tuning set and LGA's sample;
    no validation set) and the test images.
    """

    x_sources: np.ndarray
    y_sources: np.ndarray
    target: Digits


def transfer_task(seed: int = 0, *, n_small: int = 64, n_source: int = 256,
                  n_test: int = 512) -> TransferTask:
    """Sources of the model zoo and the fine-tuning target, from the digits.

    The target is digits 5-9 with ``n_small`` labelled images; the sources (``n_source``
    images each, labels as digits) are other images of digits 5-9, digits 0-9 (half 0-4, half
    other 5-9 images), digits 0-4 with true and with random labels, other 5-9 images with their
    pixels shuffled by one fixed permutation, and Gaussian noise with random labels.  Pixels
    are standardised with the statistics of all non-test images.
    """
    check_scalar(seed, "seed", kind=int, min_value=0)
    hi = data.digits(classes=range(5, 10), n_train=n_small + n_source, n_test=n_test, seed=seed,
                     image=False, standardize="none")
    lo = data.digits(classes=range(5), n_train=n_source, n_test=16, seed=seed, image=False,
                     standardize="none")
    small, src = data.stratified_split(hi.y_train, n_small, n_source, seed=seed)
    pool = np.concatenate([hi.x_train, lo.x_train])
    mu, sd = pool.mean(0), np.maximum(pool.std(0), 1.0)

    def f(x):
        return ((x - mu) / sd).astype(np.float32)

    rng = np.random.default_rng([seed, 2])
    x59, y59 = f(hi.x_train[src]), hi.y_train[src]
    x04, y04 = f(lo.x_train), lo.y_train
    half = n_source // 2
    xs = [x59, np.concatenate([x04[:half], x59[:n_source - half]]), x04, x04,
          x59[:, rng.permutation(64)], rng.standard_normal(x04.shape).astype(np.float32)]
    ys = [y59, np.concatenate([y04[:half], y59[:n_source - half]]), y04,
          rng.integers(0, 5, n_source), y59, rng.integers(0, N_CLASSES, n_source)]
    target = Digits(f(hi.x_train[small]), hi.y_train[small].astype(np.int64),
                    np.zeros((0, 64), np.float32), np.zeros(0, np.int64),
                    f(hi.x_test), hi.y_test.astype(np.int64))
    return TransferTask(np.stack(xs), np.stack(ys).astype(np.int64), target)


def pretrain_zoo(task: TransferTask, seed: int = 0, *, epochs: Sequence[int] = (2, 20),
                 lr: float = 0.1, batch_size: int = 32) -> Zoo:
    """Pretrain one MLP (:data:`ZOO_ARCH`, from one shared initialisation) on each source of
    ``task`` and keep it after each of ``epochs``; plus the untrained network.  All sources
    train in one vmapped call."""
    epochs = check_int_sequence(epochs, "epochs", min_value=1, increasing=True)
    net = supernets()["mlp"]
    xs, ys = task.x_sources, task.y_sources
    p0 = net.init(np.random.default_rng([seed, 3]), ZOO_ARCH)
    params = supernet.stack([p0] * len(xs))
    tr = EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=lr, batch_size=batch_size)
    spe = tr.steps_per_epoch(xs.shape[1])
    outs = tr.fit(params, xs, ys, [e * spe for e in epochs], seed=seed)
    names, source, eps, plist = ["untrained"], ["none"], [0], [p0]
    for e, o in zip(epochs, outs):
        for i, s in enumerate(SOURCES):
            names.append(f"{s} ({e} ep.)")
            source.append(s)
            eps.append(e)
            plist.append(jax.tree_util.tree_map(lambda a, i=i: a[i], o))
    return Zoo(names, source, np.array(eps), supernet.stack(plist))


class Selection(NamedTuple):
    """Output of :func:`select_for_finetuning` for the ``C`` candidates of a :class:`Zoo`:
    ``lga`` (C,) on the small sample; ``acc`` (C,) test accuracy after fine-tuning;
    ``tau`` Kendall tau(lga, acc); ``pick`` the LGA's choice, ``best`` the best fine-tuned one;
    ``n_sample``, ``finetune_epochs``."""

    names: list
    lga: np.ndarray
    acc: np.ndarray
    tau: float
    pick: int
    best: int
    n_sample: int
    finetune_epochs: int


def _new_head(params: Any, seed: int) -> Any:
    """Replace every member's read-out by the same fresh one (standard init): the new task's head."""
    w = params["w"]["out"]
    rng = np.random.default_rng([seed, 4])
    head = rng.standard_normal(w.shape[1:]) / np.sqrt(MLP_WIDTH)
    out = jnp.broadcast_to(jnp.asarray(head, jnp.float32), w.shape)
    return {"w": {**params["w"], "out": out}, "arch": params["arch"]}


def select_for_finetuning(zoo: Zoo, target: Digits, *, finetune_epochs: int = 10,
                          lr: float = 0.1, batch_size: int = 32, rows: int = 256,
                          seed: int = 0) -> Selection:
    """LGA of each candidate's empirical NTK (with a new head) on the ``n`` target training
    images -- the small sample -- and the ground truth: every candidate fine-tuned on those
    images (all weights, the same new head, minibatch SGD for ``finetune_epochs`` passes over
    them) and tested on the target test set.

    The sample is tiled to ``rows`` rows (a multiple of ``n``), the data shape of the other
    experiments, so that the compiled trainer is reused; an epoch is ``n / batch_size`` steps.
    """
    check_scalar(finetune_epochs, "finetune_epochs", kind=int, min_value=1)
    n = len(target.x_train)
    if rows % n or n % batch_size:
        raise ValueError(f"rows ({rows}) must be a multiple of the sample size {n}, itself a "
                         f"multiple of batch_size ({batch_size})")
    net = supernets()["mlp"]
    params = _new_head(zoo.params, seed)
    ks = proxies.empirical_ntks(net.apply, params, target.x_train)
    lga = np.array([proxies.label_gradient_alignment(k, target.y_train) for k in ks])
    tr = EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=lr, batch_size=batch_size)
    reps = rows // n
    steps = finetune_epochs * n // batch_size
    tuned = tr.fit(params, np.tile(target.x_train, (reps, 1)), np.tile(target.y_train, reps),
                   [steps], seed=seed)[0]
    acc = _accuracy(tr.predict(tuned, target.x_test), target.y_test)
    accn = np.where(np.isnan(acc), -np.inf, acc)
    return Selection(list(zoo.names), lga, acc, proxies.kendall_tau(lga, accn),
                     proxies.top_pick(lga), int(np.argmax(accn)), n, finetune_epochs)


# --------------------------------------------------------------------------- #
# Pruning
# --------------------------------------------------------------------------- #
class RandomPruningNTK(NamedTuple):
    """Output of :func:`random_pruning_ntk`: ``densities`` (D,); ``error`` (2, D, S) relative
    Frobenius distance ``||Theta_p - Theta||_F / ||Theta||_F`` of the pruned network's empirical
    NTK from the analytic NTK of the dense architecture, without (index 0) and with (1) the
    ``1/sqrt(p)`` rescaling, ``S`` seeds; ``scale`` (2, D, S) ``tr(Theta_p) / tr(Theta)``;
    ``width``, ``depth``; ``example`` (2, D, n, n) the kernels of seed 0; ``analytic`` (n, n)."""

    densities: np.ndarray
    error: np.ndarray
    scale: np.ndarray
    width: int
    depth: int
    example: np.ndarray
    analytic: np.ndarray


def random_pruning_ntk(x: Any, densities: Sequence[float], *, width: int = 256, depth: int = 2,
                       seeds: int = 2, progress: bool = False) -> RandomPruningNTK:
    """Empirical NTK of a randomly pruned wide ReLU network (NTK parameterisation,
    ``kernels.fc(depth, width)``, one output) at initialisation, with and without rescaling
    the kept weights by ``1/sqrt(p)`` (Yang & Wang 2022), against the dense analytic NTK.

    Every weight matrix is pruned (biases are zero).  Seed ``s`` draws the weights with
    ``PRNGKey(s)`` and the mask with ``numpy`` seed ``s`` (the same mask with and without
    rescaling).
    """
    x = check_array(x, "x", ndim=2)
    dens = [float(check_scalar(d, "densities", min_value=0.0, strict_min=True, max_value=1.0))
            for d in densities]
    check_scalar(seeds, "seeds", kind=int, min_value=1)
    init_fn, apply_fn, kernel_fn = kernels.fc(depth, width, "relu")
    analytic = kernels.analytic_kernel(kernel_fn, x, dtype="float64")
    apply_sparse = pruning.masked(apply_fn)
    err = np.zeros((2, len(dens), seeds))
    scale = np.zeros_like(err)
    example = np.zeros((2, len(dens)) + analytic.shape)
    for s in progress_bar(range(seeds), progress, desc="seeds"):
        _, params = init_fn(jax.random.PRNGKey(s), x.shape)
        for j, p in enumerate(dens):
            for r, rescale in enumerate((False, True)):
                mask = pruning.random_mask(params, p, seed=s, rescale=rescale)
                k = kernels.empirical_ntk(apply_sparse, pruning.sparse_params(params, mask), x)
                err[r, j, s] = metrics.relative_error(k, analytic)
                scale[r, j, s] = np.trace(k) / np.trace(analytic)
                if s == 0:
                    example[r, j] = k
    return RandomPruningNTK(np.asarray(dens), err, scale, width, depth, example, analytic)


PRUNING_METHODS: tuple[str, ...] = ("random", "random, rescaled", "magnitude", "NTT")


class PruningComparison(NamedTuple):
    """Output of :func:`pruning_comparison`.

    ``densities`` (D,); ``methods`` (M,) :data:`PRUNING_METHODS`; ``acc`` (M, D) test accuracy
    after training; ``dense_acc``; ``ntt`` the :class:`lecture_lib.pruning.NTTResult` (its
    ``kernel_distance[0]`` is the one of the magnitude-pruned network it starts from);
    ``epochs``.
    """

    densities: np.ndarray
    methods: tuple
    acc: np.ndarray
    dense_acc: float
    ntt: Any
    epochs: int


def pruning_comparison(ds: Digits, densities: Sequence[float], *, width: int = 64,
                       seed: int = 0, n_transfer: int = 64, ntt_steps: int = 200,
                       ntt_lr: float = 5e-3,
                       epochs: int = 20, lr: float = 0.1, batch_size: int = 32,
                       progress: bool = False) -> PruningComparison:
    """Sparse networks at matched densities, trained the same way.

    A dense MLP ``64 -> width -> width -> 10`` (ReLU, standard parameterisation, He
    initialisation drawn with ``seed``) is pruned at each density by
    random pruning (kept weights as they are / rescaled by ``1/sqrt(p)``), layer-wise magnitude
    pruning, and Neural Tangent Transfer from the magnitude mask (``ntt_steps`` Adam steps on
    the first ``n_transfer`` training images, unlabelled; the step ``ntt_lr`` is larger than
    the reference's 5e-4 because we take 200 steps, not ~20 000: the kept weights must be able
    to grow by about ``1/sqrt(p)`` to restore the kernel's scale).  Every sparse network, and the dense
    one, then trains for ``epochs`` epochs of minibatch SGD; test accuracy is recorded.
    """
    dens = [float(check_scalar(d, "densities", min_value=0.0, strict_min=True, max_value=1.0))
            for d in densities]
    init_fn, apply_fn, _ = kernels.fc(2, width, "relu", W_std=2 ** 0.5, out_dim=N_CLASSES,
                                      parameterization="standard")
    _, teacher = init_fn(jax.random.PRNGKey(seed), (1, 64))
    x_tr = ds.x_train[:n_transfer]
    ntt = pruning.neural_tangent_transfer(apply_fn, teacher, x_tr, dens, steps=ntt_steps,
                                          lr=ntt_lr, progress=progress)
    members, masks = [], []
    for j, p in enumerate(dens):
        for name in PRUNING_METHODS:
            if name == "NTT":
                w = jax.tree_util.tree_map(lambda a, j=j: a[j], ntt.params)
                m = jax.tree_util.tree_map(lambda a, j=j: a[j], ntt.masks)
            elif name == "magnitude":
                w, m = teacher, pruning.magnitude_mask(teacher, p)
            else:
                w, m = teacher, pruning.random_mask(teacher, p, seed=np.random.default_rng([seed, j]),
                                                    rescale=name == "random, rescaled")
            members.append(pruning.sparse_params(w, m))
    members.append(pruning.sparse_params(teacher, pruning.ones_mask(teacher)))
    params = supernet.stack(members)
    apply_sparse = pruning.masked(apply_fn)
    tr = EnsembleTrainer.cached(apply_sparse, optimizer="sgd", lr=lr, batch_size=batch_size)
    steps = epochs * tr.steps_per_epoch(len(ds.x_train))
    trained = tr.fit(params, ds.x_train, ds.y_train, [steps], seed=seed, progress=progress)[0]
    acc = _accuracy(tr.predict(trained, ds.x_test), ds.y_test)
    m = len(PRUNING_METHODS)
    return PruningComparison(np.asarray(dens), PRUNING_METHODS, acc[:-1].reshape(len(dens), m).T,
                             float(acc[-1]), ntt, epochs)


# --------------------------------------------------------------------------- #
# Figures (drawn from the results above; the widgets move their artists)
# --------------------------------------------------------------------------- #
_KIND_COLOR = {"mlp": "C0", "cnn": "C1"}
_LOG_PROXIES = ("NTK condition number", "NTK Frobenius norm", "NTK mean")


def _proxy_x(res: SearchSpaceResults, proxy: str) -> np.ndarray:
    v = np.asarray(res.proxies[proxy], np.float64)
    if proxy in _LOG_PROXIES:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log10(v)
    return v


def _plot_acc(res: SearchSpaceResults) -> np.ndarray:
    """Accuracy for plotting: diverged networks (NaN) drawn at chance, 0.1."""
    return np.where(np.isnan(res.test_acc), 1.0 / N_CLASSES, res.test_acc)


def top_k_best(res: SearchSpaceResults, proxy: str, k: int) -> tuple[np.ndarray, float]:
    """Indices of the ``k`` candidates ranked best by ``proxy`` and the best test accuracy
    among them (what training only the proxy's top ``k`` would find)."""
    if proxy not in res.proxies:
        raise ValueError(f"proxy must be one of {PROXY_NAMES}, got {proxy!r}")
    check_scalar(k, "k", kind=int, min_value=1, max_value=len(res.archs))
    s = np.asarray(res.proxies[proxy], np.float64)
    s = s if _HIGHER.get(proxy, True) else -s
    s = np.where(np.isnan(s), -np.inf, s)
    top = np.argsort(-s, kind="stable")[:k]
    return top, float(np.nanmax(np.where(np.isnan(res.test_acc[top]), -np.inf, res.test_acc[top])))


def proxy_explorer(res: SearchSpaceResults, rep: ProxyReport, proxy: str = "NNGP val. accuracy",
                   k: int = 5):
    """Figure for the proxy widget: test accuracy against one proxy for every candidate (MLPs
    blue, CNNs orange; hollow: not trainable; crosses at 0.1: diverged), the proxy's top ``k``
    ringed.  Returns ``(fig, update)`` with ``update(k, proxy)``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    acc = _plot_acc(res)
    colors = [_KIND_COLOR[k_] for k_ in res.kind]
    face = [c if t else "none" for c, t in zip(colors, res.trainable)]
    dots = ax.scatter(np.zeros(len(acc)), acc, s=36, facecolors=face, edgecolors=colors, zorder=3)
    ring = ax.scatter([], [], s=150, facecolors="none", edgecolors="C3", lw=1.8, zorder=4,
                      label="proxy's top k")
    ax.axhline(np.nanmax(res.test_acc), color="0.5", ls=":", lw=1, label="best candidate")
    ax.scatter([], [], c="C0", s=36, label="MLP")
    ax.scatter([], [], c="C1", s=36, label="CNN")
    ax.scatter([], [], facecolors="none", edgecolors="0.3", s=36, label="not trainable")
    ax.set(ylabel="test accuracy after brief training", ylim=(0.0, 1.0))
    ax.legend(loc="lower right", fontsize=7, ncol=2)

    def update(k=k, proxy=proxy):
        x = _proxy_x(res, proxy)
        finite = np.isfinite(x)
        lo, hi = (np.nanmin(x[finite]), np.nanmax(x[finite])) if finite.any() else (0.0, 1.0)
        pad = 0.05 * (hi - lo or 1.0)
        xd = np.where(finite, x, hi + pad)          # undefined proxy values at the right edge
        dots.set_offsets(np.c_[xd, acc])
        top, best_k = top_k_best(res, proxy, k)
        ring.set_offsets(np.c_[xd[top], acc[top]])
        j = PROXY_NAMES.index(proxy)
        ax.set_xlim(lo - pad, hi + 2 * pad)
        ax.set_xlabel(("log10 " if proxy in _LOG_PROXIES else "") + proxy
                      + ("  (lower is better)" if not _HIGHER.get(proxy, True) else ""))
        ax.set_title(f"{proxy}: Kendall tau {rep.tau_all[j]:+.2f} (trainable only {rep.tau_trainable[j]:+.2f})\n"
                     f"best of its top {k}: {best_k:.3f}   best of all {rep.best_acc:.3f}", fontsize=9)

    update(k, proxy)
    return fig, update


def plot_taus(ax, rep: ProxyReport) -> None:
    """Kendall tau of every proxy, on all and on the trainable candidates."""
    y = np.arange(len(rep.names))
    ax.barh(y + 0.2, rep.tau_all, height=0.4, color="C0", label="all candidates")
    ax.barh(y - 0.2, rep.tau_trainable, height=0.4, color="C2", label="trainable only")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, rep.names)
    ax.invert_yaxis()
    ax.set(xlabel="Kendall tau with test accuracy", title="Which proxies rank the candidates?",
           xlim=(-1, 1))
    ax.legend(fontsize=8, loc="lower right")


def plot_selection(ax, sel: Selection, zoo: Zoo) -> None:
    """LGA on the small sample against the accuracy after fine-tuning, one point per candidate."""
    markers = {s: m for s, m in zip(("none",) + SOURCES, "o^sDvPX")}
    for i, name in enumerate(sel.names):
        src = zoo.source[i]
        color = "k" if src == "none" else f"C{SOURCES.index(src)}"
        ax.scatter(sel.lga[i], sel.acc[i], marker=markers[src], s=30 + 3 * zoo.epochs[i],
                   color=color, label=src if zoo.epochs[i] in (0, zoo.epochs.max()) else None)
    ax.scatter(sel.lga[sel.pick], sel.acc[sel.pick], s=220, facecolors="none", edgecolors="k",
               label="LGA's pick")
    ax.set(xlabel="LGA of the NTK on the small sample (new head)",
           ylabel=f"test accuracy after {sel.finetune_epochs} epochs of fine-tuning",
           title=f"Model selection for fine-tuning: Kendall tau {sel.tau:+.2f}")
    ax.legend(fontsize=7, loc="lower right")


def plot_random_pruning(axes, rp: RandomPruningNTK) -> None:
    """Left: relative NTK error vs density; right: NTK scale ``tr(Theta_p)/tr(Theta)``."""
    for r, (label, c) in enumerate((("random pruning", "C3"), ("random pruning, rescaled by 1/sqrt(p)", "C0"))):
        for ax, val in zip(axes, (rp.error, rp.scale)):
            m, s = val[r].mean(-1), val[r].std(-1)
            ax.errorbar(rp.densities, m, yerr=s, marker="o", color=c, capsize=3, label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="density p (fraction of weights kept)",
                ylabel="$\\|\\Theta_p - \\Theta\\|_F / \\|\\Theta\\|_F$",
                title=f"Empirical NTK vs dense analytic NTK\n(width {rp.width}, depth {rp.depth}, ReLU)")
    axes[1].axhline(1.0, color="0.5", ls=":")
    axes[1].set(xscale="log", yscale="log", xlabel="density p", ylabel="$\\mathrm{tr}\\,\\Theta_p / \\mathrm{tr}\\,\\Theta$",
                title="NTK scale")
    axes[0].legend(fontsize=8)


def pruning_explorer(pc: PruningComparison, density: float | None = None):
    """Figure for the density widget: left, the test accuracy of each pruning method at one
    density (dense network dotted); right, accuracy against density with the chosen density
    marked.  Returns ``(fig, update)`` with ``update(density)``."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = [f"C{i}" for i in range(len(pc.methods))]
    bars = ax0.bar(range(len(pc.methods)), np.zeros(len(pc.methods)), color=colors)
    texts = [ax0.text(i, 0, "", ha="center", va="bottom", fontsize=8) for i in range(len(pc.methods))]
    ax0.axhline(pc.dense_acc, color="k", ls=":", lw=1, label=f"dense network {pc.dense_acc:.3f}")
    ax0.set_xticks(range(len(pc.methods)), pc.methods, fontsize=8)
    ax0.set(ylim=(0, 1), ylabel="test accuracy after training")
    ax0.legend(fontsize=8, loc="lower right")
    for i, name in enumerate(pc.methods):
        ax1.plot(pc.densities, pc.acc[i], marker="o", color=colors[i], label=name)
    ax1.axhline(pc.dense_acc, color="k", ls=":", lw=1)
    marker = ax1.axvline(pc.densities[0], color="0.5", lw=6, alpha=0.3)
    ax1.set(xscale="log", xlabel="density p", ylabel="test accuracy", ylim=(0, 1),
            title=f"Sparse MLPs trained {pc.epochs} epochs")
    ax1.legend(fontsize=8, loc="lower right")

    def update(density=float(pc.densities[0]) if density is None else density):
        j = int(np.argmin(np.abs(np.log(pc.densities) - np.log(density))))
        for i, (b, t) in enumerate(zip(bars, texts)):
            a = pc.acc[i, j]
            b.set_height(0 if np.isnan(a) else a)
            t.set_position((i, (0 if np.isnan(a) else a) + 0.01))
            t.set_text("diverged" if np.isnan(a) else f"{a:.3f}")
        marker.set_xdata([pc.densities[j]] * 2)
        ax0.set_title(f"density p = {pc.densities[j]:g}: {int(round(100 * (1 - pc.densities[j])))}% of the weights pruned",
                      fontsize=9)

    update()
    return fig, update


def subset(res: SearchSpaceResults, keep: Any) -> SearchSpaceResults:
    """The results of the candidates selected by the boolean mask or index array ``keep``."""
    idx = np.arange(len(res.archs))[np.asarray(keep)]
    if len(idx) < 2:
        raise ValueError("keep must select at least two candidates")
    return res._replace(archs=[res.archs[i] for i in idx], labels=[res.labels[i] for i in idx],
                        kind=res.kind[idx], test_acc=res.test_acc[idx], train_loss=res.train_loss[idx],
                        trainable=res.trainable[idx], ntk0=res.ntk0[idx],
                        proxies={k: v[idx] for k, v in res.proxies.items()})
