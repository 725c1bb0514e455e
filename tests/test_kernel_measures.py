"""Tests for lecture_lib.kernel_measures: known values on small matrices and invariances."""
import numpy as np
import pytest

from lecture_lib import kernel_measures as km


def random_psd(n=6, seed=0, rank=None):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, rank or n))
    return a @ a.T


def test_distance_zero_for_itself_and_positive_multiples():
    k = random_psd()
    assert km.kernel_distance(k, k) == pytest.approx(0.0, abs=1e-12)
    assert km.kernel_distance(k, 7.5 * k) == pytest.approx(0.0, abs=1e-12)
    assert km.kernel_distance(k, -k) == pytest.approx(2.0)


def test_distance_known_2x2_values():
    i2 = np.eye(2)
    ones = np.ones((2, 2))
    # <I, 11^T> = 2, ||I|| = sqrt 2, ||11^T|| = 2  ->  d = 1 - 2 / (2 sqrt 2)
    assert km.kernel_distance(i2, ones) == pytest.approx(1 - 1 / np.sqrt(2))
    # orthogonal matrices as vectors: d = 1
    assert km.kernel_distance(np.diag([1.0, 0.0]), np.diag([0.0, 1.0])) == pytest.approx(1.0)
    # the slide's formula with traces
    a, b = random_psd(4, 1), random_psd(4, 2)
    ref = 1 - np.trace(a @ b.T) / np.sqrt(np.trace(a @ a.T) * np.trace(b @ b.T))
    assert km.kernel_distance(a, b) == pytest.approx(ref)


def test_distance_batches_and_checks():
    ks = np.stack([random_psd(5, s) for s in range(3)])
    d = km.kernel_distance(ks, ks[0])
    assert d.shape == (3,) and d[0] == pytest.approx(0.0, abs=1e-12) and np.all(d[1:] > 0)
    with pytest.raises(ValueError, match="k2"):
        km.kernel_distance(np.eye(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same matrix shape"):
        km.kernel_distance(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="square"):
        km.kernel_distance(np.ones((2, 3)), np.ones((2, 3)))


def test_distance_matrix_matches_pairwise():
    ks = np.stack([random_psd(5, s) for s in range(4)])
    dm = km.distance_matrix(ks)
    assert dm.shape == (4, 4)
    np.testing.assert_allclose(np.diag(dm), 0.0, atol=0)
    np.testing.assert_allclose(dm, dm.T)
    for i in range(4):
        for j in range(4):
            assert dm[i, j] == pytest.approx(km.kernel_distance(ks[i], ks[j]), abs=1e-12)
    with pytest.raises(ValueError, match="stack"):
        km.distance_matrix(np.eye(3))


def test_velocity_is_distance_per_unit_time():
    ks = np.stack([random_psd(4, s) for s in range(3)])
    v = km.kernel_velocity(ks, [0, 2, 3])
    assert v[0] == pytest.approx(km.kernel_distance(ks[0], ks[1]) / 2)
    assert v[1] == pytest.approx(km.kernel_distance(ks[1], ks[2]) / 1)
    # a kernel that only grows has velocity 0
    grow = np.stack([c * ks[0] for c in (1.0, 2.0, 5.0)])
    np.testing.assert_allclose(km.kernel_velocity(grow, [0, 1, 2]), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="increasing"):
        km.kernel_velocity(ks, [0, 0, 1])
    with pytest.raises(ValueError, match="one time per kernel"):
        km.kernel_velocity(ks, [0, 1])


def test_polar_coordinates():
    k0, k1 = random_psd(5, 0), random_psd(5, 1)
    path = np.stack([k0 + t * (k1 - k0) for t in np.linspace(0, 1, 6)])
    pol = km.polar_coordinates(path)
    assert pol.r[0] == 0.0 and pol.r[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(pol.r, np.linspace(0, 1, 6), atol=1e-12)   # straight line: r = t
    assert pol.theta[0] == pytest.approx(0.0, abs=1e-6)
    assert pol.theta[-1] == pytest.approx(np.arccos(1 - km.kernel_distance(k0, k1)))
    # pure growth: radius moves, angle stays 0
    grow = km.polar_coordinates(np.stack([c * k0 for c in (1.0, 1.5, 3.0)]))
    np.testing.assert_allclose(grow.theta, 0.0, atol=1e-6)
    np.testing.assert_allclose(grow.r, [0.0, 0.25, 1.0])
    # 2x2: from diag(1, 0) to diag(0, 1) the angle is pi / 2
    quarter = km.polar_coordinates(np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])]))
    assert quarter.theta[-1] == pytest.approx(np.pi / 2)
    with pytest.raises(ValueError, match="did not move"):
        km.polar_coordinates(np.stack([k0, k0]))


