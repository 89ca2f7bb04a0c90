"""The five workloads written by hand in Flax linen, as a JAX user would write them.

Like for like with the `.nn` files in ``benchmarks/workloads``: the same layers,
sizes, activations and Keras defaults that nnc lowers to (batchnorm momentum
0.99 and eps 1e-3, layernorm eps 1e-3, an LSTM with Keras' fused ``i f c o``
gates and one bias). Submodules carry the `.nn` layer names (``dense_0``,
``bottleneck_1/conv_bn_0/conv_0``), so the variable tree is *identical* to
nnc's and the benchmark starts every peer from nnc's initial arrays.

Why share the initial arrays instead of matching initialisers? nnc draws each
layer's key from Flax's per-name RNG folding; matching that would only
re-derive nnc's names. Loading the arrays makes "same loss after 3 steps"
(``tests/test_benchmarks.py``) a test of the forward pass, the loss and the
optimiser alone, and a tree mismatch fails loudly (``jax.tree.map`` on two
different structures raises). The modules still have their own initialisers,
so they also train standalone.

``dtype`` is the computation dtype (``bfloat16`` for ``precision = bf16`` and
``mixed``); parameters are whatever dtype the caller passes (float32 under
``mixed``: Flax casts them to ``dtype`` inside each layer, as nnc does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

BN = {"momentum": 0.99, "epsilon": 1e-3}  # Keras' BatchNormalization defaults
LN_EPS = 1e-3  # Keras' LayerNormalization default


class MLP(nn.Module):
    """W1: 64 → 256 → 256 → 10 (logits; the loss applies the softmax)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.relu(nn.Dense(256, dtype=self.dtype, name="dense_0")(x))
        x = nn.relu(nn.Dense(256, dtype=self.dtype, name="dense_1")(x))
        return nn.Dense(10, dtype=self.dtype, name="dense_2")(x)


