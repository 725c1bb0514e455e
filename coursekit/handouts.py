"""Student handouts: every numbered notebook without its solutions (``make handouts``).

For each ``notebooks/NN_<slug>.ipynb`` this writes ``build/handouts/NN_<slug>.ipynb``:

* the cells tagged ``solution`` are removed (and ``<details><summary>Solution`` blocks of
  notebooks not yet converted by ``make convert-solutions``, see :mod:`coursekit.notebooks`);
* outputs are cleared (``--outputs clear``, the default: students run the notebook), or kept
  (``--outputs keep``): then they are the outputs of executing *the handout itself*, fresh or from
  the execution cache, never the stored outputs of the instructor's notebook;
* then it is checked: :func:`leaks` finds no solution text in it, and it executes without error
  (through the execution cache of :mod:`coursekit.execute`: a handout whose code cells are those of
  an instructor notebook that has just been executed is not executed a second time; one from
  which solution code was removed is executed).

Exit status 1 if a handout leaks solution text or does not execute.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from . import execute
from .notebooks import (NOTEBOOK_DIR, REPO, SOLUTION_TAG, cell_text, is_solution, notebook_text,
                        numbered_notebooks, read, solution_cells, split_details_solutions,
                        without_solutions)

DEFAULT_OUT = REPO / "build" / "handouts"
MIN_FRAGMENT = 24  # characters: shorter lines ("1. $k=8$", "</details>") are not distinctive

# Text that looks like a solution although no cell is tagged: a handout containing it fails.
_SUSPICIOUS = [
    (re.compile(r"<summary\b[^>]*>\s*(?:<[^>]+>\s*)*(solutions?|answers?)\b", re.I),
     "a <details><summary>Solution block"),
    (re.compile(r"^\s{0,3}#{1,6}\s*(solutions?|answers?)\b", re.I | re.M), "a 'Solution' heading"),
    (re.compile(r"^\s*(\*\*|__)(solutions?|answers?)\b[^*_\n]{0,20}(\*\*|__)", re.I | re.M),
     "a bold 'Solution' label"),
]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _fragments(cell: NotebookNode) -> list[str]:
    """Distinctive lines of a solution cell (its HTML folding tags dropped)."""
    text = re.sub(r"</?(details|summary)\b[^>]*>", "\n", cell.source, flags=re.I)
    text = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", text, flags=re.M)  # list markers
    return [f for f in (_normalise(line) for line in text.splitlines()) if len(f) >= MIN_FRAGMENT]


def leaks(handout: NotebookNode, instructor: NotebookNode) -> list[str]:
    """Problems that show solution text in ``handout``; an empty list means none was found.

    Checks: no cell is tagged ``solution``; no distinctive line of any solution cell of
    ``instructor`` appears in the handout's sources or text outputs (lines that the instructor's
    notebook also has outside its solutions, e.g. a question repeated in its answer, are not
    distinctive); no untagged text that looks like a solution (a ``<summary>Solution`` block, a
    'Solution' heading or bold label).
    """
    problems = []
    for i, cell in enumerate(handout.cells):
        if is_solution(cell):
            problems.append(f"cell {i} is tagged {SOLUTION_TAG!r}")
    converted, _ = split_details_solutions(instructor)
    public = _normalise(notebook_text([c for c in converted.cells if not is_solution(c)]))
    text = _normalise(notebook_text(handout.cells))
    for k, cell in enumerate(solution_cells(instructor)):
        for frag in _fragments(cell):
            if frag in text and frag not in public:
                problems.append(f"text of solution {k + 1} reached the handout: {frag[:80]!r}")
    for i, cell in enumerate(handout.cells):
        src = cell_text(cell)
        for pattern, what in _SUSPICIOUS:
            m = pattern.search(src)
            if m:
                problems.append(f"cell {i} contains {what} ({m.group(0).strip()[:40]!r}) but is not "
                                f"tagged {SOLUTION_TAG!r}: tag it (docs/authoring.md)")
    return problems


def clear_outputs(nb: NotebookNode) -> NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def make_handout(instructor: NotebookNode) -> NotebookNode:
    """The handout of ``instructor``: solution cells removed, outputs cleared (not executed)."""
    return clear_outputs(without_solutions(instructor))


def build(notebooks: list[Path], out_dir: Path, *, outputs: str = "clear", run: bool = True,
          force: bool = False, log=print) -> list[str]:
    """Write and check the handouts; returns the problems found (empty: all good)."""
    if outputs not in ("clear", "keep"):
        raise ValueError(f"outputs must be 'clear' or 'keep', got {outputs!r}")
    if outputs == "keep" and not run:
        raise ValueError("outputs='keep' needs the handouts executed (run=True)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ipynb"):
        if stale.name not in {p.name for p in notebooks}:
            stale.unlink()
    problems: list[str] = []
    for path in notebooks:
        instructor = read(path)
        _, legacy = split_details_solutions(instructor)
        if legacy:
            log(f"  note: {path.name}: {legacy} untagged <details> solution block(s) removed; "
                f"run `make convert-solutions` to tag them")
        handout = make_handout(instructor)
        n_removed = len(solution_cells(instructor))
        found = [f"{path.name}: {p}" for p in leaks(handout, instructor)]
        if not n_removed:
            found.append(f"{path.name}: no solution cells found: exercises need solutions, tagged "
                         f"{SOLUTION_TAG!r} (docs/authoring.md)")
        status = f"{n_removed} solution cell(s) removed"
        if run and not found:
            t0 = time.monotonic()
            try:
                result = execute.run(handout, cwd=path.parent, label=f"handout {path.name}", force=force)
            except execute.NotebookFailed as exc:
                found.append(f"handout {path.name} does not execute:\n{exc}")
            else:
                how = "same code as an executed notebook: cache hit" if result.cached else "executed"
                status += f", runs ({how}, {time.monotonic() - t0:.1f} s)"
                if outputs == "keep":
                    handout = result.notebook
        if not found:
            nbformat.write(handout, str(out_dir / path.name))
            log(f"  {path.name}: {status}")
        problems += found
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.handouts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR, help="directory of NN_*.ipynb")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--outputs", choices=("clear", "keep"), default="clear",
                        help="clear the outputs (default) or keep those of executing the handout")
    parser.add_argument("--no-run", action="store_true", help="skip the execution check")
    parser.add_argument("--force", action="store_true", help="execute even when the cache has the result")
    args = parser.parse_args(argv)
    notebooks = numbered_notebooks(args.notebooks)
    if not notebooks:
        print(f"no NN_*.ipynb in {args.notebooks}", file=sys.stderr)
        return 1
    print(f"handouts of {len(notebooks)} notebooks -> {args.out} (outputs: {args.outputs})")
    problems = build(notebooks, args.out, outputs=args.outputs, run=not args.no_run, force=args.force)
    if problems:
        print("\nHANDOUTS FAILED:\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"handouts OK: {len(notebooks)} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
