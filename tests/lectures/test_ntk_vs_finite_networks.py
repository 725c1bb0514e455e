"""Tests for lecture_lib.comparison (notebook 04: finite vs infinite networks)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.svm import SVC

from lecture_lib import data, kernels, krr, metrics, train
from lecture_lib.lectures import ntk_vs_finite_networks as lec


# --------------------------------------------------------------------------- #
# timing and scaling helpers
# --------------------------------------------------------------------------- #


def test_power_law_fits_and_crossover_recover_power_laws():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    assert metrics.power_law_fit(n, 3e-7 * n**2)[0] == pytest.approx(2.0)
    t = 1e-3 * n**2
    t[0] = 200.0  # an overhead-dominated first point spoils a full fit ...
    assert metrics.power_law_fit(n, t)[0] < 1.5
    assert metrics.power_law_fit(n, t, last=3)[0] == pytest.approx(2.0)  # ... not the last three
    # 1e-3 n^2 = 1e-6 n^3  <=>  n = 1000
    assert lec.crossover(n, 1e-3 * n**2, 1e-6 * n**3) == pytest.approx(1000.0)
    assert lec.crossover(n, n**2, 2 * n**2) == float("inf")
    m = np.array([10.0, 20.0, 40.0])  # t_b measured at other sizes
    assert lec.crossover(n, 1e-3 * n**2, 1e-6 * m**3, n_b=m) == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="positive"):
        metrics.power_law_fit(n, -n)
    with pytest.raises(ValueError, match="same shape"):
        metrics.power_law_fit(n, n[:2])


def test_gap_covariance_bytes():
    assert lec.gap_covariance_bytes(10, 20, 64, itemsize=4) == 10 * 20 * 64**2 * 4
    with pytest.raises(ValueError, match="spatial"):
        lec.gap_covariance_bytes(10, 10, 0)
    with pytest.raises(TypeError, match="n1"):
        lec.gap_covariance_bytes(1.5, 10, 4)


def test_kernel_memory_grows_quadratically_unless_batched():
    kernel_fn = kernels.conv(depth=1, channels=4, filter_shape=(2, 2), pooling="global_avg")[2]
    x = np.random.default_rng(0).standard_normal((16, 4, 4, 1))
    m8, m16 = lec.kernel_memory(kernel_fn, x[:8]), lec.kernel_memory(kernel_fn, x)
    assert 3.0 < m16.temp / m8.temp < 5.0  # ~ n^2 (HW)^2 intermediates
    assert m16.output == 16 * 16 * 4
    b8 = lec.kernel_memory(kernel_fn, x[:8], batch_size=4)
    b16 = lec.kernel_memory(kernel_fn, x, batch_size=4)
    assert b8.temp == b16.temp < m8.temp  # one block, whatever n
    with pytest.raises(ValueError, match="get"):
        lec.kernel_memory(kernel_fn, x, get="foo")


def test_cost_scaling_returns_consistent_timings():
    kernel_fn = kernels.fc(depth=1)[2]
    x = np.random.default_rng(0).standard_normal((40, 5))
    out = lec.cost_scaling(kernel_fn, x, [20, 40], repeats=1, progress=False)
    assert out.n.tolist() == [20, 40]
    assert np.all(out.kernel_s > 0) and np.all(out.solve_s > 0)
    np.testing.assert_allclose(out.total_s, out.kernel_s + out.solve_s)
    no_solve = lec.cost_scaling(kernel_fn, x, [20], repeats=1, solve=False, progress=False)
    assert np.isnan(no_solve.solve_s[0]) and no_solve.total_s[0] == no_solve.kernel_s[0]
    with pytest.raises(ValueError, match="increasing"):
        lec.cost_scaling(kernel_fn, x, [40, 20], progress=False)
    with pytest.raises(ValueError, match="x_pool"):
        lec.cost_scaling(kernel_fn, x, [20, 80], progress=False)


# --------------------------------------------------------------------------- #
# gradient descent, ensembles, linearisation
# --------------------------------------------------------------------------- #
def _linear_model():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 3))
    y = rng.standard_normal((12, 2))
    w0 = 0.1 * rng.standard_normal((3, 2))
    return x, y, w0


def test_linearization_gap_zero_for_linear_model_and_positive_otherwise():
    x, y, w0 = _linear_model()
    steps = [0, 1, 10, 50]
    lin = lec.linearization_gap(lambda w, a: a @ w, jnp.asarray(w0), x, y, x, 0.3, steps)
    assert np.isnan(lin.gap[0]) and np.all(lin.gap[1:] < 1e-5)
    np.testing.assert_allclose(lin.loss_net, lin.loss_lin, rtol=1e-5)
    gaps = {}
    for width in (16, 512):
        init_fn, apply_fn, kernel_fn = kernels.fc(depth=1, width=width, out_dim=2)
        lr = 0.5 * train.max_stable_lr(kernels.analytic_kernel(kernel_fn, x))
        p = init_fn(jax.random.PRNGKey(0), (-1, 3))[1]
        r = lec.linearization_gap(apply_fn, p, x, y, x, lr, steps)
        assert np.all(np.diff(r.loss_lin) < 0)  # stable lr: the linear model descends
        gaps[width] = r.gap[1:]
    assert np.all(gaps[16] > 1e-2)  # a narrow network is visibly non-linear ...
    assert np.all(gaps[512] < 0.5 * gaps[16])  # ... a wide one much less


def test_width_sweep_gap_shrinks_with_width():
    rng = np.random.default_rng(0)
    x, x_te = rng.standard_normal((24, 5)), rng.standard_normal((10, 5))
    y = np.eye(3)[rng.integers(0, 3, 24)]
    y_te = np.eye(3)[rng.integers(0, 3, 10)]
    out = lec.width_sweep([8, 2048], x, y, x_te, y_te, n_ensemble=2, lr=1.0, steps=20,
                          progress=False)
    assert out.pred_test.shape == (2, 2, 10, 3) and out.gap.shape == (2, 2)
    assert out.gap[1].max() < 0.5 * out.gap[0].min()  # ~ width^-1/2: 16x smaller width
    k = kernels.analytic_kernel(kernels.fc(depth=1, b_std=0.1, out_dim=3)[2],
                                np.concatenate([x, x_te]), dtype="float64")
    ref = krr.fit_predict(k[:24, :24], y, k[24:, :24])
    np.testing.assert_allclose(out.ntk_krr_test, ref, rtol=1e-6, atol=1e-8)
    assert 0.0 <= out.ntk_krr_acc <= 1.0 and out.test_acc.shape == (2, 2)
    with pytest.raises(ValueError, match="y_train"):
        lec.width_sweep([8], x, y[:, 0], x_te, y_te, progress=False)


# --------------------------------------------------------------------------- #
# small-data comparison
# --------------------------------------------------------------------------- #
def _blobs(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    x = rng.standard_normal((n, d)) + 2.0 * np.eye(3, d)[y]
    return x, y


def test_pooled_and_format_table():
    from lecture_lib.data import Dataset

    ds = Dataset(np.array([[1.0, 2.0], [3.0, 2.0]]), np.array([0, 1]),
                 np.array([[5.0, 2.0]]), np.array([1]))
    x, y = data.pooled(ds)
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 1]
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x[:, 0].std(), 1.0)
    assert np.all(x[:, 1] == 0.0)  # constant feature: centred, not divided by 0
    with pytest.raises(TypeError, match="ds"):
        data.pooled(np.zeros(3))
    table = lec.format_table({"iris": {"A": [0.9, 0.8], "B": [0.95, 0.95]}})
    assert "**0.950 ± 0.000**" in table and "0.850 ± 0.050" in table
    with pytest.raises(ValueError, match="scores"):
        lec.format_table({})


def test_ridge_cholesky_solve_matches_krr_fit():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 5))
    k, y = a @ a.T, rng.standard_normal(30)
    ref = krr.fit(k, y, reg=1e-3)
    np.testing.assert_allclose(lec._ridge_cholesky_solve(k.copy(), y, 1e-3), ref, rtol=1e-8)


# --------------------------------------------------------------------------- #
# counted costs, the input-linear model (Hu et al.), paired comparisons
# --------------------------------------------------------------------------- #
def test_cost_counts_kernel_work_is_quadratic_and_solve_closed_form():
    kernel_fn = kernels.fc(depth=1)[2]
    x = np.random.default_rng(0).standard_normal((80, 5))
    c = lec.cost_counts(kernel_fn, x, [20, 40, 80])
    assert np.all(c.kernel_flops > 0)
    assert metrics.power_law_fit(c.n, c.kernel_flops)[0] == pytest.approx(2.0, abs=0.05)
    assert c.solve_flops[0] == pytest.approx(20**3 / 3 + 2 * 20**2)
    assert lec.cholesky_solve_flops(10, k=3) == pytest.approx(1000 / 3 + 600)
    with pytest.raises(ValueError, match="x_pool"):
        lec.cost_counts(kernel_fn, x, [20, 160])
    with pytest.raises(ValueError, match="n"):
        lec.cholesky_solve_flops(0)


def test_input_linear_kernel_recovers_an_affine_kernel_and_validates():
    x = np.random.default_rng(1).standard_normal((30, 4))
    k = 0.7 + 2.5 * x @ x.T / 4
    c0, c1 = lec.input_linear_kernel(k, x)
    assert (c0, c1) == (pytest.approx(0.7), pytest.approx(2.5))
    with pytest.raises(ValueError, match="k_train"):
        lec.input_linear_kernel(k[:5, :5], x)


def test_input_linear_gap_vanishes_for_a_linear_network_with_that_kernel():
    # a linear model on [1, x/sqrt(d)] *is* the input-linear model with c0 = c1 = 1 (its tangent
    # kernel is 1 + x.x'/d): trained by GD it must be matched exactly
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    feats = lambda a: jnp.concatenate([jnp.ones((a.shape[0], 1)), a / jnp.sqrt(3.0)], axis=1)
    apply_fn = lambda w, a: feats(a) @ w
    w0 = jnp.asarray(0.1 * rng.standard_normal((4, 2)))
    r = lec.linearization_gap(apply_fn, w0, x, y, x, 0.5, [0, 1, 5, 20])
    g = lec.input_linear_gap(r, x, y, x, 1.0, 1.0, 0.5)
    assert np.isnan(g[0]) and np.all(g[1:] < 1e-4)
    assert np.all(lec.input_linear_gap(r, x, y, x, 1.0, 3.0, 0.5)[1:] > 1e-2)  # wrong kernel: a gap


def test_paired_differences_pair_folds_and_validate():
    scores = {"a": {"m": [0.9, 0.8], "n": [0.7, 0.8]}, "b": {"m": [0.5, 0.6], "n": [0.6, 0.6]}}
    d = lec.paired_differences(scores, "m")
    np.testing.assert_allclose(d["n"], [0.2, 0.0, -0.1, 0.0])
    with pytest.raises(ValueError, match="model"):
        lec.paired_differences(scores, "zz")


# --------------------------------------------------------------------------- #
# few-shot: CNTK vs a trained CNN
# --------------------------------------------------------------------------- #
def test_few_shot_draws_are_balanced_seeded_and_checked():
    y = np.repeat(np.arange(3), 5)
    draws = lec.few_shot_draws(y, [1, 3], n_draws=4, seed=2)
    assert [d.shape for d in draws] == [(4, 3), (4, 9)]
    for d in draws[1]:
        assert len(set(d)) == 9 and np.array_equal(np.bincount(y[d], minlength=3), [3, 3, 3])
    again = lec.few_shot_draws(y, [1, 3], n_draws=4, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    assert not np.array_equal(lec.few_shot_draws(y, [3], 4, seed=3)[0], draws[1])
    with pytest.raises(ValueError, match="shots"):
        lec.few_shot_draws(y, [6], 2)


def test_few_shot_pairs_kernel_and_network_on_the_same_draws():
    ds = data.digits(n_train=40, n_test=30, image=True, standardize="pixel", seed=0, classes=(0, 1))
    x = ds.x_train.reshape(len(ds.x_train), -1)
    xt = ds.x_test.reshape(len(ds.x_test), -1)
    k, kt = kernels.rbf_kernel(1.0 / 64)(x, x), kernels.rbf_kernel(1.0 / 64)(xt, x)
    init, apply, _ = kernels.small_cnn((2,), hidden=8, classes=2)
    out = lec.few_shot(k, kt, ds.x_train, ds.y_train, ds.x_test, ds.y_test, init, apply,
                       [1, 4], n_draws=2, seed=0, lr=0.05, steps=60, progress=False)
    assert out.shots.tolist() == [1, 4]
    assert out.kernel_acc.shape == out.net_acc.shape == out.net_train_acc.shape == (2, 2)
    # the kernel column is kernel regression on exactly that draw
    ix = out.indices[1][0]
    pred = krr.fit_predict(k[np.ix_(ix, ix)], np.eye(2)[ds.y_train[ix]], kt[:, ix], reg=1e-4)
    assert out.kernel_acc[1, 0] == pytest.approx(metrics.accuracy(pred, ds.y_test))
    assert np.all(out.net_train_acc[1] == 1.0)      # 8 images are fitted by Adam
    assert np.all(out.kernel_acc[1] > 0.6) and np.all(out.net_acc[1] > 0.6)  # 0 vs 1 is easy
    with pytest.raises(ValueError, match="k_pool"):
        lec.few_shot(k[:5], kt, ds.x_train, ds.y_train, ds.x_test, ds.y_test, init, apply, [1])
