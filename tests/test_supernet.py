"""Tests for lecture_lib.supernet: a gated architecture *is* the plain network it stands for."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib import kernels, proxies, supernet as S, train


def plain_mlp(params, arch, x):
    """The architecture written out in numpy with only its active weights."""
    w = {k: np.asarray(v, np.float64) for k, v in params["w"].items()}
    act = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}[arch.activation]
    u = slice(0, arch.width)
    h = act(x @ w["first"][:, u])
    for l in range(arch.depth - 1):
        z = act(h @ w["hidden"][l][u, u])
        h = h + z if arch.skip else z
    return h @ w["out"][u]


@pytest.mark.parametrize("arch", [
    S.Arch("mlp", 1, 8, "relu"), S.Arch("mlp", 3, 5, "tanh"), S.Arch("mlp", 4, 8, "relu", True, 2.0),
    S.Arch("mlp", 2, 3, "tanh", True, 0.5),
])
def test_mlp_architecture_equals_plain_network(arch):
    net = S.Supernet("mlp", 4, 8, (6,), 3)
    p = net.init(0, arch)
    x = np.random.default_rng(1).normal(size=(7, 6))
    out = np.asarray(net.apply(p, jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(out, plain_mlp(p, arch, x), rtol=2e-4, atol=2e-5)


def test_cnn_layer_is_a_same_convolution():
    net = S.Supernet("cnn", 2, 4, (5, 5, 2), 3)
    arch = S.Arch("cnn", 2, 4, "relu", skip=True)
    p = net.init(3, arch)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 5, 5, 2)), jnp.float32)

    def conv(h, k):
        return jax.lax.conv_general_dilated(h, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    h = jax.nn.relu(conv(x, p["w"]["first"]))
    h = h + jax.nn.relu(conv(h, p["w"]["hidden"][0]))
    ref = h.reshape(3, -1) @ p["w"]["out"]
    np.testing.assert_allclose(net.apply(p, x), ref, rtol=1e-4, atol=1e-5)


def test_ntk_of_an_architecture_equals_the_stax_network():
    """Same weights in a stax MLP (standard parameterisation, zero biases): same empirical NTK."""
    net = S.Supernet("mlp", 3, 16, (5,), 2)
    arch = S.Arch("mlp", 2, 16, "relu")
    p = net.init(4, arch)
    _, apply_fn, _ = kernels.fc(2, 16, "relu", out_dim=2, parameterization="standard")
    sp = [(p["w"]["first"], jnp.zeros(16)), (), (p["w"]["hidden"][0], jnp.zeros(16)), (),
          (p["w"]["out"], jnp.zeros(2))]
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    k_super = proxies.empirical_ntks(net.apply, S.stack([p]), x, output="trace")[0]
    # stax also differentiates w.r.t. its (zero) biases, which the supernet does not have:
    # compare with the stax network as a function of its weight matrices only
    def no_bias(w, x_):
        full = [(w[0], jnp.zeros(16)), (), (w[1], jnp.zeros(16)), (), (w[2], jnp.zeros(2))]
        return apply_fn(full, x_)
    k_stax = kernels.empirical_ntk(no_bias, [sp[0][0], sp[2][0], sp[4][0]], x)
    np.testing.assert_allclose(k_super, k_stax, rtol=1e-4, atol=1e-4 * np.abs(k_stax).max())
    np.testing.assert_allclose(net.apply(p, x), apply_fn(sp, x), rtol=1e-5, atol=1e-6)


def test_masked_units_and_closed_gates_do_not_matter():
    net = S.Supernet("mlp", 3, 8, (4,), 2)
    arch = S.Arch("mlp", 2, 5, "relu")
    p = net.init(0, arch)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4)), jnp.float32)
    noisy = jax.tree_util.tree_map(lambda a: a, p)
    noisy["w"] = dict(p["w"])
    noisy["w"]["first"] = p["w"]["first"].at[:, 5:].set(7.0)          # masked units
    noisy["w"]["hidden"] = p["w"]["hidden"].at[1].set(3.0)             # identity layer 3
    np.testing.assert_allclose(net.apply(noisy, x), net.apply(p, x), rtol=1e-6)
    g = jax.grad(lambda q: jnp.sum(net.apply(q, x) ** 2))(p)
    assert np.all(np.asarray(g["w"]["first"])[:, 5:] == 0)
    assert np.all(np.asarray(g["w"]["hidden"])[1] == 0)
    assert np.all(np.asarray(g["arch"]["gates"]) == 0) and np.all(np.asarray(g["arch"]["units"]) == 0)


def test_training_never_changes_the_architecture():
    net = S.Supernet("mlp", 3, 8, (4,), 3)
    archs = [S.Arch("mlp", 1, 8, "relu"), S.Arch("mlp", 3, 4, "tanh", True)]
    params = net.init_many(0, archs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    tr = train.fit(net.apply, params, x, y, loss="cross_entropy", lr=0.5, steps=20,
                   ensemble=True, progress=False)
    np.testing.assert_array_equal(tr.params["arch"]["gates"], params["arch"]["gates"])
    np.testing.assert_array_equal(tr.params["arch"]["units"], params["arch"]["units"])
    assert tr.train_loss[-1].max() < tr.train_loss[0].min()


def test_init_scale_and_gain():
    net = S.Supernet("mlp", 2, 200, (300,), 10)
    for act, gain in (("relu", np.sqrt(2)), ("tanh", 1.0)):
        p = net.init(0, S.Arch("mlp", 2, 200, act, init_scale=2.0))
        assert np.std(p["w"]["first"]) == pytest.approx(2 * gain / np.sqrt(300), rel=0.02)
        assert np.std(p["w"]["hidden"][0]) == pytest.approx(2 * gain / np.sqrt(200), rel=0.02)
        assert np.std(p["w"]["out"]) == pytest.approx(2 / np.sqrt(200), rel=0.05)
    # the active fan-in sets the std of a narrower architecture
    p = net.init(0, S.Arch("mlp", 2, 50, "relu"))
    assert np.std(p["w"]["hidden"][0]) == pytest.approx(np.sqrt(2) / np.sqrt(50), rel=0.02)


def test_gates_of_uniform_architectures():
    net = S.Supernet("mlp", 4, 8, (4,), 2)
    g = net.gates(S.Arch("mlp", 3, 8, "tanh", skip=True))
    np.testing.assert_array_equal(g, [[0, 0, 1], [1, 0, 1], [1, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(net.gates(S.Arch("mlp", 1, 8, "relu")), [[0, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]])
    assert S.Arch("mlp", 3, 8, "tanh", True, 2.0).label == "mlp d3 w8 tanh+skip c2"


def test_stack_and_unstack_roundtrip():
    net = S.Supernet("mlp", 2, 4, (3,), 2)
    ps = [net.init(i, S.Arch("mlp", 2, 4)) for i in range(3)]
    back = S.unstack(S.stack(ps))
    for a, b in zip(ps, back):
        for la, lb in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_array_equal(la, lb)


def test_bad_input():
    net = S.Supernet("mlp", 3, 8, (4,), 2)
    with pytest.raises(ValueError, match="arch.depth"):
        net.init(0, S.Arch("mlp", 4, 8))
    with pytest.raises(ValueError, match="arch.width"):
        net.init(0, S.Arch("mlp", 2, 9))
    with pytest.raises(ValueError, match="kind"):
        net.init(0, S.Arch("cnn", 2, 8))
    with pytest.raises(ValueError, match="arch.activation"):
        net.init(0, S.Arch("mlp", 2, 8, "gelu"))
    with pytest.raises(TypeError, match="arch"):
        net.init(0, (2, 8))
    with pytest.raises(ValueError, match="gates must have shape"):
        net.init(0, gates=np.ones((2, 3)))
    with pytest.raises(ValueError, match="skip on the first layer"):
        net.init(0, gates=np.ones((3, 3)))
    with pytest.raises(ValueError, match="at least one open gate"):
        net.init(0, gates=[[0, 1, 0], [0, 0, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="in_shape"):
        S.Supernet("cnn", 2, 4, (8,), 2)
    with pytest.raises(ValueError, match="kind"):
        S.Supernet("rnn", 2, 4, (8,), 2)
    with pytest.raises(ValueError, match="empty"):
        net.init_many(0, [])
