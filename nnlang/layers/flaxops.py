"""Flax lowerings of the built-in layers, keyed by layer name.

Each function takes the node's bound ``attrs`` and a :class:`nnlang.lower.LowerCtx`
and returns ``fn(*arrays) -> array`` (arrays carry the batch axis first). A
layer with parameters creates its Flax module once, named ``ctx.name``, and
the returned function closes over it, so a layer re-applied by name shares
its weights. JAX and Flax are imported inside the functions: importing
:mod:`nnlang.layers` must stay JAX-free for ``nnc check``.

Flax's own layers are used where their parameter layout matches Keras'
counts (Dense, Conv, ConvTranspose, BatchNorm, LayerNorm, GroupNorm, Embed,
MultiHeadDotProductAttention). The recurrent layers are Keras-layout modules
(LSTM: kernel ``[F, 4u]``, recurrent kernel ``[u, 4u]``, one bias ``[4u]``; GRU
with ``reset_after``: two biases) that project the inputs of all time steps
in one matmul before the ``lax.scan``, leaving only ``h @ U`` inside the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnlang.layers.args import resolve_function
from nnlang.layers.sequence import inner_layer

Lowering = Callable[[dict, Any], Callable[..., Any]]


def _jax():
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    return nn, jax, jnp


# ---------------------------------------------------------------- functions


def activation(value) -> Callable:
    """The JAX function for an ``act=`` value or an activation layer's name."""
    _, jax, jnp = _jax()
    name, params = resolve_function(value)
    alpha = params.get("alpha")
    axis = params.get("axis", -1)
    table = {
        "none": lambda x: x, "linear": lambda x: x, "relu": jax.nn.relu,
        "relu6": jax.nn.relu6, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
        "silu": jax.nn.silu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
        "softplus": jax.nn.softplus,
        "leaky_relu": lambda x: jax.nn.leaky_relu(x, alpha if alpha is not None else 0.3),
        "elu": lambda x: jax.nn.elu(x, alpha if alpha is not None else 1.0),
        "softmax": lambda x: jax.nn.softmax(x, axis=axis),
        "log_softmax": lambda x: jax.nn.log_softmax(x, axis=axis),
    }
    return table[name]


def initializer(value) -> Callable:
    """A ``jax.nn.initializers`` function for an ``init=`` value (Keras defaults)."""
    _, jax, jnp = _jax()
    init = jax.nn.initializers
    name, params = resolve_function(value)
    table = {
        "glorot_uniform": lambda: init.glorot_uniform(),
        "glorot_normal": lambda: init.glorot_normal(),
        "he_uniform": lambda: init.he_uniform(),
        "he_normal": lambda: init.he_normal(),
        "lecun_uniform": lambda: init.lecun_uniform(),
        "lecun_normal": lambda: init.lecun_normal(),
        "orthogonal": lambda: init.orthogonal(params.get("gain", 1.0)),
        "zeros": lambda: init.zeros,
        "ones": lambda: init.ones,
        "constant": lambda: init.constant(params.get("value", 0.0)),
        "normal": lambda: init.normal(params.get("std", 0.05)),
        "truncated_normal": lambda: init.truncated_normal(params.get("std", 0.05)),
        "uniform": lambda: _uniform(params.get("scale", 0.05)),
    }
    return table[name]()


def _uniform(scale: float):
    _, jax, _ = _jax()

    def init(key, shape, dtype=None):
        return jax.random.uniform(key, shape, dtype or "float32", -scale, scale)

    return init


