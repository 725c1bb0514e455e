"""Convert ``<details><summary>Solution`` blocks into cells tagged ``solution`` (``make convert-solutions``).

Rewrites each notebook in place: every such block of an untagged markdown cell becomes its own
markdown cell tagged ``solution`` (its ``<details>`` folding kept, so the instructor's copy still
folds it); the text before and after it stays in cells of its own. Code cells, outputs and every
other cell are left exactly as they are, so no stored execution is invalidated. Running it twice
changes nothing the second time. ``--check`` changes nothing and exits 1 if a notebook would change
(for CI once the notebooks are converted).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from .notebooks import notebook_paths, split_details_solutions


def convert_file(path: Path, *, check: bool = False) -> int:
    """Blocks moved in ``path`` (written back unless ``check``)."""
    nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    new, moved = split_details_solutions(nb)
    if moved and not check:
        nbformat.validate(new)
        nbformat.write(new, str(path))
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks or directories (default: every NN_*.ipynb in notebooks/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook would change")
    args = parser.parse_args(argv)
    files = notebook_paths(args.paths)
    pending = 0
    for path in files:
        moved = convert_file(path, check=args.check)
        pending += moved
        if moved:
            verb = "would move" if args.check else "moved"
            print(f"{path}: {verb} {moved} <details> solution block(s) into cells tagged 'solution'")
    if not pending:
        print(f"{len(files)} notebook(s): every <details> solution is already in a cell tagged 'solution'")
    return 1 if args.check and pending else 0


if __name__ == "__main__":
    sys.exit(main())
