"""Core layers: ``dense``, ``flatten``, ``reshape``, ``dropout``, ``identity``.

Each entry's ``lower_*`` function sits next to it and imports JAX inside
itself (see :mod:`nnlang.layers.flaxops`): ``dense`` is ``nn.Dense`` on the last
axis, ``dropout`` is ``nn.Dropout`` (deterministic at evaluation); the rest
reshape and keep the batch axis.
"""

from __future__ import annotations

from nnlang.dims import SymDim, mod, product
from nnlang.layers.args import ArgSpec, ShapeError, act_arg, param_args
from nnlang.layers.base import LayerSpec
from nnlang.layers.rules import act_flops, need_float, need_static
from nnlang.types import TensorType, format_shape

# ------------------------------------------------------------------ dense


def _dense_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    need_float("dense", x)
    if x.rank == 0:
        raise ShapeError("dense needs an input with at least one axis")
    need_static("dense", x.shape[-1], "its last axis")
    return x.with_shape(x.shape[:-1] + (attrs["units"],))


def _dense_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    features, units = inputs[0].shape[-1], attrs["units"]
    return (features * units + (units if attrs["bias"] else 0), 0)


def _dense_flops(attrs: dict, inputs: list[TensorType], out: TensorType):
    x = inputs[0]
    return 2 * product(x.shape[:-1]) * x.shape[-1] * attrs["units"] + act_flops(
        attrs, out
    )


def lower_dense(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops

    layer = nn.Dense(
        attrs["units"],
        dot_general=flaxops.flat_dot_general,
        **flaxops.layer_kwargs(attrs, ctx),
    )
    return flaxops.with_activation(layer, attrs)


DENSE = LayerSpec(
    "dense",
    "core",
    "A fully connected layer on the last axis (like Keras' Dense): `[..., F]` → "
    "`[..., units]`, weights `F × units` plus a bias of `units`.",
    (ArgSpec("units", "int", doc="output features", lo=1), act_arg(), *param_args()),
    _dense_infer,
    _dense_params,
    _dense_flops,
    lower=lower_dense,
)

# ------------------------------------------------------------------ reshaping


def _flatten_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    return x.with_shape((x.size,))


def lower_flatten(attrs: dict, ctx):
    return lambda x: x.reshape(x.shape[0], -1)


FLATTEN = LayerSpec(
    "flatten",
    "core",
    "All axes into one: `[4, 4, 64]` → `[1024]` (the batch axis stays).",
    (),
    _flatten_infer,
    lower=lower_flatten,
)


def _reshape_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    target = attrs["shape"]
    total = x.size
    known = product(d for d in target if d != -1)
    want = format_shape(target)
    if -1 in target:
        rest = mod(total, known)
        if rest != 0:
            fix = (
                "cannot be shown to divide"
                if isinstance(rest, SymDim)
                else "must divide"
            )
            raise ShapeError(
                f"reshape({want}) needs an input whose size is a multiple of {known}",
                notes=(f"{known} {fix} the input size {total}",),
            )
        missing = total // known
        return x.with_shape(tuple(missing if d == -1 else d for d in target))
    if known != total:
        raise ShapeError(
            f"reshape({want}) needs an input of {known} elements",
            notes=(f"the input has {total} elements",),
            hint="use -1 for the one axis to infer, e.g. reshape([-1, 8])",
        )
    return x.with_shape(target)


def lower_reshape(attrs: dict, ctx):
    shape = tuple(int(d) for d in attrs["shape"])
    return lambda x: x.reshape(x.shape[0], *shape)


RESHAPE = LayerSpec(
    "reshape",
    "core",
    "A new shape for the same elements (batch axis excluded, as in Keras' Reshape); "
    "one `-1` is inferred: `reshape([-1, 8])` on `[T, 4, 2]` gives `[T, 8]`.",
    (ArgSpec("shape", "shape", doc="the target shape", allow_minus_one=True),),
    _reshape_infer,
    lower=lower_reshape,
)

# ------------------------------------------------------------------ pass-through


def _same_shape(attrs: dict, inputs: list[TensorType]) -> TensorType:
    return inputs[0]


def lower_dropout(attrs: dict, ctx):
    import flax.linen as nn

    return nn.Dropout(
        attrs["rate"], deterministic=not ctx.train, name=ctx.name, parent=ctx.module
    )


def lower_identity(attrs: dict, ctx):
    return lambda x: x


DROPOUT = LayerSpec(
    "dropout",
    "core",
    "Zeroes a random `rate` of the elements while training and scales the rest by "
    "`1 / (1 - rate)`; identity at evaluation.",
    (ArgSpec("rate", "float", doc="fraction dropped", lo=0, hi=1, hi_open=True),),
    _same_shape,
    lower=lower_dropout,
)

IDENTITY = LayerSpec(
    "identity",
    "core",
    "Passes its input through unchanged.",
    (),
    _same_shape,
    lower=lower_identity,
)

SPECS = (DENSE, FLATTEN, RESHAPE, DROPOUT, IDENTITY)
