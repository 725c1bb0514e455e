"""Turn an executed notebook into what a static page can honestly show.

A static page has no kernel, so an ipywidgets view can only be an empty box, or sliders that move
while the figure never changes. :func:`static_notebook` therefore

* removes every widget view from the outputs (progress bars included);
* for a widget with controls (sliders, dropdowns, ...) puts a note in its place: the controls and
  their default values, that they need a running kernel, and a link to the notebook live on
  Binder; then the figure the widget showed at those defaults (captured by its ``Output``), unless
  the next code cell is tagged ``widget-gallery``: that cell's outputs, a few precomputed settings,
  replace the single default view (its code is folded);
* gives every figure an alt text: the cell's ``mystnb.image.alt`` metadata if the author wrote
  one (myst-nb's own option), else one made from the section heading, the text before the cell
  and the titles set in its code; :mod:`coursekit.sphinx_ext` puts them on the images.
"""
from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_output

from .notebooks import GALLERY_TAG, add_tag, tags

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
# Models that only lay out or display things: a widget made of these alone has no control.
_DISPLAY_MODELS = {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel",
                   "StackModel", "OutputModel", "HTMLModel", "HTMLMathModel", "LabelModel",
                   "FloatProgressModel", "IntProgressModel", "ImageModel", "ValidModel"}


def _widget_state(nb: NotebookNode) -> dict[str, Any]:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _children(state: dict[str, Any]) -> list[str]:
    return [c[len("IPY_MODEL_"):] for c in state.get("children", []) if isinstance(c, str)
            and c.startswith("IPY_MODEL_")]


def describe_widget(model_id: str, widgets: dict[str, Any]) -> tuple[list[str], list[dict], bool]:
    """(controls as 'description = value', outputs captured by Output widgets, state known)."""
    if model_id not in widgets:
        return [], [], False
    controls, captured, todo, seen = [], [], [model_id], set()
    while todo:
        mid = todo.pop(0)
        if mid in seen or mid not in widgets:
            continue
        seen.add(mid)
        entry = widgets[mid]
        name, st = entry.get("model_name", ""), entry.get("state", {})
        if name == "OutputModel":
            captured += st.get("outputs", [])
        elif name not in _DISPLAY_MODELS:
            label = str(st.get("description", "") or "").strip() or name.removesuffix("Model")
            if "_options_labels" in st and isinstance(st.get("index"), int):
                labels = st["_options_labels"]
                value = labels[st["index"]] if 0 <= st["index"] < len(labels) else "?"
            elif "value" in st and not isinstance(st["value"], (dict, list)):
                value = st["value"]
            else:
                value = None
            controls.append(f"*{label}* = {value}" if value is not None else f"*{label}*")
        todo += _children(st)
    return controls, captured, True


def widget_note(controls: list[str], binder_url: str, shown: str) -> str:
    """MyST note replacing a widget; ``shown``: where its static view is (gallery, below, above)."""
    if controls:
        what = f"Its controls ({'; '.join(controls)}) need a running Python kernel, which a static page does not have. "
    else:
        what = "Its controls need a running Python kernel, which a static page does not have. "
    view = {"gallery": "The gallery below shows it at a few settings. ",
            "below": "Below is the figure at the default values only. ",
            "above": "The figure above is its view at the default values. ",
            "none": ""}[shown]
    return ("```{admonition} Interactive widget\n:class: note coursekit-widget\n"
            f"This cell builds an interactive figure. {what}{view}"
            f"To explore it, [open this notebook live on Binder]({binder_url}) "
            "or run it on your machine (`make lectures`).\n```\n")


def _markdown_output(text: str) -> NotebookNode:
    return new_output("display_data", data={"text/markdown": text})


def _plain(md: str) -> str:
    md = re.sub(r"<[^>]+>", " ", md)
    md = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", md)
    md = re.sub(r"[*_`#$]|\\[a-zA-Z]+", lambda m: " " if m.group(0).startswith("\\") else "", md)
    return re.sub(r"\s+", " ", md).strip()


