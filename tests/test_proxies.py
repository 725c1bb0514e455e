"""Tests for lecture_lib.proxies: kernels of many networks and the NAS proxies, against
brute-force or closed-form references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import kendalltau

from lecture_lib import kernels, proxies as P, supernet


def small_net(seed=0, m=1):
    net = supernet.Supernet("mlp", 2, 6, (4,), 3)
    archs = [supernet.Arch("mlp", 1 + i % 2, 6, ("relu", "tanh")[i % 2], False, 1.0 + 0.3 * i)
             for i in range(m)]
    return net, net.init_many(seed, archs)


def brute_ntk(apply_fn, p, x, output):
    def flat_jac(x_):
        jac = jax.jacobian(lambda q: apply_fn(q, x_))(p)  # leaves (n, k, ...)
        return jnp.concatenate([a.reshape(a.shape[0], a.shape[1], -1)
                                for a in jax.tree_util.tree_leaves(jac)], axis=-1)
    j = np.asarray(flat_jac(jnp.asarray(x)), np.float64)  # (n, k, P)
    if output == "sum":
        js = j.sum(axis=1) / np.sqrt(j.shape[1])
        return js @ js.T
    return np.einsum("ikp,jkp->ij", j, j) / j.shape[1]


@pytest.mark.parametrize("output", ["sum", "trace"])
def test_empirical_ntks_match_brute_force_jacobians(output):
    net, params = small_net(m=5)
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    ks = P.empirical_ntks(net.apply, params, x, output=output, chunk=2)  # padded last chunk
    assert ks.shape == (5, 7, 7)
    for i, p in enumerate(supernet.unstack(params)):
        ref = brute_ntk(net.apply, p, x, output)
        np.testing.assert_allclose(ks[i], ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_trace_output_is_the_kernels_module_ntk():
    init_fn, apply_fn, _ = kernels.fc(1, 32, out_dim=4, parameterization="standard")
    _, p = init_fn(jax.random.PRNGKey(0), (1, 5))
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    stacked = jax.tree_util.tree_map(lambda a: a[None], p)
    np.testing.assert_allclose(P.empirical_ntks(apply_fn, stacked, x, output="trace")[0],
                               kernels.empirical_ntk(apply_fn, p, x), rtol=1e-5)


def test_pooled_ntk_has_the_traced_ntk_as_mean_at_init():
    """Outputs are independent at initialisation: E[sum-of-logits NTK] = traced NTK."""
    init_fn, apply_fn, kernel_fn = kernels.fc(1, 256, out_dim=8)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    ps = [init_fn(jax.random.PRNGKey(s), x.shape)[1] for s in range(8)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *ps)
    k_sum = P.empirical_ntks(apply_fn, stacked, x, output="sum").mean(0)
    ref = kernels.analytic_kernel(kernel_fn, x, dtype="float64")
    assert np.linalg.norm(k_sum - ref) / np.linalg.norm(ref) < 0.1


def test_monte_carlo_nngp_formula_and_limit():
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 5, 2))
    np.testing.assert_allclose(P.monte_carlo_nngp(f, g), np.einsum("snc,smc->nm", f, g) / 6)
    np.testing.assert_allclose(P.monte_carlo_nngp(f[..., 0]), np.einsum("sn,sm->nm", f[..., 0], f[..., 0]) / 3)
    # linear "networks" f = x W, W ~ N(0, 1/d): the NNGP is x x^T / d
    x = rng.normal(size=(6, 10))
    w = rng.normal(size=(4000, 10, 1)) / np.sqrt(10)
    k = P.monte_carlo_nngp(np.einsum("nd,sdk->snk", x, w))
    np.testing.assert_allclose(k, x @ x.T / 10, atol=0.15 * np.abs(x @ x.T / 10).max())
    with pytest.raises(ValueError, match="same"):
        P.monte_carlo_nngp(f, g[:2])


def test_condition_number_frobenius_mean():
    k = np.diag([4.0, 2.0, 0.5])
    assert P.condition_number(k) == pytest.approx(8.0)
    assert P.condition_number(np.ones((3, 3))) == np.inf           # singular
    assert P.condition_number(np.full((2, 2), np.nan)) == np.inf
    assert P.frobenius_norm(k) == pytest.approx(np.sqrt(16 + 4 + 0.25))
    assert P.kernel_mean(k) == pytest.approx(6.5 / 9)
    assert np.isnan(P.frobenius_norm(np.full((2, 2), np.inf)))
    with pytest.raises(ValueError, match="square"):
        P.condition_number(np.ones((2, 3)))


def test_label_gradient_alignment():
    y = np.array([0, 0, 1, 2, 1, 2])
    yy = (y[:, None] == y[None, :]).astype(float)
    assert P.label_gradient_alignment(yy, y) == pytest.approx(1.0)
    assert P.label_gradient_alignment(-yy, y) == pytest.approx(-1.0)
    k = np.random.default_rng(0).normal(size=(6, 6))
    k = k @ k.T
    a = P.label_gradient_alignment(k, y)
    assert P.label_gradient_alignment(3 * k + 5, y) == pytest.approx(a)  # scale and offset free
    assert P.label_gradient_alignment(k, np.eye(3)[y]) == pytest.approx(a)  # one-hot = integer
    # explicit formula with +-1 label matrix
    ypm = 2 * yy - 1
    kc, yc = k - k.mean(), ypm - ypm.mean()
    assert a == pytest.approx(np.sum(kc * yc) / np.linalg.norm(kc) / np.linalg.norm(yc))
    assert np.isnan(P.label_gradient_alignment(np.full((6, 6), np.nan), y))
    with pytest.raises(ValueError, match="two classes"):
        P.label_gradient_alignment(k, np.zeros(6))
    with pytest.raises(ValueError, match="rows"):
        P.label_gradient_alignment(k, y[:5])


def test_nngp_accuracy():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 20)) * 3
    y_tr, y_va = rng.integers(0, 3, 40), rng.integers(0, 3, 30)
    x_tr = centers[y_tr] + rng.normal(size=(40, 20))
    x_va = centers[y_va] + rng.normal(size=(30, 20))
    assert P.nngp_accuracy(x_tr @ x_tr.T, y_tr, x_va @ x_tr.T, y_va) == 1.0
    # a kernel that ignores the inputs predicts one class only
    acc = P.nngp_accuracy(np.eye(40), y_tr, np.zeros((30, 40)) + 1e-3, y_va)
    assert acc <= max(np.mean(y_va == c) for c in range(3)) + 1e-12
    assert np.isnan(P.nngp_accuracy(np.full((40, 40), np.nan), y_tr, x_va @ x_tr.T, y_va))
    with pytest.raises(ValueError, match="shapes"):
        P.nngp_accuracy(x_tr @ x_tr.T, y_tr, x_va @ x_tr[:39].T, y_va)


def test_kendall_tau_and_top_pick():
    acc = np.array([0.1, 0.5, 0.9, 0.7])
    assert P.kendall_tau(acc * 2, acc) == pytest.approx(1.0)
    assert P.kendall_tau(-acc, acc) == pytest.approx(-1.0)
    assert P.kendall_tau(-acc, acc, higher_is_better=False) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=20), rng.normal(size=20)
    assert P.kendall_tau(s, a) == pytest.approx(kendalltau(s, a).statistic)
    # NaN scores rank last, NaN accuracies lowest: a diverged net flagged NaN by its proxy agrees
    assert P.kendall_tau([np.nan, 1, 2, 3], [np.nan, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert P.top_pick([0.3, np.nan, 0.9, 0.1]) == 2
    assert P.top_pick([3.0, 1.0, 2.0], higher_is_better=False) == 1
    with pytest.raises(ValueError, match="NaN"):
        P.top_pick([np.nan, np.nan])
    with pytest.raises(ValueError, match="same length"):
        P.kendall_tau([1, 2], [1, 2, 3])


def test_bad_input():
    net, params = small_net(m=2)
    with pytest.raises(ValueError, match="output"):
        P.empirical_ntks(net.apply, params, np.ones((3, 4)), output="diag")
    with pytest.raises(TypeError, match="apply_fn"):
        P.empirical_ntks(None, params, np.ones((3, 4)))
    with pytest.raises(ValueError, match="member axis"):
        P.empirical_ntks(net.apply, {"a": np.ones(3), "b": np.ones((2, 2))}, np.ones((3, 4)))
