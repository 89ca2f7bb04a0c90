"""``nnc check`` as a user runs it: a real subprocess, exit codes, output formats.

Exit codes: 0 clean, 1 diagnostics, 2 usage (no arguments, a bad flag, a
missing file). A user mistake never shows a Python traceback, and ``check``
never imports JAX.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Has an import and a train block, so a check runs the whole front end.
CLEAN = "specs/valid/digits_cnn.nn"
BROKEN = "specs/invalid/syntax_missing_rparen.nn"
JSON_KEYS = set(
    "severity code message path line col end_line end_col notes hint".split()
)
HEAVY = {"jax", "jaxlib", "flax", "optax"}


def assert_no_traceback(run) -> None:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert "internal error" not in run.stderr, run.stderr


# ---------------------------------------------------------------- exit codes


def test_clean_file_exits_0(nnc) -> None:
    run = nnc("check", CLEAN)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "1 file" in run.stdout


def test_errors_exit_1(nnc) -> None:
    run = nnc("check", BROKEN)
    assert run.returncode == 1
    assert_no_traceback(run)
    assert run.stderr.startswith(f"{BROKEN}:4:")
    assert "[syntax]" in run.stderr


def test_errors_in_one_of_several_files_exit_1(nnc) -> None:
    run = nnc("check", CLEAN, BROKEN)
    assert run.returncode == 1
    assert_no_traceback(run)
    assert BROKEN in run.stderr and CLEAN not in run.stderr
    assert "in 2 files" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="no-arguments"),
        pytest.param(("check",), id="check-without-files"),
        pytest.param(("check", "specs/does_not_exist.nn"), id="missing-file"),
        pytest.param(
            ("check", CLEAN, "specs/does_not_exist.nn"), id="one-missing-file"
        ),
        pytest.param(("check", "--bogus", CLEAN), id="unknown-flag"),
        pytest.param(("check", "--format", "yaml", CLEAN), id="bad-format"),
        pytest.param(("check", CLEAN, "--set", "width"), id="set-without-value"),
        pytest.param(("frobnicate", CLEAN), id="unknown-command"),
        pytest.param(("run", CLEAN, "--epochs", "-1"), id="negative-epochs"),
        pytest.param(("run", CLEAN, "--epochs", "two"), id="epochs-not-a-number"),
        pytest.param(("run", CLEAN, "--out", CLEAN), id="out-is-a-file"),
    ],
)
def test_usage_errors_exit_2(nnc, args) -> None:
    run = nnc(*args)
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert_no_traceback(run)
    assert run.stderr.strip(), "a usage error must say what is wrong"


@pytest.mark.parametrize("command", ["summary", "ir", "graph"])
def test_a_file_without_a_model_says_so_and_is_not_an_error(nnc, command) -> None:
    run = nnc(command, "specs/valid/blocks.nn")
    assert run.returncode == 0 and run.stdout == ""
    assert "defines no model, only blocks, consts or imports" in run.stderr


@pytest.mark.parametrize(("args", "hint"), [
    (("chek", CLEAN), "did you mean 'check'?"),
    (("check", "--format", "jsn", CLEAN), "did you mean 'json'?"),
])
def test_a_misspelt_command_or_choice_gets_a_did_you_mean(nnc, args, hint) -> None:
    run = nnc(*args)
    assert run.returncode == 2 and hint in run.stderr, run.stderr


def test_version(nnc) -> None:
    from nnlang import __version__

    run = nnc("--version")
    assert run.returncode == 0 and run.stdout == f"nnc {__version__}\n"


def test_missing_file_is_named(nnc) -> None:
    run = nnc("check", "specs/does_not_exist.nn")
    assert "specs/does_not_exist.nn" in run.stderr


# ---------------------------------------------------------------- output formats


def test_json_output_of_errors(nnc) -> None:
    run = nnc("check", "--format", "json", "specs/invalid/syntax_several_errors.nn")
    assert run.returncode == 1
    assert_no_traceback(run)
    items = json.loads(run.stdout)
    assert isinstance(items, list) and len(items) == 3
    for item in items:
        assert set(item) == JSON_KEYS
        assert item["severity"] == "error" and item["code"] == "syntax"
        assert item["path"] == "specs/invalid/syntax_several_errors.nn"
        assert isinstance(item["line"], int) and isinstance(item["col"], int)
        assert isinstance(item["notes"], list)
    assert [i["line"] for i in items] == sorted(i["line"] for i in items)


def test_json_output_of_a_clean_file(nnc) -> None:
    run = nnc("check", "--format", "json", CLEAN)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_text_output_has_header_caret_and_summary(nnc) -> None:
    run = nnc("check", BROKEN)
    lines = run.stderr.splitlines()
    assert lines[0].startswith(f"{BROKEN}:4:") and lines[0].endswith("[syntax]")
    assert lines[1].lstrip().startswith("4 |")
    assert lines[2].rstrip().endswith("^")
    assert lines[-1] == "found 1 error in 1 file"


# ---------------------------------------------------------------- directories


def test_directory_expands_to_its_nn_files(nnc, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.nn").write_text("model m {\n    input x: [4]\n    dense(2)\n}\n")
    (tmp_path / "sub" / "bad.nn").write_text(
        "model m {\n    input x: [4]\n    dense(2\n}\n"
    )
    (tmp_path / "notes.txt").write_text("not a spec (((\n")
    run = nnc("check", str(tmp_path))
    assert run.returncode == 1
    assert_no_traceback(run)
    assert "bad.nn:3:" in run.stderr
    assert "good.nn" not in run.stderr and "notes.txt" not in run.stderr
    assert "in 2 files" in run.stderr


def test_directory_of_valid_specs(nnc) -> None:
    run = nnc("check", "specs/valid/lib")
    assert run.returncode == 0, run.stderr


# ---------------------------------------------------------------- no traceback on user mistakes


def test_all_invalid_specs_at_once(nnc) -> None:
    run = nnc("check", "specs/invalid")
    assert run.returncode == 1
    assert_no_traceback(run)
    n_specs = len(list((ROOT / "specs" / "invalid").rglob("*.nn")))
    assert f"in {n_specs} files" in run.stderr


USER_MISTAKES = {
    "empty": b"",
    "only-comments": b"# nothing here yet\n",
    "binary": bytes(range(256)) * 4,
    "latin-1": 'const name = "caf\xe9"\n'.encode("latin-1"),
    "utf-16": "model m {\n    input x: [4]\n}\n".encode("utf-16"),
    "nul": b"model m {\x00}\n",
    "crlf": b"model m {\r\n    input x: [4]\r\n    dense(2\r\n}\r\n",
    "tabs": b"model m {\n\tinput x: [4]\n\tdense(2) relu\n}\n",
    "deep": b"const a = " + b"(" * 5000 + b"\n",
    "long-line": b"const a = [" + b"1, " * 30000 + b"\n",
    "python": b"import torch\nmodel = torch.nn.Linear(4, 2)\n",
    "if-without-else": b"model m {\n    input x: [4]\n    if true {\n        relu\n    }\n}\n",
}


@pytest.mark.parametrize("name", sorted(USER_MISTAKES))
def test_no_traceback_on_odd_files(nnc, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.nn"
    path.write_bytes(USER_MISTAKES[name])
    run = nnc("check", str(path))
    assert_no_traceback(run)
    assert run.returncode in (0, 1), run.stderr


def test_directory_named_like_a_spec(nnc, tmp_path: Path) -> None:
    (tmp_path / "model.nn").mkdir()
    run = nnc("check", str(tmp_path / "model.nn"))
    assert_no_traceback(run)
    assert run.returncode in (0, 1, 2)


# ---------------------------------------------------------------- the JAX line


def imported_modules(importtime_stderr: str) -> list[str]:
    """Module names from ``python -X importtime`` lines ("import time: self | cumulative | name")."""
    names = []
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2:
            continue
        name = line.rsplit("|", 1)[1].strip()
        if name and name != "imported package":
            names.append(name)
    return names


def test_check_does_not_import_jax() -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nnlang.cli", "check", CLEAN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = imported_modules(proc.stderr)
    assert "nnlang.parse" in modules, "importtime output not understood"
    heavy = sorted({m for m in modules if m.split(".")[0] in HEAVY})
    assert not heavy, f"nnc check imported {heavy[:10]}"


def test_importtime_parser() -> None:
    sample = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   jax._src.config\n"
        "import time:        50 |         50 | nnlang.parse\n"
    )
    assert imported_modules(sample) == ["jax._src.config", "nnlang.parse"]


# ---------------------------------------------------------------- a large file


def large_spec(n_lines: int = 2000) -> str:
    """A valid file of about ``n_lines`` lines: consts, blocks, a deep model, a train block."""
    out = ["# generated: a large but ordinary spec", ""]
    for i in range(50):
        out.append(f"const width_{i} = {8 + i % 8}")
    out.append("")
    for i in range(40):
        out += [
            f"block unit_{i}(units, rate=0.1) {{",
            "    dense(units, act=relu)",
            "    dropout(rate)",
            "}",
            "",
        ]
    out += ["model big {", "    input x: [4]"]
    i = 0
    while len(out) < n_lines - 9:
        out.append(
            f"    unit_{i % 40}(width_{i % 50})"
            if i % 3
            else f"    dense(width_{i % 50}) as layer_{i}  # layer {i}"
        )
        i += 1
    out += [
        "    dense(3, act=softmax)",
        "}",
        "",
        "train big {",
        "    data = iris",
        "    epochs = 1",
        "    loss = cross_entropy",
        "    optimizer = adam",
        "}",
    ]
    return "\n".join(out) + "\n"


def test_large_file_checks(nnc, tmp_path: Path) -> None:
    """A 2,000-line spec is checked to the end (correctness only: timing is a benchmark's job)."""
    text = large_spec()
    assert len(text.splitlines()) >= 2000
    path = tmp_path / "big.nn"
    path.write_text(text)
    run = nnc("check", str(path), timeout=600)
    assert_no_traceback(run)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 file" in run.stdout


def test_large_file_with_an_error_at_the_end(nnc, tmp_path: Path) -> None:
    lines = large_spec().splitlines()
    last = lines.index("    dense(3, act=softmax)")
    lines[last] = "    dense(3, act=softmax"  # the model's last layer loses its ')'
    path = tmp_path / "big_broken.nn"
    path.write_text("\n".join(lines) + "\n")
    run = nnc("check", str(path), timeout=600)
    assert_no_traceback(run)
    assert run.returncode == 1
    assert f"to close the '(' on line {last + 1}" in run.stderr, run.stderr


# ---------------------------------------------------------------- run failures


def test_a_diverged_run_names_its_last_good_checkpoint_once(tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    import nnlang.run
    from nnlang.cli import main
    from nnlang.train.history import History, TrainingDiverged

    ckpt = tmp_path / "run" / "checkpoints" / "3"

    def diverge(*args, **kwargs):
        raise TrainingDiverged(
            "the training loss became nan or inf at epoch 2, step 1",
            hint=f"lower the learning rate; the last good checkpoint is {ckpt}",
            epoch=2, step=1, global_step=4, checkpoint=ckpt, history=History())

    monkeypatch.setattr(nnlang.run, "run_file", diverge)
    assert main(["run", CLEAN]) == 1
    err = capsys.readouterr().err
    assert err.count(str(ckpt)) == 1 and "[diverged]" in err


def test_running_out_of_memory_anywhere_is_a_user_error(monkeypatch, capsys) -> None:
    import nnlang.infer
    from nnlang.cli import main

    def exhaust(*args, **kwargs):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate "
                           "25600000000000 bytes.\nmore XLA detail")

    monkeypatch.setattr(nnlang.infer, "eval_file", exhaust)
    assert main(["eval", CLEAN, "--run", "runs/x"]) == 1
    err = capsys.readouterr().err
    assert "error: out of memory: Out of memory while trying to allocate " \
        "25600000000000 bytes. [out-of-memory]" in err
    assert "internal error" not in err and "more XLA detail" not in err


def test_python_running_out_of_memory_is_the_same_user_error(monkeypatch, capsys) -> None:
    import nnlang.infer
    from nnlang.cli import main

    def exhaust(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(nnlang.infer, "eval_file", exhaust)
    assert main(["eval", CLEAN, "--run", "runs/x"]) == 1
    err = capsys.readouterr().err
    assert "error: out of memory: an allocation failed [out-of-memory]" in err
    assert "internal error" not in err


# ---------------------------------------------------------------- train blocks


def test_a_bad_value_from_set_says_so_and_points_at_no_line(nnc) -> None:
    run = nnc("check", CLEAN, "--set", "optimizer=foo(lr=1)")
    assert run.returncode == 1
    assert_no_traceback(run)
    assert run.stderr.startswith("error: unknown optimizer 'foo' [train-config]\n")
    assert "= the value comes from --set optimizer=foo(lr=1)" in run.stderr


def test_legal_but_odd_settings_warn_and_exit_0(nnc, tmp_path: Path) -> None:
    path = tmp_path / "odd.nn"
    path.write_text("model m {\n    input x: [8, 8, 1]\n    flatten\n    dense(10)\n}\n\n"
                    "train m {\n    data = digits\n    optimizer = adam(lr=0)\n}\n")
    run = nnc("check", str(path))
    assert run.returncode == 0, run.stderr
    assert f"{path}:9:25: warning: adam(): lr is 0" in run.stderr
