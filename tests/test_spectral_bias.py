"""Tests for lecture_lib.spectral_bias (notebook 03)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

import lecture_lib  # noqa: F401  (quiets TensorFlow before neural_tangents)
from lecture_lib import spectral_bias as sb


def _unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------- kernel
def test_gram_equals_arora_formula():
    x = _unit_rows(12, 5)
    g = x @ x.T
    expected = g * (np.pi - np.arccos(np.clip(g, -1, 1))) / (2 * np.pi)
    np.testing.assert_allclose(sb.two_layer_relu_ntk(x), expected, atol=1e-12)


@pytest.mark.parametrize("bias", [0.0, 0.7])
def test_gram_matches_neural_tangents(bias):
    from neural_tangents import stax

    d = 6
    x = np.random.default_rng(1).normal(size=(9, d))  # not unit norm on purpose
    # NT's Dense divides x.x' by the fan-in d: feed sqrt(d) x so that Sigma^1 = x.x' + bias^2
    _, _, kernel_fn = stax.serial(stax.Dense(512, W_std=1.0, b_std=bias), stax.Relu(),
                                  stax.Dense(1, W_std=1.0, b_std=0.0))
    k = kernel_fn(np.sqrt(d) * x, None, ("nngp", "ntk"))
    ntk, nngp = np.asarray(k.ntk), np.asarray(k.nngp)
    np.testing.assert_allclose(sb.two_layer_relu_ntk(x, bias=bias, train_output=True), ntk,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sb.two_layer_relu_ntk(x, bias=bias), ntk - nngp,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias,train_output", [(0.0, False), (0.5, False), (1.0, True)])
def test_angle_form_matches_gram(bias, train_output):
    theta = np.linspace(0, np.pi, 9)
    pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    row = sb.two_layer_relu_ntk(pts[:1], pts, bias=bias, train_output=train_output)[0]
    np.testing.assert_allclose(
        sb.two_layer_relu_ntk_angle(theta, bias=bias, train_output=train_output), row, atol=1e-12)


def test_kernel_input_errors():
    with pytest.raises(ValueError, match="x1"):
        sb.two_layer_relu_ntk(np.ones(3))
    with pytest.raises(ValueError, match="features"):
        sb.two_layer_relu_ntk(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="bias"):
        sb.two_layer_relu_ntk(np.ones((2, 3)), bias=-1.0)
    with pytest.raises(ValueError, match="zero row"):
        sb.two_layer_relu_ntk(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="theta"):
        sb.two_layer_relu_ntk_angle([4.0])


# --------------------------------------------------------------------------- labels
def test_corrupt_labels():
    y = np.where(np.arange(400) % 2 == 0, 1.0, -1.0)
    np.testing.assert_array_equal(sb.corrupt_labels(y, 0.0), y)
    full = sb.corrupt_labels(y, 1.0, seed=3)
    assert set(np.unique(full)) <= {-1.0, 1.0}
    flipped = np.mean(full != y)
    assert 0.4 < flipped < 0.6  # a fresh coin for each label: about half flip
    quarter, half = sb.corrupt_labels(y, 0.25, seed=3), sb.corrupt_labels(y, 0.5, seed=3)
    assert np.mean(quarter != y) < np.mean(half != y) <= flipped + 1e-12
    assert np.all((quarter == y) | (half == quarter))  # nested corruption
    np.testing.assert_array_equal(sb.corrupt_labels(y, 0.5, seed=3), half)  # seeded
    with pytest.raises(ValueError, match="fraction"):
        sb.corrupt_labels(y, 1.5)
    with pytest.raises(ValueError, match="y must contain"):
        sb.corrupt_labels(np.array([0.0, 1.0]), 0.5)


# --------------------------------------------------------------------------- circle
def test_circle_and_fourier_amplitudes():
    t, x = sb.circle_points(64)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    assert np.isclose(t[1] - t[0], 2 * np.pi / 64)
    y = sb.sines(t, [4, 14], [1.0, 0.5])
    np.testing.assert_allclose(y, np.sin(4 * t) + 0.5 * np.sin(14 * t))
    r = 0.3 * np.cos(4 * t + 0.2) + 2.0 * np.sin(14 * t) - 0.7
    amp = sb.fourier_amplitudes(t, r, [0, 4, 14, 9])
    np.testing.assert_allclose(amp, [0.7, 0.3, 2.0, 0.0], atol=1e-10)
    stacked = sb.fourier_amplitudes(t, np.stack([r, 2 * r]), [4, 14])
    np.testing.assert_allclose(stacked, [[0.3, 2.0], [0.6, 4.0]], atol=1e-10)
    tr, _ = sb.circle_points(50, random=True, seed=1)
    assert np.all(np.diff(tr) >= 0) and tr.min() >= 0 and tr.max() < 2 * np.pi
    with pytest.raises(ValueError, match="last axis"):
        sb.fourier_amplitudes(t, r[:10], [4])
    with pytest.raises(ValueError, match="freqs"):
        sb.sines(t, [-1])
    with pytest.raises(ValueError, match="amplitudes"):
        sb.sines(t, [1, 2], [1.0])


# --------------------------------------------------------------------------- eigenvalues
def test_multiplicity():
    assert [sb.harmonic_multiplicity(2, k) for k in range(4)] == [1, 2, 2, 2]
    assert [sb.harmonic_multiplicity(3, k) for k in range(4)] == [1, 3, 5, 7]
    assert [sb.harmonic_multiplicity(4, k) for k in range(4)] == [1, 4, 9, 16]
    # dimension of polynomials of degree <= k restricted to the sphere
    d, kmax = 5, 6
    assert sum(sb.harmonic_multiplicity(d, k) for k in range(kmax + 1)) == (
        special.comb(kmax + d - 1, d - 1, exact=True) + special.comb(kmax + d - 2, d - 1, exact=True))


@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_circle_eigenvalues_equal_grid_gram_eigenvalues(bias):
    # circulant Gram matrix on a fine grid: the eigenvalue of cos(kt), sin(kt) is
    # sum_j K_0j cos(k t_j) = n sum_{j in Z} mu_{|k + j n|} (aliasing ~ 1/n, small for n = 2048)
    n = 2048
    t, x = sb.circle_points(n)
    row = sb.two_layer_relu_ntk(x[:1], x, bias=bias)[0]
    freqs = np.arange(0, 30)
    grid = np.array([np.sum(row * np.cos(f * t)) for f in freqs])
    mu = sb.sphere_ntk_eigenvalues(freqs, 2, bias=bias)
    np.testing.assert_allclose(n * mu, grid, rtol=1e-3, atol=1e-6 * grid.max())
    # and the top eigenvalue of a coarser Gram matrix is n * max_k mu_k
    n = 128
    _, x = sb.circle_points(n)
    ev = np.linalg.eigvalsh(sb.two_layer_relu_ntk(x, bias=bias))
    np.testing.assert_allclose(ev.max(), n * mu.max(), rtol=1e-3)


@pytest.mark.parametrize("dim", [3, 5])
def test_gegenbauer_projection_matches_quad_in_t(dim):
    def kappa_t(u):
        return u * (np.pi - np.arccos(u)) / (2 * np.pi)

    lam = (dim - 2) / 2
    weight = lambda u: (1 - u * u) ** ((dim - 3) / 2)  # noqa: E731
    norm = integrate.quad(weight, -1, 1)[0]
    mu = sb.sphere_ntk_eigenvalues([0, 1, 2, 4, 6], dim)
    for k, m in zip([0, 1, 2, 4, 6], mu):
        pk = lambda u: special.eval_gegenbauer(k, lam, u) / special.eval_gegenbauer(k, lam, 1.0)  # noqa: E731
        ref = integrate.quad(lambda u: kappa_t(u) * pk(u) * weight(u), -1, 1, limit=200,
                             epsabs=1e-13)[0] / norm
        assert m == pytest.approx(ref, rel=1e-6, abs=1e-12)


def test_mercer_expansion_reconstructs_kernel():
    dim, kmax = 3, 400
    degrees = np.arange(kmax + 1)
    mu = sb.sphere_ntk_eigenvalues(degrees, dim, bias=0.5)
    n_k = np.array([sb.harmonic_multiplicity(dim, int(k)) for k in degrees])
    for theta in (0.7, 2.0):
        series = np.sum(n_k * mu * special.eval_legendre(degrees, np.cos(theta)))
        assert series == pytest.approx(float(sb.two_layer_relu_ntk_angle(theta, bias=0.5)), abs=2e-3)


@pytest.mark.parametrize("dim", [2, 3, 5, 10])
def test_odd_degrees_vanish_without_bias_and_not_with_bias(dim):
    odd = [3, 5, 7, 9]
    mu0 = sb.sphere_ntk_eigenvalues(odd + [1], dim)
    assert np.all(np.abs(mu0[:-1]) < 1e-12 * mu0[-1])
    for train_output in (False, True):
        mu_b = sb.sphere_ntk_eigenvalues(odd, dim, bias=1.0, train_output=train_output)
        even = sb.sphere_ntk_eigenvalues([2, 4, 6, 8], dim, bias=1.0, train_output=train_output)
        assert np.all(mu_b > 1e-6 * even[0]) and np.all(np.diff(mu_b) < 0)


@pytest.mark.parametrize("dim", [2, 3])
def test_power_law_decay_k_to_minus_dim(dim):
    ks = np.arange(20, 81, 2)
    mu = sb.sphere_ntk_eigenvalues(ks, dim, n_quad=2048)
    assert np.all(np.diff(mu) < 0)
    slope = np.polyfit(np.log(ks), np.log(mu), 1)[0]
    assert slope == pytest.approx(-dim, abs=0.15)


def test_eigenvalue_input_errors():
    with pytest.raises(ValueError, match="dim"):
        sb.sphere_ntk_eigenvalues([1], 1)
    with pytest.raises(ValueError, match="degrees"):
        sb.sphere_ntk_eigenvalues([], 3)
    with pytest.raises(ValueError, match="kappa_of_angle"):
        sb.dot_product_kernel_eigenvalues(lambda th: np.ones(3), [1], 3)


# --------------------------------------------------------------------------- training
def test_first_step_follows_infinite_width_gram():
    x = _unit_rows(8, 4, seed=2)
    y = np.random.default_rng(3).choice([-1.0, 1.0], size=8)
    lr = 1e-3
    out = sb.train_two_layer_gd(x, y, width=40_000, lr=lr, steps=1, x_eval=x,
                                snapshot_steps=[0, 1], progress=False)
    np.testing.assert_allclose(out["predictions"][0, :, 0], 0.0, atol=1e-5)  # symmetric init
    u1 = out["predictions"][1, :, 0]
    h = sb.two_layer_relu_ntk(x)
    # u(1) = lr H(0) y with H(0) -> H^infinity as width -> infinity
    assert np.linalg.norm(u1 / lr - h @ y) < 0.03 * np.linalg.norm(h @ y)


def test_wide_net_residual_tracks_ntk_prediction_and_bias_is_trained():
    t, x = sb.circle_points(16)
    y = np.stack([np.sin(2 * t), np.cos(3 * t)], axis=1)  # two label vectors in one pass
    bias = 0.5
    h = sb.two_layer_relu_ntk(x, bias=bias)
    lam, v = np.linalg.eigh(h)
    lr = 1.0 / lam.max()
    steps = 60
    out = sb.train_two_layer_gd(x, y, width=4000, lr=lr, steps=steps, bias=bias,
                                init_scale=4.0, progress=False, n_chunks=4)
    assert out["residual_norm"].shape == (steps + 1, 2)
    np.testing.assert_allclose(out["loss"], 0.5 * out["residual_norm"] ** 2)
    proj = v.T @ y
    k = out["step"][:, None]
    for j in range(2):
        pred = np.sqrt(np.sum((1 - lr * lam[None]) ** (2 * k) * proj[:, j][None] ** 2, axis=1))
        np.testing.assert_allclose(out["residual_norm"][:, j], pred, rtol=0.05,
                                   atol=0.02 * np.linalg.norm(y[:, j]))
    # the odd frequency 3 can only be fitted thanks to the bias
    assert out["residual_norm"][-1, 1] < 0.5 * out["residual_norm"][0, 1]
    assert np.all(out["relative_change"] > 0)


def test_training_input_errors():
    x = _unit_rows(4, 3)
    y = np.ones(4)
    with pytest.raises(ValueError, match="width"):
        sb.train_two_layer_gd(x, y, width=3, lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="rows"):
        sb.train_two_layer_gd(x, y[:3], width=4, lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="lr"):
        sb.train_two_layer_gd(x, y, width=4, lr=0.0, steps=1, progress=False)
    with pytest.raises(ValueError, match="snapshot_steps"):
        sb.train_two_layer_gd(x, y, width=4, lr=0.1, steps=2, x_eval=x, snapshot_steps=[5],
                              progress=False)
    with pytest.raises(ValueError, match="x_eval"):
        sb.train_two_layer_gd(x, y, width=4, lr=0.1, steps=2, snapshot_steps=[1], progress=False)
