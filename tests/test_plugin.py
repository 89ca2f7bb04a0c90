"""The extension point: a layer registered from Python is checked like a built-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
import nnlang
from nnlang.layers import ArgSpec, LayerSpec, ShapeError
from nnlang.types import TensorType


def infer(attrs, inputs):
    (x,) = inputs
    if x.rank != 1:
        raise ShapeError("halve needs an input of shape [N]")
    return TensorType((x.shape[0] // 2,), x.dtype)


nnlang.register_layer(LayerSpec(
    name="halve", group="plugin", doc="keeps the first half of the features",
    args=(ArgSpec("scale", "float", default=1.0),), infer=infer,
    flops=lambda attrs, inputs, out: out.size,
    lower=lambda attrs, ctx: (lambda x: attrs["scale"] * x[:, : x.shape[1] // 2]),
))
'''

SOURCE = "model m {\n    input x: [8]\n    halve(scale=2.0) : [4]\n    dense(3)\n}\n"


def nnc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_plugin_layer_checks_summarises_and_errors_like_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "mylayers.py").write_text(PLUGIN)
    (tmp_path / "m.nn").write_text(SOURCE)
    assert nnc("--plugin", "mylayers.py", "check", "m.nn", cwd=tmp_path).returncode == 0
    summary = nnc("--plugin", "mylayers.py", "summary", "m.nn", cwd=tmp_path)
    assert "halve" in summary.stdout and "[4]" in summary.stdout
    (tmp_path / "bad.nn").write_text("model m {\n    input x: [8, 2]\n    halve\n}\n")
    bad = nnc("--plugin", "mylayers.py", "check", "bad.nn", cwd=tmp_path)
    assert bad.returncode == 1
    assert ("bad.nn:3:5: error: halve needs an input of shape [N]; got [8, 2] from input 'x'"
            in bad.stderr)
    unknown = nnc("check", "m.nn", cwd=tmp_path)
    assert "unknown layer 'halve'" in unknown.stderr


def test_plugin_cannot_replace_a_builtin(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(PLUGIN.replace('name="halve"', 'name="dense"'))
    (tmp_path / "m.nn").write_text(SOURCE)
    run = nnc("--plugin", "p.py", "check", "m.nn", cwd=tmp_path)
    assert run.returncode == 2 and "built-in layer" in run.stderr


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("def (\n", ['File "p.py", line 1', "SyntaxError: invalid syntax"]),
        ("import helper\n", ['File "p.py", line 1, in <module>', "helper.py\", line 2",
                             "ZeroDivisionError: division by zero"]),
    ],
    ids=["syntax-error", "raises-in-an-import"],
)  # fmt: skip
def test_a_failing_plugin_shows_its_own_traceback_not_an_internal_error(
        tmp_path: Path, code: str, shown: list[str]) -> None:  # fmt: skip
    (tmp_path / "p.py").write_text(code)
    (tmp_path / "helper.py").write_text("x = 1\nx = x / 0\n")
    (tmp_path / "m.nn").write_text(SOURCE)
    run = nnc("--plugin", "p.py", "check", "m.nn", cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # an error in the user's files
    assert run.stderr.startswith("nnc: error: plugin p.py failed while loading\n")
    assert all(line in run.stderr for line in shown), run.stderr
    assert "internal error" not in run.stderr and "runpy" not in run.stderr


def test_plugin_layer_trains(tmp_path: Path) -> None:
    import jax
    import numpy as np

    from nnlang.cli import load_plugins
    from nnlang.layers import unregister_layer

    (tmp_path / "mylayers.py").write_text(PLUGIN)
    load_plugins([str(tmp_path / "mylayers.py")])
    try:
        import nnlang

        model = nnlang.check_source(SOURCE).model("m")
        variables = model.init(jax.random.key(0), batch=2)
        out, _ = model.apply(variables, np.ones((2, 8), np.float32))
        assert out["output"].shape == (2, 3)
    finally:
        unregister_layer("halve")
