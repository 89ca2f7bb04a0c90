"""``nnc fmt``: the canonical text of a `.nn` file, checked like black ``--safe``.

The syntax tree is printed through :mod:`nnlang.doc` by small ``pp_<node>``
functions; every width decision is the layout engine's. The canonical layout:

* 4-space indent, one statement per line; ``{}`` for an empty body (``model m {}``);
  ``block b {`` and ``block b() {`` stay as written (the tree keeps the difference).
* Single spaces around ``=``, ``->``, ``as`` and binary operators; none around the
  ``=`` of a keyword argument or parameter default (``stride=2``); ``, `` between
  items and nothing just inside brackets; maps as ``{key: value}``.
* A shape assertion is ``stmt : [4, 4, 64]``, spaced on both sides so it reads apart
  from the call before it; an input's shape is ``input x: [8, 8, 1]``.
* Train settings are ``key = value``, *not* aligned: alignment makes one edit
  re-indent its neighbours (black avoids it for the same reason).
* Blank lines: at most one inside a body (the author's, never at its start); one
  between top-level items, none between consecutive ``import`` s or ``const`` s
  unless the author put one there. When the source is known, the author's blank
  lines among own-line comments (a file header, say) are kept too.
* Comments: two spaces before a trailing ``#``, text untouched, and each stays next
  to the code it was written against (:mod:`nnlang.comments` says where). A statement
  keeps its trailing comment on its last line; a compound statement keeps the one
  after its body's ``{`` there. A bracket (arguments, parameters, list, tuple, map,
  shape) holding a comment is always broken, one item a line: a comment after an
  item follows its comma, one after the opening bracket stays there, one on a line
  of its own stays on a line of its own before the next item (or the closing
  bracket). A comment between chain stages stays between them, and one around an
  ``else`` on its side of it (``}  # c``, own lines, then ``else {  # d``). Only a
  comment with no such home is printed above its statement.
* Parentheses are minimal, from precedence (loosest first ``->``, ``as``, ``or``,
  ``and``, ``not``, comparisons, ``+ -``, ``* / // %``, unary ``-``, call and
  attribute), plus around an if-expression that is an operand, a stage of a longer
  chain, the first stage of a statement, or an ``if``/``repeat``/``for`` header.
* Long lines: a chain that does not fit breaks before every ``->``, each stage on
  its own line indented 4 more than the statement; a chain with comments between
  its stages, or inside a stage's brackets, is always broken that way. Calls, parameters, lists, tuples, shapes and
  maps that do not fit put one item per line, a trailing comma, and the closing
  bracket on its own line. There is no magic trailing comma: a trailing comma in
  the source does not keep a list broken. Trailing comments do not count towards
  the width.
* Numbers print as written (``1e-3``, ``10_000``); strings are re-escaped.

Safety: :func:`format_source` checks that the output parses to an equal tree, keeps
every comment in the same place, and is a fixed point of one more pass; otherwise
it raises :class:`FormatterBug` and nothing is written.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from pathlib import Path

from nnlang import doc as D
from nnlang import syntax as S
from nnlang.diagnostics import NnError, render_all
from nnlang.doc import EMPTY, Doc, concat, hardline, indent, text
from nnlang.fmtexpr import (
    OR,
    POSTFIX,
    bracketed,
    inner_notes,
    notes,
    pp_chain,
    pp_expr,
    pp_shape,
    quote,
)
from nnlang.parse import parse_source
from nnlang.source import Source, read_text, universal_newlines

EXIT_OK, EXIT_ERRORS, EXIT_INTERNAL = 0, 1, 3


class FormatterBug(RuntimeError):
    """The formatter broke its own contract; the file is left untouched."""


# ---------------------------------------------------------------- statements and items

COMPOUND = (S.RepeatStmt, S.ForStmt, S.IfStmt, S.Block, S.Model, S.Train)
GROUPED = (S.Import, S.Const)  # consecutive ones are not separated by a blank line


class _Printer:
    """Statements and items; given the ``source``, keeps blank lines among comments."""

    def __init__(self, source: Source | None = None):
        self.lines = source.lines if source is not None else None

    def comment_run(self, anchor: int, texts: tuple[str, ...]) -> tuple[list, list]:
        """The own-line comments just above line ``anchor`` (at most ``len(texts)``),
        and for each whether a blank line precedes it, plus: one follows the last."""
        lines = self.lines
        if lines is None or not texts:
            return [], []
        kinds: list[str | None] = []  # bottom-up; None is a blank line
        n = anchor - 1
        while 0 < n <= len(lines) and len(kinds) - kinds.count(None) < len(texts):
            s = lines[n - 1].strip()
            if s and not s.startswith("#"):
                break
            kinds.append(s or None)
            n -= 1
        if 0 < n <= len(lines) and not lines[n - 1].strip():
            kinds.append(None)
        kinds.reverse()
        blanks = [i > 0 and kinds[i - 1] is None for i, k in enumerate(kinds) if k]
        return [k for k in kinds if k], blanks + [bool(kinds) and kinds[-1] is None]

    def pp_node(self, node) -> Doc:
        """Leading comments, the node, then its trailing or closing comments."""
        c = node.comments
        found, blanks = self.comment_run(node.span.line if node.span else 0, c.leading)
        if found != list(c.leading[: len(found)]):
            found, blanks = [], []
        top = c.leading
        with inner_notes(node):
            if type(node) in _SIMPLE:
                doc = _SIMPLE[type(node)](node)
            else:
                doc = getattr(self, f"pp_{type(node).__name__.lower()}")(node)
        parts: list[Doc | str] = []
        for k, comment in enumerate(top):
            blank = 0 < k < len(found) and blanks[k]
            parts += [hardline, comment, hardline] if blank else [comment, hardline]
        if found and len(found) == len(top) and blanks[-1]:
            parts.append(hardline)  # the author's blank line between comments and code
        ends = ([n.comments.closing for n in _else_ifs(node)]
                if isinstance(node, COMPOUND) else [c.trailing])  # compound: see below
        return concat(*parts, doc, *(D.suffix(f"  {e}") for e in ends if e))

    def pp_dangling(self, anchor: int, texts: tuple[str, ...], after_code: bool
                    ) -> list:
        found, blanks = self.comment_run(anchor, texts)
        parts: list[Doc | str] = []
        for k, comment in enumerate(texts):
            if k or after_code:
                blank = found == list(texts) and blanks[k]
                parts += [hardline, hardline] if blank else [hardline]
            parts.append(comment)
        return parts

    def pp_body(self, body: S.Body | S.TrainBody, trailing: str | None = None,
                broken: bool = False) -> Doc:
        """``{ ... }``; the owner's trailing comment goes after ``{``.

        An empty body is ``{}``, unless a comment must stay on the first line
        (``trailing``) or the closing ``}`` must have a line of its own (``broken``).
        """
        items = body.stmts if isinstance(body, S.Body) else body.settings
        head = concat("{", D.suffix(f"  {trailing}")) if trailing else text("{")
        if not items and not body.dangling:
            return concat(head, hardline, "}") if trailing or broken else text("{}")
        parts: list[Doc | str] = []
        for i, node in enumerate(items):
            if i:
                parts += [hardline] * (2 if node.comments.blank_before else 1)
            parts.append(self.pp_node(node))
        anchor = body.span.end_line if body.span else 0
        parts += self.pp_dangling(anchor, body.dangling, bool(items))
        return concat(head, indent(hardline, *parts), hardline, "}")

    def compound(self, node, body: S.Body | S.TrainBody, *header: Doc | str,
                 broken: bool | None = None) -> Doc:
        """``header {`` body ``}``; a header with a trailing comment is never broken."""
        broken = bool(node.comments.closing) if broken is None else broken
        return concat(*header, " ", self.pp_body(body, node.comments.trailing, broken))

    # compound statements and items (simple ones are in _SIMPLE below)
    def pp_repeatstmt(self, s: S.RepeatStmt) -> Doc:
        return self.compound(s, s.body, "repeat ", pp_expr(s.count, OR))

    def pp_forstmt(self, s: S.ForStmt) -> Doc:
        return self.compound(s, s.body, f"for {s.var} in ", pp_expr(s.iterable, OR))

    def pp_ifstmt(self, s: S.IfStmt) -> Doc:
        """``if c {`` ... ``} else if d {`` ... ``} else {`` ... ``}``.

        Comments around an ``else`` stay on their side of it: one after the ``}``
        before it stays there, ones on lines of their own stay on lines of their
        own before ``else``, one after ``else {`` stays after it.
        """
        chain = _else_ifs(s)
        closes = any(n.comments.closing for n in chain)  # on the last `}` of all
        parts: list[Doc | str] = []
        for node in chain:
            last = node.orelse is None
            with inner_notes(node):  # an else-if's own: in its condition, by its else
                parts.append(self.compound(node, node.then, "if ", pp_expr(node.cond, OR),
                                           broken=closes and last))
                close, own = notes(node, "else_close"), notes(node, "else_before")
                opening = notes(node, "else_open")
            if last:
                break
            parts += [D.suffix(f"  {c}") for c in close]
            if close or own:
                parts += [*(concat(hardline, c) for c in own), hardline, "else "]
            else:
                parts.append(" else ")
            if isinstance(node.orelse, S.Body):
                parts.append(self.pp_body(node.orelse, opening[0] if opening else None,
                                          closes))
        return concat(*parts)

    def pp_block(self, s: S.Block) -> Doc:
        params = [concat(f"{p.name}=", pp_expr(p.default)) if p.default is not None
                  else text(p.name) for p in s.params or ()]
        p = EMPTY if s.params is None else bracketed("(", params, ")", owner=s.params)
        return self.compound(s, s.body, f"block {s.name}", p)

    def pp_model(self, s: S.Model) -> Doc:
        return self.compound(s, s.body, f"model {s.name}")

    def pp_train(self, s: S.Train) -> Doc:
        alias = f" as {s.name}" if s.name else ""
        return self.compound(s, s.body, "train ", ", ".join(s.models), alias)

    def pp_module(self, m: S.Module) -> Doc:
        parts: list[Doc | str] = []
        for i, item in enumerate(m.items):
            if i:
                prev = m.items[i - 1]
                together = (type(item) is type(prev) and isinstance(item, GROUPED)
                            and not item.comments.blank_before)
                parts += [hardline] if together else [hardline, hardline]
            parts.append(self.pp_node(item))
        anchor = len(self.lines) + 1 if self.lines is not None else 0
        return concat(*parts, *self.pp_dangling(anchor, m.dangling, bool(m.items)))


_SIMPLE = {
    S.InputStmt: lambda s: concat(
        f"input {s.name}", concat(": ", pp_shape(s.shape)) if s.shape else EMPTY),
    S.OutputStmt: lambda s: concat(
        "output ", f"{s.name} = " if s.name else "",
        pp_chain(s.value, assertion=s.assertion)),
    S.BindStmt: lambda s: concat(
        f"{s.name} = ", pp_chain(s.value, assertion=s.assertion)),
    S.ExprStmt: lambda s: pp_chain(s.value, OR, assertion=s.assertion),
    S.Setting: lambda s: concat(f"{s.key} = ", pp_expr(s.value)),
    S.TrainCall: lambda s: pp_expr(s.call, POSTFIX),
    S.Import: lambda s: text(f"import {quote(s.path)}"
                             + (f" as {s.alias}" if s.alias else "")),
    S.Const: lambda s: concat(f"const {s.name} = ", pp_expr(s.value)),
}


def _else_ifs(node) -> list:
    """``node`` and, for an if statement, each ``else if`` after it."""
    chain = [node]
    while isinstance(chain[-1], S.IfStmt) and isinstance(chain[-1].orelse, S.IfStmt):
        chain.append(chain[-1].orelse)
    return chain


# ---------------------------------------------------------------- entry points


def format_module(module: S.Module, width: int = 88, source: Source | None = None
                  ) -> str:
    """The canonical text of ``module``, unchecked; ``source`` keeps comment paragraphs."""
    out = D.render(_Printer(source).pp_module(module), width)
    return out + "\n" if out else ""


def format_once(source: Source, width: int = 88) -> str:
    """Parse and print once, without the safety checks."""
    return format_module(parse_source(source), width, source)


def format_source(source_or_text: Source | str, width: int = 88) -> str:
    """The canonical text of a `.nn` file, verified (see the module docs).

    Raises:
        NnError: the input has syntax errors.
        FormatterBug: the output would mean another program, lost or moved a
            comment, or changes under one more pass.

    Examples:
        >>> print(format_source("model m{input x:[4]\\n dense( 10 )->relu }"), end="")
        model m {
            input x: [4]
            dense(10) -> relu
        }
    """
    source = (source_or_text if isinstance(source_or_text, Source)
              else Source("<string>", source_or_text))
    tree = parse_source(source)
    out = format_module(tree, width, source)
    check_equivalent(source, tree, out, width)
    return out


def comment_places(node) -> list[tuple[str, str]]:
    """Every comment of a tree with its role, in a fixed order (the safety check)."""
    if isinstance(node, tuple):
        return [c for x in node for c in comment_places(x)]
    if isinstance(node, S.Comments):
        roles = [("leading", c) for c in node.leading]
        return roles + [(r, c) for r, c in (("trailing", node.trailing),
                                             ("closing", node.closing)) if c] + [
            (f"inner {'.'.join(map(str, path))} {kind} {i}", c)
            for path, kind, i, c in node.inner]
    if not dataclasses.is_dataclass(node):
        return []
    found = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if f.name == "dangling":
            found += [(f.name, c) for c in value if c]
        else:
            found += comment_places(value)
    return found


def _diff(a: str, b: str, name_a: str, name_b: str) -> str:
    lines = difflib.unified_diff(a.splitlines(True), b.splitlines(True), name_a, name_b)
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n"
                   for x in lines)


def check_equivalent(source: Source, tree: S.Module, out: str, width: int) -> None:
    """black ``--safe``: same tree, same comments in the same places, stable output."""
    path, out_source = source.path, Source(source.path, out)
    problem, again = None, out
    try:
        out_tree = parse_source(out_source)
    except NnError as exc:
        problem = "the output does not parse:\n" + render_all(exc.diagnostics,
                                                              {path: out_source})
    else:
        if out_tree != tree:
            problem = "the output parses to a different syntax tree"
        elif comment_places(out_tree) != comment_places(tree):
            problem = "a comment was lost or moved"
        elif (again := format_module(out_tree, width, out_source)) != out:
            problem = "the output is not stable under a second pass"
    if problem:
        raise FormatterBug(
            f"{path}: {problem}\n--- source -> formatted:\n"
            + _diff(source.text, out, f"{path} (source)", f"{path} (formatted)")
            + "--- formatted -> formatted again:\n"
            + _diff(out, again, f"{path} (formatted)", f"{path} (formatted twice)"))


def run_fmt(files: list[Path], *, check: bool = False, diff: bool = False,
            width: int = 88) -> int:
    """``nnc fmt``: rewrite ``files`` in place, or only report (``check``, ``diff``).

    Returns the exit code: 0 when nothing is left to do, 1 when a file would change
    under ``check`` or has syntax errors, 3 on an internal formatter error. A file
    with errors is reported on stderr and left untouched; the others are handled.
    """
    code = EXIT_OK
    for path in map(Path, files):
        source = None
        try:
            raw = read_text(path)  # compared with the output as it is: CRLF is a change
            source = Source(str(path), universal_newlines(raw))
            out = format_source(source, width)
        except OSError as exc:
            print(f"nnc: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            code = max(code, EXIT_ERRORS)
            continue
        except NnError as exc:
            source = source or Source.read(path, strict=False)
            print(render_all(exc.diagnostics, {source.path: source}), file=sys.stderr)
            code = max(code, EXIT_ERRORS)
            continue
        except FormatterBug as exc:
            print(f"nnc: internal error: cannot format {path} safely; it is left "
                  f"unchanged.\nThis is a bug in nnc fmt, not in your file; please "
                  f"report it.\n{exc}", file=sys.stderr)
            code = EXIT_INTERNAL
            continue
        if out == raw:
            continue
        if diff:
            name = str(path).lstrip("/")  # git style: a/tmp/x.nn, not a//tmp/x.nn
            sys.stdout.write(_diff(raw, out, f"a/{name}", f"b/{name}"))
        if check:
            print(f"would reformat {path}", file=sys.stderr)
            code = max(code, EXIT_ERRORS)
        elif not diff:
            path.write_text(out, encoding="utf-8", newline="")
            print(f"reformatted {path}", file=sys.stderr)
    return code
