"""Tests for lecture_lib.lectures.architecture_search_pruning (experiments of notebook 09).

Everything runs at a tiny size (a handful of candidates, a few SGD steps, small probe batches);
the figures are drawn off-screen.
"""
from __future__ import annotations

import jax
import matplotlib
import numpy as np
import pytest

from lecture_lib import proxies, pruning, supernet
from lecture_lib.lectures import architecture_search_pruning as lec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ARCHS = [supernet.Arch("mlp", 1, 32, "relu"), supernet.Arch("mlp", 3, 32, "tanh", True, 2.0),
         supernet.Arch("mlp", 6, 32, "relu", False, 0.5), supernet.Arch("cnn", 1, 8, "relu")]


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(-1, keepdims=True)
    return float(-np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(-1))))


@pytest.fixture(scope="module")
def ds():
    return lec.digits_task(1, n_train=64, n_val=32, n_test=64)


@pytest.fixture(scope="module")
def res(ds):
    return lec.evaluate_search_space(ds, ARCHS, seed=1, epochs=5, n_probe=16, nngp_samples=2,
                                     progress=False)


def test_digits_task_split(ds):
    assert ds.x_train.shape == (64, 64) and ds.x_val.shape == (32, 64) and ds.x_test.shape == (64, 64)
    assert ds.x_train.dtype == np.float32 and set(np.unique(ds.y_train)) == set(range(10))
    np.testing.assert_allclose(ds.x_train.mean(0), 0.0, atol=1e-5)        # standardised on train
    assert lec.Digits.images(ds.x_test).shape == (64, 8, 8, 1)
    few = lec.digits_task(0, n_train=20, n_val=0, n_test=10, classes=[3, 7])
    assert set(np.unique(few.y_train)) == {3, 7} and len(few.x_val) == 0
    with pytest.raises(ValueError, match="n_train"):
        lec.digits_task(0, n_train=0)


def test_search_space_covers_the_axes():
    archs = lec.search_space()
    assert 30 <= len(archs) <= 60 and len({a.label for a in archs}) == len(archs)
    assert {a.kind for a in archs} == {"mlp", "cnn"}
    assert {a.activation for a in archs} == {"relu", "tanh"}
    assert {a.skip for a in archs} == {False, True}
    assert len({a.depth for a in archs}) >= 3 and len({a.width for a in archs}) >= 2
    assert {a.init_scale for a in archs} == {0.5, 1.0, 2.0}
    nets = lec.supernets()
    for a in archs:                      # every candidate fits its supernet
        nets[a.kind].gates(a)


def test_ensemble_trainer_trains_each_member_on_its_data(ds):
    net = lec.supernets()["mlp"]
    params = net.init_many(0, ARCHS[:3])
    tr = lec.EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=0.1, batch_size=32, chunk=2)
    assert lec.EnsembleTrainer.cached(net.apply, optimizer="sgd", lr=0.1, batch_size=32, chunk=2) is tr
    assert tr.steps_per_epoch(64) == 2
    p0, p4 = tr.fit(params, ds.x_train, ds.y_train, [0, 4], seed=0)
    np.testing.assert_array_equal(p0["w"]["out"], params["w"]["out"])     # checkpoint 0 = the start
    before, after = tr.predict(p0, ds.x_train), tr.predict(p4, ds.x_train)
    assert before.shape == (3, 64, 10)
    assert all(_cross_entropy(after[i], ds.y_train) < _cross_entropy(before[i], ds.y_train)
               for i in range(3))
    # per-member data: member 0 on the true labels, the others on labels shifted by one
    y_own = np.stack([ds.y_train, (ds.y_train + 1) % 10, (ds.y_train + 1) % 10])
    x_own = np.stack([ds.x_train] * 3)
    q = tr.fit(params, x_own, y_own, [20], seed=0)[0]
    acc = (np.argmax(tr.predict(q, ds.x_train), -1) == ds.y_train).mean(-1)
    assert acc[0] > acc[1] and acc[0] > acc[2]
    with pytest.raises(ValueError, match="checkpoints"):
        tr.fit(params, ds.x_train, ds.y_train, [4, 2])


