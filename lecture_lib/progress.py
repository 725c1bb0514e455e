"""Progress bars for long loops (``tqdm.auto``: a widget in notebooks, text elsewhere).

Bars are created with ``leave=False`` so a finished loop leaves nothing in a saved notebook.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress"]


def progress(iterable: Iterable | None = None, enabled: bool = True, *, total: int | None = None,
             desc: str | None = None, **kwargs: Any):
    """``tqdm(iterable, desc=..., leave=False)``, or ``iterable`` itself when not ``enabled``.

    With ``iterable=None`` returns a manual bar (``bar.update(k)``, ``bar.close()``), or
    ``None`` when not enabled.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, **kwargs)
