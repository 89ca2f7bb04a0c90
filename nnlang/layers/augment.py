"""Train-time augmentation: ``random_flip``, ``random_crop``, ``gaussian_noise``.

Each is random while training and deterministic at evaluation (``train_only``):
``random_flip`` and ``gaussian_noise`` are the identity there, and
``random_crop`` takes the centre crop, as Keras' RandomCrop does, so the
output shape is the same in both modes. None has parameters, and none costs
FLOPs at inference.

Lowering: every random draw comes from the ``dropout`` rng stream
(``ctx.module.make_rng("dropout")``), so one stream serves dropout, noise and
augmentation. Flips and crops are drawn per example.
"""

from __future__ import annotations

from nnlang.dims import is_static
from nnlang.layers.args import ArgSpec, ShapeError
from nnlang.layers.base import LayerSpec
from nnlang.layers.rules import SPATIAL_PATTERNS, need_float
from nnlang.types import TensorType, format_shape


def _flip_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    if x.rank != 3:
        raise ShapeError("random_flip needs an input of shape [H, W, C]")
    return x


def lower_random_flip(attrs: dict, ctx):
    import jax
    import jax.numpy as jnp

    if not ctx.train:
        return lambda x: x
    axes = {"horizontal": (2,), "vertical": (1,), "both": (1, 2)}[str(attrs["mode"])]

    def flip(x):
        keys = jax.random.split(ctx.module.make_rng("dropout"), len(axes))
        for key, axis in zip(keys, axes, strict=True):
            coin = jax.random.bernoulli(key, 0.5, (x.shape[0],) + (1,) * (x.ndim - 1))
            x = jnp.where(coin, jnp.flip(x, axis=axis), x)
        return x

    return flip


RANDOM_FLIP = LayerSpec(
    "random_flip",
    "augmentation",
    "Flips images left-right (`horizontal`), upside down (`vertical`) or either "
    "(`both`, Keras' default) at random while training.",
    (
        ArgSpec(
            "mode",
            "option",
            "both",
            "which flips",
            choices=("horizontal", "vertical", "both"),
        ),
    ),
    _flip_infer,
    lower=lower_random_flip,
    train_only=True,
)


def _crop_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    size = attrs["shape"]
    shown = format_shape(size)
    if len(size) == x.rank and x.rank > 1:  # the whole output shape, channels included
        if size[-1] != x.shape[-1]:
            raise ShapeError(
                f"random_crop({shown}) needs an input with {size[-1]} channels",
                notes=("random_crop keeps the channels; give the spatial size only",),
            )
        size = size[:-1]
    r = len(size)
    if x.rank != r + 1:
        raise ShapeError(
            f"random_crop({shown}) needs an input of shape "
            f"{SPATIAL_PATTERNS.get(r, '[*S, C]')}",
            notes=("the crop shape lists the spatial axes; channels stay",),
        )
    for i, s in enumerate(size):
        n = x.shape[i]
        if is_static(n) and n < s:
            raise ShapeError(
                f"random_crop({shown}) needs spatial axes of at least "
                f"{format_shape(size)}",
                hint=f"axis {i} has only {n}; pad first with zero_pad",
            )
    return x.with_shape(tuple(size) + (x.shape[-1],))


def lower_random_crop(attrs: dict, ctx):
    import jax

    def crop(x):
        spatial = tuple(int(s) for s in attrs["shape"][: x.ndim - 2])
        room = [n - s for n, s in zip(x.shape[1:-1], spatial, strict=True)]
        if not ctx.train:  # the centre window, as Keras' RandomCrop at inference
            starts = [r // 2 for r in room]
            index = (slice(a, a + s) for a, s in zip(starts, spatial, strict=True))
            return x[(slice(None), *index)]
        keys = jax.random.split(ctx.module.make_rng("dropout"), len(room))
        starts = [
            jax.random.randint(k, (x.shape[0],), 0, r + 1)
            for k, r in zip(keys, room, strict=True)
        ]

        def one(example, *corner):
            return jax.lax.dynamic_slice(
                example, (*corner, 0), (*spatial, example.shape[-1])
            )

        return jax.vmap(one)(x, *starts)

    return crop


RANDOM_CROP = LayerSpec(
    "random_crop",
    "augmentation",
    "A random window of `shape` while training, the centre one at evaluation: "
    "`random_crop([24, 24])` on `[28, 28, 1]` gives `[24, 24, 1]`. The shape lists the "
    "spatial axes (Keras' RandomCrop(height, width)) or the whole output shape with the "
    "channels unchanged (`random_crop([24, 24, 1])`).",
    (
        ArgSpec(
            "shape", "shape", doc="size of the crop (spatial, or with the channels)"
        ),
    ),
    _crop_infer,
    lower=lower_random_crop,
    train_only=True,
)


def _noise_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    need_float("gaussian_noise", x)
    return x


def lower_gaussian_noise(attrs: dict, ctx):
    import jax

    if not ctx.train:
        return lambda x: x

    def noise(x):
        key = ctx.module.make_rng("dropout")
        return x + attrs["std"] * jax.random.normal(key, x.shape, x.dtype)

    return noise


GAUSSIAN_NOISE = LayerSpec(
    "gaussian_noise",
    "augmentation",
    "Adds zero-mean normal noise of standard deviation `std` while training.",
    (ArgSpec("std", "float", doc="noise standard deviation", lo=0),),
    _noise_infer,
    lower=lower_gaussian_noise,
    train_only=True,
)

SPECS = (RANDOM_FLIP, RANDOM_CROP, GAUSSIAN_NOISE)