def test_evaluate_search_space(res, ds):
    c = len(ARCHS)
    assert res.labels == [a.label for a in ARCHS] and list(res.kind) == ["mlp"] * 3 + ["cnn"]
    assert res.test_acc.shape == res.train_loss.shape == res.trainable.shape == (c,)
    assert set(res.proxies) == set(lec.PROXY_NAMES) and all(v.shape == (c,) for v in res.proxies.values())
    assert res.ntk0.shape == (c, 16, 16) and res.epochs == (1, 3, 5)
    assert res.steps == 5 * res.epoch_steps == 10
    np.testing.assert_array_equal(res.probe_labels, ds.y_train[:16])
    finite = np.isfinite(res.test_acc)
    assert np.all((res.test_acc[finite] >= 0) & (res.test_acc[finite] <= 1))
    # the stored proxies are the library's proxies of the stored kernels
    for i in range(c):
        assert res.proxies["NTK condition number"][i] == pytest.approx(proxies.condition_number(res.ntk0[i]))
        assert res.proxies["LGA at init"][i] == pytest.approx(
            proxies.label_gradient_alignment(res.ntk0[i], res.probe_labels))
    nngp = res.proxies["NNGP val. accuracy"]
    assert np.all((nngp >= 0) & (nngp <= 1))
    # the kernel at init is the NTK of the candidate's own initialisation
    net = lec.supernets()["cnn"]
    p = net.init_many(np.random.default_rng(1), [ARCHS[3]])
    k = proxies.empirical_ntks(net.apply, p, lec.Digits.images(ds.x_train[:16]))[0]
    np.testing.assert_allclose(k, res.ntk0[3], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="n_probe"):
        lec.evaluate_search_space(ds, ARCHS, n_probe=1000, progress=False)


def test_judge_proxies_and_subset(res):
    rep = lec.judge_proxies(res)
    assert rep.names == lec.PROXY_NAMES and rep.tau_all.shape == (len(lec.PROXY_NAMES),)
    assert np.all(np.abs(rep.tau_all[np.isfinite(rep.tau_all)]) <= 1)
    j = lec.PROXY_NAMES.index("NTK condition number")
    assert rep.pick[j] == int(np.argmin(res.proxies["NTK condition number"]))  # lower is better
    j = lec.PROXY_NAMES.index("LGA at init")
    acc = np.where(np.isnan(res.test_acc), -np.inf, res.test_acc)
    assert rep.tau_all[j] == pytest.approx(proxies.kendall_tau(res.proxies["LGA at init"], acc))
    assert rep.best_acc == pytest.approx(np.nanmax(res.test_acc))
    sub = lec.subset(res, [0, 3])
    assert sub.labels == [res.labels[0], res.labels[3]] and sub.ntk0.shape[0] == 2
    top, best = lec.top_k_best(res, "LGA at init", 2)
    assert len(top) == 2 and best == pytest.approx(np.nanmax(res.test_acc[top]))
    with pytest.raises(ValueError, match="keep"):
        lec.subset(res, [0])
    with pytest.raises(ValueError, match="proxy"):
        lec.top_k_best(res, "accuracy", 2)


def test_gate_helpers():
    g = np.zeros((6, 3), np.float32)
    g[0, 2] = 1
    g[1, 1] = 1
    g[2:, 0] = 1
    assert lec.arch_from_gates(g) == "mlp d2: tanh-relu"
    assert lec.describe_gates(g).startswith("tanh > relu > skip")
    np.testing.assert_allclose(lec.layer_stds(g), [1, np.sqrt(2), 1, 1, 1, 1, 1])


def test_prune_search(ds):
    s = lec.prune_search(ds.x_train[:8], ds.y_train[:8], proxy="LGA at init", repeats=1, seed=0)
    assert np.all(s.gates.sum(axis=1) == 1) and s.gates[0, 0] == 0
    assert len(s.history) == len(s.removed) + 1 == len(s.scores) + 1
    # round 1 tries every open op of every layer (2 + 3 * 5 variants), round 2 the two left on
    # layers 2..6 (layer 1 is down to one op): 27 kernels with one repeat
    assert len(s.removed) == 2 and s.n_kernels == 27
    assert np.isfinite(s.scores[0]).sum() == 17 and np.isfinite(s.scores[1]).sum() == 10
    for table, cut, before, after in zip(s.scores, s.removed, s.history[:-1], s.history[1:]):
        for layer, op in cut:    # the removed op is the best-scoring removal of its layer
            o = supernet.OPS.index(op)
            assert before[layer, o] == 1 and after[layer, o] == 0
            assert table[layer, o] == np.nanmax(table[layer])
    with pytest.raises(ValueError, match="proxy"):
        lec.prune_search(ds.x_train[:8], ds.y_train[:8], proxy="NNGP val. accuracy")


@pytest.fixture(scope="module")
def zoo_and_sel():
    task = lec.transfer_task(0, n_small=32, n_source=64, n_test=64)
    zoo = lec.pretrain_zoo(task, 0, epochs=(1, 3))
    sel = lec.select_for_finetuning(zoo, task.target, finetune_epochs=2, rows=64, seed=0)
    return task, zoo, sel


