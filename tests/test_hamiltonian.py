"""Tests for lecture_lib.hamiltonian: systems, data, HNN / baseline fields, training, rollouts."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import ellipk

from lecture_lib import hamiltonian as ham
from lecture_lib import train
from lecture_lib.precision import x64


# --------------------------------------------------------------------------- symplectic structure
def test_symplectic_matrix():
    J = ham.symplectic_matrix(1)
    np.testing.assert_array_equal(J, [[0, 1], [-1, 0]])
    J2 = ham.symplectic_matrix(2)
    assert J2.shape == (4, 4)
    np.testing.assert_array_equal(J2.T, -J2)
    np.testing.assert_array_equal(J2 @ J2, -np.eye(4))
    np.testing.assert_array_equal(J2[:2, 2:], np.eye(2))
    with pytest.raises(ValueError, match="dof"):
        ham.symplectic_matrix(0)


def test_symplectic_gradient_is_J_grad_H_for_a_known_hamiltonian():
    # H(q1, q2, p1, p2) = q1^2 p2 + sin(q2) p1^2 + p2^3: gradients written out by hand.
    def H(params, x):
        q1, q2, p1, p2 = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
        return params * (q1**2 * p2 + jnp.sin(q2) * p1**2 + p2**3)

    x = np.random.default_rng(0).normal(size=(7, 4))
    q1, q2, p1, p2 = x.T
    dH = np.stack([2 * q1 * p2, np.cos(q2) * p1**2, 2 * np.sin(q2) * p1, q1**2 + 3 * p2**2], axis=1)
    with x64():
        field = ham.symplectic_gradient(H)
        got = np.asarray(jax.jit(field)(2.0, jnp.asarray(x)))
    np.testing.assert_allclose(got, 2.0 * dH @ ham.symplectic_matrix(2).T, rtol=1e-12)
    # (dq/dt, dp/dt) = (dH/dp, -dH/dq)
    np.testing.assert_allclose(got[:, :2], 2.0 * dH[:, 2:], rtol=1e-12)
    np.testing.assert_allclose(got[:, 2:], -2.0 * dH[:, :2], rtol=1e-12)


def test_symplectic_gradient_is_differentiable_in_params():
    field = ham.symplectic_gradient(lambda a, x: a * (x[:, 0] ** 2 + x[:, 1] ** 2))
    x = jnp.array([[1.0, 2.0], [0.5, -1.0]])
    g = jax.grad(lambda a: jnp.sum(field(a, x) ** 2))(3.0)
    # field = a (2p, -2q); sum field^2 = 4 a^2 |x|^2; d/da = 8 a |x|^2
    np.testing.assert_allclose(g, 8 * 3.0 * float(jnp.sum(x**2)), rtol=1e-5)
    with pytest.raises(TypeError, match="hamiltonian_fn"):
        ham.symplectic_gradient("H")


@pytest.mark.parametrize("make", [ham.hnn_model, ham.baseline_model])
def test_models_shapes(make):
    model = make(width=16)
    out_shape, params = model.init_fn(jax.random.PRNGKey(0), (-1, 2))
    x = jnp.ones((5, 2))
    assert model.field_fn(params, x).shape == (5, 2)
    if model.kind == "hnn":
        assert out_shape == (-1, 1) and model.energy_fn(params, x).shape == (5,)
    else:
        assert out_shape == (-1, 2) and model.energy_fn is None


def test_hnn_field_is_the_symplectic_gradient_of_its_energy():
    model = ham.hnn_model(width=24)
    _, params = model.init_fn(jax.random.PRNGKey(3), (-1, 2))
    x = jax.random.normal(jax.random.PRNGKey(4), (50, 2)) * 2
    per_row = jax.vmap(jax.grad(lambda z: model.energy_fn(params, z[None])[0]))(x)   # (dH/dq, dH/dp)
    f = model.field_fn(params, x)
    np.testing.assert_allclose(f, per_row @ ham.symplectic_matrix(1, np.float32).T, atol=1e-6)
    # it conserves its energy (dH/dt = grad H . f = 0) and is divergence-free, for any parameters
    np.testing.assert_allclose(jnp.sum(per_row * f, axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(ham.divergence(model.field_fn, params, x), 0, atol=1e-5)


def test_baseline_field_is_not_divergence_free_in_general():
    model = ham.baseline_model(width=24)
    _, params = model.init_fn(jax.random.PRNGKey(3), (-1, 2))
    x = jax.random.normal(jax.random.PRNGKey(4), (50, 2))
    assert np.abs(ham.divergence(model.field_fn, params, x)).mean() > 1e-2


def test_hnn_rejects_non_smooth_activation():
    with pytest.raises(ValueError, match="activation"):
        ham.hnn_model(activation="relu")


def test_divergence_of_a_linear_field_and_members():
    A = np.array([[0.3, 2.0], [-1.0, -0.7]], np.float32)
    field = lambda a, x: x @ a.T  # noqa: E731
    x = np.random.default_rng(1).normal(size=(6, 2))
    np.testing.assert_allclose(ham.divergence(field, A, x), np.trace(A), rtol=1e-6)
    As = np.stack([A, 2 * A])
    got = ham.divergence(field, As, np.stack([x, x]), members=True)
    assert got.shape == (2, 6)
    np.testing.assert_allclose(got[1], 2 * np.trace(A), rtol=1e-6)
    with pytest.raises(ValueError, match="x"):
        ham.divergence(field, A, x[None])


# --------------------------------------------------------------------------- systems
@pytest.mark.parametrize("system", [ham.mass_spring(), ham.mass_spring(k=3.0, m=0.7), ham.pendulum(),
                                    ham.pendulum(m=1.0, g=9.81, l=0.5)], ids=lambda s: f"{s.name}{s.params}")
def test_vector_field_is_J_grad_H(system):
    x = np.random.default_rng(0).normal(size=(9, 2))
    with x64():
        g = np.asarray(jax.vmap(jax.grad(system.hamiltonian))(jnp.asarray(x)))
    np.testing.assert_allclose(system.vector_field(x), g @ ham.symplectic_matrix(1).T, rtol=1e-12, atol=1e-14)


def test_reference_hamiltonians():
    x = np.array([[0.3, -0.4], [1.2, 0.5]])
    np.testing.assert_allclose(ham.mass_spring().hamiltonian(x), x[:, 0] ** 2 + x[:, 1] ** 2)
    np.testing.assert_allclose(ham.pendulum().hamiltonian(x), 3 * (1 - np.cos(x[:, 0])) + x[:, 1] ** 2)
    assert ham.mass_spring().radius_range == (0.1, 1.0) and ham.pendulum().radius_range == (1.3, 2.3)


def test_spring_closed_form_matches_numerical_integration_and_period():
    system = ham.mass_spring(k=3.0, m=0.7)
    x0 = np.array([[1.0, 0.0], [0.3, -0.5]])
    t = np.linspace(0, 10, 57)
    closed = ham.exact_trajectories(system, x0, t)
    for i in range(2):
        sol = solve_ivp(lambda _, y: system.vector_field(y), (0, 10), x0[i], t_eval=t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(closed[i], sol.y.T, atol=1e-9)
    np.testing.assert_allclose(ham.energy_drift(system, closed), 0, atol=1e-14)
    T = system.period(x0)
    np.testing.assert_allclose(T, 2 * np.pi / np.sqrt(3.0 / 0.7))
    back = ham.exact_trajectories(system, x0, np.array([0.0, T[0]]))
    np.testing.assert_allclose(back[:, 1], x0, atol=1e-12)


def test_pendulum_period_from_elliptic_integral():
    system = ham.pendulum()
    x0 = np.array([[2.0, 0.0], [0.7, 1.1], [1e-3, 0.0]])
    T = system.period(x0)
    # small amplitude: 2 pi / omega_0 (omega_0 = sqrt(g / l) = sqrt(6))
    np.testing.assert_allclose(T[2], 2 * np.pi / np.sqrt(6.0), rtol=1e-6)
    # q_max = 2 from rest: 4 K(sin^2(1)) / omega_0
    np.testing.assert_allclose(T[0], 4 * ellipk(np.sin(1.0) ** 2) / np.sqrt(6.0))
    for i in range(2):                      # one period later the state is back, half a period later not
        traj = ham.exact_trajectories(system, x0[i:i + 1], np.array([0.0, T[i] / 2, T[i]]))[0]
        np.testing.assert_allclose(traj[2], x0[i], atol=1e-8)
        assert np.abs(traj[1] - x0[i]).max() > 0.1
    # above the separatrix H = 2 m g l = 6 the pendulum rotates: no libration period
    assert np.isinf(system.period(np.array([0.0, 2.5])))


def test_exact_trajectories_conserve_energy_and_check_input():
    system = ham.pendulum()
    traj = ham.exact_trajectories(system, np.array([[1.5, 0.3]]), np.linspace(0, 30, 301))
    assert traj.shape == (1, 301, 2)
    assert np.abs(ham.energy_drift(system, traj)).max() < 1e-9
    with pytest.raises(ValueError, match="t must start at 0"):
        ham.exact_trajectories(system, np.zeros((1, 2)), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="x0"):
        ham.exact_trajectories(system, np.zeros((1, 3)), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="system"):
        ham.exact_trajectories("pendulum", np.zeros((1, 2)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("kwargs, err", [
    (dict(k=0.0), ValueError), (dict(m="1"), TypeError), (dict(radius_range=(1.0, 0.5)), ValueError),
    (dict(radius_range=1.0), TypeError),
])
def test_system_bad_input(kwargs, err):
    with pytest.raises(err):
        ham.mass_spring(**kwargs)


# --------------------------------------------------------------------------- data
def test_phase_space_data_follows_the_reference_recipe():
    system = ham.mass_spring()
    d = ham.phase_space_data(system, n_trajectories=10, n_points=30, noise_std=0.1, seed=3)
    assert d.x.shape == (150, 2) and d.x_test.shape == (150, 2) and d.clean.shape == (10, 30, 2)
    assert d.n_train_trajectories == 5
    np.testing.assert_allclose(d.t, np.linspace(0, 3, 30))
    r0 = np.linalg.norm(d.clean[:, 0], axis=1)
    assert np.all((r0 >= 0.1) & (r0 <= 1.0))
    # targets: exact derivatives at the clean states; inputs: clean + noise
    np.testing.assert_allclose(d.dxdt, system.vector_field(d.clean[:5]).reshape(-1, 2))
    np.testing.assert_allclose(d.x_test, (d.clean[5:] + 0.1 * d.noise[5:]).reshape(-1, 2))
    np.testing.assert_allclose(d.clean, ham.exact_trajectories(system, d.clean[:, 0], d.t), atol=1e-12)
    assert abs(d.noise.std() - 1) < 0.1


def test_phase_space_data_seeds_and_common_random_numbers():
    system = ham.pendulum()
    a = ham.phase_space_data(system, n_trajectories=6, n_points=5, noise_std=0.1, seed=1)
    b = ham.phase_space_data(system, n_trajectories=6, n_points=5, noise_std=0.3, seed=1)
    c = ham.phase_space_data(system, n_trajectories=6, n_points=5, noise_std=0.1, seed=2)
    np.testing.assert_array_equal(a.clean, b.clean)
    np.testing.assert_array_equal(a.noise, b.noise)
    assert not np.allclose(a.clean, c.clean)
    w = ham.with_noise(a, 0.3)
    for field in ("x", "x_test", "dxdt", "clean"):
        np.testing.assert_allclose(getattr(w, field), getattr(b, field))
    assert w.noise_std == 0.3
    r0 = np.linalg.norm(a.clean[:, 0], axis=1)
    assert np.all((r0 >= 1.3) & (r0 <= 2.3))


@pytest.mark.parametrize("kwargs, err", [
    (dict(n_trajectories=1), ValueError), (dict(noise_std=-0.1), ValueError), (dict(t_span=(3, 0)), ValueError),
    (dict(test_fraction=1.0), ValueError), (dict(seed=-1), ValueError), (dict(n_points=2.5), TypeError),
])
def test_phase_space_data_bad_input(kwargs, err):
    with pytest.raises(err):
        ham.phase_space_data(ham.mass_spring(), **kwargs)
    with pytest.raises(TypeError, match="data"):
        ham.with_noise("data", 0.1)


def test_grid():
    g = ham.grid(1.0, 3)
    assert g.shape == (9, 2)
    np.testing.assert_allclose(g[:3, 0], [-1, 0, 1])
    np.testing.assert_allclose(g[:3, 1], -1)
    assert ham.grid((0.0, 2.0), 4)[:, 0].max() == 2.0
    with pytest.raises(ValueError):
        ham.grid(0.0, 3)


# --------------------------------------------------------------------------- training
def test_fit_fields_matches_train_fit_for_one_member():
    """One member of fit_fields is the GD core's Adam run: same parameters as train.fit."""
    system = ham.mass_spring()
    d = ham.phase_space_data(system, n_trajectories=4, n_points=10, noise_std=0.05, seed=0)
    model = ham.hnn_model(width=8)
    _, p0 = model.init_fn(jax.random.PRNGKey(0), (-1, 2))
    ref = train.fit(model.field_fn, p0, d.x, d.dxdt, optimizer="adam", lr=1e-2, steps=30, progress=False)
    got = ham.fit_fields(model.field_fn, jax.tree_util.tree_map(lambda a: a[None], p0), d.x[None],
                         d.dxdt[None], lr=1e-2, steps=30, chunks=3)
    assert got.loss.shape == (1, 31)
    for a, b in zip(jax.tree_util.tree_leaves(ref.params), jax.tree_util.tree_leaves(got.params)):
        np.testing.assert_allclose(b[0], a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got.loss[0, :-1], ref.step_loss[:-1], rtol=1e-4)
    np.testing.assert_allclose(got.loss[0, -1], ref.train_loss[-1], rtol=1e-4)


