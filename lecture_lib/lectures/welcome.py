"""The welcome notebook: the lectures' triangle, the environment check, and a first taste of
"a wide network trained by gradient descent is kernel regression" -- on average.

Lecture module of ``notebooks/00_welcome.ipynb``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..validation import check_array, check_scalar

__all__ = ["summary", "TRIANGLE", "lecture_triangle", "WideNetVsNTK", "wide_net_vs_ntk",
           "plot_wide_net_vs_ntk"]


def summary() -> dict[str, str]:
    """Versions, devices and settings, for the environment check of notebook 00."""
    import platform

    import jax
    import numpy as np

    from .._neural_tangents import nt  # neural-tangents without its TensorFlow interop

    from .. import config, kernels  # noqa: F401  (kernels: neural-tangents without TensorFlow)

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "neural_tangents": nt.__version__,
        "numpy": np.__version__,
        "devices": ", ".join(str(d) for d in jax.devices()),
        "scale": config.scale(),
        "seed": str(config.seed()),
        "data_dir": str(config.data_dir()),
    }


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


# --------------------------------------------------------------------------- #
# A wide network trained by GD vs NTK regression
# --------------------------------------------------------------------------- #
class WideNetVsNTK(NamedTuple):
    """Output of :func:`wide_net_vs_ntk` (``E`` initialisations, ``m`` test points).

    ``ntk`` (m,): NTK regression ``Theta(x, X) Theta^-1 y``; ``plain`` (E, m): the trained
    networks; ``centred`` (E, m): the trained centred networks ``f - f_0``; ``corrected`` (E, m):
    NTK regression plus each network's initial-function term
    ``f_0(x) - Theta(x, X) Theta^-1 f_0(X)``; ``gap_*`` (E,): relative distances
    ``||a - b|| / ||b||`` on the test grid (plain vs ntk, centred vs ntk, plain vs corrected);
    ``gap_ensemble``: the mean of the plain networks vs ``ntk``; ``width``, ``steps``, ``lr``,
    ``final_loss`` (E,) training loss at the end.
    """

    ntk: np.ndarray
    plain: np.ndarray
    centred: np.ndarray
    corrected: np.ndarray
    gap_plain: np.ndarray
    gap_centred: np.ndarray
    gap_corrected: np.ndarray
    gap_ensemble: float
    width: int
    steps: int
    lr: float
    final_loss: np.ndarray


def wide_net_vs_ntk(
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    width: int = 1024,
    depth: int = 2,
    b_std: float = 0.1,
    members: int = 4,
    tol: float = 1e-3,
    seed: int = 0,
) -> WideNetVsNTK:
    """Train ``members`` wide networks by GD (MSE, NTK parameterisation) and compare with NTK regression.

    The networks are ``kernels.fc(depth, width, b_std=b_std)`` initialised from
    ``jax.random.split(PRNGKey(seed), members)``, trained
    with kernel step ``1 / lambda_max(Theta)`` (``train.network_lr``) until the slowest mode of the
    linearised dynamics has decayed to ``tol``, both as they are and centred (``f - f_0``).  At
    infinite width the trained network is ``Theta(x,X) Theta^-1 y + f_0(x) - Theta(x,X) Theta^-1 f_0(X)``
    (Lee et al. 2019): its mean over initialisations, and the centred network, are NTK regression.
    """
    import jax
    import jax.numpy as jnp

    from .. import kernels, krr, metrics, train

    x_train = check_array(x_train, "x_train", ndim=2, dtype=np.float64)
    y_train = check_array(y_train, "y_train", ndim=1, dtype=np.float64)
    x_test = check_array(x_test, "x_test", ndim=2, dtype=np.float64)
    check_scalar(members, "members", kind=int, min_value=1)
    check_scalar(tol, "tol", min_value=0.0, max_value=1.0, strict_min=True)
    n = len(x_train)
    kfn = kernels.fc(depth=depth, b_std=b_std)[2]
    k = kernels.analytic_kernel(kfn, x_train, dtype="float64")
    kx = kernels.analytic_kernel(kfn, x_test, x_train, dtype="float64")
    lam = np.linalg.eigvalsh(k)
    lr = train.network_lr(1.0 / lam[-1], n)
    steps = int(np.ceil(np.log(tol) / np.log1p(-lam[0] / lam[-1])))
    ntk = krr.fit_predict(k, y_train, kx, reg=0.0)

    init_fn, apply_fn, _ = kernels.fc(depth=depth, width=width, b_std=b_std)
    keys = jax.random.split(jax.random.PRNGKey(seed), members)
    params = [init_fn(key, (1, x_train.shape[1]))[1] for key in keys]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
    kw = dict(lr=lr, steps=steps, ensemble=True, x_test=x_test.astype(np.float32),
              record_steps=[0, steps], record_outputs=True, progress=False)
    plain = train.fit(apply_fn, stacked, x_train.astype(np.float32), y_train.astype(np.float32), **kw)
    cen = train.fit(apply_fn, stacked, x_train.astype(np.float32), y_train.astype(np.float32),
                    centred=True, **kw)
    f_plain = plain.test_outputs[-1, ..., 0].astype(np.float64)
    f_cen = cen.test_outputs[-1, ..., 0].astype(np.float64)
    f0_test = plain.test_outputs[0, ..., 0].astype(np.float64)
    f0_train = plain.train_outputs[0, ..., 0].astype(np.float64)
    corrected = ntk[None] + f0_test - krr.predict(kx, krr.fit(k, f0_train.T)).T
    gap = lambda a, b: metrics.relative_error(a, b, axis=-1)  # noqa: E731
    return WideNetVsNTK(
        ntk=ntk, plain=f_plain, centred=f_cen, corrected=corrected,
        gap_plain=gap(f_plain, ntk), gap_centred=gap(f_cen, ntk), gap_corrected=gap(f_plain, corrected),
        gap_ensemble=float(metrics.relative_error(f_plain.mean(axis=0), ntk)),
        width=width, steps=steps, lr=lr, final_loss=plain.train_loss[-1])


def plot_wide_net_vs_ntk(ax, result: WideNetVsNTK, theta_test: Any, member: int = 0) -> None:
    """One initialisation: trained net, centred net and the corrected formula against NTK regression."""
    theta_test = check_array(theta_test, "theta_test", ndim=1)
    check_scalar(member, "member", kind=int, min_value=0, max_value=len(result.plain) - 1)
    r, e = result, member
    ax.plot(theta_test, r.ntk, color="k", lw=2.5, alpha=0.35, label=r"NTK regression $\Theta(x,X)\Theta^{-1}y$")
    ax.plot(theta_test, r.plain[e], color="C3", label=f"trained net (gap {r.gap_plain[e]:.3f})")
    ax.plot(theta_test, r.centred[e], "--", color="C0", label=f"trained centred net $f-f_0$ (gap {r.gap_centred[e]:.3f})")
    ax.plot(theta_test, r.corrected[e], ":", color="C2", lw=2,
            label=r"NTK + $f_0(x)-\Theta(x,X)\Theta^{-1}f_0(X)$")
    ax.set(xlabel=r"angle $\theta$ (rad)", ylabel=r"$f(\theta)$",
           title=f"width {r.width}, init {e}: {r.steps} GD steps")
    ax.legend(fontsize=7, loc="lower right")
