"""ipywidgets helpers over precomputed results.

Sliders only redraw: whatever takes more than a fraction of a second is
computed once, before the widget is built, and looked up on each move.

``live_plot`` (use this) builds the figure once; on each control change an
``update`` function changes the artists of that figure in place
(``set_data``/``set_ydata``/``set_array``/``set_text``, titles, a new legend)
and the figure is rendered with Agg into an ``ipywidgets.Image``. No new
figure, no output area cleared and re-filled, no tight-bbox double draw, and
only what moved is redrawn: the rest of the figure is kept from the last full
draw (see ``_PartialRenderer``; the pixels are those of a full draw). On the
figure of notebook 00 a move costs about a fifth of ``slider_plot``'s
kernel-side work. The widget also carries a PNG of its figure (``image/png``
next to the widget view), so static copies (nbconvert HTML without widget
state, GitHub, a course site) show the figure where the widget was.

``slider_plot`` (old) wraps ``ipywidgets.interactive`` and draws a new figure
on every move; it stays until every notebook is migrated.

Migrating a notebook cell
-------------------------
Before: ``draw`` makes a new figure on every move, and a static copy of the
default is drawn separately::

    def draw_fit(n=8, depth=2):
        theta_train, f = pred[depth, n]
        plt.figure(figsize=(7, 3.5))
        plt.plot(theta_test, target(theta_test), color="0.6", lw=3, label="target")
        plt.plot(theta_test, f, color="C0", label=f"NTK regression (depth {depth})")
        plt.plot(theta_train, target(theta_train), "o", color="C3", label=f"{n} training points")
        plt.title(f"test MSE {test_mse[depth, n]:.2e}")
        plt.legend(loc="lower right")

    draw_fit(n=8, depth=2); plt.show()          # static default
    widgets.slider_plot(draw_fit, n=widgets.selection_slider(sizes, "n", value=8),
                        depth=widgets.selection_slider(depths, "depth", value=2))

After: build the artists once (with placeholder data), move them in ``update``;
the widget shows the figure at the controls' initial values, also statically::

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(theta_test, target(theta_test), color="0.6", lw=3, label="target")
    (fit,) = ax.plot(theta_test, 0 * theta_test, color="C0")
    (points,) = ax.plot([], [], "o", color="C3")
    ax.set(xlabel="angle (rad)", ylabel="f")

    def update_fit(n, depth):
        theta_train, f = pred[depth, n]
        fit.set_ydata(f)
        fit.set_label(f"NTK regression (depth {depth})")
        points.set_data(theta_train, target(theta_train))
        points.set_label(f"{n} training points")
        ax.set_title(f"test MSE {test_mse[depth, n]:.2e}")
        ax.legend(loc="lower right")            # a new legend is cheap

    widgets.live_plot(fig, update_fit, n=widgets.selection_slider(sizes, "n", value=8),
                      depth=widgets.selection_slider(depths, "depth", value=2))

Build the figure and call ``live_plot`` in the same cell (the inline backend
would show the half-built figure at the end of a cell that only builds it).
The widget's PNG is the static copy, so the separate static figure goes.
Whatever the widget redraws belongs in the lecture module (layout.md): a
function that builds the figure from a result and returns ``(fig, update)``
is tested off-screen with ``LiveFigure.set`` and ``LiveFigure.png``.

Rules of thumb: keep everything that does not move out of ``update``; call
``ax.relim(); ax.autoscale_view()`` in it only if the limits must follow the
data (then every move is a full draw, as is any change of limits, ticks,
positions or figure size); ``imshow`` images move with ``im.set_data``,
``pcolormesh``/scatter colours with ``set_array``, scatter points with
``set_offsets``, bars with ``set_height``. What moves is redrawn together with
everything drawn after it (higher ``zorder``) in its axes, so a moving artist
under many static ones (e.g. under the tick labels) saves less. Lay the figure
out at build time: ``live_plot`` applies ``fig.tight_layout()`` once when the
figure has no layout engine (``layout="constrained"`` re-solves on every full
draw).
"""
from __future__ import annotations

import base64
import inspect
import io
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w

__all__ = ["LiveFigure", "live_plot", "render_png", "slider_plot", "selection_slider"]

#: zlib level of the PNGs sent on each move: ~2x faster to encode than matplotlib's default 6, for
#: ~1.3x the bytes of an already small image, sent over a local websocket.
PNG_COMPRESS_LEVEL = 1


