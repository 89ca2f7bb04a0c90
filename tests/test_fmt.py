"""``nnc fmt``: the layout engine, golden cases, round trips, properties and the CLI.

* ``tests/cases/fmt/<name>.nn`` are golden cases in black's format: an optional
  first line ``# flags: --width=40``, the input, a line ``# output``, and the
  exact expected output. ``pytest --update-goldens`` rewrites the expected part.
* Every `.nn` under specs/, examples/, tests/cases/fmt/ and tests/cases/layout/
  (deliberately non-canonical layouts: comments inside calls, trailing '->') round-trips at widths
  1, 40 and 88 (black's trick: width 1 breaks everything that can break).
* Hypothesis builds random syntax trees and checks print -> parse -> equal.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlang import doc as D
from nnlang import syntax as S
from nnlang.diagnostics import NnError
from nnlang.fmt import (
    FormatterBug,
    comment_places,
    format_module,
    format_once,
    format_source,
    run_fmt,
)
from nnlang.parse import parse_text
from nnlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases" / "fmt"
WIDTHS = (1, 40, 88)
FLAGS = re.compile(r"# flags: --width=(\d+)\n")
OUTPUT_MARK = re.compile(r"^# output\n", re.MULTILINE)


def _param(path: Path):
    return pytest.param(path, id=path.relative_to(ROOT).as_posix())


# ---------------------------------------------------------------- the layout engine


def _call(name: str, args: list[str]) -> D.Doc:
    items = D.join(D.concat(",", D.line), args)
    return D.group(name, "(", D.indent(D.softline, items, D.if_break(",")), D.softline, ")")


def test_doc_group_flat_when_it_fits() -> None:
    assert D.render(_call("f", ["a", "b"]), 80) == "f(a, b)"


def test_doc_group_breaks_when_too_wide() -> None:
    assert D.render(_call("f", ["a", "b"]), 6) == "f(\n    a,\n    b,\n)"


def test_doc_inner_group_fits_after_outer_breaks() -> None:
    doc = _call("f", [_call("g", ["x"]), "long_argument"])
    assert D.render(doc, 20) == "f(\n    g(x),\n    long_argument,\n)"


def test_doc_text_after_group_counts_towards_width() -> None:
    doc = D.concat(_call("f", ["a"]), " : [4, 4]")
    assert D.render(doc, 10) == "f(\n    a,\n) : [4, 4]"
    assert D.render(doc, 14) == "f(a) : [4, 4]"


def test_doc_hardline_breaks_enclosing_groups() -> None:
    doc = D.group("a", D.indent(D.line, "b", D.hardline, "c"))
    assert D.render(doc, 80) == "a\n    b\n    c"


def test_doc_suffix_has_no_width_and_flat_never_breaks() -> None:
    doc = D.concat(_call("f", ["a", "b"]), D.suffix("  # a long comment"))
    assert D.render(doc, 8) == "f(a, b)  # a long comment"
    assert D.render(D.flat(_call("f", ["a", "b"])), 1) == "f(a, b)"


def test_doc_strips_trailing_spaces_and_rejects_newlines() -> None:
    assert D.render(D.concat("a ", D.hardline, D.hardline, "b"), 80) == "a\n\nb"
    with pytest.raises(ValueError):
        D.text("a\nb")


# ---------------------------------------------------------------- golden cases


def read_case(path: Path) -> tuple[int, str, str]:
    """(width, input, expected output) of a golden case."""
    text = path.read_text(encoding="utf-8")
    width = 88
    if m := FLAGS.match(text):
        width, text = int(m.group(1)), text[m.end():]
    parts = OUTPUT_MARK.split(text, maxsplit=1)
    assert len(parts) == 2, f"{path} has no '# output' line"
    return width, parts[0], parts[1]


def _golden_cases() -> list:
    return [_param(p) for p in sorted(CASES.glob("*.nn"))]


@pytest.mark.parametrize("case", _golden_cases())
def test_golden(case: Path, update_goldens: bool) -> None:
    width, source, expected = read_case(case)
    out = format_source(Source(str(case), source), width)
    if update_goldens and out != expected:
        text = case.read_text(encoding="utf-8")
        case.write_text(text[: len(text) - len(expected)] + out, encoding="utf-8")
        return
    assert out == expected
    assert format_source(Source(str(case), expected), width) == expected


def test_golden_cases_cover_the_language() -> None:
    """At least 25 cases, and every statement and item kind appears in one."""
    cases = sorted(CASES.glob("*.nn"))
    assert len(cases) >= 25
    kinds: set[str] = set()
    for case in cases:
        kinds |= {type(n).__name__ for n in _walk(parse_text(read_case(case)[1]))}
    needed = {cls.__name__ for cls in (
        S.Import, S.Const, S.Block, S.Model, S.Train, S.Setting, S.TrainCall, S.InputStmt,
        S.OutputStmt, S.BindStmt, S.ExprStmt, S.RepeatStmt, S.ForStmt, S.IfStmt, S.Chain,
        S.Named, S.IfExpr, S.TupleExpr, S.ListExpr, S.MapExpr, S.Call, S.Attr, S.Unary,
        S.Binary, S.String, S.Number, S.Bool, S.Shape)}
    assert needed <= kinds


def _walk(node):
    yield node
    if isinstance(node, tuple):
        for x in node:
            yield from _walk(x)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            yield from _walk(getattr(node, name))


# ---------------------------------------------------------------- round trips


def _corpus() -> list:
    paths = sorted({*ROOT.glob("specs/**/*.nn"), *ROOT.glob("examples/**/*.nn"),
                    *CASES.glob("*.nn"), *ROOT.glob("tests/cases/layout/*.nn")})
    params = []
    for path in paths:
        if "invalid" in path.relative_to(ROOT).parts:
            try:
                parse_text(path.read_bytes().decode("utf-8"))
            except Exception:  # noqa: BLE001 - invalid on purpose: nothing to format
                continue
        params.append(_param(path))
    return params


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", _corpus())
def test_roundtrip(path: Path, width: int) -> None:
    source = Source(str(path), path.read_text(encoding="utf-8"))
    tree = parse_text(source.text, source.path)
    out = format_source(source, width)
    out_tree = parse_text(out, source.path)
    assert out_tree == tree
    assert comment_places(out_tree) == comment_places(tree)
    assert format_once(Source(source.path, out), width) == out


def test_every_comment_text_survives() -> None:
    path = ROOT / "tests" / "cases" / "fmt" / "comments_stage.nn"
    text = path.read_text(encoding="utf-8")
    out = format_source(text)
    assert [ln.strip() for ln in re.findall(r"#.*", text)] == re.findall(r"#.*", out)


# ---------------------------------------------------------------- safety checks


def test_formatter_bug_when_printer_changes_the_tree(monkeypatch) -> None:
    import nnlang.fmtexpr as fmtexpr

    monkeypatch.setitem(fmtexpr._PP, S.Number, lambda e: D.text("7"))
    with pytest.raises(FormatterBug) as info:
        format_source("const a = 1\n")
    message = str(info.value)
    assert "different syntax tree" in message
    assert "-const a = 1" in message and "+const a = 7" in message


def test_formatter_bug_when_a_comment_moves(monkeypatch) -> None:
    import nnlang.fmt as fmt

    real = fmt._Printer.pp_node

    def drop_comments(self, node):
        if isinstance(node, S.Const):
            node = dataclasses.replace(node, comments=S.Comments())
        return real(self, node)

    monkeypatch.setattr(fmt._Printer, "pp_node", drop_comments)
    with pytest.raises(FormatterBug, match="a comment was lost or moved"):
        format_source("# about a\nconst a = 1\n")


def test_formatter_bug_when_output_is_unstable(monkeypatch) -> None:

    calls = iter(range(100))
    real = D.render
    monkeypatch.setattr(D, "render", lambda doc, width: real(doc, width)
                        + ("\n" * (next(calls) % 2)))
    with pytest.raises(FormatterBug, match="not stable"):
        format_source("const a = 1\n")


def test_syntax_errors_raise_nnerror() -> None:
    with pytest.raises(NnError):
        format_source("model m {\n    dense(10\n}\n")


# ---------------------------------------------------------------- properties

KEYWORDS = {"import", "as", "const", "block", "model", "train", "input", "output", "repeat",
            "for", "in", "if", "else", "and", "or", "not", "true", "false"}
names = st.one_of(
    st.sampled_from(["x", "dense", "relu", "conv_bn", "T", "width", "_h1"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
).filter(lambda n: n not in KEYWORDS)
numbers = st.one_of(
    st.integers(0, 10**9).map(lambda v: S.Number(v, str(v))),
    st.floats(0, 1e12, allow_nan=False).map(lambda v: S.Number(v, repr(v))),
    st.sampled_from([S.Number(10_000, "10_000"), S.Number(1e-3, "1e-3"),
                     S.Number(0.5, ".5")]),
)
# what a string literal can hold: no control characters but the escaped ones
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
                | st.sampled_from('\n\t"\\'), max_size=8)
strings = texts.map(S.String)
atoms = st.one_of(names.map(S.Name), numbers, strings, st.booleans().map(S.Bool))
BINOPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%"]


def _chains(exprs):
    stage = st.one_of(exprs, st.builds(S.Named, exprs, names))
    return st.one_of(stage, st.lists(stage, min_size=2, max_size=4)
                     .map(lambda s: S.Chain(tuple(s))))


def _compound(children):
    tuples = lambda n: st.lists(children, min_size=n, max_size=3).map(tuple)  # noqa: E731
    args = st.lists(st.builds(S.Arg, st.none() | names, children), max_size=3).map(tuple)
    entry = st.one_of(st.builds(S.MapEntry, names, children),
                      st.builds(S.MapEntry, texts, children, st.just(True)))
    return st.one_of(
        st.builds(S.Call, names.map(S.Name) | children, args),
        # `1.x` is refused by the parser (a number missing its digits), so not a number
        st.builds(S.Attr, children.filter(lambda e: not isinstance(e, S.Number)), names),
        st.builds(S.ListExpr, tuples(0)),
        st.builds(S.MapExpr, st.lists(entry, max_size=3).map(tuple)),
        st.builds(S.TupleExpr, tuples(1)),
        st.builds(S.Unary, st.sampled_from(["-", "not"]), children),
        st.builds(S.Binary, st.sampled_from(BINOPS), children, children),
        st.builds(S.IfExpr, children, _chains(children), _chains(children)),
    )


exprs = st.recursive(atoms, _compound, max_leaves=8)
chains = _chains(exprs)
shapes = st.builds(S.Shape, st.lists(exprs, max_size=3).map(tuple),
                   st.none() | st.sampled_from(["i32", "f32", "bf16"]))


def _statements(bodies):
    ifs = st.deferred(lambda: st.builds(S.IfStmt, exprs, bodies, else_part))
    else_part = st.one_of(st.none(), bodies, ifs)
    return st.one_of(
        st.builds(S.InputStmt, names, st.none() | shapes),
        st.builds(S.OutputStmt, st.none() | names, chains, st.none() | shapes),
        st.builds(S.BindStmt, names, chains, st.none() | shapes),
        st.builds(S.ExprStmt, chains, st.none() | shapes),
        st.builds(S.RepeatStmt, exprs, bodies),
        st.builds(S.ForStmt, names, exprs, bodies),
        ifs,
    )


simple_bodies = st.lists(_statements(st.just(S.Body(()))), max_size=3)
bodies = st.lists(_statements(simple_bodies.map(lambda s: S.Body(tuple(s)))), max_size=4)
bodies = bodies.map(lambda s: S.Body(tuple(s)))
settings_ = st.one_of(st.builds(S.Setting, names, exprs),
                      st.builds(S.TrainCall, st.one_of(names.map(S.Name), exprs)))
items = st.one_of(
    st.builds(S.Import, strings.map(lambda s: s.value), st.none() | names),
    st.builds(S.Const, names, exprs),
    st.builds(S.Block, names, st.none() | st.lists(
        st.builds(S.Param, names, st.none() | exprs), max_size=3).map(tuple), bodies),
    st.builds(S.Model, names, bodies),
    st.builds(S.Train, st.lists(names, min_size=1, max_size=3).map(tuple), st.none() | names,
              st.lists(settings_, max_size=4).map(lambda s: S.TrainBody(tuple(s)))),
)
modules = st.lists(items, max_size=4).map(lambda i: S.Module(tuple(i)))


@settings(derandomize=True, max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(modules, st.sampled_from(WIDTHS))
def test_print_parse_roundtrip(module: S.Module, width: int) -> None:
    out = format_module(module, width)
    again = parse_text(out)
    assert again == module
    assert format_module(again, width) == out


@functools.cache
def _comment_corpus() -> list[str]:
    """Valid files laid out at widths 1 and 40: many lines to hang comments on."""
    texts = []
    for param in _corpus():
        tree = parse_text(param.values[0].read_text(encoding="utf-8"))
        texts += [format_module(tree, 1), format_module(tree, 40)]
    return texts


def _sprinkle(data) -> str:
    """A corpus file with comments at the ends of lines, on lines of their own, and blanks."""
    corpus = _comment_corpus()
    lines = data.draw(st.sampled_from(corpus)).split("\n")
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(lines) - 1),
                                         st.sampled_from(["end", "own", "blank"])),
                               min_size=1, max_size=6))
    for k, (i, kind) in enumerate(edits):
        if kind == "end":
            lines[i] += f"  # c{k}"
        else:
            lines.insert(i, f"    # c{k}" if kind == "own" else "")
    return "\n".join(lines)


@settings(derandomize=True, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_comments_anywhere_are_kept(data) -> None:
    """Comments at the end of any line, on lines of their own, and blank lines."""
    text = _sprinkle(data)
    width = data.draw(st.sampled_from(WIDTHS))
    out = format_source(text, width)  # raises FormatterBug if a comment moved
    assert sorted(re.findall(r"# c\d+", out)) == sorted(re.findall(r"# c\d+", text))


TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|->|[=!<>]=|//|[\w.]+|\S')
GLUE = {",", "->"}  # fmt adds or drops these next to a comment: `a: 1  # c` -> `a: 1,  # c`


def comment_neighbours(text: str) -> list[tuple[str, str, str | None, str | None]]:
    """Each comment with the code tokens around it, as the reader sees them.

    A trailing comment is read with the token it follows; one on a line of its own
    with the tokens before and after it. Commas and arrows do not count: the
    canonical layout puts a trailing comma after an item and ``->`` first on a line.
    """
    found: list[tuple[str, str, str | None, str | None]] = []
    code: list[str] = []
    pending: list[tuple[str, bool, str | None]] = []  # comments awaiting their next token
    line_has_code = False
    for m in re.finditer(TOKEN.pattern + r"|\n", text):
        tok = m.group()
        if tok == "\n":
            line_has_code = False
        elif tok.startswith("#"):
            pending.append((tok.rstrip(), line_has_code, code[-1] if code else None))
        elif tok not in GLUE:
            code.append("STR" if tok.startswith('"') else tok)
            line_has_code = True
            for note, trailing, prev in pending:
                found.append((note, "trailing", prev, None) if trailing
                             else (note, "own line", prev, code[-1]))
            pending = []
    found += [(n, "trailing", p, None) if t else (n, "own line", p, None)
              for n, t, p in pending]
    return found


def test_comment_neighbours_reads_the_layout() -> None:
    text = 'h = x ->  # a\n    # b\n    dense(4,  # c\n    )  # d\n# e\n'
    assert comment_neighbours(text) == [
        ("# a", "trailing", "x", None), ("# b", "own line", "x", "dense"),
        ("# c", "trailing", "4", None), ("# d", "trailing", ")", None),
        ("# e", "own line", ")", None)]


@settings(derandomize=True, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_each_comment_keeps_its_neighbouring_tokens(data) -> None:
    """fmt never moves a comment past code: it follows (or precedes) the same tokens."""
    text = _sprinkle(data)
    out = format_source(text, data.draw(st.sampled_from(WIDTHS)))
    assert comment_neighbours(out) == comment_neighbours(text)


@pytest.mark.parametrize("case", [c for c in _golden_cases()
                                  if c.values[0].name.startswith("comments")])
def test_golden_comments_keep_their_neighbouring_tokens(case: Path) -> None:
    _, source, expected = read_case(case)
    assert comment_neighbours(expected) == comment_neighbours(source)


# ---------------------------------------------------------------- the command line

UGLY = "model m{\ninput x:[4]\n  dense( 10 )->relu\n}\n"
PRETTY = "model m {\n    input x: [4]\n    dense(10) -> relu\n}\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_check_clean_file(nnc, tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.nn", PRETTY)
    run = nnc("fmt", "--check", str(path))
    assert run.returncode == 0, run.stderr
    assert run.stdout == "" and "Traceback" not in run.stderr
    assert path.read_text(encoding="utf-8") == PRETTY


def test_cli_check_lists_without_writing(nnc, tmp_path: Path) -> None:
    ugly, ok = _write(tmp_path, "ugly.nn", UGLY), _write(tmp_path, "ok.nn", PRETTY)
    run = nnc("fmt", "--check", str(ugly), str(ok))
    assert run.returncode == 1
    assert f"would reformat {ugly}" in run.stderr and str(ok) not in run.stderr
    assert run.stdout == ""  # the list only, as black and ruff do; --diff adds the diff
    assert ugly.read_text(encoding="utf-8") == UGLY
    assert "Traceback" not in run.stderr


def test_cli_check_with_diff_lists_and_diffs(nnc, tmp_path: Path) -> None:
    ugly = _write(tmp_path, "ugly.nn", UGLY)
    run = nnc("fmt", "--check", "--diff", str(ugly))
    assert run.returncode == 1 and f"would reformat {ugly}" in run.stderr
    assert "+    dense(10) -> relu" in run.stdout and "-  dense( 10 )->relu" in run.stdout
    assert ugly.read_text(encoding="utf-8") == UGLY


def test_cli_diff_prints_and_does_not_write(nnc, tmp_path: Path) -> None:
    path = _write(tmp_path, "ugly.nn", UGLY)
    run = nnc("fmt", "--diff", str(path))
    assert run.returncode == 0, run.stderr
    name = str(path).lstrip("/")
    assert run.stdout.startswith(f"--- a/{name}\n+++ b/{name}\n")
    assert path.read_text(encoding="utf-8") == UGLY


def test_cli_rewrites_in_place(nnc, tmp_path: Path) -> None:
    path = _write(tmp_path, "ugly.nn", UGLY)
    run = nnc("fmt", str(path))
    assert run.returncode == 0, run.stderr
    assert path.read_text(encoding="utf-8") == PRETTY
    assert nnc("fmt", "--check", str(tmp_path)).returncode == 0


def test_cli_width_flag(nnc, tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.nn", PRETTY)
    assert nnc("fmt", "--width=16", str(path)).returncode == 0
    assert "dense(10)\n        -> relu" in path.read_text(encoding="utf-8")


def test_cli_syntax_error_is_reported_and_untouched(nnc, tmp_path: Path) -> None:
    bad_text = "model m {\n    dense(10\n}\n"
    bad, ugly = _write(tmp_path, "bad.nn", bad_text), _write(tmp_path, "ugly.nn", UGLY)
    run = nnc("fmt", str(bad), str(ugly))
    assert run.returncode == 1
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: error: .*\[syntax\]$", run.stderr,
                     re.MULTILINE)
    assert "Traceback" not in run.stderr
    assert bad.read_text(encoding="utf-8") == bad_text
    assert ugly.read_text(encoding="utf-8") == PRETTY  # the other file is still formatted


def test_run_fmt_internal_error_leaves_file_untouched(monkeypatch, tmp_path, capsys) -> None:
    import nnlang.fmtexpr as fmtexpr

    monkeypatch.setitem(fmtexpr._PP, S.Name, lambda e: D.text(e.id + "_"))
    path = _write(tmp_path, "ugly.nn", UGLY)
    assert run_fmt([path], check=False, diff=False, width=88) == 3
    assert path.read_text(encoding="utf-8") == UGLY
    err = capsys.readouterr().err
    assert "internal error" in err and "left unchanged" in err


# ---------------------------------------------------------------- encodings and line endings


@pytest.mark.parametrize("raw", [
    PRETTY.replace("\n", "\r").encode(),        # classic Mac line endings
    PRETTY.replace("\n", "\r\n").encode(),      # Windows
    b"\xef\xbb\xbf" + PRETTY.encode(),          # a byte-order mark (Notepad)
], ids=["cr", "crlf", "bom"])
def test_check_and_fmt_read_every_line_ending_and_a_bom_alike(nnc, tmp_path: Path,
                                                                 raw: bytes) -> None:
    path = tmp_path / "m.nn"
    path.write_bytes(raw)
    assert nnc("check", str(path)).returncode == 0
    run = nnc("fmt", str(path))
    assert run.returncode == 0, run.stderr
    assert path.read_bytes() in (raw, PRETTY.encode()), "fmt only normalises line endings"
    assert nnc("fmt", "--check", str(path)).returncode == 0


def test_a_file_that_is_not_utf8_is_one_located_error_in_check_and_fmt(
        nnc, tmp_path: Path) -> None:
    path = tmp_path / "m.nn"
    path.write_bytes(b"# caf\xe9 au lait\n" + PRETTY.encode())
    for args in (("check",), ("fmt",), ("fmt", "--check")):
        run = nnc(*args, str(path))
        assert run.returncode == 1, (args, run.stderr)
        assert f"{path}:1:6: error: the file is not UTF-8: byte 0xe9" in run.stderr, run.stderr
        assert " 1 | # caf" in run.stderr and "Traceback" not in run.stderr
    assert path.read_bytes().startswith(b"# caf\xe9")  # left as it was
