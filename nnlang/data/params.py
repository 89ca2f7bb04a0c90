"""Declared parameters of data sources, and binding call arguments to them.

The declarations are plain data so that ``nnc check`` can validate a ``data =``
line without loading anything, and the docs table can be generated from them.
Each parameter has a *kind* naming the values it accepts (see :data:`KINDS`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nnlang.data.dataset import DataError, Dataset
from nnlang.values import CallValue, Word, format_value

KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "fractions": "three fractions [train, val, test] that sum to 1",
    "range": "two numbers [low, high] with low < high",
    "path": 'a file path in quotes, like "data/train.csv"',
    "string": "a string in quotes",
    "column": "a column name or a 0-based column index",
    "columns": "a column, or a list of columns",
    "names": "a name, or a list of names",
    "choice": "one of the listed words",
    "choice_list": "a list of the listed words",
    "tokens": "words, chars or ngrams(n)",
    "labels": "a list of class names or 0-based class ids",
}
"""What each parameter kind accepts, in words (used in messages and docs)."""


@dataclass(frozen=True, slots=True)
class DataParam:
    """One parameter of a data source.

    Attributes:
        name: the `.nn` keyword.
        default: value when not given (``None``: not given, the loader decides).
        doc: one line for the docs table.
        required: the source cannot load without it.
        kind: a key of :data:`KINDS`.
        choices: allowed words for ``choice`` and ``choice_list`` kinds.
        minimum: smallest allowed value for ``int`` and ``float`` kinds.
        only_for: the parameter only makes sense when this holds: ``"kind=curve"``
            (another parameter has that value) or ``"window"`` (it was given).
    """

    name: str
    default: Any
    doc: str
    required: bool = False
    kind: str = "string"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    only_for: str | None = None


@dataclass(frozen=True, slots=True)
class DataSourceSpec:
    """A data source: its parameters, a one-line description, and its loader.

    ``load(options, **arguments)`` receives a :class:`LoadOptions` with the
    common settings and the source's own arguments, validated and with paths
    already resolved to absolute ``pathlib.Path``s.
    """

    name: str
    params: tuple[DataParam, ...]
    doc: str
    load: Callable[..., Dataset]

    def param(self, name: str) -> DataParam | None:
        return next((p for p in self.params if p.name == name), None)


def bind_args(
    spec: DataSourceSpec, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Match call arguments to ``spec.params``, check them, and fill defaults.

    Positional arguments bind to the parameters in declaration order. Values
    come back normalised: fractions as a tuple, words as ``str``, columns and
    lists as tuples, ``ngrams(2)`` as ``("ngrams", 2)``.

    Raises:
        DataError: unknown, duplicated, missing or ill-typed arguments.
    """
    names = [p.name for p in spec.params]
    if len(args) > len(names):
        raise DataError(
            f"{spec.name} takes at most {len(names)} positional arguments, got {len(args)}"
        )
    given = dict(zip(names, args, strict=False))
    for name, value in kwargs.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"it takes: {', '.join(names)}"
            )
            raise DataError(
                f"{spec.name} has no argument '{name}'", arg=name, hint=hint
            )
        if name in given:
            raise DataError(f"{spec.name} got two values for '{name}'", arg=name)
        given[name] = value
    bound = {}
    for param in spec.params:
        if param.name in given:
            bound[param.name] = check_value(spec.name, param, given[param.name])
        elif param.required:
            raise DataError(
                f"{spec.name} needs the argument '{param.name}'", hint=param.doc
            )
        elif param.default is not None:  # defaults are written as in `.nn`
            bound[param.name] = check_value(spec.name, param, param.default)
        else:
            bound[param.name] = None
    for name in given:
        check_applies(spec, spec.param(name), bound)
    return bound


def check_applies(
    spec: DataSourceSpec, param: DataParam, bound: dict[str, Any]
) -> None:
    if param.only_for is None:
        return
    key, _, wanted = param.only_for.partition("=")
    holds = bound[key] == wanted if wanted else bound[key] is not None
    if not holds:
        when = f"{key}={wanted}" if wanted else f"{key} is given"
        raise DataError(
            f"{spec.name}: '{param.name}' applies only when {when}", arg=param.name
        )


def check_value(source: str, param: DataParam, value: Any) -> Any:
    """The checked (and normalised) value of one argument.

    Examples:
        >>> check_value("csv", DataParam("window", None, "", kind="int", minimum=1), 3)
        3
    """
    checker = CHECKERS[param.kind]
    result = checker(param, value)
    if result is INVALID:
        raise DataError(
            f"{source}: '{param.name}' must be {describe(param)}, got {format_value(value)}",
            arg=param.name,
            hint=suggest(param, value),
        )
    return result


