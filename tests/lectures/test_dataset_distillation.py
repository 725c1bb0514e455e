"""Tests for lecture_lib.lectures.dataset_distillation (experiments of notebook 05), at tiny sizes."""
from __future__ import annotations

import jax
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lecture_lib import data, distill  # noqa: E402
from lecture_lib.lectures import dataset_distillation as lec  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return lec.digits_task(seed=0, n_test=100)


def test_digits_task_and_mosaic(task):
    assert task.x_train.shape == (1697, 64) and task.y_train.shape == (1697, 10)
    np.testing.assert_allclose(task.y_train.sum(axis=1), 0.0, atol=1e-12)      # centred one-hot
    np.testing.assert_array_equal(task.y_train.argmax(1), task.labels_train)
    assert abs(task.x_train.mean()) < 1e-6 and task.x_train.std() == pytest.approx(1.0, rel=1e-6)
    m = lec.mosaic(task.x_train[:12], ncols=5)
    assert m.shape == (3 * 9 - 1, 5 * 9 - 1)
    np.testing.assert_allclose(m[:8, :8], task.x_train[0].reshape(8, 8))
    assert np.isnan(m[8, 0]) and np.isnan(m[-1, -1])   # padding and the empty slots


def test_param_pool_has_the_structure_of_init_fn():
    init_fn, _ = lec.mlp(16)
    ref = init_fn(jax.random.PRNGKey(0), (-1, 64))[1]
    pool = lec.param_pool(16, 5, seed=1)
    for a, b in zip(jax.tree_util.tree_leaves(pool), jax.tree_util.tree_leaves(ref)):
        assert a.shape == (5,) + b.shape
    leaves = np.concatenate([np.ravel(a) for a in jax.tree_util.tree_leaves(lec.param_pool(64, 20, seed=2))])
    assert abs(leaves.mean()) < 0.02 and leaves.std() == pytest.approx(1.0, rel=0.02)


def test_train_on_sets_and_random_real_sets(task):
    sets = lec.random_real_sets(task, 1, 3, seed=0)
    assert [len(s.x) for s in sets] == [10] * 3 and all(sorted(s.labels) == list(range(10)) for s in sets)
    acc = lec.train_on_sets(task, sets, members=2, steps=30, width=32)
    assert acc.shape == (3, 2) and np.all((acc >= 0) & (acc <= 1)) and acc.mean() > 0.2
    with pytest.raises(ValueError, match="same size"):
        lec.train_on_sets(task, sets[:1] + lec.random_real_sets(task, 2, 1))


def test_wang_distillation_fixed_and_random(task):
    for fixed in (False, True):
        w = lec.wang_distillation(task, fixed_init=fixed, steps=20, width=32, seed=0)
        s = w.synthetic
        assert s.x.shape == (10, 64) and s.loss.shape == (20,) and np.isfinite(s.loss).all() and s.lr > 0
        assert (w.params0 is not None) == fixed
        assert s.loss[-5:].mean() < s.loss[:5].mean()
    acc = lec.one_step_accuracy(task, s, lec.param_pool(32, 3, seed=4))
    assert acc.shape == (3,)
    assert -1 <= lec.template_similarity(task, s) <= 1


def test_maml_gradient_matching_and_trajectory_matching_run(task):
    m = lec.maml(task, meta_steps=5, tasks_per_step=2, queries=4, test_tasks=10, width=16)
    assert m.loss.shape == (5,) and m.acc_maml.shape == (10,) and m.acc_init.shape == (10,)
    assert np.isfinite(m.loss).all()
    with pytest.raises(ValueError, match="smallest class"):   # 100 test images: 10 per class < 5 + 10
        lec.maml(task, meta_steps=2, tasks_per_step=2, test_tasks=2, width=16)
    gm = lec.gradient_matching(task, ipc=1, iterations=3, outer_loop=2, inner_loop=2, width=16)
    assert gm.x.shape == (10, 64) and np.isfinite(gm.x).all() and np.isfinite(gm.loss).all()
    hist = lec.expert_trajectories(task, experts=2, epochs=4, steps_per_epoch=2, width=16)
    assert jax.tree_util.tree_leaves(hist)[0].shape[:2] == (2, 5)
    tm = lec.trajectory_matching(task, hist, ipc=1, iterations=4, syn_steps=2, expert_epochs=1, max_start_epoch=3,
                                 width=16)
    assert tm.x.shape == (10, 64) and tm.lr > 0 and np.isfinite(tm.loss).all()
    with pytest.raises(ValueError, match="epochs"):
        lec.trajectory_matching(task, hist, max_start_epoch=5, expert_epochs=2, width=16)


def test_run_kip_random_subsets_and_transfer(task):
    kfn = lec.kip_kernel()
    r = lec.run_kip(task, 1, kernel_fn=kfn, steps=10, target_batch=64, record_every=5, progress=False)
    assert r.x.shape == (10, 64) and r.test_acc.shape == (3,) and r.finite.all()
    np.testing.assert_array_equal(r.x_init, task.x_train[distill.class_balanced_indices(task.labels_train, 1, seed=0)])
    from lecture_lib import kernels
    idx = np.arange(300)
    sub = task._replace(x_train=task.x_train[idx], y_train=task.y_train[idx], labels_train=task.labels_train[idx])
    k = kernels.analytic_kernel(kfn, sub.x_train, dtype="float64")
    kx = kernels.analytic_kernel(kfn, sub.x_test, sub.x_train, dtype="float64")
    acc = lec.random_subset_accuracy(sub, 2, 4, k, kx)
    assert acc.shape == (4,) and acc.mean() > 0.3
    tr = lec.transfer_to_networks(task, {"kip": (r.x, r.y), "init": (r.x_init, r.y_init)}, kernel_fn=kfn,
                                  width=64, members=2, steps=20)
    assert tr.acc_standard.shape == (2, 2) and tr.gap_centred.shape == (2, 2) and tr.acc_kernel.shape == (2,)
    assert np.all(tr.gap_centred < tr.gap_standard)   # f0 is not small, whatever the width


