"""A final softmax or sigmoid is left to the loss (logits) only where that is exact.

The fused losses and ``predict()`` normalise the last axis, so a final
``softmax(axis=k)`` over another axis must stay in the model.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.jax


def compiled(last: str):
    from nnlang.elaborate import elaborate_file
    from nnlang.lower import CompiledModel
    from nnlang.shapes import infer_shapes

    text = f"model m {{\n    input x: [4, 3]\n    dense(3)\n    {last}\n}}\n"
    elab = elaborate_file("m.nn", text=text)
    assert not [d for d in elab.diagnostics if d.is_error], elab.diagnostics
    graph = elab.program.models["m"]
    assert not infer_shapes(graph)
    return CompiledModel(graph)


@pytest.mark.parametrize("last, fused", [
    ("softmax", True), ("softmax(axis=-1)", True), ("softmax(axis=1)", True),
    ("softmax(axis=0)", False), ("sigmoid", True),
])
def test_only_a_last_axis_softmax_becomes_logits(last: str, fused: bool) -> None:
    model = compiled(last)
    assert bool(model.logits_outputs) is fused


def test_predict_of_a_first_axis_softmax_sums_to_one_over_that_axis() -> None:
    import jax

    model = compiled("softmax(axis=0)")
    x = {"x": np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)}
    variables = model.init(jax.random.key(0), x)
    out = np.asarray(model.predict(variables, x)["output"])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


# ------------------------------------------ a linear output is read as logits


def test_an_output_without_activation_is_linear_and_others_are_not() -> None:
    from nnlang.train.model import activations_of

    assert compiled("flatten\n    dense(2)").linear_outputs == {"output"}
    assert compiled("flatten\n    dense(2, act=linear)").linear_outputs == {"output"}
    for last in ("relu", "softmax", "flatten\n    dense(2, act=relu)"):
        assert not compiled(last).linear_outputs, last
    linear = compiled("flatten\n    dense(2)")
    assert activations_of(linear, {"output": "cross_entropy"}) == {"output": "softmax"}
    assert activations_of(linear, {"output": "kl_divergence"}) == {"output": "softmax"}
    assert activations_of(linear, {"output": "binary_cross_entropy"}) == {
        "output": "sigmoid"}
    assert activations_of(linear, {"output": "mse"}) == {"output": None}
    assert activations_of(compiled("relu"), {"output": "cross_entropy"}) == {
        "output": None}  # a relu's values stay probabilities (normalised), as before


def check_and_load(tmp_path, text: str):
    from nnlang.run import prepare

    path = tmp_path / "m.nn"
    path.write_text(text)
    return prepare(path)


CONTRACT = """
block conv_bn(filters, kernel=3, stride=1) {
    conv(filters, kernel, stride=stride, padding=same, bias=false)
    batchnorm
    relu
}

model digits_cnn {
    input image: [8, 8, 1]
    conv_bn(16)
    conv_bn(32)
    maxpool(2)                         : [4, 4, 32]
    flatten
    dropout(0.5)
    dense(10) as logits
}

train digits_cnn {
    data      = digits(split=[0.8, 0.1, 0.1])
    batch     = 128
    epochs    = 4
    loss      = cross_entropy
    optimizer = adam(lr=3e-3)
    metrics   = [accuracy]
    checkpoint = false
    seed      = 0
}
"""


def test_the_contract_example_learns_and_its_loss_is_softmax_cross_entropy(tmp_path) -> None:
    import jax
    import jax.numpy as jnp
    import optax

    from nnlang.lower import CompiledModel
    from nnlang.train.loop import evaluate, fit, predict

    prepared = check_and_load(tmp_path, CONTRACT)
    model = CompiledModel(prepared.graph)
    history = fit(model, prepared.data, prepared.config, verbose=0)
    assert history.test["accuracy"] > 0.5, history.test  # chance is 0.1
    test = prepared.data.test
    (out,) = model.output_names
    outputs, _ = model.apply(history.variables, {"image": jnp.asarray(test.x)},
                             train=False)
    logits = outputs[out]
    want = optax.softmax_cross_entropy_with_integer_labels(
        logits, jnp.asarray(test.y)).mean()
    got = evaluate(model, history.variables, prepared.data, prepared.config)["loss"]
    assert abs(got - float(want)) < 1e-4 * max(1.0, float(want))
    probs = predict(model, history.variables, test.x,
                    activations={out: "softmax"})[out]
    np.testing.assert_allclose(probs, jax.nn.softmax(logits), rtol=1e-5, atol=1e-6)


def test_a_one_unit_linear_output_thresholds_the_sigmoid_probability(tmp_path) -> None:
    import jax

    from nnlang.lower import CompiledModel
    from nnlang.train.loop import evaluate

    prepared = check_and_load(tmp_path, """
