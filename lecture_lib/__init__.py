"""lecture_lib: the small library shared by the notebooks of the companion to
J. Kempe's lectures *Kernels, Data and Physics* (Les Houches 2022).

Importing the package first quiets TensorFlow (imported by neural-tangents at
import time) so that no log lines land in notebook outputs, then exposes the
submodules::

    from lecture_lib import kernels, krr, spectral, attacks, data, train

Modules
-------
config       scale setting (``LECTURE_SCALE``), seeds, cache directory
validation   argument checks that raise ``ValueError``/``TypeError`` naming the argument
kernels      neural-tangents architectures (FC, CNN), analytic and empirical NTK/NNGP
recursion    the FC NNGP/NTK recursion of Jacot et al. written out step by step
krr          kernel ridge regression and closed-form gradient-descent dynamics
spectral     eigendecompositions, label projections, residual decay
attacks      FGSM and PGD (L-inf, L2) against any differentiable JAX predictor
train        small JAX training loops for finite networks
data         offline (digits, UCI, MNIST-1D) and online (MNIST, Fashion-MNIST, CIFAR-10) data
plotting     figure helpers
widgets      ipywidgets helpers over precomputed results

Helpers of single notebooks (reusable, tested, but tied to one lecture topic):
inductive_bias  01: channel-norm task, k-patterns, Theorem 4 CNN, coupon collector
ntk_primer      02: kernel convergence with width, lazy-training runs
spectral_bias   03: two-layer ReLU NTK, label noise, circle/sphere eigenvalues
comparison      04: finite vs infinite width, cost scaling, small-data baselines
"""
from __future__ import annotations

import os as _os
import warnings as _warnings

# Must happen before TensorFlow is imported (neural-tangents imports it).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# neural-tangents 0.6.5 touches jax.core.* names that jax 0.5 deprecates.
_warnings.filterwarnings("ignore", message=r".*jax\.core\..*deprecated.*")
_warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"neural_tangents.*")

__version__ = "0.1.0"

__all__ = [
    "config", "validation", "kernels", "recursion", "krr", "spectral",
    "attacks", "train", "data", "plotting", "widgets",
    "inductive_bias", "ntk_primer", "spectral_bias", "comparison",
]


def __getattr__(name: str):  # lazy submodule import: `lecture_lib.kernels` etc.
    if name in __all__:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'lecture_lib' has no attribute {name!r}")
