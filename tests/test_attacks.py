"""Tests for lecture_lib.attacks (FGSM / PGD)."""
import lecture_lib  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import attacks as A
from lecture_lib import krr, losses, metrics
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
    res = T.fit(mlp_apply, params, x, y, loss="cross_entropy", lr=0.5, steps=300,
                record_every=300, progress=False)
    assert res.train_acc[-1] >= 0.9
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
    assert acc_clean == pytest.approx(metrics.accuracy(np.asarray(predict(x)), y))
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


# ---------------------------------------------------------------------------
# pgd_jax / pgd with random restarts
# ---------------------------------------------------------------------------
def per_example(loss_fn, x, y=None):
    return np.array([float(loss_fn(x[i:i + 1], None if y is None else y[i:i + 1]))
                     for i in range(len(x))])


def two_basin_loss(x, x0):
    """A mean of per-example terms, separable over coordinates: per coordinate
    ``phi(d) = exp(-(d/w)^2) + 2 exp(-((d-0.3)/w)^2) + 2 exp(-((d+0.3)/w)^2)``, ``d = x - x0``,
    ``w = 0.05``.  The clean point ``d = 0`` is a local maximum of height 1 (the gradient
    there is 0), the global maxima (height 2) sit at ``|d| = 0.3`` inside the eps = 0.4 box,
    and every start with ``|d| >~ 0.15`` climbs to one of them.  So PGD from the clean input
    stays put while random restarts must find the higher peaks.  (A separable loss whose
    coordinate functions are unimodal on the box, like ``sin(4x) w``, has no such gap: the
    clean start is then the *best* start and restarts cannot improve on it.)"""
    w = 0.05
    d = x - x0
    phi = (jnp.exp(-(d / w) ** 2) + 2.0 * jnp.exp(-((d - 0.3) / w) ** 2)
           + 2.0 * jnp.exp(-((d + 0.3) / w) ** 2))
    return jnp.mean(jnp.sum(phi, axis=tuple(range(1, x.ndim))))


def test_pgd_restarts_keep_the_worst_restart_per_example():
    kw = dict(eps=0.4, step_size=0.02, steps=20, norm="linf")
    one = A.pgd(two_basin_loss, X, X, random_start=False, key=3, **kw)
    many = A.pgd(two_basin_loss, X, X, random_start=False, restarts=4, key=3, **kw)
    other = A.pgd(two_basin_loss, X, X, random_start=False, restarts=4, key=4, **kw)
    l_one, l_many = per_example(two_basin_loss, one, X), per_example(two_basin_loss, many, X)
    d = X[0].size
    # the deterministic run is stuck at the clean local maximum (height 1 per coordinate)
    np.testing.assert_allclose(l_one, d * 1.0, rtol=1e-3)
    # restart 0 is that run, so no example gets better; the random restarts reach the
    # height-2 peaks in most coordinates, so every example gets much worse for the model
    assert np.all(l_many >= l_one - 1e-6)
    assert np.all(l_many > l_one + 1.0)
    # the restarts are random: another key finds other points
    assert not np.allclose(many, other)
    for xa in (one, many, other):
        assert np.all(A.perturbation_norms(X, xa, "linf") <= 0.4 + 1e-9)


# ---------------------------------------------------------------------------
# the model interface: Predictor, attack_model, robustness_curve
# ---------------------------------------------------------------------------
def binary_linear(w, b=0.0):
    return A.Predictor(lambda p, x: x @ p["w"] + p["b"], {"w": jnp.asarray(w), "b": jnp.asarray(b)})


def test_attack_model_on_a_linear_model_is_pgd():
    """Logistic loss of a linear model: the gradient direction is -y w at every point, the
    loss grows along the path, so the worst iterate is the last one, the PGD result."""
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, size=(40, 6))
    w = rng.normal(size=6)
    y = np.where(x @ w > 0, 1.0, -1.0)
    model = binary_linear(w)
    for norm, eps in (("linf", 0.3), ("l2", 0.8)):
        res = A.attack_model(model, x, y, eps, norm=norm, steps=7, step_size=eps / 5, clip=(-1, 1))
        ref = A.pgd(A.loss_for_predictor(lambda z: model(z), "cross_entropy"), x, y, eps,
                    step_size=eps / 5, steps=7, norm=norm, clip=(-1, 1))
        np.testing.assert_allclose(res.x_adv, ref, atol=1e-6)
        # robust iff the margin survives the worst shift eps * ||w||_* (clipping can only help)
        dual = np.abs(w).sum() if norm == "linf" else np.linalg.norm(w)
        margin = y * (x @ w)
        assert np.all(res.robust[margin > eps * dual + 1e-6])
        assert res.clean.all()
    fg = A.attack_model(model, x, y, 0.2, method="fgsm", clip=(-1, 1))
    np.testing.assert_allclose(fg.x_adv, A.fgsm(A.loss_for_predictor(lambda z: model(z),
                                                                     "cross_entropy"),
                                                x, y, 0.2, clip=(-1, 1)), atol=1e-6)


