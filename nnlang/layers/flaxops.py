"""What the Flax lowerings of the layer families share, and the modules Flax lacks.

Each family module (:mod:`~nnlang.layers.core`, :mod:`~nnlang.layers.conv`, ...)
keeps its layers' ``lower_*`` functions next to their registry entries. Those
functions import this module *inside* themselves, so importing
:mod:`nnlang.layers` stays JAX-free (``nnc check`` must not load JAX); this
module imports JAX and Flax at the top and is loaded on the first lowering.

Shared pieces: :func:`activation` and :func:`initializer` turn bound ``act=``
and ``init=`` values into JAX functions (Keras' defaults); :func:`per_axis`,
:func:`conv_padding` and :func:`array_axis` translate `.nn` arguments to Flax's
(the ``.nn`` axis excludes the batch axis); :func:`layer_kwargs` gives the
keyword arguments every parametric Flax layer takes.

Modules written here because Flax's own have another layout than Keras' (and
so another parameter count than the registry's):

* :class:`KerasRecurrent`: ``rnn``, ``lstm`` and ``gru`` with Keras' fused gates
  (LSTM: ``kernel [F, 4u]``, ``recurrent_kernel [u, 4u]``, one ``bias [4u]``;
  GRU with ``reset_after``: ``bias [2, 3u]``). Flax's ``GRUCell`` has 4 biases
  of ``u`` where Keras has 6, and its cells keep one Dense per gate. The gates
  share one matmul per weight; see the class for where the input projection
  of all steps is hoisted out of the ``lax.scan``.
* :class:`Bidirectional`: two :class:`KerasRecurrent`, ``forward`` and
  ``backward``, merged as Keras merges them (the backward sequence is flipped
  back to input order).
* :class:`KerasAttention`: multi-head attention with ``value_dim != key_dim``,
  which Flax's ``MultiHeadDotProductAttention`` cannot express (one
  ``qkv_features`` for all three); same tree names (``query key value out``).
* :class:`SeparableConv` (a depthwise ``nn.Conv`` then a 1×1 ``nn.Conv``, under
  one name) and :class:`PositionEmbedding` (a learned table added to the input).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from nnlang.layers.args import resolve_function

# Lowering strategies chosen per backend and shape (see :func:`conv_strategy`
# and :class:`KerasRecurrent`); an entry here overrides the choice, for A/B
# measurements (benchmarks/scratch_cpu_speed.py) and tests. Read at trace time.
TUNING: dict[str, str] = {}


@contextlib.contextmanager
def tracing_loop() -> Iterator[None]:
    """Mark code traced inside it as the body of a fused (``while_loop``) epoch.

    A lowering can be fastest in a plain jitted step and another inside a
    loop; :func:`in_loop` tells them apart at trace time. Today only the A/B
    overrides use it (``TUNING["conv_loop"]``, ``TUNING["conv_step"]``): on
    CPU im2col convolutions won in both places once their matmul was 2-D
    (:func:`nnlang.layers.fastconv.conv_strategy`).
    """
    token = _IN_LOOP.set(True)
    try:
        yield
    finally:
        _IN_LOOP.reset(token)


def in_loop() -> bool:
    """Whether the current trace is the body of a fused epoch (:func:`tracing_loop`)."""
    return _IN_LOOP.get()


_IN_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "nnlang_in_loop", default=False
)

# ---------------------------------------------------------------- functions


def activation(value) -> Callable[[jax.Array], jax.Array]:
    """The JAX function for an ``act=`` value or an activation layer's name.

    ``axis`` (softmax, log_softmax) counts without the batch axis, as in `.nn`.
    """
    name, params = resolve_function(value)
    if name == "none":
        return _identity
    alpha, axis = params.get("alpha"), array_axis(params.get("axis", -1))
    table = {
        "relu": jax.nn.relu,
        "relu6": jax.nn.relu6,
        "gelu": lambda x: jax.nn.gelu(x, approximate=params["approximate"]),
        "silu": jax.nn.silu,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "softplus": jax.nn.softplus,
        "leaky_relu": lambda x: jax.nn.leaky_relu(x, alpha),
        "elu": lambda x: jax.nn.elu(x, alpha),
        "softmax": lambda x: jax.nn.softmax(x, axis=axis),
        "log_softmax": lambda x: jax.nn.log_softmax(x, axis=axis),
    }
    return table[name]


def _identity(x):
    return x


def with_activation(layer: Callable, attrs: dict) -> Callable:
    """``layer`` followed by the entry's ``act=`` (left out when it is ``none``)."""
    act = activation(attrs.get("act", "none"))
    if act is _identity:
        return layer
    return lambda *xs: act(layer(*xs))


