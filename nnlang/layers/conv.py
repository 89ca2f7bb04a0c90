"""Convolutions: ``conv`` (and ``conv1d/2d/3d``), ``depthwise_conv``, ``separable_conv``,
``conv_transpose``.

Inputs are channels-last, ``[*spatial, C]`` with 1 to 3 spatial axes; ``conv``
takes its spatial rank from the input, ``conv2d`` also checks it. ``kernel``,
``stride`` and ``dilation`` are an int (every axis) or a list (one per axis).

Output size per spatial axis ``n`` (kernel ``k``, stride ``s``, dilation ``d``,
extent ``e = (k - 1) * d + 1``), as in Keras and Flax (``lax`` padding
``'SAME'``/``'VALID'``):

* ``padding=valid``: ``(n - e) // s + 1``
* ``padding=same``: ``(n + s - 1) // s`` (that is, ``ceil(n / s)``)
* ``padding=p`` (int, or a list per axis, or ``[before, after]`` pairs):
  ``(n + before + after - e) // s + 1``
* ``conv_transpose``: ``n * s`` with ``same``, ``n * s + max(e - s, 0)`` with
  ``valid`` (Keras' ``deconv_output_length`` without ``output_padding``, which
  is also what ``flax.linen.ConvTranspose`` / ``lax.conv_transpose`` give).

Parameter counts follow Keras: ``conv`` has ``prod(k) * C / groups * filters``
weights plus ``filters`` biases; ``depthwise_conv`` ``prod(k) * C * multiplier``
plus ``C * multiplier``; ``separable_conv`` the depthwise weights, then
``C * multiplier * filters`` pointwise weights, plus ``filters``;
``conv_transpose`` ``prod(k) * C * filters`` plus ``filters``.

Lowering (each entry's ``lower_*``, JAX imported inside): ``nn.Conv`` with
``feature_group_count`` (``groups``; ``C`` for ``depthwise_conv``, with
``C * multiplier`` features, whose grouped kernel ``[*k, 1, C * m]`` holds Keras'
``[*k, C, m]`` weights in the same order), :class:`~nnlang.layers.flaxops.SeparableConv`
(depthwise then pointwise under one name) and ``nn.ConvTranspose`` (kernel
``[*k, C, filters]``, not flipped: Keras stores ``[*k, filters, C]`` and flips,
so weights move between the two with a transpose and a flip, but counts and
shapes agree). Fixed ``weights`` become the kernel's initial value, a
parameter like any other: ``trainable=false`` holds it.
"""

from __future__ import annotations

from nnlang.dims import Dim, is_static, product
from nnlang.layers.args import ArgError, ArgSpec, ShapeError, act_arg, param_args
from nnlang.layers.base import LayerSpec, nested_shape
from nnlang.layers.rules import (
    SPATIAL_PATTERNS,
    act_flops,
    expand,
    need_float,
    need_static,
    spatial_rank,
)
from nnlang.types import TensorType
from nnlang.values import format_value

PADDINGS = ("valid", "same")

# ------------------------------------------------------------------ geometry


def window_extent(k: int, d: int) -> int:
    """The span of a dilated window: ``(k - 1) * d + 1``."""
    return (k - 1) * d + 1


def axis_pads(padding, r: int, layer: str) -> tuple | str:
    """``padding`` as ``"valid"``, ``"same"`` or ``r`` ``(before, after)`` pairs."""
    if isinstance(padding, str):
        return str(padding)
    if isinstance(padding, int):
        return ((padding, padding),) * r
    if len(padding) != r:
        raise ShapeError(
            f"{layer} with padding={list(padding)} needs an input of shape "
            f"{SPATIAL_PATTERNS.get(len(padding), '[..., C]')}"
        )
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def window_out(n: Dim, k: int, s: int, d: int, pad) -> Dim:
    """Output length of a sliding window (conv or pool) along one axis."""
    if pad == "same":
        return (n + s - 1) // s
    lo, hi = (0, 0) if pad == "valid" else pad
    return (n + lo + hi - window_extent(k, d)) // s + 1


