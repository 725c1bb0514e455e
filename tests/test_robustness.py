"""Tests for lecture_lib.robustness: the synthetic models against Monte Carlo with explicit attacks."""
import numpy as np
import pytest
from scipy.special import ndtr

from lecture_lib import robustness as R

MC = 400_000


def attacked_margins(w, b, x, y, eps, norm):
    """Margins y (w . (x + delta) + b) at the worst perturbation, written out explicitly."""
    if norm == "linf":
        delta = -eps * y[:, None] * np.sign(w)[None, :]
    else:
        delta = -eps * y[:, None] * (w / np.linalg.norm(w))[None, :]
    return y * ((x + delta) @ w + b)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_gaussian_errors_match_monte_carlo(norm):
    model = R.GaussianModel(np.linspace(0.5, 1.5, 20), 1.3)
    rng = np.random.default_rng(0)
    w = model.theta + 0.7 * rng.standard_normal(20)
    x, y = R.gaussian_model(model, MC, seed=1)
    eps = 0.2 if norm == "linf" else 1.0
    std, rob = R.gaussian_linear_errors(w, model, eps, norm)
    se = 4 * np.sqrt(0.25 / MC)
    assert std == pytest.approx(np.mean(y * (x @ w) <= 0), abs=se)
    assert rob == pytest.approx(np.mean(attacked_margins(w, 0.0, x, y, eps, norm) <= 0), abs=se)
    assert rob > 2 * std
    # stacks of weight vectors give one pair per row
    s2, r2 = R.gaussian_linear_errors(np.stack([w, 2 * w]), model, eps, norm)
    np.testing.assert_allclose(s2, [std, std])
    np.testing.assert_allclose(r2, [rob, rob])


def test_gaussian_model_and_mean_classifier():
    model = R.schmidt_model(64, c=0.5)
    assert model.sigma == pytest.approx(0.5 * 64 ** 0.25)
    np.testing.assert_array_equal(model.theta, np.ones(64))
    x, y = R.gaussian_model(model, 20000, seed=2)
    assert set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_allclose((y[:, None] * x).mean(0), model.theta, atol=5 * model.sigma / np.sqrt(20000))
    np.testing.assert_allclose((x - y[:, None] * model.theta).std(0), model.sigma, rtol=0.05)
    # w = mean y x ~ N(theta, sigma^2 / n): spread over draws
    ws = np.stack([R.mean_classifier(*R.gaussian_model(model, 10, seed=s)) for s in range(300)])
    assert ws.std(0).mean() == pytest.approx(model.sigma / np.sqrt(10), rel=0.08)
    # the regime of Schmidt et al.: one sample classifies well, but is not robust
    w1 = np.stack([R.mean_classifier(*R.gaussian_model(model, 1, seed=s)) for s in range(50)])
    std1, rob1 = R.gaussian_linear_errors(w1, model, 0.75)
    assert std1.mean() < 0.05 and rob1.mean() > 0.3


def test_degenerate_weights():
    model = R.GaussianModel(np.ones(3), 1.0)
    std, rob = R.gaussian_linear_errors(np.zeros(3), model, 0.1)
    assert std == 1.0 and rob == 1.0           # sign(0) is never correct


@pytest.mark.parametrize("b, eps", [(0.0, 0.0), (0.3, 0.0), (0.2, 0.25)])
def test_tsipras_accuracy_matches_monte_carlo(b, eps):
    d, p = 25, 0.8
    rng = np.random.default_rng(3)
    w = np.concatenate([[0.6], 0.1 + 0.05 * rng.standard_normal(d)])
    x, y = R.tsipras_data(MC, d, p, seed=4)
    std, rob = R.tsipras_linear_accuracy(w, b, p=p, eps=eps)
    se = 4 * np.sqrt(0.25 / MC)
    assert std == pytest.approx(np.mean(y * (x @ w + b) > 0), abs=se)
    assert rob == pytest.approx(np.mean(attacked_margins(w, b, x, y, eps, "linf") > 0), abs=se)


def test_tsipras_data_and_the_theorem():
    d, p = 100, 0.9
    x, y = R.tsipras_data(50000, d, p, seed=5)
    eta = 3 / np.sqrt(d)
    assert np.mean(x[:, 0] == y) == pytest.approx(p, abs=0.01)
    np.testing.assert_allclose((y[:, None] * x[:, 1:]).mean(), eta, atol=0.01)
    # the weak features alone: > 99% accurate, ~0% at eps = 2 eta; the robust feature alone: p and p
    w_weak = np.concatenate([[0.0], np.ones(d) / d])
    std, rob = R.tsipras_linear_accuracy(w_weak, p=p, eps=2 * eta)
    assert std == pytest.approx(ndtr(eta * np.sqrt(d)), abs=1e-12) and std > 0.99 and rob < 0.01
    w_rob = np.zeros(d + 1)
    w_rob[0] = 1.0
    assert R.tsipras_linear_accuracy(w_rob, p=p, eps=2 * eta) == pytest.approx((p, p))
    # Theorem 2.1 holds for both and for a mixture
    for w in (w_weak, w_rob, 0.5 * w_weak + 0.02 * w_rob):
        std, rob = R.tsipras_linear_accuracy(w, p=p, eps=2 * eta)
        assert rob <= R.tsipras_bound(std, p) + 1e-12
    np.testing.assert_allclose(R.tsipras_bound([1.0, 0.95, 0.5], 0.9), [0.0, 0.45, 1.0])


@pytest.mark.parametrize("call, exc, match", [
    (lambda: R.schmidt_model(0), ValueError, "d"),
    (lambda: R.gaussian_model((np.ones(3), 1.0), 5), TypeError, "GaussianModel"),
    (lambda: R.gaussian_model(R.GaussianModel(np.ones(3), -1.0), 5), ValueError, "sigma"),
    (lambda: R.gaussian_linear_errors(np.ones(4), R.GaussianModel(np.ones(3), 1.0)), ValueError, "entries"),
    (lambda: R.gaussian_linear_errors(np.ones(3), R.GaussianModel(np.ones(3), 1.0), norm="l1"), ValueError, "norm"),
    (lambda: R.gaussian_linear_errors(np.ones(3), R.GaussianModel(np.ones(3), 1.0), eps=-1), ValueError, "eps"),
    (lambda: R.mean_classifier(np.ones((3, 2)), np.array([1, 0, 1])), ValueError, "labels"),
    (lambda: R.tsipras_data(10, 5, p=0.3), ValueError, "p"),
    (lambda: R.tsipras_linear_accuracy(np.ones(1)), ValueError, "entries"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
