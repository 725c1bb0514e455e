"""Tests for lecture_lib.ntk_primer (experiments of notebook 02)."""
from __future__ import annotations

import numpy as np
import pytest

import jax

from lecture_lib import kernels, metrics, recursion, widgets
from lecture_lib.lectures import ntk_primer as lec


# --------------------------------------------------------------------------- circle task
def test_circle_task_shapes_and_geometry():
    task = lec.circle_task(n_train=7, n_test=20, seed=3)
    assert task.x_train.shape == (7, 2) and task.y_train.shape == (7,)
    assert task.x_test.shape == (20, 2) and task.t_test.shape == (20,)
    np.testing.assert_allclose(np.linalg.norm(task.x_train, axis=1), 1.0)
    assert np.all(np.diff(task.t_train) > 0)
    assert np.all((task.t_train >= 0) & (task.t_train < 2 * np.pi))
    np.testing.assert_allclose(task.t_test[1] - task.t_test[0], 2 * np.pi / 20)
    np.testing.assert_allclose(task.y_test, np.sin(2 * task.t_test) + 0.5 * np.cos(3 * task.t_test))
    np.testing.assert_allclose(task.x_train[:, 0], np.cos(task.t_train))


def test_circle_task_seeded_and_custom_target():
    a = lec.circle_task(5, 4, seed=1)
    b = lec.circle_task(5, 4, seed=1)
    c = lec.circle_task(5, 4, seed=2)
    np.testing.assert_array_equal(a.t_train, b.t_train)
    assert not np.allclose(a.t_train, c.t_train)
    d = lec.circle_task(5, 4, seed=1, target=np.cos)
    np.testing.assert_allclose(d.y_train, np.cos(a.t_train))


@pytest.mark.parametrize("kwargs, err", [
    (dict(n_train=0), ValueError), (dict(n_test=1.5), TypeError), (dict(seed=-1), ValueError),
    (dict(target="sin"), TypeError), (dict(target=lambda t: np.stack([t, t])), ValueError),
])
def test_circle_task_bad_input(kwargs, err):
    with pytest.raises(err):
        lec.circle_task(**kwargs)


# --------------------------------------------------------------------------- kernel convergence
def test_kernel_convergence_consistent_and_converging():
    x = lec.circle_task(6, 2, seed=0).x_train
    res = lec.kernel_convergence(x, [8, 2048], seeds=3, depth=1, progress=False)
    assert res.errors.shape == (2, 3) and res.empirical.shape == (2, 3, 6, 6)
    ref = kernels.analytic_kernel(kernels.fc(1)[2], x, dtype="float64")
    np.testing.assert_allclose(res.analytic, ref, rtol=1e-12)
    for i in range(2):
        for s in range(3):
            assert res.errors[i, s] == pytest.approx(
                metrics.relative_error(res.empirical[i, s], res.analytic))
    # 256x more units -> ~16x smaller error in theory; ask for 4x
    assert res.errors[1].mean() < 0.25 * res.errors[0].mean()
    assert res.errors[1].max() < 0.1


@pytest.mark.parametrize("activation,b_std,depth", [("relu", 0.0, 2), ("relu", 0.3, 1), ("erf", 0.2, 3)])
def test_kernel_convergence_empirical_kernel_is_neural_tangents(activation, b_std, depth):
    x = lec.circle_task(7, 2, seed=1).x_train
    res = lec.kernel_convergence(x, [32], seeds=1, depth=depth, activation=activation, b_std=b_std,
                                 progress=False)
    init_fn, apply_fn, _ = kernels.fc(depth, 32, activation, 2**0.5, b_std)
    _, params = init_fn(jax.random.PRNGKey(0), x.shape)
    ref = kernels.empirical_ntk(apply_fn, params, x)
    np.testing.assert_allclose(res.empirical[0, 0], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_kernel_convergence_bad_input():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="widths"):
        lec.kernel_convergence(x, [], progress=False)
    with pytest.raises(TypeError, match="widths"):
        lec.kernel_convergence(x, 64, progress=False)
    with pytest.raises(ValueError, match="seeds"):
        lec.kernel_convergence(x, [4], seeds=0, progress=False)
    with pytest.raises(ValueError, match="x"):
        lec.kernel_convergence(np.ones(3), [4], progress=False)


