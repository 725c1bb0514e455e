"""The course site (``make site``): Sphinx + myst-nb over freshly executed notebooks.

1. Every ``notebooks/NN_<slug>.ipynb`` is executed through :mod:`coursekit.execute` (reusing a
   stored execution of the same code in the same environment, e.g. the one ``make test`` just
   made); the build stops with the failing cell's traceback if a notebook fails.
2. Each executed notebook is made static-page honest by :func:`coursekit.static.static_notebook`
   (widget notes with Binder links, galleries, alt texts) and staged in ``build/site-src/`` with
   the index (table of contents; the README's notebook table), ``docs/*.md`` (the slide map, with
   links to the notebooks; the authoring guide) and a copy of README.md for the include.
3. ``sphinx-build -W`` renders it with the configuration in ``coursekit/sphinx/`` (myst-nb with
   execution off, sphinx-book-theme: sidebar table of contents, previous/next links, search;
   MathJax served from the site itself by sphinx-mathjax-offline). Warnings fail the build.

The site is ``build/site/index.html``; it needs no network to view (open it from the disk, or
serve the folder). Options: ``--solutions remove`` leaves the solutions out (a student site),
``--fresh`` executes every notebook even if a stored execution exists.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import nbformat

from . import config, execute
from .notebooks import NOTEBOOK_DIR, REPO, numbered_notebooks, read, split_details_solutions, without_solutions
from .static import static_notebook

CONF_DIR = Path(__file__).resolve().parent / "sphinx"
DEFAULT_OUT = REPO / "build" / "site"
STAGE = REPO / "build" / "site-src"
DOCTREES = REPO / "build" / "site-doctrees"
README_MARKERS = ("<!-- site:notebooks-table:start -->", "<!-- site:notebooks-table:end -->")


def linkify_slide_map(text: str, stems: dict[str, str]) -> str:
    """Turn 'NN name' in the slide map's notebook column into links to the staged notebooks."""
    def link(part: str) -> str:
        m = re.match(r"(\s*)(\d\d) ([^()]+?)(\s*\([^)]*\))?(\s*)$", part)
        if not m or m.group(2) not in stems:
            return part
        lead, nn, name, suffix, trail = m.groups()
        return f"{lead}[{nn} {name}](../notebooks/{stems[nn]}.ipynb){suffix or ''}{trail}"

    lines = []
    for line in text.splitlines():
        cells = line.split("|")
        if line.lstrip().startswith("|") and len(cells) >= 4 and not re.fullmatch(r"[\s|:-]+", line):
            cells[-2] = ",".join(link(p) for p in cells[-2].split(","))
            line = "|".join(cells)
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


_LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?\)")


def repo_links(text: str, rel_dir: str, pages: set[str], course: config.Course) -> str:
    """Point relative links to repository files that are not site pages (``lecture_lib/...``) at GitHub."""
    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            return m.group(0)
        path = posixpath.normpath(posixpath.join(rel_dir, unquote(target)))
        if path in pages or path.startswith("..") or not (REPO / path).exists():
            return m.group(0)  # a page of the site, or broken: sphinx -W reports it
        return f"{m.group(1)}{course.repository_url}/blob/{course.branch}/{path}{m.group(3) or ''})"
    return _LINK.sub(fix, text)


