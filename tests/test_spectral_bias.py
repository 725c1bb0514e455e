"""Tests for lecture_lib.spectral_bias (notebook 03)."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from scipy import integrate, special

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import lecture_lib  # noqa: F401,E402  (quiets TensorFlow before neural_tangents)
from lecture_lib import data, spectral  # noqa: E402
from lecture_lib import spectral_bias as sb  # noqa: E402


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


# --------------------------------------------------------------------------- notebook helpers
def test_steps_to_threshold_first_step_or_inf():
    steps = np.array([0, 1, 2, 5, 10, 20])
    res = np.array([10.0, 8.0, 3.0, 1.0, 0.5, 0.2])
    assert sb.steps_to_threshold(res, steps, 0.1, relative=True) == 5   # 1.0 <= 0.1 * 10 (boundary counts)
    assert sb.steps_to_threshold(res, steps, 0.05, relative=True) == 10
    assert sb.steps_to_threshold(res, steps, 0.5) == 10                 # absolute level
    assert sb.steps_to_threshold(res, steps, 9.0) == 1
    assert isinstance(sb.steps_to_threshold(res, steps, 3.0), int)
    never = sb.steps_to_threshold(res, steps, 0.01, relative=True)
    assert never == np.inf and np.isinf(never)
    assert sb.steps_to_threshold(res, steps, 0.1) == np.inf
    # not monotone: the first crossing counts, not the last
    assert sb.steps_to_threshold(np.array([1.0, 0.3, 0.9, 0.2]), np.arange(4) * 10, 0.5) == 10
    with pytest.raises(ValueError, match="same shape"):
        sb.steps_to_threshold(res, steps[:3], 0.1)
    with pytest.raises(TypeError, match="level"):
        sb.steps_to_threshold(res, steps, "0.1")


def test_log_steps_nearest_index_and_sign_errors():
    grid = sb.log_steps(1, 1000, 50)
    assert grid[0] == 1 and grid[-1] == 1000 and np.all(np.diff(grid) > 0)
    assert np.issubdtype(grid.dtype, np.integer) and len(grid) <= 50
    merged = sb.log_steps(10, 100, 5, include=np.arange(12))
    np.testing.assert_array_equal(merged[:12], np.arange(12))
    assert merged[-1] == 100 and np.all(np.diff(merged) > 0)
    np.testing.assert_array_equal(sb.log_steps(1, 300, 40, include=[0]),
                                  np.unique(np.concatenate([[0], np.geomspace(1, 300, 40).astype(int)])))
    with pytest.raises(ValueError, match="stop"):
        sb.log_steps(10, 5, 3)
    with pytest.raises(ValueError, match="include"):
        sb.log_steps(1, 5, 3, include=[0.5])
    assert sb.nearest_index(np.array([0, 10, 20, 30]), 14) == 1
    assert sb.nearest_index(np.array([0, 10, 20]), 15) == 1  # tie: the first one
    assert sb.nearest_index(np.array([0, 10, 20]), 1e9) == 2
    y = np.array([1.0, -1.0, 1.0, -1.0])
    pred = np.array([[0.5, -1.0], [-0.2, -3.0], [-1.0, 2.0], [0.1, -0.5]])
    np.testing.assert_allclose(sb.sign_errors(pred, y), [0.5, 0.25])
    assert sb.sign_errors(pred[:, 0], y) == 0.5 and isinstance(sb.sign_errors(pred[:, 0], y), float)
    with pytest.raises(ValueError, match="rows"):
        sb.sign_errors(pred[:3], y)


def test_label_energy():
    p = np.array([3.0, -4.0, 0.0])
    np.testing.assert_allclose(sb.label_energy(p), [9 / 25, 16 / 25, 0.0])
    y = np.random.default_rng(0).normal(size=30)
    _, v = spectral.eigh_desc(sb.two_layer_relu_ntk(_unit_rows(30, 4)))
    e = sb.label_energy(spectral.label_projections(v, y))
    assert e.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.cumsum(e), spectral.cumulative_energy(v.T @ y))
    with pytest.raises(ValueError, match="zero"):
        sb.label_energy(np.zeros(3))
    with pytest.raises(ValueError, match="projections"):
        sb.label_energy(np.ones((3, 2)))


def test_circulant_spectrum_reads_fourier_frequencies():
    n = 32
    t, x = sb.circle_points(n)
    k = sb.two_layer_relu_ntk(x, bias=0.5)
    ev, freqs = sb.circulant_spectrum(t, k)
    assert ev.shape == freqs.shape == (n,)
    np.testing.assert_allclose(ev * n, spectral.eigh_desc(k)[0])
    assert np.all(np.diff(ev) <= 1e-12)
    # every frequency 1..n/2-1 owns two eigenvectors (cos and sin), 0 and n/2 one each
    counts = np.bincount(freqs, minlength=n // 2 + 1)
    assert counts[0] == 1 and counts[n // 2] == 1 and np.all(counts[1:n // 2] == 2)
    low = freqs <= 4
    mu = sb.sphere_ntk_eigenvalues(list(range(5)), 2, bias=0.5)
    np.testing.assert_allclose(ev[low], mu[freqs[low]], rtol=0.05)
    with pytest.raises(ValueError, match="shape"):
        sb.circulant_spectrum(t[:10], k)


def test_circle_kernel_dynamics_decays_each_frequency_at_its_eigenvalue():
    n = 32
    t, x = sb.circle_points(n)
    t_plot, x_plot = sb.circle_points(50)
    k = sb.two_layer_relu_ntk(x, bias=0.5)
    steps = np.array([0, 1, 5, 20, 100])
    dyn, amp = sb.circle_kernel_dynamics(t, k, sb.two_layer_relu_ntk(x_plot, x, bias=0.5), [2, 5], steps)
    assert amp.shape == (5, 2) and dyn.train.shape == (5, n) and dyn.test.shape == (5, 50)
    lr = 1.0 / np.linalg.eigvalsh(k).max()
    # sin(k t) is an eigenvector of the circulant Gram matrix, eigenvalue sum_j K_0j cos(k t_j)
    lam = np.array([np.sum(k[0] * np.cos(f * t)) for f in (2, 5)])
    np.testing.assert_allclose(amp, np.abs(1 - lr * lam)[None] ** steps[:, None], atol=1e-10)
    np.testing.assert_allclose(dyn.train[0], 0.0, atol=1e-12)
    dyn2, amp2 = sb.circle_kernel_dynamics(t, k, None, [2, 5], steps, lr=0.5 * lr)
    assert dyn2.test is None and np.all(amp2[-1] > amp[-1])


@pytest.fixture
def ax():
    fig, axis = plt.subplots()
    yield axis
    plt.close(fig)


def test_two_class_data_digits_and_offline_fallback(monkeypatch, capsys):
    (x_tr, y_tr, x_te, y_te), name = sb.two_class_data("digits", (1, 7), seed=0)
    assert name == "digits 1 vs 7" and x_tr.shape[1] == 64 and len(x_tr) == len(y_tr)
    np.testing.assert_allclose(np.linalg.norm(x_tr, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(x_te, axis=1), 1.0)
    assert set(np.unique(y_tr)) == {-1.0, 1.0} and set(np.unique(y_te)) <= {-1.0, 1.0}
    assert len(y_tr) + len(y_te) > 300  # all images of the two digits (about 180 each)

    def offline(*args, **kwargs):
        raise data.OfflineError("no network")

    monkeypatch.setattr(data, "load", offline)
    ds, name = sb.two_class_data("mnist", (1, 7), n_train=10_000, fallback_classes=(3, 8))
    assert name == "digits 3 vs 8" and "mnist unavailable (OfflineError)" in capsys.readouterr().out
    assert len(ds.y_train) < 10_000

    rng = np.random.default_rng(0)
    fake = data.Dataset(rng.normal(size=(40, 6)), np.arange(40) % 4, rng.normal(size=(12, 6)), np.arange(12) % 4)
    monkeypatch.setattr(data, "load", lambda *a, **k: fake)
    (x_tr, y_tr, _, y_te), name = sb.two_class_data("cifar10", (0, 1))
    assert name == "cifar10 0 vs 1" and len(y_tr) == 20 and len(y_te) == 6
    np.testing.assert_allclose(np.linalg.norm(x_tr, axis=1), 1.0)
    with pytest.raises(ValueError, match="classes"):
        sb.two_class_data("digits", (1, 7, 9))


# --------------------------------------------------------------------------- plots
def test_plot_label_noise_panels(ax):
    steps = np.arange(6)
    net = {0.0: np.linspace(4, 1, 6), 1.0: np.linspace(4, 3, 6)}
    ntk = {0.0: np.linspace(4, 0.5, 6), 0.5: np.ones(6), 1.0: np.linspace(4, 2.5, 6)}
    sb.plot_label_noise_residuals(ax, steps, net, ntk, title="t")
    assert len(ax.lines) == 2 * len(net) + 1  # net + NTK per level, one legend-only line
    assert ax.get_xscale() == "symlog" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["net, noise 0%", "net, noise 100%",
                                                                   "NTK prediction"]
    with pytest.raises(ValueError, match="missing"):
        sb.plot_label_noise_residuals(ax, steps, {0.25: np.ones(6)}, ntk)
    with pytest.raises(ValueError, match="length"):
        sb.plot_label_noise_residuals(ax, steps[:4], net, ntk)


def test_plot_label_energy_bars(ax):
    rng = np.random.default_rng(1)
    p = {"true labels": rng.normal(size=50), "random labels": rng.normal(size=50)}
    e = sb.plot_label_energy(ax, p, top=10)
    assert e.shape == (2, 10)
    np.testing.assert_allclose(e[1], sb.label_energy(p["random labels"])[:10])
    assert len(ax.patches) == 20
    np.testing.assert_allclose([b.get_height() for b in ax.patches[:10]], e[0])
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in ax.patches[:10]], np.arange(1, 11) - 0.2)
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 50)  # uniform spread
    with pytest.raises(ValueError, match="top"):
        sb.plot_label_energy(ax, p, top=51)


def test_plot_complexity_and_error(ax):
    ax2 = sb.plot_complexity_and_error(ax, {0.0: 1.0, 0.5: 2.0, 1.0: 3.0}, {0.0: 0.1, 1.0: 0.5})
    assert ax2 is not ax and len(ax.lines) == 1 and len(ax2.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0, 50, 100])
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [0.1, 0.5])
    with pytest.raises(TypeError, match="complexity"):
        sb.plot_complexity_and_error(ax, [1.0, 2.0], {0.0: 0.1})


def test_plot_residual_prediction_and_cumulative_energy():
    lam = np.array([2.0, 1.0, 0.1])
    proj = {0.0: np.array([3.0, 1.0, 0.1]), 0.5: np.array([1.0, 1.0, 1.0]), 1.0: np.array([0.1, 1.0, 3.0])}
    k = np.array([1, 2, 5, 10])
    fig, (a1, a2) = plt.subplots(1, 2)
    res = sb.plot_residual_prediction(a1, lam, proj, 0.5, 0.4, k, title="x")
    np.testing.assert_allclose(res, spectral.residual_norms(lam, proj[0.5], 0.4, k))
    assert len(a1.lines) == 3 and a1.get_xscale() == "log" and a1.get_title() == "x"
    sb.plot_residual_prediction(a1, lam, proj, 0.5, 0.4, k, net=(np.arange(4), np.ones(4)))
    assert len(a1.lines) == 3 + 4 and len(a1.lines[-1].get_xdata()) == 3  # net drawn without step 0
    cum = sb.plot_cumulative_energy(a2, proj, 0.5)
    np.testing.assert_allclose(cum, [1 / 3, 2 / 3, 1.0])
    assert len(a2.lines) == 3
    assert [t.get_text() for t in a2.get_legend().get_texts()] == ["noise 50%", "true", "random"]
    with pytest.raises(ValueError, match="noise level"):
        sb.plot_residual_prediction(a1, lam, proj, 0.25, 0.4, k)
    with pytest.raises(ValueError, match="noise level"):
        sb.plot_cumulative_energy(a2, {0.5: proj[0.5]}, 0.5)
    plt.close(fig)


def test_plot_circle_fit_and_frequency_residuals():
    t = np.linspace(0, 2 * np.pi, 30)
    snaps, k_steps = np.array([0, 5, 50]), np.array([0, 5, 20, 50, 500])
    net_fit, k_fit = np.arange(3)[:, None] * np.ones(30), np.arange(5)[:, None] * np.ones(30)
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    i = sb.plot_circle_fit(a1, t, np.sin(t), 10, net=(snaps, net_fit), kernel=(k_steps, k_fit))
    assert i == 2 and a1.get_title() == "step 50" and len(a1.lines) == 3  # first saved step >= 10
    np.testing.assert_allclose(a1.lines[1].get_ydata(), 2.0)
    np.testing.assert_allclose(a1.lines[2].get_ydata(), 3.0)  # kernel at step 50
    with pytest.raises(ValueError, match="step"):
        sb.plot_circle_fit(a1, t, np.sin(t), 51, net=(snaps, net_fit), kernel=(k_steps, k_fit))
    amp = np.linspace(1, 0, 10)[:, None] * np.ones(2)
    sb.plot_frequency_residuals(a2, [4, 14], (np.arange(1, 11), amp), net=(np.arange(1, 11), amp), mark=7)
    assert len(a2.lines) == 2 * 2 + 1 and a2.get_xscale() == "log"
    assert a2.get_title() == r"residual per frequency ($\sin 4t + \sin 14t$)"
    sb.plot_frequency_residuals(a3, [4, 14, 20], (np.arange(1, 11), np.ones((10, 3))), title="k")
    assert len(a3.lines) == 3 and a3.get_title() == "k"
    with pytest.raises(ValueError, match="shape"):
        sb.plot_frequency_residuals(a3, [4], (np.arange(1, 11), amp))
    plt.close(fig)


def test_plot_circle_kernel_dynamics_and_predictions():
    t, x = sb.circle_points(32)
    t_plot, x_plot = sb.circle_points(60)
    k, kx = sb.two_layer_relu_ntk(x, bias=0.5), sb.two_layer_relu_ntk(x_plot, x, bias=0.5)
    steps = sb.log_steps(1, 10_000, 30)
    fig, axes = plt.subplots(1, 2)
    amp = sb.plot_circle_kernel_dynamics(axes, t, t_plot, k, kx, (2, 9), steps, marks=(10, 10_000), title="b")
    np.testing.assert_allclose(amp, sb.circle_kernel_dynamics(t, k, kx, (2, 9), steps)[1])
    half = [sb.steps_to_threshold(amp[:, j], steps, 0.5) for j in range(2)]
    assert 5 * half[0] < half[1] < np.inf  # low frequency first
    assert len(axes[0].lines) == 2 and axes[0].get_ylim() == (-0.05, 1.05) and axes[0].get_title() == "b"
    assert len(axes[1].lines) == 1 + 2  # target + one fit per mark
    fits = np.zeros((len(steps), 60))
    drawn = sb.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits, marks=(3, 9999))
    assert drawn == [int(steps[sb.nearest_index(steps, 3)]), 10_000]
    with pytest.raises(ValueError, match="marks"):
        sb.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits, marks=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        sb.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits[1:], marks=(1,))
    with pytest.raises(ValueError, match="shape"):
        sb.plot_circle_predictions(axes[1], t_plot, np.zeros(59), steps, fits, marks=(1,))
    plt.close(fig)


def test_plot_eigenvalue_panels():
    ks = np.arange(0, 41)
    mu_c = {b: sb.sphere_ntk_eigenvalues(ks, 2, bias=b) for b in (0.0, 0.5)}
    mu_s = {(d, b): sb.sphere_ntk_eigenvalues(ks, d, bias=b) for d in (3, 5) for b in (0.0, 0.5)}
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    sb.plot_circle_eigenvalues(a1, ks, mu_c, gram=(np.array([0, 1, 1]), np.array([0.1, 0.05, 0.05])),
                               gram_bias=0.5)
    assert len(a1.lines) == 3 and a1.get_ylim() == (1e-17, 1.0)
    assert np.max(a1.lines[0].get_ydata()[3::2]) < 1e-13  # odd degrees >= 3 vanish without bias
    fig2, a0 = plt.subplots()
    sb.plot_circle_eigenvalues(a0, np.arange(3), {0.0: np.array([1e-3, 0.0, -1e-5])})
    np.testing.assert_array_equal(a0.lines[0].get_ydata(), [1e-3, 1e-16, 1e-5])  # |mu| floored
    assert len(a0.lines) == 1
    plt.close(fig2)
    assert "n = 3" in a1.get_legend().get_texts()[-1].get_text()
    slopes = sb.plot_even_degree_decay(a2, ks, {2: mu_c[0.0], 3: mu_s[(3, 0.0)]})
    assert set(slopes) == {2, 3} and slopes[2] == pytest.approx(-2, abs=0.3) and slopes[3] < slopes[2]
    assert len(a2.lines) == 3 * 2  # points, fitted line, all even points per dimension
    np.testing.assert_array_equal(a2.get_xticks(), [2, 4, 8, 16, 32])
    sb.plot_sphere_eigenvalues(a3, ks, mu_s, bias=0.5, colors=("C1", "C2"))
    assert len(a3.lines) == 4 and a3.lines[0].get_color() == "C1"
    with pytest.raises(ValueError, match="fit_from"):
        sb.plot_even_degree_decay(a2, ks, {2: mu_c[0.0]}, fit_from=40)
    with pytest.raises(ValueError, match="no entry"):
        sb.plot_sphere_eigenvalues(a3, ks, {(3, 0.0): mu_s[(3, 0.0)]}, bias=0.5)
    with pytest.raises(ValueError, match="colors"):
        sb.plot_sphere_eigenvalues(a3, ks, mu_s, bias=0.5, colors=("C1",))
    plt.close(fig)
