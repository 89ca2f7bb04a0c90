"""Shared weights: a layer's or a block instance's ``as`` name used again after ``->``.

Elaboration copies a named block instance whole (every layer ``shares``),
``nnc summary`` counts the weights once, a re-use whose input does not fit the
shared weights is a check-time error at the re-use, and a model built on a
shared block trains. The Flax side (one parameter set, equal outputs on equal
inputs) is in ``test_lowering.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlang.elaborate import elaborate_file
from nnlang.ir import INPUT_OP, Graph
from nnlang.shapes import infer_shapes
from nnlang.summary import summarize

BLOCKS = """\
block mlp(u) {
    dense(u, act=relu)
    dense(u)
}

block residual(f) {
    input x
    h = x -> dense(f, act=relu) -> dense(f)
    output x + h
}

block xattn(heads) {
    input q
    input kv
    a = (q, kv) -> attention(heads, 4)
    output q + a
}
"""


def elaborate(body: str, blocks: str = BLOCKS) -> tuple[Graph | None, list]:
    """The one model of ``blocks`` + ``body``, shape-checked, and every diagnostic."""
    elab = elaborate_file("test.nn", text=blocks + "\nmodel m {\n" + body + "}\n")
    diags = list(elab.diagnostics)
    (graph,) = elab.program.models.values()
    if not any(d.is_error for d in diags):
        diags += infer_shapes(graph)
    return graph, diags


def layers(graph: Graph) -> list[tuple[str, str, bool]]:
    return [(n.name, n.op, n.shares) for n in graph.nodes if n.op != INPUT_OP]


def errors(diags) -> list:
    return [d for d in diags if d.is_error]


# ---------------------------------------------------------------- block instances


def test_block_name_reapplies_every_layer_of_the_block() -> None:
    graph, diags = elaborate(
        "    input a: [8]\n    input b: [8]\n"
        "    x = a -> mlp(8) as tower\n    y = b -> tower\n"
        "    output (x, y) -> concat\n")
    assert not diags
    assert layers(graph) == [
        ("tower/dense_0", "dense", False), ("tower/dense_1", "dense", False),
        ("tower/dense_0", "dense", True), ("tower/dense_1", "dense", True),
        ("concat_0", "concat", False)]
    second = graph.node(graph.nodes[-1].inputs[1])
    assert second.name == "tower/dense_1" and second.shares
    assert graph.node(second.inputs[0]).inputs == (graph.inputs["b"],)
    assert second.span.line == BLOCKS.count("\n") + 6  # the re-use, `y = b -> tower`


def test_residual_block_reapplies_with_its_skip_connection() -> None:
    graph, diags = elaborate(
        "    input a: [8]\n    input b: [8]\n"
        "    x = a -> residual(8) as r\n    y = b -> r\n"
        "    output (x, y) -> concat\n")
    assert not diags
    copies = [n for n in graph.nodes if n.shares]
    assert [n.name for n in copies] == ["r/dense_0", "r/dense_1", "r/add_0"]
    add = copies[-1]
    assert add.inputs == (graph.inputs["b"], copies[1].id)


def test_multi_input_block_reapplies_to_a_tuple_of_the_same_length() -> None:
    graph, diags = elaborate(
        "    input a: [5, 8]\n    input b: [7, 8]\n"
        "    x = (a, b) -> xattn(2) as cross\n    y = (b, a) -> cross\n"
        "    output (x, y) -> concat(axis=0)\n")
    assert not diags
    attention = [n for n in graph.nodes if n.op == "attention"]
    assert [n.inputs for n in attention] == [(graph.inputs["a"], graph.inputs["b"]),
                                             (graph.inputs["b"], graph.inputs["a"])]
    assert graph.node(graph.outputs["output"]).type.shape == (12, 8)


def test_reapplying_a_block_to_the_wrong_number_of_tensors_is_an_arity_error() -> None:
    _, diags = elaborate(
        "    input a: [5, 8]\n    input b: [5, 8]\n"
        "    x = (a, b) -> xattn(2) as cross\n    y = a -> cross\n"
        "    output (x, y) -> concat\n")
    (d,) = errors(diags)
    assert d.code == "arity" and d.message == "cross needs 2 tensors; got 1"
    _, diags = elaborate(
        "    input a: [8]\n    input b: [8]\n"
        "    x = a -> mlp(8) as tower\n    y = (a, b) -> tower\n"
        "    output (x, y) -> concat\n")
    (d,) = errors(diags)
    assert d.code == "arity" and "takes one tensor" in d.message


def test_shared_block_is_counted_once_in_the_summary() -> None:
    graph, diags = elaborate(
        "    input a: [8]\n    input b: [8]\n"
        "    x = a -> residual(8) as r\n    y = b -> r\n"
        "    output (x, y) -> concat\n")
    assert not diags
    summary = summarize(graph)
    assert summary.total == 2 * (8 * 8 + 8)
    assert [r.params for r in summary.rows if r.shared] == [0, 0, 0]


def test_a_block_reapplied_to_another_spatial_size_is_fine() -> None:
    graph, diags = elaborate(
        "    input a: [8, 8, 3]\n    input b: [12, 12, 3]\n"
        "    x = a -> conv_bn(4) as stem -> global_avgpool\n"
        "    y = b -> stem -> global_avgpool\n"
        "    output (x, y) -> concat\n",
        "block conv_bn(f) {\n    conv(f, 3, padding=same)\n    batchnorm\n}\n")
    assert not diags
    assert [n.type.shape for n in graph.nodes if n.shares] == [(12, 12, 4), (12, 12, 4)]


# ---------------------------------------------------------------- shapes of the re-use


def test_shared_layer_on_inputs_its_weights_do_not_fit_is_a_check_error() -> None:
    _, diags = elaborate(
        "    input left: [16]\n    input right: [8]\n"
        "    a = left -> dense(64) as enc\n    b = right -> enc\n"
        "    output (a, b) -> concat\n")
    (d,) = errors(diags)  # the concat after it stays quiet
    assert d.code == "shape-mismatch"
    assert d.message == "shared layer 'enc' was built for inputs of [16]; here it gets [8]"
    assert (d.span.line, d.span.col) == (BLOCKS.count("\n") + 6, 18)  # `enc` in the re-use
    assert "1,088 parameters" in d.notes[0] and "576 parameters" in d.notes[1]


def test_shared_block_on_inputs_its_weights_do_not_fit_points_at_the_reuse() -> None:
    _, diags = elaborate(
        "    input a: [8]\n    input b: [4]\n"
        "    x = a -> residual(8) as r\n    y = b -> r\n"
        "    output (x, y) -> concat\n")
    (d,) = errors(diags)  # one report, not one more for the skip connection's add
    assert d.message == "shared layer 'r/dense_0' was built for inputs of [8]; here it gets [4]"
    assert d.span.line == BLOCKS.count("\n") + 6


@pytest.mark.parametrize("layer, left, right", [
    ("conv(4, 3)", "[8, 8, 3]", "[12, 10, 3]"),    # weights depend on channels only
    ("dense(4)", "[16]", "[5, 16]"),                # and on the last axis only
    ("lstm(4)", "[10, 6]", "[3, 6]"),               # any sequence length
    ("batchnorm", "[8, 8, 3]", "[4, 4, 3]"),
    ("flatten", "[8, 8, 3]", "[2]"),                # no weights at all
])
def test_shared_layers_whose_weights_fit_check_clean(layer, left, right) -> None:
    _, diags = elaborate(
        f"    input a: {left}\n    input b: {right}\n"
        f"    x = a -> {layer} as shared\n    y = b -> shared\n    output x\n    output y\n")
    assert not errors(diags), diags


@pytest.mark.parametrize("layer, left, right", [
    ("conv(4, 3)", "[8, 8, 3]", "[8, 8, 1]"),
    ("lstm(4)", "[10, 6]", "[10, 5]"),
    ("batchnorm", "[8, 8, 3]", "[8, 8, 4]"),
])
def test_shared_layers_whose_weights_do_not_fit_are_errors(layer, left, right) -> None:
    _, diags = elaborate(
        f"    input a: {left}\n    input b: {right}\n"
        f"    x = a -> {layer} as shared\n    y = b -> shared\n    output x\n    output y\n")
    (d,) = errors(diags)
    assert d.code == "shape-mismatch" and d.message.startswith("shared layer 'shared'")


@pytest.mark.jax
@pytest.mark.slow
def test_a_model_with_a_shared_block_trains(tmp_path: Path) -> None:
    """Both applications of the tower get gradients through one parameter set."""
    import nnlang

    path = tmp_path / "twins.nn"
    path.write_text(
        "block tower(u) {\n    dense(u, act=relu)\n    dense(u, act=relu)\n}\n\n"
        "model twins {\n    input pixels: [64]\n"
        "    a = pixels -> tower(32) as enc\n"
        "    b = pixels -> gaussian_noise(0.1) -> enc\n"
        "    (a, b) -> concat -> dense(10, act=softmax)\n}\n\n"
        "train twins {\n    data = digits(split=[0.7, 0.15, 0.15])\n    batch = 64\n"
        "    epochs = 3\n    loss = cross_entropy\n    optimizer = adam(lr=3e-3)\n"
        "    metrics = [accuracy]\n    seed = 0\n}\n")
    model = nnlang.load(path).model("twins")
    history = model.fit(epochs=3)
    assert history.test["accuracy"] > 0.7  # chance is 0.1