def stage(notebooks: dict[str, nbformat.NotebookNode], stage_dir: Path, course: config.Course,
          notebook_dir: Path = NOTEBOOK_DIR) -> None:
    """Write the Sphinx source tree: index, README copy, docs, static notebooks."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    (stage_dir / "notebooks").mkdir(parents=True)
    docs = sorted((REPO / "docs").glob("*.md"))
    pages = {f"notebooks/{name}" for name in notebooks} | {f"docs/{d.name}" for d in docs}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for marker in README_MARKERS:
        if marker not in readme:
            raise SystemExit(f"README.md lacks the marker {marker!r} around the notebook table "
                             "(the site includes that table)")
    (stage_dir / "README.md").write_text(repo_links(readme, "", pages, course), encoding="utf-8")
    shutil.copy(CONF_DIR / "index.md", stage_dir / "index.md")
    stems = {name[:2]: Path(name).stem for name in notebooks}
    (stage_dir / "docs").mkdir()
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        if doc.name == "slide_map.md":
            text = linkify_slide_map(text, stems)
        (stage_dir / "docs" / doc.name).write_text(repo_links(text, "docs", pages, course), encoding="utf-8")
    for asset in notebook_dir.iterdir():  # images etc. that notebooks reference
        if asset.is_file() and asset.suffix != ".ipynb" and not asset.name.startswith("."):
            shutil.copy(asset, stage_dir / "notebooks" / asset.name)
    for name, nb in notebooks.items():
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = repo_links(cell.source, "notebooks", pages, course)
        nbformat.write(nb, str(stage_dir / "notebooks" / name))


def build(out: Path = DEFAULT_OUT, *, notebook_dir: Path = NOTEBOOK_DIR, solutions: str = "fold",
          fresh: bool = False) -> int:
    if solutions not in ("fold", "remove"):
        raise ValueError(f"solutions must be 'fold' or 'remove', got {solutions!r}")
    course = config.load()
    paths = numbered_notebooks(notebook_dir)
    if not paths:
        print(f"no NN_*.ipynb in {notebook_dir}", file=sys.stderr)
        return 1
    if not course.published:
        print(f"note: course.toml still has repository.github = {config.PLACEHOLDER!r}: "
              "the Binder and GitHub links point nowhere until it is set")
    t_all = time.monotonic()
    print(f"== executing {len(paths)} notebooks (stored executions reused: {not fresh})")
    staged = {}
    for path in paths:
        nb, _ = split_details_solutions(read(path))
        if solutions == "remove":
            nb = without_solutions(nb)
        t0 = time.monotonic()
        try:
            result = execute.run(nb, cwd=path.parent, label=path.name, force=fresh)
        except execute.NotebookFailed as exc:
            print(f"\nSITE BUILD FAILED: a notebook does not execute.\n{exc}", file=sys.stderr)
            return 1
        how = (f"stored execution reused ({result.seconds:.0f} s when it ran)" if result.cached
               else f"executed in {result.seconds:.1f} s")
        print(f"  {path.name}: {how}; {time.monotonic() - t0:.1f} s")
        staged[path.name] = static_notebook(result.notebook, course.binder_url(f"notebooks/{path.name}"),
                                            name=path.name)
    t_exec = time.monotonic() - t_all
    stage(staged, STAGE, course, notebook_dir)
    for d in (out, DOCTREES, out.parent / "jupyter_execute"):  # myst-nb writes its images there
        if d.exists():
            shutil.rmtree(d)
    cmd = [sys.executable, "-m", "sphinx", "build", "-b", "html", "-W", "--keep-going", "-q",
           "-c", str(CONF_DIR), "-d", str(DOCTREES), str(STAGE), str(out)]
    env = dict(os.environ, COURSEKIT_SOLUTIONS=solutions)
    print(f"== sphinx: {STAGE.relative_to(REPO)} -> {out}")
    t0 = time.monotonic()
    code = subprocess.call(cmd, env=env, cwd=REPO)
    if code != 0:
        print(f"SITE BUILD FAILED: sphinx-build exited {code}", file=sys.stderr)
        return code
    print(f"site OK: {out / 'index.html'} (notebooks {t_exec:.1f} s, sphinx {time.monotonic() - t0:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursekit.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default build/site)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR, help="directory of NN_*.ipynb")
    parser.add_argument("--solutions", choices=("fold", "remove"), default="fold",
                        help="fold: solutions folded in <details> (default); remove: a student site")
    parser.add_argument("--fresh", action="store_true", help="execute every notebook, ignoring stored executions")
    args = parser.parse_args(argv)
    return build(args.out.resolve(), notebook_dir=args.notebooks.resolve(), solutions=args.solutions,
                 fresh=args.fresh)


if __name__ == "__main__":
    sys.exit(main())
