"""What ``nnc check`` warns about reaches ``nnc run``'s stderr, and only there: the
library (``prepare``, the Python API's ``fit``) keeps it on the result, quietly."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.jax

ZERO_LR = """\
model mlp {
    input pixels: [64]
    dense(10, act=softmax)
}

train mlp {
    data = digits(split=[0.7, 0.15, 0.15])
    batch = 64
    epochs = 1
    loss = cross_entropy
    optimizer = adam(lr=0)
    seed = 0
}
"""


@pytest.fixture
def zero_lr(tmp_path: Path) -> Path:
    path = tmp_path / "zero_lr.nn"
    path.write_text(ZERO_LR)
    return path


def test_prepare_records_the_warnings_and_prints_nothing(zero_lr: Path, capsys) -> None:
    from nnlang.run import prepare

    heard = []
    prepared = prepare(zero_lr, on_warnings=heard.append)
    assert [d.code for d in prepared.warnings] == ["odd-setting"]
    assert heard == [prepared.warnings]
    assert "odd-setting" not in capsys.readouterr().err


def test_the_python_api_fits_without_printing_the_warnings(zero_lr: Path, capsys) -> None:
    import nnlang

    nnlang.load(zero_lr).model().fit(epochs=1)
    assert "odd-setting" not in capsys.readouterr().err