@pytest.fixture(scope="module")
def mlp_predictor(trained_mlp):
    params, x, y = trained_mlp
    return A.Predictor(mlp_apply, params), x, y


@pytest.mark.parametrize("norm, eps", [("linf", 0.15), ("l2", 0.4)])
def test_attack_model_verdicts_are_consistent(mlp_predictor, norm, eps):
    model, x, y = mlp_predictor
    res = A.attack_model(model, x, y, eps, norm=norm, steps=10, restarts=3, clip=(-1.5, 1.5))
    assert np.all(A.perturbation_norms(x, res.x_adv, norm) <= eps + 1e-6)
    assert res.x_adv.min() >= -1.5 and res.x_adv.max() <= 1.5
    assert res.x_adv.dtype == x.dtype and res.x_adv.shape == x.shape
    ok_adv = np.sign(np.asarray(model(jnp.asarray(res.x_adv)))) == y
    # x_adv is misclassified exactly where the attack found a fooling point
    np.testing.assert_array_equal(ok_adv[res.clean], res.robust[res.clean])
    assert not np.any(res.robust & ~res.clean)
    assert res.robust_accuracy < res.clean_accuracy
    np.testing.assert_array_equal(res.clean, np.sign(np.asarray(model(jnp.asarray(x)))) == y)


def test_restarts_and_more_steps_never_help_the_model(mlp_predictor):
    model, x, y = mlp_predictor
    base = A.attack_model(model, x, y, 0.12, steps=5)
    more = A.attack_model(model, x, y, 0.12, steps=5, restarts=4, key=1)
    assert not np.any(more.robust & ~base.robust)     # restart 0 is the same run
    assert more.robust_accuracy <= base.robust_accuracy
    rand = A.attack_model(model, x, y, 0.12, steps=5, random_start=True, key=1)
    assert not np.allclose(rand.x_adv, base.x_adv)


def test_large_eps_breaks_every_example(mlp_predictor):
    """No gradient masking: inside a big enough ball every example can be pushed across."""
    model, x, y = mlp_predictor
    accs = A.robustness_curve(model, x, y, [0.0, 0.1, 0.5, 2.0], steps=20, keep_adv=False).accuracy
    assert accs[0] == pytest.approx(A.accuracy(model, x, y))
    assert accs[-1] == 0.0
    assert accs[-1] <= accs[-2] <= accs[1] <= accs[0]


def test_eps_zero_is_clean(mlp_predictor):
    model, x, y = mlp_predictor
    res = A.attack_model(model, x, y, 0.0, steps=3, restarts=2)
    np.testing.assert_array_equal(res.x_adv, x)
    np.testing.assert_array_equal(res.robust, res.clean)


def test_attack_model_compiles_once_per_architecture(mlp_predictor):
    model, x, y = mlp_predictor
    other = A.Predictor(mlp_apply, jax.tree_util.tree_map(lambda a: 0.9 * a, model.params))
    A.attack_model(model, x, y, 0.1, steps=3)
    before = A._model_attack_jit._cache_size()
    for m, eps, steps, restarts in ((model, 0.2, 5, 1), (other, 0.05, 2, 3), (model, 0.3, 1, 2)):
        A.attack_model(m, x, y, eps, steps=steps, restarts=restarts, clip=(-2.0, 2.0), key=7)
    A.attack_model(model, x, y, 0.2, method="fgsm")
    assert A._model_attack_jit._cache_size() == before


def test_attack_model_one_compilation_for_both_norms(mlp_predictor):
    """The norm is traced: L-inf and L2 attacks of one architecture share a compilation,
    and each still moves by its own rule (L-inf box, L2 ball)."""
    model, x, y = mlp_predictor
    A.attack_model(model, x, y, 0.1, steps=3)
    before = A._model_attack_jit._cache_size()
    res2 = A.attack_model(model, x, y, 0.5, norm="l2", steps=4, restarts=2, key=3)
    resi = A.attack_model(model, x, y, 0.1, norm="linf", steps=4, restarts=2, key=3)
    assert A._model_attack_jit._cache_size() == before
    assert np.all(A.perturbation_norms(x, res2.x_adv, "l2") <= 0.5 + 1e-5)
    assert np.all(A.perturbation_norms(x, resi.x_adv, "linf") <= 0.1 + 1e-6)
    assert A.perturbation_norms(x, res2.x_adv, "linf").max() > 0.1


