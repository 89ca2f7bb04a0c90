"""Parse `.nn` text into the typed syntax tree of :mod:`nnlang.syntax`.

The grammar is grammars/nn.lark, loaded once with lark's LALR parser and
contextual lexer (and lark's on-disk cache, so a process starts fast). Three
pieces live here:

* :class:`_Layout`, the postlexer: newline handling (see the grammar's header),
  bracket tracking for "expected ')' to close the '(' on line 3", and the start
  of the current statement for error recovery;
* :class:`_ToSyntax`, a lark Transformer with one method per grammar rule;
* error translation (lark's terminal names into words a user knows) and
  recovery: after an error the offending statement is blanked out and the
  file parsed again, so several independent errors are all reported.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

from nnlang import syntax as S
from nnlang._lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
)
from nnlang.diagnostics import Diagnostic, NnError, did_you_mean, error
from nnlang.lalr import FastLALR, Reject
from nnlang.source import Source, Span

MAX_ERRORS = 20
MAX_NESTING = 100  # brackets deeper than this are refused, long before Python's recursion limit

OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
CLOSERS = {v: k for k, v in OPENERS.items()}
PUNCT = {
    "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "LBRACE": "{", "RBRACE": "}",
    "COMMA": ",", "EQUAL": "=", "COLON": ":", "DOT": ".", "MINUS": "-", "_ARROW": "->",
}
KEYWORDS = ("import", "as", "const", "block", "model", "train", "input", "output", "repeat",
            "for", "in", "if", "else", "and", "or", "not", "true", "false")
KEYWORD_TERMINALS = frozenset(k.upper() for k in KEYWORDS)
TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_NL": "a new line",
    "$END": "the end of the file", "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/', '//' or '%'",
}
EXPRESSION_START = {"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "LBRACE", "MINUS", "TRUE",
                    "FALSE", "NOT", "IF"}


# ---------------------------------------------------------------- postlexer


class _Layout:
    """Newline handling and bracket tracking between lark's lexer and parser."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.stack: list[Token] = []  # open brackets, innermost last
        self.stmt_line = 1            # first line of the statement being parsed
        self.last: Token | None = None
        self.last_significant: Token | None = None  # the last token that is not a newline
        self.before_last: Token | None = None  # the significant token before that one

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.reset()
        at_stmt_start = True
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if self.stack and self.stack[-1].type != "LBRACE":
                    continue  # inside () or []
                if self.last is None or self.last.type in ("_ARROW", "_NL"):
                    continue  # start of file, a chain continued after `->`, or a repeat
                at_stmt_start = True
            else:
                if at_stmt_start:
                    self.stmt_line = tok.line
                    at_stmt_start = False
                prev = self.last_significant
                if prev is not None and prev.type in KEYWORD_TERMINALS and \
                        prev.end_pos == tok.start_pos and kind in ("NAME", "NUMBER"):
                    raise _glued(prev, tok)
            if kind in OPENERS:
                if len(self.stack) >= MAX_NESTING:
                    raise _TooDeep(tok)
                self.stack.append(tok)
                if kind == "LBRACE":
                    at_stmt_start = True
            elif kind in CLOSERS and self.stack and self.stack[-1].type == CLOSERS[kind]:
                self.stack.pop()
            self.last = tok
            if kind != "_NL":
                self.before_last, self.last_significant = self.last_significant, tok
            yield tok


def _glued(prev: Token, tok: Token) -> _Problem:
    """A word that lark's contextual lexer split after a keyword, as one error.

    Where a state accepts a keyword but no name, lark matches the keyword as a
    prefix: ``modelx m`` would read as ``model x m`` and ``dense(2) asx`` as
    ``dense(2) as x``. A keyword glued to the next token is one word.
    """
    word = f"{prev}{tok}"
    glued = Token("NAME", word, prev.start_pos, prev.line, prev.column, tok.end_line,
                  tok.end_column, tok.end_pos)
    return _Problem("syntax", f"unexpected name '{word}'", glued,
                   hint=did_you_mean(word, KEYWORDS) or f"did you mean '{prev} {tok}'?")


class _TooDeep(Exception):
    def __init__(self, token: Token):
        self.token = token


# ---------------------------------------------------------------- parser


def grammar_text() -> str:
    """The grammar: package data in an installed wheel, grammars/ in a checkout."""
    packaged = resources.files("nnlang") / "grammars" / "nn.lark"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammars" / "nn.lark").read_text("utf-8")


