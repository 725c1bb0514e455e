r"""Experiments of ``notebooks/10_hamiltonian_networks.ipynb``: Hamiltonian neural networks
(Greydanus, Dzamba & Yosinski, NeurIPS 2019) against a baseline MLP.

The story: data that *obeys a physical law* (here: conservation of energy) can be matched by
an architecture that obeys it too.  Both models see the same noisy observations
``(q, p) -> (dq/dt, dp/dt)`` of a mass-spring and a pendulum and fit them equally well one step
ahead; but the baseline's field is an arbitrary vector field, whose rollouts drift in energy,
while the HNN's field is the symplectic gradient of a learned scalar ``H_theta`` and conserves
it exactly, so its energy error stays bounded over long rollouts.

* :func:`run_experiment` -- data for each system and noise level, both models trained with the
  GD core (:func:`lecture_lib.hamiltonian.fit_fields`), one-step errors, and rollouts of every
  model from test initial states over one fixed time grid (``solve_ivp``), plus the exact
  trajectories.  Returns an :class:`Experiment`.
* :func:`energy_mse_vs_horizon`, :func:`relative_energy_errors`, :func:`drift_growth`,
  :func:`learned_energy_fit`, :func:`own_energy_drift`, :func:`mean_divergence` -- measures on an
  :class:`Experiment`.
* :func:`compare_protocols` -- the reference notebook's energy metric (``analyze-spring.ipynb``)
  with its rollout horizons as they actually were (its ``integrate_models`` rescales
  ``t_span``/``t_eval`` *in place*, so every rollout is 9 % longer than the one before) against
  fixed horizons.
* :func:`plot_phase_portraits`, :func:`plot_energy_vs_horizon`, :func:`plot_learned_energy`
  (static figures) and
  :func:`explorer` (the figure and ``update`` function of the notebook's widget).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import hamiltonian as ham
from ..validation import check_array, check_choice, check_rng, check_scalar

__all__ = [
    "SYSTEM_NAMES", "MODEL_KINDS", "make_system", "Experiment", "run_experiment", "member_params",
    "relative_energy_errors", "energy_mse_vs_horizon", "drift_growth", "learned_energy_fit",
    "own_energy_drift", "mean_divergence", "reference_horizons", "reference_initial_states", "ProtocolComparison",
    "compare_protocols", "plot_phase_portraits", "plot_energy_vs_horizon", "plot_learned_energy",
    "explorer",
]

SYSTEM_NAMES: tuple[str, ...] = ("mass-spring", "pendulum")
MODEL_KINDS: tuple[str, ...] = ("baseline", "hnn")
_LABELS = {"baseline": "baseline MLP", "hnn": "Hamiltonian NN"}
_COLORS = {"truth": "k", "baseline": "C3", "hnn": "C0"}


def make_system(name: str) -> ham.HamiltonianSystem:
    """``"mass-spring"`` (``H = q^2 + p^2``) or ``"pendulum"`` (``H = 3 (1 - cos q) + p^2``),
    the reference's two ideal systems (:mod:`lecture_lib.hamiltonian`)."""
    name = check_choice(name, "name", SYSTEM_NAMES)
    return ham.mass_spring() if name == "mass-spring" else ham.pendulum()


# --------------------------------------------------------------------------- #
# The experiment
# --------------------------------------------------------------------------- #
class Experiment(NamedTuple):
    """Output of :func:`run_experiment` (``S`` systems, ``K`` noise levels, ``N`` rollouts,
    ``T`` times; model axis in :data:`MODEL_KINDS` order: baseline, HNN).

    Attributes:
      systems: the ``S`` :class:`~lecture_lib.hamiltonian.HamiltonianSystem`.
      noise_levels: ``(K,)`` standard deviations of the observation noise.
      data: ``data[s][k]`` the :class:`~lecture_lib.hamiltonian.PhaseSpaceData`.
      models: the two :class:`~lecture_lib.hamiltonian.VectorFieldModel`.
      params: per model, trained parameters with a leading member axis ``S * K``
        (member ``s * K + k``; see :func:`member_params`).
      train_loss: ``(2, S, K, steps + 1)`` training objective.
      test_error, clean_error: ``(2, S, K)`` one-step error ``mean (f(x) - dx/dt)^2`` on the
        test trajectories, at the noisy inputs (the reference's test loss) and at the clean
        states (the error of the learned field itself).
      t: ``(T,)`` rollout times (fixed grid from 0 to the horizon).
      x0: ``(S, K, N, 2)`` rollout initial states (first clean state of test trajectories).
      true: ``(S, K, N, T, 2)`` exact trajectories.
      rollouts: ``(2, S, K, N, T, 2)`` model rollouts.
      solver: ``(method, rtol, atol, dtype)`` of the rollouts.
    """

    systems: tuple
    noise_levels: np.ndarray
    data: tuple
    models: tuple
    params: tuple
    train_loss: np.ndarray
    test_error: np.ndarray
    clean_error: np.ndarray
    t: np.ndarray
    x0: np.ndarray
    true: np.ndarray
    rollouts: np.ndarray
    solver: tuple


