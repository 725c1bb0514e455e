"""Tests for lecture_lib.lectures.robust_features (notebook 07), at toy sizes."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_lib import kernels, krr, spectral  # noqa: E402
from lecture_lib.lectures import robust_features as lec  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return lec.digits_flat(80, 40, seed=1)


def test_digits_flat(tiny):
    assert tiny.x_train.shape == (80, 64) and tiny.x_test.shape == (40, 64)
    assert tiny.x_train.min() >= lec.CLIP[0] and tiny.x_train.max() <= lec.CLIP[1]
    assert tiny.y_train.dtype == np.int32


def test_non_robust_dataset_toy(tiny):
    res = lec.non_robust_dataset(tiny, eps=1.0, attack_steps=5, width=16, steps=20, seed=0)
    assert res.x_adv.shape == tiny.x_train.shape
    np.testing.assert_array_equal(res.target, (tiny.y_train + 1) % 10)
    norms = np.linalg.norm(res.x_adv - tiny.x_train, axis=1)
    assert norms.max() <= 1.0 + 1e-4
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    for v in (res.source_acc, res.fooled, res.acc_non_robust, res.acc_control):
        assert 0 <= v <= 1
    fig, axes = plt.subplots(2, 3)
    lec.plot_non_robust(axes, res, n=3)
    plt.close(fig)
    with pytest.raises(ValueError, match="eps"):
        lec.non_robust_dataset(tiny, eps=0.0)


def test_eigen_feature_robustness_toy():
    res = lec.eigen_feature_robustness([(3, 8)], n_train=30, n_test=20, n_top=5, n_tail=3,
                                       k_values=(1, 2, 5), attack_steps=3, restarts=1)
    n = 30
    assert res.index[0] == 0 and res.index[-1] == n - 1
    assert res.clean.shape == res.robust.shape == (1, len(res.index))
    assert np.all(res.robust <= res.clean + 1e-12)
    assert list(res.k) == [1, 2, 5, n]
    # the sum of all eigen-features is the NTK predictor itself
    assert res.cum_clean[0, -1] == pytest.approx(res.full_clean[0])
    top, late, n_top, n_late = lec.top_vs_late(res, useful=0.5, top=2, late=3)
    assert n_top >= 0 and n_late >= 0
    fig, (a1, a2) = plt.subplots(1, 2)
    sc = lec.plot_usefulness_robustness(a1, res, 0)
    assert sc.get_offsets().shape == (len(res.index), 2)
    lines = lec.plot_cumulative(a2, res, 0)
    assert len(lines) == 2
    plt.close(fig)


def test_top_vs_late_excludes_useless_features():
    res = lec.EigenFeatures([(0, 1)], 0.1, np.array([0, 1, 2, 10, 20]), np.ones((1, 5)),
                            np.array([[0.5, 0.9, 0.55, 0.7, 0.8]]),
                            np.array([[0.5, 0.81, 0.5, 0.07, 0.0]]), np.array([5]),
                            np.ones((1, 1)), np.ones((1, 1)), np.ones(1))
    top, late, n_top, n_late = lec.top_vs_late(res, useful=0.6, top=3, late=10)
    assert (n_top, n_late) == (1, 2)                 # features 0 and 2 are not useful
    assert top == pytest.approx(0.9)
    assert late == pytest.approx(np.mean([0.1, 0.0]))
    with pytest.raises(ValueError, match="useful"):
        lec.top_vs_late(res, useful=0.3)


def test_stacked_predictor_scores_each_copy_with_its_own_feature():
    ds = lec.digits_flat(30, 10, seed=0, classes=(1, 7))
    from lecture_lib import attacks, data
    b = data.binary_task(ds, 1, 7)
    kfn = kernels.fc(2)[2]
    k = kernels.analytic_kernel(kfn, b.x_train, dtype="float64")
    kx = kernels.analytic_kernel(kfn, b.x_test, b.x_train, dtype="float64")
    _, alphas = spectral.eigen_feature_coefficients(k, b.y_train, 1e-6)
    feats = spectral.eigen_features(kx, k, b.y_train, 1e-6)
    sel = [0, 3]
    model = attacks.Predictor(lec.stacked_apply(kfn), (b.x_train, np.repeat(alphas[sel], 10, axis=0)),
                              "float64")
    out = attacks.predict(model, np.tile(b.x_test, (2, 1)))
    np.testing.assert_allclose(out.reshape(2, 10), feats[:, sel].T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(feats.sum(1), krr.fit_predict(k, b.y_train, kx, 1e-6), atol=1e-8)


def test_adversarial_kip_toy(tiny):
    res = lec.adversarial_kip(tiny, per_class=1, kip_steps=3, target_batch=20, attack_steps=2,
                              eval_steps=2, width=16, net_steps=5, at_steps=3)
    assert res.names == ["random real", "KIP", "adv-KIP"]
    for arr in (res.kernel_clean, res.kernel_robust, res.net_clean, res.net_robust):
        assert arr.shape == (3,) and np.all((arr >= 0) & (arr <= 1))
    assert np.all(res.kernel_robust <= res.kernel_clean + 1e-12)
    assert res.at_clean.shape == (2,)
    assert res.support[0][0].shape == (10, 64)
    # the two KIP runs start from the same support but the adversarial one sees other targets
    assert not np.allclose(res.support[1][0], res.support[2][0])
    fig, ax = plt.subplots()
    lec.plot_adv_kip(ax, res)
    plt.close(fig)


def test_ntga_experiment_toy(tiny):
    res = lec.ntga_experiment(tiny, n_val=20, eps=0.1, attack_steps=2, width=16, steps=5)
    assert res.names == ["clean", "noise", "NTGA"]
    assert res.x_poison.shape == res.x_clean.shape == (60, 64)
    assert np.abs(res.x_poison - res.x_clean).max() <= 0.1 + 1e-9
    assert np.abs(res.x_noise - res.x_clean).max() <= 0.1 + 1e-9
    assert res.test_acc.shape == res.kernel_acc.shape == (3,)
    fig, ax = plt.subplots()
    lec.plot_ntga(ax, res)
    plt.close(fig)
    with pytest.raises(ValueError, match="n_val"):
        lec.ntga_experiment(tiny, n_val=0)


def test_train_many_matches_train_fit(tiny):
    """One vmapped call of the GD core trains the same networks as separate train.fit runs."""
    from lecture_lib import attacks, train
    import jax
    x = np.asarray(tiny.x_train, np.float32)
    xs = np.stack([x, x[::-1].copy()])
    ys = np.stack([tiny.y_train, tiny.y_train[::-1].copy()])
    nets = lec.train_many(xs, ys, seed=3, width=16, steps=7)
    init, apply, _ = lec.mlp(16)
    assert nets[0].apply_fn is apply                      # one apply_fn: attacks compile once
    p0 = init(jax.random.PRNGKey(3), (1, 64))[1]
    for i in range(2):
        tr = train.fit(apply, p0, xs[i], ys[i], loss="cross_entropy", optimizer="adam", lr=3e-3,
                       steps=7, record_every=7, progress=False)
        np.testing.assert_allclose(attacks.predict(nets[i], x[:5]),
                                   attacks.predict(attacks.Predictor(apply, tr.params), x[:5]),
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="ys"):
        lec.train_many(xs, ys[:, :5])