class _Parser:
    """The lark parser plus the per-parse state its callbacks write into."""

    def __init__(self) -> None:
        self.layout = _Layout()
        self.comments: list[Token] = []
        self.to_syntax = _ToSyntax("<string>")
        self.lark = Lark(
            grammar_text(), parser="lalr", lexer="contextual", postlex=self.layout,
            maybe_placeholders=False, keep_all_tokens=True, cache=True,
            lexer_callbacks={"COMMENT": self.comments.append}, transformer=self.to_syntax,
        )

        self.fast = FastLALR(self.lark, self.layout, self.comments.append)

    def parse(self, text: str, path: str = "<string>") -> S.Module:
        """Parse and build the syntax tree in one pass (the Transformer runs inline).

        A file that parses takes the fast path (:mod:`nnlang.lalr`); lark itself
        parses anything that path rejects, so errors come from lark's exceptions.
        """
        self.to_syntax.path = path
        self.comments.clear()
        try:
            return self.fast.parse(text)
        except Reject:
            self.comments.clear()
        return self.lark.parse(text)


@cache
def _parser() -> _Parser:
    return _Parser()


# ---------------------------------------------------------------- transformer


def _unescape(quoted: str) -> str:
    body, out, i = quoted[1:-1], [], 0
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


MAX_ELSE_IF = 200  # an else-if chain nests in the tree; keep it far from the recursion limit