def test_centring_trick_matches_the_centred_model(task):
    """transfer_to_networks trains the plain net on y + f0(X); that is the centred model f - f0 of train."""
    from lecture_lib import train
    init_fn, apply_fn = lec.mlp(32)
    p0 = init_fn(jax.random.PRNGKey(0), (-1, 64))[1]
    x, y = task.x_train[:20].astype(np.float32), task.y_train[:20].astype(np.float32)
    a = train.fit(apply_fn, p0, x, y, lr=0.5, steps=5, centred=True, x_test=task.x_test[:7].astype(np.float32),
                  record_outputs=True, record_steps=[5], progress=False)
    f0 = lambda z: np.asarray(apply_fn(p0, z))  # noqa: E731
    b = train.fit(apply_fn, p0, x, y + f0(x), lr=0.5, steps=5, x_test=task.x_test[:7].astype(np.float32),
                  record_outputs=True, record_steps=[5], progress=False)
    np.testing.assert_allclose(a.test_outputs[-1], b.test_outputs[-1] - f0(task.x_test[:7].astype(np.float32)),
                               rtol=1e-4, atol=1e-5)


def test_validate_mle_and_dataset_dimensions():
    v = lec.validate_mle(dims=(2, 3), ks=(3, 10), n=300, ambient=10)
    assert v.gaussian.shape == (2, 2) and v.sphere.shape == (2, 2) and v.gaussian_mean.shape == (2, 2)
    assert np.all(np.abs(v.gaussian / v.dims[:, None] - 1) < 0.25)
    x = np.random.default_rng(0).standard_normal((50, 4))
    s = lec.shuffle_features(x, seed=1)
    np.testing.assert_allclose(np.sort(s, axis=0), np.sort(x, axis=0))
    assert not np.allclose(s, x)
    flat = np.random.default_rng(1).standard_normal((400, 2)) @ np.random.default_rng(2).standard_normal((2, 12))
    est, ctrl = lec.dataset_dimensions(flat, ks=(5, 10))
    assert np.all(est < 3) and np.all(ctrl > est + 3)


def test_latent_classes_and_learning_curves():
    x, lab = lec.latent_classes(100, 3, seed=0)
    assert x.shape == (100, 64) and set(np.unique(lab)) == {0, 1}
    x2, _ = lec.latent_classes(100, 3, seed=0)
    np.testing.assert_array_equal(x, x2)
    lc = lec.dimension_learning_curves(dims=(1, 8), n_train=(10, 40), kernel_fn=lec.kip_kernel(), n_test=100, repeats=1)
    assert lc.error.shape == (2, 2, 1) and lc.mle.shape == (2,) and lc.mle[0] < lc.mle[1]


def test_mnist1d_signals_small_and_restores_global_rng():
    state = np.random.get_state()[1].copy()
    x, y = lec.mnist1d_signals(100, seed=0)
    assert x.shape == (100, 40) and y.shape == (100,)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_mean_abs_correlation_and_support_geometry(task):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    # rows 0 and 2 identical (corr 1), row 1 anti-correlated with both (|corr| 1)
    assert lec.mean_abs_correlation(a) == pytest.approx(1.0)
    r = lec.run_kip(task, 2, kernel_fn=lec.kip_kernel(), steps=6, target_batch=32, record_every=3, progress=False)
    g = lec.support_geometry(r, ks=(3, 5))
    assert g.corr.shape == (3,) and g.dim.shape == (3, 2) and g.distance[0] == 0
    assert g.corr[0] == g.corr_noise[0] and g.distance[-1] > 0
    with pytest.raises(ValueError, match="x_history"):
        lec.support_geometry(r._replace(x_history=None))


def test_plots_draw_off_screen(task):
    r = lec.run_kip(task, 1, kernel_fn=lec.kip_kernel(), steps=4, record_every=2, progress=False)
    fig, axes = plt.subplots(1, 4)
    lec.plot_kip_curves(axes[0], {(1, False): r}, {1: np.array([0.5, 0.6])})
    lc = lec.LearningCurves(np.array([2, 4]), np.array([10, 20]), np.full((2, 2, 1), 0.3), np.array([2.0, 4.0]))
    lec.plot_learning_curves(axes[1], lc)
    lec.plot_support_geometry(axes[2:], lec.support_geometry(r, ks=(3, 4)), k_index=0)
    assert len(axes[0].lines) >= 2 and len(axes[1].lines) == 2 and len(axes[3].lines) == 2
    plt.close(fig)


def test_paper_scale_kip_runs_on_a_small_stand_in(monkeypatch):
    rng = np.random.default_rng(0)

    def fake_load(name, **kwargs):
        shape = (32, 32, 3) if name == "cifar10" else (28, 28, 1)
        y = np.eye(10)[np.arange(60) % 10]
        return data.Dataset(rng.standard_normal((60,) + shape), y, rng.standard_normal((20,) + shape), y[:20])

    monkeypatch.setattr(data, "load", fake_load)
    out = lec.paper_scale_kip("cifar10", ipcs=(1,), steps=2, target_batch=30, progress=False)
    assert set(out) == {1} and 0 <= out[1] <= 1
    assert lec.PAPER_KIP_FC["cifar10"] == {1: 40.5, 10: 53.1, 50: 58.6}
