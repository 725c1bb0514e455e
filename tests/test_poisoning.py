"""Tests for lecture_lib.poisoning (NTGA, Yuan & Wu ICML'21)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import attacks, data, kernels, krr, poisoning, precision


def psd(n, seed):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T / n + 0.1 * np.eye(n)


def test_gd_predict_matches_closed_form_gradient_flow():
    n, c = 12, 3
    k = psd(n, 0)
    rng = np.random.default_rng(1)
    y = rng.normal(size=(n, c))
    kx = rng.normal(size=(5, n))
    with precision.x64():
        for t in (0.5, 30.0):
            got = np.asarray(poisoning.gd_predict_jax(k, y, kx, t, diag_reg=1e-3))
            lam = 1e-3 * np.trace(k) / n
            # flow on the mean MSE 1/(2 n c) ||f - y||^2 = flow on the sum with lr = 1 / (n c)
            ref = krr.gd_dynamics(k + lam * np.eye(n), y, t, k_test_train=kx, lr=1.0 / (n * c)).test
            np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.asarray(poisoning.gd_predict_jax(k, y, kx, None, diag_reg=1e-3)),
                                   krr.fit_predict(k, y, kx, 1e-3), rtol=1e-8)
        # t -> inf approaches kernel regression
        far = np.asarray(poisoning.gd_predict_jax(k, y, kx, 1e7, diag_reg=1e-3))
        np.testing.assert_allclose(far, krr.fit_predict(k, y, kx, 1e-3), rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def task():
    ds = data.digits(n_train=60, n_test=10, seed=0, image=False, standardize="pixel")
    y = data.one_hot(ds.y_train.astype(int), 10)
    return ds.x_train[:40], y[:40], ds.x_train[40:], y[40:]


def test_ntga_stays_in_ball_and_raises_the_validation_loss(task):
    x, y, xv, yv = task
    kfn = kernels.fc(2)[2]
    eps = 0.1
    xp = poisoning.ntga(kfn, x, y, xv, yv, eps, t=16.0, steps=5)
    assert xp.shape == x.shape
    assert np.abs(xp - x).max() <= eps + 1e-12
    assert xp.min() >= 0 and xp.max() <= 1
    noise = attacks.random_noise(x, eps, key=0, clip=(0, 1))
    with precision.x64():
        loss = jax.jit(lambda z: poisoning.ntga_loss(kfn, z, y, xv, yv, t=16.0))
        l_clean, l_noise, l_pois = (float(loss(jnp.asarray(z))) for z in (x, noise, xp))
    assert l_pois > l_clean and l_pois > l_noise
    # iterated PGD climbs further than its first (FGSM-like) step
    x1 = poisoning.ntga(kfn, x, y, xv, yv, eps, t=16.0, steps=1, step_size=1.1 * eps / 5)
    with precision.x64():
        assert float(loss(jnp.asarray(xp))) > float(loss(jnp.asarray(x1)))
    # B-NTGA: blocks are poisoned independently, same ball
    xb = poisoning.ntga(kfn, x, y, xv, yv, eps, t=None, steps=2, block_size=20)
    assert np.abs(xb - x).max() <= eps + 1e-12


def test_ntga_rejects_bad_input(task):
    x, y, xv, yv = task
    kfn = kernels.fc(2)[2]
    with pytest.raises(ValueError, match="y_train"):
        poisoning.ntga(kfn, x, y[:5], xv, yv, 0.1)
    with pytest.raises(ValueError, match="eps"):
        poisoning.ntga(kfn, x, y, xv, yv, -0.1)
    with pytest.raises(ValueError, match="clip"):
        poisoning.ntga(kfn, x * 3, y, xv, yv, 0.1)
    with pytest.raises(ValueError, match="x_val"):
        poisoning.ntga(kfn, x, y, xv[:, :10], yv, 0.1)
    with pytest.raises(TypeError, match="kernel_fn"):
        poisoning.ntga(None, x, y, xv, yv, 0.1)
