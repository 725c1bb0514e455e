"""scikit-learn estimators on precomputed Gram matrices, and the nested cross-validation
that compares them with ordinary baselines on the same folds (Arora et al., ICLR'20).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from . import krr
from .validation import check_array, check_choice, check_same_length, check_scalar

__all__ = ["GramStackClassifier", "nested_cv"]


class GramStackClassifier(ClassifierMixin, BaseEstimator):
    """Kernel SVM or kernel ridge classifier on precomputed Gram matrices.

    ``X`` is not a feature matrix but a Gram stack: ``fit(K[train][:, train], y)``
    and ``predict(K[test][:, train])`` with ``K`` of shape ``(n, n, n_kernels)``
    from :func:`lecture_lib.kernels.gram_stack`; ``kernel`` selects the slice.  scikit-learn's
    cross-validation splits both axes of such "pairwise" inputs, so the whole
    grid (kernel slice, ``C`` / ``reg``) can be searched with ``GridSearchCV``
    without recomputing any kernel.  This is the protocol of Arora et al.
    (ICLR'20): NTK of several depths as a precomputed kernel of an SVM.

    Parameters: ``kernel`` (int, slice of the stack), ``solver`` ("svm": ``SVC``
    with one-vs-one, parameter ``C``; "krr": ridge regression on one-hot labels
    ``(K + reg * mean(diag K) I) a = Y``, prediction by argmax).
    """

    def __init__(self, kernel: int = 0, solver: str = "svm", C: float = 1.0, reg: float = 1e-3):
        self.kernel = kernel
        self.solver = solver
        self.C = C
        self.reg = reg

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = True
        return tags

    def _slice(self, X, name):
        X = check_array(X, name, ndim=3)
        check_scalar(self.kernel, "kernel", kind=int, min_value=0, max_value=X.shape[2] - 1)
        return X[:, :, self.kernel]

    def fit(self, X, y):
        solver = check_choice(self.solver, "solver", ("svm", "krr"))
        k = self._slice(X, "X")
        if k.shape[0] != k.shape[1]:
            raise ValueError(f"X must be a square Gram stack (n, n, K) for fit, got {X.shape}")
        y = check_array(y, "y", ndim=1, finite=False)
        check_same_length("X", k, "y", y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if solver == "svm":
            from sklearn.svm import SVC

            check_scalar(self.C, "C", min_value=0.0, strict_min=True)
            self.model_ = SVC(kernel="precomputed", C=self.C).fit(k, codes)
        else:
            check_scalar(self.reg, "reg", min_value=0.0)
            onehot = np.eye(len(self.classes_))[codes]
            self.alpha_ = krr.fit(k, onehot - onehot.mean(axis=0), reg=self.reg)
            self.offset_ = onehot.mean(axis=0)
        return self

    def decision_function(self, X):
        k = self._slice(X, "X")
        if self.solver == "svm":
            return self.model_.decision_function(k)
        return krr.predict(k, self.alpha_) + self.offset_

    def predict(self, X):
        k = self._slice(X, "X")
        if self.solver == "svm":
            return self.classes_[self.model_.predict(k)]
        return self.classes_[np.argmax(krr.predict(k, self.alpha_) + self.offset_, axis=1)]


def nested_cv(
    estimator: Any,
    param_grid: Mapping[str, Sequence[Any]] | None,
    X: Any,
    y: Any,
    n_splits: int = 5,
    inner_splits: int = 3,
    seed: int = 0,
) -> np.ndarray:
    """Outer-fold test accuracies of ``estimator`` tuned by an inner grid search.

    Outer: ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``;
    inner: ``GridSearchCV(estimator, param_grid, cv=StratifiedKFold(inner_splits,
    shuffle=True, random_state=seed + 1))`` refitted on each outer training part.
    Every model compared with the same ``seed`` sees the same folds, so the
    comparison is paired.  ``param_grid=None`` skips the inner search.
    ``X`` may be a feature matrix or a Gram stack (:class:`GramStackClassifier`).

    Returns:
      ``np.ndarray`` ``(n_splits,)`` of test accuracies.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

    y = check_array(y, "y", ndim=1, finite=False)
    if not hasattr(estimator, "fit"):
        raise TypeError(f"estimator must be a scikit-learn estimator, got {type(estimator).__name__}")
    check_scalar(n_splits, "n_splits", kind=int, min_value=2)
    check_scalar(inner_splits, "inner_splits", kind=int, min_value=2)
    check_scalar(seed, "seed", kind=int, min_value=0)
    outer = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    model = estimator
    if param_grid:
        inner = StratifiedKFold(inner_splits, shuffle=True, random_state=seed + 1)
        model = GridSearchCV(estimator, dict(param_grid), cv=inner)
    return np.asarray(cross_val_score(model, X, y, cv=outer), dtype=float)
