"""Scale knob, seeds, cache dir and the shared argument checks."""
import numpy as np
import pytest

from lecture_lib import config, validation


def test_scale_default_and_full(monkeypatch):
    monkeypatch.delenv("LECTURE_SCALE", raising=False)
    assert config.scale() == "small"
    assert config.by_scale(small=1, full=2) == 1
    monkeypatch.setenv("LECTURE_SCALE", "FULL")
    assert config.scale() == "full"
    assert config.by_scale(small=1, full=2) == 2


def test_scale_rejects_unknown(monkeypatch):
    monkeypatch.setenv("LECTURE_SCALE", "huge")
    with pytest.raises(ValueError, match="LECTURE_SCALE"):
        config.scale()


def test_seed_and_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_SEED", "7")
    assert config.seed() == 7
    monkeypatch.setenv("LECTURE_SEED", "x")
    with pytest.raises(ValueError, match="LECTURE_SEED"):
        config.seed()
    monkeypatch.setenv("LECTURE_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path


def test_check_array_errors_name_the_argument():
    with pytest.raises(ValueError, match="x_train .*dimensions"):
        validation.check_array(np.zeros(3), "x_train", ndim=2)
    with pytest.raises(ValueError, match="x_train contains NaN"):
        validation.check_array([[np.nan]], "x_train")
    with pytest.raises(ValueError, match="x_train must not be empty"):
        validation.check_array(np.zeros((0, 2)), "x_train")
    with pytest.raises(TypeError, match="x_train must be an array"):
        validation.check_array(None, "x_train")
    with pytest.raises(TypeError, match="x_train must hold numbers"):
        validation.check_array(np.array(["a"]), "x_train")
    out = validation.check_array([[1, 2]], "x", ndim=(1, 2))
    assert out.shape == (1, 2)


def test_check_scalar_and_choice():
    assert validation.check_scalar(0.5, "reg", min_value=0) == 0.5
    with pytest.raises(ValueError, match="reg must be >= 0"):
        validation.check_scalar(-1.0, "reg", min_value=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        validation.check_scalar(0.0, "lr", min_value=0, strict_min=True)
    with pytest.raises(TypeError, match="steps must be int"):
        validation.check_scalar(2.5, "steps", kind=int)
    with pytest.raises(TypeError, match="steps must be int"):
        validation.check_scalar(True, "steps", kind=int)
    assert validation.check_scalar(np.int64(3), "steps", kind=int) == 3
    assert validation.check_choice("ReLU", "activation", ("relu", "erf")) == "relu"
    with pytest.raises(ValueError, match="activation must be one of"):
        validation.check_choice("swish", "activation", ("relu", "erf"))


def test_check_same_length():
    validation.check_same_length("x", np.zeros((3, 2)), "y", np.zeros(3))
    with pytest.raises(ValueError, match="x and y must have the same number of rows"):
        validation.check_same_length("x", np.zeros((3, 2)), "y", np.zeros(4))
