"""A run directory's ``run.json``: damaged, it is a ``[file]`` diagnostic naming it,
not a traceback; a resume is recorded in it only once training begins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.jax


@pytest.fixture
def mlp_file(tiny_mlp) -> Path:
    return tiny_mlp("mlp.nn", lr="3e-3")


@pytest.mark.parametrize(("text", "why"), [
    ('{"source": "mlp.nn", "tra', "is damaged: it is not valid JSON"),
    ("[1, 2]", "is damaged: it is a JSON list"),
])
@pytest.mark.parametrize("command", ["run", "eval"])
def test_a_damaged_run_json_is_a_file_error_naming_it(
        mlp_file: Path, tmp_path: Path, capsys, text: str, why: str, command: str) -> None:
    from nnlang.cli import main

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(text)
    args = (["run", str(mlp_file), "--resume", str(run_dir)] if command == "run"
            else ["eval", str(mlp_file), "--run", str(run_dir)])
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"'{run_dir / 'run.json'}' {why}" in err and "[file]" in err
    assert "Traceback" not in err and "internal error" not in err


def test_a_resume_that_fails_before_training_is_not_recorded(
        mlp_file: Path, tmp_path: Path, monkeypatch) -> None:
    import nnlang.train.loop as loop
    from nnlang.diagnostics import NnError
    from nnlang.run import run_file
    from nnlang.train.binding import TrainConfigError

    run_dir = tmp_path / "run"
    run_file(mlp_file, out=run_dir, verbose=0)
    before = (run_dir / "run.json").read_text()

    def refuse(*args, **kwargs):  # a setting only the built model refutes
        raise TrainConfigError("refused", key="optimizer")

    real_fit = loop.fit
    monkeypatch.setattr(loop, "fit", refuse)
    with pytest.raises(NnError):
        run_file(mlp_file, resume=run_dir, epochs=2, verbose=0)
    assert (run_dir / "run.json").read_text() == before

    monkeypatch.setattr(loop, "fit", real_fit)
    run_file(mlp_file, resume=run_dir, epochs=2, verbose=0)
    (resumed,) = json.loads((run_dir / "run.json").read_text())["resumes"]
    assert resumed["epochs"] == 2
