"""The Flax lowering of every layer, checked against plain JAX and the front end.

* the seed's worked examples: the slides' 5×5 convolution and 2×2 max pooling,
  compiled from `.nn`;
* ``CASES``, one or more rows per layer (optax's ``_OPTIMIZERS_UNDER_TEST``
  style): each row sets every parameter to known values and compares the
  compiled layer with a reference written here in jax.numpy / lax, and checks
  two oracles that keep the JAX-free checker honest: ``jax.eval_shape`` of the
  compiled model equals the registry's shape (training and evaluation), and
  the Flax parameters and batch statistics add up to the registry's
  Keras-convention counts (trainable and non-trainable);
* training against evaluation: dropout, noise, batch statistics, augmentation;
* weight sharing, tree names, the recurrent layers' two projection paths, bf16.
"""

from __future__ import annotations

import math
import re
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nnlang.elaborate import elaborate_file
from nnlang.layers import LAYERS, is_builtin
from nnlang.lower import CompiledModel
from nnlang.shapes import infer_shapes
from nnlang.summary import summarize

pytestmark = pytest.mark.jax

B = 2  # batch size of every test input


def compile_source(text: str, **kwargs) -> CompiledModel:
    elab = elaborate_file("test.nn", text=text)
    assert not [d for d in elab.diagnostics if d.is_error], elab.diagnostics
    (graph,) = elab.program.models.values()
    assert not infer_shapes(graph)
    return CompiledModel(graph, **kwargs)


def model_source(layer: str, shape: str | tuple[str, ...]) -> str:
    if isinstance(shape, str):
        return f"model m {{\n    input x: {shape}\n    {layer}\n}}\n"
    names = "abcd"[: len(shape)]
    inputs = "".join(f"    input {n}: {s}\n" for n, s in zip(names, shape, strict=True))
    return f"model m {{\n{inputs}    ({', '.join(names)}) -> {layer}\n}}\n"


def one_layer(layer: str, shape: str) -> CompiledModel:
    return compile_source(model_source(layer, shape))


def make_inputs(model: CompiledModel, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed inputs (NumPy, so no per-shape XLA compile): normal floats, ids < 10."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in model.input_names:
        shape = (B, *model.input_shapes[name])
        if jnp.issubdtype(model.input_dtypes[name], jnp.integer):
            out[name] = rng.integers(0, 10, shape).astype(np.int32)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def init(model: CompiledModel, inputs) -> dict:
    return jax.jit(model.init)(jax.random.key(0), inputs)


def run(model: CompiledModel, x, variables=None, train=False, seed=1):
    """The ``output`` of a one-input model (jitted: one compile, not one per op)."""
    variables = variables or init(model, {"x": x})

    def apply(v, xs, key):
        return model.apply(v, xs, train=train, rngs={"dropout": key})[0]["output"]

    return jax.jit(apply)(variables, {"x": x}, jax.random.key(seed)), variables


def known_values(shapes):
    """Arrays for a variables tree (of arrays or shapes): a fixed pattern per leaf,
    offset by its path so no two leaves agree; variances positive."""

    def fill(path, leaf):
        size = math.prod(leaf.shape)
        if path[-1].key == "var":
            values = 0.5 + (np.arange(size) % 4) / 4
        else:
            offset = zlib.crc32(jax.tree_util.keystr(path).encode()) % 7
            values = ((np.arange(size) + offset) % 7 - 3) / 8
        return values.reshape(leaf.shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


# ---------------------------------------------------------------- the slides' examples

SLIDE_IMAGE = [
    [1, 1, 1, 0, 0],
    [0, 1, 1, 1, 0],
    [0, 0, 1, 1, 1],
    [0, 0, 1, 1, 0],
    [0, 1, 1, 0, 0],
]


def test_slide_convolution() -> None:
    model = one_layer(
        "conv(1, 3, kernel=[[1, 0, 1], [0, 1, 0], [1, 0, 1]], bias=false)", "[5, 5, 1]"
    )
    x = jnp.asarray(SLIDE_IMAGE, jnp.float32)[None, :, :, None]
    y, variables = run(model, x)
    assert np.asarray(y[0, :, :, 0]).tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    kernel = variables["params"]["conv_0"]["kernel"]  # the fixed values are a parameter
    assert kernel.shape == (3, 3, 1, 1) and float(kernel.sum()) == 5.0


def test_slide_max_pooling() -> None:
    model = one_layer("maxpool(2)", "[4, 4, 1]")
    x = jnp.asarray(
        [[4, 6, 1, 3], [0, 8, 12, 9], [2, 3, 16, 100], [1, 46, 74, 27]], jnp.float32
    )[None, :, :, None]
    y, _ = run(model, x)
    assert np.asarray(y[0, :, :, 0]).tolist() == [[8, 12], [46, 100]]


def test_fixed_weights_are_the_kernel_and_frozen_layers_are_reported() -> None:
    model = one_layer(
        "conv(1, 3, kernel=[[0, -1, 0], [-1, 5, -1], [0, -1, 0]], trainable=false)",
        "[6, 6, 2]",
    )
    assert model.frozen == ("conv_0",)
    x = jax.random.normal(jax.random.key(0), (B, 6, 6, 2))
    y, _ = run(model, x)
    sharpen = jnp.asarray([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], jnp.float32)
    kernel = jnp.broadcast_to(sharpen[:, :, None, None], (3, 3, 2, 1))  # every channel
    np.testing.assert_allclose(y, conv_ref(x, kernel), rtol=1e-5, atol=1e-5)
    full = [[[[1, 0]], [[0, 1]]], [[[1, 1]], [[2, 0]]]]  # Keras' [*kernel, C, filters]
    model = one_layer(f"conv(2, kernel={full}, bias=false)", "[4, 4, 1]")
    x = jax.random.normal(jax.random.key(1), (B, 4, 4, 1))
    y, _ = run(model, x)
    np.testing.assert_allclose(
        y, conv_ref(x, jnp.asarray(full, jnp.float32)), rtol=1e-6
    )


# ---------------------------------------------------------------- references

CONV_DIMS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


def per_axis(v, rank):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * rank


def same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """Keras/TensorFlow 'same': the output has ceil(n / s) steps, extra pad after."""
    extent = (k - 1) * d + 1
    total = max((math.ceil(n / s) - 1) * s + extent - n, 0)
    return total // 2, total - total // 2


def explicit_pads(x, window, stride, dilation, padding):
    rank = x.ndim - 2
    if padding == "valid":
        return [(0, 0)] * rank
    if padding == "same":
        return [
            same_pads(n, k, s, d)
            for n, k, s, d in zip(x.shape[1:-1], window, stride, dilation, strict=True)
        ]
    return [p if isinstance(p, tuple) else (p, p) for p in per_axis(padding, rank)]


def conv_ref(x, kernel, stride=1, padding="valid", dilation=1, groups=1):
    rank = x.ndim - 2
    s, d = per_axis(stride, rank), per_axis(dilation, rank)
    pads = explicit_pads(x, kernel.shape[:rank], s, d, padding)
    return lax.conv_general_dilated(
        x,
        kernel,
        s,
        pads,
        rhs_dilation=d,
        dimension_numbers=CONV_DIMS[rank],
        feature_group_count=groups,
    )


def depthwise_ref(x, kernel, multiplier, **kw):
    """Each input channel convolved on its own: output channel ``c * m + j``."""
    c = x.shape[-1]
    parts = [
        conv_ref(
            x[..., i : i + 1],
            kernel[..., :, i * multiplier : (i + 1) * multiplier],
            **kw,
        )
        for i in range(c)
    ]
    return jnp.concatenate(parts, axis=-1)


def conv_transpose_ref(x, kernel, stride, padding):
    """2D transposed convolution as a scatter of ``x[i] * k[j]`` to ``i * s + j``.

    Flax's (and lax's) kernel is the flipped one of this scatter form; the
    output is cropped or padded as Keras' ``deconv_output_length`` says.
    """
    kernel = kernel[::-1, ::-1]
    _, h, w, _ = x.shape
    k, s = kernel.shape[0], stride
    full = jnp.zeros((B, (h - 1) * s + k, (w - 1) * s + k, kernel.shape[-1]))
    for i in range(k):
        for j in range(k):
            full = full.at[
                :, i : i + (h - 1) * s + 1 : s, j : j + (w - 1) * s + 1 : s
            ].add(x @ kernel[i, j])
    if padding == "same":
        start = max(k - s, 0) // 2
        return full[:, start : start + h * s, start : start + w * s]
    extra = max(h * s - full.shape[1], 0)
    return jnp.pad(full, ((0, 0), (0, extra), (0, extra), (0, 0)))


def pool_ref(x, kind, size, stride=None, padding="valid"):
    rank = x.ndim - 2
    w = per_axis(size, rank)
    s = per_axis(stride or size, rank)
    pads = [(0, 0), *explicit_pads(x, w, s, (1,) * rank, padding), (0, 0)]
    dims, steps = (1, *w, 1), (1, *s, 1)
    if kind == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, steps, pads)
    total = lax.reduce_window(x, 0.0, lax.add, dims, steps, pads)
    if padding != "same":  # explicit padding is zeros that count
        return total / math.prod(w)
    return total / lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, dims, steps, pads)


