"""Data sets for the notebooks: offline ones that always work, online ones cached on disk.

Every loader returns a :class:`Dataset` ``(x_train, y_train, x_test, y_test)`` of numpy
arrays.  Integer labels are ``int64`` of shape ``(n,)``; with ``one_hot=True`` they are
``(n, k)`` floats; :func:`binary_task` turns them into ``+-1`` floats.

Offline (no network, ever)
--------------------------
* :func:`digits` -- scikit-learn's 8x8 hand-written digits (1797 images, 10 classes),
  as images ``(n, 8, 8, 1)`` or flat ``(n, 64)``; :func:`digits_binary` for a ``+-1`` task.
* :func:`uci` -- the small UCI sets shipped with scikit-learn (iris, wine, breast_cancer).
* :func:`mnist1d` -- MNIST-1D (Greydanus 2020) generated locally with the ``mnist1d``
  package (never downloaded); generation is cached in memory.

Online (downloaded once into ``config.data_dir()``, i.e. ``LECTURE_DATA_DIR``)
-----------------------------------------------------------------------------
* :func:`load_mnist`, :func:`load_fashion_mnist` (IDX files, ``(n, 28, 28, 1)``),
  :func:`load_cifar10` (python-pickle archive, ``(n, 32, 32, 3)``).
  Every file is checked against its published SHA-256; downloads go to a temporary file
  in the cache directory and are moved into place with ``os.replace`` only once the
  checksum matches, so an interrupted or corrupt download never leaves a file behind.
  Without network a :class:`OfflineError` (an ``OSError``) explains where to put the
  files by hand.

Splits and preprocessing (shared by all loaders)
------------------------------------------------
* Splits and subsets are stratified and deterministic given ``seed``
  (:func:`stratified_split`, :func:`subsample`): class proportions are kept by
  largest-remainder rounding of ``n * n_c / N``.
* ``standardize`` picks the input scaling, always fitted on the training split only:
  ``"none"`` (raw values), ``"pixel"`` (divide by the maximal pixel value: [0, 1]),
  ``"feature"`` (per feature ``(x - mu_j) / sigma_j``; constant features get
  ``sigma_j = 1``), ``"channel"`` (per colour channel, images only),
  ``"unit_norm"`` (each example scaled to unit L2 norm, :func:`normalize_rows`).
  ``True`` means ``"feature"`` and ``False`` means ``"none"``.

Tasks built from them
---------------------
:func:`two_class_data` (two classes as a unit-norm ``+-1`` task, falling back to digits
offline), :func:`pooled` (train and test joined for cross-validation),
:func:`corrupt_labels` (label noise as in Arora et al. ICML'19), :func:`circle_points`
(points on the unit circle).
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import io
import os
import pickle
import posixpath
import socket
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np

from . import config
from .validation import check_array, check_choice, check_scalar

__all__ = [
    "Dataset", "digits", "digits_binary", "binary_task", "uci", "UCI_DATASETS", "mnist1d", "mnist1d_generate",
    "load_mnist", "load_fashion_mnist", "load_cifar10", "load", "DATASETS",
    "normalize_rows", "one_hot", "subsample", "stratified_split", "standardize_split",
    "read_idx", "read_cifar10_archive", "fetch", "RemoteFile", "REMOTE_FILES",
    "DownloadError", "OfflineError", "ChecksumError", "DataFormatError",
    "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES",
    "two_class_data", "pooled", "corrupt_labels", "circle_points",
]

PathLike = Union[str, "os.PathLike[str]"]
STANDARDIZE_CHOICES = ("none", "pixel", "feature", "channel", "unit_norm")

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


class Dataset(NamedTuple):
    """A train/test split: ``x_train (n, ...)``, ``y_train (n,) or (n, k)``, same for test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ----------------------------------------------------------------------------------------
