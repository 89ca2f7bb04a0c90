"""Argument binding: a call's values against a layer's :class:`ArgSpec` list.

Python's rules (positional in declared order, then keywords; keyword-only
arguments last), defaults filled in, each value checked and normalised by its
kind (the table is in :mod:`nnlang.layers.base`). Errors say which argument
and carry a hint: "did you mean" over the layer's argument names and over
:data:`~nnlang.layers.args.ALIASES` (``activation=`` → ``act``), the choices
of an option, or the layer's usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnlang.diagnostics import did_you_mean
from nnlang.layers.args import (
    ACTIVATIONS,
    ALIASES,
    INITIALIZERS,
    KERAS_ARGS,
    NO_ACTIVATION,
    ArgError,
    ArgSpec,
)
from nnlang.layers.kernels import bind_kernel, is_weights
from nnlang.layers.rules import or_list as _or_list
from nnlang.values import CallValue, Word, format_value

# ------------------------------------------------------------------ binding


def bind_args(spec, args: tuple, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Bind a call's arguments to ``spec``: Python rules, defaults, validation.

    >>> from nnlang.layers import LAYERS
    >>> attrs = bind_args(LAYERS["dense"], (10,), {"act": Word("relu")})
    >>> attrs["units"], attrs["act"], attrs["bias"]
    (10, relu, True)

    Raises:
        ArgError: too many positional arguments, an unknown or duplicate
            keyword, a missing required argument, or a bad value.
    """
    attrs = _bind(spec.name, spec.args, tuple(args), dict(kwargs), kernel_values=True)
    if spec.finalize is not None:
        attrs = spec.finalize(attrs)
    return attrs


def _bind(
    owner: str,
    params: tuple[ArgSpec, ...],
    args: tuple,
    kwargs: dict,
    *,
    kernel_values: bool = False,
) -> dict[str, Any]:
    positional = [p for p in params if not p.kw_only]
    if len(args) > len(positional):
        raise ArgError(
            _too_many(owner, positional, params, len(args)),
            len(positional),
            _kw_only_hint(params),
        )
    by_name = {p.name: p for p in params}
    given: dict[str, tuple[Any, int | str]] = {
        p.name: (v, i) for i, (p, v) in enumerate(zip(positional, args, strict=False))
    }
    weights = None
    for key, value in kwargs.items():
        p = by_name.get(key)
        if p is None:
            raise unknown_argument(owner, key, params, value)
        if key in given:
            if (
                kernel_values
                and p.kind == "kernel"
                and is_weights(value, given[key][0])
            ):
                weights = value
                continue
            raise ArgError(
                f"argument '{key}' of {owner} is given twice "
                "(by position and by keyword)",
                key,
            )
        given[key] = (value, key)
    attrs: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            value, where = given[p.name]
            attrs[p.name] = _validate(owner, p, value, where)
        elif p.required:
            raise ArgError(
                f"{owner} needs argument '{p.name}'",
                None,
                f"usage: {usage(owner, params)}",
            )
        else:
            attrs[p.name] = p.default
    if kernel_values:
        for p in params:
            if p.kind == "kernel":
                values = bind_kernel(owner, p, attrs, weights)
                if values is not None:
                    attrs["weights"] = values
    return attrs


def _too_many(owner: str, positional: list[ArgSpec], params, n: int) -> str:
    k = len(positional)
    if k == 0:
        return f"{owner} takes no positional arguments; got {n}"
    names = ", ".join(p.name for p in positional)
    plural = "argument" if k == 1 else "arguments"
    return f"{owner} takes {k} positional {plural} ({names}); got {n}"


def _kw_only_hint(params) -> str | None:
    kw = [p.name for p in params if p.kw_only]
    return f"pass the others by keyword: {', '.join(kw)}" if kw else None


def unknown_argument(owner: str, key: str, params, value: Any = None) -> ArgError:
    """The error for keyword ``key``, which ``owner`` does not take, with its hint.

    >>> from nnlang.layers import LAYERS
    >>> unknown_argument("lstm", "recurrent_dropout", LAYERS["lstm"].args).hint
    'recurrent dropout is not supported in .nn'
    """
    return ArgError(
        f"unknown argument '{key}' for {owner}",
        key,
        _unknown_hint(key, owner, params, value),
    )


def alias_for(key: str, names) -> str | None:
    """The argument among ``names`` that the foreign keyword ``key`` stands for
    (:data:`~nnlang.layers.args.ALIASES`), or None.

    >>> alias_for("return_sequences", ["units", "sequences"])
    'sequences'
    """
    return next((t for t in ALIASES.get(key, ()) if t in names and t != key), None)