def norm_ref(x, axes, eps=1e-3):
    mean = x.mean(axes, keepdims=True)
    return (x - mean) / jnp.sqrt(((x - mean) ** 2).mean(axes, keepdims=True) + eps)


def groupnorm_ref(x, p, groups):
    g = x.reshape(*x.shape[:-1], groups, x.shape[-1] // groups)
    axes = (*range(1, x.ndim - 1), x.ndim)
    return norm_ref(g, axes).reshape(x.shape) * p["scale"] + p["bias"]


def sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


def recurrent_ref(
    kind, p, x, *, sequences=False, reverse=False, reset_after=True, keep_order=False
):
    """Keras' equations, one time step at a time."""
    w, u = p["kernel"], p["recurrent_kernel"]
    bias = p.get("bias", jnp.zeros((2, w.shape[1]) if reset_after else w.shape[1:]))
    units = u.shape[0]
    h = c = jnp.zeros((x.shape[0], units))
    outs = []
    for t in reversed(range(x.shape[1])) if reverse else range(x.shape[1]):
        xt = x[:, t]
        if kind == "rnn":
            h = jnp.tanh(xt @ w + h @ u + bias)
        elif kind == "lstm":
            i, f, g, o = jnp.split(xt @ w + h @ u + bias, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
            h = sigmoid(o) * jnp.tanh(c)
        elif reset_after:
            xz, xr, xh = jnp.split(xt @ w + bias[0], 3, axis=-1)
            hz, hr, hh = jnp.split(h @ u + bias[1], 3, axis=-1)
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            h = z * h + (1 - z) * jnp.tanh(xh + r * hh)
        else:
            xz, xr, xh = jnp.split(xt @ w + bias, 3, axis=-1)
            z = sigmoid(xz + h @ u[:, :units])
            r = sigmoid(xr + h @ u[:, units : 2 * units])
            h = z * h + (1 - z) * jnp.tanh(xh + (r * h) @ u[:, 2 * units :])
        outs.append(h)
    if not sequences:
        return h
    seq = jnp.stack(outs, axis=1)
    return jnp.flip(seq, axis=1) if reverse and keep_order else seq


def bidirectional_ref(kind, p, x, merge, **kw):
    f = recurrent_ref(kind, p["forward"], x, **kw)
    b = recurrent_ref(kind, p["backward"], x, reverse=True, keep_order=True, **kw)
    return {
        "concat": jnp.concatenate([f, b], -1),
        "sum": f + b,
        "mul": f * b,
        "ave": (f + b) / 2,
    }[merge]


def attention_ref(p, q, kv=None, causal=False):
    kv = q if kv is None else kv

    def project(name, x):
        return jnp.einsum("btd,dhk->bthk", x, p[name]["kernel"]) + p[name].get(
            "bias", 0
        )

    query, key, value = project("query", q), project("key", kv), project("value", kv)
    logits = jnp.einsum("bqhk,bthk->bhqt", query, key) / math.sqrt(query.shape[-1])
    if causal:
        logits = jnp.where(
            jnp.tril(jnp.ones(logits.shape[-2:], bool)), logits, -jnp.inf
        )
    weights = jnp.exp(logits - logits.max(-1, keepdims=True))
    weights = weights / weights.sum(-1, keepdims=True)
    mixed = jnp.einsum("bhqt,bthv->bqhv", weights, value)
    return jnp.einsum("bqhv,hvd->bqd", mixed, p["out"]["kernel"]) + p["out"].get(
        "bias", 0
    )


def erf_gelu(x):
    return 0.5 * x * (1 + jax.scipy.special.erf(x / math.sqrt(2)))


def tanh_gelu(x):
    return 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def softmax_ref(x, axis=-1):
    e = jnp.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def crop_centre(x, h, w):
    top, left = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
    return x[:, top : top + h, left : left + w]


# ---------------------------------------------------------------- the table

IMG, SEQ = "[6, 6, 3]", "[5, 4]"

# (layer as written in `.nn`, input shape(s), reference(p, *inputs) with p the
# layer's parameters and batch statistics set by ``known_values``)
CASES = [
    # core
    ("dense(4)", "[5]", lambda p, x: x @ p["kernel"] + p["bias"]),
    (
        "dense(4, act=relu, bias=false)",
        "[3, 5]",
        lambda p, x: jnp.maximum(x @ p["kernel"], 0),
    ),
    ("flatten", IMG, lambda p, x: x.reshape(B, -1)),
    ("reshape([-1, 9])", IMG, lambda p, x: x.reshape(B, 12, 9)),
    ("dropout(0.5)", "[6]", lambda p, x: x),
    ("identity", "[6]", lambda p, x: x),
    # activations
    ("relu", SEQ, lambda p, x: jnp.maximum(x, 0)),
    ("relu6", SEQ, lambda p, x: jnp.clip(x, 0, 6)),
    ("leaky_relu", SEQ, lambda p, x: jnp.where(x > 0, x, 0.3 * x)),
    ("leaky_relu(0.2)", SEQ, lambda p, x: jnp.where(x > 0, x, 0.2 * x)),
    ("elu", SEQ, lambda p, x: jnp.where(x > 0, x, jnp.expm1(x))),
    ("gelu", SEQ, lambda p, x: erf_gelu(x)),
    ("gelu(approximate=true)", SEQ, lambda p, x: tanh_gelu(x)),
    ("silu", SEQ, lambda p, x: x * sigmoid(x)),
    ("sigmoid", SEQ, lambda p, x: sigmoid(x)),
    ("tanh", SEQ, lambda p, x: jnp.tanh(x)),
    ("softmax", SEQ, lambda p, x: softmax_ref(x)),
    # not last: a final softmax is left to the loss, and predict() applies it on the
    # last axis whatever its `axis` (nnlang/lower.py's final_activation)
    ("softmax(axis=0) -> identity", SEQ, lambda p, x: softmax_ref(x, axis=1)),
    ("log_softmax", SEQ, lambda p, x: jnp.log(softmax_ref(x))),
    ("softplus", SEQ, lambda p, x: jnp.log1p(jnp.exp(x))),
    (
        "dense(3, act=softmax)",
        "[4]",
        lambda p, x: softmax_ref(x @ p["kernel"] + p["bias"]),
    ),
    # convolution
    ("conv(4, 3)", IMG, lambda p, x: conv_ref(x, p["kernel"]) + p["bias"]),
    (
        "conv(4, [3, 1], stride=2, padding=same)",
        IMG,
        lambda p, x: conv_ref(x, p["kernel"], 2, "same") + p["bias"],
    ),
    (
        "conv(4, 3, stride=2, padding=same)",
        "[7, 7, 3]",
        lambda p, x: conv_ref(x, p["kernel"], 2, "same") + p["bias"],
    ),
    (
        "conv(4, 3, dilation=2, padding=1, act=tanh)",
        IMG,
        lambda p, x: jnp.tanh(conv_ref(x, p["kernel"], 1, 1, 2) + p["bias"]),
    ),
    (
        "conv(2, 3, padding=[[1, 0], [0, 2]], bias=false)",
        IMG,
        lambda p, x: conv_ref(x, p["kernel"], 1, ((1, 0), (0, 2))),
    ),
    (
        "conv(4, 3, groups=2)",
        "[6, 6, 4]",
        lambda p, x: conv_ref(x, p["kernel"], groups=2) + p["bias"],
    ),
    (
        "conv1d(3, 5, padding=same)",
        "[9, 2]",
        lambda p, x: conv_ref(x, p["kernel"], 1, "same") + p["bias"],
    ),
    (
        "conv2d(3, 2, stride=2)",
        IMG,
        lambda p, x: conv_ref(x, p["kernel"], 2) + p["bias"],
    ),
    ("conv3d(2, 2)", "[3, 4, 4, 2]", lambda p, x: conv_ref(x, p["kernel"]) + p["bias"]),
    (
        "depthwise_conv(3, multiplier=2, padding=same)",
        IMG,
        lambda p, x: depthwise_ref(x, p["kernel"], 2, padding="same") + p["bias"],
    ),
    (
        "separable_conv(5, 3, multiplier=2, act=relu)",
        IMG,
        lambda p, x: jax.nn.relu(
            depthwise_ref(x, p["depthwise"]["kernel"], 2)
            @ p["pointwise"]["kernel"][0, 0]
            + p["pointwise"]["bias"]
        ),
    ),
    (
        "conv_transpose(2, 3, stride=2)",
        "[4, 4, 3]",
        lambda p, x: conv_transpose_ref(x, p["kernel"], 2, "valid") + p["bias"],
    ),
    (
        "conv_transpose(2, 3, stride=2, padding=same)",
        "[4, 4, 3]",
        lambda p, x: conv_transpose_ref(x, p["kernel"], 2, "same") + p["bias"],
    ),
    (
        "conv_transpose(2, 2, stride=3)",
        "[3, 3, 2]",
        lambda p, x: conv_transpose_ref(x, p["kernel"], 3, "valid") + p["bias"],
    ),
    (
        "conv_transpose(2, 4, stride=2, padding=same)",
        "[3, 3, 2]",
        lambda p, x: conv_transpose_ref(x, p["kernel"], 2, "same") + p["bias"],
    ),
    # pooling and resizing
    ("maxpool(2)", "[7, 7, 2]", lambda p, x: pool_ref(x, "max", 2)),
    (
        "maxpool(3, stride=1, padding=same)",
        IMG,
        lambda p, x: pool_ref(x, "max", 3, 1, "same"),
    ),
    ("maxpool(2, padding=1)", "[5, 5, 2]", lambda p, x: pool_ref(x, "max", 2, 2, 1)),
    ("maxpool1d(2)", "[9, 3]", lambda p, x: pool_ref(x, "max", 2)),
    ("maxpool2d([2, 3])", IMG, lambda p, x: pool_ref(x, "max", (2, 3))),
    ("maxpool3d(2)", "[4, 4, 4, 2]", lambda p, x: pool_ref(x, "max", 2)),
    ("avgpool(2)", "[7, 7, 2]", lambda p, x: pool_ref(x, "avg", 2)),
    (
        "avgpool(2, padding=same)",
        "[7, 7, 2]",
        lambda p, x: pool_ref(x, "avg", 2, 2, "same"),
    ),
    (
        "avgpool(3, stride=2, padding=1)",
        "[7, 7, 2]",
        lambda p, x: pool_ref(x, "avg", 3, 2, 1),
    ),
    ("avgpool1d(3, stride=1)", "[9, 3]", lambda p, x: pool_ref(x, "avg", 3, 1)),
    ("avgpool2d(2)", IMG, lambda p, x: pool_ref(x, "avg", 2)),
    ("avgpool3d(2)", "[4, 4, 4, 2]", lambda p, x: pool_ref(x, "avg", 2)),
    ("global_avgpool", IMG, lambda p, x: x.mean((1, 2))),
    ("global_avgpool(keepdims=true)", IMG, lambda p, x: x.mean((1, 2), keepdims=True)),
    ("global_maxpool", "[7, 3]", lambda p, x: x.max(1)),
    ("upsample(2)", "[3, 3, 2]", lambda p, x: x.repeat(2, 1).repeat(2, 2)),
    ("upsample([1, 3])", "[3, 3, 2]", lambda p, x: x.repeat(3, 2)),
    (
        "upsample(2, interpolation=bilinear)",
        "[3, 3, 2]",
        lambda p, x: jax.image.resize(x, (B, 6, 6, 2), "bilinear"),
    ),
    ("zero_pad(1)", IMG, lambda p, x: jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
    (
        "zero_pad([[1, 2], [0, 3]])",
        IMG,
        lambda p, x: jnp.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))),
    ),
    ("zero_pad([2, 3])", "[5, 2]", lambda p, x: jnp.pad(x, ((0, 0), (2, 3), (0, 0)))),
    ("crop(1)", IMG, lambda p, x: x[:, 1:5, 1:5]),
    ("crop([[1, 2], [0, 3]])", IMG, lambda p, x: x[:, 1:4, 0:3]),
    # normalisation (evaluation mode: the moving statistics)
    (
        "batchnorm",
        IMG,
        lambda p, x: (
            (x - p["mean"]) / jnp.sqrt(p["var"] + 1e-3) * p["scale"] + p["bias"]
        ),
    ),
    (
        "batchnorm(axis=0, bias=false)",
        "[4, 3]",
        lambda p, x: (
            (x - p["mean"][:, None])
            / jnp.sqrt(p["var"][:, None] + 1e-3)
            * p["scale"][:, None]
        ),
    ),
    ("layernorm", IMG, lambda p, x: norm_ref(x, -1) * p["scale"] + p["bias"]),
    (
        "layernorm(axis=0, scale=false)",
        "[4, 3]",
        lambda p, x: norm_ref(x, 1) + p["bias"][:, None],
    ),
    ("groupnorm(2)", "[4, 4, 6]", lambda p, x: groupnorm_ref(x, p, 2)),
    (
        "groupnorm(3, axis=0)",
        "[6, 4]",
        lambda p, x: jnp.swapaxes(groupnorm_ref(jnp.swapaxes(x, 1, 2), p, 3), 1, 2),
    ),
    # sequences
    ("embedding(10, 4)", "i32[5]", lambda p, x: p["embedding"][x]),
    ("rnn(3)", SEQ, lambda p, x: recurrent_ref("rnn", p, x)),
    (
        "rnn(3, sequences=true, reverse=true)",
        SEQ,
        lambda p, x: recurrent_ref("rnn", p, x, sequences=True, reverse=True),
    ),
    ("lstm(3)", SEQ, lambda p, x: recurrent_ref("lstm", p, x)),
    (
        "lstm(3, sequences=true)",
        SEQ,
        lambda p, x: recurrent_ref("lstm", p, x, sequences=True),
    ),
    ("gru(3)", SEQ, lambda p, x: recurrent_ref("gru", p, x)),
    (
        "gru(3, sequences=true, reset_after=false)",
        SEQ,
        lambda p, x: recurrent_ref("gru", p, x, sequences=True, reset_after=False),
    ),
    ("gru(3, bias=false)", SEQ, lambda p, x: recurrent_ref("gru", p, x)),
    (
        "bidirectional(lstm(3))",
        SEQ,
        lambda p, x: bidirectional_ref("lstm", p, x, "concat"),
    ),
    (
        "bidirectional(gru(3, sequences=true), merge=sum)",
        SEQ,
        lambda p, x: bidirectional_ref("gru", p, x, "sum", sequences=True),
    ),
    (
        "bidirectional(rnn(3, sequences=true), merge=average)",
        SEQ,
        lambda p, x: bidirectional_ref("rnn", p, x, "ave", sequences=True),
    ),
    (
        "bidirectional(rnn(3), merge=mul)",
        SEQ,
        lambda p, x: bidirectional_ref("rnn", p, x, "mul"),
    ),
    ("attention(2, 3)", SEQ, lambda p, x: attention_ref(p, x)),
    (
        "attention(2, 3, causal=true, bias=false)",
        SEQ,
        lambda p, x: attention_ref(p, x, causal=True),
    ),
    ("attention(2, 3, value_dim=5)", SEQ, lambda p, x: attention_ref(p, x)),
    (
        "attention(2, 3, causal=true)",
        ("[4, 6]", "[5, 2]"),
        lambda p, q, kv: attention_ref(p, q, kv, causal=True),
    ),
    ("positional(8)", SEQ, lambda p, x: x + p["embedding"][:5]),
    # merging
    ("add", (IMG, IMG, IMG), lambda p, a, b, c: a + b + c),
    ("add", ("[4, 3]", "[3]"), lambda p, a, b: a + b[:, None]),
    ("multiply", (IMG, "[1, 1, 3]"), lambda p, a, b: a * b),
    ("average", (SEQ, SEQ), lambda p, a, b: (a + b) / 2),
    ("concat", (IMG, "[6, 6, 2]"), lambda p, a, b: jnp.concatenate([a, b], -1)),
    ("concat(axis=0)", (SEQ, "[2, 4]"), lambda p, a, b: jnp.concatenate([a, b], 1)),
    # train-time only: deterministic at evaluation
    ("random_flip", IMG, lambda p, x: x),
    ("random_flip(horizontal)", IMG, lambda p, x: x),
    ("random_crop([4, 3])", IMG, lambda p, x: crop_centre(x, 4, 3)),
    ("random_crop([3, 3, 3])", "[6, 5, 3]", lambda p, x: crop_centre(x, 3, 3)),
    ("gaussian_noise(0.5)", "[6]", lambda p, x: x),
]


