"""Merging layers on tuple flows: ``add``, ``multiply``, ``average``, ``concat``.

``add``, ``multiply`` and ``average`` take two or more tensors whose shapes
broadcast (NumPy rules, aligned from the last axis; a dim broadcasts when the
two are equal or one is 1; symbolic dims must be equal). ``a + b`` and ``a * b``
in `.nn` are ``add`` and ``multiply``. ``concat(axis=-1)`` joins along one
axis; the others must be equal, and the joined axis is the (possibly
symbolic) sum: ``[T, 8]`` and ``[5, 8]`` on axis 0 give ``[T + 5, 8]``. Axes
count without the batch axis, so Keras' ``Concatenate(axis=1)`` is ``axis=0``
here (negative axes agree). FLOPs: one per output element per extra operand
(``average``: one more for the division); ``concat`` none.

Lowering: plain ``jax.numpy``. Operands of a lower rank get unit axes after the
batch axis, so they broadcast from the last axis as the shape rule says.
"""

from __future__ import annotations

from nnlang.dims import Dim
from nnlang.layers.args import ArgSpec, ShapeError
from nnlang.layers.base import LayerSpec
from nnlang.types import TensorType


def _same_dtype(name: str, inputs: list[TensorType]) -> str:
    dtypes = {t.dtype for t in inputs}
    if len(dtypes) > 1:
        raise ShapeError(
            f"{name} needs operands of one dtype",
            notes=(f"dtypes: {', '.join(t.dtype for t in inputs)}",),
        )
    return inputs[0].dtype


def broadcast_shapes(name: str, shapes: list[tuple[Dim, ...]]) -> tuple[Dim, ...]:
    """The NumPy broadcast of ``shapes``; a :class:`ShapeError` names the axis that clashes."""
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for axis in range(-rank, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        sizes = [d for d in dims if d != 1]
        first = sizes[0] if sizes else 1
        clash = [d for d in sizes if d != first]
        if clash:
            shown = " and ".join(str(d) for d in dict.fromkeys(sizes))
            raise ShapeError(
                f"{name} needs operands of broadcast-compatible shapes",
                notes=(f"axis {axis + rank} differs: {shown}",),
                hint="make the shapes agree first, e.g. with dense or reshape",
            )
        out.append(first)
    return tuple(out)


def _make_elementwise(name: str):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        dtype = _same_dtype(name, inputs)
        if name == "average" and dtype not in ("f32", "f16", "bf16"):
            raise ShapeError("average needs floating-point operands")
        return TensorType(broadcast_shapes(name, [t.shape for t in inputs]), dtype)

    def flops(attrs: dict, inputs: list[TensorType], out: TensorType):
        ops = len(inputs) - (0 if name == "average" else 1)
        return ops * out.size

    return infer, flops


def _align(xs) -> list:
    """Operands with unit axes after the batch axis, up to the highest rank."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _make_lower(name: str):
    def lower(attrs: dict, ctx):
        def merge(*xs):
            xs = _align(xs)
            out = xs[0]
            for x in xs[1:]:
                out = out * x if name == "multiply" else out + x
            return out / len(xs) if name == "average" else out

        return merge

    return lower


def _elementwise_spec(name: str, doc: str) -> LayerSpec:
    infer, flops = _make_elementwise(name)
    return LayerSpec(
        name,
        "merging",
        doc,
        (),
        infer,
        flops=flops,
        lower=_make_lower(name),
        min_inputs=2,
        max_inputs=None,
    )


def _concat_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    axis = attrs["axis"]
    dtype = _same_dtype("concat", inputs)
    ranks = {t.rank for t in inputs}
    if len(ranks) > 1:
        raise ShapeError("concat needs inputs of one rank")
    rank = ranks.pop()
    if not -rank <= axis < rank:
        need = axis + 1 if axis >= 0 else -axis
        raise ShapeError(
            f"concat(axis={axis}) needs inputs with at least {need} axes "
            "(the batch axis does not count)"
        )
    axis %= rank
    first = inputs[0].shape
    for t in inputs[1:]:
        for i in range(rank):
            if i != axis and t.shape[i] != first[i]:
                raise ShapeError(
                    f"concat(axis={attrs['axis']}) needs inputs that agree on "
                    "every other axis",
                    notes=(f"axis {i} differs: {first[i]} and {t.shape[i]}",),
                )
    total: Dim = 0
    for t in inputs:
        total = total + t.shape[axis]
    return TensorType(first[:axis] + (total,) + first[axis + 1 :], dtype)


def lower_concat(attrs: dict, ctx):
    import jax.numpy as jnp

    from nnlang.layers import flaxops as fx

    axis = fx.array_axis(attrs["axis"])
    return lambda *xs: jnp.concatenate(xs, axis=axis)


CONCAT = LayerSpec(
    "concat",
    "merging",
    "Joins a tuple of tensors along `axis` (batch axis excluded; default the last).",
    (ArgSpec("axis", "int", -1, "the joined axis"),),
    _concat_infer,
    lower=lower_concat,
    min_inputs=2,
    max_inputs=None,
)

SPECS = (
    _elementwise_spec("add", "Element-wise sum of a tuple of tensors (`a + b`)."),
    _elementwise_spec(
        "multiply", "Element-wise product of a tuple of tensors (`a * b`)."
    ),
    _elementwise_spec("average", "Element-wise mean of a tuple of tensors."),
    CONCAT,
)
