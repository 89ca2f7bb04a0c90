"""Tensor types: a shape of dims and an element dtype, without the batch axis.

The batch axis is implicit and leading (LANGUAGE.md, principle 2); it is never
part of a :class:`TensorType`. A type prints as it is written in `.nn`, with
the dtype prefix only when it is not the default ``f32``::

    >>> from nnlang.dims import sym
    >>> str(TensorType((8, 8, 1))), str(TensorType((100,), "i32"))
    ('[8, 8, 1]', 'i32[100]')
    >>> t = TensorType((sym("T"), 3))
    >>> str(t), t.rank, str(t.size)
    ('[T, 3]', 2, '3 * T')
"""

from __future__ import annotations

from dataclasses import dataclass

from nnlang.dims import Dim, dim_str, is_static_shape, product

__all__ = ["DTYPES", "FLOAT_DTYPES", "INT_DTYPES", "TensorType", "format_shape"]

DTYPES: tuple[str, ...] = ("f32", "f16", "bf16", "i32", "i64", "bool")
FLOAT_DTYPES: frozenset[str] = frozenset({"f32", "f16", "bf16"})
INT_DTYPES: frozenset[str] = frozenset({"i32", "i64"})
DEFAULT_DTYPE = "f32"


def format_shape(shape: tuple[Dim, ...]) -> str:
    """A shape in `.nn` syntax: ``[T, 8]``."""
    return "[" + ", ".join(dim_str(d) for d in shape) + "]"


@dataclass(frozen=True, slots=True)
class TensorType:
    """The type of one example's tensor: ``shape`` (no batch axis) and ``dtype``."""

    shape: tuple[Dim, ...]
    dtype: str = DEFAULT_DTYPE

    def __post_init__(self) -> None:
        if not isinstance(self.shape, tuple):
            object.__setattr__(self, "shape", tuple(self.shape))
        if self.dtype not in DTYPES:
            raise ValueError(
                f"unknown dtype {self.dtype!r}; dtypes: {', '.join(DTYPES)}"
            )

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> Dim:
        """Elements per example: the product of the dims (symbolic if one is)."""
        return product(self.shape)

    @property
    def is_static(self) -> bool:
        return is_static_shape(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_int(self) -> bool:
        return self.dtype in INT_DTYPES

    def with_shape(self, shape: tuple[Dim, ...]) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def __str__(self) -> str:
        prefix = "" if self.dtype == DEFAULT_DTYPE else self.dtype
        return prefix + format_shape(self.shape)