def run_experiment(
    systems: Sequence[str] = SYSTEM_NAMES,
    noise_levels: Sequence[float] = (0.0, 0.1, 0.2),
    *,
    width: int = 32,
    depth: int = 2,
    steps: int = 800,
    lr: float | tuple[float, float] = (1e-2, 1e-3),
    n_trajectories: int = 50,
    n_points: int = 30,
    n_rollouts: int = 10,
    horizon: float = 40.0,
    n_times: int = 401,
    method: str = "RK45",
    rtol: float = 1e-7,
    atol: float = 1e-7,
    dtype: str = "float32",
    seed: int = 0,
    progress: bool = True,
) -> Experiment:
    """Train a baseline and an HNN for every system and noise level, and roll them out.

    Data: :func:`lecture_lib.hamiltonian.phase_space_data` with ``n_trajectories``
    trajectories of ``n_points`` observations on ``t in [0, 3]``, half for training; the noise
    levels share the trajectories and the normal draws (only the scale changes); seeds
    ``1000 * seed + s`` per system.  Models: ``depth`` tanh layers of ``width`` units;
    full-batch Adam for ``steps`` steps, at a constant ``lr`` or, for a pair ``(lr0, lr1)``,
    decaying exponentially from ``lr0`` to ``lr1``; all ``S * K`` members of a model train in
    one compiled loop.  Rollouts: from the first state of each of the first ``n_rollouts``
    test trajectories, on ``n_times`` equally spaced times in ``[0, horizon]``, with
    ``solve_ivp(method, rtol, atol)`` (every member of both models in one call) and the field evaluated in ``dtype`` (float32 is the
    precision the models were trained in; with RK45 it is good down to ``rtol ~ 1e-8``).

    The reference (github.com/greydanus/hamiltonian-nn) uses width 200, 2000 steps at a
    constant ``lr = 1e-3`` (and weight decay 1e-4), noise 0.1, 30 points per spring and 45 per
    pendulum trajectory, and rollouts with ``solve_ivp`` (RK45, ``rtol = 1e-12``).
    """
    names = tuple(check_choice(s, "systems", SYSTEM_NAMES) for s in systems)
    if not names:
        raise ValueError("systems must not be empty")
    noise = check_array(noise_levels, "noise_levels", ndim=1, dtype=np.float64)
    if np.any(noise < 0):
        raise ValueError(f"noise_levels must be >= 0, got {noise.tolist()}")
    for name, v in (("width", width), ("depth", depth), ("steps", steps), ("n_points", n_points),
                    ("n_rollouts", n_rollouts), ("n_times", n_times)):
        check_scalar(v, name, kind=int, min_value=1)
    check_scalar(n_trajectories, "n_trajectories", kind=int, min_value=2)
    if n_rollouts > n_trajectories - n_trajectories // 2:
        raise ValueError(f"n_rollouts={n_rollouts} exceeds the {n_trajectories - n_trajectories // 2} "
                         "test trajectories")
    check_scalar(horizon, "horizon", min_value=0.0, strict_min=True)
    check_scalar(seed, "seed", kind=int, min_value=0)
    if isinstance(lr, (tuple, list)):
        if len(lr) != 2:
            raise ValueError(f"lr must be a number or a pair (lr0, lr1), got {lr!r}")
        lr0, lr1 = (float(check_scalar(v, "lr", min_value=0.0, strict_min=True)) for v in lr)
        schedule = lambda i: lr0 * (lr1 / lr0) ** (i / steps)  # noqa: E731
    else:
        schedule = float(check_scalar(lr, "lr", min_value=0.0, strict_min=True))
    S, K = len(names), len(noise)
    sys_objs = tuple(make_system(n) for n in names)
    base = [ham.phase_space_data(system, n_trajectories=n_trajectories, n_points=n_points,
                                 noise_std=0.0, seed=1000 * seed + i) for i, system in enumerate(sys_objs)]
    data = tuple(tuple(ham.with_noise(d, float(nz)) for nz in noise) for d in base)
    flat = [d for row in data for d in row]
    x = np.stack([d.x for d in flat])
    y = np.stack([d.dxdt for d in flat])
    models = (ham.baseline_model(width=width, depth=depth), ham.hnn_model(width=width, depth=depth))
    params, losses = [], []
    for j, model in enumerate(models):
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), j), S * K)
        # one eager init per member, stacked: jit(vmap(init_fn)) compiles the unrolled random
        # draws for several seconds, the eager draws reuse one small compilation per shape
        p0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[model.init_fn(k, (-1, 2))[1] for k in keys])
        fit = ham.fit_fields(model.field_fn, p0, x, y, lr=schedule, steps=steps, progress=progress)
        params.append(fit.params)
        losses.append(fit.loss.reshape(S, K, -1))
    x_test = np.stack([d.x_test for d in flat])
    dxdt_test = np.stack([d.dxdt_test for d in flat])
    clean_test = np.stack([d.clean[d.n_train_trajectories:].reshape(-1, 2) for d in flat])
    test_error = np.stack([ham.field_mse(mdl.field_fn, p, x_test, dxdt_test, members=True)
                           for mdl, p in zip(models, params)]).reshape(2, S, K)
    clean_error = np.stack([ham.field_mse(mdl.field_fn, p, clean_test, dxdt_test, members=True)
                            for mdl, p in zip(models, params)]).reshape(2, S, K)
    t = np.linspace(0.0, float(horizon), n_times)
    x0 = np.stack([d.clean[d.n_train_trajectories:d.n_train_trajectories + n_rollouts, 0] for d in flat])
    true = []
    for m in range(S * K):          # the noise levels share their clean trajectories: reuse
        if m % K and np.array_equal(x0[m], x0[m - 1]):
            true.append(true[-1])
        else:
            true.append(ham.exact_trajectories(sys_objs[m // K], x0[m], t))
    true = np.stack(true)
    rollouts = _rollout_pair(models, params, x0, t, members=True, method=method, rtol=rtol,
                             atol=atol, dtype=dtype)
    shape = (S, K) + x0.shape[1:]
    return Experiment(
        systems=sys_objs, noise_levels=noise, data=data, models=models, params=tuple(params),
        train_loss=np.stack(losses), test_error=test_error, clean_error=clean_error, t=t,
        x0=x0.reshape(shape), true=true.reshape((S, K) + true.shape[1:]),
        rollouts=np.stack([r.reshape((S, K) + r.shape[1:]) for r in rollouts]),
        solver=(method, float(rtol), float(atol), dtype))


def _paired_field(models: Sequence[ham.VectorFieldModel]) -> Any:
    """One field for a baseline and an HNN side by side: ``params = (p_baseline, p_hnn)``,
    ``x (2N, D)``, the first ``N`` states moved by the baseline, the last ``N`` by the HNN."""
    key = tuple(m.field_fn for m in models)
    if key not in _PAIRED:
        if len(_PAIRED) >= 8:
            _PAIRED.clear()

        def field(params, x):
            n = x.shape[0] // 2
            return jnp.concatenate([models[0].field_fn(params[0], x[:n]),
                                    models[1].field_fn(params[1], x[n:])])

        _PAIRED[key] = field
    return _PAIRED[key]


_PAIRED: dict = {}


def _rollout_pair(models: Sequence[ham.VectorFieldModel], params: Sequence[Any], x0: np.ndarray,
                  t: np.ndarray, *, members: bool, **solver: Any) -> list[np.ndarray]:
    """Both models rolled out from the same ``x0`` (``(N, D)``, or ``(M, N, D)`` with
    ``members``) in *one* ``solve_ivp`` call (:func:`lecture_lib.hamiltonian.rollout` of the
    paired field): half the field evaluations of two calls, since the adaptive steps of the two
    models are about the same.  Returns ``[baseline, hnn]`` trajectories ``(..., N, T, D)``."""
    n = x0.shape[-2]
    both = ham.rollout(_paired_field(models), tuple(params), np.concatenate([x0, x0], axis=-2), t,
                       members=members, **solver)
    return [both[..., :n, :, :], both[..., n:, :, :]]


def _on_members(fn: Any, exp: Experiment, j: int, x: np.ndarray) -> np.ndarray:
    """``fn(params_m, x_m)`` for every member ``m`` of model ``j``, in one compiled call:
    ``x (n, D)`` shared or ``(S * K, n, D)`` per member -> ``(S * K, n, ...)`` (float64)."""
    shared = np.ndim(x) == 2
    key = (fn, shared)
    if key not in _JIT_CACHE:
        if len(_JIT_CACHE) >= 32:      # one entry per (model, mode) of recent experiments
            _JIT_CACHE.clear()
        _JIT_CACHE[key] = jax.jit(jax.vmap(fn, in_axes=(0, None if shared else 0)))
    return np.asarray(_JIT_CACHE[key](exp.params[j], jnp.asarray(x, jnp.float32)), dtype=np.float64)


_JIT_CACHE: dict = {}


def _member(params: Any, m: int) -> Any:
    return jax.tree_util.tree_map(lambda a: a[m], params)


def _index(exp: Experiment, system: str | int, noise: float | int | None = None) -> tuple[int, int]:
    names = [s.name for s in exp.systems]
    if isinstance(system, str):
        if system not in names:
            raise ValueError(f"system must be one of {names}, got {system!r}")
        s = names.index(system)
    else:
        s = int(check_scalar(system, "system", kind=int, min_value=0, max_value=len(names) - 1))
    if noise is None:
        return s, 0
    if isinstance(noise, (int, np.integer)) and not isinstance(noise, bool):
        k = int(check_scalar(noise, "noise", kind=int, min_value=0,
                             max_value=len(exp.noise_levels) - 1))
    else:
        check_scalar(noise, "noise", min_value=0.0)
        hits = np.flatnonzero(np.isclose(exp.noise_levels, noise))
        if not len(hits):
            raise ValueError(f"noise must be one of {exp.noise_levels.tolist()} (or an index), got {noise}")
        k = int(hits[0])
    return s, k


def member_params(exp: Experiment, kind: str, system: str | int, noise: float | int) -> Any:
    """Trained parameters of one model (``kind`` in :data:`MODEL_KINDS`); ``noise`` is a noise
    level of the experiment (a float) or its index (an int)."""
    j = MODEL_KINDS.index(check_choice(kind, "kind", MODEL_KINDS))
    s, k = _index(exp, system, noise)
    return _member(exp.params[j], s * len(exp.noise_levels) + k)


# --------------------------------------------------------------------------- #
# Measures
# --------------------------------------------------------------------------- #
def relative_energy_errors(exp: Experiment) -> np.ndarray:
    """``|H(x_t) - H(x_0)| / H(x_0)`` of every rollout: ``(2, S, K, N, T)`` (true energy)."""
    return np.stack([np.stack([ham.relative_energy_error(system, exp.rollouts[j, s])
                               for s, system in enumerate(exp.systems)]) for j in range(2)])


def energy_mse_vs_horizon(exp: Experiment) -> np.ndarray:
    """The reference's energy metric as a function of the rollout horizon ``exp.t[i]``:
    ``mean_{trajectories} mean_{t <= t_i} (H(x^true_t) - H(x_t))^2``, shape ``(2, S, K, T)``."""
    out = []
    for j in range(2):
        per_sys = []
        for s, system in enumerate(exp.systems):
            sq = (np.asarray(system.hamiltonian(exp.true[s])) -
                  np.asarray(system.hamiltonian(exp.rollouts[j, s]))) ** 2      # (K, N, T)
            running = np.cumsum(sq, axis=-1) / np.arange(1, sq.shape[-1] + 1)
            per_sys.append(running.mean(axis=1))
        out.append(np.stack(per_sys))
    return np.stack(out)


def drift_growth(exp: Experiment) -> np.ndarray:
    """How much the energy error grows along a rollout: the relative energy error averaged over
    the last quarter of the horizon divided by its average over the first quarter (median over
    trajectories), shape ``(2, S, K)``.  About 7 for an error that grows linearly in time,
    about 1 for a bounded, oscillating one."""
    rel = relative_energy_errors(exp)
    q = max(1, rel.shape[-1] // 4)
    first = rel[..., 1:q + 1].mean(axis=-1)          # t = 0 has zero error by definition
    last = rel[..., -q:].mean(axis=-1)
    return np.median(last / np.maximum(first, 1e-300), axis=-1)


def learned_energy_fit(exp: Experiment) -> np.ndarray:
    """``R^2`` of the best affine fit ``H ~ a H_theta + b`` of the true energy by the HNN's
    learned Hamiltonian on the clean test states, ``(S, K)``.  Energy is defined up to an
    additive constant (and the units of ``H_theta`` are free), so ``R^2`` near 1 means the HNN
    found the system's energy."""
    S, K = len(exp.systems), len(exp.noise_levels)
    states = np.stack([d.clean[d.n_train_trajectories:].reshape(-1, 2) for row in exp.data for d in row])
    h_hat = _on_members(exp.models[1].energy_fn, exp, 1, states)
    out = np.zeros(S * K)
    for m in range(S * K):
        h_true = np.asarray(exp.systems[m // K].hamiltonian(states[m]))
        out[m] = np.corrcoef(h_true, h_hat[m])[0, 1] ** 2
    return out.reshape(S, K)


def own_energy_drift(exp: Experiment) -> np.ndarray:
    """How well each HNN rollout conserves the HNN's *own* ``H_theta``: the largest
    ``|H_theta(x_t) - H_theta(x_0)|`` over its rollouts, divided by the range of ``H_theta``
    over the data set's clean states, shape ``(S, K)``.  Exactly 0 for the exact flow of
    ``J grad H_theta``, so it measures the ODE solver's error (a sanity check)."""
    S, K = len(exp.systems), len(exp.noise_levels)
    energy = exp.models[1].energy_fn
    roll = exp.rollouts[1].reshape(S * K, -1, 2)
    h = _on_members(energy, exp, 1, roll).reshape(S * K, *exp.rollouts.shape[3:5])
    clean = np.stack([d.clean.reshape(-1, 2) for row in exp.data for d in row])
    h_data = _on_members(energy, exp, 1, clean)
    drift = np.abs(h - h[..., :1]).max(axis=(1, 2)) / np.ptp(h_data, axis=1)
    return drift.reshape(S, K)


def mean_divergence(exp: Experiment) -> np.ndarray:
    """Mean absolute divergence ``<|div f|>`` of each learned field over the clean test states,
    ``(2, S, K)`` (one compiled call per model).

    ``div f`` is the rate at which the flow of ``f`` expands (``> 0``) or contracts (``< 0``)
    phase-space area.  The true fields, and every HNN field whatever its parameters, have
    ``div f = 0`` (Liouville's theorem); a field with ``div f != 0`` on the data cannot be the
    flow of any energy, and its orbits cannot all close."""
    S, K = len(exp.systems), len(exp.noise_levels)
    states = np.stack([d.clean[d.n_train_trajectories:].reshape(-1, 2) for row in exp.data for d in row])
    return np.stack([np.abs(ham.divergence(model.field_fn, p, states, members=True)).mean(axis=-1)
                     for model, p in zip(exp.models, exp.params)]).reshape(2, S, K)


# --------------------------------------------------------------------------- #
# The reference notebook's rollout protocol
# --------------------------------------------------------------------------- #
def reference_horizons(t_end: float = 20.0, noise_std: float = 0.1, n: int = 15,
                       calls_before: int = 1) -> np.ndarray:
    """Horizons of the ``n`` model rollouts of ``analyze-spring.ipynb``'s energy-MSE loop.

    Its ``integrate_models`` rescales time "to compensate for noise effects" *in place*
    (``t_span[1] *= 1 + .9 * noise_std; t_eval *= ...`` on the caller's list and array), so the
    rescaling compounds: after ``calls_before`` calls (the plotting cell's) the loop's
    ``i``-th call integrates the models to ``t_end * (1 + 0.9 noise_std)^(calls_before + i + 1)``
    (23.8 to 79.4 for ``t_end = 20``, not 20).
    """
    check_scalar(t_end, "t_end", min_value=0.0, strict_min=True)
    check_scalar(noise_std, "noise_std", min_value=0.0)
    check_scalar(n, "n", kind=int, min_value=1)
    check_scalar(calls_before, "calls_before", kind=int, min_value=0)
    return float(t_end) * (1 + 0.9 * noise_std) ** (calls_before + 1 + np.arange(n))


def reference_initial_states(n: int = 15, seed: int = 0) -> np.ndarray:
    """The reference loop's initial states: each coordinate uniform in ``[-1, -0.2] U [0.2, 1]``
    (``x0 = U(-0.8, 0.8)^2; x0 += 0.2 sign(x0)``), shape ``(n, 2)``."""
    check_scalar(n, "n", kind=int, min_value=1)
    x0 = check_rng(seed, "seed").uniform(-0.8, 0.8, (n, 2))
    return x0 + 0.2 * np.sign(x0)


class ProtocolComparison(NamedTuple):
    """Output of :func:`compare_protocols` (model axis: baseline, HNN).

    ``x0 (R, 2)``; ``horizons_reference (R,)`` and ``horizon_fixed``; ``energy_mse_reference``
    and ``energy_mse_fixed`` ``(2, R)`` (the metric of each rollout); ``ratio_reference`` and
    ``ratio_fixed``: mean baseline energy MSE / mean HNN energy MSE under each protocol.
    """

    x0: np.ndarray
    horizons_reference: np.ndarray
    horizon_fixed: float
    energy_mse_reference: np.ndarray
    energy_mse_fixed: np.ndarray
    ratio_reference: float
    ratio_fixed: float


def compare_protocols(exp: Experiment, system: str = "mass-spring", noise: float = 0.1, *,
                      n_rollouts: int = 15, t_end: float = 20.0, n_points: int = 100,
                      seed: int = 0) -> ProtocolComparison:
    """The reference's energy metric for the trained models of ``exp`` under its two protocols.

    Both use the reference's initial states (:func:`reference_initial_states`) and its metric
    ``mean over n_points equally spaced times of (H(x0) - H(x_t))^2`` (the true energy is
    constant).  "Reference": rollout ``i`` runs to :func:`reference_horizons` ``[i]`` (what the
    published loop did); "fixed": every rollout runs to ``t_end`` and nothing is rescaled.  All
    rollouts of both models are one ``solve_ivp`` call on the union of the time grids, with the
    solver settings of ``exp``.
    """
    s, k = _index(exp, system, noise)
    check_scalar(n_points, "n_points", kind=int, min_value=2)
    sys_obj = exp.systems[s]
    method, rtol, atol, dtype = exp.solver
    x0 = reference_initial_states(n_rollouts, seed)
    horizons = reference_horizons(t_end, float(exp.noise_levels[k]), n_rollouts)
    grids = [np.linspace(0, h, n_points) for h in horizons] + [np.linspace(0, t_end, n_points)]
    t_all = np.unique(np.concatenate(grids))
    h0 = np.asarray(sys_obj.hamiltonian(x0))
    ref, fixed = np.zeros((2, n_rollouts)), np.zeros((2, n_rollouts))
    trajs = _rollout_pair(exp.models, [member_params(exp, kind, s, k) for kind in MODEL_KINDS], x0, t_all,
                          members=False, method=method, rtol=rtol, atol=atol, dtype=dtype)
    for j, traj in enumerate(trajs):
        h = np.asarray(sys_obj.hamiltonian(traj))                                # (R, T_all)
        for i in range(n_rollouts):
            ref[j, i] = np.mean((h0[i] - h[i, np.searchsorted(t_all, grids[i])]) ** 2)
            fixed[j, i] = np.mean((h0[i] - h[i, np.searchsorted(t_all, grids[-1])]) ** 2)
    return ProtocolComparison(x0, horizons, float(t_end), ref, fixed,
                              float(ref[0].mean() / ref[1].mean()),
                              float(fixed[0].mean() / fixed[1].mean()))


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #
def _phase_limits(exp: Experiment, s: int) -> float:
    return 1.15 * float(np.abs(exp.true[s]).max())


def plot_phase_portraits(axes, exp: Experiment, noise: float | int, *, n_show: int = 3,
                         grid_size: int = 15) -> None:
    """Phase portraits, one row per system: the true field, the baseline's and the HNN's learned
    fields (arrows) with ``n_show`` rollouts over the whole horizon, and the training data.

    ``axes``: array of shape ``(S, 3)``.
    """
    axes = np.asarray(axes)
    if axes.shape != (len(exp.systems), 3):
        raise ValueError(f"axes must have shape ({len(exp.systems)}, 3), got {axes.shape}")
    K = len(exp.noise_levels)
    for s, system in enumerate(exp.systems):
        _, k = _index(exp, s, noise)
        lim = _phase_limits(exp, s)
        g = ham.grid(lim, grid_size)
        d = exp.data[s][k]
        learned = [_on_members(model.field_fn, exp, j, g)[s * K + k] for j, model in enumerate(exp.models)]
        for c, kind in enumerate(("truth",) + MODEL_KINDS):
            ax = axes[s, c]
            if kind == "truth":
                f = np.asarray(system.vector_field(g))
                paths = exp.true[s, k, :n_show]
                title = f"{system.name}: true field and trajectories"
            else:
                j = MODEL_KINDS.index(kind)
                f = learned[j]
                paths = exp.rollouts[j, s, k, :n_show]
                title = f"{system.name}: {_LABELS[kind]}"
            ax.quiver(g[:, 0], g[:, 1], f[:, 0], f[:, 1], color="0.6", angles="xy")
            if kind == "truth":
                ax.plot(d.x[:, 0], d.x[:, 1], ".", color="C2", ms=2, alpha=0.5,
                        label=f"training data (noise {exp.noise_levels[k]:g})")
            for i, path in enumerate(paths):
                ax.plot(path[:, 0], path[:, 1], color=_COLORS[kind], lw=1,
                        label=f"rollout to t = {exp.t[-1]:g}" if i == 0 else None)
                ax.plot(*exp.x0[s, k, i], "o", color="k", ms=3)
            ax.set(title=title, xlabel="position $q$", ylabel="momentum $p$",
                   xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                      frameon=False)             # below the axes: the orbits reach the corners


def plot_energy_vs_horizon(ax, exp: Experiment, system: str | int, *, noise: float | int | None = None,
                           curves: np.ndarray | None = None) -> None:
    """Energy MSE (reference metric) against the rollout horizon, log-log, baseline vs HNN;
    one line per noise level (all levels if ``noise`` is None).  ``curves``: a precomputed
    :func:`energy_mse_vs_horizon`."""
    s, _ = _index(exp, system)
    curves = energy_mse_vs_horizon(exp) if curves is None else curves
    ks = range(len(exp.noise_levels)) if noise is None else [_index(exp, s, noise)[1]]
    styles = ["-", "--", "-.", ":"]
    for j, kind in enumerate(MODEL_KINDS):
        for n, k in enumerate(ks):
            ax.loglog(exp.t[1:], curves[j, s, k, 1:], color=_COLORS[kind], ls=styles[n % 4],
                      label=f"{_LABELS[kind]}, noise {exp.noise_levels[k]:g}")
    ax.set(title=f"{exp.systems[s].name}: energy error vs rollout horizon",
           xlabel="rollout horizon $T$ (time units)",
           ylabel=r"energy MSE $\langle (H(x^{true}_t) - H(x_t))^2 \rangle_{t \leq T}$")
    ax.legend(fontsize=7)


def plot_learned_energy(ax, exp: Experiment, system: str | int, noise: float | int, *,
                        grid_size: int = 60, levels: int = 8) -> float:
    """Level sets of the true energy ``H`` (black) and of the HNN's learned ``H_theta`` (blue,
    dashed), after the affine change of units ``a H_theta + b`` that best fits ``H`` on the
    clean test states, over the region the data cover.  Returns the fit's ``R^2``."""
    s, k = _index(exp, system, noise)
    m = s * len(exp.noise_levels) + k
    sys_obj, d = exp.systems[s], exp.data[s][k]
    energy = exp.models[1].energy_fn
    states = d.clean[d.n_train_trajectories:].reshape(-1, 2)
    h_true = np.asarray(sys_obj.hamiltonian(states))
    h_hat = _on_members(energy, exp, 1, states)[m]
    a, b = np.polyfit(h_hat, h_true, 1)
    r2 = float(np.corrcoef(h_true, h_hat)[0, 1] ** 2)
    lim = 1.1 * float(np.abs(d.clean).max())
    g = ham.grid(lim, grid_size)
    shape = (grid_size, grid_size)
    Q, P = g[:, 0].reshape(shape), g[:, 1].reshape(shape)
    H = np.asarray(sys_obj.hamiltonian(g)).reshape(shape)
    H_fit = (a * _on_members(energy, exp, 1, g)[m] + b).reshape(shape)
    lv = np.linspace(h_true.min(), h_true.max(), levels)
    ax.contour(Q, P, H, levels=lv, colors="k", linewidths=1.0)
    ax.contour(Q, P, H_fit, levels=lv, colors=_COLORS["hnn"], linewidths=1.2, linestyles="--")
    ax.plot(d.x[:, 0], d.x[:, 1], ".", color="C2", ms=1.5, alpha=0.4)
    ax.plot([], [], "k-", label="true energy $H$")
    ax.plot([], [], "--", color=_COLORS["hnn"], label=r"learned $a H_\theta + b$")
    ax.plot([], [], ".", color="C2", label=f"training data (noise {exp.noise_levels[k]:g})")
    ax.set(title=f"{sys_obj.name}: level sets, $R^2$ = {r2:.4f}", xlabel="position $q$",
           ylabel="momentum $p$", aspect="equal")
    ax.legend(fontsize=7, loc="upper right")
    return r2


def explorer(exp: Experiment, *, n_show: int = 3, curves: np.ndarray | None = None):
    """The notebook's widget figure: ``(fig, update)`` for :func:`lecture_lib.widgets.live_plot`.

    ``update(system, noise, horizon)`` (a system name, a noise level of ``exp``, a horizon in
    ``(0, exp.t[-1]]``) moves the artists: left, the phase portrait of ``n_show`` true, baseline
    and HNN trajectories up to the horizon; right, the median relative energy error
    ``|H(x_t) - H(x_0)| / H(x_0)`` of both models over time up to the horizon.  Everything is
    looked up in ``exp`` (no training, no integration).
    """
    import matplotlib.pyplot as plt

    rel = relative_energy_errors(exp)
    med = np.median(rel, axis=3)                                  # (2, S, K, T)
    curves = energy_mse_vs_horizon(exp) if curves is None else curves
    fig, (ax_p, ax_e) = plt.subplots(1, 2, figsize=(11, 4.3))
    lines = {kind: [ax_p.plot([], [], color=_COLORS[kind], lw=1.2 if kind != "truth" else 2.5,
                              alpha=0.4 if kind == "truth" else 1.0,
                              label=("true trajectory" if kind == "truth" else _LABELS[kind]) if i == 0 else None)[0]
                    for i in range(n_show)] for kind in ("truth",) + MODEL_KINDS}
    (starts,) = ax_p.plot([], [], "ko", ms=4, label="initial states")
    ax_p.set(xlabel="position $q$", ylabel="momentum $p$", aspect="equal")
    e_lines = {kind: ax_e.semilogy([], [], color=_COLORS[kind])[0] for kind in MODEL_KINDS}
    marker = ax_e.axvline(0, color="0.5", ls=":")
    floor = float(max(np.min(med[..., 1:][med[..., 1:] > 0]), 1e-8))
    ax_e.set(xlim=(0, exp.t[-1]), ylim=(0.5 * floor, 2 * float(np.max(med))),
             xlabel="time $t$ (time units)", ylabel=r"median $|H(x_t) - H(x_0)| / H(x_0)$")
    # One legend for both panels (same colours), below them: inside the axes it would cover the
    # rollouts, which fill the phase plane up to its corners; and a figure legend is not
    # redrawn when the lines move (lecture_lib.widgets redraws only what is drawn after them).
    fig.legend(*ax_p.get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8, frameon=False)

    def update(system: str = exp.systems[0].name, noise: float = float(exp.noise_levels[0]),
               horizon: float = float(exp.t[-1])):
        s, k = _index(exp, system, float(noise))
        check_scalar(horizon, "horizon", min_value=0.0, strict_min=True)
        i_end = int(np.searchsorted(exp.t, horizon, side="right"))
        i_end = min(max(i_end, 2), len(exp.t))
        for i in range(n_show):
            lines["truth"][i].set_data(exp.true[s, k, i, :i_end, 0], exp.true[s, k, i, :i_end, 1])
            for j, kind in enumerate(MODEL_KINDS):
                path = exp.rollouts[j, s, k, i, :i_end]
                lines[kind][i].set_data(path[:, 0], path[:, 1])
        starts.set_data(exp.x0[s, k, :n_show, 0], exp.x0[s, k, :n_show, 1])
        lim = _phase_limits(exp, s)
        if ax_p.get_xlim() != (-lim, lim):      # a change of limits redraws the whole figure
            ax_p.set(xlim=(-lim, lim), ylim=(-lim, lim))
        ax_p.set_title(f"{exp.systems[s].name}, noise {exp.noise_levels[k]:g}: "
                       f"rollouts to t = {exp.t[i_end - 1]:.1f}", fontsize=10)
        for j, kind in enumerate(MODEL_KINDS):
            e_lines[kind].set_data(exp.t[1:i_end], med[j, s, k, 1:i_end])
        marker.set_xdata([exp.t[i_end - 1]] * 2)
        b, h = curves[0, s, k, i_end - 1], curves[1, s, k, i_end - 1]
        ax_e.set_title(f"energy MSE to t = {exp.t[i_end - 1]:.1f}: baseline {b:.1e}, HNN {h:.1e} "
                       f"({b / h:.0f}x)", fontsize=10)

    update()                                      # titles in place, then laid out once, with room
    fig.tight_layout(rect=(0, 0.06, 1, 1))        # for the legend (live_plot keeps this layout)
    return fig, update
