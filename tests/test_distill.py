"""Tests for lecture_lib.distill: the KIP loss (against numpy KRR and finite differences), the checked
KIP loop (records, labels, kernel families, batches, the perturb hook, finiteness checks, bad input),
the bi-level losses of the network-based methods, and the helpers."""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import distill, kernels, krr, train
from lecture_lib.precision import x64

KFN = kernels.fc(depth=1, b_std=0.1)[2]


def _problem(m=4, n=12, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    xs, xt = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    ys, yt = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    return xs, ys, xt, yt


# --------------------------------------------------------------------------- KIP loss
def test_kip_loss_matches_numpy_kernel_ridge_regression():
    xs, ys, xt, yt = _problem()
    k_ss = kernels.analytic_kernel(KFN, xs, dtype="float64")
    k_ts = kernels.analytic_kernel(KFN, xt, xs, dtype="float64")
    pred = krr.fit_predict(k_ss, ys, k_ts, reg=1e-6)
    expected = 0.5 * np.mean(np.sum((pred - yt) ** 2, axis=1))
    with x64():
        got = float(distill.kip_loss(KFN, jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(xt), jnp.asarray(yt)))
        p = np.asarray(distill.krr_predict(KFN, jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(xt)))
    np.testing.assert_allclose(p, pred, rtol=1e-6, atol=1e-9)
    assert got == pytest.approx(expected, rel=1e-8)


def test_kip_loss_gradient_matches_finite_differences():
    # a smooth kernel (erf NTK): the ReLU NTK's arccos has a kink-free but ill-conditioned derivative that
    # neural-tangents evaluates with its own safe-gradient rules, which central differences do not follow exactly
    kfn = kernels.fc(depth=1, activation="erf", b_std=0.1)[2]
    xs, ys, xt, yt = _problem(m=3, n=6, d=4, k=2, seed=1)
    with x64():
        f = lambda a, b: distill.kip_loss(kfn, a, b, jnp.asarray(xt), jnp.asarray(yt), reg=1e-3)  # noqa: E731
        gx, gy = jax.grad(f, argnums=(0, 1))(jnp.asarray(xs), jnp.asarray(ys))
        eps = 1e-6
        for arr, grad, which in ((xs, gx, 0), (ys, gy, 1)):
            num = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                up, dn = arr.copy(), arr.copy()
                up[idx] += eps
                dn[idx] -= eps
                args_up = (up, ys) if which == 0 else (xs, up)
                args_dn = (dn, ys) if which == 0 else (xs, dn)
                num[idx] = (float(f(*map(jnp.asarray, args_up))) - float(f(*map(jnp.asarray, args_dn)))) / (2 * eps)
            np.testing.assert_allclose(np.asarray(grad), num, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------- the checked loop
def test_kip_lowers_the_loss_records_and_keeps_fixed_labels():
    xs, ys, xt, yt = _problem(m=4, n=30, d=5, k=3, seed=2)
    r = distill.kip(KFN, xs, ys, xt, yt, steps=40, lr=0.05, record_every=10, x_test=xt[:8], y_test=yt[:8],
                    progress=False)
    assert r.step.tolist() == [0, 10, 20, 30, 40]
    assert r.x_history.shape == (5, 4, 5) and r.y_history.shape == (5, 4, 3)
    assert r.step_loss.shape == (40,) and r.finite.all()
    assert r.step_loss[-5:].mean() < 0.8 * r.step_loss[:5].mean()
    np.testing.assert_array_equal(r.y, ys)                 # labels fixed
    np.testing.assert_array_equal(r.x_history[0], xs)
    assert not np.allclose(r.x, xs)
    assert r.test_loss.shape == (5,) and r.test_acc.shape == (5,)
    # the recorded test loss is the KRR loss of the recorded support
    with x64():
        ref = float(distill.kip_loss(KFN, jnp.asarray(r.x), jnp.asarray(r.y), jnp.asarray(xt[:8]), jnp.asarray(yt[:8])))
    assert r.test_loss[-1] == pytest.approx(ref, rel=1e-8)
    # full batch, no randomness: the first step loss is the KIP loss of the initial support
    with x64():
        l0 = float(distill.kip_loss(KFN, jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(xt), jnp.asarray(yt)))
    assert r.step_loss[0] == pytest.approx(l0, rel=1e-7)


def test_kip_learns_labels_when_asked_and_is_deterministic():
    xs, ys, xt, yt = _problem(seed=3)
    a = distill.kip(KFN, xs, ys, xt, yt, steps=15, learn_labels=True, target_batch=6, key=4, progress=False)
    b = distill.kip(KFN, xs, ys, xt, yt, steps=15, learn_labels=True, target_batch=6, key=4, progress=False)
    c = distill.kip(KFN, xs, ys, xt, yt, steps=15, learn_labels=True, target_batch=6, key=5, progress=False)
    assert not np.allclose(a.y, ys)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x, c.x)                       # other target batches
    assert a.learn_labels and a.x_init is not None


def test_kip_kernel_family_support_batch_and_float32():
    xs, ys, xt, yt = _problem(m=6, seed=4)
    family = [kernels.fc(depth=1, b_std=0.1)[2], kernels.fc(depth=2, b_std=0.1)[2]]
    r = distill.kip(family, xs, ys, xt, yt, steps=12, support_batch=3, target_batch=5, record_every=12,
                    record_support=False, x_test=xt, y_test=yt, progress=False)
    assert r.finite.all() and r.x_history is None and r.test_acc.shape == (2,)
    r32 = distill.kip(KFN, xs, ys, xt, yt, steps=5, dtype="float32", progress=False)
    assert r32.x.dtype == np.float32 and r32.finite.all()


def test_kip_perturb_hook_replaces_the_target_batch():
    xs, ys, xt, yt = _problem(m=3, n=8, seed=5)
    const = np.full_like(xt, 0.5)
    seen = {}

    def perturb(predict, x, y, key):
        seen["shape"] = predict(x).shape                  # the KRR predictor of the current support
        return jnp.zeros_like(x) + 0.5

    r = distill.kip(KFN, xs, ys, xt, yt, steps=2, perturb=perturb, progress=False)
    with x64():
        l0 = float(distill.kip_loss(KFN, jnp.asarray(xs), jnp.asarray(ys), jnp.asarray(const), jnp.asarray(yt)))
    assert r.step_loss[0] == pytest.approx(l0, rel=1e-7)
    assert seen["shape"] == (8, yt.shape[1])


def _bad_kernel(a, b, get="ntk"):
    # the derivative of sqrt|a| at a = 0 is infinite: a non-finite gradient on demand
    return a @ b.T + 1e-3 * jnp.sum(jnp.sqrt(jnp.abs(a)), axis=1)[:, None]


def test_kip_nonfinite_gradient_raises_or_is_skipped():
    xs, ys, xt, yt = _problem(m=3, seed=6)
    xs[0, 0] = 0.0
    with pytest.raises(FloatingPointError, match="step 0"):
        distill.kip(_bad_kernel, xs, ys, xt, yt, steps=3, progress=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = distill.kip(_bad_kernel, xs, ys, xt, yt, steps=3, on_nonfinite="skip", progress=False)
    assert any("not finite" in str(x.message) for x in w)
    assert not r.finite.any()
    np.testing.assert_array_equal(r.x, xs)                 # no update was applied


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(kernel_fn=3), TypeError, "kernel_fn"),
    (dict(x_support=np.ones((4, 6))), ValueError, "x_target"),
    (dict(y_target=np.ones((12, 2))), ValueError, "y_target"),
    (dict(y_support=np.ones((3, 3))), ValueError, "x_support and y_support"),
    (dict(steps=0), ValueError, "steps"),
    (dict(target_batch=100), ValueError, "target_batch"),
    (dict(on_nonfinite="ignore"), ValueError, "on_nonfinite"),
    (dict(x_test=np.ones((2, 5))), ValueError, "x_test"),
    (dict(learn_labels=1), TypeError, "learn_labels"),
    (dict(perturb="pgd"), TypeError, "perturb"),
])
def test_kip_bad_input(kwargs, err, match):
    xs, ys, xt, yt = _problem()
    args = dict(kernel_fn=KFN, x_support=xs, y_support=ys, x_target=xt, y_target=yt)
    call = {**args, **{k: v for k, v in kwargs.items() if k in args}}
    rest = {k: v for k, v in kwargs.items() if k not in args}
    with pytest.raises(err, match=match):
        distill.kip(call["kernel_fn"], call["x_support"], call["y_support"], call["x_target"], call["y_target"],
                    steps=rest.pop("steps", 2), progress=False, **rest)