def test_alignment():
    y = np.array([0, 0, 1, 1, 2, 2])
    yy = np.eye(3)[y]
    ideal = yy @ yy.T
    assert km.kernel_target_alignment(ideal, y) == pytest.approx(1.0)
    assert km.kernel_target_alignment(3.0 * ideal + 5.0, y) == pytest.approx(1.0)   # scale, constant
    assert km.kernel_target_alignment(ideal, yy) == pytest.approx(1.0)           # one-hot given
    # +-1 labels: y y^T with itself is 1 (centred or not)
    s = np.array([1.0, -1.0, 1.0, -1.0])
    assert km.kernel_target_alignment(np.outer(s, s), s) == pytest.approx(1.0)
    assert km.kernel_target_alignment(np.outer(s, s), s, centered=False) == pytest.approx(1.0)
    # uncentred, known value: <I, y y^T> = n, ||I|| = sqrt n, ||y y^T|| = n  ->  1 / sqrt n
    assert km.kernel_target_alignment(np.eye(4), s, centered=False) == pytest.approx(0.5)
    noisy = ideal + random_psd(6, 3)
    assert 0 < km.kernel_target_alignment(noisy, y) < 1
    with pytest.raises(ValueError, match="symmetric"):
        km.kernel_target_alignment(np.triu(np.ones((6, 6))), y)
    with pytest.raises(ValueError, match="rows"):
        km.kernel_target_alignment(ideal, y[:4])
    with pytest.raises(TypeError, match="centered"):
        km.kernel_target_alignment(ideal, y, centered=1)


def test_center_removes_constant():
    k = random_psd(5)
    c = km.center(k + 4.0)
    np.testing.assert_allclose(c, km.center(k), atol=1e-12)
    np.testing.assert_allclose(c.sum(axis=0), 0.0, atol=1e-10)


def test_effective_rank_and_top_mass():
    assert km.effective_rank(np.eye(7)) == pytest.approx(7.0)
    assert km.effective_rank(3.0 * np.eye(7)) == pytest.approx(7.0)
    assert km.effective_rank(np.ones((5, 5))) == pytest.approx(1.0)
    assert km.effective_rank(np.diag([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2.0)
    # p = (1/2, 1/4, 1/4): exp(H) = exp(1.5 log 2) = 2^1.5
    assert km.effective_rank(np.diag([2.0, 1.0, 1.0])) == pytest.approx(2**1.5)
    # centred: a constant added to the identity does not count
    assert km.effective_rank(np.eye(4) + 10.0, centered=True) == pytest.approx(3.0)
    assert km.effective_rank(np.eye(4) + 10.0) < 2.0
    batch = km.effective_rank(np.stack([np.eye(3), np.ones((3, 3))]))
    np.testing.assert_allclose(batch, [3.0, 1.0])
    assert km.top_eigen_mass(np.eye(10), 3) == pytest.approx(0.3)
    assert km.top_eigen_mass(np.diag([3.0, 4.0, 0.0]), 1) == pytest.approx(16 / 25)
    assert km.top_eigen_mass(random_psd(6, 0, rank=2), 2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="top"):
        km.top_eigen_mass(np.eye(3), 4)
    with pytest.raises(ValueError, match="positive eigenvalue"):
        km.effective_rank(np.zeros((3, 3)))
    np.testing.assert_allclose(km.eigenvalues(np.diag([1.0, 3.0, 2.0])), [3.0, 2.0, 1.0])