def case_id(case) -> str:
    layer, shape, _ = case
    return f"{layer} on {shape if isinstance(shape, str) else ' '.join(shape)}"


def test_every_layer_has_a_lowering_and_a_row() -> None:
    builtins = {name for name, spec in LAYERS.items() if is_builtin(name)}
    assert all(LAYERS[name].lower is not None for name in builtins)
    covered = {layer.split("(")[0] for layer, _, _ in CASES}
    assert builtins <= covered, sorted(builtins - covered)


@pytest.mark.parametrize(
    ("layer", "shape", "reference"), CASES, ids=map(case_id, CASES)
)
def test_layer(layer: str, shape, reference) -> None:
    model = compile_source(model_source(layer, shape))
    inputs = make_inputs(model)
    node = model.graph.node(model.graph.outputs["output"])
    shapes = jax.eval_shape(lambda xs: model.init(jax.random.key(0), xs), inputs)

    # the parameter oracle: Flax's tree has the registry's (Keras') counts
    summary = summarize(model.graph)
    sizes = {
        c: sum(math.prod(a.shape) for a in jax.tree_util.tree_leaves(tree))
        for c, tree in shapes.items()
    }
    assert sizes.get("params", 0) == summary.trainable
    assert sizes.get("batch_stats", 0) == summary.non_trainable
    assert set(shapes) <= {"params", "batch_stats"}
    assert all(set(tree) == {node.name} for tree in shapes.values())

    # the shape oracle, in both modes
    for train in (False, True):
        out = jax.eval_shape(
            lambda v, xs, train=train: model.apply(
                v, xs, train=train, rngs={"dropout": jax.random.key(0)}
            )[0]["output"],
            shapes,
            inputs,
        )
        assert out.shape == (B, *node.type.shape), (train, out.shape, node.type)
        assert out.dtype == jnp.float32

    # the numerical reference, with known parameter values
    variables = known_values(shapes)
    p = {
        k: v for tree in variables.values() for k, v in tree.get(node.name, {}).items()
    }
    got = jax.jit(model.predict)(variables, inputs)["output"]
    want = jax.jit(reference)(p, *(inputs[n] for n in model.input_names))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


