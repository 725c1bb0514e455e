"""Kernel-side cost of one slider move: ``widgets.slider_plot`` vs ``widgets.live_plot``.

For two figures (notebook 00's fit: three lines, title, legend; a two-panel figure: an image with a
colour bar and a line), one move is timed three ways, interleaved so that a loaded machine slows
all three alike:

* ``slider_plot``: what it does per move: the draw function builds a new figure, and the inline
  backend renders it to PNG with ``bbox_inches="tight"`` (``IPython.core.pylabtools.print_figure``);
* ``live_plot, full``: ``update`` moves the artists, the whole figure is drawn (``partial=False``);
* ``live_plot``: the default, only what moved is redrawn over the kept background.

The browser adds its own share (websocket, decode, paint: ~0.1 s on the shared 2-core machine); the
end-to-end number is the browser test's (tests/test_browser.py, key press to changed image).

    .venv/bin/python benchmarks/widget_redraw.py [--moves 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402

from lecture_lib import plotting, widgets  # noqa: E402

THETA = np.linspace(-np.pi, np.pi, 400, endpoint=False)
SIZES = [3, 4, 6, 8, 12, 16, 32, 64]


def target(t):
    return np.sin(t) + 0.5 * np.sin(3 * t)


def fit(n):  # stands in for the precomputed NTK regression of notebook 00
    return target(THETA) * (1 - np.exp(-n / 8)) + 0.2 * np.sin(n * THETA) / n


def fit_old(n):
    train = np.linspace(-np.pi, np.pi, n, endpoint=False) + 0.1
    plt.figure(figsize=(7, 3.5))
    plt.plot(THETA, target(THETA), color="0.6", lw=3, label="target $f^\\star$")
    plt.plot(THETA, fit(n), color="C0", label="NTK regression (depth 2)")
    plt.plot(train, target(train), "o", color="C3", label=f"{n} training points")
    plt.title(f"Infinitely wide ReLU net = NTK regression   (test MSE {1 / n:.2e})")
    plt.xlabel("angle $\\theta$ (rad)")
    plt.ylabel("$f(\\theta)$")
    plt.legend(loc="lower right", fontsize=8)


def fit_live(partial):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(THETA, target(THETA), color="0.6", lw=3, label="target $f^\\star$")
    (line,) = ax.plot(THETA, 0 * THETA, color="C0")
    (points,) = ax.plot([], [], "o", color="C3")
    ax.set(xlabel="angle $\\theta$ (rad)", ylabel="$f(\\theta)$", ylim=(-2, 2))

    def update(n=8):
        train = np.linspace(-np.pi, np.pi, n, endpoint=False) + 0.1
        line.set_ydata(fit(n))
        line.set_label("NTK regression (depth 2)")
        points.set_data(train, target(train))
        points.set_label(f"{n} training points")
        ax.set_title(f"Infinitely wide ReLU net = NTK regression   (test MSE {1 / n:.2e})")
        ax.legend(loc="lower right", fontsize=8)

    return widgets.live_plot(fig, update, partial=partial, n=widgets.selection_slider(SIZES, "n", value=8))


GRID = np.add.outer(np.arange(40), np.arange(40)) / 8.0


def panels_old(n):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    im = a1.imshow(np.sin(n * GRID / 4), cmap="viridis", vmin=-1, vmax=1)
    fig.colorbar(im, ax=a1)
    a1.set(title=f"kernel, width {n}", xlabel="sample j", ylabel="sample i")
    a2.plot(THETA, fit(n))
    a2.set(title=f"prediction, width {n}", xlabel="angle", ylabel="f", ylim=(-2, 2))
    fig.tight_layout()


def panels_live(partial):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    im = a1.imshow(0 * GRID, cmap="viridis", vmin=-1, vmax=1)
    fig.colorbar(im, ax=a1)
    a1.set(xlabel="sample j", ylabel="sample i")
    (line,) = a2.plot(THETA, 0 * THETA)
    a2.set(xlabel="angle", ylabel="f", ylim=(-2, 2))

    def update(n=8):
        im.set_data(np.sin(n * GRID / 4))
        a1.set_title(f"kernel, width {n}")
        line.set_ydata(fit(n))
        a2.set_title(f"prediction, width {n}")

    return widgets.live_plot(fig, update, partial=partial, n=widgets.selection_slider(SIZES, "n", value=8))


def old_move(draw, n):
    draw(n)
    fig = plt.gcf()
    print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)


def bench(name, draw_old, build_live, moves):
    full, partial = build_live(False), build_live(True)
    full.set(n=12), partial.set(n=12)  # the first move learns what moves
    t = {"slider_plot": [], "live_plot, full": [], "live_plot": []}
    for k in range(moves):
        n = SIZES[k % 2 * 2 + 2]  # 6, 12, 6, ...
        t0 = time.perf_counter()
        old_move(draw_old, n)
        t1 = time.perf_counter()
        full.set(n=n)
        t2 = time.perf_counter()
        partial.set(n=n)
        t3 = time.perf_counter()
        for key, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2)):
            t[key].append(dt)
    base = statistics.median(t["slider_plot"])
    rows = [f"| {name} | {how} | {1e3 * statistics.median(v):.0f} | {1e3 * min(v):.0f} | "
            f"{statistics.median(v) / base:.2f} |" for how, v in t.items()]
    return rows, partial.partial_draws, partial.full_draws


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=15)
    args = parser.parse_args(argv)
    plotting.use_style()
    print(f"load average {os.getloadavg()}, matplotlib {matplotlib.__version__}, {args.moves} moves\n")
    print("| figure | per move | median ms | min ms | vs slider_plot |\n|---|---|---|---|---|")
    for name, old, live in (("notebook 00 fit", fit_old, fit_live), ("image + line", panels_old, panels_live)):
        rows, partial_draws, full_draws = bench(name, old, live, args.moves)
        print("\n".join(rows))
        assert partial_draws >= args.moves, (partial_draws, full_draws)


if __name__ == "__main__":
    main()