def _per_axis(value, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * rank


def _padding(value, rank: int):
    if isinstance(value, str):
        return str(value).upper()
    return [(int(p), int(p)) for p in _per_axis(value, rank)]


def _dense_kwargs(attrs: dict, ctx) -> dict:
    return {"use_bias": bool(attrs.get("bias", True)),
            "kernel_init": initializer(attrs.get("init", "glorot_uniform")),
            "bias_init": initializer(attrs.get("bias_init", "zeros")),
            "dtype": ctx.dtype, "name": ctx.name, "parent": ctx.module}


def _lazy(build: Callable[[Any], Callable]) -> Callable:
    """Build the Flax module on the first call, when the input's rank is known."""
    built: list[Callable] = []

    def call(*xs):
        if not built:
            built.append(build(xs[0]))
        return built[0](*xs)

    return call


# ---------------------------------------------------------------- core


def lower_dense(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.Dense(attrs["units"], **_dense_kwargs(attrs, ctx))
    act = activation(attrs.get("act", "none"))
    return lambda x: act(layer(x))


def lower_flatten(attrs, ctx):
    return lambda x: x.reshape(x.shape[0], -1)


def lower_reshape(attrs, ctx):
    shape = tuple(int(d) for d in attrs["shape"])
    return lambda x: x.reshape(x.shape[0], *shape)


def lower_dropout(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.Dropout(attrs["rate"], deterministic=not ctx.train, name=ctx.name,
                       parent=ctx.module)
    return lambda x: layer(x)


def lower_identity(attrs, ctx):
    return lambda x: x


def lower_activation_layer(name: str) -> Lowering:
    def lower(attrs, ctx):
        from nnlang.values import CallValue

        params = {k: v for k, v in attrs.items()}
        return activation(CallValue(name, (), params) if params else name)

    return lower


# ---------------------------------------------------------------- convolution


def _fixed_kernel(values, rank: int):
    """An initialiser that returns fixed kernel values, broadcast to the kernel shape."""
    _, _, jnp = _jax()
    array = jnp.asarray(values, dtype=jnp.float32)

    def init(key, shape, dtype=None):
        if array.ndim == rank:  # one filter for every input and output channel
            return jnp.broadcast_to(array.reshape(*array.shape, 1, 1), shape).astype(
                dtype or jnp.float32)
        return array.reshape(shape).astype(dtype or jnp.float32)

    return init


def lower_conv(attrs, ctx):
    nn, _, _ = _jax()
    act = activation(attrs.get("act", "none"))

    def build(x):
        rank = x.ndim - 2
        kwargs = _dense_kwargs(attrs, ctx)
        if attrs.get("weights") is not None:
            kwargs["kernel_init"] = _fixed_kernel(attrs["weights"], rank)
        layer = nn.Conv(
            attrs["filters"], _per_axis(attrs["kernel"], rank),
            strides=_per_axis(attrs["stride"], rank), padding=_padding(attrs["padding"], rank),
            kernel_dilation=_per_axis(attrs["dilation"], rank),
            feature_group_count=int(attrs["groups"]), **kwargs)
        return lambda x: act(layer(x))

    return _lazy(build)


def lower_depthwise_conv(attrs, ctx):
    nn, _, _ = _jax()
    act = activation(attrs.get("act", "none"))

    def build(x):
        rank, channels = x.ndim - 2, x.shape[-1]
        layer = nn.Conv(
            channels * attrs["multiplier"], _per_axis(attrs["kernel"], rank),
            strides=_per_axis(attrs["stride"], rank), padding=_padding(attrs["padding"], rank),
            kernel_dilation=_per_axis(attrs["dilation"], rank),
            feature_group_count=channels, **_dense_kwargs(attrs, ctx))
        return lambda x: act(layer(x))

    return _lazy(build)


def lower_separable_conv(attrs, ctx):
    nn, _, _ = _jax()
    act = activation(attrs.get("act", "none"))

    class SeparableConv(nn.Module):
        """Keras' SeparableConv: a depthwise conv (no bias), then a 1×1 conv."""

        @nn.compact
        def __call__(self, x):
            rank, channels = x.ndim - 2, x.shape[-1]
            kw = _dense_kwargs(attrs, ctx)
            kw.pop("name"), kw.pop("parent")
            depthwise = nn.Conv(
                channels * attrs["multiplier"], _per_axis(attrs["kernel"], rank),
                strides=_per_axis(attrs["stride"], rank),
                padding=_padding(attrs["padding"], rank),
                kernel_dilation=_per_axis(attrs["dilation"], rank),
                feature_group_count=channels, name="depthwise",
                **{**kw, "use_bias": False})
            pointwise = nn.Conv(attrs["filters"], (1,) * rank, name="pointwise", **kw)
            return pointwise(depthwise(x))

    layer = SeparableConv(name=ctx.name, parent=ctx.module)
    return lambda x: act(layer(x))


def lower_conv_transpose(attrs, ctx):
    nn, _, _ = _jax()
    act = activation(attrs.get("act", "none"))

    def build(x):
        rank = x.ndim - 2
        layer = nn.ConvTranspose(
            attrs["filters"], _per_axis(attrs["kernel"], rank),
            strides=_per_axis(attrs["stride"], rank), padding=_padding(attrs["padding"], rank),
            kernel_dilation=_per_axis(attrs["dilation"], rank), **_dense_kwargs(attrs, ctx))
        return lambda x: act(layer(x))

    return _lazy(build)


# ---------------------------------------------------------------- pooling and resizing


def lower_pool(kind: str) -> Lowering:
    def lower(attrs, ctx):
        nn, _, _ = _jax()

        def pool(x):
            rank = x.ndim - 2
            window = _per_axis(attrs["size"], rank)
            strides = _per_axis(attrs["stride"], rank)
            padding = _padding(attrs["padding"], rank)
            if kind == "max":
                return nn.max_pool(x, window, strides, padding)
            return nn.avg_pool(x, window, strides, padding, count_include_pad=False)

        return pool

    return lower


def lower_global_pool(kind: str) -> Lowering:
    def lower(attrs, ctx):
        _, _, jnp = _jax()
        reduce = jnp.mean if kind == "avg" else jnp.max
        return lambda x: reduce(x, axis=tuple(range(1, x.ndim - 1)))

    return lower


def lower_upsample(attrs, ctx):
    _, _, jnp = _jax()

    def up(x):
        for axis, f in enumerate(_per_axis(attrs["factor"], x.ndim - 2), start=1):
            x = jnp.repeat(x, f, axis=axis)
        return x

    return up


def _sides(n, rank: int) -> list[tuple[int, int]]:
    if isinstance(n, (tuple, list)):
        return [tuple(s) if isinstance(s, (tuple, list)) else (int(s), int(s)) for s in n]
    return [(int(n), int(n))] * rank


def lower_zero_pad(attrs, ctx):
    _, _, jnp = _jax()
    return lambda x: jnp.pad(x, [(0, 0), *_sides(attrs["n"], x.ndim - 2), (0, 0)])


def lower_crop(attrs, ctx):
    def crop(x):
        index = [slice(None)]
        for (lo, hi), size in zip(_sides(attrs["n"], x.ndim - 2), x.shape[1:-1], strict=True):
            index.append(slice(lo, size - hi))
        return x[tuple(index)]

    return crop


# ---------------------------------------------------------------- normalisation


def lower_batchnorm(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.BatchNorm(
        use_running_average=not ctx.train, axis=int(attrs["axis"]),
        momentum=attrs["momentum"], epsilon=attrs["eps"], use_scale=attrs["scale"],
        use_bias=attrs["bias"], scale_init=initializer(attrs["init"]),
        bias_init=initializer(attrs["bias_init"]), dtype=ctx.dtype, name=ctx.name,
        parent=ctx.module)
    return lambda x: layer(x)


def lower_layernorm(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.LayerNorm(
        epsilon=attrs["eps"], reduction_axes=int(attrs["axis"]),
        feature_axes=int(attrs["axis"]), use_scale=attrs["scale"], use_bias=attrs["bias"],
        scale_init=initializer(attrs["init"]), bias_init=initializer(attrs["bias_init"]),
        dtype=ctx.dtype, name=ctx.name, parent=ctx.module)
    return lambda x: layer(x)


def lower_groupnorm(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.GroupNorm(
        num_groups=attrs["groups"], epsilon=attrs["eps"], use_scale=attrs["scale"],
        use_bias=attrs["bias"], scale_init=initializer(attrs["init"]),
        bias_init=initializer(attrs["bias_init"]), dtype=ctx.dtype, name=ctx.name,
        parent=ctx.module)
    return lambda x: layer(x)


# ---------------------------------------------------------------- sequences


def lower_embedding(attrs, ctx):
    nn, _, _ = _jax()
    layer = nn.Embed(attrs["vocab"], attrs["dim"], embedding_init=initializer(attrs["init"]),
                     dtype=ctx.dtype, name=ctx.name, parent=ctx.module)
    return lambda ids: layer(ids)


def _recurrent_module(kind: str, attrs: dict, name: str | None, parent):
    """A Keras-layout recurrent layer over ``[B, T, F]``."""
    nn, jax, jnp = _jax()
    units = attrs["units"]
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    act = activation(attrs.get("act", "tanh"))
    rec_act = activation(attrs.get("recurrent_act", "sigmoid")) if kind != "rnn" else None
    reset_after = attrs.get("reset_after", True)

    class Recurrent(nn.Module):
        @nn.compact
        def __call__(self, x):
            features = x.shape[-1]
            kernel = self.param("kernel", initializer(attrs["init"]), (features, gates * units))
            recurrent = self.param("recurrent_kernel", initializer(attrs["recurrent_init"]),
                                   (units, gates * units))
            bias_shape = (2, gates * units) if kind == "gru" and reset_after else (
                gates * units,)
            bias = self.param("bias", _rnn_bias(kind, units, attrs), bias_shape) \
                if attrs.get("bias", True) else jnp.zeros(bias_shape, x.dtype)
            if attrs.get("reverse"):
                x = jnp.flip(x, axis=1)
            # the input projection of every step at once, outside the loop
            x_bias = bias[0] if bias.ndim == 2 else bias
            projected = jnp.einsum("btf,fg->btg", x, kernel) + x_bias
            h0 = jnp.zeros((x.shape[0], units), projected.dtype)
            carry = (h0, h0) if kind == "lstm" else h0
            step = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}[kind]

            def body(carry, z):
                new = step(carry, z, recurrent, bias, act, rec_act, units)
                return new, new[0] if kind == "lstm" else new

            carry, hs = jax.lax.scan(body, carry, jnp.swapaxes(projected, 0, 1))
            if attrs.get("sequences"):
                hs = jnp.swapaxes(hs, 0, 1)
                return jnp.flip(hs, axis=1) if attrs.get("reverse") else hs
            return carry[0] if kind == "lstm" else carry

    # inside another module (bidirectional) the parent is implicit
    return Recurrent(name=name, parent=parent) if parent is not None else Recurrent(name=name)


def _rnn_bias(kind: str, units: int, attrs: dict):
    _, _, jnp = _jax()
    base = initializer(attrs["bias_init"])

    def init(key, shape, dtype=None):
        b = base(key, shape, dtype or jnp.float32)
        if kind == "lstm":  # Keras' unit_forget_bias: the forget gate starts open
            b = b.at[units:2 * units].set(1.0)
        return b

    return init


def _rnn_step(h, z, recurrent, bias, act, rec_act, units):
    return act(z + h @ recurrent)


def _lstm_step(carry, z, recurrent, bias, act, rec_act, units):
    h, c = carry
    z = z + h @ recurrent
    i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))  # Keras order
    c = rec_act(f) * c + rec_act(i) * act(g)
    return rec_act(o) * act(c), c


def _gru_step(h, z, recurrent, bias, act, rec_act, units):
    hz = h @ recurrent + (bias[1] if bias.ndim == 2 else 0.0)
    xz, xr, xh = (z[:, k * units:(k + 1) * units] for k in range(3))  # Keras: z, r, h
    rz, rr, rh = (hz[:, k * units:(k + 1) * units] for k in range(3))
    update = rec_act(xz + rz)
    reset = rec_act(xr + rr)
    candidate = act(xh + reset * rh)
    return update * h + (1 - update) * candidate


def lower_recurrent(kind: str) -> Lowering:
    def lower(attrs, ctx):
        layer = _recurrent_module(kind, attrs, ctx.name, ctx.module)
        return lambda x: layer(x)

    return lower


def lower_bidirectional(attrs, ctx):
    nn, _, jnp = _jax()
    spec, inner = inner_layer(attrs)
    merge = str(attrs["merge"])

    class Bidirectional(nn.Module):
        @nn.compact
        def __call__(self, x):
            forward = _recurrent_module(spec.name, {**inner, "reverse": False}, "forward",
                                        None)(x)
            backward = _recurrent_module(spec.name, {**inner, "reverse": True}, "backward",
                                         None)(x)
            if merge == "concat":
                return jnp.concatenate([forward, backward], axis=-1)
            if merge == "sum":
                return forward + backward
            if merge == "mul":
                return forward * backward
            return (forward + backward) / 2

    layer = Bidirectional(name=ctx.name, parent=ctx.module)
    return lambda x: layer(x)


def lower_attention(attrs, ctx):
    nn, _, _ = _jax()
    if attrs["value_dim"] != attrs["key_dim"]:
        raise NotImplementedError("attention with value_dim != key_dim is not lowered yet")

    def build(q, *kv):
        layer = nn.MultiHeadDotProductAttention(
            num_heads=attrs["heads"], qkv_features=attrs["heads"] * attrs["key_dim"],
            out_features=q.shape[-1], use_bias=attrs["bias"],
            kernel_init=initializer(attrs["init"]), bias_init=initializer(attrs["bias_init"]),
            dropout_rate=attrs["dropout"], deterministic=not ctx.train, dtype=ctx.dtype,
            name=ctx.name, parent=ctx.module)

        def attend(q, *kv):
            source = kv[0] if kv else q
            mask = nn.make_causal_mask(q[..., 0]) if attrs["causal"] else None
            return layer(q, source, mask=mask)

        return attend

    return _lazy(build)


def lower_positional(attrs, ctx):
    nn, _, _ = _jax()

    class Positional(nn.Module):
        @nn.compact
        def __call__(self, x):
            table = self.param("embedding", initializer(attrs["init"]),
                               (attrs["max_len"], x.shape[-1]))
            return x + table[: x.shape[1]].astype(x.dtype)

    layer = Positional(name=ctx.name, parent=ctx.module)
    return lambda x: layer(x)


# ---------------------------------------------------------------- merging


def lower_merge(kind: str) -> Lowering:
    def lower(attrs, ctx):
        _, _, jnp = _jax()

        def merge(*xs):
            if kind == "concat":
                axis = int(attrs["axis"])
                return jnp.concatenate(xs, axis=axis + 1 if axis >= 0 else axis)
            out = xs[0]
            for x in xs[1:]:
                out = out * x if kind == "multiply" else out + x
            return out / len(xs) if kind == "average" else out

        return merge

    return lower


# ---------------------------------------------------------------- augmentation


def lower_random_flip(attrs, ctx):
    _, jax, jnp = _jax()
    mode = str(attrs["mode"])
    if not ctx.train:
        return lambda x: x

    def flip(x):
        key = ctx.module.make_rng("dropout")
        for axis, wanted in ((2, mode in ("horizontal", "both")),
                             (1, mode in ("vertical", "both"))):
            if wanted and x.ndim > axis + 1:
                key, sub = jax.random.split(key)
                coin = jax.random.bernoulli(sub, 0.5, (x.shape[0],) + (1,) * (x.ndim - 1))
                x = jnp.where(coin, jnp.flip(x, axis=axis), x)
        return x

    return flip


def lower_random_crop(attrs, ctx):
    _, jax, _ = _jax()
    size = tuple(int(d) for d in attrs["shape"])

    def crop(x):
        spatial = size[: x.ndim - 2]
        if not ctx.train:  # the centre crop, deterministic
            starts = [(n - s) // 2 for n, s in zip(x.shape[1:-1], spatial, strict=True)]
            index = tuple(slice(a, a + s) for a, s in zip(starts, spatial, strict=True))
            return x[(slice(None), *index)]
        key = ctx.module.make_rng("dropout")
        keys = jax.random.split(key, len(spatial))
        starts = [jax.random.randint(k, (), 0, n - s + 1)
                  for k, n, s in zip(keys, x.shape[1:-1], spatial, strict=True)]
        return jax.lax.dynamic_slice(x, (0, *starts, 0), (x.shape[0], *spatial, x.shape[-1]))

    return crop


def lower_gaussian_noise(attrs, ctx):
    _, jax, _ = _jax()
    if not ctx.train:
        return lambda x: x

    def noise(x):
        key = ctx.module.make_rng("dropout")
        return x + attrs["std"] * jax.random.normal(key, x.shape, x.dtype)

    return noise


# ---------------------------------------------------------------- the table

LOWERINGS: dict[str, Lowering] = {
    "dense": lower_dense, "flatten": lower_flatten, "reshape": lower_reshape,
    "dropout": lower_dropout, "identity": lower_identity,
    **{name: lower_conv for name in ("conv", "conv1d", "conv2d", "conv3d")},
    "depthwise_conv": lower_depthwise_conv, "separable_conv": lower_separable_conv,
    "conv_transpose": lower_conv_transpose,
    **{f"maxpool{r}": lower_pool("max") for r in ("", "1d", "2d", "3d")},
    **{f"avgpool{r}": lower_pool("avg") for r in ("", "1d", "2d", "3d")},
    "global_avgpool": lower_global_pool("avg"), "global_maxpool": lower_global_pool("max"),
    "upsample": lower_upsample, "zero_pad": lower_zero_pad, "crop": lower_crop,
    "batchnorm": lower_batchnorm, "layernorm": lower_layernorm, "groupnorm": lower_groupnorm,
    "embedding": lower_embedding, "rnn": lower_recurrent("rnn"),
    "lstm": lower_recurrent("lstm"), "gru": lower_recurrent("gru"),
    "bidirectional": lower_bidirectional, "attention": lower_attention,
    "positional": lower_positional,
    **{name: lower_merge(name) for name in ("add", "multiply", "average", "concat")},
    "random_flip": lower_random_flip, "random_crop": lower_random_crop,
    "gaussian_noise": lower_gaussian_noise,
    **{name: lower_activation_layer(name) for name in (
        "relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax",
        "log_softmax", "softplus")},
}