def test_fit_fields_members_are_independent_and_learn():
    sp, pe = ham.mass_spring(), ham.pendulum()
    ds = [ham.phase_space_data(s, n_trajectories=6, n_points=15, noise_std=0.0, seed=0) for s in (sp, pe)]
    model = ham.hnn_model(width=12)
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    p0 = jax.vmap(lambda k: model.init_fn(k, (-1, 2))[1])(keys)
    x, y = np.stack([d.x for d in ds]), np.stack([d.dxdt for d in ds])
    lr = lambda i: 2e-2 * 0.1 ** (i / 150)  # noqa: E731 - a schedule works too
    both = ham.fit_fields(model.field_fn, p0, x, y, lr=lr, steps=150)
    assert np.all(both.loss[:, -1] < 0.05 * both.loss[:, 0])
    first = ham.fit_fields(model.field_fn, jax.tree_util.tree_map(lambda a: a[:1], p0), x[:1], y[:1], lr=lr, steps=150)
    np.testing.assert_allclose(first.loss[0], both.loss[0], rtol=1e-4)
    x_test, y_test = np.stack([d.x_test for d in ds]), np.stack([d.dxdt_test for d in ds])
    err0 = ham.field_mse(model.field_fn, p0, x_test, y_test, members=True)
    err = ham.field_mse(model.field_fn, both.params, x_test, y_test, members=True)
    assert err.shape == (2,) and np.all(err < 0.2 * err0), (err, err0)
    p1 = jax.tree_util.tree_map(lambda a: a[1], both.params)
    assert ham.field_mse(model.field_fn, p1, ds[1].x_test, ds[1].dxdt_test) == pytest.approx(err[1], rel=1e-5)


