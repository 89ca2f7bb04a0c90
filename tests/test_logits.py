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
