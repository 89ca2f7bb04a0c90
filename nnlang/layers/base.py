"""The parts of a layer entry, argument binding, and the registry dict.

A layer is one :class:`LayerSpec`: its arguments (:class:`ArgSpec`, with
types, defaults and ranges), a shape-and-dtype rule, a parameter count and a
FLOP count. ``nnc check`` binds a call's arguments with :func:`bind_args` and
runs ``infer``; ``nnc summary`` adds ``count_params`` and ``flops``; the Flax
lowering (:mod:`nnlang.lower`) calls the same entry's ``lower``, so a layer
cannot be checkable but not compilable. Nothing here imports JAX.

Argument kinds (``ArgSpec.kind``) and what binding turns a value into:

=============  ===========================================================  ===============================
kind           accepts                                                      attrs value
=============  ===========================================================  ===============================
int            a whole number (not a bool)                                  ``int``
float          a number                                                     ``float``
number         a number                                                     ``int`` or ``float`` as written
bool           ``true`` / ``false``                                         ``bool``
ints           a whole number or a list of them (one per spatial axis)      ``int`` or ``tuple[int, ...]``
option         a word from ``choices``                                      :class:`~nnlang.values.Word`
padding        a word from ``choices``, an int, a list of ints (per axis)   ``Word``, ``int``, ``tuple``
               or a list of ``[before, after]`` pairs                       (pairs as tuples)
pads           like padding without words (``zero_pad``, ``crop``)         ``int`` or ``tuple``
shape          a list of whole numbers (one ``-1`` allowed), or one int     ``tuple[int, ...]``
kernel         a size (int or list of ints) or nested lists of numbers      sizes; values go to ``weights``
               (fixed weights; see :mod:`nnlang.layers.conv`)
layer          a call or word naming a registry layer in ``choices``        ``CallValue(name, (), attrs)``
activation     a word or call from :data:`ACTIVATIONS`, or ``none``         ``Word`` or ``CallValue``
initializer    a word or call from :data:`INITIALIZERS`                     ``Word`` or ``CallValue``
any            anything                                                     unchanged
=============  ===========================================================  ===============================

Lists become tuples so bound attrs are immutable (they are shared by layers
that re-apply a named layer). A bare function word stays a ``Word``
(``act=relu``); a call is normalised to ``CallValue(name, (), kwargs)`` with
every parameter bound by keyword (``leaky_relu(0.2)`` →
``leaky_relu(alpha=0.2)``); :func:`resolve_function` gives the name and full
parameter dict of either form. ``linear`` as an activation is stored as
``none``. A ``None`` default means "derived from other arguments" and is
filled in by the entry's ``finalize`` (``maxpool``'s ``stride`` defaults to
its ``size``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnlang.diagnostics import folded, foreign_name
from nnlang.dims import Dim
from nnlang.layers.args import (
    ACTIVATIONS,
    INITIALIZERS,
    KEYWORDS,
    KINDS,
    REQUIRED,
    ArgError,
    ArgSpec,
    FunctionSpec,
    ShapeError,
    act_arg,
    param_args,
    resolve_function,
)
from nnlang.layers.binding import bind_args, non_default_attrs, usage
from nnlang.layers.kernels import nested_shape
from nnlang.types import TensorType

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "KINDS",
    "LAYERS",
    "REQUIRED",
    "ArgError",
    "ArgSpec",
    "FunctionSpec",
    "LayerSpec",
    "ShapeError",
    "act_arg",
    "bind_args",
    "is_builtin",
    "lookup",
    "nested_shape",
    "non_default_attrs",
    "param_args",
    "register_layer",
    "resolve_function",
    "unregister_layer",
    "usage",
]

# ------------------------------------------------------------------ layer specs


def _no_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    return (0, 0)


def _no_flops(attrs: dict, inputs: list[TensorType], output: TensorType) -> Dim:
    return 0


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the vocabulary.

    Attributes:
        name: the `.nn` name.
        group: ``core``, ``activations``, ``convolution``, ``pooling``,
            ``normalization``, ``sequence``, ``merging``, ``augmentation`` (or a plugin's).
        doc: a paragraph for the docs.
        args: the arguments in positional order (keyword-only ones last).
        infer: ``(attrs, inputs) -> TensorType``; raises :class:`ShapeError`.
        count_params: ``(attrs, inputs) -> (trainable, non_trainable)``, Keras'
            conventions. ``trainable=false`` is honoured for every entry (the
            counts move to non-trainable), also for plugins.
        flops: ``(attrs, inputs, output) -> Dim`` per example (see
            :mod:`nnlang.layers`).
        lower: the Flax builder, ``(attrs, ctx) -> fn(*arrays) -> array`` with
            ``ctx`` a :class:`nnlang.lower.LowerCtx`; it imports JAX inside
            itself (shared helpers: :mod:`nnlang.layers.flaxops`) and names
            its Flax module ``ctx.name``. None: the layer checks but cannot run.
        min_inputs, max_inputs: how many tensors the layer takes (None: no limit).
        train_only: random at training time, deterministic at evaluation.
        rank: the spatial rank the layer is fixed to (``conv2d``: 2), or None.
        finalize: ``attrs -> attrs`` after binding: derived defaults and
            checks across arguments; raises :class:`ArgError`.
        act_last: ``act=`` is the layer's last operation, so a loss may take a
            final softmax or sigmoid over (logits); False where it acts inside
            (a recurrent cell's ``act`` shapes every step).
    """

    name: str
    group: str
    doc: str
    args: tuple[ArgSpec, ...]
    infer: Callable[[dict, list[TensorType]], TensorType]
    count_params: Callable[[dict, list[TensorType]], tuple[int, int]] = _no_params
    flops: Callable[[dict, list[TensorType], TensorType], Dim] = _no_flops
    lower: Callable[..., Any] | None = None
    min_inputs: int = 1
    max_inputs: int | None = 1
    train_only: bool = False
    rank: int | None = None
    finalize: Callable[[dict], dict] | None = None
    act_last: bool = True
    _by_name: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise ValueError(f"layer {self.name!r} declares an argument twice")
        object.__setattr__(self, "_by_name", {a.name: a for a in self.args})
        object.__setattr__(self, "count_params", _honour_trainable(self.count_params))

    def arg(self, name: str) -> ArgSpec | None:
        return self._by_name.get(name)

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def is_parametric(self) -> bool:
        return "trainable" in self._by_name


