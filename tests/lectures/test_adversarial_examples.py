"""Tests for lecture_lib.lectures.adversarial_examples (notebook 06), at toy sizes."""
import matplotlib

matplotlib.use("Agg")
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lecture_lib import attacks, data, kernels  # noqa: E402
from lecture_lib.lectures import adversarial_examples as lec  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return lec.digits_task(60, 30, seed=1)


def linear_model(seed=0):
    w = np.random.default_rng(seed).normal(size=(64, 10)).astype(np.float32)
    return attacks.Predictor(lambda p, x: x.reshape(x.shape[0], -1) @ p, jnp.asarray(w))


def test_digits_task_and_architectures(tiny):
    assert tiny.x_train.shape == (60, 8, 8, 1) and tiny.x_test.shape == (30, 8, 8, 1)
    assert tiny.x_train.dtype == np.float32 and tiny.y_train.dtype == np.int32
    assert tiny.x_train.min() >= lec.CLIP[0] and tiny.x_train.max() <= lec.CLIP[1]
    import jax
    for init, apply, _ in (lec.mlp(16), lec.small_cnn((4, 4), hidden=8)):
        _, p = init(jax.random.PRNGKey(0), (1, 8, 8, 1))
        assert apply(p, jnp.asarray(tiny.x_test)).shape == (30, 10)
    with pytest.raises(ValueError, match="channels"):
        lec.small_cnn([])


def test_small_cnn_im2col_matches_stax(tiny):
    """The fast apply_fn computes the stax network's function (same parameters)."""
    import jax
    from neural_tangents import stax
    for channels, size in (((4, 6), 8), ((3,), 7)):
        init, apply, kernel_fn = lec.small_cnn(channels, hidden=8)
        ref = []
        for c in channels:
            ref += [stax.Conv(c, (3, 3), padding="SAME"), stax.Relu(), stax.AvgPool((2, 2), (2, 2))]
        _, ref_apply, _ = stax.serial(*ref, stax.Flatten(), stax.Dense(8), stax.Relu(), stax.Dense(10))
        _, p = init(jax.random.PRNGKey(1), (1, size, size, 1))
        x = jnp.asarray(np.random.default_rng(0).uniform(size=(5, size, size, 1)), jnp.float32)
        np.testing.assert_allclose(apply(p, x), ref_apply(p, x), rtol=1e-4, atol=1e-5)
        assert callable(kernel_fn)


def test_softmax():
    p = lec.softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [1.0, 0.0]])


def test_attack_sweep_and_plots(tiny):
    model = linear_model()
    eps = [0.0, 0.1, 0.5]
    sw = lec.attack_sweep(model, tiny.x_test, tiny.y_test, eps, steps=5)
    assert sw.eps.tolist() == eps
    for c in sw:
        assert c.x_adv.shape == (3,) + tiny.x_test.shape
        assert c.x_adv.min() >= 0 and c.x_adv.max() <= 1
        assert c.accuracy[0] == pytest.approx(attacks.accuracy(model, tiny.x_test, tiny.y_test))
    assert sw.pgd.accuracy[-1] <= sw.noise.accuracy[-1]
    fig, ax = plt.subplots()
    lec.plot_curves(ax, sw, label="linear")
    assert len(ax.lines) == 3
    plt.close(fig)


def test_gallery_updates_in_place(tiny):
    fig = plt.figure()
    x = tiny.x_test[:3]
    gal = lec.Gallery(fig, x, tiny.y_test[:3])
    x_adv = np.clip(x + 0.1, 0, 1)
    p = np.eye(10)[[tiny.y_test[0], tiny.y_test[1], (tiny.y_test[2] + 1) % 10]]
    gal.update(x_adv, np.eye(10)[tiny.y_test[:3]], p, "title")
    np.testing.assert_allclose(gal.im[0][2].get_array(), x_adv[0, ..., 0])
    assert np.abs(gal.im[1][1].get_array()).max() == pytest.approx(1.0)      # rescaled perturbation
    assert gal.axes[2, 2].title.get_color() == "C3" and gal.axes[2, 0].title.get_color() == "k"
    assert fig._suptitle.get_text() == "title"
    plt.close(fig)


def test_transfer_table(tiny):
    models = {"a": linear_model(0), "b": linear_model(1)}
    eps = [0.1, 0.3]
    src = {"a": attacks.robustness_curve(models["a"], tiny.x_test, tiny.y_test, eps, steps=5).x_adv,
           "noise": np.stack([attacks.random_noise(tiny.x_test, e, clip=lec.CLIP) for e in eps])}
    tab = lec.transfer(models, src, tiny.y_test, eps)
    assert set(tab.accuracy) == {"a", "b"} and tab.accuracy["b"]["a"].shape == (2,)
    assert tab.accuracy["a"]["a"][-1] <= tab.accuracy["a"]["noise"][-1]
    fig, ax = plt.subplots()
    lec.plot_transfer(ax, tab, "a")
    assert [ln.get_linestyle() for ln in ax.lines] == ["-", ":"]
    plt.close(fig)
    with pytest.raises(ValueError, match="radii"):
        lec.transfer(models, {"a": src["a"][:1]}, tiny.y_test, eps)


