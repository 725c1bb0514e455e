"""Tests for lecture_lib.lectures.welcome (notebook 00)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lecture_lib.lectures import welcome as lec  # noqa: E402


def test_summary_reports_pinned_stack():
    info = lec.summary()
    assert info["jax"] == "0.5.3"
    assert info["neural_tangents"] == "0.6.5"
    assert "cpu" in info["devices"].lower() or "cuda" in info["devices"].lower()
    assert info["scale"] in ("small", "full") and info["seed"].isdigit()


def test_triangle_names_every_corner_and_numbered_notebooks():
    fig, ax = plt.subplots()
    lec.lecture_triangle(ax)
    texts = " ".join(t.get_text() for t in ax.texts)
    for corner in lec.TRIANGLE:
        assert corner.upper() in texts
    listed = sorted(nb.split()[0] for _, nbs in lec.TRIANGLE.values() for nb in nbs)
    assert listed == [f"{i:02d}" for i in range(1, 11)]
    plt.close(fig)


def test_wide_net_vs_ntk_terms():
    """Small width, few steps: the shapes, the closed-form pieces, and the centred net starting at 0."""
    import numpy as np

    t = np.linspace(-np.pi, np.pi, 6, endpoint=False) + 0.1
    tt = np.linspace(-np.pi, np.pi, 50, endpoint=False)
    circle = lambda a: np.stack([np.cos(a), np.sin(a)], 1)  # noqa: E731
    r = lec.wide_net_vs_ntk(circle(t), np.sin(t), circle(tt), width=64, members=2, tol=0.1, seed=1)
    assert r.plain.shape == r.centred.shape == r.corrected.shape == (2, 50) and r.ntk.shape == (50,)
    assert r.steps >= 1 and r.lr > 0 and np.all(r.final_loss < 0.05)
    np.testing.assert_allclose(r.gap_plain, np.linalg.norm(r.plain - r.ntk, axis=1) / np.linalg.norm(r.ntk))
    # the corrected formula is NTK regression plus a term that vanishes on the training points
    assert r.gap_corrected.shape == (2,) and np.all(np.isfinite(r.gap_corrected))
    fig, ax = plt.subplots()
    lec.plot_wide_net_vs_ntk(ax, r, tt, member=1)
    assert len(ax.lines) == 4
    plt.close(fig)
