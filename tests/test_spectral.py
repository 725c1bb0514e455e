"""Tests for lecture_lib.spectral (Arora et al. 2019 spectral analysis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lecture_lib import spectral


def random_psd(n, seed, rank=None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, rank or n))
    return a @ a.T / n


@pytest.fixture(scope="module")
def psd():
    rng = np.random.default_rng(0)
    return random_psd(12, 0), rng.normal(size=12)


def test_eigh_desc_sorted_and_reconstructs(psd):
    k, _ = psd
    lam, v = spectral.eigh_desc(k)
    assert lam.shape == (12,) and v.shape == (12, 12)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.T, k, atol=1e-12)
    np.testing.assert_allclose(v.T @ v, np.eye(12), atol=1e-12)
    np.testing.assert_allclose(k @ v[:, 0], lam[0] * v[:, 0], atol=1e-12)


def test_residual_norms_equal_explicit_gd(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    p = spectral.label_projections(v, y)
    lr = 1.5 / lam[0]
    steps = np.array([0, 1, 2, 10, 37])
    got = spectral.residual_norms(lam, p, lr, steps)
    u = np.zeros_like(y)
    ref = []
    for step in range(steps.max() + 1):
        if step in steps:
            ref.append(np.linalg.norm(y - u))
        u = u + lr * k @ (y - u)  # GD on 1/2 ||u - y||^2 in function space
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    assert got[0] == pytest.approx(np.linalg.norm(y))
    per = spectral.residual_per_direction(lam, p, lr, steps)
    assert per.shape == (5, 12)
    np.testing.assert_allclose(np.sqrt((per**2).sum(1)), got, rtol=1e-12)
    # top directions decay fastest
    assert per[-1, 0] / abs(p[0]) < per[-1, -1] / abs(p[-1])
    assert spectral.residual_norms(lam, p, lr, 3).shape == (1,)


def test_multi_output_is_frobenius(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    y2 = np.stack([y, y**2], 1)
    p2 = spectral.label_projections(v, y2)
    assert p2.shape == (12, 2)
    both = spectral.residual_norms(lam, p2, 0.5, [0, 5])
    parts = [spectral.residual_norms(lam, p2[:, j], 0.5, [0, 5]) for j in range(2)]
    np.testing.assert_allclose(both, np.sqrt(parts[0] ** 2 + parts[1] ** 2), rtol=1e-12)
    assert spectral.cumulative_energy(p2)[-1] == pytest.approx(1.0)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 15))
def test_cumulative_energy_monotone_ends_at_one(seed, n):
    k = random_psd(n, seed)
    y = np.random.default_rng(seed + 1).normal(size=n)
    _, v = spectral.eigh_desc(k)
    c = spectral.cumulative_energy(spectral.label_projections(v, y))
    assert c.shape == (n,)
    assert np.all(np.diff(c) >= -1e-15) and np.all(c >= 0)
    assert c[-1] == pytest.approx(1.0)


def test_cumulative_energy_of_an_eigenvector(psd):
    k, _ = psd
    _, v = spectral.eigh_desc(k)
    c = spectral.cumulative_energy(spectral.label_projections(v, v[:, 2]))
    np.testing.assert_allclose(c, np.r_[0, 0, np.ones(10)], atol=1e-12)


def test_complexity_measure(psd):
    k, y = psd
    ref = np.sqrt(2 * y @ np.linalg.solve(k, y) / 12)
    assert spectral.complexity_measure(k, y) == pytest.approx(ref, rel=1e-9)
    lam, v = spectral.eigh_desc(k)
    # labels on the top eigenvector are "simple", on the bottom one "complex"
    top, bottom = spectral.complexity_measure(k, v[:, 0]), spectral.complexity_measure(k, v[:, -1])
    assert top == pytest.approx(np.sqrt(2 / lam[0] / 12))
    assert top < bottom
    y2 = np.stack([y, 2 * y], 1)
    assert spectral.complexity_measure(k, y2) == pytest.approx(np.sqrt(5) * ref, rel=1e-9)


def test_errors(psd):
    k, y = psd
    lam, v = spectral.eigh_desc(k)
    p = spectral.label_projections(v, y)
    ns = k.copy()
    ns[0, 3] += 1.0
    with pytest.raises(ValueError, match="k.*symmetric"):
        spectral.eigh_desc(ns)
    with pytest.raises(ValueError, match="k.*square"):
        spectral.eigh_desc(k[:3])
    with pytest.raises(ValueError, match="k"):
        spectral.eigh_desc(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="eigvecs"):
        spectral.label_projections(v, y[:4])
    with pytest.raises(ValueError, match="projections"):
        spectral.residual_norms(lam, p[:4], 0.1, [1])
    with pytest.raises(ValueError, match="lr"):
        spectral.residual_norms(lam, p, -0.1, [1])
    with pytest.raises(ValueError, match="steps"):
        spectral.residual_norms(lam, p, 0.1, [1.5])
    with pytest.raises(ValueError, match="steps"):
        spectral.residual_per_direction(lam, p, 0.1, [-1])
    with pytest.raises(ValueError, match="eigvals"):
        spectral.residual_norms(lam[:, None], p, 0.1, [1])
    with pytest.raises(ValueError, match="projections"):
        spectral.cumulative_energy(np.zeros(3))
    with pytest.raises(ValueError, match="y"):
        spectral.complexity_measure(k, y[:3])
    with pytest.raises(ValueError, match="k.*symmetric"):
        spectral.complexity_measure(ns, y)
