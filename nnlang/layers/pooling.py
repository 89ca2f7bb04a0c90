"""Pooling and resizing: ``maxpool``, ``avgpool`` (and their ``1d/2d/3d`` forms),
``global_avgpool``, ``global_maxpool``, ``upsample``, ``zero_pad``, ``crop``.

Windows follow the convolution arithmetic of :mod:`nnlang.layers.conv`
(``stride`` defaults to ``size``, as in Keras): ``maxpool(2)`` on ``[T, C]``
gives ``[T // 2, C]``. ``zero_pad(n)`` and ``crop(n)`` take an int (every side
of every spatial axis), a list with one int per spatial axis (both sides), or
``[before, after]`` pairs per axis (Keras' ``ZeroPadding2D(((1, 2), (3, 4)))``);
on one spatial axis a flat pair ``[2, 3]`` means before and after, as in Keras'
``ZeroPadding1D((2, 3))``. No pooling layer has parameters. FLOPs: one per
window element per output (pools), one per input element (global pools),
none for copies (upsample nearest, zero_pad, crop); bilinear upsampling is
counted at 4 per output element.

Lowering: ``nn.max_pool`` and ``nn.avg_pool``. ``avgpool`` with
``padding=same`` averages only the window's elements inside the input, as
Keras does (``count_include_pad=False``); explicit padding is zero padding,
counted in the mean (PyTorch's default; ``maxpool`` pads with ``-inf``).
Upsampling repeats elements (``jnp.repeat``) or resizes with
``jax.image.resize(..., "linear")``, which is what Keras' ``bilinear`` does
under JAX.
"""

from __future__ import annotations

from nnlang.dims import Dim, is_static, product
from nnlang.layers.args import ArgSpec, ShapeError
from nnlang.layers.base import LayerSpec
from nnlang.layers.conv import PADDINGS, spatial_out, window_geometry
from nnlang.layers.rules import SPATIAL_PATTERNS, expand, spatial_rank
from nnlang.types import TensorType
from nnlang.values import format_value

# ------------------------------------------------------------------ windows


def _make_pool_infer(name: str, fixed: int | None, need_float: bool):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        if need_float and not x.is_float:
            raise ShapeError(f"{name} needs a floating-point input")
        r, ks, ss, ds, pads = window_geometry(name, attrs, x, fixed, size_key="size")
        return x.with_shape(spatial_out(name, x, ks, ss, ds, pads) + (x.shape[-1],))

    return infer


def _pool_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    return out.size * product(expand(attrs["size"], inputs[0].rank - 1))


def _pool_finalize(attrs: dict) -> dict:
    if attrs["stride"] is None:
        return {**attrs, "stride": attrs["size"]}
    return attrs


def _make_pool_lower(kind: str):
    def lower(attrs: dict, ctx):
        import flax.linen as nn

        from nnlang.layers import flaxops as fx
        from nnlang.layers.fastconv import pool_strategy, window_max

        def pool(x):
            rank = x.ndim - 2
            window = fx.per_axis(attrs["size"], rank)
            strides = fx.per_axis(attrs["stride"], rank)
            padding = fx.conv_padding(attrs["padding"], rank)
            if kind == "maxpool":
                if pool_strategy(x.shape, window, strides, padding) == "reshape":
                    return window_max(x, window)
                return nn.max_pool(x, window, strides, padding)
            exclude = padding == "SAME"
            return nn.avg_pool(
                x, window, strides, padding, count_include_pad=not exclude
            )

        return pool

    return lower


def _pool_spec(kind: str, fixed: int | None) -> LayerSpec:
    name = kind + (f"{fixed}d" if fixed else "")
    what = "maximum" if kind == "maxpool" else "mean"
    doc = (
        f"The {what} over windows of `size` per spatial axis, moved by `stride` "
        "(default: `size`)."
        if fixed is None
        else f"`{kind}` on exactly {fixed} spatial axes: input {SPATIAL_PATTERNS[fixed]}."
    )
    args = (
        ArgSpec("size", "ints", doc="window size per spatial axis", lo=1),
        ArgSpec("stride", "ints", None, "step per spatial axis (default: size)", lo=1),
        ArgSpec(
            "padding",
            "padding",
            "valid",
            "valid, same, or explicit padding",
            choices=PADDINGS,
        ),
    )
    return LayerSpec(
        name,
        "pooling",
        doc,
        args,
        _make_pool_infer(name, fixed, kind == "avgpool"),
        flops=_pool_flops,
        lower=_make_pool_lower(kind),
        rank=fixed,
        finalize=_pool_finalize,
    )


# ------------------------------------------------------------------ global pools


def _make_global_infer(name: str):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        r = spatial_rank(name, x)
        if name == "global_avgpool" and not x.is_float:
            raise ShapeError(f"{name} needs a floating-point input")
        tail = (1,) * r if attrs["keepdims"] else ()
        return x.with_shape(tail + (x.shape[-1],))

    return infer


def _global_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    return inputs[0].size


def _make_global_lower(name: str):
    def lower(attrs: dict, ctx):
        import jax.numpy as jnp

        reduce = jnp.mean if name == "global_avgpool" else jnp.max
        keepdims = bool(attrs["keepdims"])
        return lambda x: reduce(x, axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)

    return lower


