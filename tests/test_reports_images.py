"""Reports that draw images: autoencoder reconstructions and feature maps.

The helpers are plain numpy; the run tests train tiny models (one epoch, or
none for fixed filters) and check the files and numbers a user gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlang.reports.images import column_style, image_shape, map_columns

PNG = b"\x89PNG\r\n\x1a\n"

AUTOENCODER = """\
model ae {
    input image: [8, 8, 1]
    flatten
    dense(8, act=relu)
    dense(64, act=sigmoid)
}

train ae {
    data = digits(target=inputs)
    epochs = 1
    loss = mse
}
"""

FILTERS = """\
model filters {
    input image: [8, 8, 1]
    output same = image
        -> conv(1, kernel=[[0, 0, 0], [0, 1, 0], [0, 0, 0]], padding=same, bias=false, trainable=false)
    output edges = image
        -> conv(2, 3, bias=false, trainable=false)
    output flat = image -> flatten
}

train filters {
    data = digits
    epochs = 0
}
"""


def test_image_shapes() -> None:
    assert image_shape((8, 8, 1)) == (8, 8, 1)
    assert image_shape([28, 28]) == (28, 28, 1)
    assert image_shape((64,)) is None and image_shape((1, 8, 3)) is None
    assert image_shape(("T", 8, 1)) is None


def test_map_columns_split_channels_and_cap_them() -> None:
    inputs = np.zeros((2, 4, 4, 1))
    cols = map_columns(inputs, {"wide": np.zeros((2, 4, 4, 20))})
    titles = [t for t, _ in cols]
    assert titles[:3] == ["input", "wide[0]", "wide[1]"] and len(titles) == 1 + 8
    assert all(a.shape == (2, 4, 4) for _, a in cols)


def test_signed_maps_are_drawn_around_zero() -> None:
    assert column_style(np.array([-1.0, 3.0])) == {
        "cmap": "RdBu_r",
        "vmin": -3.0,
        "vmax": 3.0,
    }
    assert column_style(np.array([0.0, 2.0]))["cmap"] == "gray_r"


@pytest.mark.jax
def test_autoencoder_run_writes_reconstructions(tmp_path: Path) -> None:
    from nnlang.run import run_file

    src = tmp_path / "ae.nn"
    src.write_text(AUTOENCODER)
    _, run = run_file(src, out=tmp_path / "run", verbose=0)
    assert (run / "reconstructions.png").read_bytes().startswith(PNG)
    report = json.loads((run / "reconstruction.json").read_text())
    test_loss = json.loads((run / "metrics.json").read_text())["loss"]
    assert report["split"] == "test" and report["examples"] == 180
    assert report["mse"] == pytest.approx(test_loss, rel=1e-4)  # the loss is mse
    assert not (run / "feature_maps.png").exists()


@pytest.mark.jax
def test_epochs_zero_keeps_fixed_kernels_and_draws_feature_maps(tmp_path: Path) -> None:
    from nnlang.run import run_file
    from nnlang.train.checkpoint import load_variables

    src = tmp_path / "filters.nn"
    src.write_text(FILTERS)
    history, run = run_file(src, out=tmp_path / "run", verbose=0)
    assert history.rows == [] and json.loads((run / "metrics.json").read_text()) == {}
    kernel = load_variables(run)["params"]["conv_0"]["kernel"][..., 0, 0]
    np.testing.assert_array_equal(kernel, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert (run / "feature_maps.png").read_bytes().startswith(PNG)
    report = json.loads((run / "feature_maps.json").read_text())
    assert report["outputs"] == {"same": [8, 8, 1], "edges": [6, 6, 2]}  # not flat
    assert not (run / "reconstruction.json").exists()
