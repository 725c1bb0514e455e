"""Plotting and widget helpers."""
import io
import pickle
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from PIL import Image  # noqa: E402

from lecture_lib import plotting, widgets  # noqa: E402


def test_loglog_fit_draws_and_returns_slope():
    fig, ax = plt.subplots()
    x = np.array([1.0, 2, 4, 8])
    slope = plotting.loglog_fit(ax, x, x**2, label="square")
    assert slope == pytest.approx(2.0)
    assert ax.get_xscale() == "log" and len(ax.lines) == 2
    plt.close(fig)


def test_show_images_and_heatmap():
    fig = plotting.show_images(np.random.rand(5, 8, 8, 1), titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    plt.close(fig)
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(np.random.rand(2, 8, 8), titles=["a"])
    fig, ax = plt.subplots()
    k = np.arange(9.0).reshape(3, 3)
    im = plotting.kernel_heatmap(ax, k, labels=[2, 0, 1])
    np.testing.assert_array_equal(im.get_array()[0], k[1, [1, 2, 0]])
    plt.close(fig)


def test_slider_plot_redraws_with_precomputed_values():
    seen = []
    widget = widgets.slider_plot(lambda n: seen.append(n), n=(1, 3, 1))
    slider = widget.children[0]
    assert slider.continuous_update is False
    slider.value = 3
    assert seen[-1] == 3
    with pytest.raises(TypeError, match="draw"):
        widgets.slider_plot(None, n=[1])
    with pytest.raises(ValueError, match="controls"):
        widgets.slider_plot(lambda: None)


def test_selection_slider():
    s = widgets.selection_slider([64, 256], "width", value=256)
    assert s.value == 256
    with pytest.raises(ValueError, match="value"):
        widgets.selection_slider([64], "width", value=3)
    with pytest.raises(ValueError, match="values"):
        widgets.selection_slider([], "width")


# --- live_plot: a figure built once, its artists moved on each control change --------------------

def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _full_render_of_a_copy(fig) -> np.ndarray:
    """Reference image: a full Agg draw of an independent copy of the figure (leaves ``fig`` untouched)."""
    return _pixels(widgets.render_png(pickle.loads(pickle.dumps(fig))))


def _assert_same_as_full_draw(live, moves):
    for move in moves:
        live.set(**move)
        np.testing.assert_array_equal(_pixels(live.png), _full_render_of_a_copy(live.figure),
                                      err_msg=f"after {move}")
        assert live.image.value == live.png


X = np.linspace(0.0, 6.0, 300)


def _lines_figure(**kwargs):
    """The pattern of notebook 00: static target, moving fit and points, title, a new legend per move."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(X, np.sin(X), color="0.6", lw=3, label="target")
    (fit,) = ax.plot(X, 0 * X)
    (points,) = ax.plot([], [], "o")
    ax.set(ylim=(-2, 2), xlabel="x", ylabel="f(x)")
    calls = []

    def update(n=2):
        calls.append(n)
        fit.set_ydata(np.sin(n * X) / n)
        fit.set_label(f"n = {n}")
        points.set_data(X[::40], np.sin(n * X[::40]) / n)
        ax.set_title(f"frequency {n}")
        ax.legend(loc="lower right")

    return widgets.live_plot(fig, update, n=(1, 9, 1), **kwargs), calls


def test_live_plot_moves_artists_of_one_figure():
    before = plt.get_fignums()
    live, calls = _lines_figure()
    assert calls == [2] and live.values == {"n": 2}  # drawn once at the initial value
    assert plt.get_fignums() == before  # closed in pyplot: only the widget shows it
    slider = live.controls["n"]
    assert slider.continuous_update is False and slider.description == "n"
    assert live.children[0] is slider and live.children[1] is live.image
    png0 = live.png
    slider.value = 5  # as a user would
    assert calls == [2, 5] and live.png != png0 and live.image.value == live.png
    assert plt.get_fignums() == before  # no figure per move
    h, w_ = _pixels(live.png).shape[:2]
    assert (w_, h) == tuple(np.round(live.figure.get_size_inches() * live.figure.dpi).astype(int))
    assert _pixels(live.png).shape == _pixels(png0).shape  # the image does not change size


def test_live_plot_partial_renders_equal_full_draws():
    live, _ = _lines_figure()
    _assert_same_as_full_draw(live, [{"n": k} for k in (3, 4, 5, 4)])
    # the first move finds what moves (one full draw), the next ones only redraw that
    assert live.full_draws == 2 and live.partial_draws == 3

    fig, ax = plt.subplots(figsize=(4, 3))  # image with a colour bar; changing the limits redraws all
    im = ax.imshow(np.zeros((12, 12)), vmin=-1, vmax=1)
    fig.colorbar(im)
    grid = np.add.outer(np.arange(12), np.arange(12)) / 4

    def update_image(k=1, c=1.0):
        im.set_data(np.sin(k * grid))
        im.set_clim(-c, c)
        ax.set_title(f"k = {k}")

    live = widgets.live_plot(fig, update_image, k=(1, 5, 1), c=(0.5, 2.0, 0.5))
    _assert_same_as_full_draw(live, [{"k": 2}, {"k": 3}])
    full = live.full_draws
    _assert_same_as_full_draw(live, [{"c": 1.5}])
    assert live.full_draws == full + 1  # colour bar limits changed
    _assert_same_as_full_draw(live, [{"k": 4}])

    fig, ax = plt.subplots(figsize=(4, 3))  # scatter: set_array does not mark the artist stale
    rng = np.random.default_rng(0)
    xy, colours = rng.random((6, 20, 2)), rng.random((6, 20))
    scatter = ax.scatter(xy[0, :, 0], xy[0, :, 1], c=colours[0], vmin=0, vmax=1)
    ax.set(xlim=(0, 1), ylim=(0, 1))

    def update_scatter(i=0):
        scatter.set_array(colours[i])
        if i % 2 == 0:
            scatter.set_offsets(xy[i])

    _assert_same_as_full_draw(widgets.live_plot(fig, update_scatter, i=(0, 5, 1)),
                              [{"i": k} for k in (1, 2, 3, 4)])

    # two axes, bars, a suptitle, static artists drawn above the moving line (zorder)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7, 3))
    (line,) = a1.plot(X, np.sin(X), zorder=1)
    a1.text(3, 0, "STATIC, ABOVE", fontsize=16, zorder=4, ha="center")
    a1.axhline(0.5, color="k", zorder=3)
    bars = a2.bar(range(5), np.ones(5))
    a2.set_ylim(0, 6)

    def update_multi(k=1):
        line.set_ydata(np.sin(k * X))
        for i, bar in enumerate(bars):
            bar.set_height((i * k) % 6)
        fig.suptitle(f"k = {k}")

    live = widgets.live_plot(fig, update_multi, k=(1, 6, 1))
    _assert_same_as_full_draw(live, [{"k": j} for j in (2, 3, 4)])
    assert live.partial_draws >= 2


def test_live_plot_redraws_everything_when_limits_follow_the_data():
    fig, ax = plt.subplots(figsize=(4, 3))
    (line,) = ax.plot(X, X)

    def update(a=1.0):
        line.set_ydata(a * X)
        ax.relim()
        ax.autoscale_view()

    live = widgets.live_plot(fig, update, a=(1.0, 4.0, 1.0))
    _assert_same_as_full_draw(live, [{"a": 2.0}, {"a": 3.0}, {"a": 2.0}])
    assert live.partial_draws == 0 and live.full_draws == 4
    live, _ = _lines_figure(partial=False)
    _assert_same_as_full_draw(live, [{"n": 3}, {"n": 4}])
    assert live.partial_draws == 0


def test_live_plot_move_is_cheap_next_to_a_full_rerender():
    """A move (update + partial render) vs what slider_plot does per move (new figure, tight PNG)."""
    live, _ = _lines_figure()
    live.set(n=3)  # learn what moves

    def full_rerender(n):  # slider_plot's draw + the inline backend's print_figure
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(X, np.sin(X), color="0.6", lw=3, label="target")
        ax.plot(X, np.sin(n * X) / n, label=f"n = {n}")
        ax.plot(X[::40], np.sin(n * X[::40]) / n, "o")
        ax.set(ylim=(-2, 2), xlabel="x", ylabel="f(x)", title=f"frequency {n}")
        ax.legend(loc="lower right")
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        plt.close(fig)

    moves, rerenders = [], []
    for n in (4, 5, 6, 7, 6, 5, 4):  # interleaved, min of each: robust to a loaded machine
        t = time.perf_counter()
        live.set(n=n)
        moves.append(time.perf_counter() - t)
        t = time.perf_counter()
        full_rerender(n)
        rerenders.append(time.perf_counter() - t)
    # A full re-render draws the figure twice (tight bbox) after building it; a move draws at most once.
    print(f"move {min(moves):.3f} s, full re-render {min(rerenders):.3f} s")
    assert min(moves) < 0.5 * min(rerenders), (moves, rerenders)


def test_live_plot_static_copy_and_checks():
    live, _ = _lines_figure()
    bundle = live._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    import base64
    assert base64.b64decode(bundle["image/png"]) == live.png  # what static copies show
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])

    def update(a, b=1):
        line.set_ydata([0, a * b])

    with pytest.raises(TypeError, match="fig"):
        widgets.live_plot(ax, update, a=(1, 3))
    with pytest.raises(TypeError, match="update"):
        widgets.live_plot(fig, None, a=(1, 3))
    with pytest.raises(ValueError, match="controls"):
        widgets.live_plot(fig, update)
    with pytest.raises(ValueError, match="'c' is not a parameter"):
        widgets.live_plot(fig, update, a=(1, 3), c=(1, 3))
    with pytest.raises(ValueError, match="needs a control for 'a'"):
        widgets.live_plot(fig, update, b=(1, 3))
    with pytest.raises(TypeError, match="ValueWidget"):
        import ipywidgets
        widgets.live_plot(fig, update, a=ipywidgets.Button())
    live = widgets.live_plot(fig, update, a=(1, 3))
    assert live.values == {"a": 2}  # the middle of (1, 3), as interact does
    with pytest.raises(ValueError, match="unknown control"):
        live.set(z=1)
    with pytest.raises(TypeError, match="fig"):
        widgets.render_png("not a figure")
    plt.close("all")


def test_live_plot_error_in_update_is_raised_outside_a_kernel():
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])

    def update(a=1):
        if a == 3:
            raise RuntimeError("bad value")
        line.set_ydata([0, a])

    live = widgets.live_plot(fig, update, a=(1, 3))
    with pytest.raises(RuntimeError, match="bad value"):  # in a kernel: shown in live.output
        live.set(a=3)
    live.set(a=2)
    np.testing.assert_array_equal(_pixels(live.png), _full_render_of_a_copy(live.figure))
