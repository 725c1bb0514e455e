"""Tests for lecture_lib.lectures.hamiltonian_networks (experiments of notebook 10)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

from lecture_lib import hamiltonian as ham
from lecture_lib.lectures import hamiltonian_networks as lec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(scope="module")
def exp():
    """A tiny experiment: 2 systems x 2 noise levels, a few steps, short rollouts."""
    return lec.run_experiment(noise_levels=(0.0, 0.1), width=8, steps=40, n_trajectories=8, n_points=10,
                              n_rollouts=3, horizon=4.0, n_times=41, seed=1, progress=False)


def test_make_system():
    assert lec.make_system("mass-spring").name == "mass-spring"
    assert lec.make_system("Pendulum").name == "pendulum"
    with pytest.raises(ValueError, match="name"):
        lec.make_system("double pendulum")


def test_experiment_shapes_and_contents(exp):
    S, K, N, T = 2, 2, 3, 41
    assert [s.name for s in exp.systems] == list(lec.SYSTEM_NAMES)
    np.testing.assert_allclose(exp.noise_levels, [0.0, 0.1])
    assert exp.train_loss.shape == (2, S, K, 41)
    assert exp.test_error.shape == exp.clean_error.shape == (2, S, K)
    assert exp.x0.shape == (S, K, N, 2) and exp.true.shape == (S, K, N, T, 2)
    assert exp.rollouts.shape == (2, S, K, N, T, 2)
    assert exp.solver == ("RK45", 1e-7, 1e-7, "float32")
    for s in range(S):
        d0, d1 = exp.data[s]
        np.testing.assert_array_equal(d0.clean, d1.clean)           # noise levels share the trajectories
        np.testing.assert_allclose(d1.x, (d1.clean[:4] + 0.1 * d1.noise[:4]).reshape(-1, 2))
        np.testing.assert_allclose(exp.x0[s, 1], d1.clean[4:7, 0])   # rollouts start on test trajectories
        np.testing.assert_allclose(exp.true[s, 1], ham.exact_trajectories(exp.systems[s], exp.x0[s, 1], exp.t),
                                   atol=1e-9)
    # the recorded errors and rollouts are those of the stored parameters
    for j, kind in enumerate(lec.MODEL_KINDS):
        p = lec.member_params(exp, kind, "pendulum", 0.1)
        d = exp.data[1][1]
        model = exp.models[j]
        assert model.kind == kind
        assert ham.field_mse(model.field_fn, p, d.x_test, d.dxdt_test) == pytest.approx(exp.test_error[j, 1, 1], rel=1e-5)
        again = ham.rollout(model.field_fn, p, exp.x0[1, 1], exp.t, method="RK45", rtol=1e-7, atol=1e-7,
                            dtype="float32")
        np.testing.assert_allclose(again, exp.rollouts[j, 1, 1], atol=1e-5)
    assert np.all(exp.train_loss[..., -1] < exp.train_loss[..., 0])


def test_member_params_indexing(exp):
    a = lec.member_params(exp, "hnn", 1, 1)
    b = lec.member_params(exp, "hnn", "pendulum", 0.1)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="noise"):
        lec.member_params(exp, "hnn", "pendulum", 0.3)
    with pytest.raises(ValueError, match="system"):
        lec.member_params(exp, "hnn", "spring", 0.1)
    with pytest.raises(ValueError, match="kind"):
        lec.member_params(exp, "mlp", 0, 0)


@pytest.mark.parametrize("kwargs, err", [
    (dict(systems=["spring"]), ValueError), (dict(noise_levels=[-0.1]), ValueError), (dict(width=0), ValueError),
    (dict(n_rollouts=30), ValueError), (dict(horizon=0.0), ValueError), (dict(lr=(1e-2,)), ValueError),
    (dict(steps=1.5), TypeError),
])
def test_run_experiment_bad_input(kwargs, err):
    with pytest.raises(err):
        lec.run_experiment(progress=False, **kwargs)


def test_energy_measures_of_an_experiment(exp):
    rel = lec.relative_energy_errors(exp)
    assert rel.shape == (2, 2, 2, 3, 41) and np.all(rel[..., 0] == 0)
    curves = lec.energy_mse_vs_horizon(exp)
    assert curves.shape == (2, 2, 2, 41)
    for j in range(2):
        for s, system in enumerate(exp.systems):
            whole = ham.energy_mse(system, exp.rollouts[j, s], exp.true[s]).mean(axis=-1)      # (K,)
            np.testing.assert_allclose(curves[j, s, :, -1], whole, rtol=1e-10)
            first = ham.energy_mse(system, exp.rollouts[j, s, :, :, :11], exp.true[s, :, :, :11]).mean(axis=-1)
            np.testing.assert_allclose(curves[j, s, :, 10], first, rtol=1e-10)
    r2 = lec.learned_energy_fit(exp)
    assert r2.shape == (2, 2) and np.all((r2 >= 0) & (r2 <= 1))
    div = lec.mean_divergence(exp)
    assert div.shape == (2, 2, 2)
    assert np.all(div[1] < 1e-5) and np.all(div[0] > 1e-4)        # HNN fields are divergence-free
    own = lec.own_energy_drift(exp)
    assert own.shape == (2, 2) and np.all(own < 1e-3)


def test_drift_growth_separates_linear_drift_from_oscillation(exp):
    """A rollout whose energy grows linearly gives ~7, one whose energy oscillates ~1."""
    t = exp.t
    r = np.sqrt(1 + 0.05 * t)[:, None]                           # spring energy r^2 = 1 + 0.05 t (linear)
    drifting = r * np.stack([np.cos(2 * t), -np.sin(2 * t)], axis=1)
    a = 1 + 0.1 * np.cos(7 * t)[:, None]                         # energy oscillates around 1
    bounded = np.sqrt(a) * np.stack([np.cos(2 * t), -np.sin(2 * t)], axis=1)
    roll = np.empty_like(exp.rollouts)
    roll[0] = drifting
    roll[1] = bounded
    g = lec.drift_growth(exp._replace(rollouts=roll))
    assert g.shape == (2, 2, 2)
    np.testing.assert_allclose(g[0, 0], 7.0, rtol=0.15)
    np.testing.assert_allclose(g[1, 0], 1.0, rtol=0.5)


def test_reference_horizons_compound_the_rescaling():
    h = lec.reference_horizons(20.0, 0.1, n=15)
    np.testing.assert_allclose(h[0], 20 * 1.09**2)
    np.testing.assert_allclose(h[-1], 20 * 1.09**16)
    np.testing.assert_allclose(h[1:] / h[:-1], 1.09)
    np.testing.assert_allclose(lec.reference_horizons(20.0, 0.1, n=1, calls_before=0), [21.8])
    np.testing.assert_allclose(lec.reference_horizons(5.0, 0.0, n=3), 5.0)
    with pytest.raises(ValueError, match="t_end"):
        lec.reference_horizons(0.0)


def test_reference_initial_states():
    x0 = lec.reference_initial_states(200, seed=0)
    assert x0.shape == (200, 2)
    assert np.all((np.abs(x0) >= 0.2) & (np.abs(x0) <= 1.0))
    np.testing.assert_array_equal(x0, lec.reference_initial_states(200, seed=0))


def test_compare_protocols_with_known_fields(exp):
    """A dissipative 'baseline' (energy decays: error grows with the horizon) and a conservative 'HNN' with the
    wrong level sets (bounded error): the growing horizons must inflate the ratio."""
    spring = ham.mass_spring()
    damped = ham.VectorFieldModel(None, lambda p, x: spring.vector_field(x) - p * x, None, "baseline")
    ellipse = ham.hnn_model()._replace(field_fn=ham.symplectic_gradient(
        lambda p, x: x[:, 0] ** 2 + p * x[:, 1] ** 2))                # H_theta = q^2 + 1.2 p^2
    K = len(exp.noise_levels)
    params = (jnp.full((2 * K,), 0.01), jnp.full((2 * K,), 1.2))
    fake = exp._replace(models=(damped, ellipse), params=params)
    pc = lec.compare_protocols(fake, "mass-spring", 0.1, n_rollouts=4, t_end=10.0, n_points=50, seed=3)
    np.testing.assert_allclose(pc.horizons_reference, lec.reference_horizons(10.0, 0.1, 4))
    assert pc.energy_mse_reference.shape == pc.energy_mse_fixed.shape == (2, 4)
    assert pc.ratio_reference == pytest.approx(pc.energy_mse_reference[0].mean() / pc.energy_mse_reference[1].mean())
    # the damped field's energy error grows with the horizon, the ellipse's does not
    assert np.all(pc.energy_mse_reference[0] > pc.energy_mse_fixed[0])
    assert pc.ratio_reference > pc.ratio_fixed
    # the metric of one rollout, recomputed by hand on its own grid
    x0 = lec.reference_initial_states(4, seed=3)
    t = np.linspace(0, pc.horizons_reference[2], 50)
    traj = ham.rollout(damped.field_fn, 0.01, x0[2:3], t, method="RK45", rtol=1e-7, atol=1e-7, dtype="float32")[0]
    manual = np.mean((spring.hamiltonian(x0[2]) - spring.hamiltonian(traj)) ** 2)
    assert pc.energy_mse_reference[0, 2] == pytest.approx(manual, rel=1e-3)


def test_static_figures(exp):
    fig, axes = plt.subplots(2, 3)
    lec.plot_phase_portraits(axes, exp, 0.1)
    assert all(len(ax.lines) > 3 and ax.get_title() for ax in axes.ravel())
    with pytest.raises(ValueError, match="axes"):
        lec.plot_phase_portraits(axes[:1], exp, 0.1)
    plt.close(fig)
    fig, ax = plt.subplots()
    lec.plot_energy_vs_horizon(ax, exp, "pendulum")
    assert len(ax.lines) == 4 and "pendulum" in ax.get_title()
    plt.close(fig)
    fig, ax = plt.subplots()
    r2 = lec.plot_learned_energy(ax, exp, "mass-spring", 0.0)
    assert 0 <= r2 <= 1 and r2 == pytest.approx(lec.learned_energy_fit(exp)[0, 0], rel=1e-6)
    plt.close(fig)


def test_explorer_update_moves_the_artists(exp):
    fig, update = lec.explorer(exp, n_show=2)
    ax_p, ax_e = fig.axes
    update(system="pendulum", noise=0.1, horizon=2.0)
    line = ax_p.lines[2]                                       # first baseline rollout
    x, _ = line.get_data()
    assert len(x) == 21                                        # t = 0 .. 2 on the 0.1 grid
    np.testing.assert_allclose(x, exp.rollouts[0, 1, 1, 0, :21, 0])
    title = ax_e.get_title()
    update(system="mass-spring", noise=0.0, horizon=4.0)
    assert len(ax_p.lines[2].get_data()[0]) == 41
    np.testing.assert_allclose(ax_p.lines[2].get_data()[0], exp.rollouts[0, 0, 0, 0, :, 0])
    assert ax_e.get_title() != title and "mass-spring" in ax_p.get_title()
    with pytest.raises(ValueError, match="noise"):
        update(system="pendulum", noise=0.5, horizon=2.0)
    plt.close(fig)