class CNN(nn.Module):
    """W2: conv32 → conv64 → maxpool 2 → dense128 → dense10 on 8×8×1."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        conv = dict(kernel_size=(3, 3), padding="SAME", dtype=self.dtype)
        x = nn.relu(nn.Conv(32, name="conv_0", **conv)(x))
        x = nn.relu(nn.Conv(64, name="conv_1", **conv)(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(128, dtype=self.dtype, name="dense_0")(x))
        return nn.Dense(10, dtype=self.dtype, name="dense_1")(x)


class LSTM(nn.Module):
    """An LSTM over ``[B, T, F]`` returning the last state, Keras' layout.

    One ``[F + u, 4u]``-sized matmul pair per step for all four gates, inside
    ``lax.scan``; the forget-gate bias starts at 1 (Keras' unit_forget_bias).
    """

    units: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        u = self.units
        kernel = self.param(
            "kernel", nn.initializers.glorot_uniform(), (x.shape[-1], 4 * u)
        )
        recurrent = self.param(
            "recurrent_kernel", nn.initializers.orthogonal(), (u, 4 * u)
        )
        bias = self.param(
            "bias", lambda _, s: jnp.zeros(s).at[u : 2 * u].set(1.0), (4 * u,)
        )
        x, kernel, recurrent, bias = nn.dtypes.promote_dtype(
            x, kernel, recurrent, bias, dtype=self.dtype
        )

        def step(carry, xt):
            h, c = carry
            i, f, g, o = jnp.split(xt @ kernel + bias + h @ recurrent, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        h0 = jnp.zeros((x.shape[0], u), x.dtype)
        (h, _), _ = jax.lax.scan(step, (h0, h0), jnp.swapaxes(x, 0, 1))
        return h


class Forecaster(nn.Module):
    """W3: LSTM(64) → dense(1)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = LSTM(64, dtype=self.dtype, name="lstm_0")(x)
        return nn.Dense(1, dtype=self.dtype, name="dense_0")(h)


class ConvBN(nn.Module):
    """conv (no bias, same padding) → batchnorm → relu."""

    filters: int
    kernel: int = 3
    stride: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.Conv(
            self.filters,
            (self.kernel, self.kernel),
            strides=self.stride,
            padding="SAME",
            use_bias=False,
            dtype=self.dtype,
            name="conv_0",
        )(x)
        x = nn.BatchNorm(
            use_running_average=not train, dtype=self.dtype, name="batchnorm_0", **BN
        )(x)
        return nn.relu(x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 filters) with a projected or identity shortcut."""

    filters: int
    stride: int = 1
    project: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        f, d = self.filters, self.dtype
        norm = dict(use_running_average=not train, dtype=d, **BN)
        y = ConvBN(f, 1, self.stride, dtype=d, name="conv_bn_0")(x, train)
        y = ConvBN(f, 3, dtype=d, name="conv_bn_1")(y, train)
        y = nn.Conv(4 * f, (1, 1), use_bias=False, dtype=d, name="conv_0")(y)
        y = nn.BatchNorm(name="batchnorm_0", **norm)(y)
        s = x
        if self.project:
            s = nn.Conv(
                4 * f, (1, 1), strides=self.stride, use_bias=False, dtype=d,
                name="conv_1",
            )(x)  # fmt: skip
            s = nn.BatchNorm(name="batchnorm_1", **norm)(s)
        return nn.relu(y + s)


class ResNet(nn.Module):
    """W4: conv_bn(32), four bottlenecks (16, 16, 32/2, 32), global mean, dense10."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        d = self.dtype
        x = ConvBN(32, dtype=d, name="conv_bn_0")(x, train)
        x = Bottleneck(16, project=True, dtype=d, name="bottleneck_0")(x, train)
        x = Bottleneck(16, dtype=d, name="bottleneck_1")(x, train)
        x = Bottleneck(32, 2, project=True, dtype=d, name="bottleneck_2")(x, train)
        x = Bottleneck(32, dtype=d, name="bottleneck_3")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(10, dtype=d, name="dense_0")(x)


class Positional(nn.Module):
    """A learned ``[max_len, D]`` position table added to ``[B, T, D]``."""

    max_len: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        table = self.param(
            "embedding", nn.initializers.glorot_uniform(), (self.max_len, x.shape[-1])
        )
        return x + table[: x.shape[1]].astype(x.dtype)


class Encoder(nn.Module):
    """Post-norm encoder block: ``h = LN(x + MHA(x))``, ``LN(h + FFN(h))``."""

    heads: int = 4
    key_dim: int = 16
    hidden: int = 128
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        d, width = self.dtype, self.heads * self.key_dim
        a = nn.MultiHeadDotProductAttention(
            num_heads=self.heads,
            qkv_features=width,
            out_features=x.shape[-1],
            dtype=d,
            name="attention_0",
        )(x, x)
        h = nn.LayerNorm(epsilon=LN_EPS, dtype=d, name="layernorm_0")(x + a)
        f = nn.relu(nn.Dense(self.hidden, dtype=d, name="dense_0")(h))
        f = nn.Dense(width, dtype=d, name="dense_1")(f)
        return nn.LayerNorm(epsilon=LN_EPS, dtype=d, name="layernorm_1")(h + f)


class Transformer(nn.Module):
    """W5: embedding(1000, 64) + positions, two encoder blocks, mean, dense2."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, ids: jax.Array, train: bool = False) -> jax.Array:
        d = self.dtype
        x = nn.Embed(1000, 64, dtype=d, name="embedding_0")(ids)
        x = Positional(64, name="positional_0")(x)
        x = Encoder(dtype=d, name="encoder_0")(x)
        x = Encoder(dtype=d, name="encoder_1")(x)
        return nn.Dense(2, dtype=d, name="dense_0")(jnp.mean(x, axis=1))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "w1": MLP,
    "w2": CNN,
    "w3": Forecaster,
    "w4": ResNet,
    "w5": Transformer,
}


def build_model(key: str, precision: str = "f32") -> nn.Module:
    """The hand-written model of workload ``key`` computing in ``precision``."""
    dtype = jnp.bfloat16 if precision in ("bf16", "mixed") else jnp.float32
    return MODELS[key](dtype=dtype)
