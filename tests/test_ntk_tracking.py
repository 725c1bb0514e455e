"""Tests for lecture_lib.ntk_tracking: the layer-wise empirical NTK against neural-tangents, and
the kernel path along a recorded training run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import kernels, ntk_tracking, train


def perturbed_params(init, d, seed=0):
    _, p = init(jax.random.PRNGKey(seed), (-1, d))
    # non-zero biases, so that the bias terms of the formula are exercised
    return jax.tree_util.tree_map(lambda a: a + 0.05 * jax.random.normal(jax.random.PRNGKey(seed + 1), a.shape), p)


@pytest.mark.parametrize("parameterization,b_std,activation,depth",
                         [("standard", 0.0, "relu", 2), ("ntk", 0.1, "relu", 2),
                          ("standard", 0.3, "erf", 1), ("ntk", 0.0, "relu", 3)])
def test_fc_ntk_equals_neural_tangents(parameterization, b_std, activation, depth):
    d = 7
    init, apply, _ = kernels.fc(depth=depth, width=16, activation=activation, W_std=1.3, b_std=b_std,
                                out_dim=3, parameterization=parameterization)
    p = perturbed_params(init, d)
    x1 = np.random.default_rng(0).normal(size=(9, d)).astype(np.float32)
    x2 = np.random.default_rng(1).normal(size=(5, d)).astype(np.float32)
    ref = kernels.empirical_ntk(apply, p, x1, x2)
    fast = np.asarray(ntk_tracking.fc_ntk_fn(activation, 1.3, b_std, parameterization)(p, x1, x2))
    generic = np.asarray(ntk_tracking.ntk_fn(apply)(p, x1, x2))
    np.testing.assert_allclose(fast, ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())
    np.testing.assert_allclose(generic, ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())
    sym = np.asarray(ntk_tracking.fc_ntk_fn(activation, 1.3, b_std, parameterization)(p, x1))
    np.testing.assert_allclose(sym, sym.T, rtol=1e-5, atol=1e-6 * np.abs(sym).max())


def test_fc_ntk_checks():
    with pytest.raises(ValueError, match="activation"):
        ntk_tracking.fc_ntk_fn("softplus")
    with pytest.raises(ValueError, match="parameterization"):
        ntk_tracking.fc_ntk_fn("relu", parameterization="mup")
    with pytest.raises(ValueError, match="W_std"):
        ntk_tracking.fc_ntk_fn("relu", W_std=0.0)
    f = ntk_tracking.fc_ntk_fn("relu")
    assert f is ntk_tracking.fc_ntk_fn("relu")            # cached: one compilation
    with pytest.raises(ValueError, match="params"):
        f([(jnp.ones((3, 2)), jnp.ones(2)), (jnp.ones(2),)], jnp.ones((2, 3)))


def test_ntk_path_along_training_and_members():
    d = 5
    init, apply, _ = kernels.fc(depth=1, width=32, out_dim=2, parameterization="standard")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    params = jax.vmap(lambda k: init(k, (-1, d))[1])(keys)
    tr = train.fit(apply, params, x, y, loss="cross_entropy", lr=0.5, steps=6, ensemble=True,
                   record_steps=[0, 3, 6], record_params=True, progress=False)
    probe = x[:8]
    ntk = ntk_tracking.fc_ntk_fn("relu", 2**0.5, 0.0, "standard")
    path = ntk_tracking.ntk_path(ntk, tr.params_history, probe, members=True)
    assert path.shape == (3, 2, 8, 8) and path.dtype == np.float64
    for r, ph in enumerate(tr.params_history):
        for j in range(2):
            member = jax.tree_util.tree_map(lambda a, j=j: a[j], ph)
            ref = kernels.empirical_ntk(apply, member, probe)
            np.testing.assert_allclose(path[r, j], ref, rtol=2e-4, atol=1e-5 * np.abs(ref).max())
    assert not np.allclose(path[0], path[-1])          # training moved the kernel
    single = [jax.tree_util.tree_map(lambda a: a[0], ph) for ph in tr.params_history]
    np.testing.assert_allclose(ntk_tracking.ntk_path(ntk, single, probe), path[:, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        ntk_tracking.ntk_path(ntk, [], probe)
    with pytest.raises(TypeError, match="params_history"):
        ntk_tracking.ntk_path(ntk, {"w": np.ones(3)}, probe)
    with pytest.raises(ValueError, match="structure"):       # one record passed instead of a list
        ntk_tracking.ntk_path(ntk, tr.params_history[0], probe)
    with pytest.raises(ValueError, match="member axis"):
        ntk_tracking.ntk_path(ntk, [[(jnp.ones((3, 2)), jnp.ones(4))]], probe, members=True)