def test_noise_control_and_curves(mlp_predictor):
    model, x, y = mlp_predictor
    noise = A.random_noise(x, 0.2, key=0)
    np.testing.assert_allclose(np.abs(noise - x), 0.2, atol=1e-6)
    d2 = A.random_noise(x, 0.5, norm="l2", key=0)
    np.testing.assert_allclose(A.perturbation_norms(x, d2, "l2"), 0.5, atol=1e-6)
    np.testing.assert_array_equal(A.random_noise(x, 0.2, key=0), noise)
    assert not np.allclose(A.random_noise(x, 0.2, key=1), noise)
    clipped = A.random_noise(x, 0.9, key=0, clip=(-1, 1))
    assert clipped.min() >= -1 and clipped.max() <= 1
    eps = [0.0, 0.1, 0.2]
    adv = A.robustness_curve(model, x, y, eps, steps=10)
    rnd = A.robustness_curve(model, x, y, eps, method="noise", key=0)
    assert adv.x_adv.shape == (3,) + x.shape and adv.method == "pgd" and rnd.method == "noise"
    assert adv.accuracy[0] == rnd.accuracy[0]
    assert adv.accuracy[-1] < rnd.accuracy[-1]        # adversarial >> random of the same size


def test_input_gradient_is_the_per_example_gradient(mlp_predictor):
    model, x, y = mlp_predictor
    g = A.input_gradient(model, x[:5], y[:5])
    for i in range(5):
        gi = jax.grad(lambda z: losses.cross_entropy(model(z[None]), y[i:i + 1]))(jnp.asarray(x[i]))
        np.testing.assert_allclose(g[i], np.asarray(gi), rtol=1e-4, atol=1e-6)
    fg = A.attack_model(model, x[:5], y[:5], 0.1, method="fgsm")
    np.testing.assert_allclose(fg.x_adv, x[:5] + 0.1 * np.sign(g), atol=1e-6)


# ---------------------------------------------------------------------------
# kernel predictors: the NTK adversary
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel_problem():
    from lecture_lib import kernels
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(70, 5))
    y = np.where(x[:, 0] - x[:, 1] > 0, 1.0, -1.0)
    kfn = kernels.fc(depth=2, b_std=0.1)[2]
    k = kernels.analytic_kernel(kfn, x[:50], dtype="float64")
    kx = kernels.analytic_kernel(kfn, x[50:], x[:50], dtype="float64")
    return kfn, x[:50], y[:50], x[50:], y[50:], k, kx


def test_kernel_predictor_matches_krr_and_gd_closed_forms(kernel_problem):
    kfn, xtr, ytr, xte, yte, k, kx = kernel_problem
    lam = float(np.linalg.eigvalsh(k)[-1])
    cases = [
        (dict(reg=1e-3), krr.fit_predict(k, ytr, kx, reg=1e-3)),
        (dict(), krr.fit_predict(k, ytr, kx, reg=1e-6)),
        (dict(t=7.0, lr=0.5 / lam), krr.gd_dynamics(k, ytr, 7.0, kx, lr=0.5 / lam).test),
        (dict(steps=20, lr=1 / lam), krr.gd_dynamics_discrete(k, ytr, 20, kx, lr=1 / lam).test),
    ]
    for kw, ref in cases:
        pred = A.kernel_predictor(kfn, xtr, ytr, **kw)
        assert pred.dtype == "float64"
        np.testing.assert_allclose(A.predict(pred, xte), ref, rtol=1e-7, atol=1e-9)
    with_k = A.kernel_predictor(kfn, xtr, ytr, steps=20, lr=1 / lam, k_train=k)
    np.testing.assert_allclose(A.predict(with_k, xte), cases[-1][1], rtol=1e-9, atol=1e-12)
    # one apply_fn per kernel: every predictor of it shares the compiled attack
    assert with_k.apply_fn is A.kernel_predictor(kfn, xtr, ytr).apply_fn


def test_ntk_adversary_increases_the_kernel_loss_and_stays_in_the_ball(kernel_problem):
    kfn, xtr, ytr, xte, yte, _, _ = kernel_problem
    pred = A.kernel_predictor(kfn, xtr, ytr, reg=1e-4)
    loss = A.loss_for_predictor(pred, "cross_entropy")
    eps = 0.15
    res = A.attack_model(pred, xte, yte, eps, steps=10, clip=(0, 1))
    noise = A.random_noise(xte, eps, key=0, clip=(0, 1))
    from lecture_lib.precision import x64
    with x64():
        l_clean, l_adv, l_noise = (float(loss(jnp.asarray(z), jnp.asarray(yte))) for z in (xte, res.x_adv, noise))
    assert l_adv > 1.5 * l_clean and l_adv > l_noise
    assert np.all(A.perturbation_norms(xte, res.x_adv, "linf") <= eps + 1e-12)
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert res.robust_accuracy < res.clean_accuracy


