"""Attach comments to the syntax tree, so the formatter can print them back.

Lark drops ignored tokens; the parser collects ``COMMENT`` tokens through a
lexer callback and this pass hangs each one on the node it belongs to (see
:class:`nnlang.syntax.Comments`). A comment is never moved to another
statement: one inside a multi-line statement that has no better home becomes
a leading comment of that same statement.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from lark import Token

from nnlang import syntax as S
from nnlang.source import Source


@dataclass(frozen=True, slots=True)
class _Comment:
    line: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


def attach_comments(module: S.Module, tokens: list[Token], source: Source) -> S.Module:
    comments = sorted(
        (_Comment(t.line, str(t).rstrip(), not source.line(t.line)[: t.column - 1].strip())
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
    extra: list[_Comment] = []  # comments with no better home: shown above the node
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
        for c in inside:
            if id(c) in claimed:
                continue
            if c.line == node.span.line and not c.own_line and trailing is None:
                trailing = c.text
            elif c.line == node.span.end_line and not c.own_line and closing is None:
                closing = c.text
            else:
                extra.append(c)
    else:
        for c in inside:
            if c.line == node.span.end_line and not c.own_line:
                trailing = c.text
            else:
                extra.append(c)
        extra = _attach_stage_comments(node, extra, changes)
    comments = S.Comments(
        leading=tuple(c.text for c in leading + extra),
        trailing=trailing, closing=closing, blank_before=blank_before,
    )
    if any(f.name == "comments" for f in dataclasses.fields(node)):
        changes["comments"] = comments
    return dataclasses.replace(node, **changes)


def _attach_stage_comments(node, comments: list[_Comment], changes: dict) -> list[_Comment]:
    """Comments at the end of a chain's inner lines stay after their stage."""
    chain = getattr(node, "value", None)
    if not isinstance(chain, S.Chain) or not comments:
        return comments
    by_line = {c.line: c for c in comments if not c.own_line}
    stage_comments: list[str | None] = [None] * len(chain.stages)
    used = set()
    # several stages may end on one line: the comment follows the last of them,
    # unless that is the final stage and a shape assertion follows it
    last = len(chain.stages) - (1 if getattr(node, "assertion", None) else 0)
    for i in reversed(range(last)):
        span = chain.stages[i].span
        c = by_line.get(span.end_line) if span else None
        if c is not None and id(c) not in used:
            used.add(id(c))
            stage_comments[i] = c.text
    if used:
        changes["value"] = dataclasses.replace(chain, stage_comments=tuple(stage_comments))
    return [c for c in comments if id(c) not in used]