model m {
    input x: [30]
    dense(1)
}

train m {
    data = breast_cancer
    loss = binary_cross_entropy
    metrics = [precision, recall, accuracy]
}
""")
    model = CompiledModel(prepared.graph)
    variables = model.init(jax.random.key(0), model.sample_inputs())
    dense = variables["params"]["dense_0"]
    # logit 0.3 everywhere: sigmoid 0.57 says class 1 for every example (the
    # logit itself, read as a probability, would be under 0.5: class 0)
    dense["kernel"] = dense["kernel"] * 0
    dense["bias"] = dense["bias"] * 0 + 0.3
    scores = evaluate(model, variables, prepared.data, prepared.config)
    positive = float(np.mean(np.asarray(prepared.data.test.y) == 1))
    assert scores["recall"] == 1.0
    assert abs(scores["precision"] - positive) < 1e-6
    assert abs(scores["accuracy"] - positive) < 1e-6
    y = np.asarray(prepared.data.test.y, np.float32)
    bce = -(y * np.log(jax.nn.sigmoid(0.3)) + (1 - y) * np.log(1 - jax.nn.sigmoid(0.3)))
    assert abs(scores["loss"] - float(bce.mean())) < 1e-5


def test_predictions_of_a_linear_classifier_are_probabilities(tmp_path) -> None:
    import nnlang

    path = tmp_path / "m.nn"
    path.write_text("model m {\n    input x: [4]\n    dense(3)\n}\n\n"
                    "train m {\n    data = iris\n    epochs = 1\n    checkpoint = false\n}\n")
    import jax

    model = nnlang.load(path).model("m")

    variables = model.init(jax.random.key(0))
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = np.asarray(model.predict(variables, x)["output"])  # default loss: cross_entropy
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert (out >= 0).all()


# ------------------------------------------ a shared layer that ends in softmax


SHARED_HEAD = """model m {
    input a: [4]
    input b: [4]
    h = a -> dense(3, act=softmax) as head
    output left = h -> dense(2)
    output right = b -> head
}
"""


@pytest.mark.parametrize("order", ["reuse is the output", "first use is the output"])
def test_a_shared_layer_returns_logits_only_where_it_is_the_output(order: str) -> None:
    """The layer is built once; where only one use is an output whose softmax goes to
    the loss, the other use must still apply it (and the output must not)."""
    import jax

    from nnlang.elaborate import elaborate_file
    from nnlang.lower import CompiledModel

    text = SHARED_HEAD
    if order == "first use is the output":
        text = text.replace("h = a -> dense(3, act=softmax) as head\n"
                            "    output left = h -> dense(2)\n    output right = b -> head",
                            "output right = b -> dense(3, act=softmax) as head\n"
                            "    h = a -> head\n    output left = h -> dense(2)")
        assert text != SHARED_HEAD
    elab = elaborate_file("m.nn", text=text)
    assert not [d for d in elab.diagnostics if d.is_error], elab.diagnostics
    model = CompiledModel(elab.program.models["m"])
    assert model.logits_outputs == {"right": "softmax"}
    rng = np.random.default_rng(0)
    x = {k: rng.normal(size=(5, 4)).astype(np.float32) for k in "ab"}
    variables = model.init(jax.random.key(0), x)
    params = variables["params"]
    head, tail = params["head"], params["dense_0"]
    outs, _ = model.apply(variables, x, train=False)
    logits_b = x["b"] @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
    np.testing.assert_allclose(outs["right"], logits_b, rtol=1e-5, atol=1e-6)
    probs_a = jax.nn.softmax(x["a"] @ np.asarray(head["kernel"]) + np.asarray(head["bias"]))
    left = probs_a @ np.asarray(tail["kernel"]) + np.asarray(tail["bias"])
    np.testing.assert_allclose(outs["left"], left, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", ["lstm(2, act=sigmoid)", "gru(3, act=softmax)",
                                   "rnn(2, act=sigmoid)"])
def test_a_recurrent_cells_act_is_never_taken_over_by_the_loss(layer: str) -> None:
    """A recurrent layer's act= shapes every step; dropping it for the loss (as for a
    dense layer's final softmax) would train another model."""
    import jax

    from nnlang.elaborate import elaborate_file
    from nnlang.lower import CompiledModel

    elab = elaborate_file("m.nn", text=f"model m {{\n    input x: [5, 3]\n    {layer}\n}}\n")
    model = CompiledModel(elab.program.models["m"])
    assert model.logits_outputs == {}
    x = {"x": np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)}
    variables = model.init(jax.random.key(0), x)
    outs, _ = model.apply(variables, x, train=False)
    np.testing.assert_allclose(model.predict(variables, x)["output"], outs["output"])
