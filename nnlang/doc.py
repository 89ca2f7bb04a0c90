"""A small Wadler–Lindig layout engine, in the way Prettier implements it.

A document is text together with the places where it *may* break. :func:`render`
lays it out in a line width: a :func:`group` is printed flat (each :data:`line` a
space, each :data:`softline` nothing) when the group and what follows it up to
the next possible break fit in the rest of the line; otherwise it is broken (each
of its own lines a newline plus the current indentation), and its inner groups
decide again. A :data:`hardline` always breaks, and so breaks every group around
it. All width decisions of the formatters live here; they only build documents.

Examples:
    >>> args = join(concat(",", line), ["a", "b"])
    >>> doc = group("f(", indent(softline, args, if_break(",")), softline, ")")
    >>> render(doc, 80)
    'f(a, b)'
    >>> print(render(doc, 3))
    f(
        a,
        b,
    )
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class Doc:
    """A document; ``hard`` is true when it contains a hard line."""

    __slots__ = ()
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Text(Doc):
    """Text without newlines; ``width`` 0 makes it a line suffix (a comment)."""

    s: str
    width: int


@dataclass(frozen=True, slots=True)
class Line(Doc):
    """A possible line break: ``flat`` in a flat group, else a newline and indent."""

    flat: str
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Concat(Doc):
    parts: tuple[Doc, ...]
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Nest(Doc):
    """``doc`` with ``indent`` more columns after each of its line breaks."""

    indent: int
    doc: Doc
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Group(Doc):
    """Flat if it fits, else broken."""

    doc: Doc
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Flat(Doc):
    """Always flat: the groups inside never break (hard lines still do)."""

    doc: Doc
    hard: bool = False


@dataclass(frozen=True, slots=True)
class IfBreak(Doc):
    """``broken`` inside a broken group, ``flat`` inside a flat one."""

    broken: Doc
    flat: Doc
    hard: bool = False


line = Line(" ")
softline = Line("")
hardline = Line("", hard=True)
EMPTY = Concat(())


def text(s: str) -> Doc:
    if "\n" in s:
        raise ValueError(f"text cannot contain a newline: {s!r}")
    return Text(s, len(s))


def suffix(s: str) -> Doc:
    """Text that does not count towards the width (a trailing comment)."""
    return Text(s, 0)


def concat(*parts: Doc | str) -> Doc:
    docs = tuple(text(p) if isinstance(p, str) else p for p in parts)
    return Concat(docs, any(d.hard for d in docs))


def nest(n: int, *parts: Doc | str) -> Doc:
    inner = concat(*parts)
    return Nest(n, inner, inner.hard)


def indent(*parts: Doc | str) -> Doc:
    """Nest by the house indent, four spaces."""
    return nest(4, *parts)


def group(*parts: Doc | str) -> Doc:
    inner = concat(*parts)
    return Group(inner, inner.hard)


def flat(*parts: Doc | str) -> Doc:
    inner = concat(*parts)
    return Flat(inner, inner.hard)


def if_break(broken: Doc | str, flat: Doc | str = EMPTY) -> Doc:
    b, f = concat(broken), concat(flat)
    return IfBreak(b, f, b.hard or f.hard)


def join(sep: Doc | str, docs: Iterable[Doc | str]) -> Doc:
    out: list[Doc | str] = []
    for d in docs:
        out += [sep, d] if out else [d]
    return concat(*out)


_FLAT, _BREAK = 0, 1


def _inside(ind: int, mode: int, d: Doc) -> list:
    """The commands that a container doc expands to, last first (a stack)."""
    if isinstance(d, Concat):
        return [(ind, mode, p) for p in reversed(d.parts)]
    if isinstance(d, Nest):
        return [(ind + d.indent, mode, d.doc)]
    if isinstance(d, Flat):
        return [(ind, _FLAT, d.doc)]
    return [(ind, mode, d.broken if mode == _BREAK else d.flat)]  # IfBreak


def _fits(cmd: tuple, rest: list, width: int) -> bool:
    """Whether ``cmd`` and what follows it, up to the next line break, fit."""
    todo, rest_i = [cmd], len(rest)
    while width >= 0:
        if not todo:
            if rest_i == 0:
                return True
            rest_i -= 1
            todo.append(rest[rest_i])
            continue
        ind, mode, d = todo.pop()
        if isinstance(d, Text):
            width -= d.width
        elif isinstance(d, Line):
            if mode == _BREAK or d.hard:
                return True
            width -= len(d.flat)
        elif isinstance(d, Group):
            todo.append((ind, _BREAK if d.hard else mode, d.doc))
        else:
            todo += _inside(ind, mode, d)
    return False


def render(doc: Doc, width: int = 88) -> str:
    """Lay ``doc`` out in ``width`` columns; no line keeps trailing spaces."""
    out: list[str] = []
    pos = 0
    stack = [(0, _BREAK, doc)]
    while stack:
        ind, mode, d = stack.pop()
        if isinstance(d, Text):
            out.append(d.s)
            pos += len(d.s)
        elif isinstance(d, Line):
            if mode == _FLAT and not d.hard:
                out.append(d.flat)
                pos += len(d.flat)
            else:
                out.append("\n" + " " * ind)
                pos = ind
        elif isinstance(d, Group):
            fits = mode == _FLAT or _fits((ind, _FLAT, d.doc), stack, width - pos)
            stack.append((ind, _FLAT if fits and not d.hard else _BREAK, d.doc))
        else:
            stack += _inside(ind, mode, d)
    return "\n".join(s.rstrip() for s in "".join(out).split("\n"))