def test_transfer_task_and_zoo(zoo_and_sel):
    task, zoo, sel = zoo_and_sel
    assert task.x_sources.shape == (len(lec.SOURCES), 64, 64) and task.y_sources.shape == (len(lec.SOURCES), 64)
    assert set(np.unique(task.target.y_train)) == set(range(5, 10)) and len(task.target.x_train) == 32
    # the small target sample is disjoint from the source images of digits 5-9
    t = {r.tobytes() for r in task.target.x_train}
    assert not t & {r.tobytes() for r in task.x_sources[0]}
    assert len(zoo.names) == 1 + 2 * len(lec.SOURCES) and zoo.source[0] == "none"
    np.testing.assert_array_equal(zoo.epochs, [0] + [1] * 6 + [3] * 6)
    w = np.asarray(zoo.params["w"]["first"])
    assert np.all(np.abs(w[1] - w[0]).sum() > 0) and not np.allclose(w[1], w[7])   # trained, and longer
    assert sel.lga.shape == sel.acc.shape == (13,) and np.all(np.abs(sel.lga) <= 1)
    assert sel.pick == int(np.argmax(sel.lga)) and sel.best == int(np.nanargmax(sel.acc))
    assert sel.tau == pytest.approx(proxies.kendall_tau(sel.lga, sel.acc))
    with pytest.raises(ValueError, match="rows"):
        lec.select_for_finetuning(zoo, task.target, rows=48)


def test_random_pruning_ntk_rescaling(ds):
    rp = lec.random_pruning_ntk(ds.x_train[:8], [1.0, 0.25], width=128, depth=2, seeds=2)
    assert rp.error.shape == rp.scale.shape == (2, 2, 2) and rp.example.shape == (2, 2, 8, 8)
    np.testing.assert_allclose(rp.error[0, 0], rp.error[1, 0])     # p = 1: nothing pruned, nothing rescaled
    # unrescaled pruning shrinks the NTK (each of the 3 weight layers' variance by p); rescaling keeps it
    assert np.all(rp.scale[0, 1] < 0.25) and np.all(np.abs(np.log(rp.scale[1, 1])) < np.log(1.5))
    assert np.all(rp.error[1, 1] < rp.error[0, 1])


def test_pruning_comparison(ds):
    pc = lec.pruning_comparison(ds, [0.2, 0.5], width=16, seed=0, n_transfer=16, ntt_steps=10,
                                epochs=2)
    assert pc.methods == lec.PRUNING_METHODS and pc.acc.shape == (4, 2)
    assert np.all((pc.acc >= 0) & (pc.acc <= 1)) and 0 <= pc.dense_acc <= 1
    assert pc.ntt.kernel_distance.shape[1] == 2
    for j, p in enumerate(pc.densities):   # NTT's masks have the requested density
        mj = jax.tree_util.tree_map(lambda a, j=j: np.asarray(a[j]), pc.ntt.masks)
        assert pruning.mask_density(mj) == pytest.approx(p, abs=0.02)


def test_figures(res, zoo_and_sel, ds):
    rep = lec.judge_proxies(res)
    fig, update = lec.proxy_explorer(res, rep, proxy="LGA at init", k=2)
    for name in lec.PROXY_NAMES:
        update(k=3, proxy=name)
    assert "Kendall tau" in fig.axes[0].get_title()
    plt.close(fig)
    fig, ax = plt.subplots()
    lec.plot_taus(ax, rep)
    assert ax.get_xlabel() and ax.get_title()
    plt.close(fig)
    task, zoo, sel = zoo_and_sel
    fig, ax = plt.subplots()
    lec.plot_selection(ax, sel, zoo)
    assert "Kendall tau" in ax.get_title()
    plt.close(fig)
    rp = lec.random_pruning_ntk(ds.x_train[:4], [1.0, 0.5], width=16, seeds=1)
    fig, axes = plt.subplots(1, 2)
    lec.plot_random_pruning(axes, rp)
    assert all(a.get_title() for a in axes)
    plt.close(fig)
    pc = lec.PruningComparison(np.array([0.1, 0.5]), lec.PRUNING_METHODS,
                               np.array([[0.2, 0.5], [0.6, 0.8], [0.3, np.nan], [0.7, 0.8]]), 0.9, None, 3)
    fig, update = lec.pruning_explorer(pc)
    update(0.5)
    assert "50%" in fig.axes[0].get_title()
    assert fig.axes[0].texts[2].get_text() == "diverged"
    update(0.1)
    assert fig.axes[0].patches[1].get_height() == pytest.approx(0.6)
    plt.close(fig)
