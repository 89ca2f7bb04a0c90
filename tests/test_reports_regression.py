"""Regression reports (mean baseline, extrapolation) and sine's ``extrapolate``.

The data-source tests need no JAX. The report tests train tiny curve fits for
a few epochs and check the numbers against the data itself: the baseline is
the test MSE of the training mean in the target's units whether or not the
targets were z-scored, and the model's MSE is its test loss in those units.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlang.data import DataError, load_data
from nnlang.reports.regression import (
    compared_to_mean,
    is_forecasting,
    is_single_regression,
)
from nnlang.values import Word

ROOT = Path(__file__).resolve().parent.parent

CURVE = """\
model fit {
    input x: [1]
    dense(16, act=tanh)
    dense(1)
}

train fit {
    data = sine(kind=curve, n=200, noise=0.1, extrapolate=[-6, 6], scale_target=SCALE)
    batch = 32
    epochs = 6
    loss = mse
    optimizer = adam(lr=1e-2)
    seed = 0
}
"""

WINDOWS = """\
model forecast {
    input window: [8, 1]
    flatten
    dense(1)
}

train forecast {
    data = sine(n=60, length=8)
    epochs = 1
    loss = mse
    seed = 0
}
"""


def sine(**kwargs: object):
    return load_data("sine", (), kwargs, base_dir=ROOT, seed=0)


# ---------------------------------------------------------------- the data source


def test_extrapolate_draws_points_on_both_sides_outside_the_range() -> None:
    data = sine(kind=Word("curve"), n=500, low=-1.0, high=1.0, extrapolate=[-3, 2])
    x = data.meta["extrapolation"].x[:, 0]
    assert len(x) == 100
    assert np.all((x >= -3) & (x <= -1) | (x >= 1) & (x <= 2))
    # uniform over the 3 units of length outside [-1, 1]: two thirds on the left
    assert 0.55 < np.mean(x < 0) < 0.78
    np.testing.assert_allclose(data.meta["extrapolation"].y[:, 0], np.sin(x), atol=1e-6)
    assert data.meta["extrapolate"] == (-3.0, 2.0)


def test_extrapolate_defaults_to_half_a_range_beyond_high() -> None:
    data = sine(kind=Word("curve"), n=50)
    x = data.meta["extrapolation"].x
    assert x.min() >= math.pi and x.max() <= 2 * math.pi
    assert data.meta["extrapolate"] == pytest.approx((math.pi, 2 * math.pi))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"kind": Word("curve"), "extrapolate": [-1, 1]}, "inside the training range"),
        ({"kind": Word("curve"), "extrapolate": [5, 4]}, "low < high"),
        ({"kind": Word("curve"), "extrapolate": [4]}, "two numbers"),
        ({"extrapolate": [4, 5]}, "applies only when kind=curve"),
    ],
)
def test_bad_extrapolate_names_the_argument(kwargs: dict, words: str) -> None:
    with pytest.raises(DataError) as caught:
        sine(**kwargs)
    assert caught.value.arg == "extrapolate"
    assert words in str(caught.value)


@pytest.mark.jax
def test_bad_extrapolate_is_a_located_error(tmp_path: Path) -> None:
    src = tmp_path / "bad.nn"
    src.write_text(CURVE.replace("[-6, 6]", "[-1, 1]").replace("SCALE", "false"))
    run = subprocess.run(
        [sys.executable, "-m", "nnlang.cli", "run", str(src), "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 1
    assert f"{src}:8:5: error: sine: extrapolate=[-1.0, 1.0] lies inside" in run.stderr
    assert "help: reach beyond it" in run.stderr
    assert "Traceback" not in run.stderr


def test_which_data_the_mean_baseline_applies_to() -> None:
    diabetes = load_data("diabetes", (), {}, base_dir=ROOT, seed=0)
    iris = load_data("iris", (), {}, base_dir=ROOT, seed=0)
    windows = sine(n=40, length=5)
    assert is_single_regression(diabetes) and not is_forecasting(diabetes)
    assert not is_single_regression(iris)
    assert is_single_regression(windows) and is_forecasting(windows)


def test_a_model_worse_than_the_mean_is_called_higher_not_negatively_lower() -> None:
    # diabetes after one epoch: mean 4328, model 3.126e+04 printed "-622% lower"
    assert compared_to_mean(1 - 3.126e4 / 4328) == (
        "is 622% higher: worse than always predicting the mean")
    assert compared_to_mean(1 - 2000 / 4328) == "is 54% lower"


# ---------------------------------------------------------------- the reports


def run_source(tmp_path: Path, name: str, text: str) -> Path:
    from nnlang.run import run_file

    src = tmp_path / f"{name}.nn"
    src.write_text(text)
    _, run_dir = run_file(src, out=tmp_path / name, verbose=0)
    return run_dir


def read(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / f"{name}.json").read_text())


@pytest.mark.jax
@pytest.mark.slow
def test_reports_are_in_target_units_whatever_the_scaling(tmp_path: Path) -> None:
    runs = {
        scale: run_source(tmp_path, scale, CURVE.replace("SCALE", scale))
        for scale in ("true", "false")
    }
    raw = sine(kind=Word("curve"), n=200, noise=0.1, extrapolate=[-6, 6])
    mean = raw.train.y.mean(dtype=np.float64)
    expected_mean_mse = float(np.mean((raw.test.y.astype(np.float64) - mean) ** 2))
    scaled = sine(
        kind=Word("curve"), n=200, noise=0.1, extrapolate=[-6, 6], scale_target=True
    )
    for scale, run_dir in runs.items():
        report = read(run_dir, "mean_baseline")
        assert report["mean_mse"] == pytest.approx(expected_mean_mse, rel=1e-5)
        assert report["improvement"] == pytest.approx(
            1 - report["model_mse"] / report["mean_mse"]
        )
        loss = read(run_dir, "metrics")["loss"]  # in scaled units when scaled
        std = float(scaled.target_std[0]) if scale == "true" else 1.0
        assert report["model_mse"] == pytest.approx(loss * std**2, rel=1e-3)

        beyond = read(run_dir, "extrapolation")
        assert beyond["in_range_mse"] == pytest.approx(report["model_mse"])
        assert beyond["out_of_range_mse"] > beyond["in_range_mse"]
        assert beyond["ratio"] == pytest.approx(
            beyond["out_of_range_mse"] / beyond["in_range_mse"]
        )
        assert beyond["range"] == pytest.approx([-math.pi, math.pi])
        assert beyond["extrapolate"] == [-6.0, 6.0]
        assert (run_dir / "extrapolation.png").stat().st_size > 0


@pytest.mark.jax
def test_forecasting_windows_get_the_last_value_baseline_only(tmp_path: Path) -> None:
    run_dir = run_source(tmp_path, "windows", WINDOWS)
    assert (run_dir / "baseline.json").is_file()
    assert not (run_dir / "mean_baseline.json").exists()
    assert not (run_dir / "extrapolation.json").exists()