def _first_sentence(md: str, limit: int = 200) -> str:
    text = _plain(md)
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    text = m.group(1) if m else text.rstrip(":;, ")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


_TITLE_CALL = re.compile(r"""(?:(?:set_title|suptitle|\.title)\(\s*|\btitle\s*=\s*)[rf]?(["'])(.+?)\1""")


def auto_alt(section: str, context: str, source: str, k: int, n: int) -> str:
    titles = [_plain(t) for _, t in _TITLE_CALL.findall(source)]
    titles = [t for t in titles if t and "{" not in t]
    head = "Figure" + (f" {k} of {n}" if n > 1 else "")
    parts = [f"{head} in section “{section}”" if section else head]
    if titles:
        parts.append("titled " + "; ".join(f"“{t}”" for t in titles[:3]))
    if context:
        parts.append(f"illustrating: {context}")
    return ", ".join(parts[:2]) + (f", {parts[2]}" if len(parts) > 2 else "")


def static_notebook(nb: NotebookNode, binder_url: str, log=print, name: str = "") -> NotebookNode:
    """The static-page version of an executed notebook (see the module docstring)."""
    nb = copy.deepcopy(nb)
    widgets = _widget_state(nb)
    nb.metadata.pop("widgets", None)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    section, context = "", ""
    seen: set[str] = set()  # images already on the page
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"\s{0,3}#{1,6}\s+(.*)", line)
                if m:
                    section = _plain(m.group(1))
            paragraphs = [p for p in re.split(r"\n\s*\n", cell.source)
                          if p.strip() and not re.match(r"\s{0,3}#", p)]
            if paragraphs:
                context = _first_sentence(paragraphs[0])
            continue
        if cell.cell_type != "code":
            continue
        nxt = next((j for j in code_cells if j > i), None)
        gallery_next = nxt is not None and GALLERY_TAG in tags(nb.cells[nxt])
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                outputs.append(out)
                continue
            model_id = data[WIDGET_VIEW].get("model_id", "")
            controls, captured, known = describe_widget(model_id, widgets)
            if not known:
                log(f"  warning: {name} cell {i}: widget {model_id[:8]} has no saved state; dropped")
                continue
            shown = [nbformat.from_dict(copy.deepcopy(o)) for o in captured]
            if not controls:  # a progress bar or a display-only widget: keep what it displayed
                outputs += shown
                continue
            on_page = seen | {k for k in map(_image_key, outputs) if k}
            new = [o for o in shown if _image_key(o) is None or _image_key(o) not in on_page]
            where = ("gallery" if gallery_next else "below" if any(_image_key(o) for o in new)
                     else "above" if any(_image_key(o) for o in shown) else "none")
            outputs.append(_markdown_output(widget_note(controls, binder_url, where)))
            if not gallery_next:
                outputs += new
        if GALLERY_TAG in tags(cell):
            add_tag(cell, "hide-input")
            outputs.insert(0, _markdown_output(
                "**Gallery** (static): the interactive figure above at a few settings, precomputed."))
        cell.outputs = outputs
        seen.update(k for k in map(_image_key, outputs) if k)
        _set_alts(cell, section, context)
    return nb


def _image_key(out: NotebookNode) -> str | None:
    data = out.get("data", {})
    mime = next((m for m in IMAGE_MIMES if m in data), None)
    if mime is None:
        return None
    value = data[mime]
    return hashlib.sha256(("".join(value) if isinstance(value, list) else str(value)).encode()).hexdigest()


def _set_alts(cell: NotebookNode, section: str, context: str) -> None:
    authored = (cell.metadata.get("mystnb", {}).get("image", {}) or {}).get("alt")
    images = [o for o in cell.outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES)]
    alts = []
    for k, out in enumerate(images, 1):
        mime = next(m for m in IMAGE_MIMES if m in out["data"])
        explicit = (out.get("metadata", {}).get(mime, {}) or {}).get("alt")
        alts.append(explicit or authored or auto_alt(section, context, cell.source, k, len(images)))
    if alts:
        cell.metadata.setdefault("coursekit", {})["alts"] = alts