def _unknown_hint(key: str, owner: str, params, value: Any = None) -> str | None:
    names = [p.name for p in params]
    target = alias_for(key, names)
    if target is not None:
        return f"did you mean '{target}'?"
    if key == "kernel_regularizer":
        if "l2" in names:
            return _penalty_hint(value) or KERAS_ARGS[key]
    elif key in KERAS_ARGS:
        return KERAS_ARGS[key]
    hint = did_you_mean(key, names)
    if hint:
        return hint
    return (
        f"{owner} takes: {', '.join(names)}" if names else f"{owner} takes no arguments"
    )


def _penalty_hint(value: Any) -> str | None:
    """``kernel_regularizer=l2(0.01)`` as `.nn` writes it: ``l2=0.01``."""
    if not isinstance(value, CallValue) or value.name not in ("l1", "l2", "l1_l2"):
        return None
    if value.name == "l1_l2":
        parts = [
            f"{k}={format_value(v)}" for k, v in value.kwargs.items() if k in ("l1", "l2")
        ]
        return f"write {', '.join(parts)} instead" if parts and not value.args else None
    if len(value.args) == 1 and not value.kwargs:
        return f"write {value.name}={format_value(value.args[0])} instead"
    return None


def usage(owner: str, params: tuple[ArgSpec, ...]) -> str:
    """A short signature for hints: required arguments and those with a default."""
    parts = []
    for p in params:
        if p.name in _COMMON:
            continue
        parts.append(p.name if p.required else f"{p.name}={_show_default(p.default)}")
    more = ", ..." if any(p.name in _COMMON for p in params) else ""
    return f"{owner}({', '.join(parts)}{more})"


_COMMON = frozenset({"bias", "init", "bias_init", "l1", "l2", "trainable", "act"})


def _show_default(v: Any) -> str:
    return "auto" if v is None else format_value(v)


