"""Tests for lecture_lib.spectral (Arora et al. 2019 spectral analysis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scipy import integrate, special

from lecture_lib import data, recursion, spectral


def random_psd(n, seed, rank=None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, rank or n))
    return a @ a.T / n


@pytest.fixture(scope="module")
def psd():
    rng = np.random.default_rng(0)
    return random_psd(12, 0), rng.normal(size=12)


def test_eigh_desc_sorted_and_reconstructs(psd):
    k, _ = psd
    lam, v = spectral.eigh_desc(k)
    assert lam.shape == (12,) and v.shape == (12, 12)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.T, k, atol=1e-12)
    np.testing.assert_allclose(v.T @ v, np.eye(12), atol=1e-12)
    np.testing.assert_allclose(k @ v[:, 0], lam[0] * v[:, 0], atol=1e-12)


def test_residual_norms_equal_explicit_gd(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    p = spectral.label_projections(v, y)
    lr = 1.5 / lam[0]
    steps = np.array([0, 1, 2, 10, 37])
    got = spectral.residual_norms(lam, p, lr, steps)
    u = np.zeros_like(y)
    ref = []
    for step in range(steps.max() + 1):
        if step in steps:
            ref.append(np.linalg.norm(y - u))
        u = u + lr * k @ (y - u)  # GD on 1/2 ||u - y||^2 in function space
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    assert got[0] == pytest.approx(np.linalg.norm(y))
    per = spectral.residual_per_direction(lam, p, lr, steps)
    assert per.shape == (5, 12)
    np.testing.assert_allclose(np.sqrt((per**2).sum(1)), got, rtol=1e-12)
    # top directions decay fastest
    assert per[-1, 0] / abs(p[0]) < per[-1, -1] / abs(p[-1])
    assert spectral.residual_norms(lam, p, lr, 3).shape == (1,)


def test_multi_output_is_frobenius(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    y2 = np.stack([y, y**2], 1)
    p2 = spectral.label_projections(v, y2)
    assert p2.shape == (12, 2)
    both = spectral.residual_norms(lam, p2, 0.5, [0, 5])
    parts = [spectral.residual_norms(lam, p2[:, j], 0.5, [0, 5]) for j in range(2)]
    np.testing.assert_allclose(both, np.sqrt(parts[0] ** 2 + parts[1] ** 2), rtol=1e-12)
    assert spectral.cumulative_energy(p2)[-1] == pytest.approx(1.0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 15))
def test_cumulative_energy_monotone_ends_at_one(seed, n):
    k = random_psd(n, seed)
    y = np.random.default_rng(seed + 1).normal(size=n)
    _, v = spectral.eigh_desc(k)
    c = spectral.cumulative_energy(spectral.label_projections(v, y))
    assert c.shape == (n,)
    assert np.all(np.diff(c) >= -1e-15) and np.all(c >= 0)
    assert c[-1] == pytest.approx(1.0)


def test_cumulative_energy_of_an_eigenvector(psd):
    k, _ = psd
    _, v = spectral.eigh_desc(k)
    c = spectral.cumulative_energy(spectral.label_projections(v, v[:, 2]))
    np.testing.assert_allclose(c, np.r_[0, 0, np.ones(10)], atol=1e-12)


def test_complexity_measure(psd):
    k, y = psd
    ref = np.sqrt(2 * y @ np.linalg.solve(k, y) / 12)
    assert spectral.complexity_measure(k, y) == pytest.approx(ref, rel=1e-9)
    lam, v = spectral.eigh_desc(k)
    # labels on the top eigenvector are "simple", on the bottom one "complex"
    top, bottom = spectral.complexity_measure(k, v[:, 0]), spectral.complexity_measure(k, v[:, -1])
    assert top == pytest.approx(np.sqrt(2 / lam[0] / 12))
    assert top < bottom
    y2 = np.stack([y, 2 * y], 1)
    assert spectral.complexity_measure(k, y2) == pytest.approx(np.sqrt(5) * ref, rel=1e-9)


def test_errors(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    p = spectral.label_projections(v, y)
    ns = k.copy()
    ns[0, 3] += 1.0
    with pytest.raises(ValueError, match="k.*symmetric"):
        spectral.eigh_desc(ns)
    with pytest.raises(ValueError, match="k.*square"):
        spectral.eigh_desc(k[:3])
    with pytest.raises(ValueError, match="k"):
        spectral.eigh_desc(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="eigvecs"):
        spectral.label_projections(v, y[:4])
    with pytest.raises(ValueError, match="projections"):
        spectral.residual_norms(lam, p[:4], 0.1, [1])
    with pytest.raises(ValueError, match="lr"):
        spectral.residual_norms(lam, p, -0.1, [1])
    with pytest.raises(ValueError, match="steps"):
        spectral.residual_norms(lam, p, 0.1, [1.5])
    with pytest.raises(ValueError, match="steps"):
        spectral.residual_per_direction(lam, p, 0.1, [-1])
    with pytest.raises(ValueError, match="eigvals"):
        spectral.residual_norms(lam[:, None], p, 0.1, [1])
    with pytest.raises(ValueError, match="projections"):
        spectral.cumulative_energy(np.zeros(3))
    with pytest.raises(ValueError, match="y"):
        spectral.complexity_measure(k, y[:3])
    with pytest.raises(ValueError, match="k.*symmetric"):
        spectral.complexity_measure(ns, y)


def test_circle_and_fourier_amplitudes():
    t, x = data.circle_points(64)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    assert np.isclose(t[1] - t[0], 2 * np.pi / 64)
    r = 0.3 * np.cos(4 * t + 0.2) + 2.0 * np.sin(14 * t) - 0.7
    amp = spectral.fourier_amplitudes(t, r, [0, 4, 14, 9])
    np.testing.assert_allclose(amp, [0.7, 0.3, 2.0, 0.0], atol=1e-10)
    stacked = spectral.fourier_amplitudes(t, np.stack([r, 2 * r]), [4, 14])
    np.testing.assert_allclose(stacked, [[0.3, 2.0], [0.6, 4.0]], atol=1e-10)
    tr, _ = data.circle_points(50, random=True, seed=1)
    assert np.all(np.diff(tr) >= 0) and tr.min() >= 0 and tr.max() < 2 * np.pi
    with pytest.raises(ValueError, match="last axis"):
        spectral.fourier_amplitudes(t, r[:10], [4])


def test_multiplicity():
    assert [spectral.harmonic_multiplicity(2, k) for k in range(4)] == [1, 2, 2, 2]
    assert [spectral.harmonic_multiplicity(3, k) for k in range(4)] == [1, 3, 5, 7]
    assert [spectral.harmonic_multiplicity(4, k) for k in range(4)] == [1, 4, 9, 16]
    # dimension of polynomials of degree <= k restricted to the sphere
    d, kmax = 5, 6
    assert sum(spectral.harmonic_multiplicity(d, k) for k in range(kmax + 1)) == (
        special.comb(kmax + d - 1, d - 1, exact=True) + special.comb(kmax + d - 2, d - 1, exact=True))


@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_circle_eigenvalues_equal_grid_gram_eigenvalues(bias):
    # circulant Gram matrix on a fine grid: the eigenvalue of cos(kt), sin(kt) is
    # sum_j K_0j cos(k t_j) = n sum_{j in Z} mu_{|k + j n|} (aliasing ~ 1/n, small for n = 2048)
    n = 2048
    t, x = data.circle_points(n)
    row = recursion.two_layer_relu_ntk(x[:1], x, bias=bias)[0]
    freqs = np.arange(0, 30)
    grid = np.array([np.sum(row * np.cos(f * t)) for f in freqs])
    mu = spectral.sphere_ntk_eigenvalues(freqs, 2, bias=bias)
    np.testing.assert_allclose(n * mu, grid, rtol=1e-3, atol=1e-6 * grid.max())
    # and the top eigenvalue of a coarser Gram matrix is n * max_k mu_k
    n = 128
    _, x = data.circle_points(n)
    ev = np.linalg.eigvalsh(recursion.two_layer_relu_ntk(x, bias=bias))
    np.testing.assert_allclose(ev.max(), n * mu.max(), rtol=1e-3)


@pytest.mark.parametrize("dim", [3, 5])
def test_gegenbauer_projection_matches_quad_in_t(dim):
    def kappa_t(u):
        return u * (np.pi - np.arccos(u)) / (2 * np.pi)

    lam = (dim - 2) / 2
    weight = lambda u: (1 - u * u) ** ((dim - 3) / 2)  # noqa: E731
    norm = integrate.quad(weight, -1, 1)[0]
    mu = spectral.sphere_ntk_eigenvalues([0, 1, 2, 4, 6], dim)
    for k, m in zip([0, 1, 2, 4, 6], mu):
        pk = lambda u: special.eval_gegenbauer(k, lam, u) / special.eval_gegenbauer(k, lam, 1.0)  # noqa: E731
        ref = integrate.quad(lambda u: kappa_t(u) * pk(u) * weight(u), -1, 1, limit=200,
                             epsabs=1e-13)[0] / norm
        assert m == pytest.approx(ref, rel=1e-6, abs=1e-12)


def test_mercer_expansion_reconstructs_kernel():
    dim, kmax = 3, 400
    degrees = np.arange(kmax + 1)
    mu = spectral.sphere_ntk_eigenvalues(degrees, dim, bias=0.5)
    n_k = np.array([spectral.harmonic_multiplicity(dim, int(k)) for k in degrees])
    for theta in (0.7, 2.0):
        series = np.sum(n_k * mu * special.eval_legendre(degrees, np.cos(theta)))
        assert series == pytest.approx(float(recursion.two_layer_relu_ntk_angle(theta, bias=0.5)), abs=2e-3)


@pytest.mark.parametrize("dim", [2, 3, 5, 10])
def test_odd_degrees_vanish_without_bias_and_not_with_bias(dim):
    odd = [3, 5, 7, 9]
    mu0 = spectral.sphere_ntk_eigenvalues(odd + [1], dim)
    assert np.all(np.abs(mu0[:-1]) < 1e-12 * mu0[-1])
    for train_output in (False, True):
        mu_b = spectral.sphere_ntk_eigenvalues(odd, dim, bias=1.0, train_output=train_output)
        even = spectral.sphere_ntk_eigenvalues([2, 4, 6, 8], dim, bias=1.0, train_output=train_output)
        assert np.all(mu_b > 1e-6 * even[0]) and np.all(np.diff(mu_b) < 0)


@pytest.mark.parametrize("dim", [2, 3])
def test_power_law_decay_k_to_minus_dim(dim):
    ks = np.arange(20, 81, 2)
    mu = spectral.sphere_ntk_eigenvalues(ks, dim, n_quad=2048)
    assert np.all(np.diff(mu) < 0)
    slope = np.polyfit(np.log(ks), np.log(mu), 1)[0]
    assert slope == pytest.approx(-dim, abs=0.15)


def test_eigenvalue_input_errors():
    with pytest.raises(ValueError, match="dim"):
        spectral.sphere_ntk_eigenvalues([1], 1)
    with pytest.raises(ValueError, match="degrees"):
        spectral.sphere_ntk_eigenvalues([], 3)
    with pytest.raises(ValueError, match="kappa_of_angle"):
        spectral.dot_product_kernel_eigenvalues(lambda th: np.ones(3), [1], 3)


def test_label_energy():
    p = np.array([3.0, -4.0, 0.0])
    np.testing.assert_allclose(spectral.label_energy(p), [9 / 25, 16 / 25, 0.0])
    y = np.random.default_rng(0).normal(size=30)
    _, v = spectral.eigh_desc(recursion.two_layer_relu_ntk(_unit_rows(30, 4)))
    e = spectral.label_energy(spectral.label_projections(v, y))
    assert e.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.cumsum(e), spectral.cumulative_energy(v.T @ y))
    with pytest.raises(ValueError, match="zero"):
        spectral.label_energy(np.zeros(3))
    with pytest.raises(ValueError, match="projections"):
        spectral.label_energy(np.ones((3, 2)))


def test_circulant_spectrum_reads_fourier_frequencies():
    n = 32
    t, x = data.circle_points(n)
    k = recursion.two_layer_relu_ntk(x, bias=0.5)
    ev, freqs = spectral.circulant_spectrum(t, k)
    assert ev.shape == freqs.shape == (n,)
    np.testing.assert_allclose(ev * n, spectral.eigh_desc(k)[0])
    assert np.all(np.diff(ev) <= 1e-12)
    # every frequency 1..n/2-1 owns two eigenvectors (cos and sin), 0 and n/2 one each
    counts = np.bincount(freqs, minlength=n // 2 + 1)
    assert counts[0] == 1 and counts[n // 2] == 1 and np.all(counts[1:n // 2] == 2)
    low = freqs <= 4
    mu = spectral.sphere_ntk_eigenvalues(list(range(5)), 2, bias=0.5)
    np.testing.assert_allclose(ev[low], mu[freqs[low]], rtol=0.05)
    with pytest.raises(ValueError, match="shape"):
        spectral.circulant_spectrum(t[:10], k)


def _unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_eigen_features_sum_to_krr_predictor():
    from lecture_lib import krr
    rng = np.random.default_rng(3)
    k = random_psd(15, 3)
    y = rng.normal(size=15)
    kx = rng.normal(size=(7, 15))
    for reg in (0.0, 1e-2):
        f = spectral.eigen_features(kx, k, y, reg)
        assert f.shape == (7, 15)
        np.testing.assert_allclose(f.sum(1), krr.fit_predict(k, y, kx, reg), rtol=1e-8, atol=1e-8)
    # each feature is K(x, X) v_i v_i^T y / (lambda_i + lam): the i-th eigen-direction only
    lam, alphas = spectral.eigen_feature_coefficients(k, y, 1e-2)
    lam_ref, v = spectral.eigh_desc(k)
    ridge = 1e-2 * np.trace(k) / 15
    np.testing.assert_allclose(alphas[2], v[:, 2] * (v[:, 2] @ y) / (lam_ref[2] + ridge), atol=1e-12)
    np.testing.assert_allclose(k @ alphas[0], lam[0] / (lam[0] + ridge) * v[:, 0] * (v[:, 0] @ y),
                               atol=1e-10)
    # several outputs: one set of features per output column
    y2 = rng.normal(size=(15, 3))
    f2 = spectral.eigen_features(kx, k, y2, 1e-2)
    assert f2.shape == (7, 15, 3)
    np.testing.assert_allclose(f2.sum(1), krr.fit_predict(k, y2, kx, 1e-2), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(f2[:, :, 1], spectral.eigen_features(kx, k, y2[:, 1], 1e-2), atol=1e-12)


def test_eigen_features_reject_bad_input():
    k = random_psd(6, 1)
    with pytest.raises(ValueError, match="y"):
        spectral.eigen_feature_coefficients(k, np.ones(5))
    with pytest.raises(ValueError, match="k_test_train"):
        spectral.eigen_features(np.ones((2, 5)), k, np.ones(6))
    with pytest.raises(ValueError, match="positive definite"):
        spectral.eigen_feature_coefficients(random_psd(6, 1, rank=2), np.ones(6), 0.0)