# small helpers: one-hot, unit norm, stratified splits
# ----------------------------------------------------------------------------------------
def one_hot(y: Any, k: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """One-hot encode integer labels: ``(n,) -> (n, k)`` with ``Y[i, y_i] = 1``.

    ``k`` defaults to ``max(y) + 1``; labels must lie in ``[0, k)``.
    """
    y = check_array(y, "y", ndim=1)
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if k is None:
        k = int(y.max()) + 1
    check_scalar(k, "k", kind=int, min_value=1)
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y must lie in [0, k) = [0, {k}), got range [{y.min()}, {y.max()}]")
    out = np.zeros((y.shape[0], int(k)), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def normalize_rows(x: Any, eps: float = 0.0) -> np.ndarray:
    """Scale every example to unit L2 norm: ``x_i / ||x_i||`` (norm over all non-batch axes).

    Shape is kept, ``(n, ...) -> (n, ...)``.  Rows with norm ``<= eps`` (all-zero rows)
    are returned unchanged (zero) rather than divided by zero.
    """
    x = check_array(x, "x", min_ndim=2)
    check_scalar(eps, "eps", kind=(int, float), min_value=0)
    x = np.asarray(x, dtype=np.result_type(x.dtype, np.float32))
    norms = np.sqrt(np.sum(x.reshape(x.shape[0], -1) ** 2, axis=1))
    safe = np.where(norms > eps, norms, 1.0)
    return x / safe.reshape((-1,) + (1,) * (x.ndim - 1))


def _check_seed(seed: Any) -> int:
    return int(check_scalar(seed, "seed", kind=int, min_value=0))


def _strata(y: np.ndarray) -> np.ndarray:
    """Class index per example for stratification (argmax of one-hot rows)."""
    return y if y.ndim == 1 else np.argmax(y.reshape(y.shape[0], -1), axis=1)


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes proportionally to ``counts`` (largest remainder, exact ints).

    Never exceeds ``counts``; ties go to the earlier class.
    """
    total = int(counts.sum())
    if n == 0 or total == 0:
        return np.zeros_like(counts)
    base = (n * counts) // total
    rem = (n * counts) % total
    short = n - int(base.sum())
    order = np.lexsort((np.arange(len(counts)), -rem))  # largest remainder first
    base[order[:short]] += 1
    return base


def stratified_split(
    y: Any, n_train: int, n_test: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of example indices.

    Class ``c`` with ``N_c`` of the ``N`` examples gets ``~ n_train * N_c / N`` training
    indices (largest-remainder rounding, so the total is exactly ``n_train``) and
    ``~ n_test * R_c / R`` test indices out of the ``R_c`` it has left.  Within a class the
    examples are drawn by a random permutation seeded with ``seed``; the returned index
    arrays are shuffled (classes interleaved).

    Args:
      y: labels ``(N,)`` (any hashable numbers) or one-hot ``(N, k)``.
      n_train, n_test: sizes, ``n_train + n_test <= N``.
      seed: seed of ``np.random.default_rng``.

    Returns:
      ``(train_idx (n_train,), test_idx (n_test,))``, disjoint int64 arrays.
    """
    y = check_array(y, "y", ndim=(1, 2))
    check_scalar(n_train, "n_train", kind=int, min_value=0)
    check_scalar(n_test, "n_test", kind=int, min_value=0)
    seed = _check_seed(seed)
    n = y.shape[0]
    if n_train + n_test > n:
        raise ValueError(
            f"n_train + n_test must be <= the number of examples {n}, "
            f"got n_train={n_train}, n_test={n_test}"
        )
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(_strata(y), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    n_tr = _allocate(counts, int(n_train))
    n_te = _allocate(counts - n_tr, int(n_test))
    train, test = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        train.append(members[: n_tr[c]])
        test.append(members[n_tr[c]: n_tr[c] + n_te[c]])
    train_idx = rng.permutation(np.concatenate(train)).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test)).astype(np.int64)
    return train_idx, test_idx


def subsample(
    x: Any, y: Any, n: int, seed: int = 0, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A random subset of ``n`` examples: ``(x[idx], y[idx])``.

    ``stratify=True`` keeps the class proportions of ``y`` (see :func:`stratified_split`);
    otherwise ``n`` indices are drawn uniformly without replacement.  Deterministic in ``seed``.
    """
    x = check_array(x, "x", min_ndim=1)
    y = check_array(y, "y", ndim=(1, 2))
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}"
        )
    check_scalar(n, "n", kind=int, min_value=1, max_value=x.shape[0])
    seed = _check_seed(seed)
    if stratify:
        idx, _ = stratified_split(y, int(n), 0, seed)
    else:
        idx = np.random.default_rng(seed).choice(x.shape[0], size=int(n), replace=False)
    return x[idx], y[idx]


# ----------------------------------------------------------------------------------------
# preprocessing shared by all loaders
# ----------------------------------------------------------------------------------------
def _check_standardize(standardize: Any, allowed: Sequence[str]) -> str:
    if isinstance(standardize, (bool, np.bool_)):
        mode = "feature" if standardize else "none"
    else:
        mode = check_choice(standardize, "standardize", STANDARDIZE_CHOICES)
    if mode not in allowed:
        raise ValueError(
            f"standardize={standardize!r} is not available for this data set; "
            f"choose one of {tuple(allowed)} (or True/False)"
        )
    return mode


def standardize_split(
    x_train: Any, x_test: Any, mode: str = "feature", pixel_max: float | None = None,
    eps: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale train and test inputs with statistics of the training split only.

    ``mode``: ``"none"``; ``"pixel"``: ``x / pixel_max``; ``"feature"``:
    ``(x - mu) / sigma`` with ``mu, sigma`` per feature over the training examples
    (``sigma < eps`` replaced by 1); ``"channel"``: the same per last axis of ``(n, H, W, C)``
    images; ``"unit_norm"``: :func:`normalize_rows` on each split.
    Returns float arrays of the input shapes.
    """
    x_train = check_array(x_train, "x_train", min_ndim=2)
    x_test = check_array(x_test, "x_test", min_ndim=2, allow_empty=True)
    mode = check_choice(mode, "mode", STANDARDIZE_CHOICES)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"x_train and x_test must have the same example shape, "
            f"got {x_train.shape[1:]} and {x_test.shape[1:]}"
        )
    ftype = np.result_type(x_train.dtype, np.float32)
    xtr = x_train.astype(ftype, copy=False)
    xte = x_test.astype(ftype, copy=False)
    if mode == "none":
        return xtr, xte
    if mode == "pixel":
        if pixel_max is None:
            raise ValueError("pixel_max is required for mode='pixel'")
        check_scalar(pixel_max, "pixel_max", kind=(int, float), min_value=0, strict_min=True)
        return xtr / ftype.type(pixel_max), xte / ftype.type(pixel_max)
    if mode == "unit_norm":
        return normalize_rows(xtr), (normalize_rows(xte) if len(xte) else xte)
    if mode == "channel":
        if xtr.ndim != 4:
            raise ValueError(
                f"standardize='channel' needs images (n, H, W, C), got shape {x_train.shape}"
            )
        axes: tuple[int, ...] = (0, 1, 2)
    else:
        axes = (0,)
    mu = xtr.mean(axis=axes, keepdims=True, dtype=np.float64)
    sd = xtr.std(axis=axes, keepdims=True, dtype=np.float64)
    sd = np.where(sd < eps, 1.0, sd)
    return ((xtr - mu) / sd).astype(ftype), ((xte - mu) / sd).astype(ftype)


def _check_n(n: Any, name: str) -> int | None:
    if n is None:
        return None
    return int(check_scalar(n, name, kind=int, min_value=1))


def _check_classes(classes: Any, available: np.ndarray) -> np.ndarray | None:
    if classes is None:
        return None
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        classes = [classes]
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (Sequence, np.ndarray)):
        raise TypeError(f"classes must be a sequence of integer labels, got {type(classes).__name__}")
    values = list(classes)
    if not values:
        raise ValueError("classes must not be empty")
    for c in values:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"classes must hold integer labels, got {c!r}")
    if len(set(int(c) for c in values)) != len(values):
        raise ValueError(f"classes must not repeat a label, got {values}")
    unknown = [int(c) for c in values if int(c) not in set(available.tolist())]
    if unknown:
        raise ValueError(
            f"classes contains unknown label(s) {unknown}; available labels: {available.tolist()}"
        )
    return np.asarray(values, dtype=np.int64)


