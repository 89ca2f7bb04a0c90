"""Small helpers shared by the shape rules of the layer families."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnlang.dims import Dim, is_static
from nnlang.layers.args import ShapeError
from nnlang.types import TensorType


def or_list(items) -> str:
    """``a, b or c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


SPATIAL_PATTERNS = {1: "[T, C]", 2: "[H, W, C]", 3: "[D, H, W, C]"}


def need_float(layer: str, t: TensorType) -> None:
    if not t.is_float:
        hint = (
            "token ids go through an embedding first: embedding(vocab, dim)"
            if t.is_int
            else None
        )
        raise ShapeError(f"{layer} needs a floating-point input", hint=hint)


def need_static(layer: str, d: Dim, what: str) -> int:
    """A dim that a parameter shape depends on must be known."""
    if not is_static(d):
        raise ShapeError(
            f"{layer} needs a fixed size for {what} (its weights depend on "
            f"it), not the symbolic {d}"
        )
    return d


def spatial_rank(layer: str, t: TensorType, fixed: int | None = None) -> int:
    """The spatial rank of a channels-last input ``[*spatial, C]`` (1 to 3)."""
    r = t.rank - 1
    ranks = (fixed,) if fixed else (1, 2, 3)
    if r not in ranks:
        shapes = [SPATIAL_PATTERNS[k] for k in ranks]
        raise ShapeError(
            f"{layer} needs an input of shape {or_list(shapes)}",
            hint=_reshape_hint(t, fixed),
        )
    return r


def _reshape_hint(t: TensorType, fixed: int | None) -> str | None:
    if t.rank != 1 or not is_static(t.shape[0]):
        return None
    n = t.shape[0]
    side = round(n**0.5)
    if fixed in (None, 2) and side * side == n and side > 1:
        return f"reshape a flat vector first: reshape([{side}, {side}, 1])"
    if fixed in (None, 1):
        return f"reshape a flat vector first: reshape([{n}, 1])"
    return None


def expand(value: Any, r: int) -> tuple | None:
    """An int or per-axis tuple as a tuple of ``r`` entries, or None if lengths differ."""
    if value is None:
        return None
    if not isinstance(value, tuple):
        return (value,) * r
    return value if len(value) == r else None


def act_flops(attrs: Mapping[str, Any], output: TensorType) -> Dim:
    """One FLOP per output element when ``act`` is set."""
    act = attrs.get("act")
    return 0 if act is None or act == "none" else output.size
