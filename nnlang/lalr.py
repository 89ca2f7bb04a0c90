"""A fast path through lark's LALR tables for files that parse.

lark's contextual lexer and ``feed_token`` are general: every token is matched
against a per-state alternation of regexes, and every parser action looks up
a rule's size, origin and callback and checks two assertions (one of them a
Python-level ``Rule.__eq__``). For a 2,000-line file that is half of
``nnc check``. This module drives the same tables with one master regex and a
tight loop:

* the lexer matches the longest lexeme once, then picks its terminal by what
  the parser state accepts, as lark's contextual lexer does (``as`` is the
  keyword where the grammar expects ``as``, a name elsewhere);
* the same postlexer (:class:`nnlang.parse._Layout`) and the same transformer
  callbacks run, so the tree is the same object-for-object.

Anything unusual (a character no token starts with, a token the state does not
accept, a lexeme two terminals could take) raises :class:`Reject`, and the
caller parses the text again with lark itself, whose exceptions the error
messages are built from. tests/test_parse_fast.py checks both paths give the
same trees, spans and comments on the corpus and on fuzzed input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from nnlang._lark import Lark, Token

_NEW_TOKEN = str.__new__


class Reject(Exception):
    """The fast path met input it leaves to lark (usually a syntax error)."""


# The lexemes, longest first where one is a prefix of another. Groups are
# named after lark's terminals, or after a lexeme class resolved below.
_MASTER = re.compile(
    r"""
    (?P<WS>[\t \f]+)
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<NUMBER>\d(?:_?\d)*(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d+)?|\.\d(?:_?\d)*(?:[eE][+-]?\d+)?)
  | (?P<NL>(?:\r?\n[\t \f]*)+)
  | (?P<COMMENT>\#[^\n]*)
  | (?P<STRING>"(?:[^"\\\n]|\\.)*")
  | (?P<PUNCT>->|==|!=|<=|>=|//|[-+*/%<>=()\[\]{},.:])
    """,
    re.VERBOSE,
)


def _token(kind: str, value: str, pos: int, line: int, col: int, end_line: int,
           end_col: int, end_pos: int) -> Token:
    """A lark Token without ``Token.__new__``'s keyword handling (the hot path)."""
    tok = _NEW_TOKEN(Token, value)
    tok.type, tok.value, tok.start_pos, tok.end_pos = kind, value, pos, end_pos
    tok.line, tok.column, tok.end_line, tok.end_column = line, col, end_line, end_col
    return tok


class FastLALR:
    """lark's tables, a master-regex lexer and an inlined shift/reduce loop."""

    def __init__(self, lark: Lark, postlex: Any, on_comment: Callable[[Token], None]):
        from lark.parsers.lalr_analysis import Shift

        terminals = {t.name: t for t in lark.terminals}
        self.cont = re.compile(terminals["_CONT"].pattern.value)
        # lexeme -> the terminals it can be, keyword or punctuation first
        self.by_lexeme: dict[str, tuple[str, ...]] = {}
        for t in lark.terminals:
            if type(t.pattern).__name__ == "PatternStr" and t.name != "_ARROW":
                self.by_lexeme[t.pattern.value] = (t.name,)
        self.by_lexeme["->"] = ("_ARROW",)
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            self.by_lexeme[op] = ("COMP_OP",)
        for op in ("//", "*", "/", "%"):
            self.by_lexeme[op] = ("MUL_OP",)
        self.by_lexeme["+"] = ("ADD_OP",)
        self.by_lexeme["-"] = ("MINUS", "ADD_OP")
        self.keywords = {k: v[0] for k, v in self.by_lexeme.items() if k.isalpha()}
        self.postlex = postlex
        self.on_comment = on_comment

        lalr = lark.parser.parser.parser
        table = lalr.parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        reduce_info: dict[Any, tuple] = {}
        self.states: dict[int, dict[str, tuple]] = {}
        for state, actions in table.states.items():
            row = {}
            for kind, (action, arg) in actions.items():
                if action is Shift:
                    row[kind] = (None, arg)
                else:
                    info = reduce_info.get(arg)
                    if info is None:
                        info = (len(arg.expansion), arg.origin.name, lalr.callbacks[arg])
                        reduce_info[arg] = info
                    row[kind] = info
            self.states[state] = row

    # ---------------------------------------------------------------- lexer

    def tokens(self, text: str, stack: list[int]) -> Iterator[Token]:
        """Tokens of ``text``, each typed by what the state on top of ``stack`` accepts."""
        states, keywords, by_lexeme = self.states, self.keywords, self.by_lexeme
        match, cont = _MASTER.match, self.cont.match
        pos, line, line_start, size = 0, 1, 0, len(text)
        while pos < size:
            m = match(text, pos)
            if m is None:
                raise Reject
            group, value, end = m.lastgroup, m.group(), m.end()
            col = pos - line_start + 1
            if group == "WS":
                pos = end
                continue
            if group == "NL":
                newlines = value.count("\n")
                last = value.rfind("\n")
                end_line, end_col = line + newlines, len(value) - last
                continued = cont(text, pos)
                if continued is None or continued.end() != end:
                    yield _token("_NL", value, pos, line, col, end_line, end_col, end)
                line, line_start, pos = end_line, pos + last + 1, end
                continue
            if group == "COMMENT":
                self.on_comment(_token("COMMENT", value, pos, line, col, line,
                                       col + len(value), end))
                pos = end
                continue
            accepts = states[stack[-1]]
            if group == "WORD":
                kind = keywords.get(value)
                if kind is None or kind not in accepts:
                    kind = "NAME"
            elif group == "PUNCT":
                options = [k for k in by_lexeme[value] if k in accepts]
                if len(options) != 1:
                    raise Reject
                kind = options[0]
            else:
                kind = group
            yield _token(kind, value, pos, line, col, line, col + len(value), end)
            pos = end

    # ---------------------------------------------------------------- parser

    def parse(self, text: str) -> Any:
        """The transformer's result for ``text``; :class:`Reject` if lark must decide."""
        states = self.states
        stack, values = [self.start], []
        for token in self.postlex.process(self.tokens(text, stack)):
            kind = token.type
            while True:
                action = states[stack[-1]].get(kind)
                if action is None:
                    raise Reject
                size, target = action[0], action[1]
                if size is None:  # shift
                    stack.append(target)
                    values.append(token)
                    break
                if size:  # reduce, inline: this loop is the parser's hot path
                    children = values[-size:]
                    del stack[-size:], values[-size:]
                else:
                    children = []
                values.append(action[2](children))
                stack.append(states[stack[-1]][target][1])
        while True:  # the end of the input: reduce until the start rule is accepted
            action = states[stack[-1]].get("$END")
            if action is None or action[0] is None:
                raise Reject
            size, target, callback = action
            children = values[-size:] if size else []
            if size:
                del stack[-size:], values[-size:]
            values.append(callback(children))
            stack.append(states[stack[-1]][target][1])
            if stack[-1] == self.end:
                return values[-1]