# What an accelerator's lowering picks (conv_strategy, pool_strategy, rnn hoist
# and remat on a non-CPU backend), forced here, so the GPU path is checked too.
ACCELERATOR_TUNING = {"conv": "xla", "pool": "xla", "rnn_hoist": "1", "rnn_remat": "0"}
ACCELERATOR_CASES = [
    case for case in CASES if case[0].startswith(("conv", "depthwise", "separable",
                                                  "maxpool", "rnn", "lstm", "gru",
                                                  "bidirectional"))
]  # fmt: skip


@pytest.mark.parametrize(
    ("layer", "shape", "reference"),
    ACCELERATOR_CASES,
    ids=map(case_id, ACCELERATOR_CASES),
)
def test_layer_with_an_accelerators_lowering(layer: str, shape, reference, monkeypatch):
    from nnlang.layers import flaxops

    for key, value in ACCELERATOR_TUNING.items():
        monkeypatch.setitem(flaxops.TUNING, key, value)
    model = compile_source(model_source(layer, shape))
    inputs = make_inputs(model)
    node = model.graph.node(model.graph.outputs["output"])
    variables = known_values(
        jax.eval_shape(lambda xs: model.init(jax.random.key(0), xs), inputs)
    )
    p = {
        k: v for tree in variables.values() for k, v in tree.get(node.name, {}).items()
    }
    got = jax.jit(model.predict)(variables, inputs)["output"]
    want = jax.jit(reference)(p, *(inputs[n] for n in model.input_names))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


