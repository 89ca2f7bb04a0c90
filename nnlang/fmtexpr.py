"""Expressions, chains and shape assertions as layout documents (for ``nnc fmt``).

The value half of the formatter: small ``pp_<node>`` functions over
:mod:`nnlang.doc`, with the minimal parentheses that precedence needs (the
canonical layout rules are listed in :mod:`nnlang.fmt`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from nnlang import doc as D
from nnlang import syntax as S
from nnlang.doc import EMPTY, Doc, concat, group, hardline, indent, line, text

CHAIN, NAMED, IF, OR, AND, NOT, CMP, SUM, TERM, NEG, POSTFIX, ATOM = range(12)
BINARY = {"or": OR, "and": AND, "+": SUM, "-": SUM, "*": TERM, "/": TERM, "//": TERM,
          "%": TERM, "==": CMP, "!=": CMP, "<": CMP, "<=": CMP, ">": CMP, ">=": CMP}
KINDS = {S.Chain: CHAIN, S.Named: NAMED, S.IfExpr: IF, S.Call: POSTFIX, S.Attr: POSTFIX}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def precedence(e: S.Expr) -> int:
    if isinstance(e, S.Binary):
        return BINARY[e.op]
    if isinstance(e, S.Unary):
        return NOT if e.op == "not" else NEG
    return KINDS.get(type(e), ATOM)


def pp_expr(e: S.Expr, min_prec: int = IF) -> Doc:
    """``e`` where precedence ``min_prec`` is needed; parenthesised if looser."""
    d = _PP[type(e)](e)
    return concat("(", d, ")") if precedence(e) < min_prec else d


# The inner comments of the statement being printed (see Comments.inner), keyed by
# (id of the bracket, chain or statement, kind, index); set by :func:`inner_notes`.
_NOTES: dict[tuple[int, str, int], list[str]] = {}


@contextmanager
def inner_notes(stmt) -> Iterator[None]:
    """While printing ``stmt``: its inner comments, found by the node they sit in."""
    global _NOTES
    table: dict[tuple[int, str, int], list[str]] = {}
    for path, kind, i, note in getattr(stmt, "comments", S.NO_COMMENTS).inner:
        node = stmt
        for step in path:
            node = node[step] if isinstance(step, int) else getattr(node, step)
        table.setdefault((id(node), kind, i), []).append(note)
    saved, _NOTES = _NOTES, table
    try:
        yield
    finally:
        _NOTES = saved


def notes(owner, kind: str, i: int = 0) -> list[str]:
    """The inner comments of ``owner`` at (``kind``, ``i``)."""
    return _NOTES.get((id(owner), kind, i), []) if _NOTES else []


def bracketed(open_: str, items: list[Doc], close: str, flat_comma: str = "",
              owner=None) -> Doc:
    """``[a, b]``; broken: one item a line, a trailing comma, ``]`` on its own line.

    Comments inside (``notes`` of ``owner``) keep it broken, each next to its item:
    ``open`` after the opening bracket, ``after`` an item (past its comma),
    ``before`` an item and ``close`` before the closing bracket on lines of their own.
    """
    n = len(items)
    opening, closing = notes(owner, "open"), notes(owner, "close")
    before = [notes(owner, "before", i) for i in range(n)]
    after = [notes(owner, "after", i) for i in range(n)]
    if not (opening or closing or any(before) or any(after)):
        if not items:
            return text(open_ + close)
        body = concat(D.join(concat(",", line), items), D.if_break(",", flat_comma))
        return group(open_, indent(D.softline, body), D.softline, close)
    parts: list[Doc | str] = []
    for i, item in enumerate(items):
        if i:
            parts.append(hardline)
        for c in before[i]:
            parts += [c, hardline]
        parts += [item, ",", *(D.suffix(f"  {c}") for c in after[i])]
    for c in closing:
        parts += [hardline, c] if parts else [c]
    head = concat(open_, *(D.suffix(f"  {c}") for c in opening))
    return concat(head, indent(hardline, *parts) if parts else EMPTY, hardline, close)


def quote(s: str) -> str:
    return '"' + "".join(ESCAPES.get(ch, ch) for ch in s) + '"'


def pp_call(e: S.Call) -> Doc:
    args = [concat(f"{a.name}=", pp_expr(a.value)) if a.name else pp_expr(a.value)
            for a in e.args]
    return concat(pp_expr(e.func, POSTFIX), bracketed("(", args, ")", owner=e))


def pp_map(e: S.MapExpr) -> Doc:
    def key(m: S.MapEntry) -> str:
        return m.key if NAME.fullmatch(m.key) and not m.quoted else quote(m.key)

    entries = [concat(key(m), ": ", pp_expr(m.value)) for m in e.entries]
    return bracketed("{", entries, "}", owner=e)


def pp_unary(e: S.Unary) -> Doc:
    if e.op == "not":
        return concat("not ", pp_expr(e.operand, NOT))
    spaced = isinstance(e.operand, S.Unary) and e.operand.op == "-"  # `- -a`, not `--a`
    return concat("- " if spaced else "-", pp_expr(e.operand, NEG))


def pp_binary(e: S.Binary) -> Doc:
    p = BINARY[e.op]
    left, right = (SUM, SUM) if p == CMP else (p, p + 1)  # comparisons do not chain
    return concat(pp_expr(e.left, left), f" {e.op} ", pp_expr(e.right, right))


def pp_if_expr(e: S.IfExpr) -> Doc:
    """``if c { a } else if d { b } else { c }``; broken, a branch per indented line.

    Comments inside keep to their branch (see :func:`_branch`), and keep it broken.
    """
    chain = [e]
    while isinstance(chain[-1].orelse, S.IfExpr):
        chain.append(chain[-1].orelse)
    kinds = ("open", "before", "after", "close", "else_close", "else_before")
    noted = any(notes(n, k, i) for n in chain for k in kinds for i in (0, 1))
    brk = hardline if noted else line
    parts: list[Doc | str] = []
    for n in chain:
        parts += ["if ", pp_expr(n.cond, OR), " ", _branch(n, 0, n.then, brk)]
        close, own = notes(n, "else_close"), notes(n, "else_before")
        if close or own:  # comments between `}` and `else` stay there
            parts += [*(D.suffix(f"  {c}") for c in close),
                      *(concat(hardline, c) for c in own), hardline, "else "]
        else:
            parts.append(" else ")
    last = chain[-1]
    return group(*parts, _branch(last, 1, last.orelse, brk))


def _branch(owner: S.IfExpr, i: int, e: S.Expr, brk: Doc) -> Doc:
    """``{ chain }`` of an if-expression, with its comments: after ``{``, above, after
    and below the chain."""
    above = [concat(c, hardline) for c in notes(owner, "before", i)]
    below = [concat(hardline, c) for c in notes(owner, "close", i)]
    body = concat(*above, pp_chain(e), *(D.suffix(f"  {c}") for c in notes(owner, "after", i)),
                  *below)
    head = concat("{", *(D.suffix(f"  {c}") for c in notes(owner, "open", i)))
    return concat(head, indent(brk, body), brk, "}")


def pp_stage(e: S.Expr, min_prec: int) -> Doc:
    if isinstance(e, S.Named):
        return concat(pp_expr(e.value, OR), f" as {e.name}")
    return pp_expr(e, min_prec)


def pp_chain(e: S.Expr, first_prec: int = NAMED, assertion: S.Shape | None = None
             ) -> Doc:
    """A chain, broken before every ``->`` if it does not fit or carries comments.

    A comment after a stage stays after it, one on a line of its own before a
    stage stays on its own line just above that stage's ``->``. The
    ``assertion`` follows the last stage, at that stage's indent.
    """
    if not isinstance(e, S.Chain):
        return concat(pp_stage(e, first_prec), pp_assertion(assertion))
    after = [notes(e, "after", i) for i in range(len(e.stages))]
    before = [notes(e, "before", i) for i in range(len(e.stages))]
    stages = [pp_stage(s, max(first_prec, OR) if i == 0 else OR)
              for i, s in enumerate(e.stages)]
    last = len(stages) - 1
    stages[last] = concat(stages[last], pp_assertion(assertion))
    stages = [concat(s, *(D.suffix(f"  {c}") for c in after[i]))
              for i, s in enumerate(stages)]
    if not any(after) and not any(before):
        return group(stages[0], indent(*(concat(line, "-> ", s) for s in stages[1:])))
    rest = [concat(hardline, *(concat(c, hardline) for c in before[i]), "-> ", stages[i])
            for i in range(1, len(stages))]
    return concat(stages[0], indent(*rest))


def pp_shape(shape: S.Shape) -> Doc:
    dims = [pp_expr(d) for d in shape.dims]
    return bracketed(f"{shape.dtype or ''}[", dims, "]", owner=shape)


def pp_assertion(shape: S.Shape | None) -> Doc:
    return concat(" : ", pp_shape(shape)) if shape is not None else EMPTY


_PP = {
    S.Number: lambda e: text(e.text or repr(e.value)),
    S.String: lambda e: text(quote(e.value)),
    S.Bool: lambda e: text("true" if e.value else "false"),
    S.Name: lambda e: text(e.id),
    S.Attr: lambda e: concat(pp_expr(e.base, POSTFIX), f".{e.name}"),
    S.Call: pp_call,
    S.ListExpr: lambda e: bracketed("[", [pp_expr(i) for i in e.items], "]", owner=e),
    S.MapExpr: pp_map,
    S.TupleExpr: lambda e: bracketed(  # `(a,)`: the comma makes a one-tuple
        "(", [pp_expr(i) for i in e.items], ")", "," if len(e.items) == 1 else "", e),
    S.Unary: pp_unary,
    S.Binary: pp_binary,
    S.IfExpr: pp_if_expr,
    S.Named: lambda e: pp_stage(e, NAMED),
    S.Chain: pp_chain,
}
