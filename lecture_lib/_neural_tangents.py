"""neural-tangents without its TensorFlow interop: the one place that imports it.

neural-tangents 0.6.5 (its last release) runs ``from . import experimental`` in its package
``__init__``, and ``neural_tangents.experimental`` is its TensorFlow interop
(``empirical_ntk_fn_tf``, ``get_apply_fn_and_params``), which imports ``tensorflow`` and
``tf2jax``.  Nothing in this project uses it.  Before importing neural-tangents this module
registers a stand-in for ``neural_tangents.experimental`` in :data:`sys.modules`, so that
``import neural_tangents`` loads the JAX code only (stax, ``batch``, ``empirical_ntk_fn``,
``predict``, ...).  A fresh ``import lecture_lib.kernels`` then peaks at ~150 MB RSS instead of
~670 MB and takes a quarter of the CPU time (``benchmarks/run_benchmarks.py --imports-only``), and
the environment drops TensorFlow (1.3 GB of a 2.5 GB venv).

Reaching for the interop (``nt.experimental.empirical_ntk_fn_tf``,
``from neural_tangents.experimental import ...``) raises an :class:`ImportError` that says why
and how to get it: install ``tensorflow`` and ``tf2jax==0.3.7`` and ``import neural_tangents``
*before* anything imports :mod:`lecture_lib.kernels`.  If neural-tangents is already imported
when this module loads, it is used as it is and nothing is replaced.

Exports ``nt`` (the ``neural_tangents`` package) and ``stax`` (``neural_tangents.stax``)::

    from ._neural_tangents import nt, stax
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

__all__ = ["nt", "stax", "INTEROP_MODULE", "TF_INTEROP_MESSAGE"]

INTEROP_MODULE = "neural_tangents.experimental"

TF_INTEROP_MESSAGE = (
    "neural_tangents.experimental (the TensorFlow interop of neural-tangents: "
    "empirical_ntk_fn_tf, get_apply_fn_and_params) is not loaded: lecture_lib imports "
    "neural-tangents without it, so that TensorFlow (1.3 GB, ~4 s and ~0.5 GB per kernel) is "
    "neither installed nor imported.  To use it: `pip install tensorflow tf2jax==0.3.7` "
    "(tf2jax >= 0.3.8 needs jax >= 0.7, which neural-tangents 0.6.5 cannot import), then "
    "`import neural_tangents` in a fresh process before anything imports lecture_lib.kernels."
)


class _TFInteropStandIn(types.ModuleType):
    """Stands for ``neural_tangents.experimental``: any public attribute raises ImportError.

    Dunder and underscore names raise ``AttributeError`` as usual, so that tools probing
    modules (``inspect``, ``pickle``, IPython's display hooks) are not disturbed.
    """

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        raise ImportError(f"{TF_INTEROP_MESSAGE} (asked for {self.__name__}.{name})",
                          name=self.__name__)

    def __dir__(self):
        return []

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (stand-in of lecture_lib: TensorFlow interop not loaded)>"


class _TFInteropFinder(importlib.abc.MetaPathFinder):
    """Explains ``import neural_tangents.experimental.<sub>`` while the stand-in is in place."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(INTEROP_MODULE + ".") and isinstance(
                sys.modules.get(INTEROP_MODULE), _TFInteropStandIn):
            raise ImportError(f"{TF_INTEROP_MESSAGE} (asked for {fullname})", name=fullname)
        return None


def _register_stand_in() -> None:
    if "neural_tangents" in sys.modules or INTEROP_MODULE in sys.modules:
        return  # imported already (with its interop, or by an earlier call): leave it alone
    stand_in = _TFInteropStandIn(INTEROP_MODULE, "Stand-in for the TensorFlow interop of "
                                 "neural-tangents, which lecture_lib does not load.")
    stand_in.__spec__ = importlib.machinery.ModuleSpec(INTEROP_MODULE, None, is_package=True)
    stand_in.__path__ = []  # a "package" with no files: submodules go to _TFInteropFinder
    sys.modules[INTEROP_MODULE] = stand_in
    if not any(isinstance(f, _TFInteropFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TFInteropFinder())


_register_stand_in()

import neural_tangents as nt  # noqa: E402  (after the stand-in is registered)
from neural_tangents import stax  # noqa: E402
