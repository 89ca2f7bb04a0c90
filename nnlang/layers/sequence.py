"""Sequence layers: ``embedding``, ``rnn``, ``lstm``, ``gru``, ``bidirectional``,
``attention``, ``positional``.

Sequences are ``[T, F]`` (time, features); ``T`` may be symbolic. Parameter
counts follow Keras:

* ``embedding(vocab, dim)``: ``vocab * dim``;
* ``rnn(u)`` on ``[T, F]``: ``u * (F + u) + u``; ``lstm(u)``: ``4 * (u * (F + u) + u)``
  (one bias of ``4u``); ``gru(u)``: ``3 * (u * (F + u) + 2u)`` with Keras'
  default ``reset_after=true`` (two biases), ``3 * (u * (F + u) + u)`` without;
* ``bidirectional(LAYER)``: twice the wrapped layer; ``merge`` is Keras'
  ``concat``, ``sum``, ``mul`` or ``ave`` (``add``, ``multiply`` and ``average``,
  the merge-layer words, are accepted and stored as those);
* ``attention(heads, key_dim, value_dim=key_dim)`` (Keras' MultiHeadAttention)
  with query features ``Dq`` and key/value features ``Dk``: query and key kernels
  ``D * heads * key_dim`` with biases ``heads * key_dim``, a value kernel
  ``Dk * heads * value_dim`` with bias ``heads * value_dim``, and an output kernel
  ``heads * value_dim * Dq`` with bias ``Dq``;
* ``positional(max_len)``: a learned ``[max_len, D]`` table added to the input.

FLOPs: recurrent layers cost ``2 * gates * u * (F + u)`` per time step, times
``T``; attention counts its four projections, ``Q K^T`` and ``A V`` at 2 per
multiply-add plus one per softmax element.

``bidirectional``'s argument binds like a layer call: ``attrs["layer"]`` is
``CallValue(name, (), kwargs)`` with the inner layer's arguments that differ from
their defaults, by keyword (``lstm(units=32, sequences=true)``), so it prints
compactly; :func:`inner_layer` gives the inner spec and its full attrs.

Lowering: ``nn.Embed``; the recurrent layers and ``bidirectional`` are
:class:`~nnlang.layers.flaxops.KerasRecurrent` modules (Flax's cells keep one
Dense per gate, and its GRU has 4 biases of ``u`` where Keras has 6), which
project each step's input inside the ``lax.scan`` on CPU and hoist the
projection of all steps into one matmul on accelerators (measured in the
class's doc and docs/design-notes.md). As
Keras' ``go_backwards``, ``reverse=true`` with ``sequences=true`` returns the
states in the order computed (last input step first); ``bidirectional`` flips
its backward sequence back. ``attention`` is ``nn.MultiHeadDotProductAttention``
(:class:`~nnlang.layers.flaxops.KerasAttention` when ``value_dim != key_dim``)
with Keras' causal mask; ``positional`` adds a learned table.
"""

from __future__ import annotations

from nnlang.layers.args import ArgSpec, ShapeError, act_arg, param_args
from nnlang.layers.base import LAYERS, LayerSpec, bind_args
from nnlang.layers.rules import need_float, need_static
from nnlang.types import TensorType
from nnlang.values import Word

# ------------------------------------------------------------------ embedding


def _embedding_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    if not x.is_int:
        raise ShapeError(
            "embedding needs integer token ids (i32[...])",
            hint="declare the input with an integer dtype: input ids: i32[100]",
        )
    return TensorType(x.shape + (attrs["dim"],), "f32")


def _embedding_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    return (attrs["vocab"] * attrs["dim"], 0)