def _encode_png(rgba, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 buffer; RGB when it is fully opaque (smaller, faster)."""
    import numpy as np
    from PIL import Image

    rgba = np.asarray(rgba)
    pixels = rgba[..., :3] if rgba[..., 3].min() == 255 else rgba
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="png", compress_level=compress_level)
    return buf.getvalue()


def render_png(fig) -> bytes:
    """A full Agg render of a matplotlib ``Figure`` (any backend) as PNG bytes.

    The whole canvas at the figure's dpi, without a tight bounding box (which
    draws twice and lets the image size change from one render to the next).
    The reference that :class:`LiveFigure`'s partial renders must equal.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if type(fig.canvas) is FigureCanvasAgg:  # inline backend, LiveFigure: draw on it
        fig.canvas.draw()
        return _encode_png(fig.canvas.buffer_rgba())
    canvas = fig.canvas  # another backend (ipympl, a GUI): an Agg canvas just for this render
    try:
        agg = FigureCanvasAgg(fig)
        agg.draw()
        return _encode_png(agg.buffer_rgba())
    finally:
        fig.set_canvas(canvas)


class _PartialRenderer:
    """Agg renders of one figure that redraw only what moved since the last render.

    Matplotlib draws each container (figure, axes) as a list of children
    sorted by ``zorder``. After ``update`` has run, the children that changed
    are found (``stale`` artists, a ``ScalarMappable`` whose array was
    replaced -- ``set_array`` does not mark an artist stale --, new artists);
    in each container everything from the first artist that moved (now or at
    an earlier move) to the end of its draw list is the *overlay*, the rest is
    the *background*. When the backgrounds are the ones of the last full
    render (same artists in the same order, none changed, and every axes with
    the same limits, position, scales and the figure with the same size), the
    saved background is restored and only the overlays are drawn, in
    matplotlib's order: the same pixels as a full draw. Otherwise the whole
    figure is drawn, with the overlays kept out of the background saved for
    the next move. (One approximation: an overlay is drawn after the whole
    background, so an artist that spills over a later *axes* is drawn on top
    of it.)
    """

    def __init__(self, fig, partial: bool = True):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig = fig
        self.canvas = FigureCanvasAgg(fig)  # fig.canvas from now on; the figure is out of pyplot
        self.partial = partial
        self.full_draws = 0
        self.partial_draws = 0
        self._moving: set = set()      # tops (children of a container) that have moved at some point
        self._known: set = set()       # every artist at the last render
        self._arrays: dict = {}        # ScalarMappable -> its array object at the last render
        self._prefix: dict = {}        # container -> its background draw list at the last full render
        self._fingerprint = None
        self._background = None

    # -- the figure's structure ---------------------------------------------------------------
    @staticmethod
    def _is_container(a) -> bool:
        from matplotlib.axes import Axes
        from matplotlib.figure import FigureBase

        return isinstance(a, (FigureBase, Axes))

    @staticmethod
    def _draw_list(c) -> list:
        """The children of container ``c`` in the order ``c.draw`` draws them (patch first)."""
        from matplotlib.axes import Axes
        from matplotlib.axis import Axis
        from matplotlib.spines import Spine

        children = [a for a in c.get_children() if a is not c.patch]
        if isinstance(c, Axes):
            if not (c.axison and c.get_frame_on()):
                children = [a for a in children if not isinstance(a, Spine)]
            if not c.axison:
                children = [a for a in children if not isinstance(a, Axis)]
        children.sort(key=lambda a: a.get_zorder())  # stable, as matplotlib's sorted()
        frame = c.axison and c.get_frame_on() if isinstance(c, Axes) else c.get_frameon()
        return ([c.patch] if frame else []) + children

    def _walk(self):
        """Containers (pre-order), their draw lists, and every artist mapped to its (top, container).

        A *top* is the child of a container that holds the artist (the legend
        for a legend's text); the top of a container is itself.
        """
        containers, lists, top_of = [], {}, {}

        def visit(c):
            containers.append(c)
            lists[c] = self._draw_list(c)
            for child in [c.patch] + [a for a in lists[c] if a is not c.patch]:
                if self._is_container(child):
                    top_of[child] = (child, c)
                    visit(child)
                    continue
                todo = [child]
                while todo:
                    a = todo.pop()
                    top_of[a] = (child, c)
                    todo.extend(a.get_children())

        visit(self.fig)
        return containers, lists, top_of

    def _fingerprint_now(self, containers) -> tuple:
        from matplotlib.axes import Axes

        parts = [tuple(self.fig.get_size_inches()), self.fig.dpi]
        for c in containers:
            if isinstance(c, Axes):
                parts.append((id(c), c.get_visible(), c.axison, c.get_frame_on(),
                              tuple(c.get_position().bounds), tuple(c.viewLim.bounds),
                              c.get_xscale(), c.get_yscale(), str(c.get_aspect()), c.get_adjustable(),
                              str(c.get_anchor()), c.get_box_aspect()))
            else:
                parts.append((id(c), c.get_visible(), tuple(c.bbox.bounds)))
        return tuple(parts)

    def _changed(self, a) -> bool:
        if a.stale:
            return True
        get_array = getattr(a, "get_array", None)
        return get_array is not None and a in self._arrays and get_array() is not self._arrays[a]

    # -- rendering ----------------------------------------------------------------------------
    def render(self) -> bytes:
        containers, lists, top_of = self._walk()
        fingerprint = self._fingerprint_now(containers)
        moved = set()  # tops that changed or are new (none before the first render: nothing moved yet)
        for a, (top, c) in top_of.items() if self._background is not None else ():
            if self._is_container(a):
                continue  # stale by propagation from a child, or changed itself (the fingerprint says)
            if a not in self._known or self._changed(a):
                moved.add(top)
        self._moving = {a for a in self._moving if a in top_of} | moved
        cut = {}
        for c in containers:
            order = lists[c]
            first = next((i for i, a in enumerate(order) if a in self._moving), len(order))
            cut[c] = first
        partial = (self.partial and self._background is not None and fingerprint == self._fingerprint
                   and all(lists[c][:cut[c]] == self._prefix.get(c) for c in containers))
        overlays = self._overlays(containers, lists, cut)
        renderer = self.canvas.get_renderer()
        if partial:
            self.canvas.restore_region(self._background)
            self.partial_draws += 1
        else:
            excluded = [a for items in overlays for a in items if not a.get_animated()]
            for a in excluded:
                a.set_animated(True)  # kept out of the background (matplotlib skips animated artists)
            try:
                self.canvas.draw()
            finally:
                for a in excluded:
                    a.set_animated(False)
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._prefix = {c: lists[c][:cut[c]] for c in containers}
            self.full_draws += 1
        for items in overlays:
            for a in items:
                a.draw(renderer)
        png = _encode_png(self.canvas.buffer_rgba())
        # What the next render compares with (the draw may have made new artists, e.g. ticks).
        containers, lists, top_of = self._walk()
        self._fingerprint = self._fingerprint_now(containers)
        self._known = set(top_of)
        self._arrays = {a: a.get_array() for a in top_of if hasattr(a, "get_array")}
        for a in top_of:
            a.stale = False
        return png

    @staticmethod
    def _overlays(containers, lists, cut) -> list[list]:
        """Per container, the artists drawn over the background, in drawing order.

        Containers come after the containers they hold (figure-level texts go
        over the axes, as in a full draw); a container inside another one's
        overlay is drawn whole as part of it.
        """
        is_container = _PartialRenderer._is_container
        inside = set()
        for c in containers:  # pre-order: parents first
            members = lists[c] if c in inside else lists[c][cut[c]:]
            inside.update(a for a in members if is_container(a))
        post = []

        def visit(c):
            for a in lists[c]:
                if is_container(a):
                    visit(a)
            post.append(c)

        visit(containers[0])
        return [lists[c][cut[c]:] for c in post if c not in inside and cut[c] < len(lists[c])]


