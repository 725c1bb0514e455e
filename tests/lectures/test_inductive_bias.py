"""Tests for lecture_lib.inductive_bias (FC vs CONV separations, notebook 01)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lecture_lib.lectures import inductive_bias as lec


# --------------------------------------------------------------------------- #
# Li, Zhang, Arora task and CNN
# --------------------------------------------------------------------------- #
def test_channel_norm_task_labels_and_shapes():
    x, y = lec.channel_norm_task(500, 6, seed=3)
    assert x.shape == (500, 6, 1, 2) and y.shape == (500,)
    energy = (x[..., 0] ** 2).sum(axis=(1, 2)) - (x[..., 1] ** 2).sum(axis=(1, 2))
    np.testing.assert_array_equal(y, np.sign(energy))
    assert 0.4 < np.mean(y > 0) < 0.6
    x2, _ = lec.channel_norm_task(500, 6, seed=3)
    np.testing.assert_array_equal(x, x2)


@pytest.mark.parametrize("kwargs, err", [
    (dict(n=0, pixels=3), ValueError), (dict(n=5, pixels=1.5), TypeError),
    (dict(n=5, pixels=3, seed=-1), ValueError)])
def test_channel_norm_task_validation(kwargs, err):
    with pytest.raises(err):
        lec.channel_norm_task(**kwargs)


def test_channel_cnn_is_a_linear_function_of_the_channel_gram_matrix():
    init, apply = lec.channel_cnn(5)
    assert lec.channel_cnn(5) == (init, apply)          # cached: jit reuse
    _, (w, a) = init(jax.random.PRNGKey(0), (1, 7, 1, 2))
    x, _ = lec.channel_norm_task(20, 7, seed=0)
    f = np.asarray(apply((w, a), jnp.asarray(x)))[:, 0]
    xp = x[:, :, 0, :]                                   # (n, P, C)
    gram = np.einsum("npc,npd->ncd", xp, xp) / xp.shape[1]
    amat = np.einsum("r,cr,dr->cd", np.asarray(a), np.asarray(w), np.asarray(w)) / (2 * np.sqrt(5))
    np.testing.assert_allclose(f, np.einsum("cd,ncd->n", amat, gram), rtol=1e-4, atol=1e-5)
    # weight sharing: permuting pixels does not change the output
    perm = np.random.default_rng(0).permutation(7)
    np.testing.assert_allclose(np.asarray(apply((w, a), jnp.asarray(x[:, perm])))[:, 0], f, rtol=1e-5)


def test_random_rotation_is_orthogonal():
    u = lec.random_rotation(9, seed=1)
    np.testing.assert_allclose(u @ u.T, np.eye(9), atol=1e-12)
    assert not np.allclose(u, lec.random_rotation(9, seed=2))


def _linear_task(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, np.sign(x[:, 0] + 0.5 * x[:, 1]).astype(np.float32)


def _linear_model():
    def init(key, shape):
        return (shape[0], 1), (0.1 * jax.random.normal(key, (shape[-1],)),)

    def apply(params, x):
        return (x @ params[0])[:, None]

    return init, apply


def test_gd_learning_curve_learns_and_masking_matches_separate_runs():
    x, y = _linear_task(400, 5, 0)
    xt, yt = _linear_task(300, 5, 1)
    init, apply = _linear_model()
    sizes = [4, 16, 64, 200]
    grouped = lec.gd_learning_curve(init, apply, x, y, xt, yt, sizes, lr=0.5, steps=100,
                                   n_seeds=2, progress=False, group_ratio=100.0)
    separate = lec.gd_learning_curve(init, apply, x, y, xt, yt, sizes, lr=0.5, steps=100,
                                    n_seeds=2, progress=False, group_ratio=1.0)
    assert isinstance(grouped, lec.Curve)
    assert grouped.test_acc.shape == (4, 2) and grouped.train_acc.shape == (4, 2)
    np.testing.assert_array_equal(grouped.sizes, sizes)
    np.testing.assert_allclose(grouped.test_acc, separate.test_acc, atol=2e-3)
    np.testing.assert_allclose(grouped.train_acc, separate.train_acc, atol=2e-3)
    assert grouped.test_acc[-1].min() > 0.9 and grouped.mean()[-1] > grouped.mean()[0]
    assert grouped.train_acc[-1].min() > 0.9


def test_gd_runs_matches_the_library_gd_core():
    from lecture_lib import train

    x, y = _linear_task(60, 4, 0)
    xt, yt = _linear_task(50, 4, 1)
    init, apply = _linear_model()
    _, p = init(jax.random.PRNGKey(3), (1, 4))
    ref = train.fit(apply, p, x, y, lr=0.3, steps=40, x_test=xt, y_test=yt, record_steps=[40], progress=False)
    params = jax.tree_util.tree_map(lambda a: a[None, None], p)
    runs = lec.gd_runs(apply, params, x[None, None], y[None, None], xt[None], yt[None], lr=0.3, steps=40,
                       record_steps=[10, 40])
    assert runs.train_acc.shape == (2, 1, 1) and runs.test_outputs.shape == (1, 1, 50)
    np.testing.assert_allclose(runs.test_acc[-1, 0, 0], np.ravel(ref.test_acc)[-1], atol=1e-6)
    np.testing.assert_allclose(runs.train_acc[-1, 0, 0], np.ravel(ref.train_acc)[-1], atol=1e-6)
    with pytest.raises(ValueError, match="record_steps"):
        lec.gd_runs(apply, params, x[None, None], y[None, None], xt[None], yt[None], lr=0.3, steps=5,
                    record_steps=[10])
    with pytest.raises(ValueError, match="y must"):
        lec.gd_runs(apply, params, x[None, None], y[None, None, :-1], xt[None], yt[None], lr=0.3, steps=5)


def test_equivariance_check_gd_rotation_adam_permutation_only():
    x, y = lec.channel_norm_task(40, 3, seed=0)
    xt, yt = lec.channel_norm_task(30, 3, seed=1)
    x, xt = x.reshape(40, -1), xt.reshape(30, -1)
    transforms = {"rotation": lec.random_rotation(6, seed=0), "permutation": lec.random_permutation(6, seed=0)}
    eq = lec.equivariance_check(x, y, xt, yt, transforms, width=16, steps=30, lrs={"gd": 1.0, "adam": 1e-2})
    rel = eq.max_diff / eq.scale[:, None]
    assert eq.optimizers == ("gd", "adam") and eq.transforms == ("rotation", "permutation")
    assert eq.test_acc.shape == (2, 3)
    assert rel[0].max() < 1e-8 and rel[1, 1] < 1e-8
    assert rel[1, 0] > 1e-4
    with pytest.raises(ValueError, match="orthogonal"):
        lec.equivariance_check(x, y, xt, yt, {"bad": 2 * np.eye(6)}, width=4, steps=2, lrs={"gd": 1.0})


def test_random_permutation():
    p = lec.random_permutation(7, seed=1)
    np.testing.assert_array_equal(p @ p.T, np.eye(7))
    assert set(p.sum(axis=0)) == {1.0}


def test_krr_learning_curve_linear_kernel():
    x, y = _linear_task(300, 4, 0)
    xt, yt = _linear_task(200, 4, 1)
    k, kt = x @ x.T, xt @ x.T
    acc = lec.krr_learning_curve(k, y, kt, yt, [2, 20, 300], reg=1e-3)
    assert acc.shape == (3,) and acc[-1] > 0.9 and acc[-1] >= acc[0]
    with pytest.raises(ValueError):
        lec.krr_learning_curve(k, y[:-1], kt, yt, [10])
    with pytest.raises(ValueError, match="sizes"):
        lec.krr_learning_curve(k, y, kt, yt, [0, 10])


def test_samples_needed_interpolates_in_log_n():
    sizes, acc = [10, 100, 1000], [0.5, 0.7, 0.9]
    assert lec.samples_needed(sizes, acc, 0.8) == pytest.approx(math.sqrt(100 * 1000))
    assert lec.samples_needed(sizes, acc, 0.4) == 10
    assert lec.samples_needed(sizes, acc, 0.95) == math.inf
    assert lec.samples_needed(sizes, [0.5, 0.8, 0.7], 0.75) < 100   # first crossing
    with pytest.raises(ValueError):
        lec.samples_needed([10, 5], [0.5, 0.6])
    with pytest.raises(ValueError):
        lec.samples_needed([10, 100], [0.5, 0.6, 0.7])


# --------------------------------------------------------------------------- #
# Malach, Shalev-Shwartz: k-patterns
# --------------------------------------------------------------------------- #
def test_k_pattern_task_parity_and_truth_table():
    x, y = lec.k_pattern_task(300, 12, 3, 5, seed=0)
    assert x.shape == (300, 12) and set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, np.prod(x[:, 5:8], axis=1))
    table = np.array([1, -1, -1, -1, 1, 1, -1, 1], dtype=float)
    x, y = lec.k_pattern_task(300, 12, 3, 0, g=table, seed=1)
    np.testing.assert_array_equal(y, table[lec.pattern_index(x[:, :3])])
    with pytest.raises(ValueError):
        lec.k_pattern_task(10, 12, 3, 10)
    with pytest.raises(ValueError, match="2\\*\\*k"):
        lec.k_pattern_task(10, 12, 3, 0, g=np.ones(4))
    with pytest.raises(ValueError, match="g must map"):
        lec.k_pattern_task(10, 12, 3, 0, g=lambda z: np.zeros(len(z)))


def test_pattern_index_and_truth_table_of_filters():
    assert lec.pattern_index(np.array([1, -1, 1])) == 5
    k = 4
    w = np.asarray(lec.kpattern_cnn(10, k, 50)[0](jax.random.PRNGKey(0))[0])
    assert set(np.unique(np.abs(w))) == {1 / k}
    table = lec.filter_truth_table(w)                    # (2^k, q)
    assert table.shape == (16, 50)
    np.testing.assert_array_equal((table > 0).sum(axis=0), np.ones(50))
    np.testing.assert_allclose(table.max(axis=0), 1 / k)
    np.testing.assert_array_equal(np.argmax(table, axis=0), lec.pattern_index(w))


def test_kpattern_cnn_represents_any_k_pattern_with_a_complete_truth_table():
    n, k, j_star = 11, 3, 4
    init, apply = lec.kpattern_cnn(n, k, 2**k)
    w0, u0 = init(jax.random.PRNGKey(1))
    assert u0.shape == (n - k + 1, 2**k) and not np.any(np.asarray(u0))
    bits = (np.arange(2**k)[:, None] >> np.arange(k - 1, -1, -1)[None, :]) & 1
    w = (2.0 * bits - 1.0) / k                           # every pattern has its filter
    g = np.random.default_rng(0).choice([-1.0, 1.0], 2**k)
    u = np.zeros((n - k + 1, 2**k))
    u[j_star] = k * g                                    # read out window j* only
    x, y = lec.k_pattern_task(200, n, k, j_star, g=g, seed=2)
    out = np.asarray(apply((jnp.asarray(w, jnp.float32), jnp.asarray(u, jnp.float32)), jnp.asarray(x)))
    assert out.shape == (200, 1)
    np.testing.assert_allclose(out[:, 0], y, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(apply((w0, u0), jnp.asarray(x))), 0.0)


def test_coupon_collector_simulation_matches_exact_law():
    k, trials = 3, 3000
    times = lec.coupon_collector_times(k, trials, seed=0)
    assert times.shape == (trials,) and times.min() >= 2**k
    harmonic = 2**k * sum(1 / i for i in range(1, 2**k + 1))
    assert abs(times.mean() - harmonic) < 0.05 * harmonic
    q = np.array([0, 7, 8, 20, 40, 80])
    p = lec.coverage_probability(q, k)
    assert p[0] == 0 and p[1] == 0 and p[2] == pytest.approx(math.factorial(8) / 8**8)
    assert np.all(np.diff(p) >= 0)
    # inclusion-exclusion: P(all covered) = sum_j (-1)^j C(m, j) (1 - j/m)^q
    m = 2**k
    incl = [sum((-1) ** j * math.comb(m, j) * (1 - j / m) ** qq for j in range(m + 1)) for qq in q]
    np.testing.assert_allclose(p, incl, atol=1e-12)
    for qq in (20, 40):
        assert abs(np.mean(times <= qq) - lec.coverage_probability(qq, k)) < 0.03


def test_filters_needed_and_bounds():
    times = np.arange(1, 101)
    assert lec.filters_needed(times, 0.1) == 90
    assert lec.filters_needed(times, 0.5) == 50
    for k in (2, 5, 8):
        for delta in (0.01, 0.1):
            exact = lec.exact_filters_needed(k, delta)
            assert lec.coverage_probability(exact, k) >= 1 - delta > lec.coverage_probability(exact - 1, k)
            assert exact <= lec.union_bound(k, delta) < lec.filters_bound(k, delta)
    assert lec.filters_bound(4, 0.1) == pytest.approx(128 * math.log(160))
    assert lec.union_bound(4, 0.1) == pytest.approx(16 * math.log(160))
    with pytest.raises(ValueError):
        lec.filters_bound(4, 0.0)
    with pytest.raises(ValueError):
        lec.filters_needed(times, 1.5)
    with pytest.raises(ValueError):
        lec.coverage_probability(np.array([-1]), 3)


def test_theorem4_bound_terms():
    t = lec.theorem4_bound(q=100, T=1000, n=10, k=2, c=1.0)
    assert t["term1"] == pytest.approx(2 * 100 * 4 * 4 / 100)
    assert t["term2"] == pytest.approx(2 * 64 / math.sqrt(1000))
    assert t["term3"] == pytest.approx(10**1.5 * 10 / 1000)
    assert t["total"] == pytest.approx(t["term1"] + t["term2"] + t["term3"])
    grid = lec.theorem4_bound(np.array([1e2, 1e4]), 1e6, 10, 2)
    assert grid["term1"][1] < grid["term1"][0] and grid["term3"][1] > grid["term3"][0]
    assert lec.theorem4_lr(16, 4, 100) == pytest.approx(4 / 20)
    with pytest.raises(ValueError, match="q"):
        lec.theorem4_bound(0, 10, 10, 2)


def test_filter_counts_and_half_share_bounds():
    w = np.asarray(lec.kpattern_cnn(8, 3, 40)[0](jax.random.PRNGKey(0))[0])
    counts = lec.pattern_counts(w)
    assert counts.shape == (8,) and counts.sum() == 40
    np.testing.assert_array_equal(counts, np.bincount(lec.pattern_index(w), minlength=8))
    for k, delta in ((3, 0.1), (6, 0.01)):
        assert lec.half_share_failure_bound(lec.filters_bound(k, delta), k) == pytest.approx(delta)
        assert lec.coverage_failure_bound(lec.union_bound(k, delta), k) <= delta
    # Chernoff: the bound is above the exact failure probability of the half-share event
    k, q = 2, 40
    m = int(np.ceil(q / 2 ** (k + 1)))
    assert 1 - lec.min_count_probability(q, k, m) <= lec.half_share_failure_bound(q, k)


def test_min_count_simulation_matches_exact_probabilities():
    k, trials = 2, 4000
    q = np.array([0, 3, 8, 16])
    mins = lec.min_count_samples(k, q, trials, seed=0)
    assert mins.shape == (4, trials) and mins[0].max() == 0
    for i, qq in enumerate(q):
        for m in (1, 2):
            exact = lec.min_count_probability(int(qq), k, m)
            assert abs(np.mean(mins[i] >= m) - exact) < 4 * np.sqrt(exact * (1 - exact) / trials) + 1e-9
    for qq in (4, 9, 20):       # m = 1 is coverage
        assert lec.min_count_probability(qq, 3, 1) == pytest.approx(float(lec.coverage_probability(qq, 3)))
    with pytest.raises(ValueError, match="q"):
        lec.min_count_samples(2, np.array([-1]), 5)


@pytest.mark.parametrize("learner, hp", [("cnn", dict(q=12, lr=0.5)), ("fc", dict(width=8, lr=2.0))])
def test_kpattern_runs_padding_matches_separate_runs(learner, hp):
    kw = dict(k=2, steps=12, record_steps=[4, 12], n_test=50, seeds=2, seed=1, **hp)
    both = lec.kpattern_runs(learner, [5, 8], 40, **kw)
    assert both.train_acc.shape == (2, 2, 2) and both.learner == learner
    for i, n in enumerate([5, 8]):
        alone = lec.kpattern_runs(learner, [n], 40, **kw)
        assert alone.position[0] == both.position[i] and alone.n_params[0] == both.n_params[i]
        np.testing.assert_allclose(alone.test_acc[:, 0], both.test_acc[:, i], atol=1e-6)
        np.testing.assert_allclose(alone.train_acc[:, 0], both.train_acc[:, i], atol=1e-6)
    with pytest.raises((TypeError, ValueError), match="width"):
        lec.kpattern_runs("fc", [5], 40, k=2, lr=1.0, steps=2, record_steps=[2], n_test=5, seeds=1)


def test_figures_build_and_update_offscreen():
    import matplotlib

    matplotlib.use("Agg")
    from lecture_lib import widgets

    cc = lec.channel_task_curves(2, fc_sizes=[4, 8], cnn_sizes=[2, 4], krr_sizes=[4, 8], n_test=20, seeds=2,
                                 fc_width=8, fc_lr=1.0, fc_steps=5, cnn_channels=2, cnn_lr=0.1, cnn_steps=5)
    assert cc.d == 4 and [lab for lab, _ in cc.items()] == [lec.CNN_LABEL, lec.FC_GD_LABEL, lec.FC_NTK_LABEL]
    fig, update = lec.learning_curve_figure([cc], threshold=0.75)
    live = widgets.live_plot(fig, update, d=[4], N=[2, 8])
    live.set(N=8)
    assert live.png[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    slopes = lec.plot_need(ax, [cc], 0.75, largest={lec.CNN_LABEL: 4, lec.FC_GD_LABEL: 8, lec.FC_NTK_LABEL: 8})
    assert set(slopes) <= {lec.CNN_LABEL, lec.FC_GD_LABEL, lec.FC_NTK_LABEL}
    runs = [lec.kpattern_runs("cnn", [5, 6], 20, k=2, q=8, lr=0.5, steps=4, record_steps=[2, 4], n_test=10, seeds=1),
            lec.kpattern_runs("fc", [5, 6], 20, k=2, width=4, lr=1.0, steps=4, record_steps=[2, 4], n_test=10, seeds=1)]
    fig, update = lec.kpattern_steps_figure(runs)
    live = widgets.live_plot(fig, update, n=[5, 6])
    live.set(n=6)
    fig, ax = plt.subplots()
    lec.plot_kpattern_vs_n(ax, runs)
    assert len(ax.get_lines()) >= 4
    fig, (a0, a1) = plt.subplots(1, 2)
    lec.plot_kpattern_steps(a0, a1, runs, 5)
    assert len(a0.get_lines()) >= 2
    with pytest.raises(ValueError, match="n=7"):
        lec.plot_kpattern_steps(a0, a1, runs, 7)
    fig, ax = plt.subplots()
    lec.plot_learning_curves(ax, cc, n_mark=4, threshold=0.75)
    assert len(ax.get_lines()) >= 3
    sims = {2: (np.array([4, 8, 16]), lec.min_count_samples(2, np.array([4, 8, 16]), 20))}
    fig, update = lec.min_count_figure(sims)
    live = widgets.live_plot(fig, update, k=[2], delta=[0.05, 0.1])
    live.set(delta=0.1)
    fig, update = lec.theorem4_figure()
    live = widgets.live_plot(fig, update, n=(8, 64, 8), k=(1, 6, 1), log10_T=(2, 12, 1), c=(0.5, 2.0, 0.5))
    live.set(n=16, k=3, log10_T=9)
    direct = lec.theorem4_bound(np.geomspace(1, 1e14, 400), 1e9, 16, 3, live.values["c"])["total"]
    assert update.min_bound == pytest.approx(direct.min())
    plt.close("all")


def test_channel_task_sweep_matches_per_dimension_curves():
    """One padded, jointly compiled sweep gives the per-P results of channel_task_curves."""
    hp = dict(fc_sizes=[4, 8, 64], cnn_sizes=[2, 4], krr_sizes=[4, 8, 16], n_test=40, seeds=2,
              fc_width=8, fc_lr=1.0, fc_steps=20, cnn_channels=2, cnn_lr=0.1, cnn_steps=20)
    sweep = lec.channel_task_sweep([2, 5], kernel_only=[3], seed=7, **hp)
    assert sorted(sweep) == [4, 6, 10]
    assert sweep[6].cnn is None and sweep[6].fc_gd is None
    for p in (2, 3, 5):
        ref = lec.channel_task_curves(p, cnn=p != 3, fc_gd=p != 3, seed=7 + p, **hp)
        got = sweep[2 * p]
        assert got.d == ref.d
        np.testing.assert_allclose(got.fc_ntk.test_acc, ref.fc_ntk.test_acc, atol=0.03)
        for a, b in ((got.cnn, ref.cnn), (got.fc_gd, ref.fc_gd)):
            if b is None:
                continue
            np.testing.assert_allclose(a.test_acc, b.test_acc, atol=0.03)
            np.testing.assert_allclose(a.train_acc, b.train_acc, atol=0.03)
