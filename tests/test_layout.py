"""The package layout stays as designed (shared/design/layout.md), checked on the source (AST):

* every numbered notebook ``notebooks/NN_<slug>.ipynb`` has ``lecture_lib/lectures/<slug>.py``
  (whose docstring names the notebook) and ``tests/lectures/test_<slug>.py``, and imports it
  as ``lec``; no lecture module without its notebook;
* the core never imports ``lecture_lib.lectures``; a lecture module never imports another;
* no module imports another module's private (``_name``) names;
* the module list in the package docstring and ``__all__`` match the files.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "lecture_lib"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CORE = sorted(p for p in PKG.glob("*.py") if p.name != "__init__.py")
LECTURES = sorted(p for p in (PKG / "lectures").glob("*.py") if p.name != "__init__.py")


def _slug(nb: Path) -> str:
    return nb.stem.split("_", 1)[1]


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) for every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [a.name for a in node.names]
            out.append((mod, names))
            # `from . import x`: x is a module
            out += [(f"{mod}.{n}", []) for n in names if not node.module]
    return out


def test_there_are_notebooks_and_lectures():
    assert len(NOTEBOOKS) >= 5 and LECTURES


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_its_lecture_module_and_tests(nb):
    slug = _slug(nb)
    module = PKG / "lectures" / f"{slug}.py"
    assert module.exists(), f"{nb.name} needs lecture_lib/lectures/{slug}.py"
    assert (ROOT / "tests" / "lectures" / f"test_{slug}.py").exists(), f"{nb.name} needs tests/lectures/test_{slug}.py"
    doc = ast.get_docstring(ast.parse(module.read_text())) or ""
    assert f"notebooks/{nb.name}" in doc, f"{module.name}'s docstring must name notebooks/{nb.name}"
    code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    assert re.search(rf"from lecture_lib\.lectures import {slug} as lec\b", code), \
        f"{nb.name} must import its lecture module as `from lecture_lib.lectures import {slug} as lec`"
    others = set(re.findall(r"lecture_lib\.lectures import (\w+)", code)) - {slug}
    assert not others, f"{nb.name} imports other lectures' modules: {others}"


def test_no_lecture_module_without_a_notebook():
    slugs = {_slug(nb) for nb in NOTEBOOKS}
    orphans = [p.name for p in LECTURES if p.stem not in slugs]
    assert not orphans, f"lecture modules without a notebook: {orphans}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_core_never_imports_lectures(path):
    bad = [m for m, _ in _imports(path) if m == "lecture_lib.lectures" or m.startswith("lecture_lib.lectures.")]
    assert not bad, f"core module {path.name} imports {bad}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lectures_never_import_each_other(path):
    mods = [m for m, _ in _imports(path)]
    bad = [m for m in mods if m.startswith("lecture_lib.lectures.") and m != f"lecture_lib.lectures.{path.stem}"]
    assert not bad, f"{path.name} imports other lecture modules: {bad}"


@pytest.mark.parametrize("path", CORE + LECTURES + [PKG / "__init__.py"], ids=lambda p: p.stem)
def test_no_cross_module_private_imports(path):
    bad = []
    for mod, names in _imports(path):
        if not mod.startswith("lecture_lib"):
            continue
        bad += [f"{mod}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    # attribute access to a private name of an imported lecture_lib module (e.g. krr._check_kernel)
    tree = ast.parse(path.read_text())
    aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and (node.level or (node.module or "").startswith("lecture_lib")) for a in node.names}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_") and not node.attr.startswith("__")):
            bad.append(f"{node.value.id}.{node.attr}")
    assert not bad, f"{path.name} uses private names of other modules: {bad}"


def test_package_docstring_and_all_list_the_modules():
    import lecture_lib

    public = {p.stem for p in CORE if not p.stem.startswith("_")}
    doc = lecture_lib.__doc__
    listed = set(re.findall(r"^([a-z_]+) {2,}\S", doc, re.M))
    assert listed == public, f"docstring lists {sorted(listed ^ public)} wrongly"
    assert set(lecture_lib.__all__) == public | {"lectures"}
