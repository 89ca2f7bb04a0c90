"""The fast parse path (nnlang/lalr.py) builds exactly what lark builds.

Each input goes through both paths: the fast one either rejects it (lark then
decides) or returns the same tree, with the same spans, as lark, and collects
the same comments at the same positions. Valid files must take the fast path,
or it would be dead weight.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import FUZZ, junk_inserted, layout_mutants, line_mutants, token_mutants

from nnlang.lalr import Reject
from nnlang.parse import _parser, _Problem, _TooDeep

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(
    [*(ROOT / "specs" / "valid").rglob("*.nn"), *(ROOT / "examples").glob("*.nn"),
     *(ROOT / "tests" / "cases" / "fmt").glob("*.nn")]
)


def dump(node):
    """Every field, spans included (the syntax classes compare without them)."""
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,
                tuple((f.name, dump(getattr(node, f.name))) for f in dataclasses.fields(node)))
    if isinstance(node, tuple | list):
        return tuple(dump(x) for x in node)
    return node


def outcome(parse, text: str):
    """What one path makes of ``text``: the tree and comments, or the error."""
    parser = _parser()
    parser.to_syntax.path = "t.nn"
    parser.comments.clear()
    try:
        tree = parse(text)
    except (_Problem, _TooDeep) as exc:
        return ("problem", type(exc).__name__, getattr(exc, "message", None))
    comments = tuple((str(t), t.line, t.column, t.end_line, t.end_column, t.start_pos,
                      t.end_pos) for t in parser.comments)
    return ("tree", dump(tree), comments)


def same_as_lark(text: str) -> bool:
    """Assert the fast path agrees with lark; return whether it took the input."""
    parser = _parser()
    try:
        fast = outcome(parser.fast.parse, text)
    except Reject:
        return False
    assert fast == outcome(parser.lark.parse, text)
    return True


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_files_take_the_fast_path_and_agree(path: Path) -> None:
    assert same_as_lark(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("text", [
    "const a = not 1 + 2 * -3 < 4 and true or false\n",
    "const a = x - -1 - y // 2 % 3\n",
    "model m {\n    input x: [3]\n    x -> dense(4)  # a\n\n    -> relu\n}\n",
    "model m {\n    input as: [3]\n    as -> dense(4) as in\n}\n",
    "const a = 1 < 2 < 3\n",
    "const a = 1 + not 2\n",
    "train m {\n    data = csv(\"a.csv\", target=y)\n}\r\n",
])
def test_edge_cases_agree(text: str) -> None:
    same_as_lark(text)


def test_errors_are_left_to_lark() -> None:
    parser = _parser()
    for text in ["model m {\n    dense(3\n}\n", "const a = $\n", "model m {\n    dense(3) relu\n}\n"]:
        with pytest.raises(Reject):
            parser.fast.parse(text)


@FUZZ
@given(st.one_of(token_mutants(), line_mutants(), junk_inserted(), layout_mutants()))
def test_fuzzed_input_agrees(text: str) -> None:
    same_as_lark(text)
