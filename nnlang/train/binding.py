"""Binding `.nn` words and calls to registry entries, with exact error messages.

:func:`bind_option` turns ``Word("adam")`` or ``CallValue("sgd", (0.1,))``
into an :class:`Option` with every parameter filled in, or raises
:class:`TrainConfigError` saying what is wrong. JAX-free, like the registries.

Examples:
    >>> from nnlang.train.registry import OPTIMIZERS
    >>> from nnlang.values import CallValue
    >>> bind_option(CallValue("sgd", (0.1,), {"nesterov": True}), OPTIMIZERS,
    ...             "optimizer", "optimizer")
    sgd(lr=0.1, momentum=0.0, nesterov=true)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nnlang.diagnostics import did_you_mean, fold_name, foreign_name
from nnlang.train.registry import (
    BOOL,
    CHECK_TEXT,
    FLOAT,
    FRACTION,
    INT,
    KERAS_LOSSES,
    KERAS_METRICS,
    KERAS_MISSING,
    KERAS_OPTIMIZER_ARGS,
    NONNEGATIVE,
    POSITIVE,
    REQUIRED,
    UNIT,
    WORD,
    Entry,
    format_signature,
)
from nnlang.values import CallValue, format_value


class TrainConfigError(Exception):
    """A bad train setting.

    Attributes:
        message: one line, lower case, no trailing period.
        key: the setting at fault (``"optimizer"``, ``"early_stop"``), so the
            caller can point at it; ``None`` for the block as a whole.
        hint: a suggestion such as "did you mean 'adam'?", or ``None``.
        at: where inside the setting's value the culprit is, as steps from
            the value down (empty: the value as a whole), so that the caller
            can put the caret under it in the source. A step is one of
            ``("name",)`` the called or bare name; ``("kw", p)`` the keyword
            ``p=`` of a call; ``("val", p, i)`` the value given for parameter
            ``p``, by keyword or as the ``i``-th positional argument (``i``
            may be None); ``("pos", i)`` the ``i``-th positional argument;
            ``("item", i)`` a list's ``i``-th item; ``("entry", k)`` the value
            of a map's key ``k``; ``("key", k)`` that key itself.
        also: further problems of the same setting, in source order (a call
            with two bad arguments reports both); :meth:`each` lists them all.
    """

    code = "train-config"

    def __init__(
        self,
        message: str,
        key: str | None = None,
        hint: str | None = None,
        at: tuple[tuple, ...] = (),
    ):
        super().__init__(message)
        self.message, self.key, self.hint, self.at = message, key, hint, at
        self.also: list[TrainConfigError] = []

    def inside(self, *steps: tuple) -> TrainConfigError:
        """This error, located ``steps`` further out (prepended to :attr:`at`)."""
        for e in self.each():
            e.at = (*steps, *e.at)
        return self

    def each(self) -> list[TrainConfigError]:
        """This problem and the setting's others (:attr:`also`), in source order."""
        return [self, *self.also]

    @classmethod
    def first_of(cls, problems: list[TrainConfigError]) -> TrainConfigError:
        """The first of ``problems`` (not empty), carrying the rest in :attr:`also`."""
        first, *rest = problems
        first.also = [e for p in rest for e in p.each()]
        return first

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True, slots=True)
class Option:
    """A registry entry chosen with every parameter bound (defaults filled in).

    ``params`` holds all parameters of the entry; optional ones left out hold
    ``None``. ``given`` names those written in the `.nn` file.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def __repr__(self) -> str:
        shown = [
            f"{k}={format_value(v)}" for k, v in self.params.items() if v is not None
        ]
        return f"{self.name}({', '.join(shown)})" if shown else self.name


def bind_option(
    value: Any, registry: Mapping[str, Entry], what: str, key: str
) -> Option:
    """Bind a word or call against a registry entry, filling in defaults.

    Args:
        value: ``Word("adam")``, ``CallValue("adam", (), {"lr": 0.01})`` or a str.
        registry: the table the name must come from.
        what: the noun for messages (``"optimizer"``).
        key: the setting name for :attr:`TrainConfigError.key`.

    Raises:
        TrainConfigError: unknown name, unknown or duplicate argument, missing
            or badly typed value.
    """
    if isinstance(value, CallValue):
        name, args, kwargs = value.name, tuple(value.args), dict(value.kwargs)
    elif isinstance(value, str):
        name, args, kwargs = str(value), (), {}
    else:
        example = next(iter(registry))
        raise TrainConfigError(
            f"{what} must be a name such as {example}, got {format_value(value)}", key
        )
    entry = registry.get(name)
    if entry is None:
        raise TrainConfigError(
            f"unknown {what} '{name}'", key, _name_hint(name, registry, what), (("name",),)
        )
    return _bind(entry, args, kwargs, key)


# Keras spellings first (registry.KERAS_*), then any case, then difflib.
_KERAS_NAMES = {"loss": KERAS_LOSSES, "metric": KERAS_METRICS}


def _name_hint(name: str, registry: Mapping[str, Entry], what: str) -> str | None:
    """The hint for an unknown option name: its `.nn` name if Keras spells it so.

    >>> from nnlang.train.registry import LOSSES
    >>> _name_hint("categorical_crossentropy", LOSSES, "loss")
    "did you mean 'cross_entropy'?"
    """
    meant = foreign_name(name, _KERAS_NAMES.get(what, {}))
    if meant is None:
        meant = foreign_name(name, {fold_name(n): n for n in registry})
    if meant in registry:
        return f"did you mean '{meant}'?"
    return foreign_name(name, KERAS_MISSING) or did_you_mean(name, registry)


def _keras_param_hint(name: str, names: list[str]) -> str | None:
    meant = KERAS_OPTIMIZER_ARGS.get(name)
    if meant in names:
        return f"did you mean '{meant}'?"
    return foreign_name(name, KERAS_MISSING)


def _bind(entry: Entry, args: tuple, kwargs: dict[str, Any], key: str) -> Option:
    """Every problem of the call is found (:meth:`TrainConfigError.first_of`)."""
    sig = f"{entry.name}()"
    shown = [p for p in entry.params if not p.hidden]
    if len(args) > len(shown):
        raise TrainConfigError(
            f"{sig} takes at most {len(shown)} "
            f"argument{'s' if len(shown) != 1 else ''}, got {len(args)}",
            key,
            at=(("pos", len(shown)),),
        )
    given = {p.name: v for p, v in zip(shown, args, strict=False)}
    position = {p.name: i for i, p in enumerate(shown[: len(args)])}
    # where each argument is written: positional ones first, then keywords
    place = {n: len(args) + i for i, n in enumerate(kwargs)} | position
    problems: list[tuple[int, TrainConfigError]] = []
    names = [p.name for p in entry.params]
    for i, (name, v) in enumerate(kwargs.items(), start=len(args)):
        if name not in names:
            hint = _keras_param_hint(name, names) or did_you_mean(name, names) or (
                f"{sig} takes {', '.join(p.name for p in shown)}"
                if shown
                else f"{sig} takes no arguments"
            )
            problem = TrainConfigError(
                f"{sig} has no parameter '{name}'", key, hint, (("kw", name),)
            )
            problems.append((i, problem))
        elif name in given:
            problem = TrainConfigError(
                f"{sig} got two values for '{name}'", key, at=(("kw", name),)
            )
            problems.append((i, problem))
        else:
            given[name] = v
    for a, b in entry.exclusive:
        if a in given and b in given:
            problem = TrainConfigError(
                f"{sig} takes '{a}' or '{b}', not both",
                key,
                at=(("val", b, position.get(b)),),
            )
            problems.append((place[b], problem))
    params: dict[str, Any] = {}
    for p in entry.params:
        if p.name in given:
            try:
                params[p.name] = _check_param(
                    entry.name, p.name, p.kind, p.check, given[p.name], key
                )
            except TrainConfigError as exc:
                exc.inside(("val", p.name, position.get(p.name)))
                problems.append((place[p.name], exc))
        elif p.default is REQUIRED:
            other = next((b for a, b in entry.exclusive if a == p.name), None)
            if other is None or other not in given:
                also = f" (or '{other}')" if other else ""
                problem = TrainConfigError(
                    f"{sig} needs '{p.name}'{also}",
                    key,
                    f"write {format_signature(entry)}",
                )
                problems.append((len(place), problem))
            params[p.name] = None
        else:
            params[p.name] = p.default
    if problems:
        problems.sort(key=lambda pair: pair[0])  # stable: one place, found order
        raise TrainConfigError.first_of([e for _, e in problems])
    return Option(entry.name, params, frozenset(given))


def _check_param(
    owner: str, name: str, kind: str, check: str | None, value: Any, key: str
) -> Any:
    where = f"{owner}(): {name}"
    if kind == BOOL:
        if not isinstance(value, bool):
            raise TrainConfigError(
                f"{where} must be true or false, got {format_value(value)}", key
            )
        return value
    if kind == WORD:
        if not isinstance(value, str):
            raise TrainConfigError(
                f"{where} must be a name, got {format_value(value)}", key
            )
        return str(value)
    if kind == INT:
        return check_integer(value, where, None, key=key, check=check)
    assert kind == FLOAT
    return check_number(value, where, check, key=key)


def check_integer(
    value: Any,
    where: str,
    lo: int | None,
    *,
    key: str | None = None,
    check: str | None = None,
) -> int:
    key = key or where
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TrainConfigError(
            f"{where} must be an integer, got {format_value(value)}", key
        )
    if check == POSITIVE:
        lo = 1
    elif check == NONNEGATIVE:
        lo = 0
    if lo is not None and value < lo:
        what = "a positive integer" if lo == 1 else f"an integer >= {lo}"
        raise TrainConfigError(f"{where} must be {what}, got {value}", key)
    return value


def check_number(
    value: Any, where: str, check: str | None, *, key: str | None = None
) -> float:
    key = key or where
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrainConfigError(
            f"{where} must be a number, got {format_value(value)}", key
        )
    v = float(value)
    ok = {
        None: True,
        POSITIVE: v > 0,
        NONNEGATIVE: v >= 0,
        UNIT: 0 <= v < 1,
        FRACTION: 0 < v < 1,
    }[check]
    if not ok:
        raise TrainConfigError(
            f"{where} must be {CHECK_TEXT[check]}, got {format_value(value)}", key
        )
    return v