def test_kernel_input_gradient_matches_finite_differences(kernel_problem):
    kfn, xtr, ytr, xte, yte, _, _ = kernel_problem
    pred = A.kernel_predictor(kfn, xtr, ytr, t=50.0, lr=1e-2)
    g = A.input_gradient(pred, xte[:3], yte[:3], loss="mse")
    f = lambda z: 0.5 * (A.predict(pred, z) - yte[:3]) ** 2  # noqa: E731  per-example loss
    v = np.random.default_rng(0).normal(size=xte[:3].shape)
    h = 1e-6
    fd = (f(xte[:3] + h * v) - f(xte[:3] - h * v)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * v, axis=1), fd, rtol=1e-5, atol=1e-9)


# ---------------------------------------------------------------------------
# adversarial training hook
# ---------------------------------------------------------------------------
def test_pgd_perturb_trains_robust_models():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, size=(80, 4)).astype(np.float32)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, 1.0, -1.0).astype(np.float32)
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    p0 = [(jax.random.normal(k1, (4, 32)) / 2.0, jnp.zeros(32)), (),
          (jax.random.normal(k2, (32,)) / np.sqrt(32), jnp.zeros(()))]
    kw = dict(loss="cross_entropy", optimizer="adam", lr=0.02, steps=150, record_every=150,
              progress=False)
    std = T.fit(mlp_apply, p0, x, y, perturb=A.pgd_perturb(0.0), **kw)
    ref = T.fit(mlp_apply, p0, x, y, **kw)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                           std.params, ref.params)
    adv = T.fit(mlp_apply, p0, x, y, perturb=A.pgd_perturb(0.2, steps=5), **kw)
    both = T.fit(mlp_apply, jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), p0), x, y,
                 ensemble=True, perturb=A.pgd_perturb(None, steps=5),
                 perturb_args=np.array([0.0, 0.2], np.float32), **kw)
    for j, single in enumerate((ref, adv)):
        member = jax.tree_util.tree_map(lambda a: a[j], both.params)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
                               member, single.params)
    rob = {name: A.attack_model(A.Predictor(mlp_apply, r.params), x, y, 0.2, steps=10).robust_accuracy
           for name, r in (("std", ref), ("adv", adv))}
    assert rob["adv"] > rob["std"] + 0.1, rob


# ---------------------------------------------------------------------------
# input validation of the model interface
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda m: A.attack_model(lambda x: x, X, np.ones(16), 0.1), TypeError, "Predictor"),
    (lambda m: A.attack_model(m, X, np.ones(3), 0.1), ValueError, "same number of rows"),
    (lambda m: A.attack_model(m, X, np.ones(16), -1.0), ValueError, "eps"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, method="cw"), ValueError, "method"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, norm="l1"), ValueError, "norm"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, restarts=0), ValueError, "restarts"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, steps=0), ValueError, "steps"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, clip=(0.0, 1.0)), ValueError, "outside clip"),
    (lambda m: A.attack_model(m, X, np.ones(16), 0.1, loss="hinge"), ValueError, "loss"),
    (lambda m: A.attack_model(m._replace(dtype="float16"), X, np.ones(16), 0.1), ValueError, "dtype"),
    (lambda m: A.robustness_curve(m, X, np.ones(16), [0.1, -0.1]), ValueError, "eps"),
    (lambda m: A.random_noise(X, 0.1, norm="l3"), ValueError, "norm"),
    (lambda m: A.pgd_perturb(-0.1), ValueError, "eps"),
    (lambda m: A.pgd_perturb(0.1, clip=(1, 0)), ValueError, "clip"),
    (lambda m: A.kernel_predictor(3, X, np.ones(16)), TypeError, "kernel_fn"),
    (lambda m: A.kernel_predictor(lambda *a: 0, X.reshape(16, -1), np.ones(16), reg=0.1, t=1.0), ValueError, "at most one"),
    (lambda m: A.kernel_predictor(lambda *a: 0, X.reshape(16, -1), np.ones(16), k_train=np.eye(3)), ValueError, "k_train"),
])
def test_bad_model_arguments(call, exc, match):
    model = A.Predictor(lambda p, x: jnp.sum(x, axis=(1, 2, 3)) * p, jnp.asarray(1.0))
    with pytest.raises(exc, match=match):
        call(model)
