"""Tests for lecture_lib.lectures.kernel_dynamics (experiments of notebook 08), at toy size."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_lib import data, kernel_measures as km, widgets  # noqa: E402
from lecture_lib.lectures import kernel_dynamics as lec  # noqa: E402


@pytest.fixture(scope="module")
def toy():
    ds = data.digits(n_train=200, n_test=100, seed=0, image=False, standardize="pixel")
    x_probe, y_probe = lec.probe_set(ds, per_class=3)
    runs = lec.train_runs(ds, x_probe, seeds=[0, 1], eps=0.1, width=32, epochs=3, batch_size=50,
                          lr=0.3, attack_steps=2, eval_steps=2)
    return ds, x_probe, y_probe, runs, lec.measure(runs.kernels, runs.epoch, y_probe, top=3)


def test_probe_set_sorted_and_balanced():
    ds = data.digits(n_train=200, n_test=100, seed=0, image=False, standardize="pixel")
    x, y = lec.probe_set(ds, per_class=4)
    assert x.shape == (40, 64) and np.all(np.diff(y) >= 0)
    np.testing.assert_array_equal(np.bincount(y), 4)
    with pytest.raises(ValueError, match="per_class"):
        lec.probe_set(ds, per_class=1000)


def test_train_runs_shapes_and_pairing(toy):
    ds, x_probe, y_probe, runs, m = toy
    r = len(runs.epoch)
    np.testing.assert_array_equal(runs.epoch, np.arange(4))
    assert runs.kernels.shape == (2, 2, r, 30, 30)
    assert runs.test_acc.shape == (2, 2, r) and runs.robust_acc.shape == (2, 2)
    # STD and AT of a seed start from the same weights: same initial kernel; different seeds differ
    np.testing.assert_allclose(runs.kernels[0, :, 0], runs.kernels[1, :, 0])
    assert not np.allclose(runs.kernels[0, 0, 0], runs.kernels[0, 1, 0])
    assert not np.allclose(runs.kernels[0, 0, -1], runs.kernels[1, 0, -1])   # AT trained differently
    np.testing.assert_allclose(runs.kernels, np.swapaxes(runs.kernels, -1, -2), rtol=1e-5,
                               atol=1e-6 * np.abs(runs.kernels).max())
    std = lec.train_runs(ds, x_probe, seeds=[0], width=32, epochs=1, batch_size=50, eval_steps=2,
                         adversarial=False)
    assert std.kernels.shape == (1, 1, 2, 30, 30)
    with pytest.raises(TypeError, match="adversarial"):
        lec.train_runs(ds, x_probe, seeds=[0], epochs=1, adversarial="no")


def test_measure_and_statements(toy):
    _, _, y_probe, runs, m = toy
    r = len(runs.epoch)
    assert m.distance.shape == (2, 2, r, r) and m.velocity.shape == (2, 2, r - 1)
    np.testing.assert_allclose(m.r[..., 0], 0.0)
    np.testing.assert_allclose(m.r[..., -1], 1.0)
    k = runs.kernels[1, 0]
    assert m.theta[1, 0, 2] == pytest.approx(np.arccos(1 - km.kernel_distance(k[2], k[0])))
    assert m.alignment[0, 1, 1] == pytest.approx(km.kernel_target_alignment(runs.kernels[0, 1, 1], y_probe))
    st = lec.statements(m)
    assert st.theta_final.shape == (2, 2)
    np.testing.assert_allclose(st.norm_growth, m.norm[..., -1] / m.norm[..., 0])


def test_lazy_epoch():
    theta = np.array([[0.0, 0.5, 0.95, 1.0], [0.0, 0.1, 0.2, 1.0]])
    np.testing.assert_array_equal(lec.lazy_epoch(theta, [0, 1, 2, 3]), [2, 3])
    np.testing.assert_array_equal(lec.lazy_epoch(theta, [0, 1, 2, 3], fraction=0.5), [1, 3])


def test_linearise_from(toy):
    ds, _, _, runs, _ = toy
    lin = lec.linearise_from(runs, ds, [0, 2], seed=1, mode=0)
    assert lin.test_acc.shape == (2,) and np.all((lin.test_acc >= 0) & (lin.test_acc <= 1))
    assert lin.network_acc == runs.test_acc[0, 1, -1]
    with pytest.raises(ValueError, match="last epoch"):
        lec.linearise_from(runs, ds, [0, 3])


def test_figures_update_offscreen(toy):
    _, _, y_probe, runs, m = toy
    fig, update = lec.dynamics_figure(runs, m, y_probe)
    live = widgets.live_plot(fig, update, epoch=list(m.epoch), mode=list(lec.MODES))
    live.set(epoch=2.0)
    live.set(mode="AT")
    fig2, ax = plt.subplots()
    lec.plot_distance(ax, m, (1, 0))
    lec.plot_curves(ax, m, "velocity")
    plt.close("all")