def lower_embedding(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    return nn.Embed(
        attrs["vocab"],
        attrs["dim"],
        embedding_init=fx.initializer(attrs["init"]),
        dtype=ctx.dtype,
        name=ctx.name,
        parent=ctx.module,
    )


EMBEDDING = LayerSpec(
    "embedding",
    "sequence",
    "A learned vector of `dim` for each token id in `[0, vocab)`: `i32[T]` → `[T, dim]`.",
    (
        ArgSpec("vocab", "int", doc="number of token ids", lo=1),
        ArgSpec("dim", "int", doc="vector size", lo=1),
        *param_args(
            init="uniform", bias=None, doc_init="table initializer (Keras: uniform)"
        ),
    ),
    _embedding_infer,
    _embedding_params,
    lower=lower_embedding,
)

# ------------------------------------------------------------------ recurrent

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _sequence_features(name: str, x: TensorType) -> int:
    need_float(name, x)
    if x.rank != 2:
        raise ShapeError(
            f"{name} needs an input of shape [T, F]",
            hint="flatten the other axes per step first, e.g. reshape([-1, F])"
            if x.rank > 2
            else None,
        )
    return need_static(name, x.shape[1], "its feature axis")


def _make_rnn_infer(name: str):
    def infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
        (x,) = inputs
        _sequence_features(name, x)
        units = attrs["units"]
        return x.with_shape((x.shape[0], units) if attrs["sequences"] else (units,))

    return infer


def _make_rnn_params(name: str):
    def count(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
        f, u, g = inputs[0].shape[1], attrs["units"], GATES[name]
        biases = 0
        if attrs["bias"]:
            biases = g * u * (2 if name == "gru" and attrs["reset_after"] else 1)
        return (g * u * (f + u) + biases, 0)

    return count


def _make_rnn_flops(name: str):
    def flops(attrs: dict, inputs: list[TensorType], out: TensorType):
        t, f = inputs[0].shape
        u = attrs["units"]
        return t * 2 * GATES[name] * u * (f + u)

    return flops


def _make_rnn_lower(name: str):
    def lower(attrs: dict, ctx):
        from nnlang.layers import flaxops as fx

        return fx.recurrent_module(
            name, attrs, dtype=ctx.dtype, name=ctx.name, parent=ctx.module
        )

    return lower


def _rnn_spec(name: str, title: str) -> LayerSpec:
    args = [
        ArgSpec("units", "int", doc="state size", lo=1),
        ArgSpec(
            "sequences",
            "bool",
            False,
            "return every step [T, units], not the last",
            kw_only=True,
        ),
        ArgSpec(
            "reverse",
            "bool",
            False,
            "run backwards in time (Keras' go_backwards)",
            kw_only=True,
        ),
        act_arg("tanh"),
    ]
    if name != "rnn":
        args.append(
            ArgSpec(
                "recurrent_act",
                "activation",
                "sigmoid",
                "activation of the gates",
                kw_only=True,
            )
        )
    if name == "gru":
        args.append(
            ArgSpec(
                "reset_after",
                "bool",
                True,
                "apply the reset gate after the matrix product (Keras default; "
                "two biases)",
                kw_only=True,
            )
        )
    args += [
        *param_args(),
        ArgSpec(
            "recurrent_init",
            "initializer",
            "orthogonal",
            "recurrent kernel initializer",
            kw_only=True,
        ),
    ]
    return LayerSpec(
        name,
        "sequence",
        f"{title} over `[T, F]`: the last state `[units]`, or every state `[T, units]` "
        "with `sequences=true`.",
        tuple(args),
        _make_rnn_infer(name),
        _make_rnn_params(name),
        _make_rnn_flops(name),
        lower=_make_rnn_lower(name),
        act_last=False,  # act= is the cell's: the output is not act(something)
    )


# ------------------------------------------------------------------ bidirectional


def inner_layer(attrs: dict) -> tuple[LayerSpec, dict]:
    """The wrapped layer of a bound ``bidirectional``: its spec and full attrs."""
    inner = attrs["layer"]
    spec = LAYERS[inner.name]
    return spec, bind_args(spec, (), inner.kwargs)


def _bidirectional_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    spec, inner = inner_layer(attrs)
    out = spec.infer(inner, inputs)
    if attrs["merge"] == "concat":
        return out.with_shape(out.shape[:-1] + (2 * out.shape[-1],))
    return out


def _bidirectional_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    spec, inner = inner_layer(attrs)
    trainable, frozen = spec.count_params(inner, inputs)
    return (2 * trainable, 2 * frozen)


def _bidirectional_flops(attrs: dict, inputs: list[TensorType], out: TensorType):
    spec, inner = inner_layer(attrs)
    one = spec.infer(inner, inputs)
    merge = 0 if attrs["merge"] == "concat" else one.size
    return 2 * spec.flops(inner, inputs, one) + merge


# the `.nn` merge-layer words, stored as Keras' merge_mode names
MERGE_SYNONYMS = {"add": "sum", "multiply": "mul", "average": "ave"}


def _bidirectional_finalize(attrs: dict) -> dict:
    merge = attrs["merge"]
    if merge in MERGE_SYNONYMS:
        return {**attrs, "merge": Word(MERGE_SYNONYMS[merge])}
    return attrs


def lower_bidirectional(attrs: dict, ctx):
    from nnlang.layers import flaxops as fx

    spec, inner = inner_layer(attrs)

    def direction(backward: bool):
        return fx.recurrent_module(
            spec.name,
            {**inner, "reverse": backward},
            keep_order=True,
            dtype=ctx.dtype,
            parent=None,
        )

    return fx.Bidirectional(
        direction(False),
        direction(True),
        str(attrs["merge"]),
        name=ctx.name,
        parent=ctx.module,
    )


BIDIRECTIONAL = LayerSpec(
    "bidirectional",
    "sequence",
    "Runs a recurrent layer forwards and backwards and merges the two (Keras' "
    "Bidirectional): `bidirectional(lstm(32))`; `merge=concat` doubles the features.",
    (
        ArgSpec(
            "layer",
            "layer",
            doc="the recurrent layer, e.g. lstm(64)",
            choices=tuple(GATES),
        ),
        ArgSpec(
            "merge",
            "option",
            "concat",
            "how the directions combine",
            choices=("concat", "sum", "mul", "ave", *MERGE_SYNONYMS),
        ),
    ),
    _bidirectional_infer,
    _bidirectional_params,
    _bidirectional_flops,
    lower=lower_bidirectional,
    finalize=_bidirectional_finalize,
)

# ------------------------------------------------------------------ attention


def _attention_dims(inputs: list[TensorType]) -> tuple:
    q = inputs[0]
    kv = inputs[-1]
    for t in inputs:
        need_float("attention", t)
    if any(t.rank != 2 for t in inputs):
        need = (
            "an input of shape [T, D]"
            if len(inputs) == 1
            else "a query [Tq, D] and keys/values [Tk, Dk]"
        )
        raise ShapeError(f"attention needs {need}")
    dq = need_static("attention", q.shape[1], "the query features")
    dk = need_static("attention", kv.shape[1], "the key/value features")
    return q.shape[0], dq, kv.shape[0], dk


def _attention_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    _attention_dims(inputs)
    return inputs[0]


def _attention_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    _, dq, _, dk = _attention_dims(inputs)
    h, kd, vd = attrs["heads"], attrs["key_dim"], attrs["value_dim"]
    weights = dq * h * kd + dk * h * kd + dk * h * vd + h * vd * dq
    biases = (2 * h * kd + h * vd + dq) if attrs["bias"] else 0
    return (weights + biases, 0)


def _attention_flops(attrs: dict, inputs: list[TensorType], out: TensorType):
    tq, dq, tk, dk = _attention_dims(inputs)
    h, kd, vd = attrs["heads"], attrs["key_dim"], attrs["value_dim"]
    projections = tq * dq * h * kd + tk * dk * h * (kd + vd) + tq * h * vd * dq
    mixing = h * tq * tk * (kd + vd)
    return 2 * (projections + mixing) + h * tq * tk


def _attention_finalize(attrs: dict) -> dict:
    if attrs["value_dim"] is None:
        return {**attrs, "value_dim": attrs["key_dim"]}
    return attrs


def lower_attention(attrs: dict, ctx):
    import flax.linen as nn

    from nnlang.layers import flaxops as fx

    heads, key_dim, value_dim = attrs["heads"], attrs["key_dim"], attrs["value_dim"]
    common = {
        "use_bias": bool(attrs["bias"]),
        "kernel_init": fx.initializer(attrs["init"]),
        "bias_init": fx.initializer(attrs["bias_init"]),
        "dropout_rate": attrs["dropout"],
        "deterministic": not ctx.train,
        "dtype": ctx.dtype,
        "name": ctx.name,
        "parent": ctx.module,
    }

    def build(q, kv=None):
        if value_dim == key_dim:
            layer = nn.MultiHeadDotProductAttention(
                num_heads=heads,
                qkv_features=heads * key_dim,
                out_features=q.shape[-1],
                qkv_dot_general=fx.flat_dot_general,
                out_dot_general=fx.flat_dot_general,
                **common,
            )
        else:
            layer = fx.KerasAttention(heads, key_dim, value_dim, **common)

        def attend(q, kv=None):
            kv = q if kv is None else kv
            return layer(q, kv, mask=fx.attention_mask(q, kv, attrs["causal"]))

        return attend

    return fx.lazy(build)


ATTENTION = LayerSpec(
    "attention",
    "sequence",
    "Multi-head dot-product attention (Keras' MultiHeadAttention): self-attention on one "
    "`[T, D]` flow, or cross-attention on a tuple `(q, kv)`; the output has the query's "
    "shape.",
    (
        ArgSpec("heads", "int", doc="number of heads", lo=1),
        ArgSpec("key_dim", "int", doc="query/key size per head", lo=1),
        ArgSpec(
            "value_dim", "int", None, "value size per head (default: key_dim)", lo=1
        ),
        ArgSpec("causal", "bool", False, "each position attends only to earlier ones"),
        ArgSpec(
            "dropout",
            "float",
            0.0,
            "dropout on the attention weights",
            lo=0,
            hi=1,
            hi_open=True,
        ),
        *param_args(),
    ),
    _attention_infer,
    _attention_params,
    _attention_flops,
    lower=lower_attention,
    max_inputs=2,
    finalize=_attention_finalize,
)

# ------------------------------------------------------------------ positional


def _positional_infer(attrs: dict, inputs: list[TensorType]) -> TensorType:
    (x,) = inputs
    need_float("positional", x)
    if x.rank != 2:
        raise ShapeError("positional needs an input of shape [T, D]")
    need_static("positional", x.shape[1], "its feature axis")
    m = attrs["max_len"]
    if isinstance(x.shape[0], int) and x.shape[0] > m:
        raise ShapeError(
            f"positional(max_len={m}) needs at most {m} positions",
            hint=f"raise max_len to at least {x.shape[0]}",
        )
    return x


def _positional_params(attrs: dict, inputs: list[TensorType]) -> tuple[int, int]:
    return (attrs["max_len"] * inputs[0].shape[1], 0)


def _positional_flops(attrs: dict, inputs: list[TensorType], out: TensorType):
    return out.size


def lower_positional(attrs: dict, ctx):
    from nnlang.layers import flaxops as fx

    return fx.PositionEmbedding(
        attrs["max_len"],
        fx.initializer(attrs["init"]),
        name=ctx.name,
        parent=ctx.module,
    )


POSITIONAL = LayerSpec(
    "positional",
    "sequence",
    "Adds a learned position embedding (a `[max_len, D]` table, first `T` rows) to a "
    "`[T, D]` input.",
    (
        ArgSpec("max_len", "int", doc="the longest sequence", lo=1),
        *param_args(init="glorot_uniform", bias=None, doc_init="table initializer"),
    ),
    _positional_infer,
    _positional_params,
    _positional_flops,
    lower=lower_positional,
)

SPECS = (
    EMBEDDING,
    _rnn_spec("rnn", "A simple recurrent layer"),
    _rnn_spec("lstm", "An LSTM"),
    _rnn_spec("gru", "A GRU"),
    BIDIRECTIONAL,
    ATTENTION,
    POSITIONAL,
)
