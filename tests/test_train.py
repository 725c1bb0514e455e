"""Tests for lecture_lib.train: the pure GD core, the checked wrapper and the lr relation
(small models only: the whole file runs in seconds)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import kernels, krr, losses, metrics
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


def mlp_apply(params, x):
    """A one-hidden-layer ReLU net with a neural-tangents-like parameter pytree
    ``[(W1, b1), (), (W2, b2)]`` (stax puts ``()`` for parameter-free layers)."""
    (w1, b1), (), (w2, b2) = params
    return jax.nn.relu(x @ w1 + b1) @ w2 + b2



def small_mlp(seed=0, d=6, width=64, out=1):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return [(jax.random.normal(k1, (d, width)) / np.sqrt(d), jnp.zeros(width)), (),
            (jax.random.normal(k2, (width, out)) / np.sqrt(width), jnp.zeros(out))]


# ---------------------------------------------------------------------------
# the pure core
# ---------------------------------------------------------------------------
def test_run_is_plain_gd_and_records_losses():
    x, y, p0 = linear_problem()
    obj = T.objective(T.make_model(linear_apply))
    opt = T.optimizer("gd", 0.1)
    prob = T.Problem(p0, jnp.asarray(x), jnp.asarray(y))
    state, buf = jax.jit(lambda s, pr, b: T.run(obj, opt, s, pr, 0, 7, b))(opt[0](p0), prob, jnp.zeros(7))
    p = p0
    for i in range(7):
        value, g = jax.value_and_grad(obj)(p, p0, x, y)
        assert float(buf[i]) == pytest.approx(float(value), rel=1e-6)
        p = jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g)
    np.testing.assert_allclose(np.asarray(opt[2](state)["w"]), np.asarray(p["w"]), rtol=1e-5)


def test_run_vmaps_over_masks_and_seeds():
    """One compiled run over (masks x seeds) equals separate runs on the masked-in rows."""
    x, y, _ = linear_problem(n=12)
    obj = T.objective(T.make_model(linear_apply))
    opt = T.optimizer("gd", 0.2)
    p_seeds = {"w": jnp.asarray(np.random.default_rng(1).normal(size=(3, 5)), jnp.float32),
               "b": jnp.zeros(3)}
    masks = jnp.asarray((np.arange(12)[None, :] < np.array([4, 12])[:, None]).astype(np.float32))

    def one(p, mask):
        state, _ = T.run(obj, opt, opt[0](p), T.Problem(p, jnp.asarray(x), jnp.asarray(y), mask), 0, 20)
        return opt[2](state)["w"]

    w = jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0)))(p_seeds, masks)
    assert w.shape == (2, 3, 5)
    for s in range(3):
        p = {"w": p_seeds["w"][s], "b": p_seeds["b"][s]}
        alone = T.fit(linear_apply, p, x[:4], y[:4], lr=0.2, steps=20, progress=False)
        np.testing.assert_allclose(np.asarray(w[0, s]), np.asarray(alone.params["w"]), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# the wrapper
# ---------------------------------------------------------------------------
def test_gd_linear_reaches_least_squares():
    x, y, p0 = linear_problem(k=2)
    res = T.fit(linear_apply, p0, x, y, optimizer="gd", lr=0.5, steps=400, progress=False)
    sol = lstsq(x, y)
    got = np.vstack([np.asarray(res.params["w"]), np.asarray(res.params["b"])[None]])
    np.testing.assert_allclose(got, sol, atol=1e-4)
    assert np.all(np.isnan(res.weight_change))  # zero init: undefined
    res_loss = 0.5 * np.mean(np.sum((np.c_[x, np.ones(len(x))] @ sol - y) ** 2, axis=1))
    assert res.train_loss[-1] == pytest.approx(res_loss, rel=1e-4)
    assert res.train_acc is None and res.test_loss is None  # regression, no test set


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_network_gd_matches_kernel_closed_form_with_kernel_lr(reduction):
    """A linear model is its own linearisation: GD with lr equals krr.gd_dynamics_discrete with
    train.kernel_lr(lr, n, reduction) on the tangent kernel K = [x, 1][x, 1]^T."""
    x, y, _ = linear_problem(n=30, d=4)
    p0 = {"w": jnp.asarray(np.linspace(-1, 1, 4), jnp.float32), "b": jnp.array(0.2)}
    lr = 0.3 if reduction == "mean" else 0.01
    res = T.fit(linear_apply, p0, x, y, lr=lr, steps=12, reduction=reduction, record_every=4,
                x_test=x[:7], record_outputs=True, progress=False)
    a = np.c_[x, np.ones(len(x))].astype(np.float64)
    kmat = a @ a.T
    f0 = a @ np.r_[np.linspace(-1, 1, 4), 0.2]
    dyn = krr.gd_dynamics_discrete(kmat, y, res.step, k_test_train=kmat[:7],
                                   lr=T.kernel_lr(lr, len(x), reduction), f0_train=f0, f0_test=f0[:7])
    np.testing.assert_allclose(res.train_outputs[..., 0], dyn.train, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.test_outputs[..., 0], dyn.test, rtol=1e-4, atol=1e-4)
    assert T.network_lr(T.kernel_lr(lr, 30, reduction), 30, reduction) == pytest.approx(lr)


def test_max_stable_lr_edge():
    k = np.diag([4.0, 1.0])
    assert T.max_stable_lr(k) == pytest.approx(2 * 2 / 4.0)
    assert T.max_stable_lr(k, "sum") == pytest.approx(2 / 4.0)
    with pytest.raises(ValueError, match="square"):
        T.max_stable_lr(np.ones((2, 3)))


def test_trajectory_shapes_and_weight_change():
    x, y, p0 = linear_problem()
    p0 = {"w": jnp.ones(5), "b": jnp.array(1.0)}
    res = T.fit(linear_apply, p0, x, y, lr=0.1, steps=10, record_every=3,
                progress=False, record_params=True)
    np.testing.assert_array_equal(res.step, [0, 3, 6, 9, 10])
    assert res.train_loss.shape == res.weight_change.shape == (5,)
    assert res.step_loss.shape == (11,) and res.step_loss[-1] == pytest.approx(res.train_loss[-1])
    np.testing.assert_allclose(res.step_loss[[0, 3, 6, 9]], res.train_loss[:4], rtol=1e-6)
    assert np.all(np.diff(res.train_loss) < 0)
    assert len(res.params_history) == 5 and res.weight_change[0] == 0.0
    for i in range(5):
        assert res.weight_change[i] == pytest.approx(
            metrics.relative_change(p0, res.params_history[i]), rel=1e-5)
    np.testing.assert_array_equal(np.asarray(p0["w"]), np.ones(5))   # caller's params untouched
    assert T.fit(linear_apply, p0, x, y, steps=2, progress=False).params_history is None
    res2 = T.fit(linear_apply, p0, x, y, steps=10, record_steps=[0, 4, 10], progress=False)
    np.testing.assert_array_equal(res2.step, [0, 4, 10])


def test_default_record_every_and_progress_bar():
    x, y, p0 = linear_problem()
    res = T.fit(linear_apply, p0, x, y, lr=0.1, steps=250, progress=True)
    np.testing.assert_array_equal(res.step[:3], [0, 2, 4])
    assert res.step[-1] == 250


def test_mlp_classification_with_test_history():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 6)).astype(np.float32)
    y = np.sign(x[:, 0] * x[:, 1] + 0.1).astype(np.float32)
    params = small_mlp(width=128)
    res = T.fit(mlp_apply, params, x[:32], y[:32], loss="cross_entropy", lr=1.0, steps=300,
                record_every=100, x_test=x[32:], y_test=y[32:], record_outputs=True, progress=False)
    assert res.train_loss[-1] < 0.5 * res.train_loss[0]
    assert res.train_acc[-1] > res.train_acc[0] and res.train_acc[-1] >= 0.9
    assert np.all(np.isfinite(res.test_loss)) and np.all((0 <= res.test_acc) & (res.test_acc <= 1))
    assert 0 < res.weight_change[-1] < 1
    assert jax.tree_util.tree_structure(res.params) == jax.tree_util.tree_structure(params)
    f = mlp_apply(res.params, jnp.asarray(x[32:]))
    assert float(losses.cross_entropy(f, y[32:])) == pytest.approx(res.test_loss[-1], rel=1e-4)
    assert metrics.accuracy(np.asarray(f), y[32:]) == pytest.approx(res.test_acc[-1])


def test_ensemble_equals_members_and_centring():
    x = np.random.default_rng(3).normal(size=(20, 6)).astype(np.float32)
    y = np.sin(x[:, :2]).astype(np.float32)
    members = [small_mlp(seed=s, out=2) for s in range(3)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *members)
    kw = dict(lr=0.1, steps=15, record_steps=[0, 5, 15], x_test=x[:4], record_outputs=True,
              progress=False)
    ens = T.fit(mlp_apply, stacked, x, y, ensemble=True, centred=True, **kw)
    assert ens.train_loss.shape == (3, 3) and ens.test_outputs.shape == (3, 3, 4, 2)
    np.testing.assert_allclose(ens.test_outputs[0], 0.0, atol=1e-6)        # centred: f - f0 = 0
    for e, p in enumerate(members):
        alone = T.fit(mlp_apply, p, x, y, centred=True, **kw)
        np.testing.assert_allclose(ens.test_outputs[:, e], alone.test_outputs, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ens.train_loss[:, e], alone.train_loss, rtol=1e-4)
    # centring = training the plain network on y + f0, reporting f - f0
    p = members[0]
    f0 = np.asarray(mlp_apply(p, jnp.asarray(x)))
    plain = T.fit(mlp_apply, p, x, y + f0, **kw)
    cen = T.fit(mlp_apply, p, x, y, centred=True, **kw)
    np.testing.assert_allclose(cen.train_outputs, plain.train_outputs - f0, rtol=1e-4, atol=1e-5)


def test_label_columns_are_separate_networks():
    x = np.random.default_rng(4).normal(size=(16, 6)).astype(np.float32)
    ys = np.stack([np.sign(x[:, 0]), np.sign(x[:, 1]), x[:, 2]], axis=1).astype(np.float32)
    p = small_mlp(seed=1)
    kw = dict(lr=0.01, steps=10, reduction="sum", record_every=5, x_test=x[:3],
              record_outputs=True, progress=False)
    cols = T.fit(mlp_apply, p, x, ys, label_columns=True, **kw)
    assert cols.step_loss.shape == (11, 3) and cols.test_outputs.shape == (3, 3, 3, 1)
    assert jax.tree_util.tree_leaves(cols.params)[0].shape[0] == 3
    for j in range(3):
        alone = T.fit(mlp_apply, p, x, ys[:, j], **kw)
        np.testing.assert_allclose(cols.step_loss[:, j], alone.step_loss, rtol=1e-4)
        np.testing.assert_allclose(cols.test_outputs[:, j], alone.test_outputs, rtol=1e-4, atol=1e-6)


def test_linearised_model_matches_nt_linearize():
    import neural_tangents as nt

    init, apply, _ = kernels.fc(depth=1, width=32)
    _, p0 = init(jax.random.PRNGKey(0), (1, 3))
    x = jnp.asarray(np.random.default_rng(5).normal(size=(8, 3)), jnp.float32)
    p1 = jax.tree_util.tree_map(lambda a: a + 0.1, p0)
    lin = T.make_model(apply, linearised=True)
    np.testing.assert_allclose(lin(p1, p0, x), nt.linearize(apply, p0)(p1, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(T.make_model(apply, linearised=True, centred=True)(p1, p0, x),
                               nt.linearize(apply, p0)(p1, x) - apply(p0, x), rtol=1e-4, atol=1e-5)
    y = np.zeros(8, np.float32)
    a = T.fit(apply, p0, np.asarray(x), y, lr=0.5, steps=3, linearised=True, progress=False)
    b = T.fit(apply, p0, np.asarray(x), y, lr=0.5, steps=3, progress=False)
    assert a.train_loss[0] == pytest.approx(b.train_loss[0]) and a.train_loss[-1] != b.train_loss[-1]


def test_mask_trains_only_marked_rows():
    x, y, p0 = linear_problem(n=20)
    mask = (np.arange(20) < 8).astype(np.float32)
    a = T.fit(linear_apply, p0, x, y, mask=mask, lr=0.3, steps=30, progress=False)
    b = T.fit(linear_apply, p0, x[:8], y[:8], lr=0.3, steps=30, progress=False)
    np.testing.assert_allclose(np.asarray(a.params["w"]), np.asarray(b.params["w"]), rtol=1e-4, atol=1e-6)


def test_multiclass_cross_entropy_integer_and_onehot_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    labels = np.argmax(x[:, :3], axis=1)
    p0 = {"w": jnp.zeros((4, 3)), "b": jnp.zeros(3)}
    r1 = T.fit(linear_apply, p0, x, labels, loss="cross_entropy", lr=0.5, steps=50, progress=False)
    r2 = T.fit(linear_apply, p0, x, np.eye(3)[labels], loss="cross_entropy", lr=0.5, steps=50,
               progress=False)
    np.testing.assert_allclose(r1.train_loss, r2.train_loss, rtol=1e-5)
    assert r1.train_loss[0] == pytest.approx(np.log(3), rel=1e-5)
    assert r1.train_acc[-1] > 0.8


def test_sgd_deterministic_given_key():
    x, y, p0 = linear_problem(n=50)
    kw = dict(optimizer="sgd", lr=0.05, steps=60, batch_size=8, progress=False)
    a = T.fit(linear_apply, p0, x, y, key=3, **kw)
    b = T.fit(linear_apply, p0, x, y, key=jax.random.PRNGKey(3), **kw)
    c = T.fit(linear_apply, p0, x, y, key=4, **kw)
    np.testing.assert_array_equal(np.asarray(a.params["w"]), np.asarray(b.params["w"]))
    assert not np.allclose(np.asarray(a.params["w"]), np.asarray(c.params["w"]))
    assert a.train_loss[-1] < 0.2 * a.train_loss[0]


def test_sgd_full_batch_equals_gd():
    x, y, p0 = linear_problem()
    sgd = T.fit(linear_apply, p0, x, y, optimizer="sgd", batch_size=len(x), lr=0.1, steps=20,
                progress=False)
    gd = T.fit(linear_apply, p0, x, y, optimizer="gd", lr=0.1, steps=20, progress=False)
    np.testing.assert_allclose(np.asarray(sgd.params["w"]), np.asarray(gd.params["w"]), rtol=1e-5,
                               atol=1e-6)


def test_adam_converges_and_accepts_schedule():
    x, y, p0 = linear_problem()
    res = T.fit(linear_apply, p0, x, y, optimizer="adam", lr=0.05, steps=1500, progress=False)
    sol = lstsq(x, y)
    np.testing.assert_allclose(np.asarray(res.params["w"]), sol[:-1], atol=5e-3)
    res1 = T.fit(linear_apply, p0, x, y, optimizer="adam", lr=lambda i: 0.01, steps=1,
                 progress=False)
    np.testing.assert_allclose(np.abs(np.asarray(res1.params["w"])), 0.01, rtol=1e-3)
    res2 = T.fit(linear_apply, p0, x, y, optimizer="adam", lr=0.05, steps=100, batch_size=10,
                 key=0, progress=False)
    assert res2.train_loss[-1] < res2.train_loss[0]


def test_divergence_warns_and_stops():
    x, y, p0 = linear_problem()
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = T.fit(linear_apply, p0, x, y, lr=1e3, steps=1000, record_every=50, progress=False)
    assert not np.isfinite(res.train_loss[-1])
    assert res.step[-1] < 1000


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(optimizer="rmsprop"), ValueError, "optimizer"),
    (dict(loss="hinge"), ValueError, "loss"),
    (dict(reduction="max"), ValueError, "reduction"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(lr="big"), TypeError, "lr"),
    (dict(steps=0), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(record_steps=[0, 3, 2]), ValueError, "record_steps"),
    (dict(record_steps=[0, 9]), ValueError, "record_steps"),
    (dict(record_steps=[0, 2], record_every=1), ValueError, "record_every"),
    (dict(optimizer="sgd"), ValueError, "batch_size"),
    (dict(batch_size=5), ValueError, "batch_size"),
    (dict(optimizer="sgd", batch_size=1000), ValueError, "batch_size"),
    (dict(x_test=np.zeros((3, 4)), y_test=np.zeros(3)), ValueError, "x_test"),
    (dict(x_test=np.zeros((3, 5)), y_test=np.zeros(4)), ValueError, "y_test"),
    (dict(y_test=np.zeros(4)), ValueError, "x_test"),
    (dict(mask=np.ones(3)), ValueError, "mask"),
    (dict(key="seed"), TypeError, "key"),
    (dict(ensemble="yes"), TypeError, "ensemble"),
    (dict(label_columns=True), ValueError, "label_columns"),
    (dict(loss="cross_entropy"), ValueError, "y"),  # regression targets are not +-1 labels
])
def test_fit_bad_arguments(kwargs, exc, match):
    x, y, p0 = linear_problem()
    with pytest.raises(exc, match=match):
        T.fit(linear_apply, p0, x, y, progress=False, **{"steps": 5, **kwargs})


def test_fit_bad_data():
    x, y, p0 = linear_problem()
    with pytest.raises(ValueError, match="same number of rows"):
        T.fit(linear_apply, p0, x, y[:-1], steps=2, progress=False)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        T.fit(linear_apply, p0, xn, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="params contains NaN"):
        T.fit(linear_apply, {"w": jnp.full(5, jnp.nan), "b": jnp.zeros(())}, x, y, steps=2,
              progress=False)
    with pytest.raises(TypeError, match="apply_fn"):
        T.fit(None, p0, x, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="columns"):
        T.fit(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
              np.zeros((len(x), 3)), steps=2, progress=False)
    with pytest.raises(ValueError, match="one-hot"):
        T.fit(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
              np.zeros(len(x), int), steps=2, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        T.fit(linear_apply, {"w": jnp.zeros((5, 2)), "b": jnp.zeros(2)}, x,
              np.full(len(x), 2), loss="cross_entropy", steps=2, progress=False)
    with pytest.raises(ValueError, match="apply_fn"):
        T.fit(lambda p, x: jnp.sum(x @ p["w"]), p0, x, y, steps=2, progress=False)
    with pytest.raises(ValueError, match="kernel_step|lr"):
        T.kernel_lr(0.0, 10)


def test_perturb_hook_is_adversarial_training():
    """perturb replaces each batch before its update; the gradient treats x_adv as a constant."""
    x, y, p0 = linear_problem(n=20)
    shift = lambda predict, xb, yb, key: xb + 0.5          # noqa: E731  (a fixed "attack")
    a = T.fit(linear_apply, p0, x, y, lr=0.1, steps=20, perturb=shift, progress=False)
    b = T.fit(linear_apply, p0, x + 0.5, y, lr=0.1, steps=20, progress=False)
    np.testing.assert_allclose(np.asarray(a.params["w"]), np.asarray(b.params["w"]), rtol=1e-5, atol=1e-6)
    def fgsm(predict, xb, yb, key):                         # a real attack on the current model
        g = jax.grad(lambda z: losses.mse(predict(z), yb))(xb)
        return xb + 0.1 * jnp.sign(g)

    adv = T.fit(linear_apply, p0, x, y, lr=0.1, steps=30, perturb=fgsm, progress=False)
    std = T.fit(linear_apply, p0, x, y, lr=0.1, steps=30, progress=False)
    # robust training shrinks the weights that an L-inf attack exploits (||w||_1 enters the loss)
    assert np.abs(np.asarray(adv.params["w"])).sum() < np.abs(np.asarray(std.params["w"])).sum()
    with pytest.raises(TypeError, match="perturb"):
        T.fit(linear_apply, p0, x, y, steps=2, perturb=3, progress=False)
