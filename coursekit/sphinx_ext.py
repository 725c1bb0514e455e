"""Sphinx extension of the course site: every figure gets an alt text, and none may lack one.

:func:`coursekit.static.static_notebook` stores one alt text per figure of a code cell in the
cell's metadata (``coursekit.alts``); myst-nb keeps the cell metadata on the cell's container node,
so here they are put on the cell's image nodes, in order. An image that still has no alt text
(e.g. ``![](figure.png)`` in markdown) is a warning, which ``sphinx-build -W`` makes an error.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _apply_alts(app, doctree: nodes.document) -> None:
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        alts = (cell.get("cell_metadata") or {}).get("coursekit", {}).get("alts", [])
        images = [img for img in cell.findall(nodes.image) if not img.get("alt")]
        for img, alt in zip(images, alts):
            img["alt"] = alt
    for img in doctree.findall(nodes.image):
        if not str(img.get("alt", "")).strip():
            logger.warning(f"image without alt text: {img.get('uri')} (write one: docs/authoring.md)",
                           location=img)


def setup(app):
    app.connect("doctree-read", _apply_alts)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
