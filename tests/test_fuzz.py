"""Fuzzing the parser: whatever the bytes, ``parse_source`` answers like a compiler.

The one property: ``parse_source`` either returns a :class:`~nnlang.syntax.Module`
or raises :class:`~nnlang.diagnostics.NnError` whose diagnostics all carry a
span inside the file and render without error. Any other exception (a
``RecursionError``, a ``VisitError``, an ``IndexError`` from a span past the
end) or a hang is a bug.

Inputs come from the valid specs, broken on purpose (tokens and lines deleted,
duplicated, swapped; random text, bytes and NULs inserted), plus adversarial
shapes: brackets 10,000 deep, 100,000-character lines, binary data, CRLF and
tabs. Hypothesis runs derandomized, so CI sees the same inputs every time.
"""

from __future__ import annotations

import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlang import syntax as S
from nnlang.diagnostics import NnError, render_all
from nnlang.parse import parse_source
from nnlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    p.read_text(encoding="utf-8")
    for p in sorted((ROOT / "specs" / "valid").rglob("*.nn"))
]
PATH = "fuzz.nn"
# Seconds for one parse: far above any sane input, so only a hang trips it.
TIME_LIMIT = 30

FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=800,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# Tokens as a user sees them: whitespace, comments, strings, names, numbers, operators.
TOKEN = re.compile(
    r'\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|[A-Za-z_]\w*|\d[\w.]*|->|//|[=!<>]=|.', re.S
)
VOCAB = (
    "( ) [ ] { } , : = -> - + * / // % . < == # \" ' model block train input output"
    " repeat for in if else as import const and or not true false x dense 1 0.5 1e-3"
    ' 10_000 "a.nn"'
).split() + ["\n", " ", "\t"]


# Characters that end a line for str.splitlines() but not for lark, and other oddities.
ODD_CHARACTERS = [
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\ufeff",
    "\t",
    "\r\n",
    "\x1b[31m",
]


