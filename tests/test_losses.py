"""Tests for lecture_lib.losses (hand values, reductions, masks, shapes)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import losses


def test_mse_hand_value_and_reductions():
    pred = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    y = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    # per example 0.5 * [5, 2]
    assert float(losses.mse(pred, y)) == pytest.approx(1.75)
    assert float(losses.mse(pred, y, reduction="sum")) == pytest.approx(3.5)
    assert float(losses.mse(jnp.array([1.0, 3.0]), jnp.array([[0.0], [1.0]]))) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="shape"):
        losses.mse(pred, jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(pred, y, reduction="max")


def test_mask_selects_rows():
    pred = jnp.array([1.0, 2.0, 3.0])
    y = jnp.zeros(3)
    mask = jnp.array([1.0, 0.0, 1.0])
    assert float(losses.mse(pred, y, mask=mask)) == pytest.approx(0.5 * (1 + 9) / 2)
    assert float(losses.mse(pred, y, mask=mask, reduction="sum")) == pytest.approx(0.5 * 10)
    assert float(losses.mse(pred, y, mask=jnp.ones(3))) == pytest.approx(float(losses.mse(pred, y)))
    with pytest.raises(ValueError, match="mask"):
        losses.mse(pred, y, mask=jnp.ones(2))


def test_cross_entropy_labels_onehot_and_logistic():
    pred = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = jnp.array([0, 2])
    logp = jax.nn.log_softmax(pred, axis=1)
    expected = -0.5 * float(logp[0, 0] + logp[1, 2])
    assert float(losses.cross_entropy(pred, labels)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.cross_entropy(pred, jax.nn.one_hot(labels, 3))) == pytest.approx(expected, rel=1e-6)
    assert float(losses.cross_entropy(pred, labels, reduction="sum")) == pytest.approx(2 * expected, rel=1e-6)
    f = jnp.array([2.0, -1.0, 0.0])
    y = jnp.array([1.0, 1.0, -1.0])
    expected = np.mean(np.log1p(np.exp(-np.array([2.0, -1.0, 0.0]))))
    assert float(losses.cross_entropy(f, y)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.cross_entropy(f[:, None], y)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        losses.cross_entropy(pred, jnp.zeros((2, 2)))


def test_get_and_jit_grad():
    assert losses.get("MSE") is losses.mse
    with pytest.raises(ValueError, match="loss"):
        losses.get("hinge")
    g = jax.jit(jax.grad(lambda p: losses.mse(p * jnp.ones(4), jnp.zeros(4), reduction="sum")))(2.0)
    assert float(g) == pytest.approx(4 * 2.0)  # d/dp 0.5 * 4 p^2
