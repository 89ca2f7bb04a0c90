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

from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from nnlang import syntax as S
from nnlang.diagnostics import Diagnostic, NnError, error
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
            elif at_stmt_start:
                self.stmt_line = tok.line
                at_stmt_start = False
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
        self.lark = Lark(
            grammar_text(), parser="lalr", lexer="contextual", postlex=self.layout,
            propagate_positions=True, maybe_placeholders=True, cache=True,
            lexer_callbacks={"COMMENT": self.comments.append},
        )

    def parse(self, text: str):
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


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    return float(clean) if any(c in clean for c in ".eE") else int(clean)


@v_args(meta=True)
class _ToSyntax(Transformer):
    """One method per grammar rule; each returns the matching syntax dataclass."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)

    @staticmethod
    def _present(children) -> list:
        return [c for c in children if c is not None]

    # top level
    def start(self, meta, children):
        return S.Module(tuple(self._present(children)), self.path)

    def import_(self, meta, children):
        path, alias = children
        return S.Import(_unescape(path), str(alias) if alias else None, self._span(meta))

    def const(self, meta, children):
        name, value = children
        return S.Const(str(name), value, self._span(meta))

    def block(self, meta, children):
        name, params, body = children
        return S.Block(str(name), params, body, self._span(meta))

    def params(self, meta, children):
        return tuple(self._present(children))

    def param(self, meta, children):
        name, default = children
        return S.Param(str(name), default, self._span(meta))

    def model(self, meta, children):
        name, body = children
        return S.Model(str(name), body, self._span(meta))

    def train(self, meta, children):
        *models, alias, body = children
        return S.Train(tuple(map(str, models)), str(alias) if alias else None, body,
                       self._span(meta))

    # bodies
    def body(self, meta, children):
        return S.Body(tuple(self._present(children)), self._span(meta))

    def train_body(self, meta, children):
        return S.TrainBody(tuple(self._present(children)), self._span(meta))

    def setting(self, meta, children):
        key, value = children
        return S.Setting(str(key), value, self._span(meta))

    def train_call(self, meta, children):
        return S.TrainCall(children[0], self._span(meta))

    # statements
    def input_stmt(self, meta, children):
        name, shape = children
        return S.InputStmt(str(name), shape, self._span(meta))

    def output_named(self, meta, children):
        name, value, assertion = children
        return S.OutputStmt(str(name), value, assertion, self._span(meta))

    def output_flow(self, meta, children):
        value, assertion = children
        return S.OutputStmt(None, value, assertion, self._span(meta))

    def bind_stmt(self, meta, children):
        name, value, assertion = children
        return S.BindStmt(str(name), value, assertion, self._span(meta))

    def expr_stmt(self, meta, children):
        value, assertion = children
        return S.ExprStmt(value, assertion, self._span(meta))

    def repeat_stmt(self, meta, children):
        count, body = children
        return S.RepeatStmt(count, body, self._span(meta))

    def for_stmt(self, meta, children):
        var, iterable, body = children
        return S.ForStmt(str(var), iterable, body, self._span(meta))

    def if_stmt(self, meta, children):
        # lark gives no placeholder for an absent inlined [_else_clause]
        cond, then, orelse = (*children, None)[:3]
        return S.IfStmt(cond, then, orelse, self._span(meta))

    def assertion(self, meta, children):
        return children[0]

    def shape(self, meta, children):
        dtype, *dims = children
        return S.Shape(tuple(self._present(dims)), str(dtype) if dtype else None,
                       self._span(meta))

    # chains and expressions
    def chain(self, meta, children):
        if len(children) == 1:
            return children[0]
        return S.Chain(tuple(children), self._span(meta))

    stmt_chain = chain

    def named(self, meta, children):
        value, name = children
        return S.Named(value, str(name), self._span(meta))

    def if_expr(self, meta, children):
        cond, then, orelse = children
        return S.IfExpr(cond, then, orelse, self._span(meta))

    def or_(self, meta, children):
        return S.Binary("or", children[0], children[1], self._span(meta))

    def and_(self, meta, children):
        return S.Binary("and", children[0], children[1], self._span(meta))

    def not_(self, meta, children):
        return S.Unary("not", children[0], self._span(meta))

    def neg(self, meta, children):
        return S.Unary("-", children[0], self._span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return S.Binary(str(op), left, right, self._span(meta))

    binary = compare

    def call(self, meta, children):
        func, *args = children
        return S.Call(func, tuple(self._present(args)), self._span(meta))

    def attr(self, meta, children):
        base, name = children
        return S.Attr(base, str(name), self._span(meta))

    def kwarg(self, meta, children):
        name, value = children
        return S.Arg(str(name), value, self._span(meta))

    def posarg(self, meta, children):
        return S.Arg(None, children[0], self._span(meta))

    def number(self, meta, children):
        return S.Number(_number(children[0]), str(children[0]), self._span(meta))

    def string(self, meta, children):
        return S.String(_unescape(children[0]), self._span(meta))

    def true(self, meta, children):
        return S.Bool(True, self._span(meta))

    def false(self, meta, children):
        return S.Bool(False, self._span(meta))

    def name(self, meta, children):
        return S.Name(str(children[0]), self._span(meta))

    def list_(self, meta, children):
        return S.ListExpr(tuple(self._present(children)), self._span(meta))

    def tuple_(self, meta, children):
        return S.TupleExpr(tuple(self._present(children)), self._span(meta))

    def map_(self, meta, children):
        return S.MapExpr(tuple(self._present(children)), self._span(meta))

    def map_entry(self, meta, children):
        key, value = children
        quoted = key.type == "STRING"
        return S.MapEntry(_unescape(key) if quoted else str(key), value, quoted,
                          self._span(meta))


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
        return error("syntax", "a chain cannot end with '->'", span,
                     hint="add the next layer after '->', or remove the arrow")
    if tok.type == "COLON" and "EQUAL" in expected:
        return error("syntax", "unexpected ':'", span, notes=_expected_note(expected),
                     hint="settings and bindings are written 'name = value'")
    if tok.type == "EQUAL" and "COLON" in expected:
        return error("syntax", "unexpected '='", span, notes=_expected_note(expected),
                     hint="map entries are written 'key: value'")
    return error("syntax", f"unexpected {_describe_token(tok)}", span,
                 notes=_expected_note(expected))


def _expected_note(expected: set[str]) -> list[str]:
    words = _describe_expected(expected)
    return [f"expected {words}"] if words else []


def _unexpected_char(exc: UnexpectedCharacters, source: Source) -> Diagnostic:
    char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
    span = _span_at(source.path, exc.line, exc.column)
    if char == '"':
        rest = source.line(exc.line)[exc.column - 1:]
        return error("syntax", "unterminated string",
                     Span(source.path, exc.line, exc.column, exc.line, exc.column + len(rest)),
                     hint='close the string with \'"\' on the same line')
    if char == "'":
        return error("syntax", "unexpected character \"'\"", span,
                     hint='strings are written in double quotes: "like this"')
    shown = repr(char)[1:-1] if not char.isprintable() else char
    return error("syntax", f"unexpected character '{shown}'", span)


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
        if text[pos] != '"':
            return _blank(text, pos, pos + 1)
        end = text.find("\n", pos)  # an unterminated string: close it where it stands
        end = len(text) if end == -1 else end
        return text[:pos] + '""' + " " * (end - pos - 2) + text[end:] if end - pos >= 2 else None
    if isinstance(exc, UnexpectedEOF) or exc.token.type == "$END":
        return None
    offsets = _line_offsets(text)
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
    diagnostics: list[Diagnostic] = []
    while len(diagnostics) < MAX_ERRORS:
        try:
            tree = parser.parse(text)
        except _TooDeep as deep:
            span = Span(source.path, deep.token.line, deep.token.column, deep.token.line,
                        deep.token.column + 1)
            diagnostics.append(error("syntax", f"brackets nested more than {MAX_NESTING} deep",
                                     span))
            break
        except UnexpectedCharacters as exc:
            diagnostics.append(_unexpected_char(exc, source))
            recovered = _recover(text, exc, parser.layout)
        except UnexpectedInput as exc:
            diagnostics.append(_unexpected_token(exc, source, parser.layout))
            recovered = _recover(text, exc, parser.layout)
        else:
            if diagnostics:
                break
            comments = list(parser.comments)
            try:
                module = _ToSyntax(source.path).transform(tree)
            except VisitError as exc:
                if isinstance(exc.orig_exc, NnError):
                    raise exc.orig_exc from None
                raise
            return attach_comments(module, comments, source)
        if recovered is None:
            break
        text = recovered
    raise NnError(_dedupe(diagnostics))


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