def test_fit_fields_bad_input():
    model = ham.baseline_model(width=4)
    p0 = jax.vmap(lambda k: model.init_fn(k, (-1, 2))[1])(jax.random.split(jax.random.PRNGKey(0), 2))
    x = np.zeros((2, 5, 2))
    with pytest.raises(ValueError, match="member axis"):
        ham.fit_fields(model.field_fn, p0, np.zeros((3, 5, 2)), np.zeros((3, 5, 2)), steps=2, chunks=1)
    with pytest.raises(ValueError, match="same shape"):
        ham.fit_fields(model.field_fn, p0, x, np.zeros((2, 4, 2)), steps=2, chunks=1)
    with pytest.raises(ValueError, match="x"):
        ham.fit_fields(model.field_fn, p0, x[0], x[0], steps=2, chunks=1)
    with pytest.raises(ValueError, match="chunks"):
        ham.fit_fields(model.field_fn, p0, x, x, steps=2, chunks=3)
    with pytest.raises(ValueError, match="lr"):
        ham.fit_fields(model.field_fn, p0, x, x, steps=2, lr=0.0)
    with pytest.raises(TypeError, match="field_fn"):
        ham.fit_fields(None, p0, x, x, steps=2, chunks=1)


def test_field_mse_is_the_reference_l2_loss():
    field = lambda a, x: a * x  # noqa: E731
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.zeros_like(x)
    assert ham.field_mse(field, 1.0, x, y) == pytest.approx(np.mean(x**2))
    with pytest.raises(ValueError, match="same shape"):
        ham.field_mse(field, 1.0, x, y[:1])


