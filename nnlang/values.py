"""Compile-time values: what `.nn` expressions evaluate to during elaboration.

Numbers, strings, booleans, lists and maps become the Python ``int``, ``float``,
``str``, ``bool``, ``list`` and ``dict``. Two kinds need their own type:

* a bare word such as ``same``, ``relu`` or ``val_loss`` is a :class:`Word`
  (a ``str`` subclass, so option checks can compare it with plain strings);
* a call used as a value, such as ``ngrams(2)``, ``lstm(64)`` inside
  ``bidirectional(...)`` or ``adam(lr=1e-3)``, is a :class:`CallValue`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnlang.source import Span


class Word(str):
    """A bare identifier used as a value (an option name)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class CallValue:
    """A call used as a value: ``name(*args, **kwargs)``, not yet applied."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    span: Span | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        parts = [format_value(a) for a in self.args]
        parts += [f"{k}={format_value(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def format_value(value: Any) -> str:
    """Print a value the way it would be written in `.nn`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Word):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, CallValue) else str(value)
