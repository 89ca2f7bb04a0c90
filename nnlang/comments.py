"""Attach comments to the syntax tree, so the formatter can print them back.

Lark drops ignored tokens; the parser collects ``COMMENT`` tokens through a
lexer callback and this pass hangs each one on the node it belongs to (see
:class:`nnlang.syntax.Comments`). A comment is never moved to another
statement. One inside a statement's brackets or between its chain stages is
``inner``: it keeps its place next to the item it follows (a trailing comment)
or precedes (one on a line of its own); one around an ``else`` stays on its side
of the ``else``. The rare one with no such home (inside an if-expression's
braces) becomes a leading comment of that same statement.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from lark import Token

from nnlang import syntax as S
from nnlang.source import Source


@dataclass(frozen=True, slots=True)
class _Comment:
    line: int
    col: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


def attach_comments(module: S.Module, tokens: list[Token], source: Source) -> S.Module:
    comments = sorted(
        (_Comment(t.line, t.column, str(t).rstrip(), not source.line(t.line)[: t.column - 1].strip())
         for t in tokens),
        key=lambda c: c.line,
    )
    items, dangling = _attach_seq(module.items, comments, source, 0)
    return dataclasses.replace(module, items=items, dangling=tuple(c.text for c in dangling))


def _attach_seq(nodes, comments: list[_Comment], source: Source, prev_end: int):
    """Attach ``comments`` (all inside one container) to ``nodes``; return the rest.

    ``comments`` are sorted by line, so one forward sweep hands each node the
    comments before it and within it: linear, not nodes × comments.
    """
    out = []
    lines = [c.line for c in comments]
    start = 0
    for node in nodes:
        span = node.span
        mid = bisect_left(lines, span.line, start)
        stop = bisect_right(lines, span.end_line, mid)
        leading, inside = comments[start:mid], comments[mid:stop]
        first = leading[0].line if leading else span.line
        blank = any(not source.line(n).strip() for n in range(prev_end + 1, first))
        out.append(_attach_node(node, leading, inside, source, blank and prev_end > 0))
        start = stop
        prev_end = span.end_line
    return tuple(out), comments[start:]


_BODY_FIELDS: dict[type, list[str]] = {}


def _bodies(node) -> list[str]:
    """The fields of ``node`` holding a nested body (field names cached per class)."""
    kind = type(node)
    names = _BODY_FIELDS.get(kind)
    if names is None:
        names = _BODY_FIELDS[kind] = [f.name for f in dataclasses.fields(node)]
    return [n for n in names
            if isinstance(getattr(node, n), (S.Body, S.TrainBody, S.IfStmt))]


def _attach_node(node, leading, inside, source, blank_before):
    body_fields = _bodies(node)
    if not (body_fields or leading or inside or blank_before):
        return node  # nothing to attach: the common case in a large file
    trailing = closing = None
    rest: list[_Comment] = []  # inside the statement but outside its bodies
    inner: list[tuple] = []
    changes = {}
    if body_fields:
        claimed: set[int] = set()
        for name in body_fields:
            child = getattr(node, name)
            if isinstance(child, S.IfStmt):  # `else if`: a nested compound statement
                own = [c for c in inside if child.span.line <= c.line <= child.span.end_line]
                changes[name] = _attach_node(child, [], own, source, False)
                claimed.update(id(c) for c in own)
                continue
            b = child.span
            within = [c for c in inside if b.line < c.line < b.end_line]
            field = "settings" if isinstance(child, S.TrainBody) else "stmts"
            seq, dangling = _attach_seq(getattr(child, field), within, source, b.line)
            changes[name] = dataclasses.replace(
                child, **{field: seq}, dangling=tuple(c.text for c in dangling))
            claimed.update(id(c) for c in within)
        first = getattr(node, body_fields[0]).span  # the `{` that ends the header
        for c in inside:
            if id(c) in claimed:
                continue
            past = (isinstance(node, S.IfStmt) and node.orelse is not None
                    and (c.line, c.col) > _end(first))  # `if c {} else {  # x`
            if c.line == first.line and not c.own_line and trailing is None and not past:
                trailing = c.text
            elif c.line == node.span.end_line and not c.own_line and closing is None:
                closing = c.text
            else:
                rest.append(c)
        if isinstance(node, S.IfStmt):
            rest = _attach_else(node, rest, inner)
    else:
        for c in inside:
            if c.line == node.span.end_line and not c.own_line:
                trailing = c.text
            else:
                rest.append(c)
    extra = _attach_inner(node, rest, inner, source)  # no better home: shown above the node
    comments = S.Comments(
        leading=tuple(c.text for c in leading + extra),
        trailing=trailing, closing=closing, blank_before=blank_before, inner=tuple(inner),
    )
    if any(f.name == "comments" for f in dataclasses.fields(node)):
        changes["comments"] = comments
    return dataclasses.replace(node, **changes)


def _attach_else(node: S.IfStmt, comments: list[_Comment], inner: list) -> list[_Comment]:
    """Comments between an if's ``}`` and its ``else`` body stay on their side of ``else``.

    One after the ``}`` is ``else_close``, one on a line of its own ``else_before``
    (both printed before ``else``), one after ``else {`` is ``else_open``.
    """
    if node.orelse is None:
        return comments
    then, orelse = node.then.span, node.orelse.span
    rest = []
    for c in comments:
        pos = (c.line, c.col)
        if not (then.end_line, then.end_col) <= pos < (orelse.end_line, orelse.end_col):
            rest.append(c)
        elif c.own_line:
            inner.append(((), "else_before", 0, c.text))
        elif pos > (orelse.line, orelse.col) and isinstance(node.orelse, S.Body):
            inner.append(((), "else_open", 0, c.text))
        elif c.line == then.end_line:
            inner.append(((), "else_close", 0, c.text))
        else:
            rest.append(c)
    return rest


@dataclass(frozen=True, slots=True)
class _Bracket:
    """Something with items that a comment can sit among: brackets, a chain's stages."""

    path: tuple[str | int, ...]
    start: tuple[int, int]
    end: tuple[int, int]
    items: list[tuple[tuple[int, int], tuple[int, int]]]  # (start, end) of each item


_ITEMS = {S.Call: "args", S.ListExpr: "items", S.TupleExpr: "items", S.MapExpr: "entries",
          S.Shape: "dims", S.Chain: "stages"}


def _start(span) -> tuple[int, int]:
    return (span.line, span.col)


def _end(span) -> tuple[int, int]:
    return (span.end_line, span.end_col)


def _brackets(node, path: tuple, out: list[_Bracket]) -> None:
    """Every bracket and chain in ``node`` (not in nested bodies), outermost first."""
    if isinstance(node, tuple):
        for i, x in enumerate(node):
            _brackets(x, (*path, i), out)
        return
    if not dataclasses.is_dataclass(node) or isinstance(node, (S.Body, S.TrainBody)):
        return
    field = _ITEMS.get(type(node))
    items = getattr(node, field) if field else ()
    if isinstance(node, S.IfExpr):
        field, items = "branches", (node.then, node.orelse)
    if field and node.span and all(getattr(x, "span", None) for x in items):
        out.append(_Bracket(path, _start(node.span), _end(node.span),
                            [(_start(x.span), _end(x.span)) for x in items]))
    for f in dataclasses.fields(node):
        if f.name not in ("span", "comments") and not isinstance(
                getattr(node, f.name), (S.Body, S.TrainBody, S.IfStmt)):
            _brackets(getattr(node, f.name), (*path, f.name), out)


def _attach_inner(node, comments: list[_Comment], inner: list, source: Source
                  ) -> list[_Comment]:
    """Hang each comment inside a bracket or chain of ``node`` on the item next to it.

    A comment after an item (on the item's last line, or inside it) is ``after``
    it; one after the opening bracket, before any item, is ``open``; one on a line
    of its own is ``before`` the next item, or ``close`` when none follows. At
    most one ``after`` and one ``open`` per place: a second is printed, and so
    attached, on a line of its own. Returns the comments in no bracket.
    """
    if not comments:
        return comments
    found: list[_Bracket] = []
    _brackets(node, (), found)
    if isinstance(node, S.Block) and node.params is not None and node.span:  # the header's `( )`
        found.insert(0, _Bracket(("params",), _start(node.span), _start(node.body.span),
                                 [(_start(p.span), _end(p.span)) for p in node.params]))
    rest, taken = [], set()
    for c in comments:
        pos = (c.line, c.col)
        around = [b for b in found if b.start < pos < b.end]
        if not around:
            rest.append(c)
            continue
        b = max(around, key=lambda b: (b.start, (-b.end[0], -b.end[1])))
        if isinstance(_resolve(node, b.path), S.IfExpr):
            inner.append((b.path, *_in_if_expr(b, c, source), c.text))
            continue
        after = [i for i, (s, _) in enumerate(b.items) if s < pos]
        place = None
        if not c.own_line:
            place = (b.path, "after", after[-1]) if after else (b.path, "open", 0)
            if place in taken:
                place = None
        if place is None:  # own line: before the next item
            i = after[-1] + 1 if after else 0
            place = (b.path, "before", i) if i < len(b.items) else (b.path, "close", 0)
        taken.add(place)
        inner.append((*place, c.text))
    return rest


def _resolve(node, path):
    for step in path:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def _in_if_expr(b: _Bracket, c: _Comment, source: Source) -> tuple[str, int]:
    """The place of a comment in ``if c { then } else { orelse }``, on its side of ``else``.

    ``open`` i is after branch i's ``{``, ``before`` i above its chain, ``after`` i
    after it, ``close`` i below it (before its ``}``); between the first ``}``
    and ``else``, ``else_close`` is after that ``}`` and ``else_before`` on a
    line of its own above ``else``.
    """
    pos = (c.line, c.col)
    (then_start, then_end), (else_start, _) = b.items
    else_line = else_start[0]  # the line of the `else` keyword
    brace = None  # where the then-branch's `}` is
    for n in range(then_end[0], else_start[0] + 1):
        code = source.line(n)[then_end[1] - 1:] if n == then_end[0] else source.line(n)
        code = code.split("#")[0]
        if brace is None and "}" in code:
            col = code.index("}") + (then_end[1] if n == then_end[0] else 1)
            brace = (n, col)
        if re.search(r"\belse\b", code):
            else_line = n
            break
    if pos < then_start:
        return ("before" if c.own_line else "open"), 0
    if brace is not None and brace < pos and c.line < else_line:
        return ("else_before" if c.own_line else "else_close"), 0
    if c.line < else_line:
        return ("close" if c.own_line else "after"), 0
    if pos < else_start:
        return ("before" if c.own_line else "open"), 1
    return ("close" if c.own_line else "after"), 1
