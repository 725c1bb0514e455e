r"""Hamiltonian mechanics for learning: systems, phase-space data, Hamiltonian neural networks
(Greydanus, Dzamba & Yosinski, NeurIPS 2019), rollouts and energy drift.

Hamiltonian dynamics
    A state ``x = (q, p)`` of ``d`` degrees of freedom has ``2d`` coordinates (positions first).
    A Hamiltonian ``H(q, p)`` defines the vector field (Hamilton's equations)::

        dq/dt =  dH/dp,   dp/dt = -dH/dq,   i.e.  dx/dt = S_H(x) = J grad H(x),
        J = [[0, I_d], [-I_d, 0]]                      (:func:`symplectic_matrix`)

    ``S_H`` is the *symplectic gradient* of ``H``.  ``H`` is conserved along its flow
    (``dH/dt = grad H . J grad H = 0`` since ``J`` is antisymmetric) and the flow preserves
    phase-space volume (``div S_H = 0``, Liouville).
Systems (:class:`HamiltonianSystem`)
    :func:`mass_spring` ``H = k q^2 / 2 + p^2 / (2 m)`` and :func:`pendulum`
    ``H = m g l (1 - cos q) + p^2 / (2 m l^2)``, with the defaults of the reference code
    (github.com/greydanus/hamiltonian-nn): ``H = q^2 + p^2`` and ``H = 3 (1 - cos q) + p^2``.
    Each has its exact energy, vector field, oscillation period (the pendulum's from the
    complete elliptic integral ``K``) and, for the spring, the closed-form trajectory.
Data (:func:`phase_space_data`)
    Trajectories from random initial states, observed with Gaussian noise on ``(q, p)`` and
    exact time derivatives as targets, split into train/test by trajectory (as the reference).
Models (:class:`VectorFieldModel`)
    :func:`baseline_model`: an MLP that outputs ``(dq/dt, dp/dt)`` directly;
    :func:`hnn_model`: an MLP ``H_theta(x)`` (one scalar output) whose vector field is its
    symplectic gradient, computed with ``jax.grad`` (:func:`symplectic_gradient`).  Both are
    trained on the same loss ``1/2 mean_i |f_theta(x_i) - dx_i/dt|^2`` by the GD core
    (:func:`fit_fields`, several data sets at once with :func:`lecture_lib.train.run`).
Rollouts
    :func:`rollout` integrates a learned field with ``scipy.integrate.solve_ivp`` (a maintained,
    adaptive solver; default ``DOP853``, ``rtol = atol = 1e-9``) over a *fixed* time grid,
    with the network evaluated in float64 (a float32 right-hand side would make the step
    control chase round-off).  :func:`exact_trajectories` does the same for the true system
    (closed form where there is one).
Energy drift
    :func:`energy_drift` ``H(x_t) - H(x_0)``, :func:`relative_energy_error`,
    :func:`energy_mse` (the reference's metric: ``mean_t (H(x^true_t) - H(x_t))^2``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import kernels, train
from .precision import x64
from .progress import progress as _progress
from .validation import check_array, check_choice, check_rng, check_scalar

__all__ = [
    "HamiltonianSystem", "mass_spring", "pendulum", "symplectic_matrix", "symplectic_gradient",
    "exact_trajectories", "PhaseSpaceData", "phase_space_data", "with_noise", "grid",
    "VectorFieldModel", "baseline_model", "hnn_model", "divergence", "FieldFit", "fit_fields",
    "field_mse", "rollout", "ROLLOUT_METHOD", "ROLLOUT_RTOL", "ROLLOUT_ATOL",
    "energy_drift", "relative_energy_error", "energy_mse",
]

#: Default solver and tolerances of :func:`rollout` and :func:`exact_trajectories`.
ROLLOUT_METHOD: str = "DOP853"
ROLLOUT_RTOL: float = 1e-9
ROLLOUT_ATOL: float = 1e-9


def _xp(x: Any):
    """``jax.numpy`` for JAX arrays and tracers, ``numpy`` otherwise."""
    return jnp if isinstance(x, (jax.Array, jax.core.Tracer)) else np


# --------------------------------------------------------------------------- #
# Systems
# --------------------------------------------------------------------------- #
class HamiltonianSystem(NamedTuple):
    """A conservative system with ``d`` degrees of freedom, states ``(..., 2d)`` = ``(q, p)``.

    Attributes:
      name: e.g. ``"mass-spring"``.
      dof: ``d``.
      hamiltonian: ``H(x) -> (...)`` for states ``x (..., 2d)``; works on numpy arrays
        (float64) and on JAX arrays/tracers (so ``jax.grad`` of it is the exact gradient).
      vector_field: the exact ``dx/dt (..., 2d)``, written out by hand (numpy or JAX).
      period: ``period(x) -> (...)``, the oscillation period of the orbit through ``x``.
      solution: ``solution(x0 (N, 2d), t (T,)) -> (N, T, 2d)`` in closed form, or ``None``
        (then :func:`exact_trajectories` integrates ``vector_field`` numerically).
      radius_range: ``(r_min, r_max)``, radii ``|x_0|`` of the initial states of the
        reference data sets.
      params: the physical constants.
    """

    name: str
    dof: int
    hamiltonian: Callable[[Any], Any]
    vector_field: Callable[[Any], Any]
    period: Callable[[Any], Any]
    solution: Callable[[np.ndarray, np.ndarray], np.ndarray] | None
    radius_range: tuple[float, float]
    params: dict


def _check_positive(**values: float) -> None:
    for name, v in values.items():
        check_scalar(v, name, min_value=0.0, strict_min=True)


def mass_spring(k: float = 2.0, m: float = 0.5,
                radius_range: tuple[float, float] = (0.1, 1.0)) -> HamiltonianSystem:
    """Frictionless mass on a spring: ``H = k q^2 / 2 + p^2 / (2 m)``.

    The defaults ``k = 2, m = 1/2`` give the reference code's ``H = q^2 + p^2``
    (angular frequency ``omega = sqrt(k / m) = 2``; the paper's text writes ``k = m = 1``,
    which only rescales time).  Exact solution::

        q(t) = q0 cos(omega t) + p0 / (m omega) sin(omega t),
        p(t) = p0 cos(omega t) - m omega q0 sin(omega t).

    ``radius_range``: the reference samples initial radii ``|x_0|`` uniformly in ``[0.1, 1]``.
    """
    _check_positive(k=k, m=m)
    k, m = float(k), float(m)
    omega = (k / m) ** 0.5
    r0, r1 = _check_radius_range(radius_range)

    def hamiltonian(x):
        return 0.5 * k * x[..., 0] ** 2 + x[..., 1] ** 2 / (2 * m)

    def vector_field(x):
        return _xp(x).stack([x[..., 1] / m, -k * x[..., 0]], axis=-1)

    def period(x):
        return np.full(np.shape(x)[:-1], 2 * np.pi / omega)

    def solution(x0, t):
        x0 = check_array(x0, "x0", ndim=2, dtype=np.float64)
        t = check_array(t, "t", ndim=1, dtype=np.float64)
        c, s = np.cos(omega * t), np.sin(omega * t)
        q0, p0 = x0[:, :1], x0[:, 1:2]
        q = q0 * c + p0 / (m * omega) * s
        p = p0 * c - m * omega * q0 * s
        return np.stack([q, p], axis=-1)

    return HamiltonianSystem("mass-spring", 1, hamiltonian, vector_field, period, solution,
                             (r0, r1), {"k": k, "m": m, "omega": omega})


def pendulum(m: float = 0.5, g: float = 6.0, l: float = 1.0,
             radius_range: tuple[float, float] = (1.3, 2.3)) -> HamiltonianSystem:
    """Frictionless pendulum: ``H = m g l (1 - cos q) + p^2 / (2 m l^2)``.

    The defaults ``m = 1/2, g = 6, l = 1`` give the reference code's
    ``H = 3 (1 - cos q) + p^2`` (small-angle frequency ``omega_0 = sqrt(g / l)``).  The period
    of a libration with amplitude ``q_max`` (``cos q_max = 1 - H / (m g l)``) is
    ``4 K(k^2) / omega_0`` with ``k = sin(q_max / 2)`` and ``K`` the complete elliptic integral
    of the first kind (``scipy.special.ellipk``); orbits with ``H >= 2 m g l`` rotate and get
    ``inf``.  No closed-form trajectory is provided (:func:`exact_trajectories` integrates).

    ``radius_range``: the reference samples initial radii ``|x_0|`` uniformly in ``[1.3, 2.3]``
    (energies between the linear and the nonlinear regime, below the separatrix ``H = 6``).
    """
    _check_positive(m=m, g=g, l=l)
    m, g, l = float(m), float(g), float(l)
    mgl, inertia = m * g * l, m * l * l
    omega0 = (g / l) ** 0.5
    r0, r1 = _check_radius_range(radius_range)

    def hamiltonian(x):
        return mgl * (1 - _xp(x).cos(x[..., 0])) + x[..., 1] ** 2 / (2 * inertia)

    def vector_field(x):
        xp = _xp(x)
        return xp.stack([x[..., 1] / inertia, -mgl * xp.sin(x[..., 0])], axis=-1)

    def period(x):
        from scipy.special import ellipk

        h = np.asarray(hamiltonian(np.asarray(x, dtype=np.float64)))
        k2 = h / (2 * mgl)                        # sin^2(q_max / 2) = (1 - cos q_max) / 2
        with np.errstate(divide="ignore"):
            return np.where(k2 < 1, 4 * ellipk(np.minimum(k2, 1.0)) / omega0, np.inf)

    return HamiltonianSystem("pendulum", 1, hamiltonian, vector_field, period, None,
                             (r0, r1), {"m": m, "g": g, "l": l, "omega0": omega0})


def _check_radius_range(radius_range: Any) -> tuple[float, float]:
    if not isinstance(radius_range, (tuple, list)) or len(radius_range) != 2:
        raise TypeError(f"radius_range must be a pair (r_min, r_max), got {radius_range!r}")
    r0, r1 = (float(check_scalar(r, "radius_range", min_value=0.0)) for r in radius_range)
    if not r0 <= r1:
        raise ValueError(f"radius_range must have r_min <= r_max, got {radius_range!r}")
    return r0, r1


def _check_system(system: Any) -> HamiltonianSystem:
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem (mass_spring(), pendulum()), "
                        f"got {type(system).__name__}")
    return system


def _check_states(x: Any, name: str, system: HamiltonianSystem, ndim=None) -> np.ndarray:
    x = check_array(x, name, dtype=np.float64, **({} if ndim is None else {"ndim": ndim}))
    if x.shape[-1] != 2 * system.dof:
        raise ValueError(f"{name} must have 2 * dof = {2 * system.dof} coordinates in its last "
                         f"axis, got shape {x.shape}")
    return x


def symplectic_matrix(dof: int, dtype: Any = np.float64) -> np.ndarray:
    """``J = [[0, I_d], [-I_d, 0]]`` of shape ``(2d, 2d)``: ``J grad H = (dH/dp, -dH/dq)``."""
    check_scalar(dof, "dof", kind=int, min_value=1)
    eye = np.eye(dof, dtype=dtype)
    zero = np.zeros((dof, dof), dtype=dtype)
    return np.block([[zero, eye], [-eye, zero]])


def symplectic_gradient(hamiltonian_fn: Callable) -> Callable:
    """The vector field ``S_H(params, x) = J grad_x H(params, x)`` of a learned Hamiltonian.

    Args:
      hamiltonian_fn: ``H(params, x) -> (n,) | (n, 1)`` for states ``x (n, 2d)``; each output
        row must depend on its own input row only (true for an MLP), so that ``grad_x`` of
        ``sum_i H(params, x)_i`` is the per-row gradient.

    Returns:
      ``field(params, x) -> (n, 2d)`` with ``field[:, :d] = dH/dp`` and
      ``field[:, d:] = -dH/dq``: differentiable in ``params`` (training differentiates through
      the input gradient) and ``jit``-able.
    """
    if not callable(hamiltonian_fn):
        raise TypeError(f"hamiltonian_fn must be callable, got {type(hamiltonian_fn).__name__}")

    def field(params, x):
        grad = jax.grad(lambda z: jnp.sum(hamiltonian_fn(params, z)))(x)
        d = x.shape[-1] // 2
        return jnp.concatenate([grad[..., d:], -grad[..., :d]], axis=-1)

    return field


def exact_trajectories(system: HamiltonianSystem, x0: Any, t: Any, *,
                       method: str = ROLLOUT_METHOD, rtol: float = 1e-12,
                       atol: float = 1e-12) -> np.ndarray:
    """True trajectories ``(N, T, 2d)`` from initial states ``x0 (N, 2d)`` at times ``t (T,)``.

    The closed form where the system has one (mass-spring); otherwise ``solve_ivp`` on the
    exact ``vector_field`` with tight default tolerances (``rtol = atol = 1e-12``).  ``t``
    must start at 0 and increase.
    """
    system = _check_system(system)
    x0 = _check_states(x0, "x0", system, ndim=2)
    t = _check_times(t)
    if system.solution is not None:
        return system.solution(x0, t)
    return _solve(lambda y: system.vector_field(y), x0, t, method, rtol, atol)


def _check_times(t: Any) -> np.ndarray:
    t = check_array(t, "t", ndim=1, dtype=np.float64)
    if t[0] != 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t must start at 0 and be strictly increasing")
    return t


def _solve(field: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, t: np.ndarray,
           method: str, rtol: float, atol: float) -> np.ndarray:
    """All ``N`` initial states as one ODE system of ``N * 2d`` coordinates (one solver call)."""
    from scipy.integrate import solve_ivp

    method = check_choice(method, "method", ("rk45", "dop853", "rk23")).upper()
    check_scalar(rtol, "rtol", min_value=0.0, strict_min=True)
    check_scalar(atol, "atol", min_value=0.0, strict_min=True)
    n, dim = x0.shape

    def rhs(_, y):
        return np.asarray(field(y.reshape(n, dim)), dtype=np.float64).reshape(-1)

    if len(t) == 1:
        return x0[:, None, :].copy()
    sol = solve_ivp(rhs, (0.0, float(t[-1])), x0.reshape(-1), method=method, t_eval=t,
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y.reshape(n, dim, len(t)).transpose(0, 2, 1)


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
class PhaseSpaceData(NamedTuple):
    """Noisy phase-space observations with exact time derivatives (the reference's data sets).

    ``x``/``dxdt`` ``(n, 2d)`` training inputs (noisy) and targets (exact, at the clean
    states); ``x_test``/``dxdt_test`` the same for the test trajectories; ``t (T,)`` the
    observation times; ``clean (N, T, 2d)`` the noise-free trajectories (the first ``N_train``
    are the training ones), ``noise (N, T, 2d)`` the standard-normal draws that were scaled by
    ``noise_std`` and added; ``n_train_trajectories``.
    """

    x: np.ndarray
    dxdt: np.ndarray
    x_test: np.ndarray
    dxdt_test: np.ndarray
    t: np.ndarray
    clean: np.ndarray
    noise: np.ndarray
    noise_std: float
    n_train_trajectories: int


def phase_space_data(system: HamiltonianSystem, *, n_trajectories: int = 50,
                     t_span: tuple[float, float] = (0.0, 3.0), n_points: int = 30,
                     noise_std: float = 0.1, test_fraction: float = 0.5,
                     seed: Any = 0) -> PhaseSpaceData:
    """Trajectories of ``system`` as in the reference's ``get_dataset``.

    Each initial state is a uniform direction in ``[-1, 1]^{2d}`` scaled to a radius drawn
    uniformly from ``system.radius_range``; the trajectory is observed at ``n_points`` equally
    spaced times in ``t_span`` (reference: ``[0, 3]``, 30 points for the spring, 45 for the
    pendulum), Gaussian noise of standard deviation ``noise_std`` is added to ``(q, p)`` and
    the targets are the *exact* derivatives at the clean states.  The first
    ``round((1 - test_fraction) * n_trajectories)`` trajectories are the training set.

    The clean trajectories and the standard-normal noise come from two independent streams of
    ``seed``, so data sets that differ only in ``noise_std`` share both (common random
    numbers: a noise sweep changes nothing but the noise level).
    """
    system = _check_system(system)
    check_scalar(n_trajectories, "n_trajectories", kind=int, min_value=2)
    check_scalar(n_points, "n_points", kind=int, min_value=1)
    check_scalar(noise_std, "noise_std", min_value=0.0)
    check_scalar(test_fraction, "test_fraction", min_value=0.0, strict_min=True, max_value=1.0)
    if not isinstance(t_span, (tuple, list)) or len(t_span) != 2:
        raise TypeError(f"t_span must be a pair (t0, t1), got {t_span!r}")
    t0, t1 = (float(check_scalar(v, "t_span")) for v in t_span)
    if not t1 > t0:
        raise ValueError(f"t_span must have t1 > t0, got {t_span!r}")
    n_train = int(round((1 - test_fraction) * n_trajectories))
    if not 1 <= n_train < n_trajectories:
        raise ValueError(f"test_fraction={test_fraction} leaves {n_train} of {n_trajectories} "
                         "trajectories for training; both sets must be non-empty")
    rng_states, rng_noise = check_rng(seed, "seed").spawn(2)
    dim = 2 * system.dof
    direction = rng_states.uniform(-1, 1, (n_trajectories, dim))
    radius = rng_states.uniform(*system.radius_range, n_trajectories)
    x0 = direction / np.linalg.norm(direction, axis=1, keepdims=True) * radius[:, None]
    t = np.linspace(t0, t1, n_points)
    clean = exact_trajectories(system, x0, t - t0)
    noise = rng_noise.standard_normal(clean.shape)
    dxdt = np.asarray(system.vector_field(clean), dtype=np.float64)
    noisy = clean + noise_std * noise
    flat = lambda a: a.reshape(-1, dim)  # noqa: E731
    return PhaseSpaceData(
        x=flat(noisy[:n_train]), dxdt=flat(dxdt[:n_train]),
        x_test=flat(noisy[n_train:]), dxdt_test=flat(dxdt[n_train:]),
        t=t, clean=clean, noise=noise, noise_std=float(noise_std), n_train_trajectories=n_train)


def with_noise(data: PhaseSpaceData, noise_std: float) -> PhaseSpaceData:
    """The same trajectories and normal draws at another noise level: inputs
    ``clean + noise_std * noise`` (the data set :func:`phase_space_data` returns for the same
    seed and ``noise_std``, without integrating again)."""
    if not isinstance(data, PhaseSpaceData):
        raise TypeError(f"data must be a PhaseSpaceData, got {type(data).__name__}")
    check_scalar(noise_std, "noise_std", min_value=0.0)
    dim = data.clean.shape[-1]
    noisy = data.clean + noise_std * data.noise
    n = data.n_train_trajectories
    return data._replace(x=noisy[:n].reshape(-1, dim), x_test=noisy[n:].reshape(-1, dim),
                         noise_std=float(noise_std))


def grid(lim: float | tuple[float, float], n: int = 15) -> np.ndarray:
    """``n * n`` states ``(q, p)`` on a square grid over ``[-lim, lim]^2`` (or ``(lo, hi)``),
    row-major in ``p`` then ``q``: shape ``(n * n, 2)`` (for phase portraits and quiver plots)."""
    lo, hi = (-float(lim), float(lim)) if np.isscalar(lim) else map(float, lim)
    check_scalar(n, "n", kind=int, min_value=2)
    if not hi > lo:
        raise ValueError(f"lim must give an interval with hi > lo, got {lim!r}")
    q, p = np.meshgrid(np.linspace(lo, hi, n), np.linspace(lo, hi, n))
    return np.stack([q.ravel(), p.ravel()], axis=1)


# --------------------------------------------------------------------------- #
# Models
# --------------------------------------------------------------------------- #
class VectorFieldModel(NamedTuple):
    """A learnable vector field, in the style of stax triples.

    ``init_fn(key, input_shape) -> (output_shape, params)``; ``field_fn(params, x (n, 2d)) ->
    (n, 2d)``; ``energy_fn(params, x) -> (n,)`` the learned Hamiltonian (``None`` for the
    baseline, which has no conserved quantity); ``kind`` = ``"baseline"`` or ``"hnn"``.
    """

    init_fn: Callable
    field_fn: Callable
    energy_fn: Callable | None
    kind: str


def _mlp(width: int, depth: int, out_dim: int, activation: str, b_std: float):
    # Standard parameterisation (weights N(0, 1/fan_in), biases N(0, b_std^2)), as PyTorch's
    # MLP of the reference; biases are needed (a bias-free tanh net is odd in x, H is even).
    return kernels.fc(depth=depth, width=width, activation=activation, W_std=1.0, b_std=b_std,
                      out_dim=out_dim, parameterization="standard")


def baseline_model(dof: int = 1, width: int = 200, depth: int = 2, activation: str = "tanh",
                   b_std: float = 0.1) -> VectorFieldModel:
    """The baseline: an MLP ``(q, p) -> (dq/dt, dp/dt)`` with ``2d`` outputs.

    ``depth`` hidden layers of ``width`` units (reference: 2 x 200, tanh).  It can represent
    any vector field, conservative or not.
    """
    check_scalar(dof, "dof", kind=int, min_value=1)
    init_fn, apply_fn, _ = _mlp(width, depth, 2 * dof, activation, b_std)
    return VectorFieldModel(init_fn, apply_fn, None, "baseline")


def hnn_model(dof: int = 1, width: int = 200, depth: int = 2, activation: str = "tanh",
              b_std: float = 0.1) -> VectorFieldModel:
    """A Hamiltonian neural network: an MLP ``H_theta(q, p)`` with one output, and the vector
    field its symplectic gradient ``J grad_x H_theta`` (:func:`symplectic_gradient`).

    Whatever the parameters, the field conserves ``H_theta`` and is divergence-free: the
    inductive bias is in the architecture.  ``activation`` must be smooth (the field is a
    gradient and training differentiates it once more): ``"tanh"`` (reference), ``"erf"`` or
    ``"gelu"``.
    """
    check_scalar(dof, "dof", kind=int, min_value=1)
    activation = check_choice(activation, "activation", ("tanh", "erf", "gelu"))
    init_fn, apply_fn, _ = _mlp(width, depth, 1, activation, b_std)

    def energy_fn(params, x):
        return apply_fn(params, x)[..., 0]

    return VectorFieldModel(init_fn, symplectic_gradient(energy_fn), energy_fn, "hnn")


def divergence(field_fn: Callable, params: Any, x: Any, *, members: bool = False) -> np.ndarray:
    """``div f(x) = sum_j d f_j / d x_j`` per state (``jax.jacfwd``): ``x (n, D) -> (n,)``.

    The rate at which the flow of ``f`` expands phase-space volume: 0 for a Hamiltonian field.
    With ``members=True``, ``params`` leaves have a leading axis ``M``, ``x`` is ``(M, n, D)``
    and the result ``(M, n)`` (one compiled call).
    """
    x = check_array(x, "x", ndim=3 if members else 2)

    def one(p, z):
        return jnp.trace(jax.jacfwd(lambda y: field_fn(p, y[None])[0])(z))

    fn = jax.vmap(one, in_axes=(None, 0))
    fn = jax.vmap(fn) if members else fn
    return np.asarray(jax.jit(fn)(params, jnp.asarray(x, jnp.float32)), dtype=np.float64)


class FieldFit(NamedTuple):
    """Output of :func:`fit_fields`: ``params`` with a leading member axis ``M`` and
    ``loss (M, steps + 1)``, the training objective before every update and after the last."""

    params: Any
    loss: np.ndarray


def fit_fields(field_fn: Callable, params: Any, x: Any, dxdt: Any, *,
               lr: float | Callable[[Any], Any] = 1e-3,
               steps: int = 2000, optimizer: str = "adam", chunks: int = 10,
               progress: bool = False) -> FieldFit:
    """Fit ``M`` vector fields, each to its own data set, with the GD core in one compiled loop.

    Minimises ``1/2 mean_i |f(params_m, x_mi) - dxdt_mi|^2`` (``losses.mse``, ``"mean"``) for
    every member ``m`` with full-batch ``optimizer`` steps: :func:`lecture_lib.train.run`
    under ``jit(vmap)`` over members, in ``chunks`` calls of one compiled function (for the
    progress bar).  The reference trains one model at a time with full-batch Adam, lr
    ``1e-3``, 2000 steps.  Use :func:`lecture_lib.train.fit` for a single data set and a
    recorded :class:`~lecture_lib.train.Trajectory`.

    Args:
      field_fn: ``field_fn(params, x (n, D)) -> (n, D)`` (e.g. ``hnn_model().field_fn``).
      params: initial parameters, every leaf with a leading member axis ``M``.
      x, dxdt: ``(M, n, D)`` inputs and target derivatives.
      lr: step size ``> 0`` or a schedule ``lr(step)`` written in ``jnp``.
      steps, optimizer: see :func:`lecture_lib.train.fit`.
      chunks: number of compiled calls the steps are split into (``1 <= chunks <= steps``).
      progress: ``tqdm`` bar over the steps.

    Returns:
      :class:`FieldFit`.
    """
    if not callable(field_fn):
        raise TypeError(f"field_fn must be callable, got {type(field_fn).__name__}")
    x = check_array(x, "x", ndim=3)
    dxdt = check_array(dxdt, "dxdt", ndim=3)
    if x.shape != dxdt.shape:
        raise ValueError(f"x and dxdt must have the same shape, got {x.shape} and {dxdt.shape}")
    if not callable(lr):
        lr = float(check_scalar(lr, "lr", min_value=0.0, strict_min=True))
    check_scalar(steps, "steps", kind=int, min_value=1)
    check_scalar(chunks, "chunks", kind=int, min_value=1, max_value=steps)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {type(progress).__name__}")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves")
    if any(np.shape(leaf)[:1] != (x.shape[0],) for leaf in leaves):
        raise ValueError(f"every leaf of params needs a leading member axis of size M = {x.shape[0]}")
    obj = train.objective(train.make_model(field_fn), "mse", "mean")
    opt = train.optimizer(optimizer, lr)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(dxdt, jnp.float32)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)

    def chunk(state, p0, x_, y_, buf, start, stop):
        return train.run(obj, opt, state, train.Problem(p0, x_, y_), start, stop, buf)

    chunk_j = jax.jit(jax.vmap(chunk, in_axes=(0, 0, 0, 0, 0, None, None)))
    final_j = jax.jit(jax.vmap(lambda st, p0, x_, y_: obj(opt[2](st), p0, x_, y_)))
    state = jax.vmap(opt[0])(params)
    buf = jnp.zeros((x.shape[0], steps), jnp.float32)
    bounds = np.linspace(0, steps, chunks + 1).round().astype(int)
    bar = _progress(total=steps, desc=f"fit {x.shape[0]} fields ({optimizer})", enabled=progress)
    try:
        for a, b in zip(bounds[:-1], bounds[1:]):
            state, buf = chunk_j(state, params, xj, yj, buf, int(a), int(b))
            if bar is not None:
                bar.update(int(b - a))
    finally:
        if bar is not None:
            bar.close()
    last = final_j(state, params, xj, yj)
    final = jax.device_get(jax.vmap(opt[2])(state))
    loss = np.concatenate([np.asarray(buf, np.float64), np.asarray(last, np.float64)[:, None]], axis=1)
    return FieldFit(final, loss)


def field_mse(field_fn: Callable, params: Any, x: Any, dxdt: Any, *,
              members: bool = False) -> float | np.ndarray:
    """``mean_i mean_j (f_j(x_i) - dxdt_ij)^2`` over states ``x (n, D)``: the reference's L2
    loss (``(u - v).pow(2).mean()``), ``2 / D`` times the training objective of
    :func:`fit_fields`; the field is evaluated in float32, as trained.  With ``members=True``
    (``params`` leaves with a leading axis ``M``, ``x`` and ``dxdt`` of shape ``(M, n, D)``)
    one value per member, ``(M,)``, in one compiled call."""
    x = check_array(x, "x", ndim=3 if members else 2)
    dxdt = check_array(dxdt, "dxdt", ndim=3 if members else 2)
    if x.shape != dxdt.shape:
        raise ValueError(f"x and dxdt must have the same shape, got {x.shape} and {dxdt.shape}")
    key = (field_fn, members)
    if key not in _FIELD_JIT:          # reuse the compiled field across calls (same model)
        if len(_FIELD_JIT) >= 32:
            _FIELD_JIT.clear()
        _FIELD_JIT[key] = jax.jit(jax.vmap(field_fn) if members else field_fn)
    pred = np.asarray(_FIELD_JIT[key](params, jnp.asarray(x, jnp.float32)), dtype=np.float64)
    err = np.mean((pred - dxdt) ** 2, axis=(-2, -1))
    return err if members else float(err)


_FIELD_JIT: dict = {}


# --------------------------------------------------------------------------- #
# Rollouts and energy
# --------------------------------------------------------------------------- #
def rollout(field_fn: Callable, params: Any, x0: Any, t: Any, *, members: bool = False,
            method: str = ROLLOUT_METHOD, rtol: float = ROLLOUT_RTOL, atol: float = ROLLOUT_ATOL,
            dtype: str = "float64") -> np.ndarray:
    """Integrate ``dx/dt = field_fn(params, x)`` from ``x0 (N, D)`` over the fixed times
    ``t (T,)`` (starting at 0): trajectories ``(N, T, D)``.

    ``scipy.integrate.solve_ivp`` (``method``, ``rtol``, ``atol``; defaults ``DOP853``,
    ``1e-9``, ``1e-9``) on the stacked state of all trajectories, in one solver call (its error
    norm is the RMS over all stacked coordinates, so one trajectory's local error is at most
    ``sqrt(#coordinates)`` times the tolerance).  The field is ``jit``-ed and evaluated in
    ``dtype`` (parameters cast).  ``"float64"`` (default) makes the tolerance, not round-off,
    the limit; ``"float32"`` is the precision a model was trained in and about 3x cheaper per
    call: with ``RK45`` it still tracks tolerances down to ``rtol ~ 1e-8`` (measured on HNN
    fields: the drift of ``H_theta`` along its own rollout follows ``rtol``), while ``DOP853``
    at such tolerances hits the float32 round-off of the field.  The time grid is used as
    given: nothing is rescaled.

    With ``members=True`` every leaf of ``params`` has a leading axis ``M`` (``M`` models,
    e.g. from :func:`fit_fields`), ``x0`` is ``(M, N, D)`` and the result ``(M, N, T, D)``:
    all models are integrated together (``vmap`` of ``field_fn``).
    """
    if not callable(field_fn):
        raise TypeError(f"field_fn must be callable, got {type(field_fn).__name__}")
    if not isinstance(members, bool):
        raise TypeError(f"members must be a bool, got {type(members).__name__}")
    x0 = check_array(x0, "x0", ndim=3 if members else 2, dtype=np.float64)
    t = _check_times(t)
    dtype = check_choice(dtype, "dtype", ("float32", "float64"))
    np_dtype = np.float64 if dtype == "float64" else np.float32
    shape = x0.shape
    with (x64() if dtype == "float64" else contextlib.nullcontext()):
        p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, np_dtype), params)
        f = jax.jit(jax.vmap(field_fn) if members else field_fn)

        def field(y):  # y: (N_total, D) -> (N_total, D)
            return f(p, y.reshape(shape).astype(np_dtype)).reshape(y.shape)

        out = _solve(field, x0.reshape(-1, shape[-1]), t, method, rtol, atol)
    return out.reshape(shape[:-1] + (len(t), shape[-1]))


def energy_drift(system: HamiltonianSystem, states: Any) -> np.ndarray:
    """``H(x_t) - H(x_0)`` for trajectories ``states (..., T, 2d)``: shape ``(..., T)``."""
    system = _check_system(system)
    states = _check_states(states, "states", system)
    if states.ndim < 2:
        raise ValueError(f"states must have a time axis (..., T, 2d), got shape {states.shape}")
    h = np.asarray(system.hamiltonian(states), dtype=np.float64)
    return h - h[..., :1]


def relative_energy_error(system: HamiltonianSystem, states: Any) -> np.ndarray:
    """``|H(x_t) - H(x_0)| / |H(x_0)|`` for trajectories ``states (..., T, 2d)``: ``(..., T)``."""
    drift = energy_drift(system, states)
    h0 = np.asarray(system.hamiltonian(np.asarray(states, np.float64)[..., :1, :]), np.float64)
    if np.any(h0 == 0):
        raise ValueError("relative_energy_error needs H(x_0) != 0 (a state at rest at the minimum)")
    return np.abs(drift) / np.abs(h0)


def energy_mse(system: HamiltonianSystem, states: Any, reference: Any, *,
               axis: int | tuple[int, ...] | None = -1) -> np.ndarray | float:
    """The reference's energy metric ``mean_t (H(x^ref_t) - H(x_t))^2`` (over ``axis``; by
    default the time axis of ``(..., T, 2d)`` states, giving one value per trajectory)."""
    system = _check_system(system)
    states = _check_states(states, "states", system)
    reference = _check_states(reference, "reference", system)
    if states.shape != reference.shape:
        raise ValueError(f"states and reference must have the same shape, got {states.shape} "
                         f"and {reference.shape}")
    diff = np.asarray(system.hamiltonian(reference)) - np.asarray(system.hamiltonian(states))
    return np.mean(diff ** 2, axis=axis)
