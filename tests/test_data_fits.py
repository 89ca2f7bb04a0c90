"""Data checked against the model before training, and CSVs read for ``nnc predict``.

Each test writes its own small files; nothing is downloaded. Only the last test
trains (one epoch on 40 rows).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlang.check import load_checked
from nnlang.data import DataError, load_data
from nnlang.data.fits import token_id_problems
from nnlang.data.predict import prediction_columns, read_prediction_csv
from nnlang.values import Word

ROOT = Path(__file__).resolve().parent.parent

TEXT_MODEL = """\
model s {{
    input review: i32[{maxlen}]
    embedding({vocab}, 4)
    global_avgpool
    dense(1, act=sigmoid)
}}
train s {{
    data = {data}
    epochs = 1
}}
"""


def problems_of(tmp_path: Path, vocab: int, data: str, maxlen: int = 6) -> list:
    """The token-id diagnostics of TEXT_MODEL with ``data``, loading it."""
    path = tmp_path / "m.nn"
    path.write_text(TEXT_MODEL.format(vocab=vocab, data=data, maxlen=maxlen))
    program, _ = load_checked(path)
    spec = next(iter(program.trains.values()))
    source = spec.settings["data"]
    dataset = load_data(source.name, source.args, source.kwargs, base_dir=tmp_path,
                        seed=0)
    return token_id_problems(program.models["s"], dataset, spec)


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    words = [f"w{i}" for i in range(30)]
    lines = [f"{'pos' if i % 2 else 'neg'}\t{' '.join(words[i % 25:i % 25 + 5])}"
             for i in range(40)]
    path = tmp_path / "r.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_text_vocabulary_larger_than_the_embedding_is_a_data_mismatch(reviews):
    (diag,) = problems_of(reviews.parent, 10, 'text("r.txt", maxlen=6)')
    assert diag.code == "data-mismatch"
    assert "token ids up to" in diag.message
    assert "embedding(10, ...) takes ids 0 to 9" in diag.message
    assert diag.hint.startswith("set vocab=10 in text(...)")
    assert diag.span.line == 8  # at the data setting, the thing to change
    assert problems_of(reviews.parent, 10, 'text("r.txt", maxlen=6, vocab=10)') == []


def test_npz_ids_beyond_the_embedding_or_negative_are_a_data_mismatch(tmp_path):
    y = np.arange(20) % 2
    np.savez(tmp_path / "ids.npz", x=np.arange(120).reshape(20, 6) % 50, y=y)
    (diag,) = problems_of(tmp_path, 40, 'npz("ids.npz")')
    assert "token ids up to 49" in diag.message and diag.hint.startswith(
        "use embedding(50, ...)")
    assert problems_of(tmp_path, 50, 'npz("ids.npz")') == []
    np.savez(tmp_path / "ids.npz", x=-np.ones((20, 6), np.int32), y=y)
    (diag,) = problems_of(tmp_path, 50, 'npz("ids.npz")')
    assert "gets token id -1" in diag.message


# ---------------------------------------------------------------- nnc predict CSVs


def trained_columns(tmp_path: Path) -> dict:
    """What a run on csv(target=y) keeps in preprocess.npz, as np.load gives it."""
    lines = ["id,a,b,y"] + [f"r{i},{i},{i * 2},{i % 2}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    data = load_data("csv", ("t.csv",), {"target": Word("y")}, base_dir=tmp_path, seed=0)
    np.savez(tmp_path / "prep.npz", **prediction_columns(data))
    return dict(np.load(tmp_path / "prep.npz"))


def test_a_prediction_csv_with_a_header_is_read_by_column_name(tmp_path):
    prep = trained_columns(tmp_path)
    assert [str(n) for n in prep["feature_names"]] == ["a", "b"]
    new = tmp_path / "new.csv"
    new.write_text("y,b,note,a\n1,20,hi,10\n0,4,,2\n")  # other order, target, extras
    assert read_prediction_csv(new, prep).tolist() == [[10, 20], [2, 4]]
    new.write_text("1,2\n3,4\n")  # no header: by position
    assert read_prediction_csv(new, prep).tolist() == [[1, 2], [3, 4]]


def test_a_prediction_csv_names_its_missing_column_and_bad_cell(tmp_path):
    prep = trained_columns(tmp_path)
    new = tmp_path / "new.csv"
    new.write_text("a,y\n1,0\n")
    with pytest.raises(DataError) as caught:
        read_prediction_csv(new, prep)
    assert "new.csv has no column 'b'; the model was trained on columns a, b" in (
        caught.value.message)
    new.write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(DataError, match="new.csv:3: column 'b' has 'x', not a number"):
        read_prediction_csv(new, prep)


def test_a_header_without_recorded_columns_is_skipped(tmp_path):
    new = tmp_path / "new.csv"
    new.write_text("p0,p1\n1,2\n")
    assert read_prediction_csv(new, {}).tolist() == [[1, 2]]


TABLE_MODEL = """\
model m {
    input x: [2]
    dense(2, act=softmax)
}
train m {
    data = csv("t.csv", target=y, split=[0.8, 0.2, 0])
    epochs = 1
}
"""


@pytest.mark.jax
def test_nnc_run_warns_of_text_columns_and_predict_reads_columns_by_name(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["id,a,b,y"] + [f"r{i},{rng.random():.3f},{rng.random():.3f},{i % 2}"
                            for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.nn").write_text(TABLE_MODEL)

    def nnc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    run = nnc("run", "m.nn", "--out", "r", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "warning: t.csv: column 'id' holds text and is left out" in run.stderr
    (tmp_path / "new.csv").write_text("b,a,y\n0.5,0.1,1\n0.2,0.9,0\n")
    pred = nnc("predict", "m.nn", "--run", "r", "new.csv", "--out", "p.csv")
    assert pred.returncode == 0, pred.stderr
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 3
    (tmp_path / "new.csv").write_text("a,y\n0.5,1\n")
    pred = nnc("predict", "m.nn", "--run", "r", "new.csv")
    assert pred.returncode == 1 and "has no column 'b'" in pred.stderr
