"""``nnc graph``: the elaborated graph as Graphviz DOT, rendered when dot exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from nnlang.check import load_checked
from nnlang.graphviz import to_dot

ROOT = Path(__file__).resolve().parent.parent


def nnc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_node_and_edge_is_drawn() -> None:
    program, _ = load_checked(ROOT / "examples" / "resnet_digits.nn")
    graph = program.models["resnet"]
    dot = to_dot(graph)
    drawn = set(re.findall(r"^\s+n(\d+) \[", dot, re.M))
    assert drawn == {str(n.id) for n in graph.nodes}
    edges = re.findall(r"^\s+n(\d+) -> n(\d+);", dot, re.M)
    assert sorted(edges) == sorted((str(i), str(n.id)) for n in graph.nodes for i in n.inputs)
    assert 'subgraph "cluster_residual_0"' in dot  # block instances are clusters
    assert "f32[B, 8, 8, 32]" in dot  # types on the boxes
    assert dot.count("shape=oval") == len(graph.inputs) + len(graph.outputs)


def test_shared_layers_are_dashed(tmp_path: Path) -> None:
    src = tmp_path / "siamese.nn"
    src.write_text("model siamese {\n    input a: [4]\n    input b: [4]\n"
                   "    left = a -> dense(3) as encode\n    right = b -> encode\n"
                   "    output (left, right) -> add\n}\n")
    program, _ = load_checked(src)
    dot = to_dot(program.models["siamese"])
    assert dot.count("dashed") == 1, dot  # the re-applied encode
    assert dot.count("shape=oval") == 3  # two inputs, one output


def test_a_re_applied_block_gets_a_cluster_of_its_own(tmp_path: Path) -> None:
    src = tmp_path / "towers.nn"
    src.write_text("block tower(units) {\n    input x\n"
                   "    x -> dense(units, act=relu) -> dense(units)\n}\n\n"
                   "model m {\n    input a: [4]\n    input b: [4]\n"
                   "    ya = a -> tower(8) as t\n    yb = b -> t\n    output ya + yb\n}\n")
    program, _ = load_checked(src)
    dot = to_dot(program.models["m"])
    first = dot[dot.index('subgraph "cluster_t" {'):dot.index('subgraph "cluster_t@2" {')]
    second = dot[dot.index('subgraph "cluster_t@2" {'):]
    assert 'label="t";' in first and 'label="t, again";' in second
    # each application's two layers in its own cluster; the second's dashed
    assert first.count("dense(units=8") == 2 and "rounded,dashed" not in first
    assert second.split("}")[0].count("rounded,dashed") == 2


def test_cli_prints_dot_and_writes_a_file(tmp_path: Path) -> None:
    run = nnc("graph", "examples/mlp_digits.nn")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("digraph")
    out = tmp_path / "mlp.dot"
    assert nnc("graph", "examples/mlp_digits.nn", "-o", str(out)).returncode == 0
    assert out.read_text() == run.stdout


def test_svg_needs_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "mlp.svg"
    run = nnc("graph", "examples/mlp_digits.nn", "-o", str(out))
    if shutil.which("dot") is None:
        assert run.returncode == 2 and "Graphviz" in run.stderr
    else:
        assert run.returncode == 0, run.stderr
        assert "<svg" in out.read_text()


def test_graph_of_a_broken_file_is_a_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nn"
    bad.write_text("model m {\n    input x: [3]\n    dense(\n}\n")
    run = nnc("graph", str(bad))
    assert run.returncode == 1 and "bad.nn:3" in run.stderr and "Traceback" not in run.stderr


def test_an_output_nnc_cannot_write_is_a_usage_error_that_says_why(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cases = {
        str(tmp_path / "missing" / "x.dot"): f"no such folder '{tmp_path / 'missing'}'",
        str(tmp_path / "out.txt"): "cannot write .txt files; name a .dot, .gv, .svg",
        str(tmp_path / "out"): "cannot write a file without an extension",
        str(tmp_path / "sub"): "is a folder; name a file in it",
    }
    for output, message in cases.items():
        run = nnc("graph", "examples/mlp_digits.nn", "-o", output)
        assert run.returncode == 2, (output, run.stderr)
        assert message in run.stderr, (output, run.stderr)
        assert "Graphviz" not in run.stderr and "internal error" not in run.stderr