def _build_controls(update: Callable[..., Any], controls: Mapping[str, Any]) -> dict:
    """Controls from widgets or ``interact`` abbreviations; defaults from ``update``'s signature."""
    empty = inspect.Parameter.empty
    try:
        params = inspect.signature(update).parameters
    except (TypeError, ValueError):  # builtins, some callables: no defaults to read
        params = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    built = {}
    for name, abbrev in controls.items():
        param = params.get(name)
        if params and param is None and not accepts_any:
            raise ValueError(f"control {name!r} is not a parameter of update{inspect.signature(update)}")
        if isinstance(abbrev, w.Widget) and not isinstance(abbrev, w.ValueWidget):
            raise TypeError(f"control {name!r} must be a ValueWidget (a slider, dropdown, ...), "
                            f"got {type(abbrev).__name__}")
        default = param.default if param is not None else empty
        widget = w.interactive.widget_from_abbrev(abbrev, default)
        if widget is None or isinstance(widget, w.fixed):
            raise ValueError(f"control {name!r}: cannot make a widget from {abbrev!r}")
        if not getattr(widget, "description", ""):
            widget.description = name
        if hasattr(widget, "continuous_update"):
            widget.continuous_update = False  # one render per release / key press, not per pixel
        built[name] = widget
    missing = [n for n, p in params.items()
               if n not in built and p.default is empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise ValueError(f"update needs a control for {', '.join(map(repr, missing))}")
    return built


class LiveFigure(w.VBox):
    """Controls above one matplotlib figure that is updated in place and re-rendered on each change.

    Build it with :func:`live_plot`. Attributes: ``figure`` (the matplotlib
    ``Figure``), ``controls`` (name -> control widget), ``image`` (the
    ``ipywidgets.Image`` showing the PNG), ``output`` (where an exception
    raised by ``update`` on a move is shown), ``png`` (the current PNG bytes),
    ``values`` (name -> current value), ``last_update_s``/``last_render_s``
    (seconds the last ``update`` call and render took), ``full_draws`` /
    ``partial_draws`` (how many renders drew the whole figure / only what moved).
    """

    def __init__(self, fig, update: Callable[..., Any], controls: Mapping[str, Any], *,
                 partial: bool = True):
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure (e.g. from plt.subplots), got {type(fig).__name__}")
        if not callable(update):
            raise TypeError(f"update must be callable, got {type(update).__name__}")
        if not controls:
            raise ValueError("controls must name at least one control, e.g. width=[64, 256]")
        self.figure = fig
        self._update = update
        self.controls = _build_controls(update, controls)
        plt.close(fig)  # shown through the Image below, never by the inline backend at the cell's end
        self._renderer = _PartialRenderer(fig, partial=partial)
        self.last_update_s = self.last_render_s = 0.0
        # The figure at the controls' initial values (so image and controls agree), laid out once.
        self._apply(layout=fig.get_layout_engine() is None)
        self.image = w.Image(value=self.png, format="png")
        self.output = w.Output()
        super().__init__([*self.controls.values(), self.image, self.output])
        self.add_class("lecture-live-figure")
        for widget in self.controls.values():
            widget.observe(self._on_change, names="value")

    @property
    def values(self) -> dict[str, Any]:
        return {name: widget.value for name, widget in self.controls.items()}

    @property
    def full_draws(self) -> int:
        return self._renderer.full_draws

    @property
    def partial_draws(self) -> int:
        return self._renderer.partial_draws

    def _apply(self, layout: bool = False) -> None:
        t0 = time.perf_counter()
        self._update(**self.values)
        t1 = time.perf_counter()
        if layout:  # tight_layout once, at build time: the layout does not follow the data
            self.figure.tight_layout()
        self.png = self._renderer.render()
        self.last_update_s, self.last_render_s = t1 - t0, time.perf_counter() - t1

    def refresh(self) -> None:
        """Re-run ``update`` at the current values and show the new image."""
        self._apply()
        self.image.value = self.png

    def _on_change(self, change) -> None:
        # In a kernel the Output shows a traceback instead of losing it in the log; elsewhere it raises.
        with self.output:
            if self.output.outputs:  # an earlier move's traceback
                self.output.clear_output()
            self.refresh()

    def set(self, **values: Any) -> None:
        """Set control values (as a user would); the figure updates once per changed control."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; controls are {sorted(self.controls)}")
        for name, value in values.items():
            self.controls[name].value = value

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if data is None:  # closed widget
            return None
        # Static copies (nbconvert without widget state, GitHub) fall back to this image.
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return data


def live_plot(fig, update: Callable[..., Any], *, partial: bool = True, **controls: Any) -> LiveFigure:
    """A figure built once whose artists ``update`` moves on each control change.

    Args:
      fig: the matplotlib ``Figure``, with all its artists built (e.g.
        ``fig, ax = plt.subplots(...)``; ``(line,) = ax.plot(...)``). It is
        closed in pyplot (the widget shows it), gets an Agg canvas, and is laid
        out once with ``tight_layout`` unless it has a layout engine.
      update: function of the control values (keyword arguments) that changes
        the existing artists in place: ``line.set_ydata``, ``im.set_data``,
        ``coll.set_array``, ``ax.set_title``, ``ax.legend(...)``, ... It must
        be fast (look up precomputed results) and must not make a new figure.
        It is called once at build time with the controls' initial values.
      partial: redraw only what moved when the rest of the figure is unchanged
        (the default; the same pixels as a full draw); ``False`` draws the
        whole figure on every move.
      **controls: ipywidgets controls or ``interact`` abbreviations
        (``(lo, hi, step)`` tuples, lists of options, ...), one per parameter
        of ``update``; defaults of ``update``'s parameters set initial values of
        abbreviations, as with ``interact``. Sliders update on release / key
        press (``continuous_update=False``).

    Returns:
      A :class:`LiveFigure` (an ``ipywidgets.VBox``): ``display`` it, or make
      it the cell's last expression. Its ``set(name=value)`` moves a control
      from code (tests, assertion cells).

    Raises:
      TypeError: ``fig`` is not a Figure, ``update`` is not callable, a control
        is a widget without a value.
      ValueError: no controls, a control that is not a parameter of
        ``update``, a parameter of ``update`` without control or default.
    """
    return LiveFigure(fig, update, controls, partial=partial)


def slider_plot(draw: Callable[..., Any], **controls: Any):
    """``ipywidgets.interactive`` that draws a new matplotlib figure on each change.

    Superseded by :func:`live_plot` (see the module docstring for how to
    migrate); kept until every notebook is migrated.

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