# ---------------------------------------------------------------- training vs evaluation


def test_dropout_drops_and_rescales_only_while_training() -> None:
    model = one_layer("dropout(0.25)", "[4000]")
    x = jnp.ones((B, 4000))
    evaluated, v = run(model, x)
    assert np.array_equal(evaluated, x)
    trained, _ = run(model, x, v, train=True)
    kept = np.asarray(trained) != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(np.asarray(trained)[kept], 1 / 0.75, rtol=1e-6)
    other, _ = run(model, x, v, train=True, seed=2)
    assert not np.array_equal(trained, other)  # a new mask for a new key


def test_gaussian_noise_only_while_training() -> None:
    model = one_layer("gaussian_noise(0.5)", "[4000]")
    x = jnp.ones((B, 4000))
    evaluated, v = run(model, x)
    assert np.array_equal(evaluated, x)
    trained, _ = run(model, x, v, train=True)
    assert abs(float(jnp.std(trained - x)) - 0.5) < 0.03


def test_batchnorm_uses_and_updates_batch_statistics_only_in_training() -> None:
    model = one_layer("batchnorm(momentum=0.9)", "[3]")
    x = jax.random.normal(jax.random.key(6), (16, 3)) * 4 + 2
    variables = init(model, {"x": x})
    out, state = model.apply(variables, {"x": x}, train=True)
    np.testing.assert_allclose(out["output"], norm_ref(x, 0), rtol=1e-4, atol=1e-4)
    stats = state["batch_stats"]["batchnorm_0"]
    np.testing.assert_allclose(stats["mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * x.var(0), rtol=1e-5)
    evaluated, state = model.apply(variables, {"x": x}, train=False)
    assert state == {}
    np.testing.assert_allclose(evaluated["output"], x / jnp.sqrt(1 + 1e-3), rtol=1e-5)


def test_random_flip_flips_some_examples_while_training() -> None:
    model = one_layer("random_flip(horizontal)", "[2, 3, 1]")
    x = jnp.broadcast_to(jnp.arange(6.0).reshape(1, 2, 3, 1), (64, 2, 3, 1))
    evaluated, v = run(model, x)
    assert np.array_equal(evaluated, x)
    trained, _ = run(model, x, v, train=True)
    flipped = np.all(np.asarray(trained) == np.asarray(x[:, :, ::-1]), axis=(1, 2, 3))
    same = np.all(np.asarray(trained) == np.asarray(x), axis=(1, 2, 3))
    assert np.all(flipped | same) and 10 < flipped.sum() < 54


def test_random_crop_takes_random_windows_while_training() -> None:
    model = one_layer("random_crop([2, 2])", "[5, 5, 1]")
    x = jnp.broadcast_to(jnp.arange(25.0).reshape(1, 5, 5, 1), (32, 5, 5, 1))
    evaluated, v = run(model, x)
    np.testing.assert_array_equal(evaluated, x[:, 1:3, 1:3])  # the centre
    trained, _ = run(model, x, v, train=True)
    corners = np.asarray(trained[:, 0, 0, 0])
    for example, corner in zip(np.asarray(trained), corners, strict=True):
        top, left = divmod(int(corner), 5)  # each example is a 2x2 window of the image
        assert top <= 3 and left <= 3
        np.testing.assert_array_equal(
            example, np.asarray(x[0, top : top + 2, left : left + 2])
        )
    assert len(set(corners.tolist())) > 3  # drawn per example


def test_attention_dropout_only_while_training() -> None:
    model = one_layer("attention(2, 3, dropout=0.5)", SEQ)
    x = make_inputs(model)["x"]
    evaluated, v = run(model, x)
    again, _ = run(model, x, v)
    trained, _ = run(model, x, v, train=True)
    assert np.array_equal(evaluated, again) and not np.allclose(evaluated, trained)


def test_one_rng_stream_serves_every_random_layer() -> None:
    model = compile_source(
        "model m {\n    input x: [6, 6, 2]\n    random_flip\n    random_crop([4, 4])\n"
        "    gaussian_noise(0.1)\n    flatten\n    dropout(0.5)\n    dense(2)\n}\n"
    )
    x = make_inputs(model)["x"]
    y, v = run(model, x, train=True)
    assert y.shape == (B, 2)
    assert model.rng_names == ("dropout",)


# ---------------------------------------------------------------- names and sharing


def test_shared_layer_has_one_parameter_set() -> None:
    model = compile_source(
        "model m {\n    input a: [4]\n    input b: [4]\n"
        "    x = a -> dense(3) as enc\n    y = b -> enc\n"
        "    output (x, y) -> concat\n}\n"
    )
    inputs = make_inputs(model)
    inputs["b"] = inputs["a"]
    variables = init(model, inputs)
    assert list(variables["params"]) == ["enc"]
    out = jax.jit(model.predict)(variables, inputs)["output"]
    np.testing.assert_array_equal(out[:, :3], out[:, 3:])


SHARED_BLOCKS = """\
block mlp(u) {
    dense(u, act=relu)
    dense(u)
}

block residual(f) {
    input x
    h = x -> dense(f, act=relu) -> batchnorm -> dense(f)
    output x + h
}

model m {
    input a: [4]
    input b: [4]
    x = a -> mlp(3) -> residual(3) as tower
    y = b -> mlp(3) -> tower
    p = x -> mlp(5) as head
    q = y -> head
    output (p, q) -> concat
}
"""


def test_shared_block_shares_every_layer() -> None:
    """Re-using a block's name re-applies the whole block (residual included),
    with one parameter set, like calling a Keras Model object twice."""
    model = compile_source(SHARED_BLOCKS)
    inputs = make_inputs(model)
    inputs["b"] = inputs["a"]
    variables = init(model, inputs)
    params = variables["params"]
    assert set(params) == {"mlp_0", "mlp_1", "tower", "head"}
    assert set(params["tower"]) == {"dense_0", "batchnorm_0", "dense_1"}
    assert set(params["head"]) == {"dense_0", "dense_1"}
    assert set(variables["batch_stats"]) == {"tower"}
    n_params = sum(p.size for p in jax.tree_util.tree_leaves(params))
    assert n_params == summarize(model.graph).trainable
    predict = jax.jit(model.predict)
    out = predict(variables, inputs)["output"]  # mlp_0 and mlp_1 differ
    assert not np.allclose(out[:, :5], out[:, 5:])
    # with equal front ends the towers and heads see the same input
    params = {**params, "mlp_1": params["mlp_0"]}
    out = predict({**variables, "params": params}, inputs)["output"]
    assert not np.allclose(out[:, :5], 0)
    np.testing.assert_allclose(out[:, :5], out[:, 5:], rtol=1e-6)


def test_nested_names_follow_the_source() -> None:
    model = compile_source(
        "block conv_bn(f) {\n    conv(f, 3, bias=false)\n    batchnorm\n}\n\n"
        "model m {\n    input x: [6, 6, 1]\n    conv_bn(2)\n    conv_bn(4)\n}\n"
    )
    variables = jax.eval_shape(model.init, jax.random.key(0), model.sample_inputs())
    assert set(variables["params"]) == {"conv_bn_0", "conv_bn_1"}
    assert set(variables["params"]["conv_bn_1"]) == {"conv_0", "batchnorm_0"}
    assert set(variables["batch_stats"]["conv_bn_0"]["batchnorm_0"]) == {"mean", "var"}


def test_composite_layers_keep_one_entry_with_named_parts() -> None:
    model = compile_source(
        "model m {\n    input x: [6, 6, 2]\n    separable_conv(4, 3)\n"
        "    reshape([16, 4])\n    bidirectional(gru(3))\n}\n"
    )
    params = jax.eval_shape(model.init, jax.random.key(0), model.sample_inputs())[
        "params"
    ]
    assert set(params) == {"separable_conv_0", "bidirectional_0"}
    assert set(params["separable_conv_0"]) == {"depthwise", "pointwise"}
    assert set(params["bidirectional_0"]) == {"forward", "backward"}
    assert params["bidirectional_0"]["forward"]["bias"].shape == (
        2,
        9,
    )  # Keras' reset_after


def test_keras_initial_values() -> None:
    model = compile_source(
        "model m {\n    input x: [5, 4]\n    lstm(3, sequences=true)\n"
        "    dense(2, init=ones, bias_init=constant(0.5))\n    layernorm\n}\n"
    )
    params = init(model, model.sample_inputs())["params"]
    bias = np.asarray(params["lstm_0"]["bias"])
    assert bias.tolist() == [0.0] * 3 + [1.0] * 3 + [0.0] * 6  # unit_forget_bias
    u = np.asarray(params["lstm_0"]["recurrent_kernel"])  # orthogonal rows
    np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-5)
    assert np.all(np.asarray(params["dense_0"]["kernel"]) == 1)
    assert np.all(np.asarray(params["dense_0"]["bias"]) == 0.5)
    assert np.all(np.asarray(params["layernorm_0"]["scale"]) == 1)


# ---------------------------------------------------------------- paths and dtypes


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_hoisted_input_projection_gives_the_same_result(kind: str) -> None:
    from nnlang.layers.flaxops import KerasRecurrent

    x = np.random.default_rng(3).standard_normal((B, 6, 4)).astype(np.float32)
    inloop = KerasRecurrent(kind, 3, sequences=True, hoist_inputs=False)
    hoisted = KerasRecurrent(kind, 3, sequences=True, hoist_inputs=True)
    params = jax.jit(inloop.init)(jax.random.key(0), x)
    np.testing.assert_allclose(
        jax.jit(inloop.apply)(params, x),
        jax.jit(hoisted.apply)(params, x),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_joint_matmul_equals_one_matmul_per_weight(kind: str, monkeypatch) -> None:
    from nnlang.layers import flaxops

    x = np.random.default_rng(3).standard_normal((B, 6, 4)).astype(np.float32)
    layer = flaxops.KerasRecurrent(kind, 3, sequences=True)
    params = jax.jit(layer.init)(jax.random.key(0), x)
    loss = lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x)))  # noqa: E731
    joint = jax.jit(jax.value_and_grad(loss))(params, x)
    monkeypatch.setitem(flaxops.TUNING, "rnn_joint", "0")
    separate = jax.jit(jax.value_and_grad(lambda p, x: loss(p, x)))(params, x)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        joint,
        separate,
    )