def non_default_attrs(spec, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attrs a printer needs to show: required ones and those not at their default."""
    out = {}
    for key, value in attrs.items():
        p = spec.arg(key)
        if p is None:
            if value is not None:
                out[key] = value
        elif p.required or not _same(value, p.default):
            out[key] = value
    return out


def _same(a: Any, b: Any) -> bool:
    return (
        type(a) is type(b)
        and a == b
        or (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and not isinstance(a, bool)
            and not isinstance(b, bool)
            and a == b
        )
    )


# ------------------------------------------------------------------ validation


def _show(v: Any) -> str:
    return format_value(v)


def _fail(
    owner: str, p: ArgSpec, expected: str, value: Any, where, hint=None
) -> ArgError:
    return ArgError(
        f"argument '{p.name}' of {owner} must be {expected}; got {_show(value)}",
        where,
        hint,
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _range_text(p: ArgSpec) -> str | None:
    lo, hi = p.lo, p.hi
    fmt = _fmt_num
    if lo is not None and hi is not None:
        return f"in {'(' if p.lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if p.hi_open else ']'}"
    if lo is not None:
        return f"greater than {fmt(lo)}" if p.lo_open else f"at least {fmt(lo)}"
    if hi is not None:
        return f"less than {fmt(hi)}" if p.hi_open else f"at most {fmt(hi)}"
    return None


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _in_range(p: ArgSpec, x: float) -> bool:
    if p.lo is not None and (x < p.lo or (p.lo_open and x == p.lo)):
        return False
    return not (p.hi is not None and (x > p.hi or (p.hi_open and x == p.hi)))


def _check_range(owner: str, p: ArgSpec, x, value, where) -> None:
    if not _in_range(p, x):
        raise ArgError(
            f"argument '{p.name}' of {owner} must be {_range_text(p)}; "
            f"got {_show(value)}",
            where,
        )


def _validate(owner: str, p: ArgSpec, value: Any, where) -> Any:
    """Check ``value`` against ``p`` and return its normalised form."""
    if value is None and p.default is None:
        return None
    kind = p.kind
    if kind == "any":
        return value
    if kind == "int":
        if not _is_int(value):
            raise _fail(owner, p, "a whole number", value, where)
        _check_range(owner, p, value, value, where)
        return value
    if kind in ("float", "number"):
        if not _is_number(value):
            raise _fail(owner, p, "a number", value, where)
        _check_range(owner, p, value, value, where)
        return float(value) if kind == "float" else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(owner, p, "true or false", value, where)
        return value
    if kind == "ints":
        return _validate_ints(owner, p, value, where)
    if kind == "option":
        return _validate_option(owner, p, value, where, _or_list(p.choices))
    if kind == "padding":
        if isinstance(value, str):
            return _validate_option(
                owner, p, value, where, _or_list([*p.choices, "an int"])
            )
        return _validate_pads(
            owner, p, value, where, f"{_or_list(p.choices)} or an int"
        )
    if kind == "pads":
        return _validate_pads(owner, p, value, where, "an int or a list")
    if kind == "shape":
        return _validate_shape(owner, p, value, where)
    if kind == "kernel":
        if is_weights(value, None):
            return value  # sizes derived from the values in bind_kernel
        return _validate_ints(owner, p, value, where)
    if kind == "layer":
        return _validate_layer(owner, p, value, where)
    if kind in ("activation", "initializer"):
        return _validate_function(owner, p, value, where)
    raise AssertionError(kind)


def _validate_ints(owner: str, p: ArgSpec, value: Any, where) -> int | tuple[int, ...]:
    what = "a whole number or a list of whole numbers"
    if _is_int(value):
        _check_range(owner, p, value, value, where)
        return value
    if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
        for v in value:
            _check_range(owner, p, v, value, where)
        return tuple(value)
    raise _fail(owner, p, what, value, where)


def _validate_option(owner: str, p: ArgSpec, value: Any, where, expected: str) -> Word:
    if isinstance(value, str) and value in p.choices:
        return Word(value)
    hint = did_you_mean(str(value), p.choices) if isinstance(value, str) else None
    raise _fail(owner, p, expected, value, where, hint)


def _validate_pads(owner: str, p: ArgSpec, value: Any, where, expected: str):
    def ok(v):
        return _is_int(v) and v >= 0

    if ok(value):
        return value
    if isinstance(value, (list, tuple)) and value:
        if all(ok(v) for v in value):
            return tuple(value)
        if all(
            isinstance(v, (list, tuple)) and len(v) == 2 and all(ok(x) for x in v)
            for v in value
        ):
            return tuple(tuple(v) for v in value)
    raise _fail(owner, p, f"{expected} (whole numbers, at least 0)", value, where)


def _validate_shape(owner: str, p: ArgSpec, value: Any, where) -> tuple[int, ...]:
    if _is_int(value):
        value = [value]
    what = "a list of whole numbers" + (" (one may be -1)" if p.allow_minus_one else "")
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(_is_int(v) for v in value)
    ):
        raise _fail(owner, p, what, value, where)
    bad = [v for v in value if v < 1 and not (v == -1 and p.allow_minus_one)]
    if bad or (p.allow_minus_one and list(value).count(-1) > 1):
        raise _fail(
            owner,
            p,
            what.replace("whole numbers", "positive whole numbers"),
            value,
            where,
        )
    return tuple(value)


def _validate_layer(owner: str, p: ArgSpec, value: Any, where) -> CallValue:
    if isinstance(value, CallValue):
        name, args, kwargs, span = value.name, value.args, value.kwargs, value.span
    elif isinstance(value, str):
        name, args, kwargs, span = str(value), (), {}, None
    else:
        raise _fail(owner, p, f"a layer such as {p.choices[0]}(64)", value, where)
    if name not in p.choices:
        raise ArgError(
            f"argument '{p.name}' of {owner} must be one of "
            f"{_or_list(p.choices)}; got {name}",
            where,
            did_you_mean(name, p.choices),
        )
    from nnlang.layers.base import LAYERS  # the registry imports this module

    inner = LAYERS[name]
    try:
        attrs = bind_args(inner, args, kwargs)
    except ArgError as exc:
        raise ArgError(exc.message, where, exc.hint) from None
    return CallValue(name, (), non_default_attrs(inner, attrs), span)


def _validate_function(owner: str, p: ArgSpec, value: Any, where) -> Word | CallValue:
    table = ACTIVATIONS if p.kind == "activation" else INITIALIZERS
    noun = p.kind
    words = list(table) + (list(NO_ACTIVATION) if p.kind == "activation" else [])
    if isinstance(value, (str, CallValue)):
        name = value.name if isinstance(value, CallValue) else str(value)
        if p.kind == "activation" and name in NO_ACTIVATION and isinstance(value, str):
            return Word("none")
        if name not in table:
            raise ArgError(
                f"unknown {noun} '{name}' for argument '{p.name}' of {owner}",
                where,
                did_you_mean(name, words) or f"choose from: {', '.join(words)}",
            )
        if isinstance(value, str):
            return Word(name)
        fn = table[value.name]
        try:
            bound = _bind(value.name, fn.params, value.args, dict(value.kwargs))
        except ArgError as exc:
            raise ArgError(exc.message, where, exc.hint) from None
        return CallValue(value.name, (), bound, value.span)
    example = (
        "relu or leaky_relu(0.2)"
        if p.kind == "activation"
        else "glorot_uniform or normal(0.02)"
    )
    raise _fail(owner, p, f"an {noun} such as {example}", value, where)
