"""Expressions, chains and shape assertions as layout documents (for ``nnc fmt``).

The value half of the formatter: small ``pp_<node>`` functions over
:mod:`nnlang.doc`, with the minimal parentheses that precedence needs (the
canonical layout rules are listed in :mod:`nnlang.fmt`).
"""

from __future__ import annotations

import re

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


def bracketed(open_: str, items: list[Doc], close: str, flat_comma: str = "",
              note: str | None = None) -> Doc:
    """``[a, b]``; broken: one item a line, a trailing comma, ``]`` on its own line.

    A ``note`` (comment) after the opening bracket keeps the brackets broken.
    """
    if not items and not note:
        return text(open_ + close)
    body = concat(D.join(concat(",", line), items), D.if_break(",", flat_comma))
    head = concat(open_, D.suffix(f"  {note}"), hardline) if note else concat(open_)
    return group(head, indent(D.softline, body), D.softline, close)


def quote(s: str) -> str:
    return '"' + "".join(ESCAPES.get(ch, ch) for ch in s) + '"'


def pp_call(e: S.Call) -> Doc:
    args = [concat(f"{a.name}=", pp_expr(a.value)) if a.name else pp_expr(a.value)
            for a in e.args]
    return concat(pp_expr(e.func, POSTFIX), bracketed("(", args, ")"))


def pp_map(e: S.MapExpr) -> Doc:
    def key(m: S.MapEntry) -> str:
        return m.key if NAME.fullmatch(m.key) and not m.quoted else quote(m.key)

    entries = [concat(key(m), ": ", pp_expr(m.value)) for m in e.entries]
    return bracketed("{", entries, "}")


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
    """``if c { a } else if d { b } else { c }``; broken, a branch per indented line."""
    parts: list[Doc | str] = []
    while isinstance(e, S.IfExpr):
        then = indent(line, pp_chain(e.then))
        parts += ["if ", pp_expr(e.cond, OR), " {", then, line, "} else "]
        e = e.orelse
    return group(*parts, "{", indent(line, pp_chain(e)), line, "}")


def pp_stage(e: S.Expr, min_prec: int) -> Doc:
    if isinstance(e, S.Named):
        return concat(pp_expr(e.value, OR), f" as {e.name}")
    return pp_expr(e, min_prec)


def pp_chain(e: S.Expr, first_prec: int = NAMED, assertion: S.Shape | None = None
             ) -> Doc:
    """A chain, broken before every ``->`` if it does not fit or carries comments.

    The ``assertion`` follows the last stage, at that stage's indent.
    """
    if not isinstance(e, S.Chain):
        return concat(pp_stage(e, first_prec), pp_assertion(assertion))
    notes = list(e.stage_comments) + [None] * len(e.stages)
    stages = [pp_stage(s, max(first_prec, OR) if i == 0 else OR)
              for i, s in enumerate(e.stages)]
    last = len(stages) - 1
    inner = notes[last] if assertion is not None else None  # in a broken assertion
    notes[last] = None if inner else notes[last]
    stages[last] = concat(stages[last], pp_assertion(assertion, inner))
    stages = [concat(s, D.suffix(f"  {notes[i]}")) if notes[i] else s
              for i, s in enumerate(stages)]
    brk = hardline if any(notes) else line
    return group(stages[0], indent(*(concat(brk, "-> ", s) for s in stages[1:])))


def pp_shape(shape: S.Shape, note: str | None = None) -> Doc:
    dims = [pp_expr(d) for d in shape.dims]
    return bracketed(f"{shape.dtype or ''}[", dims, "]", note=note)


def pp_assertion(shape: S.Shape | None, note: str | None = None) -> Doc:
    return concat(" : ", pp_shape(shape, note)) if shape is not None else EMPTY


_PP = {
    S.Number: lambda e: text(e.text or repr(e.value)),
    S.String: lambda e: text(quote(e.value)),
    S.Bool: lambda e: text("true" if e.value else "false"),
    S.Name: lambda e: text(e.id),
    S.Attr: lambda e: concat(pp_expr(e.base, POSTFIX), f".{e.name}"),
    S.Call: pp_call,
    S.ListExpr: lambda e: bracketed("[", [pp_expr(i) for i in e.items], "]"),
    S.MapExpr: pp_map,
    S.TupleExpr: lambda e: bracketed(  # `(a,)`: the comma makes a one-tuple
        "(", [pp_expr(i) for i in e.items], ")", "," if len(e.items) == 1 else ""),
    S.Unary: pp_unary,
    S.Binary: pp_binary,
    S.IfExpr: pp_if_expr,
    S.Named: lambda e: pp_stage(e, NAMED),
    S.Chain: pp_chain,
}
