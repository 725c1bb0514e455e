"""Tests for lecture_lib.train (small models only: the whole file runs in seconds)."""

import lecture_lib  # noqa: F401  (quiets TF before neural_tangents)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import train as T


def linear_apply(p, x):
    return x @ p["w"] + p["b"]


def linear_problem(n=40, d=5, k=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    shape = (d,) if k is None else (d, k)
    y = (x @ rng.normal(size=shape) + 0.3 * rng.normal(size=(n,) + shape[1:])).astype(np.float32)
    p0 = {"w": jnp.zeros(shape), "b": jnp.zeros(shape[1:])}
    return x, y, p0


def lstsq(x, y):
    a = np.c_[x.astype(np.float64), np.ones(len(x))]
    return np.linalg.lstsq(a, y.astype(np.float64), rcond=None)[0]


# ---------------------------------------------------------------------------
# losses and accuracy
# ---------------------------------------------------------------------------
def test_mse_loss_hand_value():
    pred = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    y = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    # 0.5 * mean([1 + 4, 1 + 1]) = 0.5 * 3.5
    assert float(T.mse_loss(pred, y)) == pytest.approx(1.75)
    assert float(T.mse_loss(jnp.array([1.0, 3.0]), jnp.array([[0.0], [1.0]]))) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="shape"):
        T.mse_loss(pred, jnp.array([0.0, 1.0]))


def test_cross_entropy_labels_onehot_and_logistic():
    pred = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = jnp.array([0, 2])
    logp = jax.nn.log_softmax(pred, axis=1)
    expected = -0.5 * float(logp[0, 0] + logp[1, 2])
    assert float(T.cross_entropy_loss(pred, labels)) == pytest.approx(expected, rel=1e-6)
    assert float(T.cross_entropy_loss(pred, jax.nn.one_hot(labels, 3))) == pytest.approx(expected, rel=1e-6)
    f = jnp.array([2.0, -1.0, 0.0])
    y = jnp.array([1.0, 1.0, -1.0])
    expected = np.mean(np.log1p(np.exp(-np.array([2.0, -1.0, 0.0]))))
    assert float(T.cross_entropy_loss(f, y)) == pytest.approx(expected, rel=1e-6)
    assert float(T.cross_entropy_loss(f[:, None], y)) == pytest.approx(expected, rel=1e-6)