def _check_dtype(dtype: Any, mode: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a numpy dtype, got {dtype!r}: {err}") from None
    if not np.issubdtype(dt, np.floating) and not (mode == "none" and np.issubdtype(dt, np.integer)):
        raise ValueError(
            f"dtype must be a float dtype (integer dtypes only with standardize='none'), got {dt}"
        )
    return dt


def _labels_out(y: np.ndarray, classes: np.ndarray | None, n_classes: int, hot: bool) -> np.ndarray:
    y = y.astype(np.int64)
    if not hot:
        return y
    if classes is None:
        return one_hot(y, n_classes) if len(y) else np.zeros((0, n_classes))
    position = {int(c): j for j, c in enumerate(classes)}
    pos = np.array([position[int(v)] for v in y], dtype=np.int64)
    return one_hot(pos, len(classes)) if len(y) else np.zeros((0, len(classes)))


def _filter_classes(x: np.ndarray, y: np.ndarray, classes: np.ndarray | None):
    if classes is None:
        return x, y
    keep = np.isin(y, classes)
    return x[keep], y[keep]


def _finish(
    x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *,
    mode: str, pixel_max: float | None, dtype: np.dtype, classes: np.ndarray | None,
    n_classes: int, hot: bool,
) -> Dataset:
    xtr, xte = standardize_split(x_tr, x_te, mode, pixel_max=pixel_max)
    if np.issubdtype(dtype, np.integer):  # raw values (mode 'none'), e.g. uint8 images
        xtr, xte = x_tr.astype(dtype), x_te.astype(dtype)
    xtr = np.ascontiguousarray(xtr, dtype=dtype)
    xte = np.ascontiguousarray(xte, dtype=dtype)
    # never hand out (read-only) cached arrays: callers may modify what they get
    xtr = xtr if xtr.flags.writeable else xtr.copy()
    xte = xte if xte.flags.writeable else xte.copy()
    return Dataset(xtr, _labels_out(y_tr, classes, n_classes, hot),
                   xte, _labels_out(y_te, classes, n_classes, hot))


def _split_pool(
    x: np.ndarray, y: np.ndarray, *, classes: Any, n_train: Any, n_test: Any, seed: Any,
    standardize: Any, allowed: Sequence[str], pixel_max: float | None, one_hot_: bool,
    dtype: Any,
) -> Dataset:
    """Class filter -> stratified train/test split -> preprocessing, for unsplit data."""
    available = np.unique(y)
    cls = _check_classes(classes, available)
    n_train = _check_n(n_train, "n_train")
    n_test = _check_n(n_test, "n_test")
    seed = _check_seed(seed)
    mode = _check_standardize(standardize, allowed)
    dt = _check_dtype(dtype, mode)
    x, y = _filter_classes(x, y, cls)
    n = len(y)
    where = " in the selected classes" if cls is not None else ""
    if n_train is None and n_test is None:
        n_test = max(1, round(0.25 * n))
        n_train = n - n_test
    elif n_test is None:
        if n_train >= n:
            raise ValueError(
                f"n_train must be < {n} (examples available{where}) to leave a test set, "
                f"got {n_train}"
            )
        n_test = min(max(1, round(0.25 * n)), n - n_train)
    elif n_train is None:
        if n_test >= n:
            raise ValueError(
                f"n_test must be < {n} (examples available{where}) to leave a training set, "
                f"got {n_test}"
            )
        n_train = n - n_test
    if n_train + n_test > n:
        raise ValueError(
            f"n_train + n_test must be <= {n} (examples available{where}), "
            f"got n_train={n_train}, n_test={n_test}"
        )
    tr, te = stratified_split(y, n_train, n_test, seed)
    return _finish(x[tr], y[tr], x[te], y[te], mode=mode, pixel_max=pixel_max, dtype=dt,
                   classes=cls, n_classes=len(available), hot=one_hot_)


def _subset_presplit(
    x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *,
    classes: Any, n_train: Any, n_test: Any, seed: Any, standardize: Any,
    allowed: Sequence[str], pixel_max: float | None, one_hot_: bool, dtype: Any,
) -> Dataset:
    """Class filter -> stratified subsets of a given split -> preprocessing."""
    available = np.unique(np.concatenate([y_tr, y_te]))
    cls = _check_classes(classes, available)
    n_train = _check_n(n_train, "n_train")
    n_test = _check_n(n_test, "n_test")
    seed = _check_seed(seed)
    mode = _check_standardize(standardize, allowed)
    dt = _check_dtype(dtype, mode)
    x_tr, y_tr = _filter_classes(x_tr, y_tr, cls)
    x_te, y_te = _filter_classes(x_te, y_te, cls)
    for n_req, n_have, name in ((n_train, len(y_tr), "n_train"), (n_test, len(y_te), "n_test")):
        if n_req is not None and n_req > n_have:
            raise ValueError(f"{name} must be <= {n_have} (examples available), got {n_req}")
    if n_train is not None and n_train < len(y_tr):
        idx, _ = stratified_split(y_tr, n_train, 0, seed)
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    if n_test is not None and n_test < len(y_te):
        idx, _ = stratified_split(y_te, n_test, 0, seed + 1)
        x_te, y_te = x_te[idx], y_te[idx]
    return _finish(x_tr, y_tr, x_te, y_te, mode=mode, pixel_max=pixel_max, dtype=dt,
                   classes=cls, n_classes=len(available), hot=one_hot_)


# ----------------------------------------------------------------------------------------
# offline data sets
# ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float64)  # (1797, 8, 8), values 0..16
    y = np.asarray(bunch.target, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def digits(
    classes: Sequence[int] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    image: bool = True,
    standardize: bool | str = True,
    one_hot: bool = False,
    dtype: Any = np.float64,
) -> Dataset:
    """scikit-learn's 8x8 digits (UCI optical digits, 1797 images, pixel values 0..16).

    Args:
      classes: keep only these digits (e.g. ``(3, 8)``); labels keep their digit values.
      n_train, n_test: sizes of the stratified, seeded split.  Defaults: ``n_test`` is 25%
        of the available examples (at most what ``n_train`` leaves), ``n_train`` the rest.
      seed: split seed (same seed -> same split).
      image: ``True`` -> ``x`` of shape ``(n, 8, 8, 1)`` (NHWC, for conv nets);
        ``False`` -> ``(n, 64)``.
      standardize: ``True``/``"feature"`` (z-score per pixel, fitted on train),
        ``"pixel"`` (``x / 16`` in [0, 1]), ``"channel"``, ``"unit_norm"``, ``False``/``"none"``.
      one_hot: labels as ``(n, k)`` one-hot; columns follow ``classes`` in the given order
        (all 10 digits when ``classes`` is None).
      dtype: float dtype of ``x``.
    """
    x, y = _digits_raw()
    x = x[..., None] if image else x.reshape(len(x), -1)
    return _split_pool(
        x, y, classes=classes, n_train=n_train, n_test=n_test, seed=seed,
        standardize=standardize, allowed=STANDARDIZE_CHOICES, pixel_max=16.0,
        one_hot_=one_hot, dtype=dtype,
    )


def binary_task(ds: Dataset, class_a: int, class_b: int) -> Dataset:
    """Restrict a data set with integer labels to two classes, labelled ``-1`` / ``+1``.

    ``class_a -> -1`` and ``class_b -> +1`` (float64 labels ``(n,)``), so ``sign(f(x))``
    predicts the class; examples of other classes are dropped.  Inputs are unchanged.
    One-hot labels ``(n, k)`` are read by argmax.
    """
    if not isinstance(ds, tuple) or len(ds) != 4:
        raise TypeError(f"ds must be a Dataset (x_train, y_train, x_test, y_test), got {type(ds).__name__}")
    for c, name in ((class_a, "class_a"), (class_b, "class_b")):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"{name} must be an integer label, got {type(c).__name__}")
    if int(class_a) == int(class_b):
        raise ValueError(f"class_a and class_b must differ, got {class_a} twice")
    x_tr, y_tr, x_te, y_te = (np.asarray(a) for a in ds)
    y_tr = _strata(check_array(y_tr, "ds.y_train", ndim=(1, 2)))
    y_te = _strata(check_array(y_te, "ds.y_test", ndim=(1, 2), allow_empty=True))
    present = set(np.unique(y_tr).tolist())
    for c, name in ((class_a, "class_a"), (class_b, "class_b")):
        if int(c) not in present:
            raise ValueError(
                f"{name}={c} does not occur in ds.y_train; labels present: {sorted(present)}"
            )

    def pick(x, y):
        keep = (y == class_a) | (y == class_b)
        return x[keep], np.where(y[keep] == class_b, 1.0, -1.0)

    return Dataset(*pick(x_tr, y_tr), *pick(x_te, y_te))


def digits_binary(
    a: int = 0,
    b: int = 1,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    image: bool = True,
    standardize: bool | str = True,
    dtype: Any = np.float64,
) -> Dataset:
    """Digit ``a`` (label ``-1``) versus digit ``b`` (label ``+1``); see :func:`digits`."""
    for c, name in ((a, "a"), (b, "b")):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"{name} must be an integer digit, got {type(c).__name__}")
        if not 0 <= int(c) <= 9:
            raise ValueError(f"{name} must be a digit in 0..9, got {c}")
    if int(a) == int(b):
        raise ValueError(f"a and b must differ, got {a} twice")
    ds = digits(classes=(a, b), n_train=n_train, n_test=n_test, seed=seed, image=image,
                standardize=standardize, dtype=dtype)
    return binary_task(ds, a, b)