def test_field_mse_same_field_with_and_without_members():
    # the compiled field is reused across calls: one entry per (field, members) mode
    field = lambda a, x: a * x  # noqa: E731
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.zeros_like(x)
    one = ham.field_mse(field, 2.0, x, y)
    many = ham.field_mse(field, np.array([1.0, 2.0, 3.0]), np.stack([x] * 3), np.stack([y] * 3), members=True)
    np.testing.assert_allclose(many, np.array([1.0, 4.0, 9.0]) * np.mean(x**2), rtol=1e-6)
    assert ham.field_mse(field, 2.0, x, y) == pytest.approx(one) == pytest.approx(4 * np.mean(x**2))
    assert ham.field_mse(field, 3.0, 2 * x, y) == pytest.approx(36 * np.mean(x**2))


# --------------------------------------------------------------------------- rollouts and energy
@pytest.mark.parametrize("dtype, tol, method", [("float64", 1e-9, "DOP853"), ("float32", 1e-7, "RK45")])
def test_rollout_of_the_true_field_is_the_exact_solution(dtype, tol, method):
    system = ham.mass_spring()
    x0 = np.array([[1.0, 0.0], [0.2, 0.6], [-0.5, 0.1]])
    t = np.linspace(0, 20, 201)
    got = ham.rollout(lambda p, x: system.vector_field(x), None, x0, t, method=method, rtol=tol, atol=tol,
                      dtype=dtype)
    assert got.shape == (3, 201, 2)
    np.testing.assert_allclose(got, ham.exact_trajectories(system, x0, t), atol=1e-6 if dtype == "float64" else 3e-4)


