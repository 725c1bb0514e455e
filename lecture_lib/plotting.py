"""Figure helpers that keep notebook cells short.

All functions draw on a given ``matplotlib`` ``Axes`` (or make one) and return
what they computed, so notebooks can assert on it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import power_law_fit
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


def loglog_fit(ax, x: Any, y: Any, label: str = "", color: str | None = None,
               marker: str = "o", **kwargs) -> float:
    """Plot ``y`` vs ``x`` on log-log axes with its fitted power law; returns the exponent."""
    p, c = power_law_fit(x, y)  # lecture_lib.metrics
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