INVALID = object()
"""Returned by a checker to mean "wrong kind of value" (the caller words it)."""


def describe(param: DataParam) -> str:
    text = KINDS[param.kind]
    if param.choices:
        text = f"{text}: {', '.join(param.choices)}"
    if param.minimum is not None:
        text += f" >= {format_value(param.minimum)}"
    return text


def suggest(param: DataParam, value: Any) -> str | None:
    words = value if isinstance(value, list) else [value]
    for word in words:
        if isinstance(word, str) and param.choices and word not in param.choices:
            close = difflib.get_close_matches(word, param.choices, n=1)
            if close:
                return f"did you mean '{close[0]}'?"
    return None


def is_number(value: Any) -> bool:
    """A finite int or float (``true`` and ``false`` are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def check_int(param: DataParam, value: Any) -> Any:
    if not is_number(value) or value != int(value):
        return INVALID
    if param.minimum is not None and value < param.minimum:
        return INVALID
    return int(value)


def check_float(param: DataParam, value: Any) -> Any:
    if not is_number(value) or (param.minimum is not None and value < param.minimum):
        return INVALID
    return float(value)


def check_bool(param: DataParam, value: Any) -> Any:
    return value if isinstance(value, bool) else INVALID


def check_fractions(param: DataParam, value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return INVALID
    if not all(is_number(v) and v >= 0 for v in value):
        return INVALID
    if value[0] <= 0 or abs(sum(value) - 1.0) > 1e-6:
        return INVALID
    return tuple(float(v) for v in value)


def check_range(param: DataParam, value: Any) -> Any:
    """``[low, high]`` as a tuple of floats, ``low < high``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return INVALID
    if not all(is_number(v) for v in value) or not value[0] < value[1]:
        return INVALID
    return (float(value[0]), float(value[1]))


def check_path(param: DataParam, value: Any) -> Any:
    is_quoted = isinstance(value, str) and not isinstance(value, Word)
    return value if is_quoted and value else INVALID


def check_string(param: DataParam, value: Any) -> Any:
    return (
        str(value)
        if isinstance(value, str) and not isinstance(value, Word)
        else INVALID
    )


def check_column(param: DataParam, value: Any) -> Any:
    if isinstance(value, str) and value:
        return str(value)
    return int(value) if is_number(value) and value == int(value) else INVALID


def check_columns(param: DataParam, value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    columns = tuple(check_column(param, v) for v in items)
    if not columns or INVALID in columns or len(set(columns)) != len(columns):
        return INVALID
    return columns


def check_names(param: DataParam, value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        return INVALID
    return tuple(str(v) for v in items) if isinstance(value, list) else str(value)


def check_choice(param: DataParam, value: Any) -> Any:
    return str(value) if isinstance(value, str) and value in param.choices else INVALID


def check_choice_list(param: DataParam, value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or not value:
        return INVALID
    choices = tuple(check_choice(param, v) for v in value)
    if INVALID in choices or len(set(choices)) != len(choices):
        return INVALID
    return choices


def check_tokens(param: DataParam, value: Any) -> Any:
    """``("words", 1)``, ``("chars", 1)`` or ``("ngrams", n)``."""
    if isinstance(value, str) and value in ("words", "chars"):
        return (str(value), 1)
    if isinstance(value, CallValue) and value.name == "ngrams":
        n = value.args[0] if len(value.args) == 1 and not value.kwargs else None
        n = value.kwargs.get("n") if n is None and list(value.kwargs) == ["n"] else n
        if is_number(n) and n == int(n) and n >= 1:
            return ("ngrams", int(n))
    return INVALID


def check_labels(param: DataParam, value: Any) -> Any:
    """A non-empty list of distinct class names or ids (matched at load time).

    Examples:
        >>> check_labels(DataParam("classes", None, "", kind="labels"), [5, 6])
        (5, 6)
    """
    if not isinstance(value, (list, tuple)) or not value:
        return INVALID
    for item in value:
        is_id = is_number(item) and item == int(item)
        if not is_id and not (isinstance(item, str) and item):
            return INVALID
    labels = tuple(int(v) if is_number(v) else str(v) for v in value)
    return labels if len(set(labels)) == len(labels) else INVALID


CHECKERS: dict[str, Callable[[DataParam, Any], Any]] = {
    "int": check_int,
    "float": check_float,
    "bool": check_bool,
    "fractions": check_fractions,
    "range": check_range,
    "path": check_path,
    "string": check_string,
    "column": check_column,
    "columns": check_columns,
    "names": check_names,
    "choice": check_choice,
    "choice_list": check_choice_list,
    "tokens": check_tokens,
    "labels": check_labels,
}
