"""Tests for lecture_lib.recursion: the FC NNGP/NTK recursion equals
neural-tangents' stax kernels, plus properties of the closed forms."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lecture_lib  # noqa: F401
import jax

from lecture_lib import kernels, recursion


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(6, 4))
    x2 = rng.normal(size=(5, 4))
    x2[0] = 3.0 * x1[0]  # a parallel pair (angle 0) and an antiparallel one
    x2[1] = -x1[1]
    return x1, x2


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("W_std,b_std", [(2**0.5, 0.0), (1.3, 0.4), (0.8, 1.0)])
def test_matches_neural_tangents(x64, data, activation, depth, W_std, b_std):
    x1, x2 = data
    kf = kernels.fc(depth=depth, activation=activation, W_std=W_std, b_std=b_std)[2]
    cross = recursion.fc_recursion(x1, x2, depth, activation, W_std, b_std)
    sym = recursion.fc_recursion(x1, None, depth, activation, W_std, b_std)
    both = kf(x1, x2, ("nngp", "ntk"))
    both_sym = kf(x1, None, ("nngp", "ntk"))
    for ours, ref in ((cross["nngp"], both.nngp), (cross["ntk"], both.ntk),
                      (sym["nngp"], both_sym.nngp), (sym["ntk"], both_sym.ntk)):
        np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-5, atol=1e-7)


def test_output_structure(data):
    x1, x2 = data
    out = recursion.fc_recursion(x1, x2, depth=3)
    assert len(out["sigma"]) == 4 and len(out["sigma_dot"]) == 3
    assert all(s.shape == (6, 5) for s in out["sigma"] + out["sigma_dot"])
    np.testing.assert_array_equal(out["nngp"], out["sigma"][-1])
    # first layer: W_std^2 x.x'/d + b_std^2
    np.testing.assert_allclose(out["sigma"][0], 2.0 * x1 @ x2.T / 4)
    # relu, b=0, W^2=2: Sigma_dot = (pi - theta)/pi in [0, 1], = 1 at angle 0
    sd = out["sigma_dot"][0]
    assert np.all((sd >= 0) & (sd <= 1 + 1e-12))
    assert sd[0, 0] == pytest.approx(1.0) and sd[1, 1] == pytest.approx(0.0)
    # manual unrolling of the NTK accumulation
    theta = out["sigma"][0]
    for s, sdot in zip(out["sigma"][1:], out["sigma_dot"]):
        theta = s + theta * sdot
    np.testing.assert_allclose(out["ntk"], theta)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_gaussian_expectations_monte_carlo(activation):
    rng = np.random.default_rng(1)
    q1, q2, c = 1.5, 0.7, 0.6
    cov = np.array([[q1, c], [c, q2]])
    uv = rng.multivariate_normal(np.zeros(2), cov, size=400_000)
    from scipy.special import erf
    if activation == "relu":
        f, df = (lambda z: np.maximum(z, 0)), (lambda z: (z > 0).astype(float))
    else:
        f, df = erf, (lambda z: 2 / np.sqrt(np.pi) * np.exp(-z**2))
    mc_act = np.mean(f(uv[:, 0]) * f(uv[:, 1]))
    mc_der = np.mean(df(uv[:, 0]) * df(uv[:, 1]))
    e_act, e_der = recursion.gaussian_expectations(q1, q2, c, activation)
    assert e_act == pytest.approx(mc_act, rel=2e-2)
    assert e_der == pytest.approx(mc_der, rel=2e-2)


def test_kernel_vs_angle_matches_fc_recursion():
    angles = np.linspace(0, np.pi, 7)
    d = 3
    x = np.zeros((7, d))
    x[:, 0], x[:, 1] = np.cos(angles), np.sin(angles)
    x *= np.sqrt(d)  # x.x/d = 1
    for act, w, b in (("relu", 2**0.5, 0.0), ("erf", 1.3, 0.2)):
        for get in ("ntk", "nngp"):
            ref = recursion.fc_recursion(x[:1], x, 2, act, w, b)[get][0]
            got = recursion.kernel_vs_angle(angles, 2, act, w, b, get=get)
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    grid = recursion.kernel_vs_angle(np.zeros((2, 3)), depth=1)
    assert grid.shape == (2, 3)


def test_relu_kernels_vs_angle_shape():
    angles = np.linspace(0, np.pi, 60)
    nngp = recursion.kernel_vs_angle(angles, depth=3, get="nngp")
    ntk = recursion.kernel_vs_angle(angles, depth=3)
    assert np.all(np.diff(nngp) < 0)  # NNGP decreases on the whole [0, pi]
    assert np.all(np.diff(ntk[angles <= np.pi / 2]) < 0)
    # ... but the relu NTK (b=0) has its minimum before pi (not monotone)
    assert np.pi / 2 < angles[np.argmin(ntk)] < np.pi
    # W^2=2, b=0, x.x/d=1: Sigma^(l)(x, x) = 2 at every layer, so NTK(0) = 2 (L+1)
    assert ntk[0] == pytest.approx(8.0) and nngp[0] == pytest.approx(2.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(0, 4),
       activation=st.sampled_from(["relu", "erf"]),
       b_std=st.floats(0.0, 1.0))
def test_kernels_psd_and_ntk_minus_nngp_psd(seed, depth, activation, b_std):
    x = np.random.default_rng(seed).normal(size=(8, 3))
    out = recursion.fc_recursion(x, depth=depth, activation=activation, W_std=1.2,
                                 b_std=b_std)
    scale = np.abs(out["ntk"]).max()
    for k in (out["nngp"], out["ntk"], out["ntk"] - out["nngp"]):
        np.testing.assert_allclose(k, k.T, atol=1e-12 * scale)
        assert np.linalg.eigvalsh(k).min() > -1e-9 * scale


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.floats(0.1, 10.0))
def test_relu_no_bias_is_positively_homogeneous(seed, c):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    base = recursion.fc_recursion(x1, x2, depth=2)
    scaled = recursion.fc_recursion(c * x1, x2, depth=2)
    np.testing.assert_allclose(scaled["ntk"], c * base["ntk"], rtol=1e-10)
    np.testing.assert_allclose(scaled["nngp"], c * base["nngp"], rtol=1e-10)


def test_errors(data):
    x1, x2 = data
    with pytest.raises(ValueError, match="activation"):
        recursion.fc_recursion(x1, activation="tanh")
    with pytest.raises(ValueError, match="depth"):
        recursion.fc_recursion(x1, depth=-1)
    with pytest.raises(TypeError, match="depth"):
        recursion.fc_recursion(x1, depth=1.0)
    with pytest.raises(ValueError, match="W_std"):
        recursion.fc_recursion(x1, W_std=-1.0)
    with pytest.raises(ValueError, match="b_std"):
        recursion.fc_recursion(x1, b_std=-0.1)
    with pytest.raises(ValueError, match="x1"):
        recursion.fc_recursion(x1[0])
    with pytest.raises(ValueError, match="x2"):
        recursion.fc_recursion(x1, x2[:, :3])
    with pytest.raises(ValueError, match="x1"):
        recursion.fc_recursion(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="get"):
        recursion.kernel_vs_angle([0.1], get="foo")
    with pytest.raises(ValueError, match="angles"):
        recursion.kernel_vs_angle([np.inf])
    with pytest.raises(ValueError, match="activation"):
        recursion.gaussian_expectations(1.0, 1.0, 0.5, "gelu")


def test_gram_equals_arora_formula():
    x = _unit_rows(12, 5)
    g = x @ x.T
    expected = g * (np.pi - np.arccos(np.clip(g, -1, 1))) / (2 * np.pi)
    np.testing.assert_allclose(recursion.two_layer_relu_ntk(x), expected, atol=1e-12)


@pytest.mark.parametrize("bias", [0.0, 0.7])
def test_gram_matches_neural_tangents(bias):
    from neural_tangents import stax

    d = 6
    x = np.random.default_rng(1).normal(size=(9, d))  # not unit norm on purpose
    # NT's Dense divides x.x' by the fan-in d: feed sqrt(d) x so that Sigma^1 = x.x' + bias^2
    _, _, kernel_fn = stax.serial(stax.Dense(512, W_std=1.0, b_std=bias), stax.Relu(),
                                  stax.Dense(1, W_std=1.0, b_std=0.0))
    k = kernel_fn(np.sqrt(d) * x, None, ("nngp", "ntk"))
    ntk, nngp = np.asarray(k.ntk), np.asarray(k.nngp)
    np.testing.assert_allclose(recursion.two_layer_relu_ntk(x, bias=bias, train_output=True), ntk,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(recursion.two_layer_relu_ntk(x, bias=bias), ntk - nngp,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias,train_output", [(0.0, False), (0.5, False), (1.0, True)])
def test_angle_form_matches_gram(bias, train_output):
    theta = np.linspace(0, np.pi, 9)
    pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    row = recursion.two_layer_relu_ntk(pts[:1], pts, bias=bias, train_output=train_output)[0]
    np.testing.assert_allclose(
        recursion.two_layer_relu_ntk_angle(theta, bias=bias, train_output=train_output), row, atol=1e-12)


def test_kernel_input_errors():
    with pytest.raises(ValueError, match="x1"):
        recursion.two_layer_relu_ntk(np.ones(3))
    with pytest.raises(ValueError, match="features"):
        recursion.two_layer_relu_ntk(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="bias"):
        recursion.two_layer_relu_ntk(np.ones((2, 3)), bias=-1.0)
    with pytest.raises(ValueError, match="zero row"):
        recursion.two_layer_relu_ntk(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="theta"):
        recursion.two_layer_relu_ntk_angle([4.0])


def _unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)
