"""Tests for lecture_lib.attacks (FGSM / PGD)."""
import lecture_lib  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import attacks as A
from lecture_lib import train as T

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3, 2, 2))          # image-like: norm over all non-batch axes
W = RNG.normal(size=(3, 2, 2))


def linear_sum_loss(x, y):
    """loss = sum_i <w, x_i>: gradient w for every example."""
    return jnp.sum(x * W)


def wavy_loss(x, y):
    """A non-linear loss with example-dependent gradients."""
    return jnp.sum(jnp.sin(3.0 * x) * W) + jnp.sum(x ** 2)


def mlp_apply(params, x):
    (w1, b1), (), (w2, b2) = params          # neural-tangents-like pytree
    return jax.nn.relu(x @ w1 + b1) @ w2 + b2


@pytest.fixture(scope="module")
def trained_mlp():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(60, 4)).astype(np.float32)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, 1.0, -1.0).astype(np.float32)
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = [(jax.random.normal(k1, (4, 32)) / 2.0, jnp.zeros(32)), (),
              (jax.random.normal(k2, (32,)) / np.sqrt(32), jnp.zeros(()))]
    res = T.train(mlp_apply, params, x, y, loss="cross_entropy", lr=0.5, steps=300,
                  record_every=300, progress=False)
    assert res.history["train_acc"][-1] >= 0.9
    return res.params, x, y


# ---------------------------------------------------------------------------
# analytic cases
# ---------------------------------------------------------------------------
def test_fgsm_linear_linf_is_sign_of_w():
    x_adv = A.fgsm(linear_sum_loss, X, None, eps=0.1)
    np.testing.assert_allclose(x_adv, X + 0.1 * np.sign(W), atol=1e-6)
    assert x_adv.dtype == X.dtype and x_adv.shape == X.shape


def test_fgsm_linear_l2_is_normalised_w():
    x_adv = A.fgsm(linear_sum_loss, X, None, eps=0.5, norm="l2")
    np.testing.assert_allclose(x_adv, X + 0.5 * W / np.linalg.norm(W), atol=1e-6)


def test_fgsm_mse_moves_along_residual_sign():
    """loss = 1/(2n) sum (x.w - y)^2: grad_i = (x_i.w - y_i) w / n."""
    x = X.reshape(len(X), -1)
    w = W.reshape(-1)
    y = x @ w + np.where(np.arange(len(x)) % 2 == 0, 1.0, -1.0)  # residual sign alternates
    loss_fn = A.loss_for_predictor(lambda z: z @ w, "mse")
    x_adv = A.fgsm(loss_fn, x, y, eps=0.05)
    expected = x + 0.05 * np.sign(x @ w - y)[:, None] * np.sign(w)[None]
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)
    assert float(loss_fn(x_adv, y)) > float(loss_fn(x, y))


def test_pgd_linear_l2_reaches_boundary_along_w():
    x_adv = A.pgd(linear_sum_loss, X, None, eps=0.3, step_size=0.05, steps=20, norm="l2")
    np.testing.assert_allclose(x_adv, X + 0.3 * W / np.linalg.norm(W), atol=1e-5)


# ---------------------------------------------------------------------------
# constraints
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_ball_and_clip(norm, random_start):
    lo, hi = float(X.min()), float(X.max())
    eps = 0.4 if norm == "linf" else 1.0
    x_adv = A.pgd(wavy_loss, X, None, eps=eps, step_size=eps / 4, steps=15, norm=norm,
                  random_start=random_start, clip=(lo, hi), key=0)
    dist = A.perturbation_norms(X, x_adv, norm)
    assert np.all(dist <= eps + 1e-9)
    assert np.max(dist) > 0.5 * eps  # it did move
    assert x_adv.min() >= lo and x_adv.max() <= hi
    assert float(wavy_loss(x_adv, None)) > float(wavy_loss(X, None))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fgsm_clip_and_ball(norm):
    lo, hi = -1.0, 1.0
    x = np.clip(X, lo, hi)
    x_adv = A.fgsm(wavy_loss, x, None, eps=0.7, norm=norm, clip=(lo, hi))
    assert np.all(A.perturbation_norms(x, x_adv, norm) <= 0.7 + 1e-9)
    assert x_adv.min() >= lo and x_adv.max() <= hi
    # clipping is active: some coordinate sits at the boundary after the attack
    assert np.any(np.isclose(x_adv, hi) & ~np.isclose(x, hi)) or \
        np.any(np.isclose(x_adv, lo) & ~np.isclose(x, lo))


def test_eps_zero_returns_x():
    np.testing.assert_array_equal(A.fgsm(wavy_loss, X, None, eps=0.0), X)
    np.testing.assert_array_equal(
        A.pgd(wavy_loss, X, None, eps=0.0, steps=3, random_start=True, key=1), X)
    np.testing.assert_array_equal(
        A.pgd(wavy_loss, X, None, eps=0.0, step_size=0.1, steps=3, norm="l2"), X)