UCI_DATASETS = ("iris", "wine", "breast_cancer")


@lru_cache(maxsize=None)
def _uci_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def uci(
    name: str,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    standardize: bool | str = True,
    one_hot: bool = False,
    classes: Sequence[int] | None = None,
    dtype: Any = np.float64,
) -> Dataset:
    """A small UCI classification set shipped with scikit-learn (no download).

    ``name``: ``"iris"`` (150 x 4, 3 classes), ``"wine"`` (178 x 13, 3 classes),
    ``"breast_cancer"`` (569 x 30, 2 classes).  ``x``: ``(n, d)`` float, standardised per
    feature with training statistics by default (``standardize`` as in :func:`digits`,
    minus ``"pixel"``/``"channel"``); ``y``: integer labels ``(n,)``.  Split as in :func:`digits`.
    """
    key = check_choice(name, "name", UCI_DATASETS)
    x, y = _uci_raw(key)
    return _split_pool(
        x, y, classes=classes, n_train=n_train, n_test=n_test, seed=seed,
        standardize=standardize, allowed=("none", "feature", "unit_norm"), pixel_max=None,
        one_hot_=one_hot, dtype=dtype,
    )


_MNIST1D_DEFAULT_SAMPLES = 5000  # the reference MNIST-1D: 4000 train + 1000 test, seed 42


