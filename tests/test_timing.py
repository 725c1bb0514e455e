"""Tests for lecture_lib.timing."""
import numpy as np
import pytest

from lecture_lib import timing


def test_best_time_is_minimum_and_validates():
    calls = []

    def fn():
        calls.append(1)
        return np.zeros(3)

    t = timing.best_time(fn, repeats=3, warmup=2)
    assert t >= 0 and len(calls) == 5
    with pytest.raises(TypeError, match="fn"):
        timing.best_time(3)
    with pytest.raises(ValueError, match="repeats"):
        timing.best_time(fn, repeats=0)



def test_compiled_cost_counts_matmul_flops_and_validates():
    a = np.ones((30, 20), np.float32)
    b = np.ones((20, 10), np.float32)
    cost = timing.compiled_cost(lambda x, y: x @ y, a, b)
    assert cost.flops == pytest.approx(2 * 30 * 20 * 10, rel=0.05)  # n*m*k multiply-adds
    assert cost.bytes >= 4 * (a.size + b.size + 30 * 10)
    big = timing.compiled_cost(lambda x, y: x @ y, np.ones((60, 20), np.float32), b)
    assert big.flops == pytest.approx(2 * cost.flops, rel=0.05)  # linear in the rows
    with pytest.raises(TypeError, match="fn"):
        timing.compiled_cost(3, a)
