"""Run-wide settings: the scale knob, seeds and the data cache directory.

Environment variables
---------------------
``LECTURE_SCALE``
    ``small`` (default): every notebook runs in about a minute on 2 CPU cores
    and under 2 GB of memory.  ``full``: paper-sized runs, meant for a GPU.
``LECTURE_DATA_DIR``
    Where online data sets (MNIST, Fashion-MNIST, CIFAR-10) are cached.
    Default: ``~/.cache/lecture_lib``.
``LECTURE_SEED``
    Base random seed (default 0).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")
Scale = Literal["small", "full"]
SCALES: tuple[str, ...] = ("small", "full")


def scale() -> Scale:
    """The current scale, read from ``LECTURE_SCALE`` (``small`` or ``full``)."""
    value = os.environ.get("LECTURE_SCALE", "small").strip().lower() or "small"
    if value not in SCALES:
        raise ValueError(
            f"LECTURE_SCALE must be one of {SCALES}, got {value!r}"
        )
    return value  # type: ignore[return-value]


def by_scale(small: T, full: T) -> T:
    """Pick a value for the current scale: ``by_scale(small=500, full=60_000)``."""
    return small if scale() == "small" else full


def seed() -> int:
    """Base random seed from ``LECTURE_SEED`` (default 0)."""
    raw = os.environ.get("LECTURE_SEED", "0")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"LECTURE_SEED must be an integer, got {raw!r}") from None


def data_dir() -> Path:
    """Cache directory for downloaded data (``LECTURE_DATA_DIR``)."""
    raw = os.environ.get("LECTURE_DATA_DIR")
    path = Path(raw).expanduser() if raw else Path.home() / ".cache" / "lecture_lib"
    return path
