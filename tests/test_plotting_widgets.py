"""Plotting and widget helpers."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_lib import plotting, widgets  # noqa: E402


def test_power_law_fit_recovers_exponent():
    x = np.array([10, 100, 1000, 10000.0])
    p, c = plotting.power_law_fit(x, 3.0 * x**-0.5)
    assert p == pytest.approx(-0.5)
    assert c == pytest.approx(3.0)


def test_power_law_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        plotting.power_law_fit([1, 2], [1, -1])
    with pytest.raises(ValueError, match="same shape"):
        plotting.power_law_fit([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        plotting.power_law_fit([1.0], [1.0])


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
