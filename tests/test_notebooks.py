"""Every numbered notebook executes from top to bottom without an error.

Its assertion cells are the checks (standard 4 of the developers' guide): a claim that stops
showing raises, and the test fails with the failing cell's source and traceback.

Each notebook is executed afresh, with the kernel of this interpreter (coursekit.execute: nbclient,
``NOTEBOOK_CELL_TIMEOUT`` seconds per cell, default 600), and the executed copy is stored in
``build/jupyter_cache/``. ``make site`` and ``make handouts``, which ``make test`` runs next, reuse
those executions instead of executing every notebook a second and third time (see
coursekit/execute.py for when a stored execution counts as the same). This test replaces the
nbval run over ``notebooks/``; for a cell-by-cell report of one notebook, nbval still works::

    .venv/bin/python -m pytest --nbval-lax notebooks/03_training_speed_spectral_bias.ipynb

Every ``notebooks/NN_<slug>.ipynb`` is a test case, found when the tests are collected.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import execute  # noqa: E402
from coursekit.notebooks import numbered_notebooks, read  # noqa: E402

NOTEBOOKS = numbered_notebooks()


def test_notebooks_found():
    assert NOTEBOOKS, "no notebooks/NN_<slug>.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path):
    try:
        result = execute.run(read(path), cwd=path.parent, label=path.name, force=True)
    except execute.NotebookFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    assert not result.cached
    print(f"[test_notebooks] {path.name}: executed in {result.seconds:.1f} s")
