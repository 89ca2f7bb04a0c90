"""``nnc summary`` and ``nnc ir``: golden outputs and the public reference counts.

Each valid spec's ``nnc summary --json`` is compared with its golden in
specs/summaries/ (rewrite them with ``pytest --update-goldens`` and review the
diff). The reference models must match Keras to the parameter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nnlang.check import load_checked
from nnlang.summary import summarize

ROOT = Path(__file__).resolve().parent.parent
SUMMARIES = ROOT / "specs" / "summaries"
IR_CASES = ROOT / "tests" / "cases" / "ir"
MODEL_SPECS = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "specs" / "valid").glob("*.nn")
    if "model " in p.read_text()
)


def run_nnc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _golden(path: Path, actual: str, update: bool) -> None:
    if update:
        path.write_text(actual)
        return
    assert path.is_file(), f"no golden {path.name}; run pytest --update-goldens"
    assert actual == path.read_text()


@pytest.mark.parametrize("spec", MODEL_SPECS)
def test_summary_json_matches_golden(spec: str, request) -> None:
    run = run_nnc("summary", "--json", spec)
    assert run.returncode == 0, run.stderr
    json.loads(run.stdout)  # well-formed
    _golden(SUMMARIES / (Path(spec).stem + ".json"), run.stdout,
            request.config.getoption("--update-goldens"))


@pytest.mark.parametrize(("spec", "model", "total", "trainable", "non_trainable"), [
    ("specs/valid/vgg16.nn", None, 138_357_544, 138_357_544, 0),
    ("specs/valid/resnet50.nn", None, 25_636_712, 25_583_592, 53_120),
    ("specs/valid/lenet5.nn", None, 61_706, 61_706, 0),
])
def test_reference_parameter_counts(spec, model, total, trainable, non_trainable) -> None:
    program, _ = load_checked(ROOT / spec)
    graph = program.models[model] if model else next(iter(program.models.values()))
    summary = summarize(graph)
    assert (summary.total, summary.trainable, summary.non_trainable) == (
        total, trainable, non_trainable)


def test_json_keys_and_totals_agree() -> None:
    run = run_nnc("summary", "--json", "examples/digits_cnn.nn")
    data = json.loads(run.stdout)
    assert set(data) == {"model", "inputs", "outputs", "layers", "total_params",
                         "trainable_params", "non_trainable_params", "flops"}
    assert set(data["layers"][1]) == {"name", "op", "shape", "params", "trainable",
                                      "non_trainable", "flops"}
    assert data["total_params"] == sum(r["params"] for r in data["layers"])
    assert data["trainable_params"] + data["non_trainable_params"] == data["total_params"]
    assert data["flops"] == sum(r["flops"] for r in data["layers"])


def test_shared_layer_is_counted_once() -> None:
    program, _ = load_checked(ROOT / "specs/valid/siamese.nn")
    summary = summarize(next(iter(program.models.values())))
    shared = [r for r in summary.rows if r.shared]
    assert shared and all(r.params == 0 for r in shared)
    owners = {r.name for r in summary.rows if not r.shared}
    assert all(r.name in owners for r in shared)


def test_huge_model_summarises_without_allocating(tmp_path: Path) -> None:
    src = tmp_path / "huge.nn"
    src.write_text("model huge {\n    input x: [20000]\n    dense(20000)\n    dense(20000)\n}\n")
    program, _ = load_checked(src)
    summary = summarize(program.models["huge"])
    assert summary.total == 2 * (20000 * 20000 + 20000)  # ~800 million


@pytest.mark.parametrize("case", sorted(p.name for p in IR_CASES.glob("*.nn")))
def test_ir_matches_golden(case: str, request) -> None:
    run = run_nnc("ir", f"tests/cases/ir/{case}")
    assert run.returncode == 0, run.stderr
    _golden(IR_CASES / case.replace(".nn", ".ir"), run.stdout,
            request.config.getoption("--update-goldens"))


def test_ir_json_lists_every_node() -> None:
    run = run_nnc("ir", "--json", "examples/digits_cnn.nn")
    (graph,) = json.loads(run.stdout)
    assert [n["id"] for n in graph["nodes"]] == list(range(len(graph["nodes"])))
    assert graph["nodes"][1]["name"] == "conv_bn_0/conv_0"
    assert graph["nodes"][1]["type"] == "[8, 8, 32]"


def test_a_table_of_named_outputs_says_which_row_each_is() -> None:
    from nnlang.elaborate import elaborate_file
    from nnlang.shapes import infer_shapes
    from nnlang.summary import format_summary, summarize

    text = ("model two {\n    input a: [4]\n    h = a -> dense(8, act=relu)\n"
            "    output price = h -> dense(1)\n    output kind = h -> dense(3, act=softmax)\n}\n")
    graph = elaborate_file("two.nn", text=text).program.models["two"]
    assert not infer_shapes(graph)
    table = format_summary(summarize(graph))
    assert table.endswith("\nOutputs: price = dense_1 [1], kind = dense_2 [3]")
    plain = elaborate_file("one.nn", text="model m {\n    input a: [4]\n    dense(2)\n}\n")
    graph = plain.program.models["m"]
    assert not infer_shapes(graph)
    assert "Outputs:" not in format_summary(summarize(graph))
