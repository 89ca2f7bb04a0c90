"""The JAX-free shape rules against the real computations (``jax.eval_shape``).

For a seeded grid of convolution and pooling configurations (spatial rank 1 to
3, kernel, stride, padding ``valid``/``same``/int/pairs, dilation, groups), the
registry's rule must give exactly the shape of:

* ``conv``: ``jax.lax.conv_general_dilated`` with ``'SAME'``/``'VALID'`` or explicit
  pairs, as ``flax.linen.Conv`` calls it;
* ``depthwise_conv``: the same with ``feature_group_count = C``;
* ``maxpool``/``avgpool``: ``jax.lax.reduce_window``, as ``flax.linen.max_pool`` calls it;
* ``conv_transpose``: ``jax.lax.conv_transpose``, which is what
  ``flax.linen.ConvTranspose`` calls (its ``'SAME'``/``'VALID'`` sizes equal Keras'
  ``deconv_output_length`` without ``output_padding``); a few configurations also go
  through the Flax modules themselves.

Each configuration is also run on a symbolic input ``[T, H, W, C]`` and the
symbols substituted afterwards, so the symbolic arithmetic is checked by the
same oracle. Where the rule reports a shape error (a valid window longer
than the padded input), JAX must give an empty axis or refuse.
"""

from __future__ import annotations

import itertools
import random

import pytest

from nnlang.dims import substitute, sym
from nnlang.layers import LAYERS, ShapeError, bind_args
from nnlang.types import TensorType
from nnlang.values import Word

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

pytestmark = pytest.mark.jax

SYMBOLS = ("T", "H", "W")
DIMENSION_NUMBERS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}
SPATIAL = {
    1: [(7,), (10,), (16,), (3,)],
    2: [(7, 9), (8, 8), (5, 12)],
    3: [(5, 6, 7), (4, 4, 9)],
}


def _per_axis(rng: random.Random, choices, r: int):
    """An int for every axis, or a list with one value per axis."""
    if rng.random() < 0.6:
        return rng.choice(choices)
    return [rng.choice(choices) for _ in range(r)]


def _padding(rng: random.Random, r: int, words=True):
    roll = rng.random()
    if words and roll < 0.35:
        return Word("valid")
    if words and roll < 0.7:
        return Word("same")
    if roll < 0.85:
        return rng.choice([0, 1, 2])
    return [[rng.choice([0, 1, 2]), rng.choice([0, 1, 3])] for _ in range(r)]


def _lax_padding(padding, r: int):
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, int):
        return [(padding, padding)] * r
    return [tuple(p) for p in padding]


def _tuple(v, r: int) -> tuple:
    return tuple(v) if isinstance(v, list) else (v,) * r


def _configs(kind: str, n: int, seed: int):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        r = rng.choice([1, 2, 3])
        spatial = rng.choice(SPATIAL[r])
        cfg = {
            "r": r,
            "spatial": spatial,
            "kernel": _per_axis(rng, [1, 2, 3, 5], r),
            "stride": _per_axis(rng, [1, 2, 3], r),
            "dilation": _per_axis(rng, [1, 1, 2], r),
            "padding": _padding(rng, r, words=True)
            if kind != "transpose"
            else Word(rng.choice(["valid", "same"])),
        }
        out.append(cfg)
    return out


def _ids(configs):
    return [
        f"r{c['r']}-{c['spatial']}-k{c['kernel']}-s{c['stride']}-d{c['dilation']}-"
        f"p{c['padding']}"
        for c in configs
    ]


def _rule(name: str, args: tuple, kwargs: dict, shape: tuple):
    """The rule's output on the static shape, and on a symbolic one substituted."""
    spec = LAYERS[name]
    attrs = bind_args(spec, args, kwargs)
    try:
        static = spec.infer(attrs, [TensorType(shape)]).shape
    except ShapeError:
        static = None
    symbols = tuple(sym(s) for s in SYMBOLS[: len(shape) - 1])
    env = dict(zip(SYMBOLS, shape[:-1], strict=False))
    try:
        symbolic = spec.infer(attrs, [TensorType(symbols + shape[-1:])]).shape
        symbolic = tuple(substitute(d, env) for d in symbolic)
    except ShapeError:
        symbolic = None
    return static, symbolic


def _check(static, symbolic, oracle):
    """``oracle`` is JAX's shape without the batch axis, or None where JAX refused."""
    if static is None:  # the rule refused: JAX must refuse or give an empty axis
        assert oracle is None or 0 in oracle or any(d < 0 for d in oracle)
        return
    assert oracle is not None and tuple(static) == tuple(oracle)
    assert symbolic is None or tuple(symbolic) == tuple(oracle)