def _global_spec(name: str, what: str) -> LayerSpec:
    return LayerSpec(
        name,
        "pooling",
        f"The {what} over every spatial axis: `[*S, C]` → `[C]` (`keepdims=true`: "
        "`[1, ..., 1, C]`).",
        (ArgSpec("keepdims", "bool", False, "keep the spatial axes with size 1"),),
        _make_global_infer(name),
        flops=_global_flops,
        lower=_make_global_lower(name),
    )


# ------------------------------------------------------------------ resizing


def _upsample_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    r = spatial_rank("upsample", x)
    fs = expand(attrs["factor"], r)
    if fs is None:
        raise ShapeError(
            f"upsample with factor={list(attrs['factor'])} needs an input of "
            f"shape {SPATIAL_PATTERNS.get(len(attrs['factor']), '[..., C]')}"
        )
    return x.with_shape(tuple(x.shape[i] * fs[i] for i in range(r)) + (x.shape[-1],))


def _upsample_flops(attrs: dict, inputs: list[TensorType], out: TensorType) -> Dim:
    return 0 if attrs["interpolation"] == "nearest" else 4 * out.size


def lower_upsample(attrs: dict, ctx):
    import jax
    import jax.numpy as jnp

    from nnlang.layers import flaxops as fx

    def up(x):
        factors = fx.per_axis(attrs["factor"], x.ndim - 2)
        if attrs["interpolation"] == "bilinear":
            shape = (
                x.shape[0],
                *(n * f for n, f in zip(x.shape[1:-1], factors, strict=True)),
                x.shape[-1],
            )
            return jax.image.resize(x, shape, "linear")
        for axis, f in enumerate(factors, start=1):
            x = jnp.repeat(x, f, axis=axis)
        return x

    return up


UPSAMPLE = LayerSpec(
    "upsample",
    "pooling",
    "Repeats each spatial position `factor` times per axis (Keras' UpSampling, nearest "
    "by default).",
    (
        ArgSpec("factor", "ints", 2, "growth per spatial axis", lo=1),
        ArgSpec(
            "interpolation",
            "option",
            "nearest",
            "nearest or bilinear",
            choices=("nearest", "bilinear"),
        ),
    ),
    _upsample_infer,
    flops=_upsample_flops,
    lower=lower_upsample,
)


def side_pads(name: str, n, r: int) -> tuple[tuple[int, int], ...]:
    """``zero_pad``/``crop`` amounts as ``(before, after)`` per spatial axis."""
    if isinstance(n, int):
        return ((n, n),) * r
    if all(isinstance(v, tuple) for v in n):
        pairs = n
    elif r == 1 and len(n) == 2:
        pairs = (n,)
    else:
        pairs = tuple((v, v) for v in n)
    if len(pairs) != r:
        shown = [list(p) if isinstance(p, tuple) else p for p in n]
        raise ShapeError(
            f"{name}({shown}) needs an input of shape "
            f"{SPATIAL_PATTERNS.get(len(pairs), '[..., C]')}"
        )
    return pairs


def _zero_pad_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    pairs = side_pads("zero_pad", attrs["n"], spatial_rank("zero_pad", x))
    return x.with_shape(
        tuple(x.shape[i] + lo + hi for i, (lo, hi) in enumerate(pairs)) + (x.shape[-1],)
    )


def _crop_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    pairs = side_pads("crop", attrs["n"], spatial_rank("crop", x))
    out = []
    for i, (lo, hi) in enumerate(pairs):
        n = x.shape[i]
        if is_static(n) and n <= lo + hi:
            raise ShapeError(
                f"crop({format_value(attrs['n'])}) needs spatial axis {i} longer than "
                f"{lo + hi}"
            )
        out.append(n - lo - hi)
    return x.with_shape(tuple(out) + (x.shape[-1],))


def lower_zero_pad(attrs: dict, ctx):
    import jax.numpy as jnp

    def pad(x):
        pairs = side_pads("zero_pad", attrs["n"], x.ndim - 2)
        return jnp.pad(x, [(0, 0), *pairs, (0, 0)])

    return pad


def lower_crop(attrs: dict, ctx):
    def crop(x):
        pairs = side_pads("crop", attrs["n"], x.ndim - 2)
        kept = (
            slice(lo, n - hi) for (lo, hi), n in zip(pairs, x.shape[1:-1], strict=True)
        )
        return x[(slice(None), *kept)]

    return crop


_PADS_DOC = "an int, one int per spatial axis, or [before, after] pairs"

ZERO_PAD = LayerSpec(
    "zero_pad",
    "pooling",
    "Adds zeros around the spatial axes (Keras' ZeroPadding).",
    (ArgSpec("n", "pads", 1, _PADS_DOC),),
    _zero_pad_infer,
    lower=lower_zero_pad,
)

CROP = LayerSpec(
    "crop",
    "pooling",
    "Removes rows and columns at the edges (Keras' Cropping).",
    (ArgSpec("n", "pads", doc=_PADS_DOC),),
    _crop_infer,
    lower=lower_crop,
)

SPECS = (
    *(
        _pool_spec(kind, rank)
        for kind in ("maxpool", "avgpool")
        for rank in (None, 1, 2, 3)
    ),
    _global_spec("global_avgpool", "mean"),
    _global_spec("global_maxpool", "maximum"),
    UPSAMPLE,
    ZERO_PAD,
    CROP,
)
