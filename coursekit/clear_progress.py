"""Remove progress-bar outputs (tqdm) from notebooks: ``python -m coursekit.clear_progress``.

Standard 6 of the developers' guide: long loops show progress while they run, and the bars are
cleared before the notebook is saved. ``tqdm.auto`` in a kernel draws an ipywidgets ``HBox``
(``application/vnd.jupyter.widget-view+json`` output whose ``text/plain`` is the bar) and plain
tqdm writes ``\\r``-redrawn lines to stderr; nbconvert and JupyterLab store both. This removes
exactly those outputs (nothing else: figures, prints and widgets of the lecture stay) and the
saved widget states of the removed bars. ``--check`` changes nothing and exits 1 if a notebook
holds a progress bar (``tests/test_coursekit.py`` runs it on ``notebooks/``).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .notebooks import notebook_paths

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# what tqdm prints: "desc:  40%|####      | 2/5 [00:01<00:02, 1.9it/s]"
_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\|\s*\d+/\d+ \[|\d+(\.\d+)?(it/s|s/it)\]")


def is_progress_output(output: NotebookNode) -> bool:
    """A tqdm bar: a widget output whose text is a bar, or a stderr stream of bar lines."""
    if output.get("output_type") == "stream":
        return output.get("name") == "stderr" and bool(_BAR.search(str(output.get("text", ""))))
    data = output.get("data", {})
    if WIDGET_MIME in data:
        text = data.get("text/plain", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        return bool(_BAR.search(text))
    return False


def clear(nb: NotebookNode) -> int:
    """Remove progress outputs in place; return how many were removed."""
    removed, dead_models = 0, set()
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        keep = []
        for out in cell.get("outputs", []):
            if is_progress_output(out):
                removed += 1
                model = out.get("data", {}).get(WIDGET_MIME, {}).get("model_id")
                if model:
                    dead_models.add(model)
            else:
                keep.append(out)
        cell["outputs"] = keep
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    if dead_models and "state" in state:
        # the bar's HBox and its children (progress, labels, layouts, styles): drop what only they use
        models = state["state"]
        todo = list(dead_models)
        while todo:
            mid = todo.pop()
            entry = models.pop(mid, None)
            if not entry:
                continue
            refs = re.findall(r"IPY_MODEL_([0-9a-f]+)", str(entry.get("state", {})))
            todo += [r for r in refs if r in models]
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.clear_progress",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks or directories (default: every NN_*.ipynb in notebooks/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a bar is stored")
    args = parser.parse_args(argv)
    files = notebook_paths(args.paths)
    found = 0
    for path in files:
        nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
        n = clear(nb)
        found += n
        if n:
            print(f"{path}: {'holds' if args.check else 'removed'} {n} progress-bar output(s)")
            if not args.check:
                nbformat.write(nb, str(path))
    if not found:
        print(f"{len(files)} notebook(s): no progress-bar outputs")
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