def _eval(fn, *shapes):
    try:
        out = jax.eval_shape(
            fn, *[jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
        )
    except (TypeError, ValueError):
        return None
    return tuple(out.shape[1:])


# ------------------------------------------------------------------ conv

CONV = _configs("conv", 160, seed=1)


@pytest.mark.parametrize("cfg", CONV, ids=_ids(CONV))
def test_conv_matches_lax(cfg):
    r, spatial = cfg["r"], cfg["spatial"]
    groups = 2 if r == 2 else 1
    c_in, filters = 4, 6
    kwargs = {
        "stride": cfg["stride"],
        "padding": cfg["padding"],
        "dilation": cfg["dilation"],
        "groups": groups,
    }
    static, symbolic = _rule(
        "conv", (filters, cfg["kernel"]), kwargs, spatial + (c_in,)
    )
    ks = _tuple(cfg["kernel"], r)

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x,
            w,
            _tuple(cfg["stride"], r),
            _lax_padding(cfg["padding"], r),
            rhs_dilation=_tuple(cfg["dilation"], r),
            dimension_numbers=DIMENSION_NUMBERS[r],
            feature_group_count=groups,
        )

    oracle = _eval(conv, (1, *spatial, c_in), (*ks, c_in // groups, filters))
    _check(static, symbolic, oracle)


DEPTHWISE = _configs("depthwise", 50, seed=2)


@pytest.mark.parametrize("cfg", DEPTHWISE, ids=_ids(DEPTHWISE))
def test_depthwise_conv_matches_lax(cfg):
    r, spatial, c, m = cfg["r"], cfg["spatial"], 3, 2
    kwargs = {
        "stride": cfg["stride"],
        "padding": cfg["padding"],
        "dilation": cfg["dilation"],
        "multiplier": m,
    }
    static, symbolic = _rule("depthwise_conv", (cfg["kernel"],), kwargs, spatial + (c,))

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x,
            w,
            _tuple(cfg["stride"], r),
            _lax_padding(cfg["padding"], r),
            rhs_dilation=_tuple(cfg["dilation"], r),
            dimension_numbers=DIMENSION_NUMBERS[r],
            feature_group_count=c,
        )

    oracle = _eval(conv, (1, *spatial, c), (*_tuple(cfg["kernel"], r), 1, c * m))
    _check(static, symbolic, oracle)


# ------------------------------------------------------------------ pooling

POOL = _configs("pool", 70, seed=3)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("cfg", POOL, ids=_ids(POOL))
def test_pool_matches_reduce_window(cfg, kind):
    r, spatial, c = cfg["r"], cfg["spatial"], 2
    size = cfg["kernel"]
    stride = cfg["stride"] if kind == "maxpool" else None  # avgpool: stride = size
    kwargs = {"padding": cfg["padding"]} | ({"stride": stride} if stride else {})
    static, symbolic = _rule(kind, (size,), kwargs, spatial + (c,))
    window = (1, *_tuple(size, r), 1)
    strides = (1, *_tuple(stride if stride else size, r), 1)
    padding = _lax_padding(cfg["padding"], r)
    if not isinstance(padding, str):
        padding = [(0, 0), *padding, (0, 0)]

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, padding)

    _check(static, symbolic, _eval(pool, (1, *spatial, c)))


# ------------------------------------------------------------------ transpose

TRANSPOSE = _configs("transpose", 60, seed=4)


@pytest.mark.parametrize("cfg", TRANSPOSE, ids=_ids(TRANSPOSE))
def test_conv_transpose_matches_lax(cfg):
    r, spatial, c, f = cfg["r"], cfg["spatial"], 3, 5
    kwargs = {
        "stride": cfg["stride"],
        "padding": cfg["padding"],
        "dilation": cfg["dilation"],
    }
    static, symbolic = _rule(
        "conv_transpose", (f, cfg["kernel"]), kwargs, spatial + (c,)
    )

    def convt(x, w):
        return jax.lax.conv_transpose(
            x,
            w,
            _tuple(cfg["stride"], r),
            str(cfg["padding"]).upper(),
            rhs_dilation=_tuple(cfg["dilation"], r),
            dimension_numbers=DIMENSION_NUMBERS[r],
        )

    oracle = _eval(convt, (1, *spatial, c), (*_tuple(cfg["kernel"], r), c, f))
    _check(static, symbolic, oracle)


def test_grid_is_large_enough():
    assert len(CONV) + len(DEPTHWISE) + 2 * len(POOL) + len(TRANSPOSE) >= 200


# ------------------------------------------------------------------ flax modules

FLAX_CASES = list(
    itertools.product(
        ["conv", "conv_transpose", "maxpool"],
        [
            ((9, 7), 3, 2, "same"),
            ((9, 7), 3, 2, "valid"),
            ((8, 8), [2, 3], [2, 1], "valid"),
            ((10,), 4, 3, "same"),
            ((6, 5, 4), 2, 2, "valid"),
        ],
    )
)


@pytest.mark.parametrize(("kind", "case"), FLAX_CASES)
def test_flax_modules_agree(kind, case):
    nn = pytest.importorskip("flax.linen")
    spatial, kernel, stride, padding = case
    r = len(spatial)
    shape = (*spatial, 3)
    ks, ss = _tuple(kernel, r), _tuple(stride, r)
    if kind == "maxpool":
        static, _ = _rule(
            kind, (kernel,), {"stride": stride, "padding": Word(padding)}, shape
        )

        def fn(x):
            return nn.max_pool(x, ks, ss, padding.upper())
    else:
        static, _ = _rule(
            kind, (4, kernel), {"stride": stride, "padding": Word(padding)}, shape
        )
        cls = nn.Conv if kind == "conv" else nn.ConvTranspose
        module = cls(4, ks, ss, padding=padding.upper())

        def fn(x):
            return module.init_with_output(jax.random.key(0), x)[0]

    assert tuple(static) == _eval(fn, (1, *shape))