def initializer(value) -> Callable:
    """A ``jax.nn.initializers`` function for an ``init=`` value (Keras' defaults).

    Keras and ``jax.nn.initializers`` agree on the variance-scaling family
    (the ``*_normal`` ones draw from a truncated normal in both).
    """
    init = jax.nn.initializers
    name, p = resolve_function(value)
    if name == "orthogonal":
        return init.orthogonal(p["gain"])
    if name == "constant":
        return init.constant(p["value"])
    if name == "normal":
        return _shifted(init.normal(p["std"]), p["mean"])
    if name == "truncated_normal":
        return _shifted(init.truncated_normal(p["std"]), p["mean"])
    if name == "uniform":
        return _uniform(p["scale"])
    return {
        "glorot_uniform": init.glorot_uniform(),
        "glorot_normal": init.glorot_normal(),
        "he_uniform": init.he_uniform(),
        "he_normal": init.he_normal(),
        "lecun_uniform": init.lecun_uniform(),
        "lecun_normal": init.lecun_normal(),
        "zeros": init.zeros,
        "ones": init.ones,
    }[name]


def _shifted(base: Callable, mean: float) -> Callable:
    if not mean:
        return base
    return lambda key, shape, dtype=jnp.float32: base(key, shape, dtype) + mean


def _uniform(scale: float) -> Callable:
    """Keras' ``RandomUniform(-scale, scale)``."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


def fixed_kernel(values, rank: int) -> Callable:
    """An initialiser giving a conv kernel fixed values (the ``weights`` attr).

    Values with one level per spatial axis are one filter for every input and
    output channel; otherwise they are Keras' full ``[*kernel, C / groups,
    filters]`` layout.
    """
    array = jnp.asarray(values, jnp.float32)

    def init(key, shape, dtype=jnp.float32):
        if array.ndim == rank:
            return jnp.broadcast_to(array[..., None, None], shape).astype(dtype)
        return array.reshape(shape).astype(dtype)

    return init


# ---------------------------------------------------------------- arguments


def per_axis(value, rank: int) -> tuple[int, ...]:
    """An int (every axis) or per-axis tuple as ``rank`` ints."""
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * rank


def pad_pairs(value, rank: int) -> list[tuple[int, int]]:
    """An int, per-axis ints or ``(before, after)`` pairs, as ``rank`` pairs."""
    if not isinstance(value, (tuple, list)):
        return [(int(value), int(value))] * rank
    return [
        (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))
        for v in value
    ]


def conv_padding(value, rank: int):
    """``padding``: ``'SAME'``/``'VALID'``, or explicit pairs for Flax and lax."""
    if isinstance(value, str):
        return str(value).upper()
    return pad_pairs(value, rank)


def array_axis(axis: int) -> int:
    """A `.nn` axis (batch axis excluded) as an axis of the batched array."""
    return axis + 1 if axis >= 0 else axis


def flat_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers,
                     precision=None, preferred_element_type=None) -> jax.Array:  # fmt: skip
    """``lax.dot_general`` of a layer's input and its kernel, as one 2-D matmul.

    For ``x [..., K] @ kernel [K, ...]`` (no batch dimensions, ``x``'s trailing
    axes contracted with the kernel's leading ones) both operands are reshaped
    to matrices first. The kernel gradient of an N-D ``dot_general`` makes
    XLA:CPU copy the incoming gradient into a transposed ``[N, prod(lead)]``
    array (25-40% of W4's training step); a 2-D matmul's transposes fold into
    the GEMM. The reshapes are free (bitcasts of row-major arrays). Other
    dimension numbers go to ``lax.dot_general`` as they are.
    """
    (lc, rc), (lb, rb) = dimension_numbers
    lc, rc = tuple(lc), tuple(rc)
    n = len(lc)
    if lb or rb or lc != tuple(range(lhs.ndim - n, lhs.ndim)) or rc != tuple(range(n)):
        return lax.dot_general(
            lhs, rhs, dimension_numbers, precision=precision,
            preferred_element_type=preferred_element_type,
        )  # fmt: skip
    lead, rest = lhs.shape[: lhs.ndim - n], rhs.shape[n:]
    depth = math.prod(rhs.shape[:n])
    out = lax.dot_general(
        lhs.reshape(-1, depth), rhs.reshape(depth, -1), (((1,), (0,)), ((), ())),
        precision=precision, preferred_element_type=preferred_element_type,
    )  # fmt: skip
    return out.reshape(*lead, *rest)


def layer_kwargs(attrs: dict, ctx, *, bias: bool = True) -> dict:
    """``use_bias``, initialisers, dtype, name and parent for a parametric layer."""
    kwargs = {
        "kernel_init": initializer(attrs["init"]),
        "dtype": ctx.dtype,
        "name": ctx.name,
        "parent": ctx.module,
    }
    if bias:
        kwargs["use_bias"] = bool(attrs["bias"])
        kwargs["bias_init"] = initializer(attrs["bias_init"])
    return kwargs


def lazy(build: Callable[..., Callable]) -> Callable:
    """Build on the first call, when the inputs' rank and features are known.

    The Flax module is still created once per `.nn` layer, inside the graph
    module's ``nn.compact`` call, so a re-applied layer shares its weights.
    """
    built: list[Callable] = []

    def call(*xs):
        if not built:
            built.append(build(*xs))
        return built[0](*xs)

    return call


# ---------------------------------------------------------------- recurrent

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class KerasRecurrent(nn.Module):
    """``rnn``, ``lstm`` or ``gru`` over ``[B, T, F]`` in Keras' parameter layout.

    Gate order is Keras' (LSTM ``i f c o``; GRU ``z r h``); each step does one
    matmul for all gates: ``[x_t, h] @ [kernel; recurrent_kernel]`` for ``rnn``
    and ``lstm`` (the stacked kernel is built once, outside the loop), one per
    weight for ``gru``, whose reset gate scales ``h @ recurrent_kernel`` alone.
    The joint matmul made W3's forward pass (1 input feature) 2.2x faster on
    XLA:CPU, which ran ``x_t @ kernel`` as a broadcast inside the gates' fusion
    (~45 us a step), and 8% faster with 16 or 64 features; training steps
    measured the same (within ±5%; ``TUNING["rnn_joint"] = "0"`` for A/B runs).
    With ``reverse`` the sequence runs backwards and, as Keras'
    ``go_backwards``, the returned sequence is in that order unless
    ``keep_order`` flips it back (as :class:`Bidirectional` does).

    ``hoist_inputs`` projects every step's input in one ``[T*B, F] @ [F, gates*u]``
    matmul before the ``lax.scan`` (as cuDNN does), leaving ``h @ U`` in the loop.
    On XLA:CPU (jax 0.10, 2 cores) that measured slower than projecting inside
    the loop: the forward pass 2-3x, a training step up to 1.7x (the issue's
    W3 LSTM(64) on 50×1 windows, batch 64, with Adam: 5.5 ms in the loop, 6.8
    hoisted, 7.0 for ``nn.RNN(nn.OptimizedLSTMCell)``; re-measured per epoch
    for issue 6: fused 1.43x hand-written Flax in the loop, 1.16x hoisted).
    ``None`` keeps the loop form on CPU and hoists on accelerators (not
    measured here: no GPU). The scan is not unrolled: unroll 2 measured 1.27x,
    4 and 8 slower than Flax (``TUNING["scan_unroll"]``, ``TUNING["rnn_hoist"]``
    override both for A/B runs).
    """

    kind: str
    units: int
    act: Callable = jnp.tanh
    recurrent_act: Callable = jax.nn.sigmoid
    reset_after: bool = True
    use_bias: bool = True
    kernel_init: Callable = jax.nn.initializers.glorot_uniform()
    recurrent_init: Callable = jax.nn.initializers.orthogonal()
    bias_init: Callable = jax.nn.initializers.zeros
    sequences: bool = False
    reverse: bool = False
    keep_order: bool = False
    hoist_inputs: bool | None = None
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = GATES[self.kind] * self.units
        two_biases = self.kind == "gru" and self.reset_after
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], width))
        recurrent = self.param(
            "recurrent_kernel", self.recurrent_init, (self.units, width)
        )
        bias = None
        if self.use_bias:
            shape = (2, width) if two_biases else (width,)
            bias = self.param("bias", self._init_bias, shape)
        x, kernel, recurrent, bias = nn.dtypes.promote_dtype(
            x, kernel, recurrent, bias, dtype=self.dtype
        )
        input_bias = recurrent_bias = None
        if bias is not None:
            input_bias, recurrent_bias = (
                (bias[0], bias[1]) if two_biases else (bias, None)
            )

        def project(xt):
            z = xt @ kernel
            return z if input_bias is None else z + input_bias

        xs = jnp.swapaxes(x, 0, 1)  # time-major for the scan
        if self.reverse:
            xs = jnp.flip(xs, axis=0)
        hoist = self.hoist_inputs
        if "rnn_hoist" in TUNING:
            hoist = TUNING["rnn_hoist"] == "1"
        if hoist is None:
            hoist = jax.default_backend() != "cpu"
        if hoist:
            xs = project(xs)
        step = getattr(self, f"_{self.kind}_step")
        joint = None
        if not hoist and self.kind != "gru" and TUNING.get("rnn_joint") != "0":
            # [x_t, h] @ [kernel; recurrent]: one matmul a step
            joint = jnp.concatenate([kernel, recurrent], axis=0)

        def hidden(carry):
            return carry[0] if self.kind == "lstm" else carry

        def body(carry, xt):
            if self.kind == "gru":
                z = xt if hoist else project(xt)
                carry = step(carry, z, recurrent, recurrent_bias)
            elif joint is None:  # every gate's pre-activation
                carry = step(
                    carry, (xt if hoist else project(xt)) + hidden(carry) @ recurrent
                )
            else:
                a = jnp.concatenate([xt, hidden(carry)], axis=-1) @ joint
                carry = step(carry, a if input_bias is None else a + input_bias)
            return carry, hidden(carry)

        if self.kind == "lstm" and recompute_gates():
            body = jax.checkpoint(
                body, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable
            )
        h0 = jnp.zeros((x.shape[0], self.units), xs.dtype)
        carry, hs = jax.lax.scan(
            body,
            (h0, h0) if self.kind == "lstm" else h0,
            xs,
            unroll=scan_unroll(xs.shape[0]),
        )
        if not self.sequences:
            return carry[0] if self.kind == "lstm" else carry
        if self.reverse and self.keep_order:
            hs = jnp.flip(hs, axis=0)
        return jnp.swapaxes(hs, 0, 1)

    def _init_bias(self, key, shape, dtype=jnp.float32):
        b = self.bias_init(key, shape, dtype)
        if self.kind == "lstm":  # Keras' unit_forget_bias: the forget gate starts open
            b = b.at[self.units : 2 * self.units].set(1.0)
        return b

    def _rnn_step(self, carry, a):
        return self.act(a)

    def _lstm_step(self, carry, a):
        _, c = carry
        i, f, g, o = jnp.split(a, 4, axis=-1)
        c = self.recurrent_act(f) * c + self.recurrent_act(i) * self.act(g)
        return self.recurrent_act(o) * self.act(c), c

    def _gru_step(self, h, z, recurrent, recurrent_bias):
        u = self.units
        xz, xr, xh = jnp.split(z, 3, axis=-1)
        if self.reset_after:
            hz = h @ recurrent
            if recurrent_bias is not None:
                hz = hz + recurrent_bias
            rz, rr, rh = jnp.split(hz, 3, axis=-1)
            update, reset = self.recurrent_act(xz + rz), self.recurrent_act(xr + rr)
            candidate = self.act(xh + reset * rh)
        else:  # the reset gate applies to h before its matmul (the original GRU)
            rz, rr = jnp.split(h @ recurrent[:, : 2 * u], 2, axis=-1)
            update, reset = self.recurrent_act(xz + rz), self.recurrent_act(xr + rr)
            candidate = self.act(xh + (reset * h) @ recurrent[:, 2 * u :])
        return update * h + (1 - update) * candidate


def recompute_gates() -> bool:
    """Whether an LSTM step saves only its matmul for the backward pass and
    recomputes the gates from it (``TUNING["rnn_remat"]``; on by default on CPU).

    Plain autodiff of the scan saves a dozen ``[B, u]`` intermediates a step
    and XLA:CPU spends ~2.5 ms of W3's 7.5 ms step storing and copying them;
    ``jax.checkpoint`` with ``dots_with_no_batch_dims_saveable`` keeps the
    ``[B, 4u]`` matmul output and recomputes the cheap elementwise gates.
    Interleaved on W3: fused 1.13x, per step 1.11x. The GRU measured 0.72x
    with it and the simple RNN 0.97x, so only the LSTM recomputes.
    Accelerators: not measured (no GPU here), so off.
    """
    value = TUNING.get("rnn_remat")
    return jax.default_backend() == "cpu" if value is None else value == "1"


def scan_unroll(steps: int) -> int:
    """Time steps per ``lax.scan`` iteration (``TUNING["scan_unroll"]``; 1 default)."""
    value = TUNING.get("scan_unroll", "1")
    return steps if value == "full" else max(1, min(int(value), steps))


def recurrent_module(kind: str, attrs: dict, **kwargs) -> KerasRecurrent:
    """A :class:`KerasRecurrent` from a bound ``rnn``/``lstm``/``gru`` entry's attrs."""
    return KerasRecurrent(
        kind,
        attrs["units"],
        act=activation(attrs["act"]),
        recurrent_act=activation(attrs.get("recurrent_act", "sigmoid")),
        reset_after=bool(attrs.get("reset_after", True)),
        use_bias=bool(attrs["bias"]),
        kernel_init=initializer(attrs["init"]),
        recurrent_init=initializer(attrs["recurrent_init"]),
        bias_init=initializer(attrs["bias_init"]),
        sequences=bool(attrs["sequences"]),
        reverse=bool(attrs["reverse"]),
        **kwargs,
    )


MERGES: dict[str, Callable] = {
    "concat": lambda a, b: jnp.concatenate([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
}


class Bidirectional(nn.Module):
    """Keras' ``Bidirectional``: ``forward`` and ``backward`` layers, merged.

    The backward layer runs on the reversed sequence; its sequence output is
    flipped back so step ``t`` of both directions lines up.
    """

    forward: KerasRecurrent
    backward: KerasRecurrent
    merge: str = "concat"

    def __call__(self, x: jax.Array) -> jax.Array:
        return MERGES[self.merge](self.forward(x), self.backward(x))


# ---------------------------------------------------------------- attention


def attention_mask(q: jax.Array, kv: jax.Array, causal: bool) -> jax.Array | None:
    """Keras' causal mask ``[1, 1, Tq, Tk]``: query ``i`` sees keys ``j <= i``."""
    if not causal:
        return None
    return jnp.tril(jnp.ones((q.shape[1], kv.shape[1]), jnp.bool_))[None, None]


class KerasAttention(nn.Module):
    """Multi-head attention with separate key and value sizes per head.

    Parameters as in Flax's ``MultiHeadDotProductAttention`` (``query``, ``key``,
    ``value`` kernels ``[D, heads, size]`` and ``out`` ``[heads, value_dim, Dq]``).
    """

    heads: int
    key_dim: int
    value_dim: int
    use_bias: bool = True
    kernel_init: Callable = jax.nn.initializers.glorot_uniform()
    bias_init: Callable = jax.nn.initializers.zeros
    dropout_rate: float = 0.0
    deterministic: bool = True
    dtype: Any = None

    @nn.compact
    def __call__(self, q: jax.Array, kv: jax.Array, mask=None) -> jax.Array:
        dense = dict(
            use_bias=self.use_bias,
            kernel_init=self.kernel_init,
            bias_init=self.bias_init,
            dtype=self.dtype,
            dot_general=flat_dot_general,
        )
        query = nn.DenseGeneral((self.heads, self.key_dim), name="query", **dense)(q)
        key = nn.DenseGeneral((self.heads, self.key_dim), name="key", **dense)(kv)
        value = nn.DenseGeneral((self.heads, self.value_dim), name="value", **dense)(kv)
        rng = None
        if not self.deterministic and self.dropout_rate > 0:
            rng = self.make_rng("dropout")
        mixed = nn.dot_product_attention(
            query,
            key,
            value,
            mask=mask,
            dropout_rng=rng,
            dropout_rate=self.dropout_rate,
            deterministic=self.deterministic,
            dtype=self.dtype,
        )
        return nn.DenseGeneral(q.shape[-1], axis=(-2, -1), name="out", **dense)(mixed)


# ---------------------------------------------------------------- other modules


class SeparableConv(nn.Module):
    """Keras' ``SeparableConv``: a depthwise conv (no bias), then a 1×1 conv."""

    features: int
    kernel_size: tuple[int, ...]
    multiplier: int = 1
    strides: tuple[int, ...] = (1,)
    padding: Any = "VALID"
    kernel_dilation: tuple[int, ...] = (1,)
    use_bias: bool = True
    kernel_init: Callable = jax.nn.initializers.glorot_uniform()
    bias_init: Callable = jax.nn.initializers.zeros
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels, rank = x.shape[-1], len(self.kernel_size)
        common = dict(kernel_init=self.kernel_init, dtype=self.dtype)
        depthwise = nn.Conv(
            channels * self.multiplier,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            kernel_dilation=self.kernel_dilation,
            feature_group_count=channels,
            use_bias=False,
            name="depthwise",
            **common,
        )
        pointwise = nn.Conv(
            self.features,
            (1,) * rank,
            use_bias=self.use_bias,
            bias_init=self.bias_init,
            name="pointwise",
            **common,
        )
        return pointwise(depthwise(x))


class PositionEmbedding(nn.Module):
    """A learned ``[max_len, D]`` table whose first ``T`` rows are added to ``[B, T, D]``."""

    max_len: int
    embedding_init: Callable = jax.nn.initializers.glorot_uniform()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        table = self.param(
            "embedding", self.embedding_init, (self.max_len, x.shape[-1])
        )
        return x + table[: x.shape[1]].astype(x.dtype)
