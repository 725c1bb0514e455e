"""Execute notebooks once and share the result: the notebook tests, the site and the handouts.

One executor (nbclient, the kernel of this interpreter) and one store of executed notebooks
(jupyter-cache, in ``build/jupyter_cache/<environment key>/``):

* ``tests/test_notebooks.py`` (part of ``make test``) executes every numbered notebook afresh and
  stores the executed copy;
* ``make site`` and ``make handouts`` then look each notebook up and execute only what the store
  does not have. On a fresh clone the store is empty, so they execute everything themselves, and
  they fail if a notebook fails.

When is a stored execution reused? When the *code* to run is the same: jupyter-cache hashes the
notebook's code cells (their sources, in order) and its kernelspec, and ignores markdown, so a
notebook whose prose changed, or a handout that lost only markdown solutions, reuses the execution,
while any code edit executes the notebook again. Cell metadata does not count except the tags that
change execution (``raises-exception``, ``skip-execution``). Everything else the outputs depend on
picks the store's directory, the *environment key*: every file of ``lecture_lib/``, the installed
distributions and their versions, the Python version and machine, and the ``LECTURE_*``,
``JAX_*`` and ``XLA_*`` environment variables. Edit ``lecture_lib`` or change ``LECTURE_SEED``
and nothing stored is reused. The three most recently used stores are kept.

Environment: ``NOTEBOOK_CELL_TIMEOUT`` (seconds per cell, default 600), ``COURSEKIT_CACHE``
(directory of the stores, default ``build/jupyter_cache``).
"""
from __future__ import annotations

import copy
import hashlib
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from .notebooks import REPO

EXECUTION_TAGS = ("raises-exception", "skip-execution")
KEEP_STORES = 3
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookFailed(RuntimeError):
    """A notebook raised, timed out or lost its kernel; the message names the cell."""


@dataclass
class Result:
    notebook: NotebookNode  # the input notebook with the executed outputs
    cached: bool            # True: reused from the store, not executed now
    seconds: float          # execution time (of the stored execution when cached)


def cell_timeout() -> int:
    raw = os.environ.get("NOTEBOOK_CELL_TIMEOUT", "600")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"NOTEBOOK_CELL_TIMEOUT must be an integer number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"NOTEBOOK_CELL_TIMEOUT must be positive, got {value}")
    return value


def environment_key() -> str:
    """Digest of everything besides the code cells that a notebook's outputs depend on."""
    h = hashlib.sha256()
    h.update(f"{sys.version}\n{platform.machine()}\n".encode())
    dists = set()  # installed distributions: their name-version.dist-info folders (fast to list)
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages") and os.path.isdir(entry):
            dists.update(n for n in os.listdir(entry) if n.endswith((".dist-info", ".egg-info")))
    h.update("\n".join(sorted(dists)).encode())
    lib = REPO / "lecture_lib"
    for path in sorted(lib.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            h.update(str(path.relative_to(lib)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in sorted(os.environ):
        if name.startswith(("LECTURE_", "JAX_", "XLA_")):
            h.update(f"{name}={os.environ[name]}\n".encode())
    return h.hexdigest()[:20]


def store_root() -> Path:
    return Path(os.environ.get("COURSEKIT_CACHE", REPO / "build" / "jupyter_cache")).expanduser()


def _store(key: str):
    from jupyter_cache import get_cache

    root = store_root()
    path = root / key
    path.mkdir(parents=True, exist_ok=True)
    os.utime(path)
    stores = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stores[KEEP_STORES:]:
        shutil.rmtree(old, ignore_errors=True)
    return get_cache(str(path))


def _hashable(nb: NotebookNode) -> NotebookNode:
    """Copy of ``nb`` whose code-cell metadata keeps only the tags that change execution."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            kept = [t for t in cell.get("metadata", {}).get("tags", []) if t in EXECUTION_TAGS]
            cell.metadata = {"tags": kept} if kept else {}
    return nb


def _merge(nb: NotebookNode, executed: NotebookNode) -> NotebookNode:
    """``nb`` with the outputs of ``executed`` (same code cells, in the same order)."""
    out = copy.deepcopy(nb)
    done = [c for c in executed.cells if c.cell_type == "code"]
    mine = [c for c in out.cells if c.cell_type == "code"]
    if len(done) != len(mine):
        raise RuntimeError(f"stored notebook has {len(done)} code cells, this one {len(mine)}")
    for cell, ran in zip(mine, done):
        cell.outputs = copy.deepcopy(ran.get("outputs", []))
        cell.execution_count = ran.get("execution_count")
    for key in ("widgets", "language_info"):
        if key in executed.metadata:
            out.metadata[key] = copy.deepcopy(executed.metadata[key])
        else:
            out.metadata.pop(key, None)
    return out


def _kernel_manager_class():
    from jupyter_client.kernelspec import KernelSpecManager
    from traitlets import default

    from .kernel_client import EdgeSafeAsyncKernelManager

    class CurrentEnvKernelManager(EdgeSafeAsyncKernelManager):
        """The ipykernel of this interpreter, whatever kernelspecs are installed (as nbval's
        ``--nbval-current-env``), with a client that does not lose replies on a busy CPU
        (coursekit/kernel_client.py)."""

        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return KernelSpecManager(kernel_dirs=[])

    return CurrentEnvKernelManager


def execute_fresh(nb: NotebookNode, *, cwd: Path | str, label: str) -> tuple[NotebookNode, float]:
    """Execute a copy of ``nb`` in ``cwd``; raises :class:`NotebookFailed` naming the failing cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = copy.deepcopy(nb)
    current = {"index": None}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(
        nb, timeout=cell_timeout(), startup_timeout=180, iopub_timeout=60, kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(), allow_errors=False, record_timing=False,
        store_widget_state=True, on_cell_start=on_cell_start,
        resources={"metadata": {"path": str(cwd)}},
    )
    t0 = time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        i = current["index"]
        where = f"cell {i}" if i is not None else "kernel start"
        message = _ANSI.sub("", str(exc))
        source = nb.cells[i].source if i is not None else ""
        if source and source not in message:
            message = "\n".join("    " + line for line in source.splitlines()[:25]) + "\n" + message
        raise NotebookFailed(f"{label}: {where} failed ({type(exc).__name__})\n{message}") from None
    return nb, time.monotonic() - t0


def run(nb: NotebookNode, *, cwd: Path | str, label: str, force: bool = False) -> Result:
    """``nb`` executed: from the store when it has this code in this environment, else now.

    ``force=True`` always executes (the notebook tests). A successful execution is stored unless
    the environment changed while it ran (someone edited ``lecture_lib``): then it is not known
    which version ran.
    """
    from jupyter_cache.base import CacheBundleIn

    key = environment_key()
    store = _store(key)
    if not force:
        try:
            record = store.match_cache_notebook(_hashable(nb))
        except KeyError:
            record = None
        if record is not None:
            try:
                stored = store.get_cache_bundle(record.pk).nb
            except KeyError:  # the record's file is gone: execute
                stored = None
            if stored is not None:
                return Result(_merge(nb, stored), True, float(record.data.get("execution_seconds", 0.0)))
    executed, seconds = execute_fresh(nb, cwd=cwd, label=label)
    if environment_key() == key:
        store.cache_notebook_bundle(
            CacheBundleIn(_hashable(executed), label, data={"execution_seconds": seconds}),
            check_validity=False, overwrite=True)
    return Result(executed, False, seconds)