# --------------------------------------------------------------------------- weight changes
def test_layer_weight_changes_values():
    w0, w1 = np.ones((2, 3)), np.ones((3, 1))
    p0 = [(w0, np.zeros(3)), (), (w1, np.zeros(1))]
    p1 = [(2 * w0, np.ones(3)), (), (w1 + np.array([[3.0], [0.0], [4.0]]), np.zeros(1))]
    out = lec.layer_weight_changes(p0, p1)
    # layer 1: ||w0|| / ||w0|| = 1 (bias ignored); layer 2: 5 / sqrt(3)
    np.testing.assert_allclose(out, [1.0, 5 / np.sqrt(3)])


def test_layer_weight_changes_bad_input():
    with pytest.raises(TypeError):
        lec.layer_weight_changes({"a": 1}, {"a": 1})
    with pytest.raises(ValueError, match="number of layers"):
        lec.layer_weight_changes([(np.ones(2),)], [(np.ones(2),), ()])
    with pytest.raises(ValueError, match="no layer"):
        lec.layer_weight_changes([(), ()], [(), ()])


# --------------------------------------------------------------------------- lazy training
def test_lazy_training_exact_for_linear_model():
    """depth 0, identity: the network is linear in its parameters, so GD must
    follow the closed form exactly (this pins the lr / n step convention)."""
    task = lec.circle_task(6, 9, seed=0)
    runs, lr = lec.lazy_training(task.x_train, task.y_train, task.x_test, [1], depth=0,
                                 activation="identity", steps=40, record_every=10,
                                 b_std=0.5, progress=False)
    r = runs[1]
    np.testing.assert_array_equal(r.steps, [0, 10, 20, 30, 40])
    assert r.net_test.shape == r.ntk_test.shape == (5, 9)
    np.testing.assert_allclose(r.net_test, r.ntk_test, atol=1e-5)
    np.testing.assert_allclose(r.net_train, r.ntk_train, atol=1e-5)
    assert np.isnan(r.gap[0]) and np.nanmax(r.gap) < 1e-4
    k = kernels.analytic_kernel(kernels.fc(0, activation="identity", b_std=0.5)[2], task.x_train,
                                dtype="float64")
    assert lr == pytest.approx(6 / np.linalg.eigvalsh(k)[-1])


def test_lazy_training_wide_relu_tracks_closed_form():
    task = lec.circle_task(8, 30, seed=1)
    runs, _ = lec.lazy_training(task.x_train, task.y_train, task.x_test, [16, 2048], depth=1,
                                steps=100, record_every=25, progress=False)
    narrow, wide = runs[16], runs[2048]
    np.testing.assert_allclose(wide.net_test[0], wide.ntk_test[0], atol=1e-6)  # same f0
    assert np.isnan(wide.gap[0])                                              # no change yet
    assert np.nanmax(wide.gap) < 0.1
    assert np.nanmax(wide.gap) < np.nanmax(narrow.gap)
    assert wide.train_loss[-1] < 0.05 * wide.train_loss[0]
    assert wide.weight_change < narrow.weight_change
    assert wide.layer_changes.shape == (2,)
    assert np.all(wide.layer_changes < narrow.layer_changes)


def test_lazy_training_bad_input():
    x, y = np.ones((4, 2)), np.ones(4)
    with pytest.raises(ValueError, match="x_train and y_train"):
        lec.lazy_training(x, np.ones(3), x, [4], progress=False)
    with pytest.raises(ValueError, match="x_test"):
        lec.lazy_training(x, y, np.ones((4, 3)), [4], progress=False)
    with pytest.raises(ValueError, match="lr"):
        lec.lazy_training(x, y, x, [4], lr=0.0, progress=False)
    with pytest.raises(ValueError, match="activation"):
        lec.lazy_training(x, y, x, [4], activation="sigmoid", progress=False)
    with pytest.raises(ValueError, match="y_train"):
        lec.lazy_training(x, np.ones((4, 2)), x, [4], progress=False)


