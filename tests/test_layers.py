"""The layer registry: shapes, Keras parameter counts, FLOPs and every error message.

Parameter counts are hand-computed from Keras' formulas (the comment on each
row shows the arithmetic), so ``nnc summary`` can be compared with
``model.summary()``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nnlang.dims import sym
from nnlang.layers import (
    ACTIVATIONS,
    INITIALIZERS,
    LAYERS,
    ArgError,
    ArgSpec,
    LayerSpec,
    ShapeError,
    bind_args,
    is_builtin,
    lookup,
    non_default_attrs,
    register_layer,
    resolve_function,
    unregister_layer,
)
from nnlang.layers.sequence import inner_layer
from nnlang.types import TensorType
from nnlang.values import CallValue, Word

T, H = sym("T"), sym("H")
W = Word


def call(name, *args, **kwargs):
    return CallValue(name, args, kwargs)


def tt(spec) -> TensorType:
    if isinstance(spec, TensorType):
        return spec
    return TensorType(tuple(spec))


def apply(name, args=(), kwargs=None, *shapes):
    spec = LAYERS[name]
    attrs = bind_args(spec, tuple(args), kwargs or {})
    inputs = [tt(s) for s in shapes]
    out = spec.infer(attrs, inputs)
    return spec, attrs, inputs, out


SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]

# (layer, args, kwargs, input shapes, output shape, (trainable, non_trainable))
LAYERS_UNDER_TEST = [
    # core
    ("dense", (10,), {}, [(64,)], "[10]", (650, 0)),  # 64*10 + 10
    ("dense", (10,), {"bias": False}, [(64,)], "[10]", (640, 0)),
    (
        "dense",
        (5,),
        {"act": W("relu")},
        [(T, 8)],
        "[T, 5]",
        (45, 0),
    ),  # last axis, Keras
    ("dense", (4,), {"trainable": False}, [(3,)], "[4]", (0, 16)),
    ("flatten", (), {}, [(4, 4, 64)], "[1024]", (0, 0)),
    ("flatten", (), {}, [(T, 8)], "[8 * T]", (0, 0)),
    ("reshape", ([-1, 8],), {}, [(T, 4, 2)], "[T, 8]", (0, 0)),
    ("reshape", ([28, 28, 1],), {}, [(784,)], "[28, 28, 1]", (0, 0)),
    ("dropout", (0.5,), {}, [(T, 3)], "[T, 3]", (0, 0)),
    ("identity", (), {}, [(2, 3)], "[2, 3]", (0, 0)),
    # activations
    ("relu", (), {}, [(T, 3)], "[T, 3]", (0, 0)),
    ("leaky_relu", (0.2,), {}, [(3,)], "[3]", (0, 0)),
    ("softmax", (), {"axis": 0}, [(5, 3)], "[5, 3]", (0, 0)),
    # convolution
    ("conv", (32, 3), {}, [(8, 8, 1)], "[6, 6, 32]", (320, 0)),  # 3*3*1*32 + 32
    ("conv", (32, 3), {"padding": W("same")}, [(8, 8, 1)], "[8, 8, 32]", (320, 0)),
    (
        "conv",
        (64, 3),
        {"stride": 2, "padding": W("same")},
        [(7, 7, 32)],
        "[4, 4, 64]",
        (18496, 0),
    ),  # 9*32*64 + 64
    (
        "conv",
        (16, 5),
        {"groups": 4},
        [(10, 10, 8)],
        "[6, 6, 16]",
        (816, 0),
    ),  # 25*2*16+16
    ("conv", (8, [3, 5]), {"dilation": 2}, [(20, 20, 3)], "[16, 12, 8]", (368, 0)),
    ("conv", (4, 3), {"padding": 1}, [(5, 5, 2)], "[5, 5, 4]", (76, 0)),
    (
        "conv",
        (4, 3),
        {"padding": [[0, 1], [2, 0]], "stride": 2},
        [(6, 6, 2)],
        "[3, 3, 4]",
        (76, 0),
    ),
    ("conv", (8, 3), {}, [(T, 4)], "[T - 2, 8]", (104, 0)),  # 3*4*8 + 8
    (
        "conv",
        (8, 3),
        {"stride": 2, "padding": W("same")},
        [(T, 4)],
        "[(T + 1) // 2, 8]",
        (104, 0),
    ),
    ("conv1d", (16, 3), {}, [(T, 4)], "[T - 2, 16]", (208, 0)),
    ("conv2d", (8, 3), {"bias": False}, [(H, T, 3)], "[H - 2, T - 2, 8]", (216, 0)),
    ("conv3d", (8, 3), {}, [(8, 8, 8, 2)], "[6, 6, 6, 8]", (440, 0)),  # 27*2*8 + 8
    (
        "conv",
        (1, 3),
        {"kernel": SHARPEN, "trainable": False},
        [(8, 8, 1)],
        "[6, 6, 1]",
        (0, 10),
    ),
    ("conv", (1,), {"kernel": SHARPEN}, [(8, 8, 1)], "[6, 6, 1]", (10, 0)),
    (
        "conv",
        (2, 3),
        {"kernel": [[[[1, 0]]] * 3] * 3},
        [(5, 5, 1)],
        "[3, 3, 2]",
        (20, 0),
    ),
    (
        "depthwise_conv",
        (3,),
        {"multiplier": 2},
        [(32, 32, 32)],
        "[30, 30, 64]",
        (640, 0),
    ),  # 9*32*2 + 64
    (
        "separable_conv",
        (64, 3),
        {},
        [(32, 32, 32)],
        "[30, 30, 64]",
        (2400, 0),
    ),  # 9*32 + 32*64 + 64
    (
        "separable_conv",
        (8, 3),
        {"multiplier": 2, "padding": W("same")},
        [(T, 4)],
        "[T, 8]",
        (96, 0),
    ),  # 3*8 + 8*8 + 8
    ("conv_transpose", (16, 3), {"stride": 2}, [(7, 7, 8)], "[15, 15, 16]", (1168, 0)),
    (
        "conv_transpose",
        (16, 3),
        {"stride": 2, "padding": W("same")},
        [(7, 7, 8)],
        "[14, 14, 16]",
        (1168, 0),
    ),  # 9*8*16 + 16
    ("conv_transpose", (4, 2), {"stride": 2}, [(T, 3)], "[2 * T, 4]", (28, 0)),
    # pooling and resizing
    ("maxpool", (2,), {}, [(8, 8, 64)], "[4, 4, 64]", (0, 0)),
    ("maxpool", (2,), {}, [(T, 8)], "[T // 2, 8]", (0, 0)),
    (
        "maxpool",
        (3,),
        {"stride": 1, "padding": W("same")},
        [(28, 28, 3)],
        "[28, 28, 3]",
        (0, 0),
    ),
    ("maxpool", (2,), {"padding": 1}, [(5, 5, 1)], "[3, 3, 1]", (0, 0)),
    (
        "avgpool",
        (3,),
        {"stride": 2, "padding": W("same")},
        [(T, T, 4)],
        "[(T + 1) // 2, (T + 1) // 2, 4]",
        (0, 0),
    ),
    ("avgpool2d", ([2, 1],), {}, [(6, 5, 1)], "[3, 5, 1]", (0, 0)),
    ("global_avgpool", (), {}, [(7, 7, 2048)], "[2048]", (0, 0)),
    ("global_maxpool", (), {"keepdims": True}, [(T, 8)], "[1, 8]", (0, 0)),
    ("upsample", (2,), {}, [(T, 4, 3)], "[2 * T, 8, 3]", (0, 0)),
    ("upsample", ([2, 3],), {}, [(4, 4, 1)], "[8, 12, 1]", (0, 0)),
    ("zero_pad", (1,), {}, [(28, 28, 1)], "[30, 30, 1]", (0, 0)),
    ("zero_pad", ([1, 2],), {}, [(8, 8, 1)], "[10, 12, 1]", (0, 0)),
    ("zero_pad", ([[1, 2], [3, 4]],), {}, [(28, 28, 1)], "[31, 35, 1]", (0, 0)),
    ("zero_pad", ([2, 3],), {}, [(T, 4)], "[T + 5, 4]", (0, 0)),  # Keras 1-D: (l, r)
    ("crop", (2,), {}, [(T, 28, 3)], "[T - 4, 24, 3]", (0, 0)),
    # normalisation
    ("batchnorm", (), {}, [(8, 8, 64)], "[8, 8, 64]", (128, 128)),  # 2*64 + 2*64
    ("batchnorm", (), {"trainable": False}, [(8, 8, 64)], "[8, 8, 64]", (0, 256)),
    ("batchnorm", (), {"bias": False}, [(T, 16)], "[T, 16]", (16, 32)),
    ("layernorm", (), {}, [(T, 32)], "[T, 32]", (64, 0)),
    ("groupnorm", (8,), {}, [(8, 8, 32)], "[8, 8, 32]", (64, 0)),
    # sequences
    ("embedding", (1000, 64), {}, [TensorType((100,), "i32")], "[100, 64]", (64000, 0)),
    ("embedding", (50, 8), {}, [TensorType((T,), "i64")], "[T, 8]", (400, 0)),
    ("rnn", (16,), {}, [(T, 8)], "[16]", (400, 0)),  # 16*(8+16) + 16
    ("lstm", (64,), {}, [(50, 1)], "[64]", (16896, 0)),  # 4*(64*65 + 64)
    ("lstm", (64,), {"sequences": True}, [(50, 1)], "[50, 64]", (16896, 0)),
    ("gru", (64,), {}, [(50, 1)], "[64]", (12864, 0)),  # 3*(64*65 + 2*64)
    ("gru", (64,), {"reset_after": False}, [(50, 1)], "[64]", (12672, 0)),
    ("bidirectional", (call("lstm", 32),), {}, [(T, 16)], "[64]", (12544, 0)),  # 2*6272
    (
        "bidirectional",
        (call("gru", 8, sequences=True),),
        {"merge": W("sum")},
        [(T, 4)],
        "[T, 8]",
        (672, 0),
    ),  # 2*3*(8*12 + 16)
    ("attention", (2, 16), {}, [(T, 32)], "[T, 32]", (4224, 0)),  # 4*(32*32 + 32)
    (
        "attention",
        (2, 16),
        {"value_dim": 8, "bias": False},
        [(T, 32)],
        "[T, 32]",
        (3072, 0),
    ),  # 1024*2 + 512*2
    (
        "attention",
        (4, 8),
        {"causal": True},
        [(T, 16), (5, 32)],
        "[T, 16]",
        (3184, 0),
    ),  # 544+1056+1056+528
    ("positional", (128,), {}, [(T, 32)], "[T, 32]", (4096, 0)),
    # merging
    ("add", (), {}, [(T, 8), (T, 8)], "[T, 8]", (0, 0)),
    ("add", (), {}, [(4, 8), (8,)], "[4, 8]", (0, 0)),
    ("multiply", (), {}, [(4, 1), (1, 5)], "[4, 5]", (0, 0)),
    ("average", (), {}, [(T, 1), (T, 3), (1, 3)], "[T, 3]", (0, 0)),
    ("concat", (), {}, [(4, 4, 3), (4, 4, 5)], "[4, 4, 8]", (0, 0)),
    ("concat", (), {"axis": 0}, [(T, 8), (5, 8)], "[T + 5, 8]", (0, 0)),
    # augmentation
    ("random_flip", (), {}, [(28, 28, 1)], "[28, 28, 1]", (0, 0)),
    ("random_crop", ([24, 24],), {}, [(28, 28, 1)], "[24, 24, 1]", (0, 0)),
    ("random_crop", ([32, 32, 3],), {}, [(36, 36, 3)], "[32, 32, 3]", (0, 0)),
    ("gaussian_noise", (0.1,), {}, [(T, 3)], "[T, 3]", (0, 0)),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "shapes", "expected", "params"),
    LAYERS_UNDER_TEST,
    ids=[f"{row[0]}-{i}" for i, row in enumerate(LAYERS_UNDER_TEST)],
)
def test_shape_and_keras_parameter_count(name, args, kwargs, shapes, expected, params):
    spec, attrs, inputs, out = apply(name, args, kwargs, *shapes)
    assert str(out) == expected
    assert spec.count_params(attrs, inputs) == params
    flops = spec.flops(attrs, inputs, out)
    assert flops == 0 or flops is not None


def test_every_layer_is_under_test():
    tested = {row[0] for row in LAYERS_UNDER_TEST}
    untested = (
        set(LAYERS)
        - tested
        - set(ACTIVATIONS)
        - {"maxpool1d", "maxpool2d", "maxpool3d", "avgpool1d", "avgpool3d"}
    )
    assert not untested


def test_vocabulary_of_language_md_is_registered():
    vocabulary = """dense flatten reshape dropout identity relu relu6 leaky_relu elu gelu
        silu sigmoid tanh softmax log_softmax softplus conv conv1d conv2d conv3d
        depthwise_conv separable_conv conv_transpose maxpool avgpool global_avgpool
        global_maxpool upsample zero_pad crop batchnorm layernorm groupnorm embedding rnn
        lstm gru bidirectional attention positional add multiply concat average
        random_flip random_crop gaussian_noise""".split()
    assert set(vocabulary) <= set(LAYERS)
    assert all(is_builtin(n) for n in vocabulary)


def test_output_dtypes():
    *_, out = apply("embedding", (10, 4), {}, TensorType((7,), "i32"))
    assert out.dtype == "f32"
    *_, out = apply("dense", (3,), {}, TensorType((7,), "bf16"))
    assert out.dtype == "bf16"
    *_, out = apply("flatten", (), {}, TensorType((2, 3), "i32"))
    assert str(out) == "i32[6]"


# ------------------------------------------------------------------ FLOPs


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "shapes", "flops"),
    [
        ("dense", (10,), {}, [(64,)], 1280),  # 2 * 64 * 10
        ("dense", (10,), {"act": W("relu")}, [(64,)], 1290),  # + one per output
        ("conv", (32, 3), {}, [(8, 8, 1)], 20736),  # 2 * 36 * 32 * 9
        ("lstm", (64,), {}, [(50, 1)], 1_664_000),  # 50 * 2 * 4 * 64 * 65
        ("relu", (), {}, [(4, 4)], 16),
        ("batchnorm", (), {}, [(4, 4)], 32),
        ("flatten", (), {}, [(4, 4)], 0),
        ("add", (), {}, [(4, 4), (4, 4), (4, 4)], 32),
        ("maxpool", (2,), {}, [(8, 8, 3)], 192),  # 4*4*3 outputs * 4
    ],
)
def test_flops(name, args, kwargs, shapes, flops):
    spec, attrs, inputs, out = apply(name, args, kwargs, *shapes)
    assert spec.flops(attrs, inputs, out) == flops


def test_symbolic_flops():
    spec, attrs, inputs, out = apply("maxpool", (2,), {}, (T, 8))
    assert str(spec.flops(attrs, inputs, out)) == "16 * (T // 2)"
    spec, attrs, inputs, out = apply("attention", (2, 16), {}, (T, 32))
    # projections 4 * 2*T*32*32, scores and mixing 2 * 2*T*T*2*16, softmax 2*T*T
    assert (
        spec.flops(attrs, inputs, out)
        == 4 * 2 * T * 32 * 32 + 2 * 2 * T * T * 32 + 2 * T * T
    )


def test_symbolic_shapes_through_a_stack():
    t = TensorType((T, 3))
    for name, args, kwargs in [
        ("conv", (16, 3), {}),
        ("maxpool", (2,), {}),
        ("conv", (16, 3), {"padding": W("same"), "stride": 2}),
        ("zero_pad", (1,), {}),
    ]:
        spec = LAYERS[name]
        t = spec.infer(bind_args(spec, args, kwargs), [t])
    # T - 2, then (T - 2) // 2 = T // 2 - 1, then ceil of half = T // 4, then + 2
    assert str(t) == "[T // 4 + 2, 16]"


# ------------------------------------------------------------------ binding


def test_bound_attrs_are_normalised():
    attrs = bind_args(LAYERS["conv"], (8, [3, 3]), {"padding": "same"})
    assert attrs["kernel"] == (3, 3) and isinstance(attrs["padding"], Word)
    assert attrs["act"] == "none" and attrs["init"] == "glorot_uniform"
    assert "weights" not in attrs  # only with fixed values
    attrs = bind_args(LAYERS["maxpool"], (3,), {})
    assert attrs["stride"] == 3  # stride defaults to size
    attrs = bind_args(LAYERS["dense"], (3,), {"act": call("leaky_relu", 0.2)})
    assert attrs["act"] == CallValue("leaky_relu", (), {"alpha": 0.2})
    assert bind_args(LAYERS["dense"], (3,), {"act": W("linear")})["act"] == "none"
    attrs = bind_args(LAYERS["bidirectional"], (call("lstm", 32),), {})
    inner = attrs["layer"]
    assert inner == CallValue("lstm", (), {"units": 32})  # non-default args, by keyword
    spec, full = inner_layer(attrs)
    assert spec is LAYERS["lstm"] and full["sequences"] is False and full["units"] == 32
    attrs = bind_args(
        LAYERS["bidirectional"], (call("gru", 4),), {"merge": W("average")}
    )
    assert attrs["merge"] == "ave"
    attrs = bind_args(LAYERS["attention"], (2, 16), {})
    assert attrs["value_dim"] == 16


def test_fixed_conv_weights_are_stored_as_attrs():
    attrs = bind_args(LAYERS["conv"], (1, 3), {"kernel": SHARPEN, "trainable": False})
    assert attrs["kernel"] == 3
    assert attrs["weights"] == ((0, -1, 0), (-1, 5, -1), (0, -1, 0))
    attrs = bind_args(LAYERS["conv"], (1,), {"kernel": SHARPEN})
    assert attrs["kernel"] == (3, 3) and attrs["weights"][1][1] == 5
    attrs = bind_args(LAYERS["conv"], (1,), {"kernel": [0.25, 0.5, 0.25]})
    assert attrs["kernel"] == 3 and attrs["weights"] == (0.25, 0.5, 0.25)
    assert "weights" not in bind_args(LAYERS["conv"], (1,), {"kernel": [3, 3]})


def test_non_default_attrs_and_functions():
    attrs = bind_args(LAYERS["conv"], (8, 3), {"padding": W("same"), "bias": False})
    shown = non_default_attrs(LAYERS["conv"], attrs)
    assert shown == {"filters": 8, "kernel": 3, "padding": "same", "bias": False}
    assert resolve_function(W("leaky_relu")) == ("leaky_relu", {"alpha": 0.3})
    assert resolve_function(CallValue("normal", (), {"std": 0.02})) == (
        "normal",
        {"std": 0.02, "mean": 0.0},
    )
    assert resolve_function(W("none")) == ("none", {})
    assert {"glorot_uniform", "he_normal", "orthogonal", "constant"} <= set(
        INITIALIZERS
    )


def test_keras_defaults():
    bn = bind_args(LAYERS["batchnorm"], (), {})
    assert (bn["momentum"], bn["eps"]) == (0.99, 1e-3)
    assert bind_args(LAYERS["layernorm"], (), {})["eps"] == 1e-3
    assert bind_args(LAYERS["leaky_relu"], (), {})["alpha"] == 0.3
    assert bind_args(LAYERS["dense"], (3,), {})["init"] == "glorot_uniform"
    lstm = bind_args(LAYERS["lstm"], (3,), {})
    assert (lstm["act"], lstm["recurrent_act"], lstm["recurrent_init"]) == (
        "tanh",
        "sigmoid",
        "orthogonal",
    )


def test_common_arguments():
    for spec in LAYERS.values():
        names = spec.arg_names
        if spec.is_parametric:
            assert {"init", "l1", "l2", "trainable"} <= set(names), spec.name
            if spec.name not in ("embedding", "positional"):  # no bias to drop
                assert {"bias", "bias_init"} <= set(names), spec.name
        kw_seen = False
        for a in spec.args:
            assert not (kw_seen and not a.kw_only), (
                f"{spec.name}: positional after kw-only"
            )
            kw_seen = kw_seen or a.kw_only
        assert spec.doc and spec.group
    for name in (
        "dense",
        "conv",
        "depthwise_conv",
        "separable_conv",
        "conv_transpose",
        "rnn",
        "lstm",
        "gru",
    ):
        assert "act" in LAYERS[name].arg_names


# (layer, args, kwargs, message, arg, hint)
ARG_ERRORS = [
    (
        "dense",
        (10,),
        {"activation": W("relu")},
        "unknown argument 'activation' for dense",
        "activation",
        "did you mean 'act'?",
    ),
    (
        "dense",
        (10,),
        {"bais": False},
        "unknown argument 'bais' for dense",
        "bais",
        "did you mean 'bias'?",
    ),
    (
        "dense",
        (10,),
        {"foo": 1},
        "unknown argument 'foo' for dense",
        "foo",
        "dense takes: units, act, bias, init, bias_init, l1, l2, trainable",
    ),
    (
        "conv",
        (32, 3),
        {"kernel_size": 3},
        "unknown argument 'kernel_size' for conv",
        "kernel_size",
        "did you mean 'kernel'?",
    ),
    (
        "conv",
        (32, 3),
        {"strides": 2},
        "unknown argument 'strides' for conv",
        "strides",
        "did you mean 'stride'?",
    ),
    (
        "conv",
        (32, 3),
        {"use_bias": False},
        "unknown argument 'use_bias' for conv",
        "use_bias",
        "did you mean 'bias'?",
    ),
    (
        "dense",
        (),
        {"units": 3, "features": 4},
        "unknown argument 'features' for dense",
        "features",
        "did you mean 'units'?",
    ),
    (
        "conv",
        (),
        {"features": 4, "kernel": 3},
        "unknown argument 'features' for conv",
        "features",
        "did you mean 'filters'?",
    ),
    (
        "dense",
        (),
        {"filters": 4},
        "unknown argument 'filters' for dense",
        "filters",
        "did you mean 'units'?",
    ),
    (
        "dropout",
        (),
        {"p": 0.1},
        "unknown argument 'p' for dropout",
        "p",
        "did you mean 'rate'?",
    ),
    (
        "maxpool",
        (),
        {"pool_size": 2},
        "unknown argument 'pool_size' for maxpool",
        "pool_size",
        "did you mean 'size'?",
    ),
    (
        "batchnorm",
        (),
        {"epsilon": 1e-5},
        "unknown argument 'epsilon' for batchnorm",
        "epsilon",
        "did you mean 'eps'?",
    ),
    (
        "attention",
        (),
        {"num_heads": 2, "key_dim": 4},
        "unknown argument 'num_heads' for attention",
        "num_heads",
        "did you mean 'heads'?",
    ),
    (
        "lstm",
        (8,),
        {"return_sequences": True},
        "unknown argument 'return_sequences' for lstm",
        "return_sequences",
        "did you mean 'sequences'?",
    ),
    (
        "embedding",
        (),
        {"input_dim": 10, "dim": 3},
        "unknown argument 'input_dim' for embedding",
        "input_dim",
        "did you mean 'vocab'?",
    ),
    (
        "embedding",
        (10,),
        {"output_dim": 3},
        "unknown argument 'output_dim' for embedding",
        "output_dim",
        "did you mean 'dim'?",
    ),
    (
        "dense",
        (10, W("relu")),
        {},
        "dense takes 1 positional argument (units); got 2",
        1,
        "pass the others by keyword: act, bias, init, bias_init, l1, l2, trainable",
    ),
    ("flatten", (1,), {}, "flatten takes no positional arguments; got 1", 0, None),
    ("dense", (), {}, "dense needs argument 'units'", None, "usage: dense(units, ...)"),
    (
        "conv",
        (),
        {},
        "conv needs argument 'filters'",
        None,
        "usage: conv(filters, kernel, stride=1, padding=valid, dilation=1, groups=1, ...)",
    ),
    (
        "dense",
        (10,),
        {"units": 5},
        "argument 'units' of dense is given twice (by position and by keyword)",
        "units",
        None,
    ),
    (
        "conv",
        (8, 3),
        {"padding": W("sme")},
        "argument 'padding' of conv must be valid, same or an int; got sme",
        "padding",
        "did you mean 'same'?",
    ),
    (
        "conv_transpose",
        (8, 3),
        {"padding": 1},
        "argument 'padding' of conv_transpose must be valid or same; got 1",
        "padding",
        None,
    ),
    (
        "bidirectional",
        (call("lstm", 4),),
        {"merge": W("concatenate")},
        "argument 'merge' of bidirectional must be concat, sum, mul, ave, add, multiply "
        "or average; got concatenate",
        "merge",
        "did you mean 'concat'?",
    ),
    (
        "dense",
        (2.5,),
        {},
        "argument 'units' of dense must be a whole number; got 2.5",
        0,
        None,
    ),
    (
        "dense",
        (W("widht"),),
        {},
        "argument 'units' of dense must be a whole number; got widht",
        0,
        None,
    ),
    (
        "dense",
        (True,),
        {},
        "argument 'units' of dense must be a whole number; got true",
        0,
        None,
    ),
    ("dense", (0,), {}, "argument 'units' of dense must be at least 1; got 0", 0, None),
    (
        "dropout",
        (1.5,),
        {},
        "argument 'rate' of dropout must be in [0, 1); got 1.5",
        0,
        None,
    ),
    (
        "batchnorm",
        (),
        {"eps": 0},
        "argument 'eps' of batchnorm must be greater than 0; got 0",
        "eps",
        None,
    ),
    (
        "dense",
        (3,),
        {"bias": 1},
        "argument 'bias' of dense must be true or false; got 1",
        "bias",
        None,
    ),
    (
        "conv",
        (8, [3, 0]),
        {},
        "argument 'kernel' of conv must be at least 1; got [3, 0]",
        1,
        None,
    ),
    (
        "reshape",
        ([-1, -1],),
        {},
        "argument 'shape' of reshape must be a list of positive whole numbers (one may be "
        "-1); got [-1, -1]",
        0,
        None,
    ),
    (
        "zero_pad",
        ([1, -1],),
        {},
        "argument 'n' of zero_pad must be an int or a list (whole numbers, at least 0); "
        "got [1, -1]",
        0,
        None,
    ),
    (
        "dense",
        (3,),
        {"act": W("rleu")},
        "unknown activation 'rleu' for argument 'act' of dense",
        "act",
        "did you mean 'relu'?",
    ),
    (
        "dense",
        (3,),
        {"act": call("leaky_relu", 0.2, 3)},
        "leaky_relu takes 1 positional argument (alpha); got 2",
        "act",
        None,
    ),
    (
        "dense",
        (3,),
        {"act": call("leaky_relu", slope=0.2)},
        "unknown argument 'slope' for leaky_relu",
        "act",
        "leaky_relu takes: alpha",
    ),
    (
        "dense",
        (3,),
        {"act": 3},
        "argument 'act' of dense must be an activation such as "
        "relu or leaky_relu(0.2); got 3",
        "act",
        None,
    ),
    (
        "dense",
        (3,),
        {"init": W("glorot")},
        "unknown initializer 'glorot' for argument 'init' of dense",
        "init",
        "did you mean 'glorot_normal'?",
    ),
    (
        "bidirectional",
        (call("dense", 3),),
        {},
        "argument 'layer' of bidirectional must be one of rnn, lstm or gru; got dense",
        0,
        None,
    ),
    (
        "bidirectional",
        (call("lstm"),),
        {},
        "lstm needs argument 'units'",
        0,
        "usage: lstm(units, sequences=false, reverse=false, recurrent_act=sigmoid, "
        "recurrent_init=orthogonal, ...)",
    ),
    (
        "conv",
        (10, 3),
        {"groups": 4},
        "argument 'groups' of conv must divide filters (10); got 4",
        "groups",
        None,
    ),
    (
        "conv",
        (1, 5),
        {"kernel": SHARPEN},
        "kernel values of conv have shape [3, 3], which does not match the kernel size 5",
        "kernel",
        "give the size [3, 3] or drop it: conv(..., kernel=[[...]])",
    ),
    (
        "conv",
        (1,),
        {"kernel": [[1, 2], [3]]},
        "kernel values of conv must be a rectangular nested list of numbers, one level per "
        "spatial axis (optionally then input and output channels)",
        "kernel",
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "message", "arg", "hint"),
    ARG_ERRORS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(ARG_ERRORS)],
)
def test_argument_errors(name, args, kwargs, message, arg, hint):
    with pytest.raises(ArgError) as info:
        bind_args(LAYERS[name], args, kwargs)
    assert (info.value.message, info.value.arg, info.value.hint) == (message, arg, hint)


# (layer, args, kwargs, input shapes, message, notes, hint)
SHAPE_ERRORS = [
    (
        "conv2d",
        (32, 3),
        {},
        [(784,)],
        "conv2d needs an input of shape [H, W, C]",
        (),
        "reshape a flat vector first: reshape([28, 28, 1])",
    ),
    (
        "conv",
        (32, 3),
        {},
        [(2, 4, 4, 4, 4)],
        "conv needs an input of shape [T, C], [H, W, C] or [D, H, W, C]",
        (),
        None,
    ),
    (
        "conv",
        (8, [3, 3]),
        {},
        [(T, 4)],
        "conv with kernel=[3, 3] needs an input of shape [H, W, C]",
        (),
        None,
    ),
    (
        "conv",
        (8, 5),
        {},
        [(3, 3, 1)],
        "conv with a window of [5, 5] and padding=valid needs spatial axes of at least [5, 5]",
        (),
        "use padding=same, or a smaller kernel or pool size",
    ),
    (
        "conv",
        (8, 3),
        {"groups": 2},
        [(5, 5, 3)],
        "conv(groups=2) needs input channels divisible by 2",
        ("the input has 3 channels",),
        None,
    ),
    (
        "conv",
        (8, 3),
        {},
        [(5, 5, T)],
        "conv needs a fixed size for its channel axis (the last) (its weights depend on it), "
        "not the symbolic T",
        (),
        None,
    ),
    (
        "conv",
        (1, 3),
        {"kernel": SHARPEN},
        [(T, 1)],
        "conv with kernel values of shape [3, 3] needs an input of shape [H, W, C]",
        (
            "kernel values nest one level per spatial axis, or are laid out "
            "[*kernel, C / groups, filters]",
        ),
        None,
    ),
    (
        "conv",
        (1,),
        {"kernel": SHARPEN},
        [(T, 1)],
        "conv with kernel=[3, 3] needs an input of shape [H, W, C]",
        (),
        None,
    ),
    (
        "conv",
        (2, 3),
        {"kernel": [[[[1, 0]]] * 3] * 3},
        [(5, 5, 2)],
        "conv with kernel values of shape [3, 3, 1, 2] needs 1 input channels",
        (),
        None,
    ),
    (
        "maxpool",
        (3,),
        {},
        [(2, 8)],
        "maxpool with a window of [3] and padding=valid needs spatial axes of at least [3]",
        (),
        "use padding=same, or a smaller kernel or pool size",
    ),
    (
        "conv",
        (1, 3),
        {"kernel": [[1, 2, 3, 4, 5]] * 3},
        [(8, 8, 1)],
        "conv with kernel=3 needs kernel values of shape [3, 3]",
        ("the values have shape [3, 5]",),
        None,
    ),
    (
        "maxpool2d",
        (2,),
        {},
        [(8, 8)],
        "maxpool2d needs an input of shape [H, W, C]",
        (),
        None,
    ),
    (
        "dense",
        (3,),
        {},
        [TensorType((100,), "i32")],
        "dense needs a floating-point input",
        (),
        "token ids go through an embedding first: embedding(vocab, dim)",
    ),
    (
        "dense",
        (3,),
        {},
        [(T,)],
        "dense needs a fixed size for its last axis (its weights "
        "depend on it), not the symbolic T",
        (),
        None,
    ),
    (
        "embedding",
        (100, 8),
        {},
        [(100,)],
        "embedding needs integer token ids (i32[...])",
        (),
        "declare the input with an integer dtype: input ids: i32[100]",
    ),
    (
        "lstm",
        (8,),
        {},
        [(8, 8, 1)],
        "lstm needs an input of shape [T, F]",
        (),
        "flatten the other axes per step first, e.g. reshape([-1, F])",
    ),
    (
        "bidirectional",
        (call("gru", 4),),
        {},
        [(8,)],
        "gru needs an input of shape [T, F]",
        (),
        None,
    ),
    (
        "attention",
        (2, 4),
        {},
        [(8,)],
        "attention needs an input of shape [T, D]",
        (),
        None,
    ),
    (
        "attention",
        (2, 4),
        {},
        [(T, 8), (8,)],
        "attention needs a query [Tq, D] and keys/values [Tk, Dk]",
        (),
        None,
    ),
    (
        "positional",
        (10,),
        {},
        [(20, 8)],
        "positional(max_len=10) needs at most 10 positions",
        (),
        "raise max_len to at least 20",
    ),
    (
        "add",
        (),
        {},
        [(T, 8), (5, 8)],
        "add needs operands of broadcast-compatible shapes",
        ("axis 0 differs: T and 5",),
        "make the shapes agree first, e.g. with dense or reshape",
    ),
    (
        "multiply",
        (),
        {},
        [(4, 8), (4, 7)],
        "multiply needs operands of broadcast-compatible shapes",
        ("axis 1 differs: 8 and 7",),
        "make the shapes agree first, e.g. with dense or reshape",
    ),
    (
        "add",
        (),
        {},
        [(4,), TensorType((4,), "i32")],
        "add needs operands of one dtype",
        ("dtypes: f32, i32",),
        None,
    ),
    (
        "concat",
        (),
        {"axis": 0},
        [(4, 8), (5, 9)],
        "concat(axis=0) needs inputs that agree on every other axis",
        ("axis 1 differs: 8 and 9",),
        None,
    ),
    ("concat", (), {}, [(4, 8), (8,)], "concat needs inputs of one rank", (), None),
    (
        "concat",
        (),
        {"axis": 2},
        [(4, 8), (4, 8)],
        "concat(axis=2) needs inputs with at least 3 axes (the batch axis does not count)",
        (),
        None,
    ),
    (
        "groupnorm",
        (32,),
        {},
        [(8, 8, 48)],
        "groupnorm(groups=32) needs channels divisible by 32",
        ("the input has 48 channels",),
        "choose groups that divide 48: 1, 2, 3, 4, 6, 8, 12, 16, 24, 48",
    ),
    (
        "reshape",
        ([3, 3],),
        {},
        [(10,)],
        "reshape([3, 3]) needs an input of 9 elements",
        ("the input has 10 elements",),
        "use -1 for the one axis to infer, e.g. reshape([-1, 8])",
    ),
    (
        "reshape",
        ([-1, 3],),
        {},
        [(T, 4, 2)],
        "reshape([-1, 3]) needs an input whose size is a multiple of 3",
        ("3 cannot be shown to divide the input size 8 * T",),
        None,
    ),
    (
        "crop",
        (2,),
        {},
        [(4, 9, 1)],
        "crop(2) needs spatial axis 0 longer than 4",
        (),
        None,
    ),
    (
        "zero_pad",
        ([1, 2, 3],),
        {},
        [(8, 8, 1)],
        "zero_pad([1, 2, 3]) needs an input of shape [D, H, W, C]",
        (),
        None,
    ),
    (
        "random_flip",
        (),
        {},
        [(8,)],
        "random_flip needs an input of shape [H, W, C]",
        (),
        None,
    ),
    (
        "random_crop",
        ([24, 24, 3],),
        {},
        [(28, 28, 1)],
        "random_crop([24, 24, 3]) needs an input with 3 channels",
        ("random_crop keeps the channels; give the spatial size only",),
        None,
    ),
    (
        "random_crop",
        ([32, 32],),
        {},
        [(28, 28, 1)],
        "random_crop([32, 32]) needs spatial axes of at least [32, 32]",
        (),
        "axis 0 has only 28; pad first with zero_pad",
    ),
    (
        "softmax",
        (),
        {"axis": 2},
        [(4, 4)],
        "softmax(axis=2) needs an input with at least 3 "
        "axes (the batch axis does not count)",
        (),
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "shapes", "message", "notes", "hint"),
    SHAPE_ERRORS,
    ids=[f"{r[0]}-{i}" for i, r in enumerate(SHAPE_ERRORS)],
)
def test_shape_errors(name, args, kwargs, shapes, message, notes, hint):
    spec = LAYERS[name]
    attrs = bind_args(spec, args, kwargs)
    with pytest.raises(ShapeError) as info:
        spec.infer(attrs, [tt(s) for s in shapes])
    assert (info.value.message, info.value.notes, info.value.hint) == (
        message,
        notes,
        hint,
    )


# ------------------------------------------------------------------ registry


def _double_infer(attrs, inputs):
    x = inputs[0]
    return x.with_shape(x.shape[:-1] + (2 * x.shape[-1],))


def _plugin(name="twice"):
    return LayerSpec(
        name,
        "plugins",
        "Concatenates its input with a learned copy.",
        (
            ArgSpec("scale", "float", 1.0, "a factor"),
            ArgSpec("trainable", "bool", True, kw_only=True),
        ),
        _double_infer,
        count_params=lambda attrs, inputs: (inputs[0].shape[-1], 0),
    )


def test_register_a_plugin_layer():
    spec = register_layer(_plugin())
    try:
        assert lookup("twice") is spec and not is_builtin("twice")
        attrs = bind_args(spec, (), {"trainable": False})
        x = [TensorType((T, 3))]
        assert str(spec.infer(attrs, x)) == "[T, 6]"
        assert spec.count_params(attrs, x) == (0, 3)  # trainable=false honoured
        with pytest.raises(ValueError, match="already registered by a plugin"):
            register_layer(_plugin())
        assert register_layer(_plugin(), replace=True) is not spec
    finally:
        unregister_layer("twice")
    assert lookup("twice") is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dense", "cannot register layer 'dense': it is a built-in layer"),
        ("repeat", "is a keyword"),
        ("Twice", "must be a lowercase identifier"),
    ],
)
def test_register_layer_rejects(name, message):
    with pytest.raises(ValueError, match=message):
        register_layer(_plugin(name))


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown kind"):
        ArgSpec("x", "integer")


def test_importing_the_registry_imports_no_jax_or_numpy():
    code = (
        "import sys, nnlang.layers, nnlang.dims, nnlang.types; "
        "bad = sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'optax', 'numpy')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_lowering_slots_into_an_entry():
    import dataclasses

    spec = LAYERS["dense"]
    assert spec.lower is None or callable(spec.lower)
    lowered = dataclasses.replace(spec, lower=lambda attrs, ctx: None)
    assert callable(lowered.lower) and lowered.arg("units") is spec.arg("units")
    attrs = bind_args(lowered, (4,), {"trainable": False})
    assert lowered.count_params(attrs, [TensorType((3,))]) == (0, 16)
