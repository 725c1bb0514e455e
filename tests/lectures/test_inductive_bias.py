"""Tests for lecture_lib.inductive_bias (FC vs CONV separations, notebook 01)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib.lectures import inductive_bias as lec


# --------------------------------------------------------------------------- #
# Li, Zhang, Arora task and CNN
# --------------------------------------------------------------------------- #
def test_channel_norm_task_labels_and_shapes():
    x, y = lec.channel_norm_task(500, 6, seed=3)
    assert x.shape == (500, 6, 1, 2) and y.shape == (500,)
    energy = (x[..., 0] ** 2).sum(axis=(1, 2)) - (x[..., 1] ** 2).sum(axis=(1, 2))
    np.testing.assert_array_equal(y, np.sign(energy))
    assert 0.4 < np.mean(y > 0) < 0.6
    x2, _ = lec.channel_norm_task(500, 6, seed=3)
    np.testing.assert_array_equal(x, x2)


@pytest.mark.parametrize("kwargs, err", [
    (dict(n=0, pixels=3), ValueError), (dict(n=5, pixels=1.5), TypeError),
    (dict(n=5, pixels=3, seed=-1), ValueError)])
def test_channel_norm_task_validation(kwargs, err):
    with pytest.raises(err):
        lec.channel_norm_task(**kwargs)


def test_channel_cnn_is_a_linear_function_of_the_channel_gram_matrix():
    init, apply = lec.channel_cnn(5)
    assert lec.channel_cnn(5) == (init, apply)          # cached: jit reuse
    _, (w, a) = init(jax.random.PRNGKey(0), (1, 7, 1, 2))
    x, _ = lec.channel_norm_task(20, 7, seed=0)
    f = np.asarray(apply((w, a), jnp.asarray(x)))[:, 0]
    xp = x[:, :, 0, :]                                   # (n, P, C)
    gram = np.einsum("npc,npd->ncd", xp, xp) / xp.shape[1]
    amat = np.einsum("r,cr,dr->cd", np.asarray(a), np.asarray(w), np.asarray(w)) / (2 * np.sqrt(5))
    np.testing.assert_allclose(f, np.einsum("cd,ncd->n", amat, gram), rtol=1e-4, atol=1e-5)
    # weight sharing: permuting pixels does not change the output
    perm = np.random.default_rng(0).permutation(7)
    np.testing.assert_allclose(np.asarray(apply((w, a), jnp.asarray(x[:, perm])))[:, 0], f, rtol=1e-5)


def test_random_rotation_is_orthogonal():
    u = lec.random_rotation(9, seed=1)
    np.testing.assert_allclose(u @ u.T, np.eye(9), atol=1e-12)
    assert not np.allclose(u, lec.random_rotation(9, seed=2))


def _linear_task(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, np.sign(x[:, 0] + 0.5 * x[:, 1]).astype(np.float32)


def _linear_model():
    def init(key, shape):
        return (shape[0], 1), (0.1 * jax.random.normal(key, (shape[-1],)),)

    def apply(params, x):
        return (x @ params[0])[:, None]

    return init, apply


def test_gd_learning_curve_learns_and_masking_matches_separate_runs():
    x, y = _linear_task(400, 5, 0)
    xt, yt = _linear_task(300, 5, 1)
    init, apply = _linear_model()
    sizes = [4, 16, 64, 200]
    grouped = lec.gd_learning_curve(init, apply, x, y, xt, yt, sizes, lr=0.5, steps=100,
                                   n_seeds=2, progress=False, group_ratio=100.0)
    separate = lec.gd_learning_curve(init, apply, x, y, xt, yt, sizes, lr=0.5, steps=100,
                                    n_seeds=2, progress=False, group_ratio=1.0)
    assert grouped.shape == (4, 2)
    np.testing.assert_allclose(grouped, separate, atol=2e-3)
    assert grouped[-1].min() > 0.9 and grouped[-1].mean() > grouped[0].mean()


def test_gd_learning_curve_flags_divergence_and_validates():
    x, y = _linear_task(40, 3, 0)
    init, apply = _linear_model()
    acc = lec.gd_learning_curve(init, apply, x * 1e3, y, x, y, [20], lr=10.0, steps=50, progress=False)
    assert np.isnan(acc).all()
    with pytest.raises(ValueError, match="sizes"):
        lec.gd_learning_curve(init, apply, x, y, x, y, [30], lr=0.1, steps=5, n_seeds=2, progress=False)
    with pytest.raises(ValueError, match="lr"):
        lec.gd_learning_curve(init, apply, x, y, x, y, [10], lr=0.0, steps=5, progress=False)
    with pytest.raises(ValueError, match="x_test"):
        lec.gd_learning_curve(init, apply, x, y, x[:, :2], y, [10], lr=0.1, steps=5, progress=False)


def test_krr_learning_curve_linear_kernel():
    x, y = _linear_task(300, 4, 0)
    xt, yt = _linear_task(200, 4, 1)
    k, kt = x @ x.T, xt @ x.T
    acc = lec.krr_learning_curve(k, y, kt, yt, [2, 20, 300], reg=1e-3)
    assert acc.shape == (3,) and acc[-1] > 0.9 and acc[-1] >= acc[0]
    with pytest.raises(ValueError):
        lec.krr_learning_curve(k, y[:-1], kt, yt, [10])
    with pytest.raises(ValueError, match="sizes"):
        lec.krr_learning_curve(k, y, kt, yt, [0, 10])


def test_samples_needed_interpolates_in_log_n():
    sizes, acc = [10, 100, 1000], [0.5, 0.7, 0.9]
    assert lec.samples_needed(sizes, acc, 0.8) == pytest.approx(math.sqrt(100 * 1000))
    assert lec.samples_needed(sizes, acc, 0.4) == 10
    assert lec.samples_needed(sizes, acc, 0.95) == math.inf
    assert lec.samples_needed(sizes, [0.5, 0.8, 0.7], 0.75) < 100   # first crossing
    with pytest.raises(ValueError):
        lec.samples_needed([10, 5], [0.5, 0.6])
    with pytest.raises(ValueError):
        lec.samples_needed([10, 100], [0.5, 0.6, 0.7])


# --------------------------------------------------------------------------- #
# Malach, Shalev-Shwartz: k-patterns
# --------------------------------------------------------------------------- #
def test_k_pattern_task_parity_and_truth_table():
    x, y = lec.k_pattern_task(300, 12, 3, 5, seed=0)
    assert x.shape == (300, 12) and set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, np.prod(x[:, 5:8], axis=1))
    table = np.array([1, -1, -1, -1, 1, 1, -1, 1], dtype=float)
    x, y = lec.k_pattern_task(300, 12, 3, 0, g=table, seed=1)
    np.testing.assert_array_equal(y, table[lec.pattern_index(x[:, :3])])
    with pytest.raises(ValueError):
        lec.k_pattern_task(10, 12, 3, 10)
    with pytest.raises(ValueError, match="2\\*\\*k"):
        lec.k_pattern_task(10, 12, 3, 0, g=np.ones(4))
    with pytest.raises(ValueError, match="g must map"):
        lec.k_pattern_task(10, 12, 3, 0, g=lambda z: np.zeros(len(z)))


def test_pattern_index_and_truth_table_of_filters():
    assert lec.pattern_index(np.array([1, -1, 1])) == 5
    k = 4
    w = np.asarray(lec.kpattern_cnn(10, k, 50)[0](jax.random.PRNGKey(0))[0])
    assert set(np.unique(np.abs(w))) == {1 / k}
    table = lec.filter_truth_table(w)                    # (2^k, q)
    assert table.shape == (16, 50)
    np.testing.assert_array_equal((table > 0).sum(axis=0), np.ones(50))
    np.testing.assert_allclose(table.max(axis=0), 1 / k)
    np.testing.assert_array_equal(np.argmax(table, axis=0), lec.pattern_index(w))


def test_kpattern_cnn_represents_any_k_pattern_with_a_complete_truth_table():
    n, k, j_star = 11, 3, 4
    init, apply = lec.kpattern_cnn(n, k, 2**k)
    w0, u0 = init(jax.random.PRNGKey(1))
    assert u0.shape == (n - k + 1, 2**k) and not np.any(np.asarray(u0))
    bits = (np.arange(2**k)[:, None] >> np.arange(k - 1, -1, -1)[None, :]) & 1
    w = (2.0 * bits - 1.0) / k                           # every pattern has its filter
    g = np.random.default_rng(0).choice([-1.0, 1.0], 2**k)
    u = np.zeros((n - k + 1, 2**k))
    u[j_star] = k * g                                    # read out window j* only
    x, y = lec.k_pattern_task(200, n, k, j_star, g=g, seed=2)
    out = np.asarray(apply((jnp.asarray(w, jnp.float32), jnp.asarray(u, jnp.float32)), jnp.asarray(x)))
    assert out.shape == (200, 1)
    np.testing.assert_allclose(out[:, 0], y, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(apply((w0, u0), jnp.asarray(x))), 0.0)


def test_coupon_collector_simulation_matches_exact_law():
    k, trials = 3, 3000
    times = lec.coupon_collector_times(k, trials, seed=0)
    assert times.shape == (trials,) and times.min() >= 2**k
    harmonic = 2**k * sum(1 / i for i in range(1, 2**k + 1))
    assert abs(times.mean() - harmonic) < 0.05 * harmonic
    q = np.array([0, 7, 8, 20, 40, 80])
    p = lec.coverage_probability(q, k)
    assert p[0] == 0 and p[1] == 0 and p[2] == pytest.approx(math.factorial(8) / 8**8)
    assert np.all(np.diff(p) >= 0)
    # inclusion-exclusion: P(all covered) = sum_j (-1)^j C(m, j) (1 - j/m)^q
    m = 2**k
    incl = [sum((-1) ** j * math.comb(m, j) * (1 - j / m) ** qq for j in range(m + 1)) for qq in q]
    np.testing.assert_allclose(p, incl, atol=1e-12)
    for qq in (20, 40):
        assert abs(np.mean(times <= qq) - lec.coverage_probability(qq, k)) < 0.03


def test_filters_needed_and_bounds():
    times = np.arange(1, 101)
    assert lec.filters_needed(times, 0.1) == 90
    assert lec.filters_needed(times, 0.5) == 50
    for k in (2, 5, 8):
        for delta in (0.01, 0.1):
            exact = lec.exact_filters_needed(k, delta)
            assert lec.coverage_probability(exact, k) >= 1 - delta > lec.coverage_probability(exact - 1, k)
            assert exact <= lec.union_bound(k, delta) < lec.filters_bound(k, delta)
    assert lec.filters_bound(4, 0.1) == pytest.approx(128 * math.log(160))
    assert lec.union_bound(4, 0.1) == pytest.approx(16 * math.log(160))
    with pytest.raises(ValueError):
        lec.filters_bound(4, 0.0)
    with pytest.raises(ValueError):
        lec.filters_needed(times, 1.5)
    with pytest.raises(ValueError):
        lec.coverage_probability(np.array([-1]), 3)


def test_theorem4_bound_terms():
    t = lec.theorem4_bound(q=100, T=1000, n=10, k=2, c=1.0)
    assert t["term1"] == pytest.approx(2 * 100 * 4 * 4 / 100)
    assert t["term2"] == pytest.approx(2 * 64 / math.sqrt(1000))
    assert t["term3"] == pytest.approx(10**1.5 * 10 / 1000)
    assert t["total"] == pytest.approx(t["term1"] + t["term2"] + t["term3"])
    grid = lec.theorem4_bound(np.array([1e2, 1e4]), 1e6, 10, 2)
    assert grid["term1"][1] < grid["term1"][0] and grid["term3"][1] > grid["term3"][0]
    assert lec.theorem4_lr(16, 4, 100) == pytest.approx(4 / 20)
    with pytest.raises(ValueError, match="q"):
        lec.theorem4_bound(0, 10, 10, 2)