def test_accuracy_sign_argmax_and_regression():
    assert T.accuracy(np.array([0.3, -2.0, 1.0, -0.1]), np.array([1, -1, -1, 1])) == 0.5
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert T.accuracy(pred, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert T.accuracy(pred, np.eye(2)[[1, 0, 1]]) == 1.0
    assert np.isnan(T.accuracy(np.array([0.5, 1.5]), np.array([0.2, 3.0])))
    with pytest.raises(ValueError, match="y"):
        T.accuracy(pred, np.array([0, 1, 5]))


def test_evaluate_matches_losses():
    x, y, p0 = linear_problem()
    p = {"w": jnp.ones(5), "b": jnp.array(0.5)}
    out = T.evaluate(linear_apply, p, x, y)
    assert out["loss"] == pytest.approx(0.5 * np.mean((x @ np.ones(5) + 0.5 - y) ** 2), rel=1e-5)
    assert np.isnan(out["acc"])


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------
def test_gd_linear_reaches_least_squares():
    x, y, p0 = linear_problem(k=2)
    res = T.train(linear_apply, p0, x, y, optimizer="gd", lr=0.5, steps=400, progress=False)
    sol = lstsq(x, y)
    got = np.vstack([np.asarray(res.params["w"]), np.asarray(res.params["b"])[None]])
    np.testing.assert_allclose(got, sol, atol=1e-4)
    assert np.all(np.isnan(res.history["weight_change"]))  # zero init: undefined
    # the training loss equals the least-squares residual loss
    res_loss = 0.5 * np.mean(np.sum((np.c_[x, np.ones(len(x))] @ sol - y) ** 2, axis=1))
    assert res.history["train_loss"][-1] == pytest.approx(res_loss, rel=1e-4)


def test_gd_mse_follows_linear_dynamics_normalisation():
    """GD on 1/(2n)||f - y||^2 of a linear model: f_t = y + (I - lr K/n)^t (f_0 - y)."""
    x, y, _ = linear_problem(n=30, d=4)
    p0 = {"w": jnp.asarray(np.linspace(-1, 1, 4), jnp.float32), "b": jnp.array(0.2)}
    lr, steps = 0.3, 12
    res = T.train(linear_apply, p0, x, y, lr=lr, steps=steps, record_every=4, progress=False)
    a = np.c_[x, np.ones(len(x))].astype(np.float64)
    kmat = a @ a.T
    f0 = a @ np.r_[np.linspace(-1, 1, 4), 0.2]
    m = np.eye(len(x)) - lr * kmat / len(x)
    for step, loss in zip(res.history["step"], res.history["train_loss"]):
        ft = y + np.linalg.matrix_power(m, int(step)) @ (f0 - y)
        assert loss == pytest.approx(0.5 * np.mean((ft - y) ** 2), rel=1e-4)


def test_history_shapes_and_weight_change():
    x, y, p0 = linear_problem()
    p0 = {"w": jnp.ones(5), "b": jnp.array(1.0)}
    res = T.train(linear_apply, p0, x, y, lr=0.1, steps=10, record_every=3,
                  progress=False, record_params=True)
    h = res.history
    np.testing.assert_array_equal(h["step"], [0, 3, 6, 9, 10])
    for k in T.HISTORY_KEYS:
        assert isinstance(h[k], np.ndarray) and h[k].shape == (5,), k
    assert np.all(np.isnan(h["test_loss"])) and np.all(np.isnan(h["test_acc"]))
    assert np.all(np.isnan(h["train_acc"]))  # regression targets
    assert np.all(np.diff(h["train_loss"]) < 0)
    assert len(h["params_history"]) == 5
    assert h["weight_change"][0] == 0.0
    for i in range(5):
        assert h["weight_change"][i] == pytest.approx(
            T.relative_weight_change(p0, h["params_history"][i]), rel=1e-5)
    assert T.relative_weight_change(h["params_history"][-1], res.params) == 0.0
    # the caller's params are untouched
    np.testing.assert_array_equal(np.asarray(p0["w"]), np.ones(5))
    assert "params_history" not in T.train(linear_apply, p0, x, y, steps=2, progress=False).history


def test_default_record_every_and_progress_bar():
    x, y, p0 = linear_problem()
    res = T.train(linear_apply, p0, x, y, lr=0.1, steps=250, progress=True)
    np.testing.assert_array_equal(res.history["step"][:3], [0, 2, 4])
    assert res.history["step"][-1] == 250


def mlp_apply(params, x):
    """A one-hidden-layer ReLU net with a neural-tangents-like parameter pytree
    ``[(W1, b1), (), (W2, b2)]`` (stax puts ``()`` for parameter-free layers)."""
    (w1, b1), (), (w2, b2) = params
    return jax.nn.relu(x @ w1 + b1) @ w2 + b2


def test_mlp_loss_decreases_with_test_history():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 6)).astype(np.float32)
    y = np.sign(x[:, 0] * x[:, 1] + 0.1).astype(np.float32)
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = [(jax.random.normal(k1, (6, 128)) / np.sqrt(6), jnp.zeros(128)), (),
              (jax.random.normal(k2, (128, 1)) / np.sqrt(128), jnp.zeros(1))]
    res = T.train(mlp_apply, params, x[:32], y[:32], loss="cross_entropy", lr=1.0, steps=300,
                  record_every=100, x_test=x[32:], y_test=y[32:], progress=False)
    h = res.history
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["train_acc"][-1] > h["train_acc"][0] and h["train_acc"][-1] >= 0.9
    assert np.all(np.isfinite(h["test_loss"])) and np.all((0 <= h["test_acc"]) & (h["test_acc"] <= 1))
    assert 0 < h["weight_change"][-1] < 1
    assert jax.tree_util.tree_structure(res.params) == jax.tree_util.tree_structure(params)
    # history agrees with a direct evaluation of the returned parameters
    ev = T.evaluate(mlp_apply, res.params, x[32:], y[32:], loss="cross_entropy")
    assert ev["loss"] == pytest.approx(h["test_loss"][-1], rel=1e-4)
    assert ev["acc"] == pytest.approx(h["test_acc"][-1])


def test_multiclass_cross_entropy_integer_and_onehot_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    labels = np.argmax(x[:, :3], axis=1)
    p0 = {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}
    r1 = T.train(linear_apply, p0, x, labels, loss="cross_entropy", lr=0.5, steps=50, progress=False)
    r2 = T.train(linear_apply, p0, x, np.eye(3)[labels], loss="cross_entropy", lr=0.5, steps=50,
                 progress=False)
    np.testing.assert_allclose(r1.history["train_loss"], r2.history["train_loss"], rtol=1e-5)
    assert r1.history["train_loss"][0] == pytest.approx(np.log(3), rel=1e-5)
    assert r1.history["train_acc"][-1] > 0.8


def test_sgd_deterministic_given_key():
    x, y, p0 = linear_problem(n=50)
    kw = dict(optimizer="sgd", lr=0.05, steps=60, batch_size=8, progress=False)
    a = T.train(linear_apply, p0, x, y, key=3, **kw)
    b = T.train(linear_apply, p0, x, y, key=jax.random.PRNGKey(3), **kw)
    c = T.train(linear_apply, p0, x, y, key=4, **kw)
    np.testing.assert_array_equal(np.asarray(a.params["w"]), np.asarray(b.params["w"]))
    assert not np.allclose(np.asarray(a.params["w"]), np.asarray(c.params["w"]))
    assert a.history["train_loss"][-1] < 0.2 * a.history["train_loss"][0]


