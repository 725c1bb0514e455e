"""Figure helpers that keep notebook cells short.

All functions draw on a given ``matplotlib`` ``Axes`` (or make one) and return
what they computed, so notebooks can assert on it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .validation import check_array


def use_style() -> None:
    """Notebook-wide defaults: readable sizes, light grid, compact PNGs."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0),
        "figure.dpi": 90,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    })


def power_law_fit(x: Any, y: Any) -> tuple[float, float]:
    """Least-squares fit of ``y = c * x**p`` in log-log space.

    Args:
      x, y: positive arrays of shape (n,), n >= 2.

    Returns:
      ``(p, c)``: the exponent and the prefactor.
    """
    x = check_array(x, "x", ndim=1, dtype=float)
    y = check_array(y, "y", ndim=1, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError("x must hold at least 2 points to fit a power law")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive for a log-log fit")
    p, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(p), float(np.exp(logc))


def loglog_fit(ax, x: Any, y: Any, label: str = "", color: str | None = None,
               marker: str = "o", **kwargs) -> float:
    """Plot ``y`` vs ``x`` on log-log axes with its fitted power law; returns the exponent."""
    p, c = power_law_fit(x, y)
    x = np.asarray(x, dtype=float)
    (line,) = ax.loglog(x, y, marker=marker, linestyle="none", color=color, **kwargs)
    grid = np.geomspace(x.min(), x.max(), 50)
    ax.loglog(grid, c * grid**p, "--", color=line.get_color(),
              label=f"{label} (slope {p:.2f})" if label else f"slope {p:.2f}")
    return p


def show_images(images: Any, titles: Sequence[str] | None = None, ncols: int = 10,
                cmap: str = "gray", suptitle: str | None = None, size: float = 1.1):
    """Grid of images, shape (n, H, W) or (n, H, W, C) with C in {1, 3}; returns the figure."""
    import matplotlib.pyplot as plt

    images = check_array(images, "images", ndim=(3, 4))
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = images.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have {n} entries, got {len(titles)}")
    ncols = max(1, min(int(ncols), n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = images[i]
            if img.ndim == 3:  # RGB: rescale to [0, 1] for display
                img = (img - img.min()) / (np.ptp(img) + 1e-12)
            ax.imshow(img, cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def kernel_heatmap(ax, k: Any, title: str = "", labels: Any = None, cmap: str = "viridis"):
    """Show a kernel matrix (n, n); with ``labels`` its rows/cols are sorted by class."""
    k = check_array(k, "k", ndim=2)
    if labels is not None:
        order = np.argsort(np.asarray(labels), kind="stable")
        k = k[np.ix_(order, order)]
    im = ax.imshow(k, cmap=cmap)
    ax.set_title(title)
    ax.set_xlabel("sample j")
    ax.set_ylabel("sample i")
    ax.grid(False)
    return im


#: Corners of the lectures' triangle and the notebooks that pull on each.
TRIANGLE = {
    "Model": ("architecture, parameters", ["01 FC vs CONV", "02 NTK primer", "04 NTK vs finite nets", "09 NAS, pruning"]),
    "Algorithm": ("GD / SGD, Adam, regularisation", ["03 training speed", "08 kernel dynamics"]),
    "Data": ("structure, dimension, invariances, provenance",
             ["05 distillation", "06 attacks", "07 robust features", "10 physics (HNN)"]),
}


def lecture_triangle(ax) -> None:
    """Draw the model / algorithm / data triangle of the first slides, with the notebooks on each corner."""
    corners = {"Model": (0.5, 0.9), "Algorithm": (0.1, 0.12), "Data": (0.9, 0.12)}
    xs, ys = zip(*corners.values())
    ax.fill(xs, ys, color="C0", alpha=0.08)
    ax.plot(list(xs) + [xs[0]], list(ys) + [ys[0]], color="C0", lw=2)
    for name, (x, y) in corners.items():
        what, notebooks = TRIANGLE[name]
        top = y > 0.5
        ax.text(x, y + (0.04 if top else -0.04), name.upper(), ha="center",
                va="bottom" if top else "top", fontsize=11, weight="bold")
        body = "\n".join([what.replace(", ", ",\n", 1), ""] + notebooks)
        ax.text(x, y + (0.17 if top else -0.13), body, ha="center",
                va="bottom" if top else "top", fontsize=8, color="0.25")
    ax.text(0.5, 0.38, "NTK", ha="center", va="center", fontsize=20, color="C3", weight="bold")
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.65, 1.75)
    ax.set_title("The triangle: model, algorithm, data")
    ax.axis("off")
