"""The numbered notebooks and the markers their authors use (documented in docs/authoring.md).

Markers (cell tags, set in JupyterLab with the property inspector, or in the cell's JSON metadata):

``solution``
    On a markdown or code cell: the cell is a solution. It stays in the instructor's notebook (and
    on the course site, folded in its ``<details>`` block), and is removed from the handouts.
``widget-gallery``
    On a code cell right after a widget: its outputs are a small static gallery of the widget
    (the figure at a few settings). The course site shows it under the widget's note, with the
    code folded; in a live notebook it is an ordinary cell.

Before the ``solution`` tag existed, solutions sat in ``<details><summary>Solution...</summary>``
blocks inside the exercise cell. :func:`split_details_solutions` moves each such block into its own
cell tagged ``solution`` (``make convert-solutions`` rewrites the notebooks); the site and handout
builders apply it in memory to notebooks not converted yet.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Iterable

import nbformat
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

SOLUTION_TAG = "solution"
GALLERY_TAG = "widget-gallery"

# <details ...> whose <summary> says Solution(s) / Answer(s): the pre-tag way of writing solutions.
_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_DETAILS_ANY = re.compile(r"<(/?)details\b[^>]*>", re.IGNORECASE)
_SOLUTION_SUMMARY = re.compile(r"\s*<summary\b[^>]*>\s*(?:<[^>]+>\s*)*(solutions?|answers?)\b",
                               re.IGNORECASE)


def numbered_notebooks(directory: Path | str = NOTEBOOK_DIR) -> list[Path]:
    """Every ``NN_<slug>.ipynb`` in ``directory``, in lecture order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"notebook directory {directory} does not exist")
    return sorted(p for p in directory.glob(NOTEBOOK_GLOB) if p.is_file())


def notebook_paths(paths: Iterable[Path] = ()) -> list[Path]:
    """The notebooks named by command-line ``paths``: a directory stands for its numbered
    notebooks, a file for itself; no paths: every numbered notebook in ``notebooks/``."""
    files: list[Path] = []
    for p in list(paths) or [NOTEBOOK_DIR]:
        files += numbered_notebooks(p) if Path(p).is_dir() else [Path(p)]
    return files


def read(path: Path | str) -> NotebookNode:
    return nbformat.read(str(path), as_version=4)


def tags(cell: NotebookNode) -> list[str]:
    value = cell.get("metadata", {}).get("tags", [])
    return [str(t) for t in value] if isinstance(value, list) else []


def add_tag(cell: NotebookNode, tag: str) -> None:
    cell.setdefault("metadata", {})
    current = tags(cell)
    if tag not in current:
        cell.metadata["tags"] = current + [tag]


def is_solution(cell: NotebookNode) -> bool:
    return SOLUTION_TAG in tags(cell)


def _solution_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level ``<details>`` block whose summary names a solution."""
    blocks = []
    pos = 0
    while True:
        m = _DETAILS_OPEN.search(text, pos)
        if not m:
            return blocks
        depth, end = 0, None
        for t in _DETAILS_ANY.finditer(text, m.start()):
            depth += -1 if t.group(1) else 1
            if depth == 0:
                end = t.end()
                break
        if end is None:  # unclosed: leave the rest of the cell alone
            return blocks
        if _SOLUTION_SUMMARY.match(text, m.end()):
            blocks.append((m.start(), end))
        pos = end


def _unique_id(base: str, suffix: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-zA-Z0-9_-]", "-", base or "cell")[: 64 - len(suffix) - 3]
    candidate, k = f"{base}-{suffix}", 2
    while candidate in taken:
        candidate, k = f"{base}-{suffix}{k}", k + 1
    taken.add(candidate)
    return candidate


def split_details_solutions(nb: NotebookNode) -> tuple[NotebookNode, int]:
    """Move every ``<details><summary>Solution...`` block of an untagged markdown cell into its own cell.

    The block (``<details>`` folding included, so the instructor's copy still folds it) becomes a
    markdown cell tagged ``solution``; text before and after it stays in cells of its own, with the
    original cell's metadata. Code cells are never touched. Returns ``(new notebook, blocks moved)``;
    the input is not modified, and a notebook without such blocks comes back equal to the input.
    """
    out = copy.deepcopy(nb)
    taken = {c.get("id") for c in out.cells if c.get("id")}
    has_ids = any("id" in c for c in out.cells)
    cells, moved = [], 0
    for cell in out.cells:
        blocks = [] if cell.cell_type != "markdown" or is_solution(cell) else _solution_blocks(cell.source)
        if not blocks:
            cells.append(cell)
            continue
        pieces: list[tuple[str, bool]] = []
        pos = 0
        for start, end in blocks:
            pieces.append((cell.source[pos:start], False))
            pieces.append((cell.source[start:end], True))
            pos = end
        pieces.append((cell.source[pos:], False))
        first = True
        for text, solution in pieces:
            text = text.strip("\n")
            if not text.strip():
                continue
            new = copy.deepcopy(cell)
            new.source = text
            if solution:
                add_tag(new, SOLUTION_TAG)
                moved += 1
            if has_ids and not first:
                new.id = _unique_id(cell.get("id", ""), "solution" if solution else "cont", taken)
            first = False
            cells.append(new)
    out.cells = cells
    return out, moved


def solution_cells(nb: NotebookNode) -> list[NotebookNode]:
    """The solution cells, after moving untagged ``<details>`` solutions into their own cells."""
    converted, _ = split_details_solutions(nb)
    return [c for c in converted.cells if is_solution(c)]


def without_solutions(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` without its solution cells (tagged ones and untagged ``<details>`` blocks)."""
    converted, _ = split_details_solutions(nb)
    converted.cells = [c for c in converted.cells if not is_solution(c)]
    return converted


def cell_text(cell: NotebookNode, outputs: bool = True) -> str:
    """Source and (optionally) the text of a cell's outputs, for searching."""
    parts = [cell.source]
    if outputs and cell.cell_type == "code":
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                parts.append("\n".join([out.get("evalue", "")] + out.get("traceback", [])))
            else:
                data = out.get("data", {})
                for mime in ("text/plain", "text/markdown", "text/html", "text/latex"):
                    if mime in data:
                        value = data[mime]
                        parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def notebook_text(cells: Iterable[NotebookNode], outputs: bool = True) -> str:
    return "\n".join(cell_text(c, outputs) for c in cells)