# --------------------------------------------------------------------------- kernels by class
def test_normalize_kernel_and_class_contrast():
    k = np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 9.0]])
    kn = kernels.normalize_kernel(k)
    np.testing.assert_allclose(np.diag(kn), 1.0)
    assert kn[0, 1] == pytest.approx(1.0) and kn[0, 2] == 0.0
    assert lec.class_contrast(k, np.array([0, 0, 1]), center=False) == pytest.approx(1.0)
    assert lec.class_contrast(k, np.array([0, 1, 0]), center=False) == pytest.approx(0.0 - 0.5)


def test_class_contrast_centred_ignores_constant_offset():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], 4)
    x = rng.normal(size=(3, 8))[labels] + 0.5 * rng.normal(size=(12, 8))
    k = x @ x.T
    base = lec.class_contrast(k, labels)
    assert base > 0.3
    assert lec.class_contrast(k + 50.0, labels) == pytest.approx(base)
    # without centring the offset washes the contrast out
    assert lec.class_contrast(k + 50.0, labels, center=False) < 0.2 * base


def test_class_contrast_digits_kernel_positive():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 10))
    labels = np.repeat([0, 1], 5)
    x = centres[labels] + 0.1 * rng.normal(size=(10, 10))
    assert lec.class_contrast(x @ x.T, labels) > 0.5


def test_kernel_helpers_bad_input():
    with pytest.raises(ValueError, match="square"):
        kernels.normalize_kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match="diagonal"):
        kernels.normalize_kernel(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="labels"):
        lec.class_contrast(np.eye(3), np.array([0, 1]))
    with pytest.raises(ValueError, match="two classes"):
        lec.class_contrast(np.eye(3), np.array([0, 0, 0]), center=False)
    with pytest.raises(TypeError, match="center"):
        lec.class_contrast(np.eye(3), np.array([0, 0, 1]), center="yes")


# --------------------------------------------------------------------------- learned-change gap
def test_learned_change_gap_ignores_shared_f0():
    f0 = np.array([5.0, -3.0, 4.0])
    ntk = np.stack([f0, f0 + [1.0, 0.0, 0.0], f0 + [2.0, 0.0, 0.0]])
    net = ntk + np.array([[0.0, 0, 0], [0.1, 0, 0], [0.0, 0.2, 0]])
    gap = lec.learned_change_gap(net, ntk)
    assert np.isnan(gap[0])
    np.testing.assert_allclose(gap[1:], [0.1, 0.1])
    # a larger shared f0 does not make the gap look smaller
    np.testing.assert_allclose(lec.learned_change_gap(net + 100.0, ntk + 100.0)[1:], [0.1, 0.1])
    with pytest.raises(ValueError, match="same shape"):
        lec.learned_change_gap(net[:, :2], ntk)


# --------------------------------------------------------------------------- exercise 1
def test_relu_ntk_at_antipodes_negative_with_bias_depth_1():
    """Exercise 1's solution: without bias Theta(pi) = 0 at depth 1; with b_std = 0.5 the
    first-layer term Sigma^(0)(pi) * Sigma_dot^(1)(pi) < 0 outweighs Sigma^(1)(pi) > 0."""
    g = np.array([0.0, np.pi])
    assert recursion.kernel_vs_angle(g, depth=1)[1] == pytest.approx(0.0, abs=1e-12)
    k = recursion.kernel_vs_angle(g, depth=1, b_std=0.5)
    assert -0.1 < k[1] < 0


