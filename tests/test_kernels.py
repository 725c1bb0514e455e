"""Tests for lecture_lib.kernels (neural-tangents wrappers)."""
from __future__ import annotations

import numpy as np
import pytest

import lecture_lib  # noqa: F401  (quiet TF first)
import jax
import jax.numpy as jnp

from lecture_lib import kernels, metrics


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(13, 5)), rng.normal(size=(7, 5))


@pytest.fixture(scope="module")
def fc_relu():
    return kernels.fc(depth=2, width=64, activation="relu", out_dim=2)


def test_analytic_shapes_symmetry_and_psd(data, fc_relu):
    x, y = data
    k = kernels.analytic_kernel(fc_relu[2], x, dtype="float64")
    assert k.shape == (13, 13) and isinstance(k, np.ndarray)
    np.testing.assert_allclose(k, k.T, atol=1e-10)
    assert np.linalg.eigvalsh(k).min() > -1e-8
    kxy = kernels.analytic_kernel(fc_relu[2], x, y, get="nngp", dtype="float64")
    assert kxy.shape == (13, 7)
    # NTK dominates NNGP on the diagonal (Theta = Sigma + positive terms)
    kn = kernels.analytic_kernel(fc_relu[2], x, get="nngp", dtype="float64")
    assert np.all(np.diag(k) > np.diag(kn))


@pytest.mark.parametrize("batch_size", [4, 5, 13, 50])
def test_batched_equals_unbatched_any_n(data, fc_relu, batch_size):
    x, y = data  # 13 and 7 are not multiples of 4 or 5: padding path
    ref = kernels.analytic_kernel(fc_relu[2], x, y, dtype="float64")
    got = kernels.analytic_kernel(fc_relu[2], x, y, batch_size=batch_size, dtype="float64")
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    ref_s = kernels.analytic_kernel(fc_relu[2], x, dtype="float64")
    got_s = kernels.analytic_kernel(fc_relu[2], x, batch_size=batch_size, dtype="float64")
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-6, atol=1e-8)


def test_dtype_is_local_and_float32_close(data, fc_relu):
    x, y = data
    before = jax.config.jax_enable_x64
    k64 = kernels.analytic_kernel(fc_relu[2], x, y, dtype="float64")
    assert jax.config.jax_enable_x64 == before
    assert k64.dtype == np.float64
    k32 = kernels.analytic_kernel(fc_relu[2], x, y, dtype="float32")
    assert k32.dtype == np.float32
    np.testing.assert_allclose(k32, k64, rtol=1e-4, atol=1e-5)


def test_identity_activation_closed_form(data):
    # Linear network: NNGP = W^(2(L+1)) x.x'/d ; NTK = (L+1) * NNGP (b_std = 0).
    x, y = data
    depth, w = 3, 1.2
    kf = kernels.fc(depth=depth, activation="identity", W_std=w)[2]
    lin = x @ y.T / x.shape[1]
    nngp = kernels.analytic_kernel(kf, x, y, get="nngp", dtype="float64")
    ntk = kernels.analytic_kernel(kf, x, y, get="ntk", dtype="float64")
    np.testing.assert_allclose(nngp, w ** (2 * (depth + 1)) * lin, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ntk, (depth + 1) * nngp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "erf"])
def test_other_activations_give_psd_kernels(data, activation):
    x, _ = data
    k = kernels.analytic_kernel(kernels.fc(depth=1, activation=activation)[2], x[:6],
                                dtype="float64")
    assert np.all(np.isfinite(k))
    assert np.linalg.eigvalsh(k).min() > -1e-6 * np.abs(k).max()


def test_conv_kernel_batched_and_flatten():
    rng = np.random.default_rng(1)
    imgs = rng.normal(size=(5, 4, 4, 1))
    for pooling in ("global_avg", "flatten"):
        kf = kernels.conv(depth=1, channels=4, filter_shape=(2, 2), pooling=pooling)[2]
        ref = kernels.analytic_kernel(kf, imgs, dtype="float64")
        got = kernels.analytic_kernel(kf, imgs, batch_size=2, dtype="float64")
        assert ref.shape == (5, 5)
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(ref, ref.T, atol=1e-10)


def test_empirical_ntk_batching_and_symmetry(data, fc_relu):
    x, y = data
    x = x[:10]  # blocks of 4: padded to 12 rows
    init, apply, _ = fc_relu
    _, params = init(jax.random.PRNGKey(0), (-1, 5))
    full = kernels.empirical_ntk(apply, params, x)
    np.testing.assert_allclose(full, full.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kernels.empirical_ntk(apply, params, x, batch_size=4),
                               full, rtol=1e-5, atol=1e-5)
    cross = kernels.empirical_ntk(apply, params, x, y)
    assert cross.shape == (10, 7)
    np.testing.assert_allclose(kernels.empirical_ntk(apply, params, x, y, batch_size=4),
                               cross, rtol=1e-5, atol=1e-5)


