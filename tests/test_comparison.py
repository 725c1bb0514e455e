"""Tests for lecture_lib.comparison (notebook 04: finite vs infinite networks)."""
import lecture_lib  # noqa: F401  (before neural_tangents)

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.svm import SVC

from lecture_lib import comparison as cmp
from lecture_lib import kernels, krr


# --------------------------------------------------------------------------- #
# timing and scaling helpers
# --------------------------------------------------------------------------- #
def test_best_time_is_minimum_and_validates():
    calls = []

    def fn():
        calls.append(1)
        return np.zeros(3)

    t = cmp.best_time(fn, repeats=3, warmup=2)
    assert t >= 0 and len(calls) == 5
    with pytest.raises(TypeError, match="fn"):
        cmp.best_time(3)
    with pytest.raises(ValueError, match="repeats"):
        cmp.best_time(fn, repeats=0)


def test_fit_exponent_and_crossover_recover_power_laws():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    assert cmp.fit_exponent(n, 3e-7 * n**2) == pytest.approx(2.0)
    t = 1e-3 * n**2
    t[0] = 200.0  # an overhead-dominated first point spoils a full fit ...
    assert cmp.fit_exponent(n, t) < 1.5
    assert cmp.fit_exponent(n, t, last=3) == pytest.approx(2.0)  # ... not the last three
    # 1e-3 n^2 = 1e-6 n^3  <=>  n = 1000
    assert cmp.crossover(n, 1e-3 * n**2, 1e-6 * n**3) == pytest.approx(1000.0)
    assert cmp.crossover(n, n**2, 2 * n**2) == float("inf")
    m = np.array([10.0, 20.0, 40.0])  # t_b measured at other sizes
    assert cmp.crossover(n, 1e-3 * n**2, 1e-6 * m**3, n_b=m) == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="positive"):
        cmp.fit_exponent(n, -n)
    with pytest.raises(ValueError, match="same number of rows"):
        cmp.fit_exponent(n, n[:2])


def test_gap_covariance_bytes():
    assert cmp.gap_covariance_bytes(10, 20, 64, itemsize=4) == 10 * 20 * 64**2 * 4
    with pytest.raises(ValueError, match="spatial"):
        cmp.gap_covariance_bytes(10, 10, 0)
    with pytest.raises(TypeError, match="n1"):
        cmp.gap_covariance_bytes(1.5, 10, 4)


def test_kernel_memory_grows_quadratically_unless_batched():
    kernel_fn = kernels.conv(depth=1, channels=4, filter_shape=(2, 2), pooling="global_avg")[2]
    x = np.random.default_rng(0).standard_normal((16, 4, 4, 1))
    m8, m16 = cmp.kernel_memory(kernel_fn, x[:8]), cmp.kernel_memory(kernel_fn, x)
    assert 3.0 < m16["temp"] / m8["temp"] < 5.0  # ~ n^2 (HW)^2 intermediates
    assert m16["output"] == 16 * 16 * 4
    b8 = cmp.kernel_memory(kernel_fn, x[:8], batch_size=4)
    b16 = cmp.kernel_memory(kernel_fn, x, batch_size=4)
    assert b8["temp"] == b16["temp"] < m8["temp"]  # one block, whatever n
    with pytest.raises(ValueError, match="get"):
        cmp.kernel_memory(kernel_fn, x, get="foo")


def test_cost_scaling_returns_consistent_timings():
    kernel_fn = kernels.fc(depth=1)[2]
    x = np.random.default_rng(0).standard_normal((40, 5))
    out = cmp.cost_scaling(kernel_fn, x, [20, 40], repeats=1, progress=False)
    assert out["n"].tolist() == [20, 40]
    assert np.all(out["kernel_s"] > 0) and np.all(out["solve_s"] > 0)
    np.testing.assert_allclose(out["total_s"], out["kernel_s"] + out["solve_s"])
    no_solve = cmp.cost_scaling(kernel_fn, x, [20], repeats=1, solve=False, progress=False)
    assert np.isnan(no_solve["solve_s"][0]) and no_solve["total_s"][0] == no_solve["kernel_s"][0]
    with pytest.raises(ValueError, match="increasing"):
        cmp.cost_scaling(kernel_fn, x, [40, 20], progress=False)
    with pytest.raises(ValueError, match="x_pool"):
        cmp.cost_scaling(kernel_fn, x, [20, 80], progress=False)


# --------------------------------------------------------------------------- #
# gradient descent, ensembles, linearisation
# --------------------------------------------------------------------------- #
def _linear_model():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 3))
    y = rng.standard_normal((12, 2))
    w0 = 0.1 * rng.standard_normal((3, 2))
    return x, y, w0


