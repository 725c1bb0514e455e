"""Tests for lecture_lib.intrinsic_dim: neighbour distances against brute force, the MLE formula
against a direct loop, recovery of known dimensions, the two averagings, and (when installed) a
cross-check against scikit-dimension."""
from __future__ import annotations

import numpy as np
import pytest

from lecture_lib import intrinsic_dim as idm


def test_knn_distances_match_brute_force():
    x = np.random.default_rng(0).standard_normal((60, 5))
    d = idm.knn_distances(x, 7)
    full = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :7], rtol=1e-10)
    # images are flattened
    np.testing.assert_allclose(idm.knn_distances(x.reshape(60, 5, 1), 7), d)


def test_knn_distances_match_sklearn_over_several_row_blocks():
    from sklearn.neighbors import NearestNeighbors

    x = np.random.default_rng(2).standard_normal((1300, 16)) * 3.0 + 5.0   # > 2 blocks of 512 rows
    dist, _ = NearestNeighbors(n_neighbors=20).fit(x).kneighbors()
    np.testing.assert_allclose(idm.knn_distances(x, 20), dist, rtol=1e-10)


def test_knn_distances_reject_duplicates_and_large_k():
    x = np.random.default_rng(1).standard_normal((10, 3))
    with pytest.raises(ValueError, match="duplicate"):
        idm.knn_distances(np.concatenate([x, x[:1]]), 3)
    with pytest.raises(ValueError, match="k must be smaller"):
        idm.knn_distances(x, 10)


def test_mle_matches_the_formula_written_out():
    x = np.random.default_rng(2).standard_normal((80, 4))
    k = 6
    dist = idm.knn_distances(x, k)
    inv = np.array([sum(np.log(row[k - 1] / row[j]) for j in range(k - 1)) / (k - 1) for row in dist])
    np.testing.assert_allclose(idm.mle_pointwise_inverse(dist, k), inv)
    assert idm.mle_dimension(x, k) == pytest.approx(1 / inv.mean())
    assert idm.mle_dimension(x, k, averaging="mean") == pytest.approx(np.mean(1 / inv))
    assert idm.mle_dimension(x, k, averaging="mean", unbiased=True) == pytest.approx(np.mean((k - 2) / (k - 1) / inv))
    # k uses the first k columns of a longer distance table
    assert idm.mle_dimension(k=k, distances=idm.knn_distances(x, 12)) == pytest.approx(1 / inv.mean())


@pytest.mark.parametrize("d", [2, 5])
def test_mle_recovers_known_dimensions(d):
    for x in (idm.gaussian_subspace(1500, d, 40, seed=d), idm.sphere(1500, d, 40, seed=d)):
        est = idm.mle_dimensions(x, (5, 10, 20))
        assert np.all(np.abs(est / d - 1) < 0.12), est


def test_mean_of_estimates_is_biased_up_at_small_k():
    x = idm.gaussian_subspace(1500, 4, 20, seed=0)
    inv = idm.mle_dimension(x, 3)
    mean = idm.mle_dimension(x, 3, averaging="mean")
    unbiased = idm.mle_dimension(x, 3, averaging="mean", unbiased=True)
    assert 1.6 < mean / inv < 2.4                      # theory: (k-1)/(k-2) = 2
    assert unbiased == pytest.approx(mean / 2)


def test_synthetic_data_geometry():
    g = idm.gaussian_subspace(200, 3, 10, seed=0)
    assert g.shape == (200, 10) and np.linalg.matrix_rank(g) == 3
    s = idm.sphere(200, 3, 10, seed=0)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0)
    assert np.linalg.matrix_rank(s) == 4
    np.testing.assert_array_equal(s, idm.sphere(200, 3, 10, seed=0))


@pytest.mark.parametrize("call, err, match", [
    (lambda: idm.mle_dimension(np.ones((5, 2)) * np.arange(5)[:, None], k=2), ValueError, "k"),
    (lambda: idm.mle_dimension(np.random.rand(20, 3), 4, averaging="median"), ValueError, "averaging"),
    (lambda: idm.mle_dimension(np.random.rand(20, 3), 4, unbiased=True), ValueError, "unbiased"),
    (lambda: idm.mle_dimension(), TypeError, "x or distances"),
    (lambda: idm.mle_pointwise_inverse(np.ones((4, 3)), 5), ValueError, "columns"),
    (lambda: idm.mle_pointwise_inverse(np.array([[2.0, 1.0, 3.0]]), 3), ValueError, "sorted"),
    (lambda: idm.gaussian_subspace(10, 5, 3), ValueError, "ambient"),
    (lambda: idm.sphere(10, 3, 3), ValueError, "ambient"),
    (lambda: idm.mle_dimensions(np.random.rand(20, 3), []), ValueError, "ks"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_cross_check_with_scikit_dimension():
    skdim = pytest.importorskip("skdim")   # optional: scikit-dimension 0.5 installs cleanly on our pins
    x = idm.sphere(600, 4, 30, seed=3)
    for k in (3, 5, 10, 20):
        ref = skdim.id.MLE().fit(x, n_neighbors=k).dimension_
        assert idm.mle_dimension(x, k) == pytest.approx(ref, rel=1e-10)