def test_empirical_ntk_matches_explicit_jacobian(data, fc_relu):
    # Theta = (1/k) sum_k J_k J_k^T (neural-tangents averages over the traced axis).
    x = jnp.asarray(data[0][:10], jnp.float32)
    init, apply, _ = fc_relu  # out_dim = 2
    _, params = init(jax.random.PRNGKey(0), (-1, 5))
    jac = jax.jacobian(lambda p: apply(p, x))(params)
    flat = jnp.concatenate([j.reshape(10, 2, -1) for j in jax.tree_util.tree_leaves(jac)], -1)
    ref = np.einsum("ikp,jkp->ij", flat, flat) / 2
    np.testing.assert_allclose(kernels.empirical_ntk(apply, params, x), ref, rtol=1e-4)


def test_empirical_converges_to_analytic_with_width(data):
    x, _ = data
    errs = []
    for width in (16, 1024):
        init, apply, kf = kernels.fc(depth=1, width=width, activation="erf", out_dim=4)
        _, params = init(jax.random.PRNGKey(0), (-1, 5))
        emp = kernels.empirical_ntk(apply, params, x)
        errs.append(metrics.relative_error(emp, kernels.analytic_kernel(kf, x)))
    assert errs[1] < 0.1
    assert errs[1] < errs[0] / 2


def test_analytic_kernel_jax_gradient(x64, data):
    x, y = data
    kf = kernels.fc(depth=1, activation="erf", b_std=0.1)[2]
    x, y = jnp.asarray(x[:3]), jnp.asarray(y[:2])

    @jax.jit  # eager nt kernels compile op by op: jit is ~10x faster here
    def f(z):
        return jnp.sum(kernels.analytic_kernel_jax(kf, z, y) ** 2)

    g = jax.jit(jax.grad(f))(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(jax.jit(kernels.analytic_kernel_jax, static_argnums=0)(kf, x, y),
                               kernels.analytic_kernel(kf, x, y), rtol=1e-10)
    eps = 1e-6
    e = np.zeros(x.shape)
    e[1, 2] = eps
    fd = (f(x + e) - f(x - e)) / (2 * eps)
    np.testing.assert_allclose(g[1, 2], fd, rtol=1e-5)


def test_errors(data, fc_relu):
    x, y = data
    kf = fc_relu[2]
    with pytest.raises(ValueError, match="activation"):
        kernels.fc(activation="softplus")
    with pytest.raises(TypeError, match="activation"):
        kernels.fc(activation=None)
    with pytest.raises(ValueError, match="depth"):
        kernels.fc(depth=-1)
    with pytest.raises(TypeError, match="width"):
        kernels.fc(width=2.5)
    with pytest.raises(ValueError, match="W_std"):
        kernels.fc(W_std=0.0)
    with pytest.raises(ValueError, match="b_std"):
        kernels.conv(b_std=-1.0)
    with pytest.raises(ValueError, match="parameterization"):
        kernels.fc(parameterization="mup")
    with pytest.raises(ValueError, match="pooling"):
        kernels.conv(pooling="max")
    with pytest.raises(ValueError, match="filter_shape"):
        kernels.conv(filter_shape=(3,))
    with pytest.raises(ValueError, match="x1"):
        kernels.analytic_kernel(kf, x[0])
    with pytest.raises(ValueError, match="x2"):
        kernels.analytic_kernel(kf, x, y[:, :3])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="x1"):
        kernels.analytic_kernel(kf, bad)
    with pytest.raises(ValueError, match="x2"):
        kernels.analytic_kernel(kf, x, np.full((2, 5), np.inf))
    with pytest.raises(ValueError, match="get"):
        kernels.analytic_kernel(kf, x, get="cov")
    with pytest.raises(ValueError, match="batch_size"):
        kernels.analytic_kernel(kf, x, batch_size=-1)
    with pytest.raises(ValueError, match="dtype"):
        kernels.analytic_kernel(kf, x, dtype="int32")
    with pytest.raises(TypeError, match="dtype"):
        kernels.analytic_kernel(kf, x, dtype=object())
    with pytest.raises(TypeError, match="kernel_fn"):
        kernels.analytic_kernel(None, x)
    with pytest.raises(ValueError, match="x1"):
        kernels.analytic_kernel_jax(kf, np.ones(3))
    with pytest.raises(TypeError, match="apply_fn"):
        kernels.empirical_ntk("f", {}, x)
    with pytest.raises(TypeError, match="params"):
        kernels.empirical_ntk(fc_relu[1], None, x)