def test_kip_run_is_pure_and_jittable():
    xs, ys, xt, yt = _problem()
    obj = distill.kip_objective(KFN)
    opt = train.optimizer("adam", 0.01)
    with x64():
        st = opt[0](distill.Support(jnp.asarray(xs), jnp.asarray(ys)))
        prob = distill.KIPProblem(jnp.asarray(xt), jnp.asarray(yt), jax.random.PRNGKey(0), 1e-6, 0.0)
        f = jax.jit(lambda s: distill.kip_run(obj, opt, s, prob, 0, 3, jnp.zeros(3), jnp.zeros(3, bool)))
        st2, buf, ok = f(st)
    assert bool(ok.all()) and np.all(np.diff(np.asarray(buf)) < 0)
    np.testing.assert_array_equal(np.asarray(opt[2](st2).y), ys)


# --------------------------------------------------------------------------- bi-level losses
def _mlp():
    init_fn, apply_fn, _ = kernels.fc(depth=1, width=16, out_dim=3, b_std=0.1)
    p = init_fn(jax.random.PRNGKey(0), (-1, 4))[1]
    return p, train.objective(train.make_model(apply_fn), "cross_entropy")


def test_unrolled_loss_is_one_explicit_gd_step_and_differentiable():
    p, obj = _mlp()
    rng = np.random.default_rng(0)
    xi, yi = jnp.asarray(rng.standard_normal((6, 4)), jnp.float32), jnp.asarray(rng.integers(0, 3, 6))
    xo, yo = jnp.asarray(rng.standard_normal((9, 4)), jnp.float32), jnp.asarray(rng.integers(0, 3, 9))
    g = jax.grad(obj)(p, p, xi, yi)
    p1 = jax.tree_util.tree_map(lambda a, b: a - 0.3 * b, p, g)
    assert float(distill.unrolled_loss(obj, p, xi, yi, xo, yo, 0.3, 1)) == pytest.approx(float(obj(p1, p, xo, yo)), rel=1e-5)
    # d/d lr against a central difference; d/d x_inner exists and is finite
    f = lambda lr: distill.unrolled_loss(obj, p, xi, yi, xo, yo, lr, 2)  # noqa: E731
    num = (float(f(0.3 + 1e-3)) - float(f(0.3 - 1e-3))) / 2e-3
    assert float(jax.grad(f)(0.3)) == pytest.approx(num, rel=2e-2)
    gx = jax.grad(lambda x: distill.unrolled_loss(obj, p, x, yi, xo, yo, 0.3, 1))(xi)
    assert gx.shape == xi.shape and bool(jnp.all(jnp.isfinite(gx)))


