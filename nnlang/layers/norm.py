"""Normalisation: ``batchnorm``, ``layernorm``, ``groupnorm`` (Keras defaults).

Parameter counts follow Keras: ``batchnorm`` learns a scale (gamma) and a shift
(beta) per channel and keeps a moving mean and variance per channel, so ``2 * C``
trainable plus ``2 * C`` non-trainable; ``layernorm`` and ``groupnorm`` learn
``2 * C``. ``bias=false`` drops the shift (Keras' ``center=False``),
``scale=false`` the scale; ``init`` initialises the scale (``ones``) and
``bias_init`` the shift (``zeros``). FLOPs are inference costs per element:
2 for ``batchnorm`` (a fused scale and shift) and 8 for ``layernorm`` and
``groupnorm`` (mean, variance, normalise, scale, shift).

Lowering: ``nn.BatchNorm`` (batch statistics while training, the moving ones at
evaluation; Flax's ``momentum`` is Keras' decay), ``nn.LayerNorm`` and
``nn.GroupNorm`` (the grouped axis moved last, where Flax wants it). ``axis``
counts without the batch axis, as everywhere in `.nn`.
"""

from __future__ import annotations

from nnlang.layers.args import ArgSpec, ShapeError, param_args
from nnlang.layers.base import LayerSpec
from nnlang.layers.rules import need_float, need_static
from nnlang.types import TensorType

_EPS = ArgSpec(
    "eps", "float", 1e-3, "added to the variance (Keras default)", lo=0, lo_open=True
)
_AXIS = ArgSpec(
    "axis", "int", -1, "the normalised feature axis (batch axis excluded)", kw_only=True
)
_SCALE = ArgSpec("scale", "bool", True, "learn a scale (gamma)", kw_only=True)
_PARAMS = param_args(
    init="ones",
    doc_init="scale (gamma) initializer",
    doc_bias="learn a shift (beta); Keras' center",
)


def _feature_axis(name: str, attrs: dict, x: TensorType) -> int:
    axis = attrs["axis"]
    if not -x.rank <= axis < x.rank:
        need = axis + 1 if axis >= 0 else -axis
        raise ShapeError(
            f"{name}(axis={axis}) needs an input with at least {need} axes "
            "(the batch axis does not count)"
        )
    return need_static(name, x.shape[axis], f"axis {axis}")


def _make_infer(name: str):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        need_float(name, x)
        _feature_axis(name, attrs, x)
        return x

    return infer


def _learned(attrs: dict, channels: int) -> int:
    return channels * (int(attrs["bias"]) + int(attrs["scale"]))


def _batchnorm_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    c = inputs[0].shape[attrs["axis"]]
    return (_learned(attrs, c), 2 * c)


def _layernorm_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    return (_learned(attrs, inputs[0].shape[attrs["axis"]]), 0)


def _flops(per_element: int):
    def flops(attrs: dict, inputs: list[TensorType], out: TensorType):
        return per_element * out.size

    return flops


def _norm_kwargs(attrs: dict, ctx) -> dict:
    from nnlang.layers import flaxops as fx

    return {
        "epsilon": attrs["eps"],
        "use_scale": bool(attrs["scale"]),
        "use_bias": bool(attrs["bias"]),
        "scale_init": fx.initializer(attrs["init"]),
        "bias_init": fx.initializer(attrs["bias_init"]),
        "dtype": ctx.dtype,
        "name": ctx.name,
        "parent": ctx.module,
    }


def lower_batchnorm(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    return nn.BatchNorm(
        use_running_average=not ctx.train,
        axis=fx.array_axis(attrs["axis"]),
        momentum=attrs["momentum"],
        **_norm_kwargs(attrs, ctx),
    )


def lower_layernorm(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    axis = fx.array_axis(attrs["axis"])
    return nn.LayerNorm(
        reduction_axes=axis, feature_axes=axis, **_norm_kwargs(attrs, ctx)
    )


def lower_groupnorm(attrs: dict, ctx):
    import flax.linen as nn
    import jax.numpy as jnp

    from nnlang.layers import flaxops as fx

    layer = nn.GroupNorm(num_groups=attrs["groups"], **_norm_kwargs(attrs, ctx))
    axis = fx.array_axis(attrs["axis"])
    if axis == -1:
        return layer
    return lambda x: jnp.moveaxis(layer(jnp.moveaxis(x, axis, -1)), -1, axis)


BATCHNORM = LayerSpec(
    "batchnorm",
    "normalization",
    "Batch normalisation over the feature axis (Keras' BatchNormalization: momentum 0.99, "
    "eps 1e-3); moving statistics are non-trainable parameters.",
    (
        ArgSpec(
            "momentum",
            "float",
            0.99,
            "moving-average momentum (Keras convention; "
            "PyTorch's momentum is 1 - this)",
            lo=0,
            hi=1,
        ),
        _EPS,
        _AXIS,
        _SCALE,
        *_PARAMS,
    ),
    _make_infer("batchnorm"),
    _batchnorm_params,
    _flops(2),
    lower=lower_batchnorm,
)

LAYERNORM = LayerSpec(
    "layernorm",
    "normalization",
    "Layer normalisation over the last axis (Keras' LayerNormalization, eps 1e-3).",
    (_EPS, _AXIS, _SCALE, *_PARAMS),
    _make_infer("layernorm"),
    _layernorm_params,
    _flops(8),
    lower=lower_layernorm,
)


def _groupnorm_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    need_float("groupnorm", x)
    c = _feature_axis("groupnorm", attrs, x)
    g = attrs["groups"]
    if c % g:
        divisors = [d for d in range(1, c + 1) if c % d == 0]
        shown = ", ".join(map(str, divisors[:12])) + (
            ", ..." if len(divisors) > 12 else ""
        )
        raise ShapeError(
            f"groupnorm(groups={g}) needs channels divisible by {g}",
            notes=(f"the input has {c} channels",),
            hint=f"choose groups that divide {c}: {shown}",
        )
    return x


GROUPNORM = LayerSpec(
    "groupnorm",
    "normalization",
    "Group normalisation: channels split into `groups`, each normalised on its own "
    "(Keras' GroupNormalization: 32 groups, eps 1e-3).",
    (
        ArgSpec("groups", "int", 32, "number of channel groups", lo=1),
        _EPS,
        _AXIS,
        _SCALE,
        *_PARAMS,
    ),
    _groupnorm_infer,
    _layernorm_params,
    _flops(8),
    lower=lower_groupnorm,
)

SPECS = (BATCHNORM, LAYERNORM, GROUPNORM)