# --------------------------------------------------------------------------- kernels on splits
def _images(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    proto = rng.normal(size=(3, 4, 4, 1))
    x = proto[labels] + 0.3 * rng.normal(size=(n, 4, 4, 1))
    return x, np.eye(3)[labels]


def test_compare_kernels_on_splits_shapes_and_pairing():
    x, y = _images()
    fc = kernels.fc(depth=1)[2]
    res = lec.compare_kernels_on_splits({"a": (fc, True), "b": (fc, True)}, x, y, n_splits=3,
                                        n_train=12, n_test=24, seed=1, progress=False)
    assert res.names == ("a", "b")
    assert res.accuracy.shape == res.contrast.shape == (3, 2)
    # the same kernel on the same splits: identical, and well above chance on this easy task
    np.testing.assert_array_equal(res.accuracy[:, 0], res.accuracy[:, 1])
    assert res.accuracy.mean() > 0.8
    assert res.k_train.shape == (2, 12, 12) and res.labels.shape == (12,)
    np.testing.assert_allclose(res.k_train[0], res.k_train[0].T)
    again = lec.compare_kernels_on_splits({"a": (fc, True)}, x, y, 3, 12, 24, seed=1, progress=False)
    np.testing.assert_array_equal(again.accuracy[:, 0], res.accuracy[:, 0])


def test_compare_kernels_on_splits_bad_input():
    x, y = _images(30)
    fc = kernels.fc(depth=1)[2]
    with pytest.raises(TypeError, match="kernel_fns"):
        lec.compare_kernels_on_splits({}, x, y, 1, 5, 5, progress=False)
    with pytest.raises(TypeError, match="kernel_fns"):
        lec.compare_kernels_on_splits({"a": fc}, x, y, 1, 5, 5, progress=False)
    with pytest.raises(ValueError, match="n_splits"):
        lec.compare_kernels_on_splits({"a": (fc, True)}, x, y, 4, 5, 5, progress=False)
    with pytest.raises(ValueError, match="x"):
        lec.compare_kernels_on_splits({"a": (fc, True)}, x.reshape(30, -1), y, 1, 5, 5, progress=False)


# --------------------------------------------------------------------------- live figures
def test_angle_figure_moves_with_controls():
    g = np.linspace(0, np.pi, 31)
    fig, update = lec.angle_figure(g)
    live = widgets.live_plot(fig, update, depth=(0, 4, 1), activation=["relu", "erf"], get=["ntk", "nngp"],
                             W_std=(0.5, 2.5, 0.05), b_std=(0.0, 1.0, 0.05))
    live.set(depth=1, b_std=0.5)
    raw, norm = fig.axes[0].lines[0], fig.axes[1].lines[0]
    ref = recursion.kernel_vs_angle(g, depth=1, b_std=0.5)
    np.testing.assert_allclose(raw.get_ydata(), ref)
    np.testing.assert_allclose(norm.get_ydata(), ref / ref[0])
    assert "depth 1" in fig.axes[0].get_title()
    assert live.png[:4] == b"\x89PNG"


def test_entries_and_training_figures_move_with_controls():
    task = lec.circle_task(6, 20, seed=0)
    conv = lec.kernel_convergence(task.x_train, [8, 64], seeds=2, depth=1, progress=False)
    fig, update = lec.entries_figure(conv)
    live = widgets.live_plot(fig, update, width=widgets.selection_slider([8, 64], "width"))
    live.set(width=64)
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets()[:, 1], conv.empirical[1, 0].ravel())
    assert "width 64" in fig.axes[0].get_title()
    runs, _ = lec.lazy_training(task.x_train, task.y_train, task.x_test, [8, 64], depth=1, steps=20,
                                record_every=10, progress=False)
    fig, update = lec.training_figure(task, runs)
    live = widgets.live_plot(fig, update, step=widgets.selection_slider([0, 10, 20], "step"),
                             width=widgets.selection_slider([8, 64], "width"))
    live.set(step=10, width=8)
    net, ntk = fig.axes[0].lines[1], fig.axes[0].lines[2]
    np.testing.assert_allclose(net.get_ydata(), runs[8].net_test[1])
    np.testing.assert_allclose(ntk.get_ydata(), runs[8].ntk_test[1])
    assert "step 10" in fig.axes[0].get_title()
    with pytest.raises(TypeError, match="conv"):
        lec.entries_figure(None)
    with pytest.raises(TypeError, match="runs"):
        lec.training_figure(task, {})
