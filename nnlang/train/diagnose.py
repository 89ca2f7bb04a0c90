"""A bad train setting as a located diagnostic: the one place that turns a
:class:`~nnlang.train.binding.TrainConfigError` into a :class:`Diagnostic`.

The caret goes under the culprit inside the setting (the steps of
:attr:`TrainConfigError.at`); a value given with ``--set`` is not in the file,
so a note names it instead. Pure Python, below the checker and the GAN
settings, so both import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnlang.diagnostics import Diagnostic, error
from nnlang.ir import TrainSpec
from nnlang.source import Span
from nnlang.train.binding import TrainConfigError


def setting_diagnostic(
    spec: TrainSpec | None,
    exc: TrainConfigError,
    make: Callable[..., Diagnostic] = error,
    code: str = "train-config",
) -> Diagnostic:
    """``exc`` as a diagnostic made by ``make`` (:func:`~nnlang.diagnostics.error`
    or ``warning``), the caret under the culprit inside the setting; without
    ``spec`` (a setting refuted where the file is not at hand) it has no span."""
    key = exc.key
    if spec is None:
        return make(code, exc.message, hint=exc.hint)
    if key in spec.overridden:
        note = f"the value comes from --set {key}={spec.overridden[key]}"
        return make(code, exc.message, None, notes=[note], hint=exc.hint)
    return make(code, exc.message, setting_span(spec, key, exc.at), hint=exc.hint)


def setting_span(spec: TrainSpec, key: str | None, at: tuple = ()) -> Span | None:
    """Where in the file the part ``at`` of setting ``key`` is written (the
    steps of :attr:`nnlang.train.binding.TrainConfigError.at`; ``("setting",)``
    is the setting's name, ``("statement",)`` the whole ``key = value``): the
    deepest part found, else the statement."""
    if key is None:
        return spec.span
    stmt = spec.spans.get(key) or spec.span
    if at[:1] == (("setting",),):
        return _prefix(stmt, len(key)) if stmt else None
    if at[:1] == (("statement",),):
        return stmt
    expr = spec.exprs.get(key)
    found = culprit_span(expr, at) if expr is not None else None
    return found or stmt


def culprit_span(expr: Any, at: tuple) -> Span | None:
    """The span of the part of ``expr`` (a syntax tree) that the steps ``at``
    lead to, as far as the tree has them."""
    from nnlang import syntax as S

    node = expr
    for kind, *rest in at:
        step = None
        if kind == "item" and isinstance(node, S.ListExpr | S.TupleExpr):
            step = node.items[rest[0]] if rest[0] < len(node.items) else None
        elif kind in ("entry", "key") and isinstance(node, S.MapExpr):
            entry = next((e for e in node.entries if e.key == str(rest[0])), None)
            if entry is not None and kind == "key":
                return _prefix(entry.span, len(entry.key) + 2 * entry.quoted)
            step = entry.value if entry is not None else None
        elif kind == "name":
            step = (
                node.func
                if isinstance(node, S.Call)
                else (node if isinstance(node, S.Name) else None)
            )
        elif kind in ("kw", "val", "pos") and isinstance(node, S.Call):
            named = {a.name: a for a in node.args if a.name is not None}
            positional = [a for a in node.args if a.name is None]
            arg = named.get(rest[0]) if kind != "pos" else None
            index = rest[0] if kind == "pos" else rest[1] if kind == "val" else None
            if arg is None and index is not None and index < len(positional):
                arg = positional[index]
            if arg is not None and kind == "kw":
                return _prefix(arg.span, len(arg.name or ""))
            step = arg.value if arg is not None else None
        if step is None:
            break
        node = step
    return node.span


def _prefix(span: Span | None, width: int) -> Span | None:
    """The first ``width`` characters of ``span`` (a name at its start)."""
    if span is None or width <= 0:
        return span
    return Span(span.path, span.line, span.col, span.line, span.col + width)