@contextmanager
def time_limit(seconds: int = TIME_LIMIT):
    """Turn a hang into a test failure (SIGALRM; a no-op where there is none)."""
    if not hasattr(signal, "setitimer") or sys.platform == "win32":
        yield
        return

    def _hang(signum, frame):
        raise TimeoutError(f"parse_source did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, _hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(text: str) -> S.Module | None:
    """Parse ``text``; assert the contract; return the module (None on NnError)."""
    source = Source(PATH, text)
    lines = text.split("\n")  # lark's notion of a line: only '\n' ends one
    try:
        with time_limit():
            module = parse_source(source)
    except NnError as exc:
        assert exc.diagnostics, "NnError without diagnostics"
        for d in exc.diagnostics:
            span = d.span
            assert span is not None, f"diagnostic without a span: {d}"
            assert span.path == PATH
            assert 1 <= span.line <= len(lines), (
                f"line {span.line} outside the file: {d}"
            )
            assert 1 <= span.col <= len(lines[span.line - 1]) + 1, (
                f"column outside: {d}"
            )
            assert (span.end_line, span.end_col) >= (span.line, span.col), (
                f"bad span: {d}"
            )
            assert span.end_line <= len(lines), f"span ends outside the file: {d}"
            assert d.code == "syntax", d
            assert d.message and "\n" not in d.message, d
        rendered = render_all(exc.diagnostics, {PATH: source})
        assert isinstance(rendered, str) and rendered
        return None
    assert isinstance(module, S.Module)
    return module


# ---------------------------------------------------------------- mutations of valid specs


@st.composite
def token_mutants(draw) -> str:
    tokens = TOKEN.findall(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            new = draw(st.sampled_from(VOCAB))
            if op == "insert":
                tokens.insert(i, new)
            else:
                tokens[i] = new
        if not tokens:
            break
    return "".join(tokens)


@st.composite
def line_mutants(draw) -> str:
    lines = draw(st.sampled_from(SEEDS)).split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "move"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        else:
            j = draw(st.integers(0, len(lines) - 1))
            if op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines.pop(i))
    return "\n".join(lines)


def _insert(draw, text: str, junk: str) -> str:
    pos = draw(st.integers(0, len(text)))
    return text[:pos] + junk + text[pos:]


@st.composite
def junk_inserted(draw) -> str:
    """Random unicode text, random bytes (as a lenient reader decodes them), or NULs."""
    text = draw(st.sampled_from(SEEDS))
    kind = draw(st.sampled_from(["unicode", "bytes", "nul", "control"]))
    if kind == "unicode":
        junk = draw(st.text(min_size=1, max_size=12))
    elif kind == "bytes":
        junk = draw(st.binary(min_size=1, max_size=24)).decode(
            "utf-8", errors="replace"
        )
    elif kind == "nul":
        junk = "\x00" * draw(st.integers(1, 4))
    else:
        junk = draw(st.sampled_from(ODD_CHARACTERS))
    for _ in range(draw(st.integers(1, 3))):
        text = _insert(draw, text, junk)
    return text


@st.composite
def layout_mutants(draw) -> str:
    """CRLF line ends, tab indentation, and trailing whitespace on a valid spec."""
    text = draw(st.sampled_from(SEEDS))
    if draw(st.booleans()):
        text = re.sub(r"(?m)$", " \t", text)
    if draw(st.booleans()):
        text = re.sub(r"(?m)^(    )+", lambda m: "\t" * (len(m.group()) // 4), text)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text


@FUZZ
@given(token_mutants())
def test_token_mutations(text: str) -> None:
    check_outcome(text)


@FUZZ
@given(line_mutants())
def test_line_mutations(text: str) -> None:
    check_outcome(text)


@FUZZ
@given(junk_inserted())
def test_junk_insertions(text: str) -> None:
    check_outcome(text)


@settings(FUZZ, max_examples=150)
@given(layout_mutants())
def test_layout_variants_still_parse(text: str) -> None:
    """CRLF, tabs and trailing blanks never change whether a valid spec parses."""
    assert check_outcome(text) is not None


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=400))
def test_binary_data(data: bytes) -> None:
    check_outcome(data.decode("utf-8", errors="replace"))


@settings(FUZZ, max_examples=300)
@given(st.lists(st.sampled_from(VOCAB), max_size=60).map("".join))
def test_vocabulary_soup(text: str) -> None:
    check_outcome(text)


@st.composite
def deep_nests(draw) -> str:
    depth = draw(st.sampled_from([1, 50, 99, 100, 101, 500, 2_000, 10_000]))
    openers = draw(st.sampled_from(["(", "[", "{", "([", "[{(", "{("]))
    opened = (openers * depth)[:depth]
    closers = opened[::-1].translate(str.maketrans("([{", ")]}"))
    if draw(st.booleans()):
        closers = closers[: draw(st.integers(0, len(closers)))]
    inner = opened + draw(st.sampled_from(["", "1", "x", "relu", "1, 2"])) + closers
    return draw(
        st.sampled_from(
            [
                "{}\n",
                "const a = {}\n",
                "model m {{\n    input x: [3]\n    dense({})\n}}\n",
                "model m {{\n{}\n}}\n",
            ]
        )
    ).format(inner)


@settings(FUZZ, max_examples=120)
@given(deep_nests())
def test_deep_nesting(text: str) -> None:
    check_outcome(text)


# ---------------------------------------------------------------- fixed adversarial inputs

N = 100_000
ADVERSARIAL = [
    pytest.param("(" * 10_000, id="parens-10k-open"),
    pytest.param(
        "const a = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n", id="parens-10k"
    ),
    pytest.param("const a = " + "[" * 10_000 + "]" * 10_000 + "\n", id="brackets-10k"),
    pytest.param("{" * 10_000 + "}" * 10_000, id="braces-10k"),
    pytest.param(
        "model m {\n" + "repeat 1 {\n" * 10_000 + "}\n" * 10_001, id="bodies-10k"
    ),
    pytest.param("model m {\n    dense(" + "[(" * 5_000, id="mixed-10k-unclosed"),
    pytest.param("const " + "a" * N + " = 1\n", id="long-name"),
    pytest.param("# " + "x" * N + "\n", id="long-comment"),
    pytest.param('const s = "' + "x" * N + '"\n', id="long-string"),
    pytest.param('const s = "' + "x" * N, id="long-unterminated-string"),
    pytest.param(
        "model m {\n    dense(" + "1, " * (N // 3) + ")\n}\n", id="long-argument-list"
    ),
    pytest.param("const a = [" + "1, " * (N // 3) + "]\n", id="long-list"),
    pytest.param(
        "model m {\n    input x: [3]\n    x" + " -> relu" * (N // 8) + "\n}\n",
        id="long-chain",
    ),
    pytest.param("const a = 1" + "0" * 4_000 + "\n", id="number-4k-digits"),
    pytest.param(
        "const a = 1" + "0" * N + "\n", id="number-100k-digits"
    ),
    pytest.param("const a = 1e99999\n", id="number-huge-exponent"),
    pytest.param("const a = " + " + ".join(["1"] * (N // 4)) + "\n", id="long-sum"),
    pytest.param("const a = " + "-" * N + "1\n", id="long-negation"),
    pytest.param("const a = " + "not " * (N // 4) + "true\n", id="long-not"),
    pytest.param("const a = b" + ".c" * (N // 2) + "\n", id="long-attribute"),
    pytest.param("const a = f" + "()" * (N // 2) + "\n", id="long-calls"),
    pytest.param(
        "const a = " + "if true { 1 } else " * 3_000 + "{ 2 }\n", id="long-else-if-expr"
    ),
    pytest.param(
        "model m {\n" + "if a { relu } else " * 3_000 + "{ relu }\n}\n",
        id="long-else-if-statement",
    ),
    pytest.param("$" * N, id="dollars"),
    pytest.param("'" * N, id="single-quotes"),
    pytest.param("\x00" * N, id="nul-bytes"),
    pytest.param("\n" * N, id="newlines"),
    pytest.param("\r\n" * N, id="crlf-only"),
    pytest.param("\t \x0c" * N, id="whitespace-only"),
    pytest.param("\r" * 1_000, id="lone-cr"),
    pytest.param("\ufeffmodel m {\n    input x: [3]\n}\n", id="byte-order-mark"),
    pytest.param(
        "model m {\n" + "    dense(3)\n" * 10_000 + "}\n", id="10k-statements"
    ),
    pytest.param("model m {\n" + "    dense(3) relu\n" * 500 + "}\n", id="500-errors"),
    pytest.param(bytes(range(256)).decode("latin-1") * 50, id="all-bytes-latin1"),
]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_adversarial_input(text: str) -> None:
    check_outcome(text)


# ---------------------------------------------------------------- layout never changes meaning


def test_crlf_and_tabs_parse_to_the_same_tree(valid_spec: str) -> None:
    text = (ROOT / valid_spec).read_text(encoding="utf-8")
    try:
        reference = parse_source(Source(valid_spec, text))
    except NnError:
        pytest.fail(f"{valid_spec} does not parse")
    crlf = text.replace("\n", "\r\n")
    tabs = re.sub(r"(?m)^(    )+", lambda m: "\t" * (len(m.group()) // 4), text)
    for variant in (crlf, tabs):
        assert parse_source(Source(valid_spec, variant)) == reference


def test_excerpt_shows_the_line_of_the_error() -> None:
    """The caret line quotes the line lark counted (form feeds are whitespace)."""
    text = "\x0c\nmodel m {\n    dense(16) relu\n}\n"
    source = Source(PATH, text)
    with pytest.raises(NnError) as info:
        parse_source(source)
    (diag,) = info.value.diagnostics
    assert (diag.span.line, diag.span.col) == (3, 15)
    rendered = render_all([diag], {PATH: source})
    assert "dense(16) relu" in rendered, rendered


# ---------------------------------------------------------------- keywords

# Keywords where no name may stand: glued to the next word, they leave no valid reading
# (``inputx: [3]`` would be a layer with a shape assertion, ``outputy = ...`` a binding).
GLUED = re.compile(r"(?m)^(?:(import|const|block|model|train) |[^#\"\n]*?\b(as|repeat|for) )"
                   r"(?=[A-Za-z0-9_])")


def test_a_keyword_glued_to_the_next_word_never_parses(valid_spec: str) -> None:
    """lark's contextual lexer may take a keyword as a prefix (``modelx`` as
    ``model x``); the parser must see one unknown word instead."""
    text = (ROOT / valid_spec).read_text(encoding="utf-8")
    for match in list(GLUED.finditer(text))[:12]:
        glued = text[: match.end() - 1] + text[match.end():]
        with pytest.raises(NnError) as info:
            parse_source(Source(PATH, glued))
        first = info.value.diagnostics[0]
        assert first.message.startswith("unexpected"), (valid_spec, match.group(), first)
        assert first.span.line == text.count("\n", 0, match.start()) + 1, first


@pytest.mark.parametrize(("text", "where", "hint"), [
    ("modle m {\n}\n", (1, 1), "'model'"),
    ("cnst width = 3\n", (1, 1), "'const'"),
    ("model m {\n    inptu x: [3]\n}\n", (2, 5), "'input'"),
    ("model m {\n    input x: [3]\n    ouput y = x -> dense(2)\n}\n", (3, 5), "'output'"),
    ("model m {\n    input x: [3]\n    repaet 2 {\n        relu\n    }\n}\n", (3, 5), "'repeat'"),
    ("model m {\n    input x: [3]\n    fro n in [2] {\n        dense(n)\n    }\n}\n", (3, 5),
     "'for'"),
    ("model m {\n    input x: [3]\n    dense(2) ass y\n}\n", (3, 14), "'as'"),
    ("model m {\n    input x: [3]\n    dense(2) ashidden\n}\n", (3, 14), "'as hidden'"),
])
def test_a_misspelt_keyword_gets_the_caret_and_a_did_you_mean(
        text: str, where: tuple[int, int], hint: str) -> None:
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, text))
    (diag,) = info.value.diagnostics
    assert (diag.span.line, diag.span.col) == where, diag
    assert diag.hint == f"did you mean {hint}?", diag


def test_a_layer_name_is_not_taken_for_a_misspelt_keyword() -> None:
    """``reshape`` is close to ``repeat``, but it is a layer: no keyword hint."""
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, "model m {\n    input x: [3]\n    reshape x\n}\n"))
    (diag,) = info.value.diagnostics
    assert diag.hint is None and (diag.span.line, diag.span.col) == (3, 13), diag


@pytest.mark.parametrize(("text", "what"), [
    ("const true = 1\n", "a const"),
    ("model if {\n    input x: [3]\n}\n", "a model"),
    ("block b(else) {\n    dense(else)\n}\n", "a parameter"),
    ("model m {\n    input x: [3]\n    dense(2) as input\n}\n", "a layer"),
    ("model m {\n    input in: [3]\n}\n", "an input"),
    ("model m {\n    input x: [3]\n    and = x -> relu\n}\n", "a tensor"),
])
def test_keywords_are_reserved(text: str, what: str) -> None:
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, text))
    (diag,) = info.value.diagnostics
    assert diag.message.endswith(f"is a keyword and cannot name {what}"), diag


def test_a_single_quoted_string_is_one_error_and_reads_on_as_a_string() -> None:
    text = ("train m {\n    data = csv('data/prices.csv', target='price')\n"
            "    epochs = 10)\n}\n")
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, text))
    first, second, third = info.value.diagnostics
    assert (first.span.col, first.span.end_col) == (16, 33), first
    assert first.message == "strings are written in double quotes"
    assert first.hint == 'write "data/prices.csv"'
    assert second.hint == "write the bare word price"  # a column: target=price
    assert third.span.line == 3, third  # parsing went on past the strings


def test_a_number_beyond_a_float_is_an_error_not_infinity() -> None:
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, "const big = 1e400\n"))
    (diag,) = info.value.diagnostics
    assert diag.message == "number 1e400 is too large" and diag.span.col == 13


def test_a_name_outside_ascii_is_one_error_per_word() -> None:
    text = "const café = 2\nmodel mødel {\n    input x: [3]\n    dense(café)\n}\n"
    with pytest.raises(NnError) as info:
        parse_source(Source(PATH, text))
    got = [(d.span.line, d.span.col, d.span.end_col, d.message, d.hint)
           for d in info.value.diagnostics]
    assert got == [
        (1, 7, 11, "names are ASCII: 'café' has 'é'", "did you mean 'cafe'?"),
        (2, 7, 12, "names are ASCII: 'mødel' has 'ø'", "use ASCII letters, digits and '_'"),
        (4, 11, 15, "names are ASCII: 'café' has 'é'", "did you mean 'cafe'?"),
    ]