def test_lstm_recomputing_its_gates_gives_the_same_gradients(monkeypatch) -> None:
    from nnlang.layers import flaxops

    x = np.random.default_rng(3).standard_normal((B, 6, 4)).astype(np.float32)
    layer = flaxops.KerasRecurrent("lstm", 3, sequences=True)
    params = jax.jit(layer.init)(jax.random.key(0), x)
    runs = []
    for remat in ("1", "0"):
        monkeypatch.setitem(flaxops.TUNING, "rnn_remat", remat)
        loss = lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x)))  # noqa: E731
        grad = jax.jit(jax.value_and_grad(loss))
        runs.append((grad(params, x), str(jax.make_jaxpr(layer.apply)(params, x))))
    (recomputed, text_remat), (saved, text_plain) = runs
    assert "remat" in text_remat and "remat" not in text_plain  # jax.checkpoint
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        saved,
        recomputed,
    )


@pytest.mark.parametrize("unroll", ["2", "full"])
def test_unrolled_scan_gives_the_same_result(unroll: str, monkeypatch) -> None:
    from nnlang.layers import flaxops

    x = np.random.default_rng(3).standard_normal((B, 5, 4)).astype(np.float32)
    layer = flaxops.KerasRecurrent("lstm", 3, sequences=True)
    params = jax.jit(layer.init)(jax.random.key(0), x)
    want = jax.jit(layer.apply)(params, x)
    monkeypatch.setitem(flaxops.TUNING, "scan_unroll", unroll)
    got = jax.jit(lambda p, x: layer.apply(p, x))(params, x)  # a fresh trace
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_bf16_computation() -> None:
    text = (
        "model m {\n    input x: [6, 6, 2]\n    conv(4, 3, act=relu)\n    batchnorm\n"
        "    reshape([16, 4])\n    lstm(4, sequences=true)\n    attention(2, 2)\n"
        "    layernorm\n    flatten\n    dense(3)\n}\n"
    )
    f32, bf16 = compile_source(text), compile_source(text, dtype=jnp.bfloat16)
    x = make_inputs(f32)["x"]
    variables = init(f32, {"x": x})
    want, _ = run(f32, x, variables)
    got, _ = run(bf16, x, variables)
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(got.astype(jnp.float32), want, rtol=0.1, atol=0.1)


