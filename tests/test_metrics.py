"""Tests for lecture_lib.metrics."""
import numpy as np
import pytest

from lecture_lib import metrics


def test_accuracy_sign_argmax_and_leading_axes():
    assert metrics.accuracy(np.array([0.3, -2.0, 1.0, -0.1]), np.array([1, -1, -1, 1])) == 0.5
    assert metrics.accuracy(np.array([0.0, 1.0]), np.array([1, 1])) == 0.5   # 0 counts as wrong
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert metrics.accuracy(pred, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert metrics.accuracy(pred, np.eye(2)[[1, 0, 1]]) == 1.0
    stacked = np.stack([pred, -pred])                          # (2, n, k): one value per member
    np.testing.assert_allclose(metrics.accuracy(stacked, np.eye(2)[[1, 0, 1]]), [1.0, 0.0])
    ens = np.array([[[1.0], [-1.0]], [[-1.0], [-1.0]]])        # (E=2, n=2, 1) one output
    np.testing.assert_allclose(metrics.accuracy(ens, np.array([1, -1])), [1.0, 0.5])
    with pytest.raises(ValueError, match="labels"):
        metrics.accuracy(pred, np.array([0, 1, 5]))
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        metrics.accuracy(np.array([0.5, 1.5]), np.array([0.2, 3.0]))
    with pytest.raises(ValueError, match="examples"):
        metrics.accuracy(pred, np.array([0, 1]))


def test_mse_and_relative_error():
    assert metrics.mse([1.0, 3.0], [0.0, 1.0]) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="shape"):
        metrics.mse([1.0], [1.0, 2.0])
    ref = np.array([[3.0, 0.0], [0.0, 4.0]])
    assert metrics.relative_error(ref, ref) == 0.0
    assert metrics.relative_error(2 * ref, ref) == pytest.approx(1.0)
    x = np.stack([ref, ref + np.array([[0.0, 5.0], [0.0, 0.0]])])
    np.testing.assert_allclose(metrics.relative_error(x, ref, axis=(-2, -1)), [0.0, 1.0])
    np.testing.assert_allclose(metrics.relative_error(np.ones((3, 2)), np.ones(2), axis=1), 0.0)
    with pytest.raises(ValueError, match="zeros"):
        metrics.relative_error(ref, np.zeros_like(ref))
    with pytest.raises(ValueError, match="broadcast"):
        metrics.relative_error(np.ones(3), np.ones(2))


def test_power_law_fit_recovers_exponent():
    x = np.array([10.0, 20.0, 40.0, 80.0])
    p, c = metrics.power_law_fit(x, 3.0 * x**2.5)
    assert p == pytest.approx(2.5) and c == pytest.approx(3.0)
    y = np.where(x < 30, 1e3, 2.0 * x**2)                      # flat start: fit the last 2 only
    assert metrics.power_law_fit(x, y, last=2)[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        metrics.power_law_fit([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="last"):
        metrics.power_law_fit(x, x, last=1)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.power_law_fit([1.0], [1.0])


def test_relative_change_hand_example():
    p0 = {"a": np.array([3.0, 0.0]), "b": (np.array([4.0]),)}
    p1 = {"a": np.array([3.0, 1.0]), "b": (np.array([4.0]),)}
    assert metrics.relative_change(p0, p0) == 0.0
    assert metrics.relative_change(p0, p1) == pytest.approx(1 / 5)
    p2 = {"a": np.array([0.0, 0.0]), "b": (np.array([0.0]),)}
    assert metrics.relative_change(p0, p2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero norm"):
        metrics.relative_change(p2, p0)
    with pytest.raises(ValueError, match="structure"):
        metrics.relative_change(p0, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="shapes"):
        metrics.relative_change(p0, {"a": np.zeros(3), "b": (np.zeros(1),)})