def test_center_kernel():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 3))
    kc = kernels.center_kernel(f @ f.T)
    fc = f - f.mean(axis=0)
    np.testing.assert_allclose(kc, fc @ fc.T, atol=1e-12)
    np.testing.assert_allclose(kc.sum(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        kernels.center_kernel(np.ones((2, 3)))
    stack = np.stack([f @ f.T, 2.0 * f @ f.T + 1.0])          # (2, n, n): one per matrix
    np.testing.assert_allclose(kernels.center_kernel(stack),
                               np.stack([kc, kernels.center_kernel(stack[1])]), atol=1e-12)
    np.testing.assert_allclose(kernels.center_kernel(stack[1]), 2.0 * kc, atol=1e-12)


def test_rbf_and_laplace_kernels():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(kernels.rbf_kernel(1.0)(x, x)[0, 1], np.exp(-25 / 2))
    np.testing.assert_allclose(kernels.laplace_kernel(1.0)(x, x)[0, 1], np.exp(-5 / np.sqrt(2)))
    with pytest.raises(ValueError, match="gamma"):
        kernels.rbf_kernel(0.0)


def test_small_cnn_im2col_matches_stax():
    """kernels.small_cnn's fast apply_fn computes the stax network's function (same params)."""
    from neural_tangents import stax
    x8 = np.random.default_rng(0).uniform(size=(5, 8, 8, 1))
    for channels, size in (((4, 6), 8), ((3,), 7)):
        init, apply, kernel_fn = kernels.small_cnn(channels, hidden=8, classes=3)
        ref = []
        for c in channels:
            ref += [stax.Conv(c, (3, 3), padding="SAME"), stax.Relu(), stax.AvgPool((2, 2), (2, 2))]
        _, ref_apply, _ = stax.serial(*ref, stax.Flatten(), stax.Dense(8), stax.Relu(), stax.Dense(3))
        _, p = init(jax.random.PRNGKey(1), (1, size, size, 1))
        x = jnp.asarray(x8[:, :size, :size], jnp.float32)
        out = apply(p, x)
        assert out.shape == (5, 3)
        np.testing.assert_allclose(out, ref_apply(p, x), rtol=1e-4, atol=1e-5)
        assert callable(kernel_fn)
    with pytest.raises(ValueError, match="channels"):
        kernels.small_cnn([])
    with pytest.raises(ValueError, match="hidden"):
        kernels.small_cnn((4,), hidden=0)


def test_normal_init_matches_stax_shapes_and_distribution_and_is_seeded():
    init_fn, apply_fn, _ = kernels.fc(depth=1, width=256, b_std=0.1, out_dim=3)
    ref = init_fn(jax.random.PRNGKey(0), (-1, 5))[1]
    p = kernels.normal_init(init_fn, (-1, 5), seed=1)
    assert jax.tree.structure(p) == jax.tree.structure(ref)
    assert [a.shape for a in jax.tree.leaves(p)] == [a.shape for a in jax.tree.leaves(ref)]
    assert [a.dtype for a in jax.tree.leaves(p)] == [a.dtype for a in jax.tree.leaves(ref)]
    w = np.concatenate([np.ravel(a) for a in jax.tree.leaves(p)])
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05  # N(0, 1), as stax's NTK init
    assert apply_fn(p, np.ones((2, 5), np.float32)).shape == (2, 3)
    again = kernels.normal_init(init_fn, (-1, 5), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(again)))
    other = kernels.normal_init(init_fn, (-1, 5), seed=2)
    assert not np.array_equal(p[0][0], other[0][0])
    ens = kernels.normal_init(init_fn, (-1, 5), seed=(1, 2), n_members=3, dtype=np.float64)
    lead = [a.shape[0] for a in jax.tree.leaves(ens)]
    assert lead == [3] * len(lead) and not np.array_equal(ens[0][0][0], ens[0][0][1])
    assert all(a.dtype == np.float64 for a in jax.tree.leaves(ens))
    cnn = kernels.small_cnn((4, 4), hidden=8)
    pc = kernels.normal_init(cnn[0], (-1, 8, 8, 1), seed=0)
    assert cnn[1](pc, jnp.zeros((3, 8, 8, 1), jnp.float32)).shape == (3, 10)
    with pytest.raises(TypeError, match="init_fn"):
        kernels.normal_init(None, (-1, 5))
    with pytest.raises(TypeError, match="input_shape"):
        kernels.normal_init(init_fn, 5)
    with pytest.raises(ValueError, match="n_members"):
        kernels.normal_init(init_fn, (-1, 5), n_members=0)
