"""What ``nnc check`` warns about reaches ``nnc run``'s stderr, and only there: the
library (``prepare``, the Python API's ``fit``) keeps it on the result, quietly."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.jax


@pytest.fixture
def zero_lr(tiny_mlp) -> Path:
    return tiny_mlp("zero_lr.nn", lr="0")


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