def test_sgd_full_batch_equals_gd():
    x, y, p0 = linear_problem()
    sgd = T.train(linear_apply, p0, x, y, optimizer="sgd", batch_size=len(x), lr=0.1, steps=20,
                  progress=False)
    gd = T.train(linear_apply, p0, x, y, optimizer="gd", lr=0.1, steps=20, progress=False)
    np.testing.assert_allclose(np.asarray(sgd.params["w"]), np.asarray(gd.params["w"]), rtol=1e-5,
                               atol=1e-6)


def test_adam_converges_and_accepts_schedule():
    x, y, p0 = linear_problem()
    res = T.train(linear_apply, p0, x, y, optimizer="adam", lr=0.05, steps=1500, progress=False)
    sol = lstsq(x, y)
    np.testing.assert_allclose(np.asarray(res.params["w"]), sol[:-1], atol=5e-3)
    # a schedule lr(step); adam's first step moves every weight by ~lr
    res1 = T.train(linear_apply, p0, x, y, optimizer="adam", lr=lambda i: 0.01, steps=1,
                   progress=False)
    np.testing.assert_allclose(np.abs(np.asarray(res1.params["w"])), 0.01, rtol=1e-3)
    res2 = T.train(linear_apply, p0, x, y, optimizer="adam", lr=0.05, steps=100, batch_size=10,
                   key=0, progress=False)
    assert res2.history["train_loss"][-1] < res2.history["train_loss"][0]


def test_divergence_warns_and_stops():
    x, y, p0 = linear_problem()
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = T.train(linear_apply, p0, x, y, lr=1e3, steps=1000, record_every=50, progress=False)
    assert not np.isfinite(res.history["train_loss"][-1])
    assert res.history["step"][-1] < 1000


# ---------------------------------------------------------------------------
# relative_weight_change
# ---------------------------------------------------------------------------
def test_relative_weight_change_hand_example():
    p0 = {"a": np.array([3.0, 0.0]), "b": (np.array([4.0]),)}
    p1 = {"a": np.array([3.0, 1.0]), "b": (np.array([4.0]),)}
    assert T.relative_weight_change(p0, p0) == 0.0
    assert T.relative_weight_change(p0, p1) == pytest.approx(1 / 5)
    p2 = {"a": np.array([0.0, 0.0]), "b": (np.array([0.0]),)}
    assert T.relative_weight_change(p0, p2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero norm"):
        T.relative_weight_change(p2, p0)
    with pytest.raises(ValueError, match="structure"):
        T.relative_weight_change(p0, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="shapes"):
        T.relative_weight_change(p0, {"a": np.zeros(3), "b": (np.zeros(1),)})


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    (dict(loss="hinge"), ValueError, "loss"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(lr="big"), TypeError, "lr"),
    (dict(steps=0), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(optimizer="sgd"), ValueError, "batch_size"),
    (dict(batch_size=5), ValueError, "batch_size"),
    (dict(optimizer="sgd", batch_size=1000), ValueError, "batch_size"),
    (dict(x_test=np.zeros((3, 5))), ValueError, "x_test"),
    (dict(x_test=np.zeros((3, 4)), y_test=np.zeros(3)), ValueError, "x_test"),
    (dict(x_test=np.zeros((3, 5)), y_test=np.zeros(4)), ValueError, "y_test"),
    (dict(key="seed"), TypeError, "key"),
    (dict(loss="cross_entropy"), ValueError, "y"),  # regression targets are not +-1 labels
])
def test_train_bad_arguments(kwargs, exc, match):
    x, y, p0 = linear_problem()
    with pytest.raises(exc, match=match):
        T.train(linear_apply, p0, x, y, progress=False, **{"steps": 5, **kwargs})


def test_train_bad_data():
    x, y, p0 = linear_problem()
    with pytest.raises(ValueError, match="same number of rows"):
        T.train(linear_apply, p0, x, y[:-1], steps=2, progress=False)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        T.train(linear_apply, p0, xn, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="params contains NaN"):
        T.train(linear_apply, {"w": jnp.full(5, jnp.nan), "b": jnp.zeros(())}, x, y, steps=2,
                progress=False)
    with pytest.raises(TypeError, match="apply_fn"):
        T.train(None, p0, x, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="columns"):
        T.train(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
                np.zeros((len(x), 3)), steps=2, progress=False)
    with pytest.raises(ValueError, match="one-hot"):
        T.train(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
                np.zeros(len(x), int), steps=2, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        T.train(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
                np.full(len(x), 2), loss="cross_entropy", steps=2, progress=False)
    with pytest.raises(ValueError, match="apply_fn"):
        T.train(lambda p, x: jnp.sum(x @ p["w"]), p0, x, y, steps=2, progress=False)
