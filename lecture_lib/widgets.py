"""ipywidgets helpers over precomputed results.

Sliders only redraw: whatever takes more than a fraction of a second is
computed once, before the widget is built, and looked up on each move.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def slider_plot(draw: Callable[..., Any], **controls: Any):
    """``ipywidgets.interactive`` that redraws a matplotlib figure on each change.

    Args:
      draw: function of the control values (keyword arguments) that draws one
        figure with ``matplotlib.pyplot``; it must be fast (look up precomputed
        results; do not train or compute kernels in it).
      **controls: ipywidgets controls or ``interact`` abbreviations
        (``(lo, hi, step)`` tuples, lists of options, ...).

    Returns:
      The ``ipywidgets.interactive`` widget; ``display`` it (a notebook shows
      it when it is the cell's last expression). Sliders update on release
      (``continuous_update=False``) so a drag does not queue dozens of redraws.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("controls must name at least one control, e.g. width=[64, 256]")

    def _draw(**kwargs):
        draw(**kwargs)
        plt.show()

    widget = w.interactive(_draw, **controls)
    for child in widget.children:
        if hasattr(child, "continuous_update"):
            child.continuous_update = False
    return widget


def selection_slider(values: Sequence[Any], description: str, value: Any = None, fmt: Callable[[Any], str] = str):
    """A ``SelectionSlider`` over precomputed ``values`` (e.g. widths 64..4096)."""
    import ipywidgets as w

    values = list(values)
    if not values:
        raise ValueError("values must not be empty")
    if value is not None and value not in values:
        raise ValueError(f"value must be one of values, got {value!r}")
    return w.SelectionSlider(
        options=[(fmt(v), v) for v in values],
        value=values[0] if value is None else value,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )
