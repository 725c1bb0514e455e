"""Tests for lecture_lib.estimators."""
import numpy as np
import pytest
from sklearn.svm import SVC

from lecture_lib import estimators, kernels, krr


def _blobs(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n // 3)
    x = rng.standard_normal((n, d)) + 2.0 * np.eye(3, d)[y]
    return x, y


def test_gram_stack_classifier_equals_sklearn_svc_under_nested_cv():
    x, y = _blobs()
    d = x.shape[1]
    gammas = [0.5, 2.0]
    stack = kernels.gram_stack([kernels.rbf_kernel(g) for g in gammas], x)
    assert stack.shape == (60, 60, 2)
    ours = estimators.nested_cv(estimators.GramStackClassifier(), {"kernel": [0, 1], "C": [0.1, 10.0]},
                         stack, y, n_splits=4, seed=3)
    ref = estimators.nested_cv(SVC(), {"gamma": [g / d for g in gammas], "C": [0.1, 10.0]},
                        x, y, n_splits=4, seed=3)
    np.testing.assert_array_equal(ours, ref)  # pairwise splitting is exact
    assert ours.shape == (4,) and ours.mean() > 0.7


def test_gram_stack_classifier_krr_solver_and_validation():
    x, y = _blobs()
    k = kernels.gram_stack({"ntk": kernels.fc(depth=2)[2]}, x)
    np.testing.assert_allclose(
        k[:, :, 0], kernels.analytic_kernel(kernels.fc(depth=2)[2], x, dtype="float64"),
        rtol=1e-6)
    clf = estimators.GramStackClassifier(solver="krr", reg=1e-2).fit(k[:40, :40], y[:40] + 5)
    onehot = np.eye(3)[y[:40]]
    ref = krr.fit_predict(k[:40, :40, 0], onehot - onehot.mean(0), k[40:, :40, 0], reg=1e-2)
    np.testing.assert_array_equal(clf.predict(k[40:, :40]), np.argmax(ref, axis=1) + 5)
    with pytest.raises(ValueError, match="solver"):
        estimators.GramStackClassifier(solver="lasso").fit(k, y)
    with pytest.raises(ValueError, match="kernel"):
        estimators.GramStackClassifier(kernel=3).fit(k, y)
    with pytest.raises(ValueError, match="X"):
        estimators.GramStackClassifier().fit(k[:, :, 0], y)

