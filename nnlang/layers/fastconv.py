"""Convolution and pooling lowerings that XLA:CPU runs fast, inside loops too.

XLA:CPU runs ``lax.conv_general_dilated`` through its convolution runtime,
which is fast in a plain jitted step but falls off the fast path inside a
``lax.while_loop``: a training epoch of the issue's W2 CNN fused into one loop
ran 0.04x as fast as a loop of jitted steps. A convolution written as im2col
-- ``prod(kernel)`` strided slices of the padded input, concatenated on the
feature axis, then one ``dot_general`` with the kernel reshaped to
``[prod(kernel) * C, F]`` -- is a GEMM plus copies, which XLA:CPU fuses and
runs as fast in a loop as outside one. Its backward pass is a GEMM for the
kernel and a GEMM plus padded adds (col2im) for the input. The GEMM is a 2-D
matmul, whose gradient XLA:CPU runs without transposing copies, and with that
im2col is faster than XLA's convolution in a plain jitted step as well.

:class:`PatchConv` keeps ``nn.Conv``'s parameters (``kernel [*k, C, F]``,
``bias [F]``), so checkpoints do not depend on the strategy;
:func:`conv_strategy` picks it per backend and shape (measured numbers there).
:func:`window_max` is ``maxpool`` with ``stride == size`` as a reshape and a
max, whose gradient is elementwise instead of XLA's ``select_and_scatter``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from nnlang.layers.flaxops import TUNING, flat_dot_general, in_loop

# im2col copies each input element prod(kernel) times; above this many patch
# elements per example the copy outweighs the GEMM's gain (see conv_strategy).
MAX_PATCH_ELEMENTS = 1 << 20


def tuned(key: str) -> str | None:
    """A forced strategy: ``TUNING[key + "_loop" or "_step"]``, else ``TUNING[key]``."""
    where = "_loop" if in_loop() else "_step"
    return TUNING.get(key + where, TUNING.get(key))


def conv_strategy(x_shape: Sequence[int], kernel: Sequence[int], channels: int,
                  groups: int) -> str:  # fmt: skip
    """``"patches"`` (im2col + GEMM) or ``"xla"`` (``nn.Conv``) for one convolution.

    On CPU, im2col. Inside a fused epoch XLA:CPU keeps the kernel-gradient
    convolutions of a ``while_loop`` body in layouts its fast runtime lacks
    (W2 fused: 16.5 s/epoch with ``nn.Conv``, 0.22-0.36 s with im2col). In a
    plain jitted step XLA's convolution was as fast until the GEMM became a
    2-D matmul (:func:`~nnlang.layers.flaxops.flat_dot_general`); since then
    im2col measures faster there too (interleaved, per step: W2 1.24x, W4
    1.43-1.68x). Accelerators and grouped convolutions keep XLA's; so do
    patch matrices above :data:`MAX_PATCH_ELEMENTS` per example. ``TUNING``
    overrides.
    """
    forced = tuned("conv")
    if forced in ("xla", "patches"):
        return forced if groups == 1 else "xla"
    if groups != 1 or jax.default_backend() != "cpu":
        return "xla"
    size = math.prod(x_shape[1:-1]) * math.prod(kernel) * channels
    return "patches" if size <= MAX_PATCH_ELEMENTS else "xla"


def explicit_pads(in_spatial: Sequence[int], kernel: Sequence[int],
                  strides: Sequence[int], dilation: Sequence[int],
                  padding: Any) -> list[tuple[int, int]]:  # fmt: skip
    """``(before, after)`` per spatial axis, as ``lax.conv_general_dilated`` pads."""
    if isinstance(padding, str):
        extents = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
        return list(lax.padtype_to_pads(in_spatial, extents, strides, padding))
    return [tuple(p) for p in padding]


def extract_patches(x: jax.Array, kernel: Sequence[int], strides: Sequence[int],
                    dilation: Sequence[int], pads: Sequence[tuple[int, int]]
                    ) -> jax.Array:  # fmt: skip
    """``[B, *S', prod(kernel) * C]``: every window of ``x`` flattened (im2col).

    The feature order is ``(*kernel offsets, C)``, the order of a ``[*k, C, F]``
    kernel reshaped to ``[prod(k) * C, F]``.
    """
    x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    out = [
        (n - (k - 1) * d - 1) // s + 1
        for n, k, s, d in zip(x.shape[1:-1], kernel, strides, dilation, strict=True)
    ]
    taps = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        start = (0, *(o * d for o, d in zip(offset, dilation, strict=True)), 0)
        limit = (
            x.shape[0],
            *(a + (m - 1) * s + 1 for a, m, s in zip(start[1:-1], out, strides,
                                                     strict=True)),
            x.shape[-1],
        )  # fmt: skip
        taps.append(lax.slice(x, start, limit, (1, *strides, 1)))
    return taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)


class PatchConv(nn.Module):
    """``nn.Conv`` (groups 1) computed as im2col and one matmul.

    Same parameters, initialisers and outputs as ``nn.Conv``; see the module
    doc for why.
    """

    features: int
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Any  # "SAME", "VALID" or (before, after) pairs
    kernel_dilation: tuple[int, ...]
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        kernel = self.param(
            "kernel", self.kernel_init, (*self.kernel_size, c, self.features)
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,))
            if self.use_bias
            else None
        )
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        pads = explicit_pads(
            x.shape[1:-1], self.kernel_size, self.strides, self.kernel_dilation,
            self.padding,
        )  # fmt: skip
        cols = extract_patches(
            x, self.kernel_size, self.strides, self.kernel_dilation, pads
        )
        y = flat_dot_general(
            cols,
            kernel.reshape(-1, self.features),
            (((cols.ndim - 1,), (0,)), ((), ())),
        )
        return y if bias is None else y + bias


def can_reshape_pool(x_shape: Sequence[int], window: Sequence[int],
                     strides: Sequence[int], padding: Any) -> bool:  # fmt: skip
    """Whether ``maxpool`` tiles the input exactly: stride == size, no padding
    needed (``VALID``, or ``SAME`` on axes that divide evenly)."""
    if tuple(window) != tuple(strides):
        return False
    if not isinstance(padding, str):
        if any(p != (0, 0) for p in map(tuple, padding)):
            return False
        padding = "VALID"
    if padding == "SAME":
        return all(n % k == 0 for n, k in zip(x_shape[1:-1], window, strict=True))
    return True


def window_max(x: jax.Array, window: Sequence[int]) -> jax.Array:
    """Max over non-overlapping windows (``VALID``: trailing rows dropped)."""
    b, c = x.shape[0], x.shape[-1]
    kept = [n // k * k for n, k in zip(x.shape[1:-1], window, strict=True)]
    x = x[(slice(None), *(slice(0, m) for m in kept), slice(None))]
    split = [d for m, k in zip(kept, window, strict=True) for d in (m // k, k)]
    x = x.reshape(b, *split, c)
    return jnp.max(x, axis=tuple(range(2, 2 * len(window) + 1, 2)))


def pool_strategy(x_shape: Sequence[int], window: Sequence[int],
                  strides: Sequence[int], padding: Any) -> str:  # fmt: skip
    """``"reshape"`` (:func:`window_max`) or ``"xla"`` (``nn.max_pool``).

    ``TUNING["pool"]`` overrides the choice where the reshape applies.
    """
    if not can_reshape_pool(x_shape, window, strides, padding):
        return "xla"
    forced = tuned("pool")
    if forced in ("xla", "reshape"):
        return forced
    return "reshape" if jax.default_backend() == "cpu" else "xla"