def test_gradient_match_distance_values():
    W = jnp.asarray(np.random.default_rng(0).standard_normal((5, 3)))
    b = jnp.ones((1, 3))
    g = [(W, b)]
    assert float(distill.gradient_match_distance(g, g)) == pytest.approx(0.0, abs=1e-5)
    assert float(distill.gradient_match_distance(g, [(-W, b)])) == pytest.approx(6.0, rel=1e-5)  # 3 units x 2
    assert float(distill.gradient_match_distance(g, [(W, -b)])) == pytest.approx(0.0, abs=1e-5)  # biases ignored
    z = [(W.at[:, 0].set(0.0), b)]                     # a dead unit: finite value and gradient
    val, grad = jax.value_and_grad(lambda q: distill.gradient_match_distance(g, q))(z)
    assert np.isfinite(float(val)) and all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(grad))
    with pytest.raises(ValueError, match="shape"):
        distill.gradient_match_distance(g, [(W[:2], b)])


def test_gradient_match_loss_is_zero_for_identical_sets():
    p, obj = _mlp()
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 4, 4)), jnp.float32)
    y = jnp.repeat(jnp.arange(3), 4).reshape(3, 4)
    # identical sets: per output unit 1 - s / (s + eps^2 + eps) with s = |g_j|^2, i.e. ~0 for a unit with a large
    # gradient, 1 for a dead ReLU unit (s = 0) and in between for a nearly dead one (the eps of the reference code)
    eps, expected, dead = 1e-6, 0.0, 0
    for c in range(3):
        g = jax.grad(obj)(p, p, x[c], y[c])
        for a in jax.tree_util.tree_leaves(g):
            if a.size == a.shape[-1]:
                continue            # biases are ignored
            sq = np.sum(np.asarray(a, np.float64).reshape(-1, a.shape[-1]) ** 2, axis=0)
            expected += float(np.sum(1.0 - sq / (sq + eps**2 + eps)))
            dead += int(np.sum(sq == 0))
    same = float(distill.gradient_match_loss(obj, p, x, y, x, y))
    assert same == pytest.approx(expected, abs=1e-3) and same >= dead - 1e-3
    assert float(distill.gradient_match_loss(obj, p, x, y, x[:, :2], y[:, :2])) > same + 0.1