def test_gd_outputs_matches_explicit_gradient_descent():
    x, y, w0 = _linear_model()
    lr, n = 0.3, len(x)
    out = cmp.gd_outputs(lambda w, a: a @ w, jnp.asarray(w0), x, y, x[:5], lr, [0, 1, 7])
    w, ref = w0.copy(), {0: x[:5] @ w0}
    for s in range(1, 8):
        w = w - lr * x.T @ (x @ w - y) / n  # gradient of 1/(2n) ||Xw - y||^2
        ref[s] = x[:5] @ w
    for i, s in enumerate([0, 1, 7]):
        np.testing.assert_allclose(out["eval"][i], ref[s], rtol=1e-5, atol=1e-6)
    # the linear model's NTK is X X^T: the kernel closed form agrees
    dyn = krr.gd_dynamics_discrete(x @ x.T, y, 7, k_test_train=x[:5] @ x.T, lr=lr / n,
                                   f0_train=x @ w0, f0_test=x[:5] @ w0)
    np.testing.assert_allclose(out["eval"][-1], dyn.test, rtol=1e-5, atol=1e-6)


def test_gd_outputs_ensemble_equals_members_and_centring():
    init_fn, apply_fn, _ = kernels.fc(depth=1, width=16, out_dim=2)
    x, y, _ = _linear_model()
    ps = [init_fn(jax.random.PRNGKey(s), (-1, 3))[1] for s in range(2)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *ps)
    ens = cmp.gd_outputs(apply_fn, stacked, x, y, x, 0.5, [0, 5], centred=True, ensemble=True)
    assert ens["eval"].shape == (2, 2, 12, 2)
    np.testing.assert_allclose(ens["eval"][0], 0.0, atol=1e-6)  # centred: f - f0 = 0 at start
    single = cmp.gd_outputs(apply_fn, ps[1], x, y, x, 0.5, [5], centred=True)
    np.testing.assert_allclose(ens["eval"][1, 1], single["eval"][0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(ens["eval"][1, 0], ens["eval"][1, 1])  # members differ
    with pytest.raises(ValueError, match="record_steps"):
        cmp.gd_outputs(apply_fn, ps[0], x, y, x, 0.5, [3, 3])
    with pytest.raises(ValueError, match="lr"):
        cmp.gd_outputs(apply_fn, ps[0], x, y, x, 0.0, [3])
    with pytest.raises(ValueError, match="same number of rows"):
        cmp.gd_outputs(apply_fn, ps[0], x, y[:5], x, 0.5, [3])


def test_linearized_matches_nt_linearize():
    import neural_tangents as nt

    init_fn, apply_fn, _ = kernels.fc(depth=2, width=32, out_dim=3)
    p0 = init_fn(jax.random.PRNGKey(0), (-1, 4))[1]
    p1 = jax.tree.map(lambda a: a + 0.3 * jnp.ones_like(a), p0)
    x = np.random.default_rng(0).standard_normal((6, 4))
    np.testing.assert_allclose(cmp._linearized(apply_fn)(p1, p0, x),
                               nt.linearize(apply_fn, p0)(p1, x), rtol=1e-5, atol=1e-6)


def test_linearization_gap_zero_for_linear_model_and_positive_otherwise():
    x, y, w0 = _linear_model()
    steps = [0, 1, 10, 50]
    lin = cmp.linearization_gap(lambda w, a: a @ w, jnp.asarray(w0), x, y, x, 0.3, steps)
    assert np.isnan(lin["gap"][0]) and np.all(lin["gap"][1:] < 1e-5)
    np.testing.assert_allclose(lin["loss_net"], lin["loss_lin"], rtol=1e-5)
    gaps = {}
    for width in (16, 512):
        init_fn, apply_fn, kernel_fn = kernels.fc(depth=1, width=width, out_dim=2)
        lr = 0.5 * cmp.max_stable_lr(kernels.analytic_kernel(kernel_fn, x))
        p = init_fn(jax.random.PRNGKey(0), (-1, 3))[1]
        r = cmp.linearization_gap(apply_fn, p, x, y, x, lr, steps)
        assert np.all(np.diff(r["loss_lin"]) < 0)  # stable lr: the linear model descends
        gaps[width] = r["gap"][1:]
    assert np.all(gaps[16] > 1e-2)  # a narrow network is visibly non-linear ...
    assert np.all(gaps[512] < 0.5 * gaps[16])  # ... a wide one much less


def test_max_stable_lr():
    k = np.diag([4.0, 1.0, 0.5])
    assert cmp.max_stable_lr(k) == pytest.approx(2 * 3 / 4.0)
    with pytest.raises(ValueError, match="square"):
        cmp.max_stable_lr(np.ones((2, 3)))


def test_relative_gap():
    ref = np.ones((4, 2))
    f = np.stack([ref, 2 * ref])
    np.testing.assert_allclose(cmp.relative_gap(f, ref), [0.0, 1.0])
    with pytest.raises(ValueError, match="f_ref"):
        cmp.relative_gap(f, np.zeros((4, 2)))


def test_width_sweep_gap_shrinks_with_width():
    rng = np.random.default_rng(0)
    x, x_te = rng.standard_normal((24, 5)), rng.standard_normal((10, 5))
    y = np.eye(3)[rng.integers(0, 3, 24)]
    y_te = np.eye(3)[rng.integers(0, 3, 10)]
    out = cmp.width_sweep([8, 2048], x, y, x_te, y_te, n_ensemble=2, lr=1.0, steps=20,
                          progress=False)
    assert out["pred_test"].shape == (2, 2, 10, 3) and out["gap"].shape == (2, 2)
    assert out["gap"][1].max() < 0.5 * out["gap"][0].min()  # ~ width^-1/2: 16x smaller width
    k = kernels.analytic_kernel(kernels.fc(depth=1, b_std=0.1, out_dim=3)[2],
                                np.concatenate([x, x_te]), dtype="float64")
    ref = krr.fit_predict(k[:24, :24], y, k[24:, :24])
    np.testing.assert_allclose(out["ntk_krr_test"], ref, rtol=1e-6, atol=1e-8)
    assert 0.0 <= out["ntk_krr_acc"] <= 1.0 and out["test_acc"].shape == (2, 2)
    with pytest.raises(ValueError, match="y_train"):
        cmp.width_sweep([8], x, y[:, 0], x_te, y_te, progress=False)


# --------------------------------------------------------------------------- #
# small-data comparison
# --------------------------------------------------------------------------- #
def _blobs(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    x = rng.standard_normal((n, d)) + 2.0 * np.eye(3, d)[y]
    return x, y


def test_gram_stack_classifier_equals_sklearn_svc_under_nested_cv():
    x, y = _blobs()
    d = x.shape[1]
    gammas = [0.5, 2.0]
    stack = cmp.gram_stack([cmp.rbf_kernel(g) for g in gammas], x)
    assert stack.shape == (60, 60, 2)
    ours = cmp.nested_cv(cmp.GramStackClassifier(), {"kernel": [0, 1], "C": [0.1, 10.0]},
                         stack, y, n_splits=4, seed=3)
    ref = cmp.nested_cv(SVC(), {"gamma": [g / d for g in gammas], "C": [0.1, 10.0]},
                        x, y, n_splits=4, seed=3)
    np.testing.assert_array_equal(ours, ref)  # pairwise splitting is exact
    assert ours.shape == (4,) and ours.mean() > 0.7


def test_gram_stack_classifier_krr_solver_and_validation():
    x, y = _blobs()
    k = cmp.gram_stack({"ntk": kernels.fc(depth=2)[2]}, x)
    np.testing.assert_allclose(
        k[:, :, 0], kernels.analytic_kernel(kernels.fc(depth=2)[2], x, dtype="float64"),
        rtol=1e-6)
    clf = cmp.GramStackClassifier(solver="krr", reg=1e-2).fit(k[:40, :40], y[:40] + 5)
    onehot = np.eye(3)[y[:40]]
    ref = krr.fit_predict(k[:40, :40, 0], onehot - onehot.mean(0), k[40:, :40, 0], reg=1e-2)
    np.testing.assert_array_equal(clf.predict(k[40:, :40]), np.argmax(ref, axis=1) + 5)
    with pytest.raises(ValueError, match="solver"):
        cmp.GramStackClassifier(solver="lasso").fit(k, y)
    with pytest.raises(ValueError, match="kernel"):
        cmp.GramStackClassifier(kernel=3).fit(k, y)
    with pytest.raises(ValueError, match="X"):
        cmp.GramStackClassifier().fit(k[:, :, 0], y)


def test_rbf_and_laplace_kernels():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(cmp.rbf_kernel(1.0)(x, x)[0, 1], np.exp(-25 / 2))
    np.testing.assert_allclose(cmp.laplace_kernel(1.0)(x, x)[0, 1], np.exp(-5 / np.sqrt(2)))
    with pytest.raises(ValueError, match="gamma"):
        cmp.rbf_kernel(0.0)


def test_pooled_and_format_table():
    from lecture_lib.data import Dataset

    ds = Dataset(np.array([[1.0, 2.0], [3.0, 2.0]]), np.array([0, 1]),
                 np.array([[5.0, 2.0]]), np.array([1]))
    x, y = cmp.pooled(ds)
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 1]
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(x[:, 0].std(), 1.0)
    assert np.all(x[:, 1] == 0.0)  # constant feature: centred, not divided by 0
    with pytest.raises(TypeError, match="ds"):
        cmp.pooled(np.zeros(3))
    table = cmp.format_table({"iris": {"A": [0.9, 0.8], "B": [0.95, 0.95]}})
    assert "**0.950 ± 0.000**" in table and "0.850 ± 0.050" in table
    with pytest.raises(ValueError, match="scores"):
        cmp.format_table({})


def test_ridge_cholesky_solve_matches_krr_fit():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 5))
    k, y = a @ a.T, rng.standard_normal(30)
    ref = krr.fit(k, y, reg=1e-3)
    np.testing.assert_allclose(cmp._ridge_cholesky_solve(k.copy(), y, 1e-3), ref, rtol=1e-8)
