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


def _global_spec(name: str, what: str) -> LayerSpec:
    return LayerSpec(
        name,
        "pooling",
        f"The {what} over every spatial axis: `[*S, C]` → `[C]` (`keepdims=true`: "
        "`[1, ..., 1, C]`).",
        (ArgSpec("keepdims", "bool", False, "keep the spatial axes with size 1"),),
        _make_global_infer(name),
        flops=_global_flops,
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


_PADS_DOC = "an int, one int per spatial axis, or [before, after] pairs"

ZERO_PAD = LayerSpec(
    "zero_pad",
    "pooling",
    "Adds zeros around the spatial axes (Keras' ZeroPadding).",
    (ArgSpec("n", "pads", 1, _PADS_DOC),),
    _zero_pad_infer,
)

CROP = LayerSpec(
    "crop",
    "pooling",
    "Removes rows and columns at the edges (Keras' Cropping).",
    (ArgSpec("n", "pads", doc=_PADS_DOC),),
    _crop_infer,
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