def transpose_out(n: Dim, k: int, s: int, d: int, pad: str) -> Dim:
    """Output length of a transposed convolution along one axis (Keras/Flax)."""
    if pad == "same":
        return n * s
    return n * s + max(window_extent(k, d) - s, 0)


def _tuple_arg(attrs: dict, key: str, r: int, layer: str) -> tuple[int, ...]:
    value = expand(attrs[key], r)
    if value is None:
        raise ShapeError(
            f"{layer} with {key}={list(attrs[key])} needs an input of shape "
            f"{SPATIAL_PATTERNS.get(len(attrs[key]), '[..., C]')}"
        )
    return value


def window_geometry(
    layer: str, attrs: dict, x: TensorType, fixed: int | None, size_key: str = "kernel"
) -> tuple[int, tuple, tuple, tuple, object]:
    """Spatial rank, window sizes, strides, dilations and pads for a windowed layer."""
    given = attrs[size_key]
    r = (
        len(given)
        if isinstance(given, tuple) and fixed is None and len(given) in SPATIAL_PATTERNS
        else None
    )
    if r is not None and x.rank - 1 != r:
        raise ShapeError(
            f"{layer} with {size_key}={list(given)} needs an input of shape "
            f"{SPATIAL_PATTERNS[r]}"
        )
    r = spatial_rank(layer, x, fixed)
    ks = _tuple_arg(attrs, size_key, r, layer)
    ss = _tuple_arg(attrs, "stride", r, layer)
    ds = _tuple_arg(attrs, "dilation", r, layer) if "dilation" in attrs else (1,) * r
    return r, ks, ss, ds, axis_pads(attrs["padding"], r, layer)


def spatial_out(layer: str, x: TensorType, ks, ss, ds, pads) -> tuple[Dim, ...]:
    """Output spatial dims, with a shape error where a static axis is too short."""
    r = len(ks)
    out = []
    for i in range(r):
        n = x.shape[i]
        pad = pads if isinstance(pads, str) else pads[i]
        if is_static(n) and pad != "same":
            lo, hi = (0, 0) if pad == "valid" else pad
            if n + lo + hi < window_extent(ks[i], ds[i]):
                extent = [window_extent(k, d) for k, d in zip(ks, ds, strict=True)]
                pad_text = pads if isinstance(pads, str) else "its padding"
                raise ShapeError(
                    f"{layer} with a window of {extent} and padding={pad_text} needs "
                    f"spatial axes of at least {extent}",
                    hint="use padding=same, or a smaller kernel or pool size",
                )
        out.append(window_out(n, ks[i], ss[i], ds[i], pad))
    return tuple(out)


def _channels(layer: str, x: TensorType) -> int:
    return need_static(layer, x.shape[-1], "its channel axis (the last)")


# ------------------------------------------------------------------ conv


def _check_weights(layer: str, attrs: dict, ks: tuple, c_in: int) -> None:
    weights = attrs.get("weights")
    if weights is None:
        return
    shape, r, f = nested_shape(weights), len(ks), attrs["filters"]
    if shape == ks:
        return
    if len(shape) == r + 2 and shape[:r] == ks:
        if shape[r] != c_in:
            raise ShapeError(
                f"{layer} with kernel values of shape {list(shape)} needs "
                f"{shape[r] * attrs['groups']} input channels"
            )
        if shape[r + 1] == f:
            return
        raise ShapeError(
            f"{layer} with {f} filters needs kernel values of shape "
            f"{[*ks, c_in, f]}; the values have shape {list(shape)}"
        )
    ranks = [n for n in (len(shape), len(shape) - 2) if n in SPATIAL_PATTERNS]
    raise ShapeError(
        f"{layer} with kernel values of shape {list(shape)} needs an input "
        f"of shape {' or '.join(SPATIAL_PATTERNS[n] for n in ranks)}",
        notes=(
            "kernel values nest one level per spatial axis, or are laid "
            "out [*kernel, C / groups, filters]",
        ),
    )