def _honour_trainable(count: Callable) -> Callable:
    if getattr(count, "_honours_trainable", False):
        return count

    def counted(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
        trainable, frozen = count(attrs, inputs)
        if attrs.get("trainable", True) is False:
            return (0, trainable + frozen)
        return (trainable, frozen)

    counted._honours_trainable = True  # type: ignore[attr-defined]
    counted.__wrapped__ = count  # type: ignore[attr-defined]
    return counted


# ------------------------------------------------------------------ registry

LAYERS: dict[str, LayerSpec] = {}
"""Every layer by name: the built-ins, then plugins (filled by :mod:`nnlang.layers`)."""

_BUILTINS: set[str] = set()


def register_builtin(spec: LayerSpec) -> None:
    if spec.name in LAYERS:
        raise ValueError(f"built-in layer {spec.name!r} is defined twice")
    LAYERS[spec.name] = spec
    _BUILTINS.add(spec.name)


def register_layer(spec: LayerSpec, *, replace: bool = False) -> LayerSpec:
    """Add a plugin layer to the registry, usable in `.nn` like a built-in.

    Raises:
        ValueError: ``spec.name`` is a built-in layer, a keyword, not a lowercase
            identifier, or already registered by a plugin (unless ``replace``).
    """
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"register_layer needs a LayerSpec; got {type(spec).__name__}")
    name = spec.name
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"layer name {name!r} must be a lowercase identifier")
    if name in KEYWORDS:
        raise ValueError(f"layer name {name!r} is a keyword of the language")
    if name in _BUILTINS:
        raise ValueError(
            f"cannot register layer {name!r}: it is a built-in layer; "
            "choose another name for the plugin layer"
        )
    if name in LAYERS and not replace:
        raise ValueError(
            f"layer {name!r} is already registered by a plugin; "
            "pass replace=True to replace it"
        )
    LAYERS[name] = spec
    return spec


def unregister_layer(name: str) -> None:
    """Remove a plugin layer (built-ins cannot be removed)."""
    if name in _BUILTINS:
        raise ValueError(f"cannot unregister built-in layer {name!r}")
    LAYERS.pop(name, None)


def lookup(name: str) -> LayerSpec | None:
    """The layer called ``name``, or None."""
    return LAYERS.get(name)


