"""Argument specs, the errors of layer entries, and the function tables.

:class:`ArgSpec` declares one argument of a layer (its kinds are listed in
:mod:`nnlang.layers.base`); :data:`ACTIVATIONS` and :data:`INITIALIZERS` are
the words and calls that ``act=``, ``init=`` and ``bias_init=`` take;
:data:`ALIASES` maps keyword names from Keras, Flax and PyTorch to ours for
"did you mean" hints. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnlang.values import CallValue, Word

KINDS = frozenset(
    {
        "int",
        "float",
        "number",
        "bool",
        "ints",
        "option",
        "padding",
        "pads",
        "shape",
        "kernel",
        "layer",
        "activation",
        "initializer",
        "any",
    }
)

KEYWORDS = frozenset(
    "import as const block model train input output repeat for in if else and or not "
    "true false".split()
)


_WORD_KINDS = frozenset({"option", "padding", "activation", "initializer", "layer"})


class _Required:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of an argument that must be given."""


# ------------------------------------------------------------------ errors


class ArgError(Exception):
    """A bad argument in a layer call.

    Attributes:
        message: what is wrong, one line, lower case.
        arg: which argument: its position (int) among the positional ones, its
            keyword (str), or None for the call as a whole.
        hint: a suggestion ("did you mean 'act'?"), or None.
    """

    def __init__(
        self, message: str, arg: int | str | None = None, hint: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.hint = hint


class ShapeError(Exception):
    """An input a layer cannot take.

    ``message`` says what the layer needs ("conv2d needs an input of shape
    [H, W, C]"); the shape pass appends what it got and where from.
    """

    def __init__(
        self, message: str, notes: tuple[str, ...] = (), hint: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.notes = tuple(notes)
        self.hint = hint


# ------------------------------------------------------------------ specs


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a layer, activation or initializer.

    Attributes:
        name: the `.nn` keyword (``units``, ``kernel``, ``act``).
        kind: one of :data:`KINDS` (table in the module docs).
        default: the default value, :data:`REQUIRED`, or None (derived later).
        doc: one line for the docs and ``--help``.
        choices: the words an ``option``/``padding`` takes, or the layer names a
            ``layer`` argument takes.
        lo, hi: inclusive bounds for numbers (each element of a list);
            ``lo_open``/``hi_open`` make them exclusive.
        kw_only: only by keyword (the common ``bias=``, ``init=``, ``act=`` ...).
        allow_minus_one: a ``shape`` may hold one ``-1`` (``reshape``).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    kw_only: bool = False
    allow_minus_one: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"ArgSpec {self.name!r}: unknown kind {self.kind!r}; "
                f"kinds: {', '.join(sorted(KINDS))}"
            )
        if (
            isinstance(self.default, str)
            and not isinstance(self.default, Word)
            and self.kind in _WORD_KINDS
        ):
            object.__setattr__(self, "default", Word(self.default))

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class FunctionSpec:
    """An activation or initializer that can be named (``relu``) or called (``normal(0.02)``)."""

    name: str
    params: tuple[ArgSpec, ...] = ()
    doc: str = ""


# ------------------------------------------------------------------ tables

W = Word


def _fn(name: str, *params: ArgSpec, doc: str = "") -> FunctionSpec:
    return FunctionSpec(name, params, doc)


ACTIVATIONS: dict[str, FunctionSpec] = {
    f.name: f
    for f in (
        _fn("relu", doc="max(x, 0)"),
        _fn("relu6", doc="min(max(x, 0), 6)"),
        _fn(
            "leaky_relu",
            ArgSpec("alpha", "float", 0.3, "slope for x < 0 (Keras default)", lo=0),
            doc="x if x > 0 else alpha * x",
        ),
        _fn(
            "elu",
            ArgSpec("alpha", "float", 1.0, "scale of the negative part", lo=0),
            doc="x if x > 0 else alpha * (exp(x) - 1)",
        ),
        _fn(
            "gelu",
            ArgSpec("approximate", "bool", False, "tanh approximation (Keras: false)"),
            doc="x * Phi(x)",
        ),
        _fn("silu", doc="x * sigmoid(x) (swish)"),
        _fn("sigmoid", doc="1 / (1 + exp(-x))"),
        _fn("tanh", doc="hyperbolic tangent"),
        _fn(
            "softmax",
            ArgSpec("axis", "int", -1, "the axis that sums to 1"),
            doc="exp(x) / sum(exp(x)) over an axis",
        ),
        _fn(
            "log_softmax",
            ArgSpec("axis", "int", -1, "the normalised axis"),
            doc="log(softmax(x))",
        ),
        _fn("softplus", doc="log(1 + exp(x))"),
    )
}
"""Activation functions, usable as ``act=`` values and (except none) as layers."""

NO_ACTIVATION = ("none", "linear")

INITIALIZERS: dict[str, FunctionSpec] = {
    f.name: f
    for f in (
        _fn("glorot_uniform", doc="Keras' default for kernels"),
        _fn("glorot_normal"),
        _fn("he_uniform"),
        _fn("he_normal"),
        _fn("lecun_uniform"),
        _fn("lecun_normal"),
        _fn("orthogonal", ArgSpec("gain", "float", 1.0, "multiplier", lo=0)),
        _fn("zeros"),
        _fn("ones"),
        _fn("constant", ArgSpec("value", "float", 0.0, "every entry")),
        _fn(
            "normal",
            ArgSpec("std", "float", 0.05, "standard deviation", lo=0),
            ArgSpec("mean", "float", 0.0, "mean"),
        ),
        _fn(
            "truncated_normal",
            ArgSpec("std", "float", 0.05, "standard deviation", lo=0),
            ArgSpec("mean", "float", 0.0, "mean"),
        ),
        _fn(
            "uniform",
            ArgSpec("scale", "float", 0.05, "draws from [-scale, scale]", lo=0),
        ),
    )
}
"""Initializers for ``init=`` and ``bias_init=`` (Keras names and defaults)."""


def resolve_function(value: Word | CallValue) -> tuple[str, dict[str, Any]]:
    """The name and full parameters of a bound activation or initializer value.

    >>> resolve_function(Word("leaky_relu"))
    ('leaky_relu', {'alpha': 0.3})
    """
    table = (
        ACTIVATIONS
        if str(getattr(value, "name", value)) in ACTIVATIONS
        else INITIALIZERS
    )
    if isinstance(value, CallValue):
        spec = table[value.name]
        return value.name, {
            p.name: value.kwargs.get(p.name, p.default) for p in spec.params
        }
    name = str(value)
    if name in NO_ACTIVATION:
        return "none", {}
    return name, {p.name: p.default for p in table[name].params}


# ------------------------------------------------------------------ common arguments


def param_args(
    *,
    init: str | None = "glorot_uniform",
    bias: bool | None = True,
    bias_init: str = "zeros",
    doc_init: str = "kernel initializer",
    doc_bias: str = "add a bias",
) -> tuple[ArgSpec, ...]:
    """The arguments of every parametric layer: ``bias init bias_init l1 l2 trainable``.

    ``bias=None`` leaves out ``bias`` and ``bias_init`` (a layer with no bias);
    ``init=None`` leaves out ``init``.
    """
    out = []
    if bias is not None:
        out.append(ArgSpec("bias", "bool", bias, doc_bias, kw_only=True))
    if init is not None:
        out.append(ArgSpec("init", "initializer", W(init), doc_init, kw_only=True))
    if bias is not None:
        out.append(
            ArgSpec(
                "bias_init",
                "initializer",
                W(bias_init),
                "bias initializer",
                kw_only=True,
            )
        )
    out += [
        ArgSpec(
            "l1",
            "float",
            0.0,
            "L1 penalty on the kernel, added to the loss",
            lo=0,
            kw_only=True,
        ),
        ArgSpec(
            "l2",
            "float",
            0.0,
            "L2 penalty on the kernel, added to the loss",
            lo=0,
            kw_only=True,
        ),
        ArgSpec(
            "trainable", "bool", True, "false holds the weights fixed", kw_only=True
        ),
    ]
    return tuple(out)


def act_arg(default: str = "none") -> ArgSpec:
    """``act=``: the activation a layer ends in."""
    return ArgSpec(
        "act",
        "activation",
        W(default),
        "activation applied to the output",
        kw_only=True,
    )


# ------------------------------------------------------------------ aliases

# Keyword names from Keras, Flax and PyTorch, mapped to the `.nn` names they may
# mean; the first that the layer has becomes the "did you mean" hint.
ALIASES: dict[str, tuple[str, ...]] = {
    "activation": ("act",),
    "activations": ("act",),
    "nonlinearity": ("act",),
    "units": ("units", "filters", "dim"),
    "features": ("units", "filters", "dim"),
    "out_features": ("units",),
    "num_units": ("units",),
    "hidden_size": ("units",),
    "filters": ("filters", "units"),
    "out_channels": ("filters", "units"),
    "kernel_size": ("kernel", "size"),
    "ksize": ("kernel", "size"),
    "strides": ("stride",),
    "stride_size": ("stride",),
    "use_bias": ("bias",),
    "with_bias": ("bias",),
    "p": ("rate",),
    "dropout_rate": ("rate", "dropout"),
    "drop_rate": ("rate", "dropout"),
    "dropout": ("rate",),
    "rate": ("rate", "dropout"),
    "pool_size": ("size",),
    "window_shape": ("size",),
    "window": ("size",),
    "dim": ("axis", "dim"),
    "axes": ("axis",),
    "momentum": ("momentum",),
    "epsilon": ("eps",),
    "eps": ("eps",),
    "num_heads": ("heads",),
    "n_heads": ("heads",),
    "head_dim": ("key_dim",),
    "qkv_features": ("key_dim",),
    "use_causal_mask": ("causal",),
    "is_causal": ("causal",),
    "return_sequences": ("sequences",),
    "go_backwards": ("reverse",),
    "input_dim": ("vocab",),
    "num_embeddings": ("vocab",),
    "vocab_size": ("vocab",),
    "output_dim": ("dim",),
    "embedding_dim": ("dim",),
    "embed_dim": ("dim",),
    "kernel_initializer": ("init",),
    "kernel_init": ("init",),
    "initializer": ("init",),
    "embeddings_initializer": ("init",),
    "depthwise_initializer": ("init",),
    "bias_initializer": ("bias_init",),
    "recurrent_initializer": ("recurrent_init",),
    "recurrent_activation": ("recurrent_act",),
    "dilation_rate": ("dilation",),
    "kernel_dilation": ("dilation",),
    "feature_group_count": ("groups",),
    "num_groups": ("groups",),
    "depth_multiplier": ("multiplier",),
    "channel_multiplier": ("multiplier",),
    "scale_factor": ("factor",),
    "size": ("size", "factor", "shape"),
    "stddev": ("std",),
    "sigma": ("std",),
    "max_length": ("max_len",),
    "maxlen": ("max_len",),
    "sequence_length": ("max_len",),
    "merge_mode": ("merge",),
    "mode": ("mode", "merge"),
    "negative_slope": ("alpha",),
    "target_shape": ("shape",),
    "center": ("bias",),
    "scale": ("scale",),
    "use_scale": ("scale",),
    "cropping": ("n",),
    "padding": ("padding", "n"),
    "output_shape": ("shape",),
    "keepdim": ("keepdims",),
}


# ------------------------------------------------------------------ Keras arguments

# Keras keyword arguments that no `.nn` argument stands for, and what to write
# instead (or that `.nn` has no such thing). Consulted when :data:`ALIASES` names
# no argument the layer has, before any "did you mean" by spelling, so that
# `recurrent_dropout=` does not suggest `recurrent_act`.
KERAS_ARGS: dict[str, str] = {
    "kernel_regularizer": "write l2=0.01 (or l1=...): the penalty on the layer's kernel",
    "bias_regularizer": ".nn has no penalty on biases; l1= and l2= penalise the kernel",
    "activity_regularizer": ".nn has no penalty on activations; l1= and l2= "
    "penalise the kernel",
    "input_length": "not needed: the input's shape gives the sequence length",
    "input_shape": "not needed: declare the input instead, input x: [8, 8, 1] "
    "(no batch axis)",
    "batch_input_shape": "not needed: declare the input instead, input x: [8, 8, 1] "
    "(no batch axis)",
    "recurrent_dropout": "recurrent dropout is not supported in .nn",
    "recurrent_regularizer": ".nn has no penalty on the recurrent kernel; l1= and l2= "
    "penalise the input kernel, as Keras' kernel_regularizer does",
    "recurrent_constraint": "weight constraints (max_norm, ...) are not supported in .nn",
    "unit_forget_bias": "not needed: an lstm's forget gate bias starts at 1, as in Keras",
    "stateful": "stateful recurrent layers are not supported in .nn: every sequence "
    "starts from a zero state",
    "return_state": "a recurrent layer's final state is not an output in .nn; "
    "sequences=true returns every step's output",
    "dropout": "dropout inside a recurrent layer is not supported in .nn; "
    "a dropout(0.1) line before it drops its inputs",
    "mask_zero": "masking is not supported in .nn: id 0 is embedded like any other id",
    "kernel_constraint": "weight constraints (max_norm, ...) are not supported in .nn",
    "bias_constraint": "weight constraints (max_norm, ...) are not supported in .nn",
    "name": "name a layer with 'as': dense(10) as head",
}
