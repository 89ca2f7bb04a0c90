"""Activation layers: one entry per function of :data:`~nnlang.layers.args.ACTIVATIONS`.

``relu`` as a line of a model is the same function as ``act=relu`` on the layer
before it; the layer form takes the function's parameters as arguments
(``leaky_relu(0.2)``, ``softmax(axis=0)``). Each costs one FLOP per element and
lowers to the ``jax.nn`` function (:func:`nnlang.layers.flaxops.activation`).
"""

from __future__ import annotations

from nnlang.layers.args import ACTIVATIONS, FunctionSpec, ShapeError
from nnlang.layers.base import LayerSpec
from nnlang.layers.rules import need_float
from nnlang.types import TensorType
from nnlang.values import CallValue


def _make_infer(name: str, has_axis: bool):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        need_float(name, x)
        if has_axis and not -x.rank <= attrs["axis"] < x.rank:
            raise ShapeError(
                f"{name}(axis={attrs['axis']}) needs an input with at least "
                f"{attrs['axis'] + 1 if attrs['axis'] >= 0 else -attrs['axis']} "
                "axes (the batch axis does not count)"
            )
        return x

    return infer


def _per_element(attrs: dict, inputs: list[TensorType], out: TensorType):
    return out.size


def _make_lower(name: str):
    def lower(attrs: dict, ctx):
        from nnlang.layers import flaxops

        return flaxops.activation(CallValue(name, (), dict(attrs)))

    return lower


def _activation_layer(fn: FunctionSpec) -> LayerSpec:
    has_axis = any(p.name == "axis" for p in fn.params)
    return LayerSpec(
        fn.name,
        "activations",
        f"The activation `{fn.name}`: {fn.doc}.",
        fn.params,
        _make_infer(fn.name, has_axis),
        flops=_per_element,
        lower=_make_lower(fn.name),
    )


SPECS = tuple(_activation_layer(fn) for fn in ACTIVATIONS.values())
