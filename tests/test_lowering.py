"""The Flax lowering of every layer, checked against the JAX-free front end.

* the seed's worked examples (a convolution and a max pooling from the slides);
* numerical references in plain jax.numpy / lax, with fixed weights;
* the shape oracle: ``jax.eval_shape`` of the compiled model equals the shape
  the registry inferred, for one row per layer;
* the parameter oracle: the Flax parameters (and batch statistics) add up to
  the registry's Keras-convention count, so ``nnc summary`` tells the truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnlang.elaborate import elaborate_file
from nnlang.lower import CompiledModel
from nnlang.shapes import infer_shapes
from nnlang.summary import summarize

pytestmark = pytest.mark.jax


def compile_source(tmp_path, text: str) -> CompiledModel:
    path = tmp_path / "m.nn"
    path.write_text(text)
    elab = elaborate_file(path)
    assert not [d for d in elab.diagnostics if d.is_error], elab.diagnostics
    (graph,) = elab.program.models.values()
    assert not infer_shapes(graph)
    return CompiledModel(graph)


def one_layer(tmp_path, layer: str, shape: str) -> CompiledModel:
    return compile_source(tmp_path, f"model m {{\n    input x: {shape}\n    {layer}\n}}\n")


def run(model: CompiledModel, x, variables=None, train=False):
    variables = variables or model.init(jax.random.key(0), {"x": x})
    out, _ = model.apply(variables, {"x": x}, train=train,
                         rngs={"dropout": jax.random.key(1)} if train else None)
    return out["output"], variables


# ---------------------------------------------------------------- the slides' examples

SLIDE_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
               [0, 1, 1, 0, 0]]


def test_slide_convolution(tmp_path) -> None:
    model = one_layer(tmp_path, "conv(1, 3, kernel=[[1, 0, 1], [0, 1, 0], [1, 0, 1]], "
                                "bias=false, trainable=false)", "[5, 5, 1]")
    x = jnp.asarray(SLIDE_IMAGE, jnp.float32)[None, :, :, None]
    y, _ = run(model, x)
    assert np.asarray(y[0, :, :, 0]).tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert model.frozen == ("conv_0",)


def test_slide_max_pooling(tmp_path) -> None:
    model = one_layer(tmp_path, "maxpool(2)", "[4, 4, 1]")
    x = jnp.asarray([[4, 6, 1, 3], [0, 8, 12, 9], [2, 3, 16, 100], [1, 46, 74, 27]],
                    jnp.float32)[None, :, :, None]
    y, _ = run(model, x)
    assert np.asarray(y[0, :, :, 0]).tolist() == [[8, 12], [46, 100]]


# ---------------------------------------------------------------- numerical references


def _set(variables, path: str, **arrays):
    params = jax.tree_util.tree_map(lambda a: a, variables)
    node = params["params"]
    for key in path.split("/"):
        node = node[key]
    for k, v in arrays.items():
        node[k] = jnp.asarray(v, jnp.float32)
    return params


def test_dense_matches_matmul(tmp_path) -> None:
    model = one_layer(tmp_path, "dense(3, act=relu)", "[4]")
    x = jax.random.normal(jax.random.key(2), (5, 4))
    _, v = run(model, x)
    w, b = np.arange(12.0).reshape(4, 3) / 10 - 0.5, np.array([0.1, -0.2, 0.3])
    y, _ = run(model, x, _set(v, "dense_0", kernel=w, bias=b))
    np.testing.assert_allclose(y, jax.nn.relu(x @ w + b), rtol=1e-5, atol=1e-6)


def test_conv_matches_lax(tmp_path) -> None:
    model = one_layer(tmp_path, "conv(4, 3, stride=2, padding=same, dilation=1)", "[9, 9, 2]")
    x = jax.random.normal(jax.random.key(3), (2, 9, 9, 2))
    y, v = run(model, x)
    k = v["params"]["conv_0"]["kernel"]
    ref = jax.lax.conv_general_dilated(x, k, (2, 2), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y, ref + v["params"]["conv_0"]["bias"], rtol=1e-5, atol=1e-5)


def test_avgpool_same_excludes_padding(tmp_path) -> None:
    model = one_layer(tmp_path, "avgpool(2, padding=same)", "[3, 3, 1]")
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    y, _ = run(model, x)
    assert np.asarray(y[0, :, :, 0]).tolist() == [[2.0, 3.5], [6.5, 8.0]]


def test_lstm_matches_keras_equations(tmp_path) -> None:
    model = one_layer(tmp_path, "lstm(3, sequences=true)", "[4, 2]")
    x = jax.random.normal(jax.random.key(4), (2, 4, 2))
    y, v = run(model, x)
    p = v["params"]["lstm_0"]
    W, U, b = p["kernel"], p["recurrent_kernel"], p["bias"]
    h = c = jnp.zeros((2, 3))
    outs = []
    for t in range(4):
        z = x[:, t] @ W + h @ U + b
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        outs.append(h)
    np.testing.assert_allclose(y, jnp.stack(outs, 1), rtol=1e-5, atol=1e-6)
    assert np.asarray(b[3:6]).tolist() == [1.0, 1.0, 1.0]  # Keras' unit_forget_bias


def test_gru_matches_keras_reset_after(tmp_path) -> None:
    model = one_layer(tmp_path, "gru(3)", "[4, 2]")
    x = jax.random.normal(jax.random.key(5), (2, 4, 2))
    y, v = run(model, x)
    p = v["params"]["gru_0"]
    W, U, b = p["kernel"], p["recurrent_kernel"], p["bias"]
    b = b.at[0].set(0.1).at[1].set(-0.2)
    y, _ = run(model, x, _set(v, "gru_0", bias=b))
    h = jnp.zeros((2, 3))
    for t in range(4):
        xz, xr, xh = jnp.split(x[:, t] @ W + b[0], 3, -1)
        hz, hr, hh = jnp.split(h @ U + b[1], 3, -1)
        z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
        h = z * h + (1 - z) * jnp.tanh(xh + r * hh)
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-6)


def test_batchnorm_uses_batch_statistics_only_in_training(tmp_path) -> None:
    model = one_layer(tmp_path, "batchnorm", "[3]")
    x = jax.random.normal(jax.random.key(6), (16, 3)) * 4 + 2
    variables = model.init(jax.random.key(0), {"x": x})
    out, state = model.apply(variables, {"x": x}, train=True, rngs={"dropout": jax.random.key(0)})
    ref = (x - x.mean(0)) / jnp.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(out["output"], ref, rtol=1e-4, atol=1e-4)
    moved = state["batch_stats"]["batchnorm_0"]["mean"]
    np.testing.assert_allclose(moved, 0.01 * x.mean(0), rtol=1e-4)  # momentum 0.99
    evaluated, _ = model.apply(variables, {"x": x}, train=False)
    np.testing.assert_allclose(evaluated["output"], x / jnp.sqrt(1 + 1e-3), rtol=1e-5)


def test_dropout_and_noise_only_in_training(tmp_path) -> None:
    for layer in ("dropout(0.5)", "gaussian_noise(1.0)"):
        model = one_layer(tmp_path, layer, "[100]")
        x = jnp.ones((4, 100))
        y_eval, v = run(model, x)
        y_train, _ = run(model, x, v, train=True)
        assert np.array_equal(y_eval, x)
        assert not np.array_equal(y_train, x)


def test_shared_layer_has_one_parameter_set(tmp_path) -> None:
    model = compile_source(tmp_path, "model m {\n    input a: [4]\n    input b: [4]\n"
                           "    x = a -> dense(3) as enc\n    y = b -> enc\n"
                           "    output (x, y) -> concat\n}\n")
    variables = model.init(jax.random.key(0), {"a": jnp.ones((1, 4)), "b": jnp.ones((1, 4))})
    assert list(variables["params"]) == ["enc"]
    out, _ = model.apply(variables, {"a": jnp.ones((1, 4)), "b": jnp.ones((1, 4))},
                         train=False)
    np.testing.assert_allclose(out["output"][:, :3], out["output"][:, 3:])


def test_nested_names_follow_the_source(tmp_path) -> None:
    model = compile_source(tmp_path, "block conv_bn(f) {\n    conv(f, 3, bias=false)\n"
                           "    batchnorm\n}\n\nmodel m {\n    input x: [6, 6, 1]\n"
                           "    conv_bn(2)\n    conv_bn(4)\n}\n")
    variables = model.init(jax.random.key(0), model.sample_inputs())
    assert set(variables["params"]) == {"conv_bn_0", "conv_bn_1"}
    assert set(variables["params"]["conv_bn_1"]) == {"conv_0", "batchnorm_0"}
    assert set(variables["batch_stats"]["conv_bn_0"]["batchnorm_0"]) == {"mean", "var"}


# ---------------------------------------------------------------- the oracles

ORACLE = [
    ("dense(7, act=gelu)", "[5]"),
    ("dense(7)", "[3, 5]"),
    ("flatten", "[2, 3, 4]"),
    ("reshape([-1, 4])", "[2, 3, 4]"),
    ("dropout(0.3)", "[6]"),
    ("identity", "[6]"),
    ("leaky_relu(0.2)", "[6]"),
    ("softmax", "[6]"),
    ("conv(4, 3)", "[9, 9, 2]"),
    ("conv(4, [3, 1], stride=2, padding=same)", "[9, 9, 2]"),
    ("conv(4, 3, dilation=2, padding=1)", "[9, 9, 2]"),
    ("conv(4, 3, groups=2)", "[9, 9, 2]"),
    ("conv1d(8, 5, padding=same)", "[20, 3]"),
    ("conv3d(2, 2)", "[4, 4, 4, 1]"),
    ("depthwise_conv(3, multiplier=2)", "[8, 8, 3]"),
    ("separable_conv(5, 3, padding=same)", "[8, 8, 3]"),
    ("conv_transpose(4, 3, stride=2)", "[5, 5, 2]"),
    ("conv_transpose(4, 3, stride=2, padding=same)", "[5, 5, 2]"),
    ("maxpool(2)", "[9, 9, 2]"),
    ("maxpool(3, stride=1, padding=same)", "[9, 9, 2]"),
    ("avgpool(2, padding=same)", "[9, 9, 2]"),
    ("maxpool(2)", "[10, 3]"),
    ("global_avgpool", "[5, 5, 3]"),
    ("global_maxpool", "[7, 3]"),
    ("upsample(2)", "[3, 3, 2]"),
    ("zero_pad(1)", "[3, 3, 2]"),
    ("crop(1)", "[5, 5, 2]"),
    ("batchnorm", "[4, 4, 6]"),
    ("layernorm", "[5, 6]"),
    ("groupnorm(3)", "[4, 4, 6]"),
    ("rnn(5)", "[7, 3]"),
    ("lstm(5, sequences=true)", "[7, 3]"),
    ("gru(5)", "[7, 3]"),
    ("bidirectional(lstm(4))", "[7, 3]"),
    ("bidirectional(gru(4, sequences=true), merge=sum)", "[7, 3]"),
    ("attention(2, 8)", "[6, 16]"),
    ("attention(2, 8, causal=true)", "[6, 16]"),
    ("positional(10)", "[6, 16]"),
    ("random_flip", "[6, 6, 3]"),
    ("random_crop([4, 4])", "[6, 6, 3]"),
    ("gaussian_noise(0.1)", "[6]"),
]


@pytest.mark.parametrize(("layer", "shape"), ORACLE, ids=[f"{l} on {s}" for l, s in ORACLE])
def test_shape_and_parameter_oracles(tmp_path, layer: str, shape: str) -> None:
    model = one_layer(tmp_path, layer, shape)
    node = model.graph.node(model.graph.outputs["output"])
    x = jnp.ones((2, *(int(d) for d in shape.strip("[]").split(","))))
    variables = model.init(jax.random.key(0), {"x": x})
    for train in (False, True):
        out = jax.eval_shape(lambda v, x: model.apply(v, {"x": x}, train=train,
                             rngs={"dropout": jax.random.key(0)})[0]["output"], variables, x)
        assert out.shape == (2, *node.type.shape), (train, out.shape, node.type)
    summary = summarize(model.graph)
    sizes = sum(a.size for a in jax.tree_util.tree_leaves(variables))
    assert sizes == summary.total, (sizes, summary.total)


def test_embedding_takes_token_ids(tmp_path) -> None:
    model = compile_source(tmp_path, "model m {\n    input x: i32[6]\n    embedding(20, 4)\n"
                           "    lstm(3)\n}\n")
    x = jnp.arange(12, dtype=jnp.int32).reshape(2, 6)
    y, v = run(model, x)
    assert y.shape == (2, 3)
    assert sum(a.size for a in jax.tree_util.tree_leaves(v)) == summarize(model.graph).total


# ---------------------------------------------------------------- more references

X = jax.random.normal(jax.random.key(7), (2, 4, 4, 3))
SEQ = jax.random.normal(jax.random.key(8), (2, 5, 4))

ELEMENTWISE = [
    ("relu", "[4, 4, 3]", X, jax.nn.relu(X)),
    ("relu6", "[4, 4, 3]", X * 8, jnp.clip(X * 8, 0, 6)),
    ("leaky_relu(0.2)", "[4, 4, 3]", X, jnp.where(X > 0, X, 0.2 * X)),
    ("elu", "[4, 4, 3]", X, jnp.where(X > 0, X, jnp.expm1(X))),
    ("sigmoid", "[4, 4, 3]", X, 1 / (1 + jnp.exp(-X))),
    ("tanh", "[4, 4, 3]", X, jnp.tanh(X)),
    ("softplus", "[4, 4, 3]", X, jnp.log1p(jnp.exp(X))),
    ("silu", "[4, 4, 3]", X, X / (1 + jnp.exp(-X))),
    ("softmax", "[4, 4, 3]", X, jnp.exp(X) / jnp.exp(X).sum(-1, keepdims=True)),
    ("log_softmax", "[4, 4, 3]", X, X - jnp.log(jnp.exp(X).sum(-1, keepdims=True))),
    ("flatten", "[4, 4, 3]", X, X.reshape(2, 48)),
    ("reshape([16, 3])", "[4, 4, 3]", X, X.reshape(2, 16, 3)),
    ("global_avgpool", "[4, 4, 3]", X, X.mean((1, 2))),
    ("global_maxpool", "[4, 4, 3]", X, X.max((1, 2))),
    ("upsample(2)", "[4, 4, 3]", X, X.repeat(2, 1).repeat(2, 2)),
    ("zero_pad(1)", "[4, 4, 3]", X, jnp.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    ("crop(1)", "[4, 4, 3]", X, X[:, 1:3, 1:3]),
    ("maxpool(2)", "[4, 4, 3]", X, X.reshape(2, 2, 2, 2, 2, 3).max((2, 4))),
    ("avgpool(2)", "[4, 4, 3]", X, X.reshape(2, 2, 2, 2, 2, 3).mean((2, 4))),
]


@pytest.mark.parametrize(("layer", "shape", "x", "want"), ELEMENTWISE,
                         ids=[row[0] for row in ELEMENTWISE])
def test_parameter_free_layers_match_jax_numpy(tmp_path, layer, shape, x, want) -> None:
    model = one_layer(tmp_path, layer, shape)
    y, variables = run(model, x)
    if model.logits_outputs:  # a final softmax/sigmoid is left to the loss; predict applies it
        assert np.array_equal(y, x)
        y = model.predict(variables, {"x": x})["output"]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_merges_match_jax_numpy(tmp_path) -> None:
    a, b = X, X * 2 + 1
    for layer, want in (("add", a + b), ("multiply", a * b), ("average", (a + b) / 2),
                        ("concat", jnp.concatenate([a, b], -1)),
                        ("concat(axis=0)", jnp.concatenate([a, b], 1))):
        model = compile_source(tmp_path, "model m {\n    input a: [4, 4, 3]\n"
                               f"    input b: [4, 4, 3]\n    (a, b) -> {layer}\n}}\n")
        inputs = {"a": a, "b": b}
        out, _ = model.apply(model.init(jax.random.key(0), inputs), inputs, train=False)
        np.testing.assert_allclose(out["output"], want, rtol=1e-6, err_msg=layer)


def test_depthwise_and_transpose_convs_match_lax(tmp_path) -> None:
    model = one_layer(tmp_path, "depthwise_conv(3, multiplier=2, padding=same)", "[4, 4, 3]")
    y, v = run(model, X)
    p = v["params"]["depthwise_conv_0"]
    ref = jax.lax.conv_general_dilated(X, p["kernel"], (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                       feature_group_count=3) + p["bias"]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    model = one_layer(tmp_path, "conv_transpose(2, 3, stride=2)", "[4, 4, 3]")
    y, v = run(model, X)
    p = v["params"]["conv_transpose_0"]
    ref = jax.lax.conv_transpose(X, p["kernel"], (2, 2), "VALID",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["bias"]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_separable_conv_is_depthwise_then_pointwise(tmp_path) -> None:
    y, v = run(one_layer(tmp_path, "separable_conv(5, 3)", "[4, 4, 3]"), X)
    p = v["params"]["separable_conv_0"]
    dn = ("NHWC", "HWIO", "NHWC")
    mid = jax.lax.conv_general_dilated(X, p["depthwise"]["kernel"], (1, 1), "VALID",
                                       dimension_numbers=dn, feature_group_count=3)
    ref = jax.lax.conv_general_dilated(mid, p["pointwise"]["kernel"], (1, 1), "VALID",
                                       dimension_numbers=dn) + p["pointwise"]["bias"]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_norms_match_jax_numpy(tmp_path) -> None:
    y, _ = run(one_layer(tmp_path, "layernorm", "[4, 4, 3]"), X)
    ref = (X - X.mean(-1, keepdims=True)) / jnp.sqrt(X.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    x6 = jnp.concatenate([X, X * 3], -1)
    y, _ = run(one_layer(tmp_path, "groupnorm(2)", "[4, 4, 6]"), x6)
    g = x6.reshape(2, 4, 4, 2, 3)
    ref = ((g - g.mean((1, 2, 4), keepdims=True))
           / jnp.sqrt(g.var((1, 2, 4), keepdims=True) + 1e-3)).reshape(x6.shape)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def test_embedding_and_positional_are_lookups(tmp_path) -> None:
    model = compile_source(tmp_path, "model m {\n    input x: i32[5]\n    embedding(10, 4)\n"
                           "    positional(8)\n}\n")
    ids = jnp.asarray([[1, 2, 3, 0, 9], [4, 4, 4, 4, 4]], jnp.int32)
    y, v = run(model, ids)
    table, pos = v["params"]["embedding_0"]["embedding"], v["params"]["positional_0"]["embedding"]
    np.testing.assert_allclose(y, table[ids] + pos[:5], rtol=1e-6)


def test_attention_matches_the_formula(tmp_path) -> None:
    model = one_layer(tmp_path, "attention(2, 3, causal=true)", "[5, 4]")
    y, v = run(model, SEQ)
    p = v["params"]["attention_0"]
    q, k, val = (jnp.einsum("btd,dhk->bthk", SEQ, p[n]["kernel"]) + p[n]["bias"]
                 for n in ("query", "key", "value"))
    logits = jnp.einsum("bqhk,bthk->bhqt", q, k) / jnp.sqrt(3.0)
    logits = jnp.where(jnp.tril(jnp.ones((5, 5), bool)), logits, -jnp.inf)
    mixed = jnp.einsum("bhqt,bthk->bqhk", jax.nn.softmax(logits, -1), val)
    ref = jnp.einsum("bqhk,hkd->bqd", mixed, p["out"]["kernel"]) + p["out"]["bias"]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_simple_rnn_and_bidirectional_match_loops(tmp_path) -> None:
    y, v = run(one_layer(tmp_path, "rnn(3)", "[5, 4]"), SEQ)
    p = v["params"]["rnn_0"]
    h = jnp.zeros((2, 3))
    for t in range(5):
        h = jnp.tanh(SEQ[:, t] @ p["kernel"] + h @ p["recurrent_kernel"] + p["bias"])
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-6)
    y, v = run(one_layer(tmp_path, "bidirectional(rnn(3))", "[5, 4]"), SEQ)
    p = v["params"]["bidirectional_0"]
    outs = []
    for name, order in (("forward", range(5)), ("backward", reversed(range(5)))):
        q, h = p[name], jnp.zeros((2, 3))
        for t in order:
            h = jnp.tanh(SEQ[:, t] @ q["kernel"] + h @ q["recurrent_kernel"] + q["bias"])
        outs.append(h)
    np.testing.assert_allclose(y, jnp.concatenate(outs, -1), rtol=1e-5, atol=1e-6)
