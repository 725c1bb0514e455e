"""Tests for lecture_lib.ntk_primer (experiments of notebook 02)."""
from __future__ import annotations

import numpy as np
import pytest

import jax

from lecture_lib import kernels, metrics
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
    assert r.gap.max() < 1e-4
    k = kernels.analytic_kernel(kernels.fc(0, activation="identity", b_std=0.5)[2], task.x_train,
                                dtype="float64")
    assert lr == pytest.approx(6 / np.linalg.eigvalsh(k)[-1])


def test_lazy_training_wide_relu_tracks_closed_form():
    task = lec.circle_task(8, 30, seed=1)
    runs, _ = lec.lazy_training(task.x_train, task.y_train, task.x_test, [16, 2048], depth=1,
                                steps=100, record_every=25, progress=False)
    narrow, wide = runs[16], runs[2048]
    assert wide.gap[0] == pytest.approx(0.0, abs=1e-6)   # same f0 by construction
    assert wide.gap.max() < 0.1
    assert wide.gap.max() < narrow.gap.max()
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