def test_ntk_adversary_tiny(tiny):
    ds = data.Dataset(tiny.x_train[:40], tiny.y_train[:40], tiny.x_test[:20], tiny.y_test[:20])
    res = lec.ntk_adversary(lec.mlp(8)[2], ds, [0.1, 0.3], t_steps=(5, np.inf), eps_t=0.3, steps=3)
    assert res.steps.tolist() == [5.0, np.inf] and res.accuracy.shape == (2,)
    assert res.curve.x_adv.shape == (2,) + ds.x_test.shape and res.x_adv_t.shape == (2,) + ds.x_test.shape
    assert res.curve.accuracy[-1] <= res.accuracy[-1]
    np.testing.assert_allclose(res.x_adv_t[1], res.curve.x_adv[1], atol=1e-12)  # same attack, same t
    assert 0 < res.lr
    # the predictors of one eigendecomposition are those of attacks.kernel_predictor
    kfn = lec.mlp(8)[2]
    lam_max = np.linalg.eigvalsh(np.asarray(kfn(ds.x_train, ds.x_train, "ntk"), np.float64))[-1]
    assert res.lr == pytest.approx(1 / lam_max, rel=1e-5)
    ref = attacks.kernel_predictor(kfn, ds.x_train, data.one_hot(ds.y_train, 10), steps=5, lr=res.lr)
    np.testing.assert_allclose(res.predictors[0].params.alpha, ref.params.alpha, rtol=1e-6, atol=1e-9)
    assert res.predictors[0].dtype == ref.dtype and res.predictors[0].apply_fn is ref.apply_fn


def test_mlp_is_cached_and_trains_from_normal_init():
    import jax

    assert lec.mlp(16) is lec.mlp(16)
    init, apply, _ = lec.mlp(16)
    ref = init(jax.random.PRNGKey(0), (1, 8, 8, 1))[1]
    p = kernels.normal_init(init, (1, 8, 8, 1), seed=3, n_members=2)
    leaves = jax.tree_util.tree_leaves
    assert [a.shape for a in leaves(p)] == [(2,) + a.shape for a in leaves(ref)]
    again = kernels.normal_init(init, (1, 8, 8, 1), seed=3, n_members=2)
    assert all(np.array_equal(a, b) for a, b in zip(leaves(p), leaves(again)))
    flat = np.concatenate([np.ravel(a) for a in leaves(p)])
    assert abs(flat.mean()) < 0.05 and abs(flat.std() - 1) < 0.05      # N(0, 1), as stax's NTK init
    cnn = lec.small_cnn((4, 4), hidden=8)
    pc = kernels.normal_init(cnn[0], (1, 8, 8, 1), seed=0)
    assert cnn[1](pc, jnp.zeros((3, 8, 8, 1), jnp.float32)).shape == (3, 10)


def test_sample_complexity():
    res = lec.sample_complexity([1, 4, 16, 64, 256], 400, 0.75, draws=50)
    assert res.standard[0] < 0.01 and res.robust[0] > 0.5
    assert np.all(np.diff(res.robust) < 0)
    n_std, n_rob = lec.samples_needed(res, 0.05)
    assert n_std == 1 and 4 < n_rob < 256
    fake = res._replace(n=np.array([1, 10, 100]), standard=np.array([0.5, 0.3, 0.1]),
                        robust=np.array([0.5, 0.5, 0.5]))
    assert lec.samples_needed(fake, 0.2) == (pytest.approx(10 ** 1.5), float("inf"))
    fig, ax = plt.subplots()
    lec.plot_sample_complexity(ax, res)
    plt.close(fig)
    # several radii from the same draws: the numbers of one call per radius
    many = lec.sample_complexity([1, 4, 16], 400, [0.25, 0.75], draws=20, seed=3)
    for e in (0.25, 0.75):
        one = lec.sample_complexity([1, 4, 16], 400, e, draws=20, seed=3)
        np.testing.assert_array_equal(many[e].robust, one.robust)
        np.testing.assert_array_equal(many[e].standard, one.standard)
        assert many[e].eps == e


def test_adversarial_training_tiny(tiny):
    res = lec.adversarial_training(tiny, [0.0, 0.2], eps_eval=0.2, width=16, steps=20, records=2,
                                   attack_steps=2, eval_steps=3)
    assert res.step.tolist() == [0, 10, 20] and res.epoch.tolist() == [0, 10, 20]
    for arr in (res.clean_train, res.clean_test, res.robust_train, res.robust_test):
        assert arr.shape == (3, 2) and np.all((0 <= arr) & (arr <= 1))
    assert np.all(res.robust_test <= res.clean_test + 1e-12)
    assert len(res.models) == 2
    fig, ax = plt.subplots()
    lec.plot_adversarial_training(ax, res, 1)
    plt.close(fig)


def test_tsipras_tradeoff_small():
    eta = 3 / np.sqrt(49)                    # 2 eta < 1: the attack cannot flip the robust feature
    res = lec.tsipras_tradeoff([0.0, 2 * eta], d=49, p=0.85, n=600, n_test=1000, steps=150, seed=0)
    assert res.standard[0] > res.standard[1] and res.robust[1] > res.robust[0]
    assert res.weight_robust[1] > res.weight_robust[0]
    np.testing.assert_allclose(res.pgd_robust, res.robust, atol=0.06)
    fig, ax = plt.subplots()
    lec.plot_tradeoff(ax, res)
    plt.close(fig)