def test_rollout_members_equals_one_rollout_per_member():
    model = ham.hnn_model(width=8)
    p = jax.vmap(lambda k: model.init_fn(k, (-1, 2))[1])(jax.random.split(jax.random.PRNGKey(0), 2))
    x0 = np.random.default_rng(0).normal(size=(2, 3, 2))
    t = np.linspace(0, 3, 31)
    both = ham.rollout(model.field_fn, p, x0, t, members=True)
    assert both.shape == (2, 3, 31, 2)
    for m in range(2):
        one = ham.rollout(model.field_fn, jax.tree_util.tree_map(lambda a: a[m], p), x0[m], t)
        np.testing.assert_allclose(both[m], one, atol=1e-6)
        # the HNN conserves its own learned energy along its rollout (to the solver's tolerance)
        with x64():
            pm = jax.tree_util.tree_map(lambda a: jnp.asarray(a[m], jnp.float64), p)
            h = np.asarray(model.energy_fn(pm, jnp.asarray(one.reshape(-1, 2)))).reshape(3, 31)
        np.testing.assert_allclose(h - h[:, :1], 0, atol=1e-7)


def test_rollout_bad_input():
    field = lambda p, x: x  # noqa: E731
    with pytest.raises(ValueError, match="t must start at 0"):
        ham.rollout(field, None, np.zeros((1, 2)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="x0"):
        ham.rollout(field, None, np.zeros((1, 2)), np.array([0.0, 1.0]), members=True)
    with pytest.raises(ValueError, match="method"):
        ham.rollout(field, None, np.zeros((1, 2)), np.array([0.0, 1.0]), method="euler")
    with pytest.raises(ValueError, match="dtype"):
        ham.rollout(field, None, np.zeros((1, 2)), np.array([0.0, 1.0]), dtype="float16")
    with pytest.raises(ValueError, match="rtol"):
        ham.rollout(field, None, np.zeros((1, 2)), np.array([0.0, 1.0]), rtol=0.0)


def test_energy_measures():
    system = ham.mass_spring()                                  # H = q^2 + p^2
    states = np.array([[[1.0, 0.0], [0.0, 1.1], [0.9, 0.0]]])   # energies 1, 1.21, 0.81
    np.testing.assert_allclose(ham.energy_drift(system, states), [[0, 0.21, -0.19]])
    np.testing.assert_allclose(ham.relative_energy_error(system, states), [[0, 0.21, 0.19]])
    ref = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    np.testing.assert_allclose(ham.energy_mse(system, states, ref), [(0.21**2 + 0.19**2) / 3])
    assert ham.energy_mse(system, ref, ref, axis=None) == 0
    with pytest.raises(ValueError, match="same shape"):
        ham.energy_mse(system, states, ref[:, :2])
    with pytest.raises(ValueError, match="H\\(x_0\\)"):
        ham.relative_energy_error(system, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="time axis"):
        ham.energy_drift(system, np.zeros(2))