def test_trajectory_match_loss_normalisation():
    p, obj = _mlp()
    q = jax.tree_util.tree_map(lambda a: a + 1.0, p)
    x = jnp.ones((3, 4))
    y = jnp.arange(3)
    # lr = 0: the student stays at the start, the loss is exactly 1
    assert float(distill.trajectory_match_loss(obj, p, q, x, y, 0.0, 3)) == pytest.approx(1.0, rel=1e-6)
    g = jax.grad(lambda xx: distill.trajectory_match_loss(obj, p, q, xx, y, 0.5, 2))(x)
    assert bool(jnp.all(jnp.isfinite(g)))


# --------------------------------------------------------------------------- helpers
def test_class_balanced_indices():
    labels = np.array([0, 1, 2] * 5 + [2, 2])
    idx = distill.class_balanced_indices(labels, 3, seed=1)
    assert len(idx) == 9 and np.all(np.bincount(labels[idx]) == 3)
    assert list(labels[idx]) == sorted(labels[idx])
    np.testing.assert_array_equal(idx, distill.class_balanced_indices(labels, 3, seed=1))
    onehot = np.eye(3)[labels]
    np.testing.assert_array_equal(idx, distill.class_balanced_indices(onehot, 3, seed=1))
    with pytest.raises(ValueError, match="class 0"):
        distill.class_balanced_indices(labels, 6)


def test_zca_whitening_whitens_and_keeps_shapes():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    x = rng.standard_normal((2000, 6)) @ a
    w, wt = distill.zca_whitening(x, x[:10], reg=1e-6, layer_norm=False)
    cov = w.T @ w / len(w)
    np.testing.assert_allclose(cov, np.eye(6), atol=1e-3)
    np.testing.assert_allclose(wt, w[:10])
    imgs = rng.standard_normal((50, 4, 4, 3))
    wi, none = distill.zca_whitening(imgs, reg=0.1)
    assert wi.shape == imgs.shape and none is None
    with pytest.raises(ValueError, match="reg"):
        distill.zca_whitening(x, reg=0.0)