# ---------------------------------------------------------------- CPU fast paths

FAST_PATHS = [
    case for case in CASES if case[0].startswith(("conv(", "conv1d", "conv2d", "conv3d",
                                                  "maxpool("))
]  # fmt: skip


@pytest.mark.parametrize("loop", [False, True], ids=["step", "loop"])
@pytest.mark.parametrize(
    ("layer", "shape", "reference"), FAST_PATHS, ids=map(case_id, FAST_PATHS)
)
def test_fast_conv_and_pool_paths_match_the_reference(
    layer: str, shape, reference, loop: bool, monkeypatch
) -> None:
    """im2col convolution and reshape maxpool (fastconv.py), forced, in and out
    of a fused epoch's trace, against the same lax references."""
    from nnlang.layers import flaxops

    monkeypatch.setitem(flaxops.TUNING, "conv", "patches")
    monkeypatch.setitem(flaxops.TUNING, "pool", "reshape")
    model = one_layer(layer, shape)
    inputs = make_inputs(model)
    node = model.graph.node(model.graph.outputs["output"])
    variables = known_values(
        jax.eval_shape(lambda xs: model.init(jax.random.key(0), xs), inputs)
    )
    p = variables.get("params", {}).get(node.name, {})

    def predict(v, xs):
        if not loop:
            return model.predict(v, xs)["output"]
        with flaxops.tracing_loop():
            return model.predict(v, xs)["output"]

    got = jax.jit(predict)(variables, inputs)
    want = jax.jit(reference)(p, inputs["x"])
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    ("window", "padding", "shape"),
    [
        ((3, 3), "SAME", (2, 7, 6, 3)),
        ((2, 1, 2), [(1, 0), (0, 2), (2, 1)], (2, 5, 4, 4, 2)),
    ],
)
def test_patch_conv_gradients_match_nn_conv(window, padding, shape) -> None:
    """The backward pass of im2col (GEMMs and padded adds) is XLA's conv's."""
    import flax.linen as nn

    from nnlang.layers.fastconv import PatchConv

    rank = len(window)
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    strides, dilation = (1,) * rank, (2,) + (1,) * (rank - 1)
    ref = nn.Conv(5, window, strides=strides, padding=padding, kernel_dilation=dilation)
    fast = PatchConv(5, window, strides, padding, dilation)
    variables = jax.jit(ref.init)(jax.random.key(0), x)

    def grads(module):
        loss = lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))  # noqa: E731
        return jax.jit(jax.grad(loss, argnums=(0, 1)))(variables, x)

    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
        grads(ref),
        grads(fast),
    )


