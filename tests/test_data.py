"""lecture_lib.data: offline sets (digits, UCI, MNIST-1D), file formats and the download
machinery (checksums, mirrors, atomic writes, offline errors) -- all without internet.

Online loaders are exercised on small files in the real formats (tests/_fake_datasets.py)
served from a loopback HTTP server or file:// URLs, with the URL table monkeypatched.
"""
from __future__ import annotations

import hashlib
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lecture_lib  # noqa: F401  (environment setup before anything else)
from lecture_lib import data

import _fake_datasets as fake

N_DIGITS = 1797


def _dir_listing(path: Path) -> list[str]:
    """Every file under ``path`` (hidden temporary files included)."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def _no_network(*args, **kwargs):
    raise AssertionError("the network must not be used here")


# ---------------------------------------------------------------------------------------
# helpers: one_hot, normalize_rows, stratified_split, subsample
# ---------------------------------------------------------------------------------------
def test_one_hot():
    y = np.array([2, 0, 1, 2])
    oh = data.one_hot(y)
    assert oh.shape == (4, 3)
    np.testing.assert_array_equal(oh.argmax(1), y)
    np.testing.assert_array_equal(oh.sum(1), 1)
    assert data.one_hot(y, 5).shape == (4, 5)
    with pytest.raises(ValueError, match="y must lie in"):
        data.one_hot(y, 2)
    with pytest.raises(TypeError, match="y"):
        data.one_hot(np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="k"):
        data.one_hot(y, 3.0)


def test_normalize_rows_any_shape_and_zero_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4, 4, 2))
    x[2] = 0.0
    out = data.normalize_rows(x)
    assert out.shape == x.shape
    norms = np.linalg.norm(out.reshape(5, -1), axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3, 4]], 1.0, rtol=1e-12)
    assert norms[2] == 0.0
    # direction is kept
    np.testing.assert_allclose(out[0] * np.linalg.norm(x[0]), x[0], rtol=1e-12)
    with pytest.raises(ValueError, match="x"):
        data.normalize_rows(np.ones(3))


def test_stratified_split_sizes_proportions_determinism():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    tr, te = data.stratified_split(y, 40, 20, seed=3)
    assert len(tr) == 40 and len(te) == 20
    assert not set(tr) & set(te)
    counts = np.bincount(y[tr], minlength=4)
    np.testing.assert_array_equal(counts, [20, 12, 6, 2])  # exactly 40 * N_c / 100
    tr2, te2 = data.stratified_split(y, 40, 20, seed=3)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(te, te2)
    tr3, _ = data.stratified_split(y, 40, 20, seed=4)
    assert not np.array_equal(np.sort(tr), np.sort(tr3))
    with pytest.raises(ValueError, match="n_train"):
        data.stratified_split(y, 90, 20)
    with pytest.raises(TypeError, match="seed"):
        data.stratified_split(y, 10, 10, seed=1.5)


@settings(max_examples=60, deadline=None, database=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    frac_train=st.floats(0, 1), frac_test=st.floats(0, 1), seed=st.integers(0, 10**6),
)
def test_stratified_split_property(counts, frac_train, frac_test, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    n = len(y)
    n_train = int(frac_train * n)
    n_test = int(frac_test * (n - n_train))
    tr, te = data.stratified_split(y, n_train, n_test, seed)
    assert len(tr) == n_train and len(te) == n_test
    assert len(set(tr.tolist()) | set(te.tolist())) == n_train + n_test  # disjoint, no repeats
    quota = n_train * np.asarray(counts) / n
    got = np.bincount(y[tr], minlength=len(counts))
    assert np.all(got >= np.floor(quota)) and np.all(got <= np.ceil(quota))


def test_subsample():
    x = np.arange(200, dtype=float).reshape(100, 2)
    y = np.repeat([0, 1], [80, 20])
    xs, ys = data.subsample(x, y, 10, seed=1)
    assert xs.shape == (10, 2)
    assert np.bincount(ys).tolist() == [8, 2]
    idx = (xs[:, 0] // 2).astype(int)  # row i of x is (2i, 2i + 1)
    assert len(set(idx.tolist())) == 10
    np.testing.assert_array_equal(y[idx], ys)  # rows stay paired with their labels
    xs2, _ = data.subsample(x, y, 10, seed=1)
    np.testing.assert_array_equal(xs, xs2)
    xu, _ = data.subsample(x, y, 10, seed=1, stratify=False)
    assert len(np.unique(xu[:, 0])) == 10
    with pytest.raises(ValueError, match="n"):
        data.subsample(x, y, 101)
    with pytest.raises(ValueError, match="same number of rows"):
        data.subsample(x, y[:50], 10)


# ---------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------
def test_digits_default_shapes_and_split():
    ds = data.digits()
    assert isinstance(ds, data.Dataset)
    assert ds.x_train.shape[1:] == (8, 8, 1) and ds.x_test.shape[1:] == (8, 8, 1)
    assert len(ds.x_train) + len(ds.x_test) == N_DIGITS
    assert len(ds.x_test) == round(0.25 * N_DIGITS)
    assert ds.y_train.dtype == np.int64 and ds.y_train.ndim == 1
    assert ds.x_train.dtype == np.float64
    assert set(np.unique(ds.y_train)) == set(range(10))
    # stratified: every class's share in train is within one example of its quota
    _, full_counts = np.unique(np.concatenate([ds.y_train, ds.y_test]), return_counts=True)
    quota = len(ds.y_train) * full_counts / N_DIGITS
    assert np.all(np.abs(np.bincount(ds.y_train) - quota) <= 1)


def test_digits_flat_and_sizes():
    ds = data.digits(image=False, n_train=100, n_test=50)
    assert ds.x_train.shape == (100, 64) and ds.x_test.shape == (50, 64)
    assert np.bincount(ds.y_train).tolist() == [10] * 10
    only_train = data.digits(n_train=1000, image=False)
    assert len(only_train.x_train) == 1000 and len(only_train.x_test) == round(0.25 * N_DIGITS)
    only_test = data.digits(n_test=100)
    assert len(only_test.x_train) == N_DIGITS - 100


def test_digits_deterministic_and_seed_dependent():
    a = data.digits(n_train=200, n_test=100, seed=5)
    b = data.digits(n_train=200, n_test=100, seed=5)
    c = data.digits(n_train=200, n_test=100, seed=6)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x_train, c.x_train)


def test_digits_standardize_modes():
    raw = data.digits(standardize="none", n_train=300, n_test=100, image=False)
    assert raw.x_train.max() == 16 and raw.x_train.min() == 0
    assert np.all(raw.x_train == np.round(raw.x_train))

    pix = data.digits(standardize="pixel", n_train=300, n_test=100, image=False)
    np.testing.assert_allclose(pix.x_train, raw.x_train / 16)
    assert pix.x_train.max() == 1.0

    feat = data.digits(standardize=True, n_train=300, n_test=100, image=False)
    mu, sd = raw.x_train.mean(0), raw.x_train.std(0)
    varying = sd > 0
    np.testing.assert_allclose(feat.x_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(feat.x_train.std(0)[varying], 1, rtol=1e-12)
    assert np.all(feat.x_train[:, ~varying] == 0)  # constant pixels (corners) stay finite: 0
    # test split uses the TRAINING statistics
    expected = (raw.x_test - mu) / np.where(varying, sd, 1.0)
    np.testing.assert_allclose(feat.x_test, expected, rtol=1e-12, atol=1e-12)
    assert abs(feat.x_test.mean()) > 1e-6  # not re-fitted on test

    unit = data.digits(standardize="unit_norm", n_train=300, n_test=100)
    np.testing.assert_allclose(np.linalg.norm(unit.x_test.reshape(100, -1), axis=1), 1.0)

    chan = data.digits(standardize="channel", n_train=300, n_test=100)
    assert abs(chan.x_train.mean()) < 1e-12 and abs(chan.x_train.std() - 1) < 1e-12

    f32 = data.digits(n_train=20, n_test=10, dtype=np.float32)
    assert f32.x_train.dtype == np.float32


def test_digits_classes_and_one_hot():
    ds = data.digits(classes=(7, 3), n_train=60, n_test=40)
    assert set(np.unique(ds.y_train)) == {3, 7} and set(np.unique(ds.y_test)) == {3, 7}
    hot = data.digits(classes=(7, 3), n_train=60, n_test=40, one_hot=True)
    assert hot.y_train.shape == (60, 2)
    np.testing.assert_array_equal(hot.y_train[:, 0] == 1, ds.y_train == 7)  # column order = classes
    np.testing.assert_array_equal(hot.x_train, ds.x_train)
    all_hot = data.digits(n_train=50, n_test=20, one_hot=True)
    assert all_hot.y_train.shape == (50, 10) and all_hot.y_test.shape == (20, 10)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(classes=(1, 11)), ValueError, "classes"),
        (dict(classes=()), ValueError, "classes"),
        (dict(classes=(1, 1)), ValueError, "classes"),
        (dict(classes="01"), TypeError, "classes"),
        (dict(classes=(1.0, 2.0)), TypeError, "classes"),
        (dict(n_train=0), ValueError, "n_train"),
        (dict(n_train=-5), ValueError, "n_train"),
        (dict(n_train=10.5), TypeError, "n_train"),
        (dict(n_test=True), TypeError, "n_test"),
        (dict(n_train=N_DIGITS), ValueError, "n_train"),
        (dict(n_test=N_DIGITS), ValueError, "n_test"),
        (dict(n_train=1500, n_test=400), ValueError, "n_train"),
        (dict(classes=(0, 1), n_train=300, n_test=100), ValueError, "selected classes"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed="0"), TypeError, "seed"),
        (dict(standardize="zscore"), ValueError, "standardize"),
        (dict(standardize=3), TypeError, "standardize"),
        (dict(standardize="channel", image=False), ValueError, "standardize"),
        (dict(dtype=np.int32), ValueError, "dtype"),
        (dict(dtype="not-a-dtype"), TypeError, "dtype"),
    ],
)
def test_digits_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        data.digits(**kwargs)


def test_binary_task_and_digits_binary():
    ds = data.digits(n_train=200, n_test=100)
    bt = data.binary_task(ds, 3, 5)
    keep = np.isin(ds.y_train, [3, 5])
    np.testing.assert_array_equal(bt.x_train, ds.x_train[keep])
    np.testing.assert_array_equal(bt.y_train, np.where(ds.y_train[keep] == 5, 1.0, -1.0))
    assert bt.y_train.dtype == np.float64 and set(np.unique(bt.y_test)) == {-1.0, 1.0}
    # one-hot labels are read by argmax
    hot = data.digits(n_train=200, n_test=100, one_hot=True)
    np.testing.assert_array_equal(data.binary_task(hot, 3, 5).y_train, bt.y_train)

    db = data.digits_binary(n_train=40, n_test=20)
    assert db.x_train.shape == (40, 8, 8, 1)
    assert np.sum(db.y_train == -1) == 20 and np.sum(db.y_train == 1) == 20
    flat = data.digits_binary(4, 9, n_train=30, n_test=10, image=False, standardize="pixel")
    assert flat.x_train.shape == (30, 64) and flat.x_train.max() <= 1.0

    with pytest.raises(ValueError, match="class_a and class_b"):
        data.binary_task(ds, 3, 3)
    small = data.digits(classes=(0, 1), n_train=20, n_test=10)
    with pytest.raises(ValueError, match="class_b"):
        data.binary_task(small, 0, 7)
    with pytest.raises(TypeError, match="class_a"):
        data.binary_task(ds, "3", 5)
    with pytest.raises(TypeError, match="ds"):
        data.binary_task(ds.x_train, 3, 5)
    with pytest.raises(ValueError, match="a"):
        data.digits_binary(10, 1)
    with pytest.raises(ValueError, match="a and b"):
        data.digits_binary(2, 2)


# ---------------------------------------------------------------------------------------
# UCI sets shipped with scikit-learn
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, n, d, k", [("iris", 150, 4, 3), ("wine", 178, 13, 3),
                                           ("breast_cancer", 569, 30, 2)])
def test_uci_sets(name, n, d, k):
    ds = data.uci(name)
    assert ds.x_train.shape[1] == d and ds.x_test.shape[1] == d
    assert len(ds.x_train) + len(ds.x_test) == n
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(k))
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(ds.x_train.std(0), 1, rtol=1e-10)
    again = data.uci(name.upper())
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    hot = data.uci(name, n_train=30, n_test=20, one_hot=True, seed=2)
    assert hot.y_train.shape == (30, k) and hot.x_test.shape == (20, d)


def test_uci_errors_and_load_dispatch():
    with pytest.raises(ValueError, match="name"):
        data.uci("mushrooms")
    with pytest.raises(TypeError, match="name"):
        data.uci(3)
    with pytest.raises(ValueError, match="standardize"):
        data.uci("iris", standardize="pixel")
    with pytest.raises(ValueError, match="n_train"):
        data.uci("iris", n_train=140, n_test=20)
    with pytest.raises(ValueError, match="name"):
        data.load("imagenet")
    np.testing.assert_array_equal(data.load("wine", seed=1).x_train, data.uci("wine", seed=1).x_train)
    np.testing.assert_array_equal(data.load("digits", n_train=10, n_test=10).y_train,
                                  data.digits(n_train=10, n_test=10).y_train)
    two = data.uci("iris", classes=[0, 2], n_train=40, n_test=20)
    assert set(np.unique(two.y_train)) == {0, 2}


# ---------------------------------------------------------------------------------------
# MNIST-1D, generated locally
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist1d_default(tmp_path_factory):
    """Reference MNIST-1D, generated with every download route blocked, in an empty cwd."""
    mp = pytest.MonkeyPatch()
    workdir = tmp_path_factory.mktemp("mnist1d_cwd")
    mp.chdir(workdir)
    mp.setattr(urllib.request, "urlopen", _no_network)
    import requests

    mp.setattr(requests, "get", _no_network)
    data.mnist1d_generate.cache_clear()
    state = np.random.get_state()
    ds = data.mnist1d()
    after = np.random.get_state()
    mp.undo()
    return ds, workdir, state, after


def test_mnist1d_reference_shapes_no_download(mnist1d_default):
    ds, workdir, state, after = mnist1d_default
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(10))
    assert list(workdir.iterdir()) == []  # no pickle written, nothing downloaded
    # the generator seeds numpy's global RNG; mnist1d() must leave it as it found it
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2] == after[2]
    # the generator centres and scales the whole set
    allx = np.concatenate([ds.x_train, ds.x_test])
    assert abs(allx.mean()) < 1e-2 and abs(allx.std() - 1) < 1e-2


def test_mnist1d_deterministic_subsets_and_seed(mnist1d_default):
    ref = mnist1d_default[0]
    again = data.mnist1d()  # from the in-memory cache
    np.testing.assert_array_equal(ref.x_train, again.x_train)
    again.x_train[0] += 1.0  # callers get copies, the cache is not mutated
    np.testing.assert_array_equal(ref.x_train[0], data.mnist1d().x_train[0])
    sub = data.mnist1d(n_train=100, n_test=50)
    assert sub.x_train.shape == (100, 40) and sub.x_test.shape == (50, 40)
    assert np.bincount(sub.y_train).tolist() == [10] * 10
    # subset rows are rows of the reference set
    ref_rows = {r.tobytes() for r in ref.x_train}
    assert all(r.tobytes() in ref_rows for r in sub.x_train)
    sub2 = data.mnist1d(n_train=100, n_test=50)
    np.testing.assert_array_equal(sub.x_train, sub2.x_train)
    other = data.mnist1d(n_train=100, n_test=50, seed=7)
    assert not np.array_equal(other.x_train, sub.x_train)
    hot = data.mnist1d(n_train=20, n_test=10, one_hot=True, standardize="unit_norm")
    assert hot.y_train.shape == (20, 10)
    np.testing.assert_allclose(np.linalg.norm(hot.x_train, axis=1), 1.0)


def test_mnist1d_sample_count_rule(monkeypatch):
    seen = []

    def fake_generate(total, seed):
        seen.append(total)
        split = int(total * 0.8)
        y = np.arange(total) % 10
        x = np.zeros((total, 40))
        return x[:split], y[:split], x[split:], y[split:]

    monkeypatch.setattr(data, "mnist1d_generate", fake_generate)
    data.mnist1d(100, 100)
    data.mnist1d(4500, 1000)
    data.mnist1d(1000, 1300)
    assert seen[0] == 5000
    for total, (n_tr, n_te) in zip(seen[1:], [(4500, 1000), (1000, 1300)]):
        assert total % 10 == 0 and int(total * 0.8) >= n_tr and total - int(total * 0.8) >= n_te
    with pytest.raises(TypeError, match="n_train"):
        data.mnist1d(n_train=None)
    with pytest.raises(ValueError, match="n_test"):
        data.mnist1d(n_test=0)
    with pytest.raises(ValueError, match="standardize"):
        data.mnist1d(10, 10, standardize="pixel")


# ---------------------------------------------------------------------------------------
# file formats
# ---------------------------------------------------------------------------------------
def test_idx_round_trip_and_magic_numbers(tmp_path):
    files, (x_tr, y_tr, _, _) = fake.fake_idx_set(n_train=7, n_test=3)
    import gzip

    images = gzip.decompress(files["train-images-idx3-ubyte.gz"])
    labels = gzip.decompress(files["train-labels-idx1-ubyte.gz"])
    assert images[:4] == b"\x00\x00\x08\x03" and labels[:4] == b"\x00\x00\x08\x01"
    path = tmp_path / "imgs.gz"
    path.write_bytes(files["train-images-idx3-ubyte.gz"])
    out = data.read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (7, 28, 28)
    np.testing.assert_array_equal(out, x_tr)
    np.testing.assert_array_equal(data.read_idx(labels), y_tr)  # bytes, not gzipped
    for arr in (np.arange(-6, 6, dtype=np.int16).reshape(3, 4),
                np.linspace(-1, 1, 10, dtype=np.float32),
                np.linspace(-1, 1, 8).reshape(2, 2, 2),
                np.arange(-3, 3, dtype=np.int32)):
        back = data.read_idx(fake.idx_bytes(arr))
        np.testing.assert_array_equal(back, arr)
        assert back.dtype.isnative


def test_idx_rejects_bad_files():
    good = fake.idx_bytes(np.zeros((2, 3, 3), np.uint8), compress=False)
    with pytest.raises(data.DataFormatError, match="magic"):
        data.read_idx(b"\x01\x00" + good[2:])
    with pytest.raises(data.DataFormatError, match="type code"):
        data.read_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(data.DataFormatError, match="does not match"):
        data.read_idx(good[:-1])
    with pytest.raises(data.DataFormatError, match="gzip"):
        data.read_idx(fake.idx_bytes(np.zeros(5, np.uint8))[:-6])
    assert issubclass(data.DataFormatError, ValueError)


def test_cifar_archive_round_trip(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    x_tr, y_tr, x_te, y_te = fake.fake_cifar_archive(path, n_per_batch=6, n_test=5)
    got = data.read_cifar10_archive(path)
    assert got[0].shape == (30, 32, 32, 3) and got[0].dtype == np.uint8
    for g, e in zip(got, (x_tr, y_tr, x_te, y_te)):
        np.testing.assert_array_equal(g, e)
    # modern pickles (numpy._core names) read as well
    path2 = tmp_path / "modern.tar.gz"
    expected = fake.fake_cifar_archive(path2, n_per_batch=2, n_test=2, legacy_names=False)
    np.testing.assert_array_equal(data.read_cifar10_archive(path2)[0], expected[0])


def test_cifar_channel_layout():
    # one row: 1024 red, 1024 green, 1024 blue values; pixel (r, c) at index r * 32 + c
    row = np.zeros((1, 3072), np.uint8)
    row[0, 1 * 32 + 2] = 10              # red at (1, 2)
    row[0, 1024 + 5 * 32 + 7] = 20       # green at (5, 7)
    row[0, 2048 + 31 * 32 + 0] = 30      # blue at (31, 0)
    import io
    import pickle

    blob = pickle.dumps({b"data": row, b"labels": [4]}, protocol=2)
    images, labels = data._read_cifar_batch(io.BytesIO(blob), "x")
    assert images.shape == (1, 32, 32, 3) and labels.tolist() == [4]
    assert images[0, 1, 2, 0] == 10 and images[0, 5, 7, 1] == 20 and images[0, 31, 0, 2] == 30
    assert images.sum() == 60


class _Evil:
    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_cifar_rejects_bad_archives(tmp_path):
    import io
    import pickle

    missing = tmp_path / "missing.tar.gz"
    fake.fake_cifar_archive(missing, n_per_batch=2, n_test=2, drop="data_batch_3")
    with pytest.raises(data.DataFormatError, match="data_batch_3"):
        data.read_cifar10_archive(missing)
    not_tar = tmp_path / "not.tar.gz"
    not_tar.write_bytes(b"hello")
    with pytest.raises(data.DataFormatError, match="tar"):
        data.read_cifar10_archive(not_tar)
    with pytest.raises(data.DataFormatError, match="refusing"):
        data._read_cifar_batch(io.BytesIO(pickle.dumps({b"data": _Evil()})), "evil")
    bad_shape = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(data.DataFormatError, match="3072"):
        data._read_cifar_batch(io.BytesIO(bad_shape), "bad")


# ---------------------------------------------------------------------------------------
# downloads: checksums, mirrors, atomic writes, offline errors
# ---------------------------------------------------------------------------------------
@pytest.fixture
def server():
    with fake.LoopbackServer() as srv:
        yield srv


def _serve_idx_set(server, key, prefix="/d", mode="ok", **kw):
    """Put a fake IDX set on the server and point REMOTE_FILES[key] at it."""
    files, arrays = fake.fake_idx_set(**kw)
    remotes = []
    for name, blob in files.items():
        server.routes[f"{prefix}/{name}"] = (blob, mode)
        remotes.append(data.RemoteFile(name, fake.sha256(blob), len(blob),
                                       (f"{server.base}{prefix}/{name}",)))
    return tuple(remotes), arrays


@pytest.mark.parametrize("key, loader", [("mnist", data.load_mnist),
                                         ("fashion_mnist", data.load_fashion_mnist)])
def test_idx_loader_downloads_parses_and_caches(server, tmp_path, monkeypatch, key, loader):
    remotes, (x_tr, y_tr, x_te, y_te) = _serve_idx_set(server, key)
    monkeypatch.setitem(data.REMOTE_FILES, key, remotes)
    monkeypatch.setenv("LECTURE_DATA_DIR", str(tmp_path))  # cache_dir=None -> config.data_dir()
    ds = loader(progress=False)
    assert ds.x_train.shape == (60, 28, 28, 1) and ds.x_test.shape == (30, 28, 28, 1)
    assert ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_train[..., 0], x_tr / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, y_te)
    assert _dir_listing(tmp_path) == sorted(f"{key}/{r.name}" for r in remotes)
    assert len(server.hits) == 4

    # cached: a second load, with the network forbidden, reuses the files
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    raw = loader(progress=False, standardize="none", dtype=np.uint8, flatten=True)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.shape == (60, 784)
    np.testing.assert_array_equal(raw.x_train, x_tr.reshape(60, -1))
    np.testing.assert_array_equal(raw.y_train, y_tr)
    sub = loader(n_train=20, n_test=10, classes=[1, 2, 3, 4], progress=False, download=False,
                 one_hot=True)
    assert sub.x_train.shape == (20, 28, 28, 1) and sub.y_train.shape == (20, 4)
    assert sub.y_train.sum(0).tolist() == [5, 5, 5, 5]
    assert len(server.hits) == 4
    with pytest.raises(ValueError, match="n_train"):
        loader(n_train=61, progress=False)
    with pytest.raises(ValueError, match="classes"):
        loader(classes=[10], progress=False)


def test_mirror_fallback(server, tmp_path, monkeypatch):
    remotes, arrays = _serve_idx_set(server, "mnist")
    with_dead_mirrors = tuple(
        data.RemoteFile(r.name, r.sha256, r.size,
                        (f"{server.base}/missing/{r.name}", fake.closed_port_url()) + r.urls)
        for r in remotes
    )
    monkeypatch.setitem(data.REMOTE_FILES, "mnist", with_dead_mirrors)
    ds = data.load_mnist(cache_dir=tmp_path, progress=False, standardize="none")
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays[2])
    assert all(not n.endswith(".part") for n in _dir_listing(tmp_path))


def test_corrupt_download_is_rejected_and_leaves_nothing(server, tmp_path, monkeypatch):
    blob = fake.idx_bytes(np.arange(10, dtype=np.uint8))
    server.routes["/x.gz"] = (blob, "ok")
    remote = data.RemoteFile("x.gz", hashlib.sha256(b"something else").hexdigest(), None,
                             (f"{server.base}/x.gz",))
    with pytest.raises(data.ChecksumError, match="checksum") as info:
        data.fetch(remote, tmp_path / "cache", progress=False)
    assert isinstance(info.value, OSError)
    assert _dir_listing(tmp_path) == []
    # same through a loader, with the real file names
    remotes, _ = _serve_idx_set(server, "mnist")
    broken = (data.RemoteFile(remotes[0].name, "0" * 64, None, remotes[0].urls),) + remotes[1:]
    monkeypatch.setitem(data.REMOTE_FILES, "mnist", broken)
    with pytest.raises(data.ChecksumError):
        data.load_mnist(cache_dir=tmp_path, progress=False)
    assert _dir_listing(tmp_path) == []


def test_oversized_download_is_rejected(server, tmp_path):
    blob = b"x" * 5000
    server.routes["/big"] = (blob, "ok")
    remote = data.RemoteFile("big", fake.sha256(blob), 1000, (f"{server.base}/big",))
    with pytest.raises(data.DownloadError, match="expected 1000 bytes"):
        data.fetch(remote, tmp_path, progress=False)
    assert _dir_listing(tmp_path) == []


def test_truncated_download_leaves_nothing(server, tmp_path):
    blob = bytes(range(256)) * 40
    server.routes["/t"] = (blob, "truncate")
    remote = data.RemoteFile("t.bin", fake.sha256(blob), len(blob), (f"{server.base}/t",))
    with pytest.raises(data.DownloadError, match="(?i)incomplete"):
        data.fetch(remote, tmp_path, progress=False)
    assert _dir_listing(tmp_path) == []


class _DyingResponse:
    """A urlopen() response that delivers one chunk, then fails with ``exc``."""

    def __init__(self, exc):
        self.exc = exc
        self.calls = 0
        self.headers = {"Content-Length": "100"}

    def read(self, n=-1):
        self.calls += 1
        if self.calls == 1:
            return b"a" * 50
        raise self.exc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("exc, expected", [(KeyboardInterrupt(), KeyboardInterrupt),
                                           (ConnectionResetError("reset"), data.DownloadError)])
def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, exc, expected):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _DyingResponse(exc))
    remote = data.RemoteFile("f.gz", "0" * 64, 100, ("http://example.invalid/f.gz",))
    with pytest.raises(expected):
        data.fetch(remote, tmp_path, progress=False)
    assert _dir_listing(tmp_path) == []


def test_offline_gives_clear_error(tmp_path, monkeypatch):
    remote = data.RemoteFile("f.gz", "0" * 64, None, (fake.closed_port_url("/f.gz"),))
    with pytest.raises(data.OfflineError, match="offline") as info:
        data.fetch(remote, tmp_path / "c", progress=False, timeout=2)
    assert isinstance(info.value, OSError)
    assert str(tmp_path / "c") in str(info.value) and "f.gz" in str(info.value)
    assert _dir_listing(tmp_path) == []

    # the real URL table, with DNS failing as on a machine without network
    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_dns)
    for loader, key in ((data.load_mnist, "mnist"), (data.load_fashion_mnist, "fashion_mnist"),
                        (data.load_cifar10, "cifar10")):
        with pytest.raises(data.OfflineError) as info:
            loader(cache_dir=tmp_path, progress=False)
        msg = str(info.value)
        assert "offline" in msg and str(tmp_path / key) in msg
        for remote in data.REMOTE_FILES[key]:  # every file is listed with its checksum
            assert remote.name in msg and remote.sha256 in msg
    assert _dir_listing(tmp_path) == []


def test_download_false_never_touches_network(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(data.OfflineError, match="download=False") as info:
        data.load_mnist(cache_dir=tmp_path, download=False)
    for remote in data.REMOTE_FILES["mnist"]:
        assert remote.name in str(info.value)


def test_http_error_is_not_reported_as_offline(server, tmp_path):
    remote = data.RemoteFile("nope", "0" * 64, None, (f"{server.base}/nope",))
    with pytest.raises(data.DownloadError, match="404") as info:
        data.fetch(remote, tmp_path, progress=False)
    assert not isinstance(info.value, data.OfflineError)


def test_corrupted_cache_file_is_reported_not_replaced(tmp_path, server):
    blob = b"payload" * 10
    server.routes["/p"] = (blob, "ok")
    remote = data.RemoteFile("p.bin", fake.sha256(blob), len(blob), (f"{server.base}/p",))
    path = data.fetch(remote, tmp_path, progress=False)
    assert path.read_bytes() == blob
    path.write_bytes(b"tampered")
    with pytest.raises(data.ChecksumError, match="Delete it"):
        data.fetch(remote, tmp_path, progress=False)
    assert path.read_bytes() == b"tampered" and len(server.hits) == 1


def test_cifar10_loader_via_file_url(tmp_path, monkeypatch):
    src = tmp_path / "src" / "cifar-10-python.tar.gz"
    src.parent.mkdir()
    x_tr, y_tr, x_te, y_te = fake.fake_cifar_archive(src, n_per_batch=20, n_test=20)
    blob = src.read_bytes()
    remote = data.RemoteFile("cifar-10-python.tar.gz", fake.sha256(blob), len(blob),
                             (src.as_uri(),))
    monkeypatch.setitem(data.REMOTE_FILES, "cifar10", (remote,))
    cache = tmp_path / "cache"
    ds = data.load_cifar10(cache_dir=cache, progress=False)
    assert ds.x_train.shape == (100, 32, 32, 3) and ds.x_test.shape == (20, 32, 32, 3)
    np.testing.assert_allclose(ds.x_train, x_tr / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    assert _dir_listing(cache) == ["cifar10/cifar-10-python.tar.gz"]
    src.unlink()  # the source is gone: the cached copy must be used
    chan = data.load_cifar10(cache_dir=cache, standardize="channel", flatten=True,
                             n_train=50, n_test=10, seed=1, progress=False)
    assert chan.x_train.shape == (50, 3072)
    per_channel = chan.x_train.reshape(50, 32, 32, 3)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=(0, 1, 2)), 1, rtol=1e-4)


def test_remote_table_is_well_formed():
    for key in ("mnist", "fashion_mnist", "cifar10"):
        remotes = data.REMOTE_FILES[key]
        assert remotes
        for r in remotes:
            assert re.fullmatch(r"[0-9a-f]{64}", r.sha256)
            assert r.size is not None and r.size > 1000
            assert r.urls and all(u.startswith(("https://", "http://")) for u in r.urls)
            assert all(u.endswith("/" + r.name) for u in r.urls)
    assert len(data.REMOTE_FILES["mnist"]) == len(data.REMOTE_FILES["fashion_mnist"]) == 4
    # two different data sets never share a checksum
    shas = [r.sha256 for rs in data.REMOTE_FILES.values() for r in rs]
    assert len(set(shas)) == len(shas)


def test_corrupt_labels():
    y = np.where(np.arange(400) % 2 == 0, 1.0, -1.0)
    np.testing.assert_array_equal(data.corrupt_labels(y, 0.0), y)
    full = data.corrupt_labels(y, 1.0, seed=3)
    assert set(np.unique(full)) <= {-1.0, 1.0}
    flipped = np.mean(full != y)
    assert 0.4 < flipped < 0.6  # a fresh coin for each label: about half flip
    quarter, half = data.corrupt_labels(y, 0.25, seed=3), data.corrupt_labels(y, 0.5, seed=3)
    assert np.mean(quarter != y) < np.mean(half != y) <= flipped + 1e-12
    assert np.all((quarter == y) | (half == quarter))  # nested corruption
    np.testing.assert_array_equal(data.corrupt_labels(y, 0.5, seed=3), half)  # seeded
    with pytest.raises(ValueError, match="fraction"):
        data.corrupt_labels(y, 1.5)
    with pytest.raises(ValueError, match="y must contain"):
        data.corrupt_labels(np.array([0.0, 1.0]), 0.5)


def test_two_class_data_digits_and_offline_fallback(monkeypatch, capsys):
    (x_tr, y_tr, x_te, y_te), name = data.two_class_data("digits", (1, 7), seed=0)
    assert name == "digits 1 vs 7" and x_tr.shape[1] == 64 and len(x_tr) == len(y_tr)
    np.testing.assert_allclose(np.linalg.norm(x_tr, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(x_te, axis=1), 1.0)
    assert set(np.unique(y_tr)) == {-1.0, 1.0} and set(np.unique(y_te)) <= {-1.0, 1.0}
    assert len(y_tr) + len(y_te) > 300  # all images of the two digits (about 180 each)

    def offline(*args, **kwargs):
        raise data.OfflineError("no network")

    monkeypatch.setattr(data, "load", offline)
    ds, name = data.two_class_data("mnist", (1, 7), n_train=10_000, fallback_classes=(3, 8))
    assert name == "digits 3 vs 8" and "mnist unavailable (OfflineError)" in capsys.readouterr().out
    assert len(ds.y_train) < 10_000

    rng = np.random.default_rng(0)
    fake = data.Dataset(rng.normal(size=(40, 6)), np.arange(40) % 4, rng.normal(size=(12, 6)), np.arange(12) % 4)
    monkeypatch.setattr(data, "load", lambda *a, **k: fake)
    (x_tr, y_tr, _, y_te), name = data.two_class_data("cifar10", (0, 1))
    assert name == "cifar10 0 vs 1" and len(y_tr) == 20 and len(y_te) == 6
    np.testing.assert_allclose(np.linalg.norm(x_tr, axis=1), 1.0)
    with pytest.raises(ValueError, match="classes"):
        data.two_class_data("digits", (1, 7, 9))
