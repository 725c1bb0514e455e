"""Fixtures shared by the lecture_lib tests."""
import lecture_lib  # noqa: F401  (quiets TensorFlow before anything imports it)
import jax
import pytest


@pytest.fixture
def x64():
    """Enable jax float64 for one test and restore the previous setting."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)
