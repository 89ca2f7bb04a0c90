"""Imports and ``--set``: what reaches which names, and the mistakes around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlang.check import check_file
from nnlang.elaborate import elaborate_file

MODEL = "model m {\n    input x: [3]\n    dense(w)\n}\n"
LIB = ("const w = 4\nblock b {\n    dense(w)\n}\n"
       "model libm {\n    input x: [3]\n    dense(2)\n}\n")


def write(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/").replace("_nn", ".nn")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def errors(path: Path, overrides: dict[str, str] | None = None) -> list:
    return [d for d in check_file(path, overrides=overrides).diagnostics if d.is_error]


@pytest.mark.parametrize("order", ["const first", "import first"])
def test_a_files_own_const_wins_over_an_imported_one_in_any_order(tmp_path: Path,
                                                                  order: str) -> None:
    lines = ['const w = 8\n', 'import "lib.nn"\n']
    if order == "import first":
        lines.reverse()
    write(tmp_path, lib_nn=LIB, main_nn="".join(lines) + MODEL)
    program = elaborate_file(tmp_path / "main.nn").program
    (dense,) = [n for n in program.models["m"].nodes if n.op == "dense"]
    assert dense.attrs["units"] == 8


@pytest.mark.parametrize(("line", "message"), [
    ('import "sub"', "cannot import 'sub': it is a folder"),
    ('import "data.csv"', "cannot import 'data.csv': only .nn files can be imported"),
    ('import "/etc/passwd"', "only .nn files can be imported"),
])
def test_an_import_names_a_nn_file(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    write(tmp_path, main_nn=f"{line}\nconst w = 2\n{MODEL}")
    (diag,) = errors(tmp_path / "main.nn")
    assert diag.code == "import-not-found" and message in diag.message, diag
    assert diag.span.line == 1


def test_one_namespace_imported_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, lib_nn=LIB, other_nn=LIB,
          main_nn=f'import "lib.nn" as lib\nimport "other.nn" as lib\nconst w = 2\n{MODEL}')
    (diag,) = errors(tmp_path / "main.nn")
    assert (diag.code, diag.span.line) == ("duplicate-name", 2), diag
    assert diag.notes == ("first imported at " + str(tmp_path / "main.nn") + ":1:1",)


def test_training_a_model_of_an_imported_file_says_models_are_not_imported(
        tmp_path: Path) -> None:
    write(tmp_path, lib_nn=LIB,
          main_nn=f'import "lib.nn"\n{MODEL}train libm {{\n    data = iris\n}}\n')
    (diag,) = errors(tmp_path / "main.nn")
    assert diag.message == "train block names unknown model 'libm'"
    assert "imports bring consts and blocks, not models" in diag.hint


@pytest.mark.parametrize(("name", "message", "hint"), [
    ("lr", "no const or train setting named 'lr'", "--set optimizer=adam(lr=1e-2)"),
    ("b1", "no const or train setting named 'b1'", "--set optimizer=adam(lr=1e-2)"),
    ("optimizer.lr", "not a const or train setting name", "whole train settings"),
    ("Epochs", "no const or train setting named 'Epochs'", "did you mean 'epochs'?"),
    ("W", "no const or train setting named 'W'", "did you mean 'w'?"),
])
def test_a_bad_override_is_one_error_with_a_way_forward(tmp_path: Path, name: str,
                                                        message: str, hint: str) -> None:
    write(tmp_path, main_nn=f"const w = 3\n{MODEL}train m {{\n    data = iris\n}}\n")
    (diag,) = errors(tmp_path / "main.nn", {name: "0.1"})
    assert diag.code == "bad-override" and message in diag.message, diag
    assert hint in diag.hint, diag


def test_an_override_reaches_a_const_and_a_train_setting(tmp_path: Path) -> None:
    write(tmp_path, main_nn=f"const w = 2\n{MODEL}train m {{\n    data = iris\n}}\n")
    program = elaborate_file(tmp_path / "main.nn", {"w": "5", "epochs": "3"}).program
    (dense,) = [n for n in program.models["m"].nodes if n.op == "dense"]
    assert dense.attrs["units"] == 5 and program.trains["m"].settings["epochs"] == 3


@pytest.mark.parametrize("order", ["own alias first", "indirect import first"])
def test_a_files_own_namespace_wins_over_one_an_import_brings(tmp_path: Path,
                                                              order: str) -> None:
    lines = ['import "a.nn" as lib\n', 'import "b.nn"\n']
    if order == "indirect import first":
        lines.reverse()
    write(tmp_path, a_nn="const width = 16\n", c_nn="const width = 99\n",
          b_nn='import "c.nn" as lib\n',
          main_nn="".join(lines) + "model m {\n    input x: [3]\n    dense(lib.width)\n}\n")
    program = elaborate_file(tmp_path / "main.nn").program
    (dense,) = [n for n in program.models["m"].nodes if n.op == "dense"]
    assert dense.attrs["units"] == 16
