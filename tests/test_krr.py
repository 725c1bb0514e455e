"""Tests for lecture_lib.krr: ridge regression and closed-form GD dynamics."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.kernel_ridge import KernelRidge

import lecture_lib  # noqa: F401
import jax
import jax.numpy as jnp

from lecture_lib import krr


def rbf(a, b, gamma=0.5):
    return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x, xt = rng.normal(size=(20, 3)), rng.normal(size=(6, 3))
    y = np.sin(x[:, 0]) + 0.1 * rng.normal(size=20)
    return rbf(x, x), rbf(xt, x), y, np.stack([y, np.cos(x[:, 1])], 1)


@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("multi", [False, True])
def test_matches_sklearn(problem, scale, multi):
    k, kx, y1, y2 = problem
    y = y2 if multi else y1
    reg = 0.05
    lam = reg * np.trace(k) / len(k) if scale else reg
    assert krr.effective_reg(k, reg, scale) == pytest.approx(lam)
    ref = KernelRidge(alpha=lam, kernel="precomputed").fit(k, y)
    alpha = krr.fit(k, y, reg=reg, scale_reg_by_trace=scale)
    assert alpha.shape == y.shape
    np.testing.assert_allclose(alpha, ref.dual_coef_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(krr.predict(kx, alpha), ref.predict(kx), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(krr.fit_predict(k, y, kx, reg, scale), ref.predict(kx),
                               rtol=1e-9, atol=1e-10)


def test_zero_reg_interpolates(problem):
    k, _, y, _ = problem
    np.testing.assert_allclose(krr.fit_predict(k, y, k), y, atol=1e-6)


def test_jitter_fallback_on_singular_kernel():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 2))
    x = np.concatenate([x, x[:2]])  # duplicated points
    k = x @ x.T  # linear kernel, rank 2 < 7: singular
    y = x @ np.array([1.0, -2.0])  # realisable target
    _, jitter = krr.solve_psd(k, y)
    assert jitter > 0
    pred = krr.fit_predict(k, y, k)
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(pred, y, atol=1e-3)
    # slightly indefinite (float32 round-off): large jitter, with a warning
    k_neg = np.diag([1.0, 1.0, -1e-6])
    with pytest.warns(RuntimeWarning, match="jitter"):
        krr.fit(k_neg, np.ones(3))
    with pytest.raises(ValueError, match="positive semi-definite"):
        krr.fit(np.diag([1.0, -1.0]), np.ones(2))


def test_discrete_gd_equals_explicit_iterations(problem):
    k, kx, _, y = problem
    lr = 1.0 / np.linalg.eigvalsh(k).max()
    rng = np.random.default_rng(2)
    f0, f0x = 0.1 * rng.normal(size=y.shape), 0.1 * rng.normal(size=(6, 2))
    steps = [0, 1, 7, 40]
    dyn = krr.gd_dynamics_discrete(k, y, steps, kx, lr=lr, f0_train=f0, f0_test=f0x)
    assert dyn.train.shape == (4, 20, 2) and dyn.test.shape == (4, 6, 2)
    f, fx = f0.copy(), f0x.copy()
    for step in range(max(steps) + 1):
        if step in steps:
            i = steps.index(step)
            np.testing.assert_allclose(dyn.train[i], f, rtol=1e-9, atol=1e-11)
            np.testing.assert_allclose(dyn.test[i], fx, rtol=1e-9, atol=1e-11)
        r = f - y
        f, fx = f - lr * k @ r, fx - lr * kx @ r
    single = krr.gd_dynamics_discrete(k, y[:, 0], 7, lr=lr)
    assert single.test is None and single.train.shape == (20,)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(0, 30),
       lr_frac=st.floats(0.05, 1.9))
def test_discrete_gd_property(seed, steps, lr_frac):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(6, 4))
    k = a @ a.T  # rank 4: exercises the lambda = 0 branch (gain -> lr k)
    kx = rng.normal(size=(3, 4)) @ a.T
    y = rng.normal(size=6)
    lr = lr_frac / np.linalg.eigvalsh(k).max()
    dyn = krr.gd_dynamics_discrete(k, y, steps, kx, lr=lr)
    f, fx = np.zeros(6), np.zeros(3)
    for _ in range(steps):
        r = f - y
        f, fx = f - lr * k @ r, fx - lr * kx @ r
    scale = 1 + np.abs(y).max()
    np.testing.assert_allclose(dyn.train, f, atol=1e-8 * scale)
    np.testing.assert_allclose(dyn.test, fx, atol=1e-8 * scale)


def test_continuous_limit_is_interpolating_solution(problem):
    k, kx, _, y = problem
    dyn = krr.gd_dynamics(k, y, 1e9, kx)
    np.testing.assert_allclose(dyn.train, y, atol=1e-8)
    np.testing.assert_allclose(dyn.test, krr.fit_predict(k, y, kx), atol=1e-6)
    # with f0 != 0 the limit is f0(x) + K_xX K^-1 (y - f0(X))
    rng = np.random.default_rng(3)
    f0, f0x = rng.normal(size=y.shape), rng.normal(size=(6, 2))
    dyn = krr.gd_dynamics(k, y, 1e9, kx, f0_train=f0, f0_test=f0x)
    np.testing.assert_allclose(dyn.test, f0x + krr.fit_predict(k, y - f0, kx), atol=1e-6)


def test_continuous_solves_the_ode(problem):
    k, kx, y, _ = problem
    t = np.array([0.0, 0.3, 0.3 + 1e-6])
    dyn = krr.gd_dynamics(k, y, t, kx, lr=2.0)
    assert dyn.train.shape == (3, 20) and dyn.test.shape == (3, 6)
    np.testing.assert_allclose(dyn.train[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(dyn.test[0], 0.0, atol=1e-12)
    dfdt = (dyn.train[2] - dyn.train[1]) / 1e-6
    np.testing.assert_allclose(dfdt, -2.0 * k @ (dyn.train[1] - y), rtol=1e-4, atol=1e-6)
    dfxdt = (dyn.test[2] - dyn.test[1]) / 1e-6
    np.testing.assert_allclose(dfxdt, -2.0 * kx @ (dyn.train[1] - y), rtol=1e-4, atol=1e-6)
    # small-step discrete GD approaches gradient flow
    disc = krr.gd_dynamics_discrete(k, y, 3000, kx, lr=2.0 * 0.3 / 3000)
    np.testing.assert_allclose(disc.test, dyn.test[1], rtol=1e-3, atol=1e-4)
    scalar = krr.gd_dynamics(k, y, 0.3, kx, lr=2.0)
    np.testing.assert_allclose(scalar.test, dyn.test[1])


def test_krr_jax_matches_and_gradient(x64, problem):
    k, kx, y, _ = problem
    got = krr.krr_jax(k, y, kx, 0.01)
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(got, krr.fit_predict(k, y, kx, 0.01), rtol=1e-9)
    rng = np.random.default_rng(4)
    xs, xt = jnp.asarray(rng.normal(size=(8, 2))), jnp.asarray(rng.normal(size=(5, 2)))
    ys, yt = jnp.asarray(rng.normal(size=8)), jnp.asarray(rng.normal(size=5))

    def k_j(a, b):
        return jnp.exp(-0.5 * jnp.sum((a[:, None] - b[None]) ** 2, -1))

    @jax.jit
    def loss(support):  # KIP-style loss: move support points
        return jnp.sum((krr.krr_jax(k_j(support, support), ys, k_j(xt, support), 1e-2) - yt) ** 2)

    g = jax.jit(jax.grad(loss))(xs)
    eps = 1e-6
    for idx in [(0, 0), (3, 1), (7, 0)]:
        e = np.zeros(xs.shape)
        e[idx] = eps
        fd = (loss(xs + e) - loss(xs - e)) / (2 * eps)
        np.testing.assert_allclose(g[idx], fd, rtol=1e-5, atol=1e-8)
    total = jax.jit(lambda r: jnp.sum(krr.krr_jax(k, y, kx, r)))
    greg = jax.jit(jax.grad(total))(0.01)
    fd = (total(0.01 + 1e-7) - total(0.01 - 1e-7)) / 2e-7
    np.testing.assert_allclose(greg, fd, rtol=1e-4)


def test_errors(problem):
    k, kx, y, y2 = problem
    with pytest.raises(ValueError, match="reg"):
        krr.fit(k, y, reg=-1.0)
    with pytest.raises(TypeError, match="reg"):
        krr.fit(k, y, reg="big")
    with pytest.raises(TypeError, match="scale_reg_by_trace"):
        krr.fit(k, y, reg=0.1, scale_reg_by_trace="yes")
    ns = k.copy()
    ns[0, 1] += 0.1
    with pytest.raises(ValueError, match="k_train.*symmetric"):
        krr.fit(ns, y)
    with pytest.raises(ValueError, match="k_train.*square"):
        krr.fit(k[:, :5], y)
    bad = k.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="k_train"):
        krr.fit(bad, y)
    with pytest.raises(ValueError, match="y_train"):
        krr.fit(k, y[:5])
    with pytest.raises(ValueError, match="y_train"):
        krr.fit(k, np.ones((20, 2, 2)))
    with pytest.raises(ValueError, match="k_test_train"):
        krr.fit_predict(k, y, kx[:, :5])
    with pytest.raises(ValueError, match="k_test_train"):
        krr.predict(kx[:, :5], y)
    with pytest.raises(ValueError, match="k_test_train"):
        krr.krr_jax(k, y, kx[:, :5], 0.1)
    with pytest.raises(ValueError, match="y_train"):
        krr.krr_jax(k, y[:3], kx, 0.1)
    with pytest.raises(ValueError, match="reg"):
        krr.krr_jax(k, y, kx, -0.1)
    with pytest.raises(ValueError, match="lr"):
        krr.gd_dynamics(k, y, 1.0, lr=0.0)
    with pytest.raises(ValueError, match="t"):
        krr.gd_dynamics(k, y, [-1.0, 2.0])
    with pytest.raises(ValueError, match="t"):
        krr.gd_dynamics(k, y, np.ones((2, 2)))
    with pytest.raises(ValueError, match="steps"):
        krr.gd_dynamics_discrete(k, y, 1.5)
    with pytest.raises(ValueError, match="f0_train"):
        krr.gd_dynamics(k, y, 1.0, f0_train=np.zeros(3))
    with pytest.raises(ValueError, match="f0_test"):
        krr.gd_dynamics(k, y, 1.0, kx, f0_test=np.zeros((6, 2)))
    with pytest.raises(ValueError, match="f0_test"):
        krr.gd_dynamics(k, y, 1.0, f0_test=np.zeros(6))