def _make_conv_infer(name: str, fixed: int | None):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        need_float(name, x)
        weights = attrs.get("weights")
        if weights is not None:
            r = x.rank - 1
            shape = nested_shape(weights)
            if r in SPATIAL_PATTERNS and len(shape) in (r, r + 2):
                given, ks = attrs["kernel"], tuple(shape[:r])
                if given != tuple(shape) and expand(given, r) != ks:
                    raise ShapeError(
                        f"{name} with kernel={format_value(given)} needs kernel values "
                        f"of shape {list(expand(given, r) or given)}",
                        notes=(f"the values have shape {list(shape)}",),
                    )
                attrs = {**attrs, "kernel": ks}
        r, ks, ss, ds, pads = window_geometry(name, attrs, x, fixed)
        c = _channels(name, x)
        g = attrs["groups"]
        if c % g:
            raise ShapeError(
                f"{name}(groups={g}) needs input channels divisible by {g}",
                notes=(f"the input has {c} channels",),
            )
        _check_weights(name, attrs, ks, c // g)
        return x.with_shape(
            spatial_out(name, x, ks, ss, ds, pads) + (attrs["filters"],)
        )

    return infer


def _kernel_sizes(attrs: dict, x: TensorType) -> tuple[int, ...]:
    r = x.rank - 1
    weights = attrs.get("weights")
    if weights is not None:
        return nested_shape(weights)[:r]
    return expand(attrs["kernel"], r)


def _conv_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    x = inputs[0]
    f = attrs["filters"]
    weights = product(_kernel_sizes(attrs, x)) * (x.shape[-1] // attrs["groups"]) * f
    return (weights + (f if attrs["bias"] else 0), 0)


def _conv_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    x = inputs[0]
    per_output = product(_kernel_sizes(attrs, x)) * (x.shape[-1] // attrs["groups"])
    return 2 * product(out.shape[:-1]) * out.shape[-1] * per_output + act_flops(
        attrs, out
    )


def _make_conv_finalize(name: str):
    def finalize(attrs: dict) -> dict:
        f, g = attrs["filters"], attrs["groups"]
        if f % g:
            raise ArgError(
                f"argument 'groups' of {name} must divide filters ({f}); got {g}",
                "groups",
            )
        return attrs

    return finalize


def _window_args(padding_kind: str = "padding") -> tuple[ArgSpec, ...]:
    pad = ArgSpec(
        "padding",
        padding_kind,
        "valid",
        "valid, same, or explicit zero padding (int, per axis, or pairs)"
        if padding_kind == "padding"
        else "valid or same",
        choices=PADDINGS,
    )
    return (
        ArgSpec("stride", "ints", 1, "step per spatial axis", lo=1),
        pad,
        ArgSpec("dilation", "ints", 1, "gap between kernel taps", lo=1),
    )


_CONV_DOC = (
    "A convolution over 1 to 3 spatial axes of a channels-last input. Fixed weights: "
    "`conv(1, 3, kernel=[[0, -1, 0], [-1, 5, -1], [0, -1, 0]], trainable=false)` gives the "
    "size positionally and the values by keyword (they must agree; stored as the "
    "`weights` attr); `conv(1, kernel=[[...]])` takes the size from the values. Values "
    "nest one level per spatial axis (one filter shared by every input and output "
    "channel) or have Keras' full layout `[*kernel, C / groups, filters]`."
)


def lower_conv(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx
    from nnlang.layers.fastconv import PatchConv, conv_strategy

    def build(x):
        rank = x.ndim - 2
        kwargs = fx.layer_kwargs(attrs, ctx)
        if attrs.get("weights") is not None:
            kwargs["kernel_init"] = fx.fixed_kernel(attrs["weights"], rank)
        kernel = fx.per_axis(attrs["kernel"], rank)
        geometry = {
            "strides": fx.per_axis(attrs["stride"], rank),
            "padding": fx.conv_padding(attrs["padding"], rank),
            "kernel_dilation": fx.per_axis(attrs["dilation"], rank),
        }
        groups = attrs["groups"]
        if conv_strategy(x.shape, kernel, x.shape[-1], groups) == "patches":
            layer = PatchConv(attrs["filters"], kernel, **geometry, **kwargs)
        else:
            layer = nn.Conv(
                attrs["filters"], kernel, feature_group_count=groups,
                **geometry, **kwargs,
            )  # fmt: skip
        return fx.with_activation(layer, attrs)

    return fx.lazy(build)


def _conv_spec(name: str, fixed: int | None) -> LayerSpec:
    args = (
        ArgSpec("filters", "int", doc="output channels", lo=1),
        ArgSpec(
            "kernel",
            "kernel",
            doc="window size per spatial axis, or fixed values",
            lo=1,
        ),
        *_window_args(),
        ArgSpec(
            "groups",
            "int",
            1,
            "grouped convolution: C and filters split in groups",
            lo=1,
        ),
        act_arg(),
        *param_args(),
    )
    doc = (
        _CONV_DOC
        if fixed is None
        else f"`conv` on exactly {fixed} spatial axes: input {SPATIAL_PATTERNS[fixed]}."
    )
    return LayerSpec(
        name,
        "convolution",
        doc,
        args,
        _make_conv_infer(name, fixed),
        _conv_params,
        _conv_flops,
        lower=lower_conv,
        rank=fixed,
        finalize=_make_conv_finalize(name),
    )


# ------------------------------------------------------------------ depthwise, separable


def _make_depthwise_infer(name: str, separable: bool):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        need_float(name, x)
        r, ks, ss, ds, pads = window_geometry(name, attrs, x, None)
        c = _channels(name, x)
        out_c = attrs["filters"] if separable else c * attrs["multiplier"]
        return x.with_shape(spatial_out(name, x, ks, ss, ds, pads) + (out_c,))

    return infer


def _depthwise_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    x = inputs[0]
    cm = x.shape[-1] * attrs["multiplier"]
    return (
        product(expand(attrs["kernel"], x.rank - 1)) * cm
        + (cm if attrs["bias"] else 0),
        0,
    )


def _depthwise_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    x = inputs[0]
    k = product(expand(attrs["kernel"], x.rank - 1))
    return 2 * product(out.shape[:-1]) * out.shape[-1] * k + act_flops(attrs, out)


def _separable_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    x = inputs[0]
    cm, f = x.shape[-1] * attrs["multiplier"], attrs["filters"]
    k = product(expand(attrs["kernel"], x.rank - 1))
    return (k * cm + cm * f + (f if attrs["bias"] else 0), 0)


def _separable_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    x = inputs[0]
    cm = x.shape[-1] * attrs["multiplier"]
    k = product(expand(attrs["kernel"], x.rank - 1))
    return 2 * product(out.shape[:-1]) * (cm * k + cm * out.shape[-1]) + act_flops(
        attrs, out
    )


def lower_depthwise_conv(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    def build(x):
        rank, channels = x.ndim - 2, x.shape[-1]
        layer = nn.Conv(
            channels * attrs["multiplier"],
            fx.per_axis(attrs["kernel"], rank),
            strides=fx.per_axis(attrs["stride"], rank),
            padding=fx.conv_padding(attrs["padding"], rank),
            kernel_dilation=fx.per_axis(attrs["dilation"], rank),
            feature_group_count=channels,
            **fx.layer_kwargs(attrs, ctx),
        )
        return fx.with_activation(layer, attrs)

    return fx.lazy(build)


def lower_separable_conv(attrs: dict, ctx):
    from nnlang.layers import flaxops as fx

    def build(x):
        rank = x.ndim - 2
        layer = fx.SeparableConv(
            attrs["filters"],
            fx.per_axis(attrs["kernel"], rank),
            attrs["multiplier"],
            strides=fx.per_axis(attrs["stride"], rank),
            padding=fx.conv_padding(attrs["padding"], rank),
            kernel_dilation=fx.per_axis(attrs["dilation"], rank),
            **fx.layer_kwargs(attrs, ctx),
        )
        return fx.with_activation(layer, attrs)

    return fx.lazy(build)


_MULTIPLIER = ArgSpec("multiplier", "int", 1, "output channels per input channel", lo=1)
_KERNEL = ArgSpec("kernel", "ints", doc="window size per spatial axis", lo=1)

DEPTHWISE_CONV = LayerSpec(
    "depthwise_conv",
    "convolution",
    "A convolution of each input channel on its own (Keras' DepthwiseConv): `[*S, C]` → "
    "`[*S', C * multiplier]`.",
    (_KERNEL, _MULTIPLIER, *_window_args(), act_arg(), *param_args()),
    _make_depthwise_infer("depthwise_conv", False),
    _depthwise_params,
    _depthwise_flops,
    lower=lower_depthwise_conv,
)

SEPARABLE_CONV = LayerSpec(
    "separable_conv",
    "convolution",
    "A depthwise convolution then a 1×1 convolution to `filters` channels (Keras' "
    "SeparableConv); one `init` for both kernels.",
    (
        ArgSpec("filters", "int", doc="output channels", lo=1),
        _KERNEL,
        _MULTIPLIER,
        *_window_args(),
        act_arg(),
        *param_args(),
    ),
    _make_depthwise_infer("separable_conv", True),
    _separable_params,
    _separable_flops,
    lower=lower_separable_conv,
)

# ------------------------------------------------------------------ transpose


def _transpose_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    need_float("conv_transpose", x)
    r, ks, ss, ds, pad = window_geometry("conv_transpose", attrs, x, None)
    _channels("conv_transpose", x)
    spatial = tuple(
        transpose_out(x.shape[i], ks[i], ss[i], ds[i], pad) for i in range(r)
    )
    return x.with_shape(spatial + (attrs["filters"],))


def _transpose_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    x = inputs[0]
    f = attrs["filters"]
    k = product(expand(attrs["kernel"], x.rank - 1))
    return (k * x.shape[-1] * f + (f if attrs["bias"] else 0), 0)


def _transpose_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    x = inputs[0]
    k = product(expand(attrs["kernel"], x.rank - 1))
    return 2 * product(x.shape[:-1]) * x.shape[-1] * k * out.shape[-1] + act_flops(
        attrs, out
    )


def lower_conv_transpose(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    def build(x):
        rank = x.ndim - 2
        layer = nn.ConvTranspose(
            attrs["filters"],
            fx.per_axis(attrs["kernel"], rank),
            strides=fx.per_axis(attrs["stride"], rank),
            padding=fx.conv_padding(attrs["padding"], rank),
            kernel_dilation=fx.per_axis(attrs["dilation"], rank),
            **fx.layer_kwargs(attrs, ctx),
        )
        return fx.with_activation(layer, attrs)

    return fx.lazy(build)


CONV_TRANSPOSE = LayerSpec(
    "conv_transpose",
    "convolution",
    "A transposed convolution (Keras' ConvTranspose): each axis grows to `n * stride` "
    "with padding=same, `n * stride + max(extent - stride, 0)` with valid.",
    (
        ArgSpec("filters", "int", doc="output channels", lo=1),
        _KERNEL,
        *_window_args("option"),
        act_arg(),
        *param_args(),
    ),
    _transpose_infer,
    _transpose_params,
    _transpose_flops,
    lower=lower_conv_transpose,
)

SPECS = (
    _conv_spec("conv", None),
    _conv_spec("conv1d", 1),
    _conv_spec("conv2d", 2),
    _conv_spec("conv3d", 3),
    DEPTHWISE_CONV,
    SEPARABLE_CONV,
    CONV_TRANSPOSE,
)
