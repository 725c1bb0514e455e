"""Tests for lecture_lib.pruning: masks, masked networks and Neural Tangent Transfer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import kernels, metrics, proxies, pruning as P, train


def stax_mlp(width=32, seed=0, out=3, d=5):
    init_fn, apply_fn, _ = kernels.fc(2, width, "relu", out_dim=out, parameterization="standard")
    _, params = init_fn(jax.random.PRNGKey(seed), (1, d))
    return apply_fn, params


def test_random_mask_density_values_and_biases():
    _, params = stax_mlp(width=200)
    m = P.random_mask(params, 0.3, seed=0)
    assert P.mask_density(m) == pytest.approx(0.3, abs=0.01)
    leaves_p, leaves_m = jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(m)
    for a, b in zip(leaves_p, leaves_m):
        assert b.shape == np.shape(a)
        if not P.is_prunable(a):
            assert np.all(b == 1)                       # biases are never pruned
        else:
            assert set(np.unique(b)) <= {0.0, 1.0}
    r = P.random_mask(params, 0.25, seed=0, rescale=True)
    kept = [np.ravel(b) for a, b in zip(leaves_p, jax.tree_util.tree_leaves(r)) if P.is_prunable(a)]
    assert set(np.unique(np.concatenate(kept))) == {0.0, 2.0}
    assert P.is_prunable(np.ones((5, 1))) and not P.is_prunable(np.ones((1, 5))) and not P.is_prunable(np.ones(5))
    same = P.random_mask(params, 0.3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(m), jax.tree_util.tree_leaves(same)))


def test_magnitude_mask_keeps_the_largest_weights_per_layer():
    _, params = stax_mlp(width=40)
    m = P.magnitude_mask(params, 0.1)
    for w, k in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(m)):
        if not P.is_prunable(w):
            continue
        w = np.abs(np.asarray(w))
        keep = int(round(0.1 * w.size))
        assert k.sum() == keep
        assert w[k == 1].min() >= w[k == 0].max()
    tiny = P.magnitude_mask([np.array([[1.0, -3.0], [0.5, 2.0]])], 0.01)
    np.testing.assert_array_equal(tiny[0], [[0, 1], [0, 0]])     # at least one weight survives


def test_masked_network_is_the_sparse_network_and_only_kept_weights_train():
    apply_fn, params = stax_mlp()
    mask = P.random_mask(params, 0.5, seed=1)
    sp = P.sparse_params(params, mask)
    f = P.masked(apply_fn)
    assert P.masked(apply_fn) is f                                   # one function per apply_fn
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    np.testing.assert_allclose(f(sp, x), apply_fn(P.apply_mask(params, mask), x), rtol=1e-6)
    g = jax.grad(lambda q: jnp.sum(f(q, x) ** 2))(sp)
    for gw, m in zip(jax.tree_util.tree_leaves(g["w"]), jax.tree_util.tree_leaves(mask)):
        assert np.all(np.asarray(gw)[np.asarray(m) == 0] == 0)
    assert all(np.all(np.asarray(a) == 0) for a in jax.tree_util.tree_leaves(g["mask"]))
    y = np.random.default_rng(1).integers(0, 3, 8)
    tr = train.fit(f, P.stack_masks([sp, sp]), x, y, loss="cross_entropy", lr=0.3, steps=10,
                   ensemble=True, progress=False)
    for a, b, m in zip(jax.tree_util.tree_leaves(tr.params["w"]), jax.tree_util.tree_leaves(params),
                       jax.tree_util.tree_leaves(mask)):
        pruned = np.asarray(m) == 0
        np.testing.assert_array_equal(np.asarray(a)[:, pruned], np.broadcast_to(np.asarray(b)[pruned], (2, pruned.sum())))
    np.testing.assert_array_equal(tr.params["mask"][0][0][0], mask[0][0])


def test_rescaled_random_pruning_keeps_the_ntk_scale():
    """Yang & Wang: with 1/sqrt(p) the pruned NTK matches the dense one on average; without, it shrinks."""
    init_fn, apply_fn, kernel_fn = kernels.fc(2, 256, "relu")
    x = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    ref = np.trace(kernels.analytic_kernel(kernel_fn, x, dtype="float64"))
    f = P.masked(apply_fn)
    ratio = {False: [], True: []}
    for s in range(4):
        _, params = init_fn(jax.random.PRNGKey(s), x.shape)
        for rescale in (False, True):
            m = P.random_mask(params, 0.25, seed=s, rescale=rescale)
            ratio[rescale].append(np.trace(kernels.empirical_ntk(f, P.sparse_params(params, m), x)) / ref)
    assert np.mean(ratio[True]) == pytest.approx(1.0, abs=0.15)
    assert np.mean(ratio[False]) < 0.3


def test_ntt_objective_at_the_teacher_is_the_l2_term():
    apply_fn, params = stax_mlp()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 5)), jnp.float32)
    ntk = proxies.ntk_fn(apply_fn, "sum")
    target = {"f": apply_fn(params, x), "ntk": ntk(x[:4], x[4:], params), "density": 0.5}
    obj = P.ntt_objective(apply_fn, kernel_weight=2.0, l2_weight=1e-3)
    l2 = sum(float(jnp.sum(a ** 2)) for a in jax.tree_util.tree_leaves(params))
    val = obj(params, params, x, target, P.ones_mask(params))
    assert float(val) == pytest.approx(1e-3 / 0.5 * l2, rel=1e-5)


def test_neural_tangent_transfer_brings_the_sparse_kernel_closer():
    apply_fn, params = stax_mlp(width=32, d=6)
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    res = P.neural_tangent_transfer(apply_fn, params, x, [0.1, 0.3], steps=60, lr=3e-3,
                                    mask_update_every=20, progress=False)
    assert res.loss.shape == res.kernel_distance.shape == (4, 2)        # steps 0, 20, 40, 60
    np.testing.assert_array_equal(res.steps, [0, 20, 40, 60])
    assert np.all(res.kernel_distance[-1] < res.kernel_distance[0])      # the transfer pulls the kernel in
    assert np.all(res.loss[-1] < res.loss[0])
    for i, p in enumerate([0.1, 0.3]):
        m = jax.tree_util.tree_map(lambda a, i=i: a[i], res.masks)
        assert P.mask_density(m) == pytest.approx(p, abs=0.01)
    # the recorded kernel distance is the one of the returned sparse network
    w = jax.tree_util.tree_map(lambda a: a[0], res.params)
    m = jax.tree_util.tree_map(lambda a: a[0], res.masks)
    # ... and the NTK of the sparse network counts the kept weights only
    sparse = proxies.ntk_fn(P.masked(apply_fn), "sum")
    k_s = sparse(jnp.asarray(x[:8]), jnp.asarray(x[8:]), P.sparse_params(w, m))
    k_t = proxies.ntk_fn(apply_fn, "sum")(jnp.asarray(x[:8]), jnp.asarray(x[8:]), params)
    assert float(metrics.relative_error(np.asarray(k_s), np.asarray(k_t))) == pytest.approx(res.kernel_distance[-1, 0], rel=1e-3)


def test_bad_input():
    apply_fn, params = stax_mlp()
    with pytest.raises(ValueError, match="density"):
        P.random_mask(params, 0.0)
    with pytest.raises(ValueError, match="density"):
        P.magnitude_mask(params, 1.5)
    with pytest.raises(ValueError, match="prunable"):
        P.magnitude_mask([np.ones(3)], 0.5)
    with pytest.raises(ValueError, match="structure"):
        P.sparse_params(params, [np.ones(2)])
    with pytest.raises(TypeError, match="rescale"):
        P.random_mask(params, 0.5, rescale="yes")
    with pytest.raises(ValueError, match="at least 2"):
        P.neural_tangent_transfer(apply_fn, params, np.ones((1, 5)), [0.5])
    with pytest.raises(ValueError, match="empty"):
        P.neural_tangent_transfer(apply_fn, params, np.ones((4, 5)), [])
