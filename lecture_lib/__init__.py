"""lecture_lib: the small library shared by the notebooks of the companion to
J. Kempe's lectures *Kernels, Data and Physics* (Les Houches 2022).

Submodules are imported lazily on first use::

    from lecture_lib import kernels, krr, spectral, attacks, data, train
    from lecture_lib.lectures import ntk_primer as lec     # the helper of one notebook

Core modules
------------
config       scale setting (``LECTURE_SCALE``), seeds, cache directory
validation   argument checks that raise ``ValueError``/``TypeError`` naming the argument
precision    a local float64 scope for JAX computations
progress     progress bars (tqdm) that notebooks clear before saving
kernels      neural-tangents architectures (FC, CNN), analytic and empirical NTK/NNGP, other kernels
ntk_tracking   the empirical NTK on a fixed probe set at every record of a training run (fast FC formula)
kernel_measures  kernel distance, velocity, polar coordinates, kernel-target alignment, effective rank
recursion    the FC NNGP/NTK recursion of Jacot et al. written out; arc-cosine kernels
krr          kernel ridge regression and closed-form gradient-descent dynamics
spectral     eigendecompositions, label projections, residual decay, spherical-harmonic spectra
losses       differentiable training losses (MSE, cross-entropy) in JAX
metrics      accuracy, errors, relative errors, power-law fits (numpy)
train        the gradient-descent core (GD, SGD, Adam) and its checked wrapper
attacks      FGSM and PGD (L-inf, L2, restarts) against networks and kernel predictors (the NTK
             adversary); the adversarial-training hook of train.fit
robustness   synthetic models of adversarial robustness (Schmidt et al., Tsipras et al.), exact errors
distill      dataset distillation: the KIP loss and loop; losses of DD/MAML, gradient and trajectory matching
poisoning    data poisoning through the NTK: neural tangent generalization attacks (NTGA)
intrinsic_dim  the MLE (Levina-Bickel / MacKay-Ghahramani) intrinsic-dimension estimator
proxies      training-free NAS proxies from kernels at initialisation; rank statistics
supernet     gated networks holding a search space of MLP/CNN architectures
pruning      pruning masks, sparse networks and Neural Tangent Transfer
hamiltonian  Hamiltonian systems, Hamiltonian neural networks, rollouts and energy drift
data         offline (digits, UCI, MNIST-1D) and online (MNIST, Fashion-MNIST, CIFAR-10) data
estimators   scikit-learn classifiers on precomputed Gram stacks; nested cross-validation
timing       best-of-k wall-clock timing
plotting     figure helpers
widgets      ipywidgets helpers over precomputed results

Lecture modules
---------------
``lecture_lib.lectures.<slug>`` holds the story of ``notebooks/NN_<slug>.ipynb``: its tasks,
experiments, bounds and figures (see :mod:`lecture_lib.lectures`).
"""
from __future__ import annotations

import importlib as _importlib
import warnings as _warnings

# TensorFlow is neither installed nor imported (see lecture_lib/_neural_tangents.py), so no
# TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS is needed to keep notebook outputs clean.
# neural-tangents 0.6.5 touches jax.core.* names that jax 0.5 deprecates.
_warnings.filterwarnings("ignore", message=r".*jax\.core\..*deprecated.*")
_warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"neural_tangents.*")

__version__ = "0.1.0"

__all__ = [
    "config", "validation", "precision", "progress", "kernels", "ntk_tracking", "kernel_measures", "recursion", "krr",
    "spectral", "losses", "metrics", "train", "attacks", "robustness", "distill", "poisoning", "intrinsic_dim", "proxies",
    "supernet", "pruning", "hamiltonian", "data", "estimators", "timing", "plotting", "widgets", "lectures",
]

def __getattr__(name: str):  # lazy submodule import: `lecture_lib.kernels` etc.
    if name in __all__:
        module = _importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'lecture_lib' has no attribute {name!r}")
