"""Tests for lecture_lib.lectures.training_speed_spectral_bias (notebook 03)."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lecture_lib import data, recursion, spectral  # noqa: E402
from lecture_lib.lectures import training_speed_spectral_bias as lec  # noqa: E402


def _unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)



# --------------------------------------------------------------------------- training
def test_first_step_follows_infinite_width_gram():
    x = _unit_rows(8, 4, seed=2)
    y = np.random.default_rng(3).choice([-1.0, 1.0], size=8)
    lr = 1e-3
    out = lec.train_two_layer_gd(x, y, width=40_000, lr=lr, steps=1, x_eval=x,
                                snapshot_steps=[0, 1], progress=False)
    np.testing.assert_allclose(out.predictions[0, :, 0], 0.0, atol=1e-5)  # symmetric init
    u1 = out.predictions[1, :, 0]
    h = recursion.two_layer_relu_ntk(x)
    # u(1) = lr H(0) y with H(0) -> H^infinity as width -> infinity
    assert np.linalg.norm(u1 / lr - h @ y) < 0.03 * np.linalg.norm(h @ y)


def test_wide_net_residual_tracks_ntk_prediction_and_bias_is_trained():
    t, x = data.circle_points(16)
    y = np.stack([np.sin(2 * t), np.cos(3 * t)], axis=1)  # two label vectors in one pass
    bias = 0.5
    h = recursion.two_layer_relu_ntk(x, bias=bias)
    lam, v = np.linalg.eigh(h)
    lr = 1.0 / lam.max()
    steps = 60
    out = lec.train_two_layer_gd(x, y, width=4000, lr=lr, steps=steps, bias=bias,
                                init_scale=4.0, progress=False, n_chunks=4)
    assert out.residual_norm.shape == (steps + 1, 2)
    proj = v.T @ y
    k = out.step[:, None]
    for j in range(2):
        pred = np.sqrt(np.sum((1 - lr * lam[None]) ** (2 * k) * proj[:, j][None] ** 2, axis=1))
        np.testing.assert_allclose(out.residual_norm[:, j], pred, rtol=0.05,
                                   atol=0.02 * np.linalg.norm(y[:, j]))
    # the odd frequency 3 can only be fitted thanks to the bias
    assert out.residual_norm[-1, 1] < 0.5 * out.residual_norm[0, 1]
    assert np.all(out.relative_change > 0)


def test_training_input_errors():
    x = _unit_rows(4, 3)
    y = np.ones(4)
    with pytest.raises(ValueError, match="width"):
        lec.train_two_layer_gd(x, y, width=3, lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="rows"):
        lec.train_two_layer_gd(x, y[:3], width=4, lr=0.1, steps=1, progress=False)
    with pytest.raises(ValueError, match="lr"):
        lec.train_two_layer_gd(x, y, width=4, lr=0.0, steps=1, progress=False)
    with pytest.raises(ValueError, match="snapshot_steps"):
        lec.train_two_layer_gd(x, y, width=4, lr=0.1, steps=2, x_eval=x, snapshot_steps=[5],
                              progress=False)
    with pytest.raises(ValueError, match="x_eval"):
        lec.train_two_layer_gd(x, y, width=4, lr=0.1, steps=2, snapshot_steps=[1], progress=False)


# --------------------------------------------------------------------------- notebook helpers
def test_sines_target_and_validation():
    t, _ = data.circle_points(64)
    np.testing.assert_allclose(lec.sines(t, [4, 14], [1.0, 0.5]), np.sin(4 * t) + 0.5 * np.sin(14 * t))
    with pytest.raises(ValueError, match="freqs"):
        lec.sines(t, [-1])
    with pytest.raises(ValueError, match="amplitudes"):
        lec.sines(t, [1, 2], [1.0])


def test_steps_to_threshold_first_step_or_inf():
    steps = np.array([0, 1, 2, 5, 10, 20])
    res = np.array([10.0, 8.0, 3.0, 1.0, 0.5, 0.2])
    assert lec.steps_to_threshold(res, steps, 0.1, relative=True) == 5   # 1.0 <= 0.1 * 10 (boundary counts)
    assert lec.steps_to_threshold(res, steps, 0.05, relative=True) == 10
    assert lec.steps_to_threshold(res, steps, 0.5) == 10                 # absolute level
    assert lec.steps_to_threshold(res, steps, 9.0) == 1
    assert isinstance(lec.steps_to_threshold(res, steps, 3.0), int)
    never = lec.steps_to_threshold(res, steps, 0.01, relative=True)
    assert never == np.inf and np.isinf(never)
    assert lec.steps_to_threshold(res, steps, 0.1) == np.inf
    # not monotone: the first crossing counts, not the last
    assert lec.steps_to_threshold(np.array([1.0, 0.3, 0.9, 0.2]), np.arange(4) * 10, 0.5) == 10
    with pytest.raises(ValueError, match="same shape"):
        lec.steps_to_threshold(res, steps[:3], 0.1)
    with pytest.raises(TypeError, match="level"):
        lec.steps_to_threshold(res, steps, "0.1")


def test_log_steps_and_nearest_index():
    grid = lec.log_steps(1, 1000, 50)
    assert grid[0] == 1 and grid[-1] == 1000 and np.all(np.diff(grid) > 0)
    assert np.issubdtype(grid.dtype, np.integer) and len(grid) <= 50
    merged = lec.log_steps(10, 100, 5, include=np.arange(12))
    np.testing.assert_array_equal(merged[:12], np.arange(12))
    assert merged[-1] == 100 and np.all(np.diff(merged) > 0)
    np.testing.assert_array_equal(lec.log_steps(1, 300, 40, include=[0]),
                                  np.unique(np.concatenate([[0], np.geomspace(1, 300, 40).astype(int)])))
    with pytest.raises(ValueError, match="stop"):
        lec.log_steps(10, 5, 3)
    with pytest.raises(ValueError, match="include"):
        lec.log_steps(1, 5, 3, include=[0.5])
    assert lec.nearest_index(np.array([0, 10, 20, 30]), 14) == 1
    assert lec.nearest_index(np.array([0, 10, 20]), 15) == 1  # tie: the first one
    assert lec.nearest_index(np.array([0, 10, 20]), 1e9) == 2


def test_circle_kernel_dynamics_decays_each_frequency_at_its_eigenvalue():
    n = 32
    t, x = data.circle_points(n)
    t_plot, x_plot = data.circle_points(50)
    k = recursion.two_layer_relu_ntk(x, bias=0.5)
    steps = np.array([0, 1, 5, 20, 100])
    dyn, amp = lec.circle_kernel_dynamics(t, k, recursion.two_layer_relu_ntk(x_plot, x, bias=0.5), [2, 5], steps)
    assert amp.shape == (5, 2) and dyn.train.shape == (5, n) and dyn.test.shape == (5, 50)
    lr = 1.0 / np.linalg.eigvalsh(k).max()
    # sin(k t) is an eigenvector of the circulant Gram matrix, eigenvalue sum_j K_0j cos(k t_j)
    lam = np.array([np.sum(k[0] * np.cos(f * t)) for f in (2, 5)])
    np.testing.assert_allclose(amp, np.abs(1 - lr * lam)[None] ** steps[:, None], atol=1e-10)
    np.testing.assert_allclose(dyn.train[0], 0.0, atol=1e-12)
    dyn2, amp2 = lec.circle_kernel_dynamics(t, k, None, [2, 5], steps, lr=0.5 * lr)
    assert dyn2.test is None and np.all(amp2[-1] > amp[-1])


@pytest.fixture
def ax():
    fig, axis = plt.subplots()
    yield axis
    plt.close(fig)


# --------------------------------------------------------------------------- plots
def test_plot_label_noise_panels(ax):
    steps = np.arange(6)
    net = {0.0: np.linspace(4, 1, 6), 1.0: np.linspace(4, 3, 6)}
    ntk = {0.0: np.linspace(4, 0.5, 6), 0.5: np.ones(6), 1.0: np.linspace(4, 2.5, 6)}
    lec.plot_label_noise_residuals(ax, steps, net, ntk, title="t")
    assert len(ax.lines) == 2 * len(net) + 1  # net + NTK per level, one legend-only line
    assert ax.get_xscale() == "symlog" and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["net, noise 0%", "net, noise 100%",
                                                                   "NTK prediction"]
    with pytest.raises(ValueError, match="missing"):
        lec.plot_label_noise_residuals(ax, steps, {0.25: np.ones(6)}, ntk)
    with pytest.raises(ValueError, match="length"):
        lec.plot_label_noise_residuals(ax, steps[:4], net, ntk)
    ax.clear()
    lec.plot_label_noise_residuals(ax, steps, {0.0: np.ones(3)}, ntk)  # a shorter run: drawn on steps[:3]
    assert len(ax.lines[0].get_xdata()) == 3 and len(ax.lines[1].get_xdata()) == 6


def test_plot_label_energy_bars(ax):
    rng = np.random.default_rng(1)
    p = {"true labels": rng.normal(size=50), "random labels": rng.normal(size=50)}
    e = lec.plot_label_energy(ax, p, top=10)
    assert e.shape == (2, 10)
    np.testing.assert_allclose(e[1], spectral.label_energy(p["random labels"])[:10])
    assert len(ax.patches) == 20
    np.testing.assert_allclose([b.get_height() for b in ax.patches[:10]], e[0])
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in ax.patches[:10]], np.arange(1, 11) - 0.2)
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 50)  # uniform spread
    with pytest.raises(ValueError, match="top"):
        lec.plot_label_energy(ax, p, top=51)


def test_plot_complexity_and_error(ax):
    ax2 = lec.plot_complexity_and_error(ax, {0.0: 1.0, 0.5: 2.0, 1.0: 3.0}, {0.0: 0.1, 1.0: 0.5})
    assert ax2 is not ax and len(ax.lines) == 1 and len(ax2.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0, 50, 100])
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), [0.1, 0.5])
    with pytest.raises(TypeError, match="complexity"):
        lec.plot_complexity_and_error(ax, [1.0, 2.0], {0.0: 0.1})


def test_plot_residual_prediction_and_cumulative_energy():
    lam = np.array([2.0, 1.0, 0.1])
    proj = {0.0: np.array([3.0, 1.0, 0.1]), 0.5: np.array([1.0, 1.0, 1.0]), 1.0: np.array([0.1, 1.0, 3.0])}
    k = np.array([1, 2, 5, 10])
    fig, (a1, a2) = plt.subplots(1, 2)
    res = lec.plot_residual_prediction(a1, lam, proj, 0.5, 0.4, k, title="x")
    np.testing.assert_allclose(res, spectral.residual_norms(lam, proj[0.5], 0.4, k))
    assert len(a1.lines) == 3 and a1.get_xscale() == "log" and a1.get_title() == "x"
    lec.plot_residual_prediction(a1, lam, proj, 0.5, 0.4, k, net=(np.arange(4), np.ones(4)))
    assert len(a1.lines) == 3 + 4 and len(a1.lines[-1].get_xdata()) == 3  # net drawn without step 0
    cum = lec.plot_cumulative_energy(a2, proj, 0.5)
    np.testing.assert_allclose(cum, [1 / 3, 2 / 3, 1.0])
    assert len(a2.lines) == 3
    assert [t.get_text() for t in a2.get_legend().get_texts()] == ["noise 50%", "true", "random"]
    with pytest.raises(ValueError, match="noise level"):
        lec.plot_residual_prediction(a1, lam, proj, 0.25, 0.4, k)
    with pytest.raises(ValueError, match="noise level"):
        lec.plot_cumulative_energy(a2, {0.5: proj[0.5]}, 0.5)
    plt.close(fig)


def test_plot_circle_fit_and_frequency_residuals():
    t = np.linspace(0, 2 * np.pi, 30)
    snaps, k_steps = np.array([0, 5, 50]), np.array([0, 5, 20, 50, 500])
    net_fit, k_fit = np.arange(3)[:, None] * np.ones(30), np.arange(5)[:, None] * np.ones(30)
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    i = lec.plot_circle_fit(a1, t, np.sin(t), 10, net=(snaps, net_fit), kernel=(k_steps, k_fit))
    assert i == 2 and a1.get_title() == "step 50" and len(a1.lines) == 3  # first saved step >= 10
    np.testing.assert_allclose(a1.lines[1].get_ydata(), 2.0)
    np.testing.assert_allclose(a1.lines[2].get_ydata(), 3.0)  # kernel at step 50
    with pytest.raises(ValueError, match="step"):
        lec.plot_circle_fit(a1, t, np.sin(t), 51, net=(snaps, net_fit), kernel=(k_steps, k_fit))
    amp = np.linspace(1, 0, 10)[:, None] * np.ones(2)
    lec.plot_frequency_residuals(a2, [4, 14], (np.arange(1, 11), amp), net=(np.arange(1, 11), amp), mark=7)
    assert len(a2.lines) == 2 * 2 + 1 and a2.get_xscale() == "log"
    assert a2.get_title() == r"residual per frequency ($\sin 4t + \sin 14t$)"
    lec.plot_frequency_residuals(a3, [4, 14, 20], (np.arange(1, 11), np.ones((10, 3))), title="k")
    assert len(a3.lines) == 3 and a3.get_title() == "k"
    with pytest.raises(ValueError, match="shape"):
        lec.plot_frequency_residuals(a3, [4], (np.arange(1, 11), amp))
    plt.close(fig)


def test_plot_circle_kernel_dynamics_and_predictions():
    t, x = data.circle_points(32)
    t_plot, x_plot = data.circle_points(60)
    k, kx = recursion.two_layer_relu_ntk(x, bias=0.5), recursion.two_layer_relu_ntk(x_plot, x, bias=0.5)
    steps = lec.log_steps(1, 10_000, 30)
    fig, axes = plt.subplots(1, 2)
    amp = lec.plot_circle_kernel_dynamics(axes, t, t_plot, k, kx, (2, 9), steps, marks=(10, 10_000), title="b")
    np.testing.assert_allclose(amp, lec.circle_kernel_dynamics(t, k, kx, (2, 9), steps)[1])
    half = [lec.steps_to_threshold(amp[:, j], steps, 0.5) for j in range(2)]
    assert 5 * half[0] < half[1] < np.inf  # low frequency first
    assert len(axes[0].lines) == 2 and axes[0].get_ylim() == (-0.05, 1.05) and axes[0].get_title() == "b"
    assert len(axes[1].lines) == 1 + 2  # target + one fit per mark
    fits = np.zeros((len(steps), 60))
    drawn = lec.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits, marks=(3, 9999))
    assert drawn == [int(steps[lec.nearest_index(steps, 3)]), 10_000]
    with pytest.raises(ValueError, match="marks"):
        lec.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits, marks=(1, 2, 3, 4))
    with pytest.raises(ValueError, match="shape"):
        lec.plot_circle_predictions(axes[1], t_plot, np.zeros(60), steps, fits[1:], marks=(1,))
    with pytest.raises(ValueError, match="shape"):
        lec.plot_circle_predictions(axes[1], t_plot, np.zeros(59), steps, fits, marks=(1,))
    plt.close(fig)


def test_plot_eigenvalue_panels():
    ks = np.arange(0, 41)
    mu_c = {b: spectral.sphere_ntk_eigenvalues(ks, 2, bias=b) for b in (0.0, 0.5)}
    mu_s = {(d, b): spectral.sphere_ntk_eigenvalues(ks, d, bias=b) for d in (3, 5) for b in (0.0, 0.5)}
    fig, (a1, a2, a3) = plt.subplots(1, 3)
    lec.plot_circle_eigenvalues(a1, ks, mu_c, gram=(np.array([0, 1, 1]), np.array([0.1, 0.05, 0.05])),
                               gram_bias=0.5)
    assert len(a1.lines) == 3 and a1.get_ylim() == (1e-17, 1.0)
    assert np.max(a1.lines[0].get_ydata()[3::2]) < 1e-13  # odd degrees >= 3 vanish without bias
    fig2, a0 = plt.subplots()
    lec.plot_circle_eigenvalues(a0, np.arange(3), {0.0: np.array([1e-3, 0.0, -1e-5])})
    np.testing.assert_array_equal(a0.lines[0].get_ydata(), [1e-3, 1e-16, 1e-5])  # |mu| floored
    assert len(a0.lines) == 1
    plt.close(fig2)
    assert "n = 3" in a1.get_legend().get_texts()[-1].get_text()
    slopes = lec.plot_even_degree_decay(a2, ks, {2: mu_c[0.0], 3: mu_s[(3, 0.0)]})
    assert set(slopes) == {2, 3} and slopes[2] == pytest.approx(-2, abs=0.3) and slopes[3] < slopes[2]
    assert len(a2.lines) == 3 * 2  # points, fitted line, all even points per dimension
    np.testing.assert_array_equal(a2.get_xticks(), [2, 4, 8, 16, 32])
    lec.plot_sphere_eigenvalues(a3, ks, mu_s, bias=0.5, colors=("C1", "C2"))
    assert len(a3.lines) == 4 and a3.lines[0].get_color() == "C1"
    with pytest.raises(ValueError, match="fit_from"):
        lec.plot_even_degree_decay(a2, ks, {2: mu_c[0.0]}, fit_from=40)
    with pytest.raises(ValueError, match="no entry"):
        lec.plot_sphere_eigenvalues(a3, ks, {(3, 0.0): mu_s[(3, 0.0)]}, bias=0.5)
    with pytest.raises(ValueError, match="colors"):
        lec.plot_sphere_eigenvalues(a3, ks, mu_s, bias=0.5, colors=("C1",))
    plt.close(fig)


# --------------------------------------------------------------------------- network, controls, live figures
def test_two_layer_net_shares_directions_and_ntk_across_init_scales():
    from lecture_lib import kernels

    t, x = data.circle_points(12)
    a = lec.two_layer_relu_net(2, 400, bias=0.5, init_scale=1.0, seed=3)
    b = lec.two_layer_relu_net(2, 400, bias=0.5, init_scale=8.0, seed=3)
    np.testing.assert_allclose(np.asarray(b.params[0]), 8.0 * np.asarray(a.params[0]), rtol=1e-6)
    assert a.augment(x).shape == (12, 3) and np.all(a.augment(x)[:, 2] == 0.5)
    f = np.asarray(a.apply_fn(a.params, x))
    assert f.shape == (12, 1)
    np.testing.assert_allclose(f, 0.0, atol=1e-6)  # symmetric init
    ka = kernels.empirical_ntk(a.apply_fn, a.params, x)
    kb = kernels.empirical_ntk(b.apply_fn, b.params, x)
    np.testing.assert_allclose(ka, kb, rtol=1e-4, atol=1e-6)  # ReLU homogeneity: same NTK at init
    h = recursion.two_layer_relu_ntk(x, bias=0.5)
    assert np.linalg.norm(ka - h) < 0.2 * np.linalg.norm(h)   # finite width, close to H^infinity
    with pytest.raises(ValueError, match="width"):
        lec.two_layer_relu_net(2, 5)
    with pytest.raises(ValueError, match="init_scale"):
        lec.two_layer_relu_net(2, 4, init_scale=0.0)


def test_no_bias_net_never_fits_an_odd_frequency_at_finite_width():
    # ReLU(z) = (z + |z|)/2: without bias the net is linear + even in x for any weights, so on the
    # antipodally symmetric grid the gradient of <sin 3t, f(X)> vanishes and sin 3t is never fitted.
    t, x = data.circle_points(32)
    y = np.sin(3 * t)
    run0 = lec.train_two_layer_gd(x, y, width=200, lr=0.2, steps=50, progress=False, n_chunks=1)
    run1 = lec.train_two_layer_gd(x, y, width=200, lr=0.2, steps=50, bias=0.5, progress=False, n_chunks=1)
    assert abs(run0.residual_norm[-1, 0] / run0.residual_norm[0, 0] - 1) < 1e-4
    assert run1.residual_norm[-1, 0] < 0.9 * run1.residual_norm[0, 0]


def test_subspace_energy_quantile_matches_simulation():
    rng = np.random.default_rng(0)
    n, k = 60, 5
    g = rng.normal(size=(20_000, n))
    e = np.sum(g[:, :k] ** 2, axis=1) / np.sum(g**2, axis=1)  # a fixed vector on a random subspace
    for q in (0.5, 0.99):
        assert lec.subspace_energy_quantile(n, k, q) == pytest.approx(np.quantile(e, q), rel=0.03)
    assert lec.subspace_energy_quantile(n, k, 0.5) < k / n < lec.subspace_energy_quantile(n, k, 0.9)
    with pytest.raises(ValueError, match="k"):
        lec.subspace_energy_quantile(10, 10, 0.5)
    with pytest.raises(ValueError, match="q"):
        lec.subspace_energy_quantile(10, 3, 1.0)


def test_circle_modes_sum_to_the_pair_dynamics():
    t, x = data.circle_points(32)
    t_plot, x_plot = data.circle_points(50)
    k, kx = recursion.two_layer_relu_ntk(x, bias=0.5), recursion.two_layer_relu_ntk(x_plot, x, bias=0.5)
    steps = np.array([0, 3, 30, 300])
    m = lec.circle_modes(t, k, kx, range(1, 9), steps)
    assert m.amplitudes.shape == (4, 8) and m.fits.shape == (4, 50, 8)
    dyn, amp = lec.circle_kernel_dynamics(t, k, kx, (2, 7), steps)
    np.testing.assert_allclose(m.fits[:, :, 1] + m.fits[:, :, 6], dyn.test, atol=1e-10)
    np.testing.assert_allclose(m.amplitudes[:, [1, 6]], amp, atol=1e-10)
    with pytest.raises(ValueError, match="n/2"):
        lec.circle_modes(t, k, kx, [16], steps)


def test_live_figures_move_artists_from_precomputed_results():
    from lecture_lib import widgets

    lam = np.array([4.0, 1.0, 0.2, 0.05])
    proj = {p: np.array([2.0 - 2 * p, 1.0, 0.5 + p, 0.5 + 2 * p]) for p in (0.0, 0.5, 1.0)}
    steps = lec.log_steps(1, 500, 30)
    fig, update = lec.live_residual_prediction(lam, proj, steps, [0.5, 1.0],
                                               net={0.5: (np.arange(4), np.array([3.0, 2, 1, 0.5]))},
                                               complexity={0.0: 1.0, 0.5: 2.0, 1.0: 3.0})
    live = widgets.live_plot(fig, update, noise=widgets.selection_slider([0.0, 0.5, 1.0], "noise"),
                             lr_times_lmax=widgets.selection_slider([0.5, 1.0], "lr", value=1.0))
    a1, a2 = fig.axes
    live.set(noise=0.5)
    np.testing.assert_allclose(a1.lines[2].get_ydata(), spectral.residual_norms(lam, proj[0.5], 1 / 4.0, steps))
    assert len(a1.lines[3].get_xdata()) == 3 and "complexity 2.00" in a1.get_title()
    np.testing.assert_allclose(a2.lines[0].get_ydata(), spectral.cumulative_energy(proj[0.5]))
    live.set(lr_times_lmax=0.5)
    assert len(a1.lines[3].get_xdata()) == 0  # the net was trained at eta lambda_max = 1 only
    assert live.png[:4] == b"\x89PNG"
    plt.close(fig)

    t = np.linspace(0, 2 * np.pi, 20)
    snaps = np.array([0, 5, 50])
    nets = {"net A": (np.ones((3, 20)) * np.arange(3)[:, None], np.ones((3, 2))),
            "net B": (np.zeros((3, 20)), np.full((3, 2), 0.25))}
    fig, update = lec.live_circle_fit(t, np.sin(t), snaps, nets, kernel=(np.array([0, 10, 100]), np.ones((3, 20))))
    live = widgets.live_plot(fig, update, step=widgets.selection_slider(snaps.tolist(), "step", value=50))
    assert fig.axes[0].lines[1].get_ydata()[0] == 2.0 and "0.25" in fig.axes[0].get_title()
    live.set(step=5)
    assert fig.axes[0].lines[1].get_ydata()[0] == 1.0
    with pytest.raises(ValueError, match="saved step"):
        update(7)
    plt.close(fig)

    _, x = data.circle_points(32)
    t_c, _ = data.circle_points(32)
    t_plot, x_plot = data.circle_points(40)
    modes = {b: lec.circle_modes(t_c, recursion.two_layer_relu_ntk(x, bias=b),
                                 recursion.two_layer_relu_ntk(x_plot, x, bias=b), range(1, 10), lec.log_steps(1, 1000, 20))
             for b in (0.0, 0.5)}
    fig, update = lec.live_circle_modes(t_plot, modes, marks=(10, 1000))
    live = widgets.live_plot(fig, update, k_low=widgets.selection_slider(list(range(1, 10)), "low", value=2),
                             k_high=widgets.selection_slider(list(range(1, 10)), "high", value=5),
                             bias=widgets.selection_slider([0.0, 0.5], "bias", value=0.5))
    live.set(k_high=3, bias=0.0)
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), 1.0, atol=1e-9)  # odd k >= 3 stuck without bias
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), np.sin(2 * t_plot) + np.sin(3 * t_plot))
    with pytest.raises(ValueError, match="precomputed"):
        update(2, 12, 0.5)
    plt.close(fig)