def test_random_start_reproducible_with_key():
    kw = dict(eps=0.2, steps=2, step_size=0.01, random_start=True)
    a = A.pgd(wavy_loss, X, None, key=5, **kw)
    b = A.pgd(wavy_loss, X, None, key=jax.random.PRNGKey(5), **kw)
    c = A.pgd(wavy_loss, X, None, key=6, **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # the random start is spread over the ball, not a fixed corner
    assert np.std(a - X) > 0.05


# ---------------------------------------------------------------------------
# attacks on a trained network and on a kernel predictor
# ---------------------------------------------------------------------------
def test_attacks_increase_loss_of_trained_mlp(trained_mlp):
    params, x, y = trained_mlp
    predict = lambda z: mlp_apply(params, z)  # noqa: E731
    loss_fn = A.loss_for_predictor(predict, "cross_entropy")
    eps = 0.15
    clean = float(loss_fn(x, y))
    x_f = A.fgsm(loss_fn, x, y, eps)
    x_p = A.pgd(loss_fn, x, y, eps, steps=10)
    noise = x + eps * np.sign(np.random.default_rng(2).normal(size=x.shape))
    l_f, l_p, l_n = float(loss_fn(x_f, y)), float(loss_fn(x_p, y)), float(loss_fn(noise, y))
    assert l_f > 1.5 * clean and l_p > 1.5 * clean
    assert l_p >= 0.99 * l_f            # iterating does not lose against one step
    assert l_p > l_n                    # adversarial >> random noise of the same size
    acc_clean = A.robust_accuracy(predict, x, y, 0.0)
    acc_adv = A.robust_accuracy(predict, x, y, eps, steps=10)
    assert acc_clean == pytest.approx(T.accuracy(np.asarray(predict(x)), y))
    assert acc_adv < acc_clean
    acc_big = A.robust_accuracy(predict, x, y, 1.0, attack="fgsm")
    assert acc_big <= acc_adv


def test_kernel_predictor_attack_and_batching():
    rng = np.random.default_rng(3)
    xtr = rng.normal(size=(30, 5)).astype(np.float32)
    ytr = np.sign(xtr[:, 0]).astype(np.float32)

    def kern(a, b):
        d2 = jnp.sum(a ** 2, 1)[:, None] + jnp.sum(b ** 2, 1)[None] - 2 * a @ b.T
        return jnp.exp(-d2 / 10.0)

    alpha = jnp.linalg.solve(kern(xtr, xtr) + 1e-3 * jnp.eye(30), ytr)
    predict = lambda z: kern(z, xtr) @ alpha  # noqa: E731
    xte = rng.normal(size=(20, 5)).astype(np.float32)
    yte = np.sign(xte[:, 0]).astype(np.float32)
    loss_fn = A.loss_for_predictor(predict, "mse")
    x_adv = A.pgd(loss_fn, xte, yte, eps=0.5, steps=5, norm="l2")
    assert float(loss_fn(x_adv, yte)) > float(loss_fn(xte, yte))
    # the mse loss is a mean of per-example terms: batching gives the same attack
    x_b = A.pgd(loss_fn, xte, yte, eps=0.5, steps=5, norm="l2", batch_size=10)
    np.testing.assert_allclose(x_b, x_adv, atol=1e-5)


def test_pgd_jax_is_jittable_and_matches_pgd():
    @jax.jit
    def attack(x, eps):
        return A.pgd_jax(wavy_loss, x, None, eps, eps / 4, 5, norm="linf")

    np.testing.assert_allclose(np.asarray(attack(jnp.asarray(X, jnp.float32), 0.2)),
                               A.pgd(wavy_loss, X, None, 0.2, step_size=0.05, steps=5),
                               atol=1e-5)


def test_perturbation_norms():
    x = np.zeros((2, 2, 2))
    xa = np.array([[[3.0, 0.0], [0.0, 4.0]], [[-1.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(A.perturbation_norms(x, xa, "l2"), [5.0, 1.0])
    np.testing.assert_allclose(A.perturbation_norms(x, xa, "linf"), [4.0, 1.0])


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda: A.fgsm(linear_sum_loss, X, None, eps=-0.1), ValueError, "eps"),
    (lambda: A.fgsm(linear_sum_loss, X, None, eps="a"), TypeError, "eps"),
    (lambda: A.fgsm(linear_sum_loss, X, None, eps=0.1, norm="l1"), ValueError, "norm"),
    (lambda: A.fgsm("loss", X, None, eps=0.1), TypeError, "loss_fn"),
    (lambda: A.fgsm(lambda x, y: x, X, None, eps=0.1), ValueError, "scalar"),
    (lambda: A.fgsm(linear_sum_loss, X, np.zeros(3), eps=0.1), ValueError, "same number of rows"),
    (lambda: A.fgsm(linear_sum_loss, X, None, eps=0.1, clip=(0.0, 1.0)), ValueError, "outside clip"),
    (lambda: A.fgsm(linear_sum_loss, X, None, eps=0.1, clip=(1.0, -1.0)), ValueError, "clip"),
    (lambda: A.fgsm(linear_sum_loss, X, None, eps=0.1, clip=5.0), TypeError, "clip"),
    (lambda: A.fgsm(linear_sum_loss, np.full((2, 3), np.nan), None, eps=0.1), ValueError, "x"),
    (lambda: A.pgd(linear_sum_loss, X, None, eps=0.1, steps=0), ValueError, "steps"),
    (lambda: A.pgd(linear_sum_loss, X, None, eps=0.1, step_size=0.0), ValueError, "step_size"),
    (lambda: A.pgd(linear_sum_loss, X, None, eps=0.1, random_start=1), TypeError, "random_start"),
    (lambda: A.pgd(linear_sum_loss, X, None, eps=0.1, random_start=True, key="k"), TypeError, "key"),
    (lambda: A.pgd(linear_sum_loss, X, None, eps=0.1, batch_size=0), ValueError, "batch_size"),
    (lambda: A.loss_for_predictor(lambda x: x, "hinge"), ValueError, "loss"),
    (lambda: A.loss_for_predictor(3), TypeError, "predict_fn"),
    (lambda: A.robust_accuracy(lambda x: x[:, 0], X[:, :, 0, 0], np.ones(16), 0.1, attack="cw"),
     ValueError, "attack"),
    (lambda: A.perturbation_norms(X, X[:3]), ValueError, "same shape"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