class _Problem(Exception):
    """A syntax problem found while building the tree (not by the LALR parser)."""

    def __init__(self, code: str, message: str, token_or_span, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.where, self.hint = code, message, token_or_span, hint


def _declared(token: Token, what: str) -> str:
    """The name ``token`` declares; a keyword cannot be one (it would read as the keyword)."""
    name = str(token)
    if name in KEYWORDS:
        raise _Problem("syntax", f"'{name}' is a keyword and cannot name {what}", token,
                       hint=f"keywords are reserved: pick another name, such as '{name}_'")
    return name


def _number(token: Token) -> int | float:
    clean = str(token).replace("_", "")
    try:
        value = float(clean) if any(c in clean for c in ".eE") else int(clean)
    except ValueError:  # Python refuses int literals of more than 4,300 digits
        raise _Problem("syntax", f"number literal of {len(clean)} digits is too long",
                       token) from None
    if value == math.inf:
        raise _Problem("syntax", f"number {token} is too large", token,
                       hint="the largest number is about 1.8e308 (a 64-bit float)")
    return value


VALUE_TOKENS = frozenset({"NAME", "NUMBER", "STRING", "COMP_OP", "ADD_OP", "MUL_OP"})


def _children_span(path: str, children: list) -> Span | None:
    """From the first child that has a position to the last (newlines skipped)."""
    first = last = None
    for c in children:
        if type(c) is Token:
            if c.type != "_NL":
                first = (c.line, c.column)
                break
        elif (span := getattr(c, "span", None)) is not None:
            first = (span.line, span.col)
            break
    if first is None:
        return None
    for c in reversed(children):
        if type(c) is Token:
            if c.type != "_NL":
                last = (c.end_line, c.end_column)
                break
        elif (span := getattr(c, "span", None)) is not None:
            last = (span.end_line, span.end_col)
            break
    return Span(path, first[0], first[1], last[0], last[1])


def _rule(method):
    """Adapt a ``(self, span, kept, children)`` method to lark's inline transformer.

    The parser runs the Transformer while it parses (lark's LALR
    ``transformer=``): no parse tree is built, which halves the time to check a
    large file. lark then passes no positions, so every token is kept
    (``keep_all_tokens``): a rule's span runs from its first child to its last.
    Methods get that span (None for an empty rule), the value tokens and nodes
    (``kept``) and all the children, keywords and punctuation included.
    """

    def call(self, children):
        kept = [c for c in children if not (type(c) is Token and c.type not in VALUE_TOKENS)]
        return method(self, _children_span(self.path, children), kept, children)

    call.__name__ = method.__name__
    return call


# Binding powers of the operators, loosest first; comparisons do not chain.
BINARY_POWER = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
                "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}
PREFIX_POWER = {"not": 3, "-": 7}
COMPARISON_POWER = 4


class _Prefixed:
    """``- x`` or ``not x`` before the fold decides how far the operator reaches."""

    __slots__ = ("ops", "operand")

    def __init__(self, ops: tuple[Token, ...], operand) -> None:
        self.ops, self.operand = ops, operand


class _Fold:
    """Precedence climbing over a flat ``operand (op operand)*`` sequence.

    The grammar leaves operators flat because a ladder of precedence rules
    costs lark ten reductions per operand, most of a large file's parse time.
    Prefix operators reach as far as their binding power allows: ``not a == b``
    is ``not (a == b)``, ``-a * b`` is ``(-a) * b``. A prefix operator looser
    than the operator before it (``a + not b``, ``- not x``) is an error, as
    in Python.
    """

    def __init__(self, path: str, children: list) -> None:
        self.path = path
        self.items: list = []  # prefix tokens, operands and binary-operator tokens
        for child in children:
            if isinstance(child, _Prefixed):
                self.items += child.ops
                self.items.append(child.operand)
            else:
                self.items.append(child)
        self.pos = 0

    def expression(self, min_power: int):
        left = self.operand(min_power)
        compared = False
        items = self.items
        while self.pos < len(items):
            op = items[self.pos]
            power = BINARY_POWER[str(op)]
            if power < min_power:
                break
            if compared and power == COMPARISON_POWER:
                raise _Problem("syntax", f"comparisons do not chain: '{op}' after a "
                               "comparison", op,
                               hint="join two comparisons with 'and': a < b and b < c")
            self.pos += 1
            right = self.expression(power + 1)
            left = S.Binary(str(op), left, right, self._span(left.span, right.span))
            compared = power == COMPARISON_POWER
        return left

    def operand(self, min_power: int):
        item = self.items[self.pos]
        self.pos += 1
        if not isinstance(item, Token):
            return item
        op = str(item)
        power = PREFIX_POWER[op]
        if power < min_power:
            raise _Problem("syntax", f"'{op}' cannot stand here without parentheses", item,
                           hint=f"write ({op} ...) around the operand")
        inner = self.expression(power)
        start = Span(self.path, item.line, item.column, item.end_line, item.end_column)
        return S.Unary(op, inner, self._span(start, inner.span))

    def _span(self, first: Span | None, last: Span | None) -> Span | None:
        if first is None or last is None:
            return first or last
        return Span(self.path, first.line, first.col, last.end_line, last.end_col)


class _ToSyntax(Transformer):
    """One method per grammar rule; each returns the matching syntax dataclass."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path


    # top level
    @_rule
    def start(self, span, kept, children):
        return S.Module(tuple(kept), self.path)

    @_rule
    def import_(self, span, kept, children):
        alias = _declared(kept[1], "a namespace") if len(kept) > 1 else None
        return S.Import(_unescape(kept[0]), alias, span)

    @_rule
    def const(self, span, kept, children):
        name, value = kept
        return S.Const(_declared(name, "a const"), value, span)

    @_rule
    def block(self, span, kept, children):
        params = kept[1] if len(kept) == 3 else None
        return S.Block(_declared(kept[0], "a block"), params, kept[-1], span)

    @_rule
    def params(self, span, kept, children):
        return tuple(kept)

    @_rule
    def param(self, span, kept, children):
        default = kept[1] if len(kept) > 1 else None
        return S.Param(_declared(kept[0], "a parameter"), default, span)

    @_rule
    def model(self, span, kept, children):
        name, body = kept
        return S.Model(_declared(name, "a model"), body, span)

    @_rule
    def train(self, span, kept, children):
        *names, body = kept
        has_alias = any(isinstance(c, Token) and c.type == "AS" for c in children)
        alias = _declared(names.pop(), "a train block") if has_alias else None
        return S.Train(tuple(map(str, names)), alias, body, span)

    # bodies
    @_rule
    def body(self, span, kept, children):
        return S.Body(tuple(kept), span)

    @_rule
    def train_body(self, span, kept, children):
        return S.TrainBody(tuple(kept), span)

    @_rule
    def setting(self, span, kept, children):
        key, value = kept
        return S.Setting(str(key), value, span)

    @_rule
    def train_call(self, span, kept, children):
        return S.TrainCall(kept[0], span)

    # statements
    @_rule
    def input_stmt(self, span, kept, children):
        shape = kept[1] if len(kept) > 1 else None
        return S.InputStmt(_declared(kept[0], "an input"), shape, span)

    @_rule
    def output_named(self, span, kept, children):
        assertion = kept[2] if len(kept) > 2 else None
        return S.OutputStmt(_declared(kept[0], "an output"), kept[1], assertion, span)

    @_rule
    def output_flow(self, span, kept, children):
        assertion = kept[1] if len(kept) > 1 else None
        return S.OutputStmt(None, kept[0], assertion, span)

    @_rule
    def bind_stmt(self, span, kept, children):
        assertion = kept[2] if len(kept) > 2 else None
        return S.BindStmt(_declared(kept[0], "a tensor"), kept[1], assertion, span)

    @_rule
    def expr_stmt(self, span, kept, children):
        assertion = kept[1] if len(kept) > 1 else None
        return S.ExprStmt(kept[0], assertion, span)

    @_rule
    def repeat_stmt(self, span, kept, children):
        count, body = kept
        return S.RepeatStmt(count, body, span)

    @_rule
    def for_stmt(self, span, kept, children):
        var, iterable, body = kept
        return S.ForStmt(_declared(var, "a loop variable"), iterable, body, span)

    @_rule
    def if_stmt(self, span, kept, children):
        cond, then, *orelse = kept
        depth, node = 0, orelse[0] if orelse else None
        while isinstance(node, S.IfStmt) and depth <= MAX_ELSE_IF:
            depth, node = depth + 1, node.orelse
        if depth > MAX_ELSE_IF:
            raise _Problem("syntax", f"else-if chain longer than {MAX_ELSE_IF}", span,
                           hint="choose among many options with a const and for/if blocks")
        return S.IfStmt(cond, then, orelse[0] if orelse else None, span)

    @_rule
    def assertion(self, span, kept, children):
        return kept[0]

    @_rule
    def shape(self, span, kept, children):
        dtype = str(kept.pop(0)) if kept and isinstance(kept[0], Token) else None
        return S.Shape(tuple(kept), dtype, span)

    # chains and expressions
    @_rule
    def chain(self, span, kept, children):
        if len(kept) == 1:
            return kept[0]
        return S.Chain(tuple(kept), span)

    stmt_chain = chain

    @_rule
    def named(self, span, kept, children):
        value, name = kept
        return S.Named(value, _declared(name, "a layer"), span)

    @_rule
    def if_expr(self, span, kept, children):
        cond, then, orelse = kept
        return S.IfExpr(cond, then, orelse, span)

    def prefixed(self, children):
        *ops, operand = children
        if len(ops) > MAX_NESTING:
            raise _Problem("syntax", f"more than {MAX_NESTING} prefix operators in a row",
                           ops[0])
        return _Prefixed(tuple(ops), operand)

    def operation(self, children):
        if len(children) == 1 and not isinstance(children[0], _Prefixed):
            return children[0]
        return _Fold(self.path, children).expression(0)

    @_rule
    def call(self, span, kept, children):
        func, *args = kept
        return S.Call(func, tuple(args), span)

    @_rule
    def attr(self, span, kept, children):
        base, name = kept
        if isinstance(base, S.Number):
            raise _Problem("syntax", f"'{base.text}.{name}' is not a number", span,
                           hint=f"write digits after the point: {base.text}.0")
        return S.Attr(base, str(name), span)

    @_rule
    def kwarg(self, span, kept, children):
        name, value = kept
        return S.Arg(str(name), value, span)

    @_rule
    def posarg(self, span, kept, children):
        return S.Arg(None, kept[0], span)

    @_rule
    def number(self, span, kept, children):
        return S.Number(_number(kept[0]), str(kept[0]), span)

    @_rule
    def string(self, span, kept, children):
        return S.String(_unescape(kept[0]), span)

    @_rule
    def true(self, span, kept, children):
        return S.Bool(True, span)

    @_rule
    def false(self, span, kept, children):
        return S.Bool(False, span)

    @_rule
    def name(self, span, kept, children):
        return S.Name(str(kept[0]), span)

    @_rule
    def list_(self, span, kept, children):
        return S.ListExpr(tuple(kept), span)

    @_rule
    def tuple_(self, span, kept, children):
        return S.TupleExpr(tuple(kept), span)

    @_rule
    def map_(self, span, kept, children):
        return S.MapExpr(tuple(kept), span)

    @_rule
    def map_entry(self, span, kept, children):
        key, value = kept
        quoted = key.type == "STRING"
        return S.MapEntry(_unescape(key) if quoted else str(key), value, quoted,
                          span)

    @_rule
    def paren(self, span, kept, children):
        return kept[0]


# ---------------------------------------------------------------- comments

from nnlang.comments import attach_comments  # noqa: E402  (needs the classes above)

# ---------------------------------------------------------------- errors


def _describe_token(tok: Token) -> str:
    kind = tok.type
    if kind == "$END":
        return "end of file"
    if kind == "_NL":
        return "end of line"
    if kind == "NAME":
        return f"name '{tok}'"
    if kind == "NUMBER":
        return f"number {tok}"
    if kind == "STRING":
        return f"string {tok}"
    if str(tok) in KEYWORDS:
        return f"keyword '{tok}'"
    return f"'{tok}'"


CONTINUATIONS = {"COMP_OP", "ADD_OP", "MUL_OP", "AND", "OR", "DOT", "LPAR", "AS", "COLON",
                 "_ARROW", "EQUAL"}


def _describe_expected(expected: set[str]) -> str:
    """Terminal names as words: "a number, a name, '[' or '('".

    After a complete expression lark also expects every operator that could
    continue it; those are noise next to the separator the user most likely missed.
    """
    names = set(expected)
    if names - CONTINUATIONS and names & {"_NL", "RPAR", "RSQB", "RBRACE", "COMMA"}:
        names -= CONTINUATIONS
    words: list[str] = []
    if len(names & EXPRESSION_START) >= 5:
        names -= EXPRESSION_START
        words.append("an expression")
    for name in sorted(names, key=lambda n: (n not in TERMINAL_WORDS, n)):
        if name in TERMINAL_WORDS:
            words.append(TERMINAL_WORDS[name])
        elif name in PUNCT:
            words.append(f"'{PUNCT[name]}'")
        elif name.lower() in KEYWORDS:
            words.append(f"'{name.lower()}'")
        elif name.startswith("__"):
            continue
        else:
            words.append(name.lower())
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _span_at(path: str, line: int, col: int, length: int = 1) -> Span:
    return Span(path, line, col, line, col + max(length, 1))


def _token_span(path: str, tok: Token, fallback: Source) -> Span:
    if tok.type == "$END" or tok.line is None:
        last = len(fallback.lines) or 1
        return _span_at(path, last, len(fallback.line(last)) + 1)
    return Span(path, tok.line, tok.column, tok.end_line or tok.line,
                tok.end_column or tok.column + 1)


def _unexpected_token(exc: UnexpectedInput, source: Source, layout: _Layout) -> Diagnostic:
    tok = exc.token if not isinstance(exc, UnexpectedEOF) else Token("$END", "")
    if isinstance(exc, UnexpectedEOF):
        tok.line = None
    expected = set(getattr(exc, "expected", ()) or ())
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is not None:  # exact, unlike LALR's merged lookahead sets
        try:
            expected = set(interactive.accepts()) - {"$END"} | ({"$END"} & expected)
        except Exception:  # noqa: BLE001 - accepts() is best effort; keep lark's set
            pass
    path = source.path
    span = _token_span(path, tok, source)
    last = layout.last_significant
    if last is not None and tok.type != "$END" and last.start_pos == tok.start_pos:
        last = layout.before_last  # the parser had already been handed the bad token
    if tok.type in CLOSERS and not any(o.type == CLOSERS[tok.type] for o in layout.stack):
        return error("syntax", f"unmatched '{tok}'", span,
                     hint=f"there is no '{PUNCT[CLOSERS[tok.type]]}' open here to close")
    closing_tok = tok.type in ("$END", "RBRACE", "RSQB", "RPAR")
    for opener in reversed(layout.stack):
        closer = OPENERS[opener.type]
        # In () and [] newlines are not significant, so a token on a later line
        # means the bracket was never closed; in a { } body only a wrong closer does.
        later = opener.type != "LBRACE" and tok.line != opener.line
        if closer in expected and (closing_tok or later):
            if last is not None and (tok.type == "$END" or tok.line != last.end_line):
                span = _span_at(path, last.end_line, last.end_column)
            msg = (f"expected '{PUNCT[closer]}' to close the '{PUNCT[opener.type]}' "
                   f"on line {opener.line}")
            others = expected - {closer} if tok.type != "$END" else set()
            return error("syntax", msg, span, notes=_expected_note(others))
        break
    if last is not None and last.type == "_ARROW" and tok.type in ("RBRACE", "$END"):
        return error("syntax", "a chain cannot end with '->'", _token_span(path, last, source),
                     hint="add the next layer after '->', or remove the arrow")
    for opener in layout.stack:  # `repeat {`: the brace was read as a map
        before = source.line(opener.line)[: opener.column - 1]
        word = re.search(r"\brepeat\s*$", before)
        if opener.type == "LBRACE" and word:
            return error("syntax", "repeat needs a count",
                         _span_at(path, opener.line, word.start() + 1, len("repeat")),
                         hint="write how many times: repeat 3 { ... }")
    unclosed = _unclosed_body(tok, last, layout, source)
    if unclosed is not None:
        return unclosed
    if tok.type == "_NL" and expected == {"LBRACE"} and \
            source.line(tok.line + 1).lstrip().startswith("{"):
        return error("syntax", "the '{' must be on the same line", span,
                     hint="move '{' up to the end of this line")
    before = source.text[tok.start_pos - 1] if tok.type != "$END" and tok.start_pos else ""
    if str(tok) == ">" and before and before in "-=":
        arrow = before + ">"
        return error("syntax", f"unexpected '{arrow}'",
                     Span(path, tok.line, tok.column - 1, tok.line, tok.column + 1),
                     notes=_expected_note(expected),
                     hint="did you mean '->'?" if arrow == "=>" else
                     "one '->' between two stages")
    if str(tok) == "//" and (last is None or last.end_line != tok.line or
                             tok.type == "MUL_OP" and "NAME" not in expected):
        return error("syntax", "unexpected '//'", span, notes=_expected_note(expected),
                     hint="comments start with '#'")
    if last is not None and last.type == "DOT" and layout.before_last is not None \
            and layout.before_last.type == "NUMBER" and last.start_pos == \
            layout.before_last.end_pos:
        number = f"{layout.before_last}."
        return error("syntax", f"'{number}' is not a number",
                     _span_at(path, last.line, layout.before_last.column, len(number)),
                     hint=f"write digits after the point: {number}0")
    if tok.type == "COLON" and "EQUAL" in expected:
        in_call = any(o.type == "LPAR" for o in layout.stack)
        return error("syntax", "unexpected ':'", span, notes=_expected_note(expected),
                     hint="keyword arguments are written name=value" if in_call else
                     "settings and bindings are written 'name = value'")
    if tok.type == "EQUAL" and "COLON" in expected:
        return error("syntax", "unexpected '='", span, notes=_expected_note(expected),
                     hint="map entries are written 'key: value'")
    misspelt = _misspelt_keyword(tok, last, expected, source)
    if misspelt is not None:
        return misspelt
    return error("syntax", f"unexpected {_describe_token(tok)}", span,
                 notes=_expected_note(expected))


TOP_LEVEL = ("model", "block", "train", "const", "import")


def _unclosed_body(tok: Token, last: Token | None, layout: _Layout,
                   source: Source) -> Diagnostic | None:
    """``model`` (or another top-level word) inside a body: a '}' is missing above it.

    Inside a body the keyword reads as a layer name, so the parser only stumbles
    on the word after it; point at the keyword and at the '{' left open.
    """
    braces = [o for o in layout.stack if o.type == "LBRACE"]
    if not braces or last is None or str(last) not in TOP_LEVEL or last.type != "NAME":
        return None
    if source.line(last.line)[: last.column - 1].strip() or tok.line != last.line:
        return None  # not the first word of its line
    opener = braces[0]
    return error("syntax", f"expected '}}' to close the '{{' on line {opener.line} before "
                 f"'{last}'", _token_span(source.path, last, source),
                 hint=f"add '}}' on its own line above line {last.line}")


# Keywords that start a statement in a body, and the kind of token that follows each.
STATEMENT_KEYWORDS = {"input": {"NAME"}, "output": {"NAME"}, "repeat": {"NAME", "NUMBER"},
                      "for": {"NAME"}, "if": {"NAME", "NOT", "TRUE", "FALSE", "NUMBER"}}


def _misspelt_keyword(tok: Token, last: Token | None, expected: set[str],
                      source: Source) -> Diagnostic | None:
    """A name where a keyword was due (``modle m {``, ``dense(2) ass x``), or a
    statement that starts with a misspelt keyword (``inptu x: [3]``).

    Inside a body the misspelt word reads as a layer, so the parser stumbles
    only on the word after it; the caret goes back to the misspelling.
    """
    path = source.path
    if tok.type == "NAME":
        due = [k for k in KEYWORDS if k.upper() in expected]
        hint = did_you_mean(str(tok), due)
        if hint is not None:
            return error("syntax", f"unexpected name '{tok}'", _token_span(path, tok, source),
                         notes=_expected_note(expected), hint=hint)
    if last is None or last.type != "NAME" or tok.type == "$END" or tok.line != last.line:
        return None
    if source.line(last.line)[: last.column - 1].strip():  # mid-line: `dense(2) ass x`
        starts = ["as"] if tok.type == "NAME" else []
    else:
        starts = [k for k, follow in STATEMENT_KEYWORDS.items() if tok.type in follow]
    hint = did_you_mean(str(last), starts)
    if hint is None:
        return None
    from nnlang.layers import LAYERS

    if str(last) in LAYERS:  # a layer's name is no misspelling (reshape, repeat)
        return None
    return error("syntax", f"unexpected name '{last}'", _token_span(path, last, source),
                 hint=hint)


def _expected_note(expected: set[str]) -> list[str]:
    words = _describe_expected(expected)
    return [f"expected {words}"] if words else []


# Characters no token starts with; a run of them is one error, blanked at once
# (one re-parse per character would make `$$$...` quadratic).
_STRAY_RUN = re.compile(r"[^\sA-Za-z0-9_()\[\]{},.:=+\-*/%<>!#\"→]+")


def _stray_end(text: str, pos: int) -> int:
    """Where the run of stray characters starting at ``pos`` ends (at least pos + 1)."""
    match = _STRAY_RUN.match(text, pos)
    return max(match.end() if match else pos + 1, pos + 1)


def _unexpected_char(exc: UnexpectedCharacters, source: Source, text: str) -> Diagnostic:
    pos = exc.pos_in_stream
    char = text[pos] if pos < len(text) else ""
    span = _span_at(source.path, exc.line, exc.column)
    if char.isalnum():  # a letter outside ASCII: report the word once
        start, end = _word_around(text, pos)
        word = text[start:end]
        folded = "".join(c for c in unicodedata.normalize("NFKD", word) if c.isascii())
        hint = (f"did you mean '{folded}'?" if len(folded) == len(word) and folded.isidentifier()
                else "use ASCII letters, digits and '_'")
        return error("syntax", f"names are ASCII: '{word}' has '{char}'",
                     _span_at(source.path, exc.line, exc.column - (pos - start), end - start),
                     hint=hint)
    end = _stray_end(text, pos) if char else pos
    run = text[pos:text.find("\n", pos, end) if "\n" in text[pos:end] else end]
    if len(run) > 1:
        shown = run if len(run) <= 20 else run[:20] + "…"
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
        hint = 'strings are written in double quotes: "like this"' if "'" in run else None
        return error("syntax", f"unexpected characters '{shown}'",
                     _span_at(source.path, exc.line, exc.column, len(run)), hint=hint)
    if char == '"':
        rest = source.line(exc.line)[exc.column - 1:]
        return error("syntax", "unterminated string",
                     Span(source.path, exc.line, exc.column, exc.line, exc.column + len(rest)),
                     hint='close the string with \'"\' on the same line')
    if char == "→":
        return error("syntax", "unexpected character '→'", span, hint="did you mean '->'?")
    if char == "'":
        close = _single_quote_end(text, pos)
        if close is not None:
            inner = text[pos + 1:close]
            return error("syntax", "strings are written in double quotes",
                         _span_at(source.path, exc.line, exc.column, close + 1 - pos),
                         hint=_quote_hint(text, pos, inner))
        return error("syntax", "unexpected character \"'\"", span,
                     hint='strings are written in double quotes: "like this"')
    shown = repr(char)[1:-1] if not char.isprintable() else char
    return error("syntax", f"unexpected character '{shown}'", span)


# ``key=`` before a quote, directly or as an item of a list: ``act='relu'``,
# ``metrics = ['accuracy', 'mae']``.
_KEY_BEFORE = re.compile(r"(\w+)\s*=\s*(?:\[[^\]\n]*)?$")
# train settings whose values are bare words
_OPTION_SETTINGS = frozenset({"data", "loss", "optimizer", "schedule", "metrics", "monitor",
                              "precision", "fuse_epochs", "data_parallel", "freeze"})


def _quote_hint(text: str, pos: int, inner: str) -> str:
    """How to write ``'inner'``: the bare word where the key before it takes an
    option word (``act='relu'`` is ``act=relu``), else the double-quoted string.

    >>> _quote_hint("dense(10, act='relu')", 14, "relu")
    'write the bare word relu'
    >>> _quote_hint("csv('a.csv')", 4, "a.csv")
    'write "a.csv"'
    """
    if not inner.isidentifier():
        return f'write "{inner}"'
    line_start = text.rfind("\n", 0, pos) + 1
    match = _KEY_BEFORE.search(text, line_start, pos)
    if match and match.group(1) in _option_keys():
        return f"write the bare word {inner}"
    return f'write "{inner}" (or the bare word {inner} for an option)'


@cache
def _option_keys() -> frozenset[str]:
    """Keywords whose values are option words: the layers' (act=, padding=, ...),
    their Keras spellings (activation=), the data sources' (target=) and the
    train settings'."""
    from nnlang.data.registry import DATA_SOURCES  # only on this error path
    from nnlang.layers import ALIASES, LAYERS
    from nnlang.layers.args import _WORD_KINDS

    keys = {a.name for spec in LAYERS.values() for a in spec.args if a.kind in _WORD_KINDS}
    keys |= {k for k, targets in ALIASES.items() if keys.intersection(targets)}
    keys |= {p.name for source in DATA_SOURCES.values() for p in source.params
             if p.kind in ("choice", "choice_list", "columns")}
    return frozenset(keys | _OPTION_SETTINGS)


def _single_quote_end(text: str, pos: int) -> int | None:
    """Where ``'...'`` opened at ``pos`` closes on its line, if it reads as a string."""
    end = text.find("\n", pos)
    close = text.find("'", pos + 1, len(text) if end == -1 else end)
    return close if close != -1 and '"' not in text[pos:close] else None


def _word_around(text: str, pos: int) -> tuple[int, int]:
    """The run of letters, digits and '_' (any script) around ``pos``."""
    start, end = pos, pos + 1
    while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return start, end


def _blank(text: str, start: int, end: int) -> str:
    """Replace text[start:end] by spaces, keeping newlines (so positions hold)."""
    middle = "".join(c if c == "\n" else " " for c in text[start:end])
    return text[:start] + middle + text[end:]


def _line_offsets(text: str) -> list[int]:
    offsets, pos = [0], 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        offsets.append(pos)
    return offsets


def _recover(text: str, exc: UnexpectedInput, layout: _Layout) -> str | None:
    """Blank out the statement that failed so the rest of the file can be checked."""
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        if text[pos] == "→":  # read on as the arrow it was meant to be, same length
            if text[pos + 1:pos + 2] == " ":
                return text[:pos] + "->" + text[pos + 2:]
            if pos and text[pos - 1] == " ":
                return text[:pos - 1] + "->" + text[pos + 1:]
            return text[:pos] + "->" + text[pos + 1:]
        if text[pos].isalnum():  # read on with the word's other letters made ASCII
            start, end = _word_around(text, pos)
            word = "".join(c if c.isascii() else "_" for c in text[start:end])
            return text[:start] + word + text[end:]
        if text[pos] == "'" and (close := _single_quote_end(text, pos)) is not None:
            # read on as the double-quoted string it was meant to be
            return text[:pos] + '"' + text[pos + 1:close] + '"' + text[close + 1:]
        if text[pos] != '"':
            return _blank(text, pos, _stray_end(text, pos))
        end = text.find("\n", pos)  # an unterminated string: close it where it stands
        end = len(text) if end == -1 else end
        return text[:pos] + '""' + " " * (end - pos - 2) + text[end:] if end - pos >= 2 else None
    if isinstance(exc, UnexpectedEOF) or exc.token.type == "$END":
        return None
    offsets = _line_offsets(text)
    for opener in layout.stack:  # `repeat {`: read on as `if true{` (the same length)
        word = re.search(r"\brepeat\s+$", text[:opener.start_pos])
        if opener.type == "LBRACE" and word:
            return text[:word.start()] + "if true" + text[word.start() + 7:]
    tok = exc.token
    start = offsets[min(layout.stmt_line, len(offsets)) - 1]
    if tok.type in CLOSERS:
        end = tok.start_pos  # keep a closing bracket: it most likely closes an outer body
    else:
        end = offsets[min(tok.end_line or tok.line, len(offsets) - 1)]
        end = end - 1 if text[end - 1:end] == "\n" else end
    region = text[start:end]
    if region.count("{") != region.count("}") or end <= start:
        return None  # blanking would unbalance the braces and report nonsense after it
    return _blank(text, start, end)


# ---------------------------------------------------------------- entry points


def parse_source(source: Source) -> S.Module:
    """Parse ``source`` into a syntax tree.

    Raises:
        NnError: with every syntax error the parser could find (it recovers
            after each bad statement).
    """
    parser = _parser()
    text = source.text
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise NnError(error("syntax", "the file contains NUL bytes: is it a text file?",
                            _span_at(source.path, line, 1)))
    diagnostics: list[Diagnostic] = []
    while len(diagnostics) < MAX_ERRORS:
        try:
            module = parser.parse(text, source.path)
        except _TooDeep as deep:
            span = Span(source.path, deep.token.line, deep.token.column, deep.token.line,
                        deep.token.column + 1)
            diagnostics.append(error("syntax", f"brackets nested more than {MAX_NESTING} deep",
                                     span))
            break
        except _Problem as exc:
            where = exc.where
            if isinstance(where, Token):
                span = Span(source.path, where.line, where.column, where.end_line,
                            where.end_column)
            else:
                span = where  # the rule's span, or None
            diagnostics.append(error(exc.code, exc.message, span, hint=exc.hint))
            break
        except UnexpectedCharacters as exc:
            _add_char_error(diagnostics, _unexpected_char(exc, source, text))
            recovered = _recover(text, exc, parser.layout)
        except UnexpectedInput as exc:
            diagnostics.append(_unexpected_token(exc, source, parser.layout))
            recovered = _recover(text, exc, parser.layout)
        else:
            if diagnostics:
                break
            return attach_comments(module, list(parser.comments), source)
        if recovered is None:
            break
        text = recovered
    raise NnError(_dedupe(diagnostics))


def _add_char_error(diagnostics: list[Diagnostic], diag: Diagnostic) -> None:
    """A run of stray characters (``???``) is one error, not one per character."""
    prev = diagnostics[-1] if diagnostics else None
    if (prev is not None and prev.message.startswith("unexpected character")
            and diag.message.startswith("unexpected character") and prev.span and diag.span
            and prev.span.line == diag.span.line and prev.span.end_col == diag.span.col):
        chars = prev.message.split("'", 1)[1].rsplit("'", 1)[0] + \
            diag.message.split("'", 1)[1].rsplit("'", 1)[0]
        diagnostics[-1] = dataclasses.replace(
            prev, message=f"unexpected characters '{chars}'",
            span=dataclasses.replace(prev.span, end_col=diag.span.end_col))
        return
    diagnostics.append(diag)


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.span.line, d.span.col) if d.span else None
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def parse_text(text: str, path: str = "<string>") -> S.Module:
    """Parse a string (tests, the formatter's self-check)."""
    return parse_source(Source(path, text))
