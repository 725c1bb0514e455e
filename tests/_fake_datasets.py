"""Small files in the real MNIST (IDX) and CIFAR-10 (python pickle tar.gz) formats, and a
loopback HTTP server to serve them, for testing lecture_lib.data without internet.

The writers here are independent of lecture_lib.data's readers (struct + gzip by hand), so
a round trip checks the parser against the published format, not against itself.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np

IDX_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
                  np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(array: np.ndarray, compress: bool = True) -> bytes:
    """Encode ``array`` as an IDX file: 0, 0, type code, ndim, big-endian dims, big-endian data."""
    arr = np.asarray(array)
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    code = IDX_TYPE_CODES[np.dtype(big.dtype)]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + np.ascontiguousarray(big).tobytes()
    return gzip.compress(raw, mtime=0) if compress else raw


def fake_idx_set(n_train: int = 60, n_test: int = 30, size: int = 28, seed: int = 0):
    """Fake MNIST-like files: ``({file name: gz bytes}, (x_train, y_train, x_test, y_test))``.

    Labels cycle through 0..9 (so every class is present); images are random uint8.
    """
    rng = np.random.default_rng(seed)
    x_tr = rng.integers(0, 256, size=(n_train, size, size), dtype=np.uint8)
    x_te = rng.integers(0, 256, size=(n_test, size, size), dtype=np.uint8)
    y_tr = (np.arange(n_train) % 10).astype(np.uint8)
    y_te = (np.arange(n_test) % 10).astype(np.uint8)
    rng.shuffle(y_tr)
    files = {
        "train-images-idx3-ubyte.gz": idx_bytes(x_tr),
        "train-labels-idx1-ubyte.gz": idx_bytes(y_tr),
        "t10k-images-idx3-ubyte.gz": idx_bytes(x_te),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(y_te),
    }
    return files, (x_tr, y_tr, x_te, y_te)


def _cifar_batch_pickle(images: np.ndarray, labels: np.ndarray, legacy_names: bool) -> bytes:
    """One CIFAR batch as the original python-2 pickles: bytes keys, rows R|G|B planes."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)
    batch = {
        b"batch_label": b"fake batch",
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(rows, dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    blob = pickle.dumps(batch, protocol=2)
    if legacy_names:  # files written by numpy 1.x / python 2 name numpy.core, not numpy._core
        blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return blob


def fake_cifar_archive(path: Path, n_per_batch: int = 12, n_test: int = 10, seed: int = 0,
                       drop: str | None = None, legacy_names: bool = True):
    """Write a CIFAR-10-like ``cifar-10-python.tar.gz``; return the arrays it holds.

    ``drop`` leaves one member (e.g. ``"data_batch_3"``) out of the archive.
    """
    rng = np.random.default_rng(seed)
    batches = {}
    xs, ys = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, size=(n_per_batch, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, size=n_per_batch)
        batches[f"data_batch_{i}"] = (x, y)
        xs.append(x)
        ys.append(y)
    x_te = rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8)
    y_te = np.arange(n_test) % 10
    batches["test_batch"] = (x_te, y_te)
    with tarfile.open(path, "w:gz") as tar:
        meta = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
        members = {"batches.meta": meta, "readme.html": b"<html></html>"}
        members.update({k: _cifar_batch_pickle(x, y, legacy_names) for k, (x, y) in batches.items()})
        for name, blob in members.items():
            if name == drop:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return np.concatenate(xs), np.concatenate(ys), x_te, y_te


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def closed_port_url(path: str = "/file") -> str:
    """A loopback URL on a port nobody listens to (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class LoopbackServer:
    """HTTP server on 127.0.0.1 (random port) in a daemon thread.

    ``routes[path] = (body, mode)`` with mode ``"ok"``, ``"truncate"`` (announces the full
    Content-Length, sends half the body, closes) or ``"404"``.  ``hits`` counts requests.
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.hits.append(self.path)
                body, mode = outer.routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