# ------------------------------------------------------------------ Keras names

# Keras layer classes (and their functional spellings, case and underscores aside)
# and the `.nn` layer each is written as; `nnc check` suggests it for an unknown
# layer before any "did you mean" by spelling.
KERAS_LAYERS: dict[str, str] = folded({
    "Dense": "dense",
    "Conv1D": "conv1d",
    "Conv2D": "conv2d",
    "Conv3D": "conv3d",
    "Convolution1D": "conv1d",
    "Convolution2D": "conv2d",
    "Convolution3D": "conv3d",
    "Conv1DTranspose": "conv_transpose",
    "Conv2DTranspose": "conv_transpose",
    "Conv3DTranspose": "conv_transpose",
    "SeparableConv1D": "separable_conv",
    "SeparableConv2D": "separable_conv",
    "DepthwiseConv1D": "depthwise_conv",
    "DepthwiseConv2D": "depthwise_conv",
    "MaxPooling1D": "maxpool1d",
    "MaxPooling2D": "maxpool2d",
    "MaxPooling3D": "maxpool3d",
    "MaxPool1D": "maxpool1d",
    "MaxPool2D": "maxpool2d",
    "MaxPool3D": "maxpool3d",
    "AveragePooling1D": "avgpool1d",
    "AveragePooling2D": "avgpool2d",
    "AveragePooling3D": "avgpool3d",
    "AvgPool1D": "avgpool1d",
    "AvgPool2D": "avgpool2d",
    "AvgPool3D": "avgpool3d",
    "GlobalAveragePooling1D": "global_avgpool",
    "GlobalAveragePooling2D": "global_avgpool",
    "GlobalAveragePooling3D": "global_avgpool",
    "GlobalAvgPool1D": "global_avgpool",
    "GlobalAvgPool2D": "global_avgpool",
    "GlobalAvgPool3D": "global_avgpool",
    "GlobalMaxPooling1D": "global_maxpool",
    "GlobalMaxPooling2D": "global_maxpool",
    "GlobalMaxPooling3D": "global_maxpool",
    "GlobalMaxPool1D": "global_maxpool",
    "GlobalMaxPool2D": "global_maxpool",
    "GlobalMaxPool3D": "global_maxpool",
    "BatchNormalization": "batchnorm",
    "LayerNormalization": "layernorm",
    "GroupNormalization": "groupnorm",
    "Dropout": "dropout",
    "GaussianNoise": "gaussian_noise",
    "Flatten": "flatten",
    "Reshape": "reshape",
    "Embedding": "embedding",
    "LSTM": "lstm",
    "GRU": "gru",
    "SimpleRNN": "rnn",
    "Bidirectional": "bidirectional",
    "MultiHeadAttention": "attention",
    "Concatenate": "concat",
    "Add": "add",
    "Multiply": "multiply",
    "Average": "average",
    "UpSampling1D": "upsample",
    "UpSampling2D": "upsample",
    "UpSampling3D": "upsample",
    "ZeroPadding1D": "zero_pad",
    "ZeroPadding2D": "zero_pad",
    "ZeroPadding3D": "zero_pad",
    "Cropping1D": "crop",
    "Cropping2D": "crop",
    "Cropping3D": "crop",
    "RandomFlip": "random_flip",
    "RandomCrop": "random_crop",
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "Softmax": "softmax",
    "Identity": "identity",
})

# Keras layers with no `.nn` layer of that name, and what to write instead.
KERAS_LAYER_NOTES: dict[str, str] = folded({
    "Activation": "an activation is a line of its own: Activation('relu') is relu",
    "Input": "declare the input instead: input x: [8, 8, 1] (no batch axis)",
    "InputLayer": "declare the input instead: input x: [8, 8, 1] (no batch axis)",
})


def keras_layer_hint(name: str) -> str | None:
    """The hint for ``name`` when it is a Keras layer class, or None.

    >>> keras_layer_hint("MaxPooling2D")
    "did you mean 'maxpool2d'?"
    """
    nn = foreign_name(name, KERAS_LAYERS)
    if nn is not None and nn in LAYERS and nn != name:
        return f"did you mean '{nn}'?"
    return foreign_name(name, KERAS_LAYER_NOTES)


def is_builtin(name: str) -> bool:
    return name in _BUILTINS