def test_reshape_maxpool_gradient_matches_select_and_scatter() -> None:
    import flax.linen as nn

    from nnlang.layers.fastconv import can_reshape_pool, window_max

    x = np.random.default_rng(5).standard_normal((2, 9, 8, 3)).astype(np.float32)
    assert can_reshape_pool(x.shape, (2, 2), (2, 2), "VALID")
    assert not can_reshape_pool(x.shape, (2, 2), (2, 2), "SAME")  # 9 is odd
    assert not can_reshape_pool(x.shape, (3, 3), (1, 1), "VALID")

    def grad(pool):
        return jax.jit(jax.grad(lambda x: jnp.sum(jnp.sin(pool(x)) * 3.0)))(x)

    np.testing.assert_array_equal(
        grad(lambda x: window_max(x, (2, 2))),
        grad(lambda x: nn.max_pool(x, (2, 2), (2, 2), "VALID")),
    )


def test_conv_strategy_is_im2col_on_cpu_in_and_out_of_a_fused_epoch() -> None:
    from nnlang.layers import flaxops
    from nnlang.layers.fastconv import conv_strategy

    shape, kernel = (128, 8, 8, 32), (3, 3)
    want = "patches" if jax.default_backend() == "cpu" else "xla"
    assert conv_strategy(shape, kernel, 32, 1) == want
    assert conv_strategy(shape, kernel, 32, 2) == "xla"  # grouped
    assert conv_strategy((1, 256, 256, 64), kernel, 64, 1) == "xla"  # too big
    with flaxops.tracing_loop():
        assert conv_strategy(shape, kernel, 32, 1) == want
    assert not flaxops.in_loop()


def test_tuning_forces_a_conv_strategy_per_place(monkeypatch) -> None:
    from nnlang.layers import flaxops
    from nnlang.layers.fastconv import conv_strategy

    shape, kernel = (128, 8, 8, 32), (3, 3)
    monkeypatch.setitem(flaxops.TUNING, "conv_step", "xla")
    assert conv_strategy(shape, kernel, 32, 1) == "xla"
    with flaxops.tracing_loop():
        assert conv_strategy(shape, kernel, 32, 1) in ("patches", "xla")
        monkeypatch.setitem(flaxops.TUNING, "conv_loop", "patches")
        assert conv_strategy(shape, kernel, 32, 1) == "patches"


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "dims"),
    [
        ((4, 5, 6), (6, 3), (((2,), (0,)), ((), ()))),  # dense on [B, T, F]
        ((4, 5, 6), (6, 2, 3), (((2,), (0,)), ((), ()))),  # attention's query
        ((4, 5, 2, 3), (2, 3, 6), (((2, 3), (0, 1)), ((), ()))),  # its output
        ((4, 5, 6), (4, 6, 3), (((2,), (1,)), ((0,), (0,)))),  # batched: as is
    ],
)
def test_flat_dot_general_equals_dot_general(x_shape, w_shape, dims) -> None:
    from nnlang.layers.flaxops import flat_dot_general

    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    got = jax.jit(lambda x, w: flat_dot_general(x, w, dims))(x, w)
    want = lax.dot_general(x, w, dims)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    grads = [
        jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(jnp.sin(f(x, w, dims))), (0, 1)))(
            x, w
        )
        for f in (flat_dot_general, lax.dot_general)
    ]
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's layouts")
def test_dense_kernel_gradient_copies_no_transposed_activations() -> None:
    """A dense layer on ``[B, H, W, C]`` trains without XLA:CPU transposing the
    incoming gradient (a quarter of W4's step before ``flat_dot_general``)."""
    model = one_layer("dense(32)", "[16, 16, 8]")
    inputs = make_inputs(model)
    variables = jax.jit(model.init)(jax.random.key(0), inputs)

    def loss(v):
        return jnp.sum(jnp.sin(model.predict(v, inputs)["output"]))

    hlo = jax.jit(jax.grad(loss)).lower(variables).compile().as_text()
    activation = B * 16 * 16 * 32
    shapes = re.findall(r"= f32\[([\d,]+)\]\S* transpose\(", hlo)
    sizes = [math.prod(int(d) for d in shape.split(",")) for shape in shapes]
    assert [n for n in sizes if n >= activation] == []
