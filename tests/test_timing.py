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