@lru_cache(maxsize=4)
def mnist1d_generate(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    """Run ``mnist1d.data.make_dataset`` locally with the reference settings but ``num_samples``
    samples, restoring the global NumPy/Python RNG states it seeds.  Returns read-only
    ``(x, y, x_test, y_test)`` (the package's 80/20 split), cached."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    out = tuple(np.asarray(raw[k]) for k in ("x", "y", "x_test", "y_test"))
    for a in out:
        a.setflags(write=False)
    return out


def mnist1d(
    n_train: int = 4000,
    n_test: int = 1000,
    seed: int = 42,
    standardize: bool | str = "none",
    one_hot: bool = False,
    classes: Sequence[int] | None = None,
    dtype: Any = np.float64,
) -> Dataset:
    """MNIST-1D (Greydanus, 2020): 10 classes of 1-D signals of length 40, made locally.

    The ``mnist1d`` package generates ``N`` signals with generation seed ``seed`` and splits
    them 80/20 into train/test; ``N = max(5000, ...)`` is the smallest multiple of 10 whose
    split holds ``n_train`` and ``n_test`` examples, so the defaults (4000, 1000, seed 42)
    are the reference data set.  Smaller ``n_train``/``n_test`` take stratified subsets
    (deterministic).  Nothing is downloaded; generation (~2 s for 5000) is cached in memory.

    Returns ``x`` of shape ``(n, 40)`` (already centred and scaled globally by the
    generator; ``standardize`` as in :func:`uci`), integer labels ``(n,)``.
    """
    n_train = _check_n(n_train, "n_train")
    n_test = _check_n(n_test, "n_test")
    if n_train is None or n_test is None:
        raise TypeError("n_train and n_test must be integers for mnist1d")
    seed = _check_seed(seed)
    need = max(_MNIST1D_DEFAULT_SAMPLES, -(-n_train * 5 // 4), n_test * 5)
    total = -(-need // 10) * 10
    while int(total * 0.8) < n_train or total - int(total * 0.8) < n_test:
        total += 10
    x_tr, y_tr, x_te, y_te = mnist1d_generate(total, seed)
    return _subset_presplit(
        x_tr, y_tr, x_te, y_te, classes=classes, n_train=n_train, n_test=n_test, seed=seed,
        standardize=standardize, allowed=("none", "feature", "unit_norm"), pixel_max=None,
        one_hot_=one_hot, dtype=dtype,
    )


# ----------------------------------------------------------------------------------------
# downloads: checksums, mirrors, atomic writes
# ----------------------------------------------------------------------------------------
class DownloadError(OSError):
    """A data file could not be obtained (every mirror failed)."""


class OfflineError(DownloadError):
    """The network is unreachable (or ``download=False``) and the file is not cached."""


class ChecksumError(DownloadError):
    """A downloaded or cached file does not have the published SHA-256."""


class DataFormatError(ValueError):
    """A file is not in the expected IDX / CIFAR pickle format."""


@dataclass(frozen=True)
class RemoteFile:
    """One published data file: cache name, SHA-256, size in bytes and mirror URLs."""

    name: str
    sha256: str
    size: int | None
    urls: tuple[str, ...]


def _idx_files(bases: Sequence[str], table: dict[str, tuple[str, int]]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, sha, size, tuple(base + name for base in bases))
        for name, (sha, size) in table.items()
    )


# SHA-256 and sizes as published in tensorflow-datasets (url_checksums/mnist.txt,
# fashion_mnist.txt) and torchvision's prototype datasets (mnist.py, cifar.py); the MD5s
# of the same files are the ones torchvision checks (e.g. MNIST train images
# f68b3c2dcbeaaa9fbdd348bbdeb94873, CIFAR-10 archive c58f30108f718f92721af3b95e74349a).
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _idx_files(
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        {
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        },
    ),
    "fashion_mnist": _idx_files(
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        {
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
            "train-labels-idx1-ubyte.gz": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            "t10k-images-idx3-ubyte.gz": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            "t10k-labels-idx1-ubyte.gz": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        },
    ),
    "cifar10": (
        RemoteFile(
            "cifar-10-python.tar.gz",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            170498071,
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        ),
    ),
}

_CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_network_error(err: BaseException) -> bool:
    """True for 'cannot reach the server' failures (DNS, refused, unreachable, timeout)."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, BaseException) else err
        if isinstance(err, urllib.error.URLError):
            return False
    return isinstance(err, (socket.gaierror, socket.timeout, TimeoutError, ConnectionError)) or (
        isinstance(err, OSError)
        and err.errno in {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.ECONNREFUSED}
    )


def _manual_instructions(files: Sequence[RemoteFile], directory: Path) -> str:
    lines = [
        f"To use this data set offline, download the file(s) below on a machine with internet "
        f"access and copy them into {directory} (or point LECTURE_DATA_DIR at a folder whose "
        f"'{directory.name}' subfolder holds them):"
    ]
    for f in files:
        lines.append(f"  {f.name}  sha256={f.sha256}  from {f.urls[0]}")
    return "\n".join(lines)


def _stream(url: str, fh: Any, remote: RemoteFile, timeout: float, progress: bool) -> str:
    """Copy ``url`` into the open file ``fh``; return the SHA-256 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": "lecture_lib-data/0.1"})
    h = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        header = resp.headers.get("Content-Length") if resp.headers is not None else None
        expected = int(header) if header and header.isdigit() else None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=expected or remote.size, unit="B", unit_scale=True,
                       desc=remote.name, leave=False)
        try:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if remote.size is not None and received > remote.size:
                    raise ChecksumError(
                        f"{url} sent more than the expected {remote.size} bytes"
                    )
                h.update(chunk)
                fh.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received != expected:
        raise DownloadError(f"incomplete download from {url}: {received} of {expected} bytes")
    return h.hexdigest()


def fetch(
    remote: RemoteFile,
    directory: PathLike,
    *,
    download: bool = True,
    timeout: float = 10.0,
    progress: bool = True,
    verify: bool = True,
    help_files: Sequence[RemoteFile] | None = None,
) -> Path:
    """Return the path of ``remote`` in ``directory``, downloading it first if needed.

    A cached file is checked against ``remote.sha256`` (``verify=True``) and never
    re-downloaded.  Otherwise each mirror URL is tried in turn: the bytes go to a temporary
    file in ``directory`` which is renamed to its final name (``os.replace``, atomic) only
    once its SHA-256 matches; on any failure, including ``KeyboardInterrupt``, the
    temporary file is deleted.  ``timeout`` (seconds) applies to connecting and to every
    read.  ``help_files``: the files listed in the error message's instructions for placing
    them by hand (default: ``remote`` alone).

    Raises:
      OfflineError: no mirror could be reached, or ``download=False`` and no cached file.
      ChecksumError: the cached file, or every download, has the wrong checksum.
      DownloadError: other failures (HTTP errors, truncated transfers) on every mirror.
    """
    if not isinstance(remote, RemoteFile):
        raise TypeError(f"remote must be a RemoteFile, got {type(remote).__name__}")
    check_scalar(timeout, "timeout", kind=(int, float), min_value=0, strict_min=True)
    directory = Path(directory)
    target = directory / remote.name
    if target.is_file():
        if verify and _sha256_file(target) != remote.sha256:
            raise ChecksumError(
                f"cached file {target} does not have the published sha256 {remote.sha256}; "
                f"it is corrupt or a different file. Delete it to download it again."
            )
        return target
    if not download:
        raise OfflineError(
            f"{remote.name} is not in the cache and download=False.\n"
            + _manual_instructions(help_files or [remote], directory)
        )
    directory.mkdir(parents=True, exist_ok=True)
    errors: list[tuple[str, BaseException]] = []
    for url in remote.urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                digest = _stream(url, fh, remote, float(timeout), progress)
                fh.flush()
                os.fsync(fh.fileno())
            if digest != remote.sha256:
                raise ChecksumError(
                    f"checksum mismatch for {url}: sha256 {digest}, expected {remote.sha256}"
                )
            os.replace(tmp, target)
            return target
        except (OSError, http.client.HTTPException, ValueError) as err:
            tmp.unlink(missing_ok=True)
            errors.append((url, err))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    tried = "\n".join(f"  {url}: {type(e).__name__}: {e}" for url, e in errors)
    help_text = _manual_instructions(help_files or [remote], directory)
    if errors and all(_is_network_error(e) for _, e in errors):
        raise OfflineError(
            f"Cannot download {remote.name}: the network is unreachable (you appear to be "
            f"offline). Tried:\n{tried}\n{help_text}"
        )
    if any(isinstance(e, ChecksumError) for _, e in errors):
        raise ChecksumError(
            f"Every download of {remote.name} had the wrong checksum; nothing was saved. "
            f"Tried:\n{tried}\n{help_text}"
        )
    raise DownloadError(f"Could not download {remote.name}. Tried:\n{tried}\n{help_text}")


def _fetch_all(
    key: str, cache_dir: PathLike | None, download: bool, timeout: float, progress: bool
) -> dict[str, Path]:
    root = Path(cache_dir).expanduser() if cache_dir is not None else config.data_dir()
    directory = root / key
    files = REMOTE_FILES[key]
    missing = [f for f in files if not (directory / f.name).is_file()]
    if missing and not download:
        raise OfflineError(
            f"{key} is not in the cache ({directory}) and download=False.\n"
            + _manual_instructions(missing, directory)
        )
    return {
        f.name: fetch(f, directory, download=download, timeout=timeout, progress=progress,
                      help_files=missing)
        for f in files
    }


# ----------------------------------------------------------------------------------------
# file formats
# ----------------------------------------------------------------------------------------
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(source: PathLike | bytes) -> np.ndarray:
    """Parse an IDX file (LeCun's MNIST format), gzipped or not, into a numpy array.

    Header: two zero bytes, a type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
    ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64), the number of dimensions ``d``,
    then ``d`` big-endian uint32 sizes; the data follow in C order, big-endian.
    MNIST images have magic ``0x00000803`` (uint8, 3-D), labels ``0x00000801``.
    """
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
        name = "<bytes>"
    else:
        name = os.fspath(source)
        with open(name, "rb") as fh:
            raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataFormatError(f"{name}: corrupt gzip stream ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFormatError(f"{name}: not an IDX file (bad magic number {raw[:4]!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataFormatError(f"{name}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{name}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise DataFormatError(
            f"{name}: IDX data size {len(raw) - header} bytes does not match shape {dims}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, lists and bytes (the CIFAR batch format)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataFormatError(f"refusing to unpickle {module}.{name} from a CIFAR batch")


def _read_cifar_batch(fh: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayUnpickler(fh, encoding="bytes").load()
    except DataFormatError:
        raise
    except Exception as err:
        raise DataFormatError(f"{name}: not a CIFAR batch pickle ({err})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(f"{name}: expected a dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(f"{name}: missing 'data' or 'labels' (keys {sorted(batch)})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFormatError(f"{name}: data must be uint8 (n, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataFormatError(f"{name}: {labels.shape[0]} labels for {data.shape[0]} images")
    # rows are 1024 red, 1024 green, 1024 blue values, each a 32x32 image in row-major order
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def read_cifar10_archive(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``cifar-10-python.tar.gz`` without extracting it.

    Returns ``(x_train (50000, 32, 32, 3) uint8, y_train (50000,) int64, x_test (10000, 32,
    32, 3), y_test (10000,))`` for the official file: ``data_batch_1..5`` concatenated in
    order, then ``test_batch``.  Pickles are read with an unpickler restricted to numpy arrays.
    """
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(os.fspath(path), "r:gz") as tar:
            for member in tar:
                base = posixpath.basename(member.name)
                if member.isfile() and base in _CIFAR_TRAIN_BATCHES + ("test_batch",):
                    fh = tar.extractfile(member)
                    assert fh is not None
                    found[base] = _read_cifar_batch(io.BytesIO(fh.read()), base)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as err:
        raise DataFormatError(f"{path}: not a readable tar.gz archive ({err})") from None
    missing = [b for b in _CIFAR_TRAIN_BATCHES + ("test_batch",) if b not in found]
    if missing:
        raise DataFormatError(f"{path}: archive lacks {missing}")
    x_train = np.concatenate([found[b][0] for b in _CIFAR_TRAIN_BATCHES])
    y_train = np.concatenate([found[b][1] for b in _CIFAR_TRAIN_BATCHES])
    return x_train, y_train, found["test_batch"][0], found["test_batch"][1]


# ----------------------------------------------------------------------------------------
# online loaders
# ----------------------------------------------------------------------------------------
def _load_idx_set(key: str, cache_dir, download, timeout, progress):
    paths = _fetch_all(key, cache_dir, download, timeout, progress)
    out = []
    for split in ("train", "t10k"):
        images = read_idx(paths[f"{split}-images-idx3-ubyte.gz"])
        labels = read_idx(paths[f"{split}-labels-idx1-ubyte.gz"])
        if images.dtype != np.uint8 or images.ndim != 3:
            raise DataFormatError(f"{key} {split} images: expected uint8 (n, H, W), got "
                                  f"{images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataFormatError(f"{key} {split}: {labels.shape} labels for {images.shape[0]} images")
        out += [images[..., None], labels.astype(np.int64)]
    return out


_ONLINE_DOC = """
    Args:
      n_train, n_test: stratified, seeded subsets of the official train / test splits
        (``None``: all of it).
      classes: keep only these labels (integer labels keep their values).
      flatten: ``x`` as ``(n, H*W*C)`` instead of NHWC images.
      standardize: ``"pixel"`` (default, ``x / 255`` in [0, 1]), ``"feature"``/``True``,
        ``"channel"``, ``"unit_norm"``, ``"none"``/``False`` (raw 0..255; with
        ``dtype=np.uint8`` the raw bytes).  Statistics come from the training subset.
      one_hot: labels as ``(n, k)`` one-hot.
      seed: subset seed.
      dtype: dtype of ``x`` (float32 by default: 50000 CIFAR images take 600 MB).
      cache_dir: root of the cache (default ``config.data_dir()``, env ``LECTURE_DATA_DIR``);
        files live in ``<cache_dir>/{key}/``.
      download: ``False`` never touches the network (:class:`OfflineError` if not cached).
      timeout: network timeout in seconds (connect and each read).
      progress: show a tqdm bar while downloading.

    Raises:
      OfflineError (an ``OSError``) when the files are not cached and cannot be downloaded;
      the message lists the files, their SHA-256 and where to put them.
"""


def _online(
    key: str, arrays, *, n_train, n_test, classes, flatten, standardize, one_hot, seed, dtype
) -> Dataset:
    x_tr, y_tr, x_te, y_te = arrays
    ds = _subset_presplit(
        x_tr, y_tr, x_te, y_te, classes=classes, n_train=n_train, n_test=n_test, seed=seed,
        standardize=standardize, allowed=STANDARDIZE_CHOICES, pixel_max=255.0,
        one_hot_=one_hot, dtype=dtype,
    )
    if flatten:
        ds = Dataset(ds.x_train.reshape(len(ds.x_train), -1), ds.y_train,
                     ds.x_test.reshape(len(ds.x_test), -1), ds.y_test)
    return ds


def load_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    classes: Sequence[int] | None = None,
    flatten: bool = False,
    standardize: bool | str = "pixel",
    one_hot: bool = False,
    seed: int = 0,
    dtype: Any = np.float32,
    cache_dir: PathLike | None = None,
    download: bool = True,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """MNIST (LeCun et al. 1998): 60000 + 10000 handwritten digits, ``x (n, 28, 28, 1)``."""
    arrays = _load_idx_set("mnist", cache_dir, download, timeout, progress)
    return _online("mnist", arrays, n_train=n_train, n_test=n_test, classes=classes,
                   flatten=flatten, standardize=standardize, one_hot=one_hot, seed=seed,
                   dtype=dtype)


def load_fashion_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    classes: Sequence[int] | None = None,
    flatten: bool = False,
    standardize: bool | str = "pixel",
    one_hot: bool = False,
    seed: int = 0,
    dtype: Any = np.float32,
    cache_dir: PathLike | None = None,
    download: bool = True,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60000 + 10000 clothing images, ``x (n, 28, 28, 1)``.

    Class names: :data:`FASHION_MNIST_CLASSES`.
    """
    arrays = _load_idx_set("fashion_mnist", cache_dir, download, timeout, progress)
    return _online("fashion_mnist", arrays, n_train=n_train, n_test=n_test, classes=classes,
                   flatten=flatten, standardize=standardize, one_hot=one_hot, seed=seed,
                   dtype=dtype)


def load_cifar10(
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    classes: Sequence[int] | None = None,
    flatten: bool = False,
    standardize: bool | str = "pixel",
    one_hot: bool = False,
    seed: int = 0,
    dtype: Any = np.float32,
    cache_dir: PathLike | None = None,
    download: bool = True,
    timeout: float = 10.0,
    progress: bool = True,
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 50000 + 10000 colour images, ``x (n, 32, 32, 3)``.

    Class names: :data:`CIFAR10_CLASSES`.
    """
    paths = _fetch_all("cifar10", cache_dir, download, timeout, progress)
    arrays = read_cifar10_archive(paths["cifar-10-python.tar.gz"])
    return _online("cifar10", arrays, n_train=n_train, n_test=n_test, classes=classes,
                   flatten=flatten, standardize=standardize, one_hot=one_hot, seed=seed,
                   dtype=dtype)


for _f, _key in ((load_mnist, "mnist"), (load_fashion_mnist, "fashion_mnist"),
                 (load_cifar10, "cifar10")):
    _f.__doc__ = (_f.__doc__ or "") + _ONLINE_DOC.replace("{key}", _key)
del _f, _key

DATASETS = ("digits", *UCI_DATASETS, "mnist1d", "mnist", "fashion_mnist", "cifar10")


def load(name: str, **kwargs: Any) -> Dataset:
    """Load any data set by name (one of :data:`DATASETS`), passing ``kwargs`` on."""
    key = check_choice(name, "name", DATASETS)
    if key == "digits":
        return digits(**kwargs)
    if key in UCI_DATASETS:
        return uci(key, **kwargs)
    if key == "mnist1d":
        return mnist1d(**kwargs)
    return {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist,
            "cifar10": load_cifar10}[key](**kwargs)


# --------------------------------------------------------------------------- #
# Tasks built from the data sets
# --------------------------------------------------------------------------- #
def two_class_data(
    dataset: str = "digits",
    classes: tuple[int, int] = (1, 7),
    *,
    n_train: int | None = None,
    n_test: int = 2_000,
    seed: int = 0,
    fallback_classes: tuple[int, int] = (1, 7),
):
    """Two classes of a data set, labels +-1, every image flattened and scaled to unit norm.

    ``"digits"`` (scikit-learn's 8x8 digits, offline) takes all images of the
    two classes with a 25% test split, pixels standardised per feature.  Any
    other name of :data:`DATASETS` (``"mnist"``,
    ``"cifar10"``, ...) is loaded with ``n_train``/``n_test`` examples; when it
    cannot be downloaded (``OSError``) a line is printed and the digits
    ``fallback_classes`` are used instead (all of them: ``n_train`` is meant for
    the large set).  Class ``classes[0]`` gets label -1, ``classes[1]`` +1.

    Args:
      dataset: data set name.
      classes: the two class indices.
      n_train: training examples (``None``: all; digits always use all).
      n_test: test examples of a downloaded data set.
      seed: seed of the split / subsample.
      fallback_classes: digit classes used when ``dataset`` is unavailable.

    Returns:
      ``(ds, name)``: a :class:`Dataset` with ``x_train``
      (n, d) and ``x_test`` (m, d) of unit-norm rows and +-1 labels (n,), (m,);
      ``name`` like ``"digits 1 vs 7"``.
    """
    if not isinstance(dataset, str):
        raise TypeError(f"dataset must be a string, got {type(dataset).__name__}")
    for value, arg in ((classes, "classes"), (fallback_classes, "fallback_classes")):
        if len(value) != 2:
            raise ValueError(f"{arg} must hold two class indices, got {value!r}")
    if dataset.lower() == "digits":
        ds, name = digits_binary(*classes, n_train=None, seed=seed, image=False,
                                      standardize="feature"), f"digits {classes[0]} vs {classes[1]}"
    else:
        try:
            ds = load(dataset, n_train=n_train, n_test=n_test, classes=classes, flatten=True,
                           standardize="feature", dtype=np.float64, seed=seed)
            ds, name = binary_task(ds, *classes), f"{dataset} {classes[0]} vs {classes[1]}"
        except OSError as err:  # offline: data.OfflineError / DownloadError
            print(f"{dataset} unavailable ({type(err).__name__}); using scikit-learn digits instead")
            return two_class_data("digits", fallback_classes, seed=seed)
    ds = ds._replace(x_train=normalize_rows(ds.x_train), x_test=normalize_rows(ds.x_test))
    return ds, name


def pooled(ds: Any, standardize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Join a :class:`Dataset`'s train and test parts into one ``(x, y)`` for cross-validation.

    Load the data set without standardisation (``standardize=False``) and let
    this z-score every feature over the pooled set (the preprocessing of the
    UCI benchmark of Fernandez-Delgado et al. used by Arora et al.; labels are
    not used, so no label information leaks across folds).  Image inputs are
    flattened to ``(n, d)``.
    """
    if not isinstance(ds, tuple) or len(ds) != 4:
        raise TypeError(f"ds must be a Dataset (x_train, y_train, x_test, y_test), got {type(ds).__name__}")
    x = np.concatenate([check_array(ds[0], "ds.x_train", min_ndim=2),
                        check_array(ds[2], "ds.x_test", min_ndim=2)])
    y = np.concatenate([check_array(ds[1], "ds.y_train", ndim=1),
                        check_array(ds[3], "ds.y_test", ndim=1)])
    x = x.reshape(len(x), -1).astype(np.float64)
    if standardize:
        sd = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return x, y


def corrupt_labels(y: Any, fraction: float, seed: int = 0) -> np.ndarray:
    """Replace a random ``fraction`` of +-1 labels by independent random +-1 labels.

    As in Arora et al. (ICML'19, Sec. 5): ``round(fraction * n)`` positions are
    chosen without replacement and each gets a fresh fair coin, so about half
    of them actually flip; ``fraction=1`` gives fully random labels.  Nested in
    ``fraction`` for a fixed seed: the corrupted set at 0.5 contains the one at
    0.25 and the random draws agree on it.

    Args:
      y: labels in {-1, +1}, shape (n,).
      fraction: in [0, 1].
      seed: random seed.

    Returns:
      np.ndarray (n,) float64 of +-1 labels.
    """
    y = check_array(y, "y", ndim=1).astype(np.float64)
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must contain only -1 and +1 labels")
    check_scalar(fraction, "fraction", kind=(int, float), min_value=0.0, max_value=1.0)
    check_scalar(seed, "seed", kind=int)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    coins = rng.choice((-1.0, 1.0), size=len(y))
    n_bad = int(round(fraction * len(y)))
    out = y.copy()
    idx = order[:n_bad]
    out[idx] = coins[idx]
    return out


def circle_points(n: int, *, random: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on the unit circle.

    Args:
      n: number of points.
      random: uniform random angles instead of the equally spaced grid
        ``t_j = 2 pi j / n`` (on the grid any rotation-invariant Gram matrix is
        circulant, so its eigenvectors are exactly the Fourier modes).
      seed: seed for ``random=True``.

    Returns:
      ``(t, x)``: angles (n,) in [0, 2 pi) and points (n, 2) = (cos t, sin t).
    """
    check_scalar(n, "n", kind=int, min_value=1)
    if random:
        t = np.sort(np.random.default_rng(seed).uniform(0.0, 2 * np.pi, size=n))
    else:
        t = 2 * np.pi * np.arange(n) / n
    return t, np.stack([np.cos(t), np.sin(t)], axis=1)
