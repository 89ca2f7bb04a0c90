"""Fixed convolution weights: ``conv(1, 3, kernel=[[0, -1, 0], ...], trainable=false)``.

A ``kernel``-kind argument takes sizes (an int or a list of ints) or weight
values (nested lists of numbers). Binding keeps the sizes in ``attrs["kernel"]``
and stores the values, as nested tuples, in ``attrs["weights"]`` (present only
when values were given). Which is which:

* ``conv(1, 3, kernel=[[...]])``: the positional argument is the size and the
  keyword holds values; the values' leading axes must match the size;
* ``conv(1, kernel=[[...]])``: values (nested, or a flat list with a float);
  the size comes from their shape;
* ``conv(1, kernel=[3, 3])``: a flat list of ints is sizes.

Values nest one level per spatial axis (one filter shared by every input and
output channel) or have Keras' full layout ``[*kernel, C / groups, filters]``;
the conv shape rule checks them against the input.
"""

from __future__ import annotations

from typing import Any

from nnlang.layers.args import ArgError, ArgSpec
from nnlang.values import format_value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a rectangular nested list of numbers, or None."""
    if _is_number(value):
        return ()
    if not isinstance(value, (list, tuple)) or not value:
        return None
    shapes = {nested_shape(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(value), *shapes.pop())


def is_weights(value: Any, positional: Any) -> bool:
    """Whether a ``kernel=`` value holds weight values rather than sizes."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    if positional is not None:  # `conv(1, 3, kernel=[...])`: the keyword is values
        return True
    return any(isinstance(v, (list, tuple, float)) for v in value)


def _to_tuple(value: Any) -> Any:
    return (
        tuple(_to_tuple(v) for v in value)
        if isinstance(value, (list, tuple))
        else value
    )


def bind_kernel(owner: str, p: ArgSpec, attrs: dict, weights: Any):
    """Split ``kernel`` into sizes (``attrs[p.name]``) and fixed values (returned)."""
    value = attrs[p.name]
    if weights is None and is_weights(value, None):
        weights, value = value, None
    if weights is None:
        return None
    where = p.name
    shape = nested_shape(weights)
    if not shape or len(shape) > 5:
        raise ArgError(
            f"kernel values of {owner} must be a rectangular nested list of "
            "numbers, one level per spatial axis (optionally then input and "
            "output channels)",
            where,
        )
    spatial = shape if len(shape) <= 3 else shape[:-2]
    if value is None:
        attrs[p.name] = spatial[0] if len(spatial) == 1 else tuple(spatial)
    else:
        # an int size is checked on the first axis (the rest once the rank is known)
        if isinstance(value, int):
            agrees = shape[0] == value
        else:
            agrees = tuple(shape[: len(value)]) == tuple(value)
        if not agrees:
            raise ArgError(
                f"kernel values of {owner} have shape {list(shape)}, which does "
                f"not match the kernel size {format_value(value)}",
                where,
                f"give the size {list(spatial)} or drop it: "
                f"{owner}(..., kernel=[[...]])",
            )
    return _to_tuple(weights)
