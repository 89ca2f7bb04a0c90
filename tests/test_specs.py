"""The spec corpora: every valid file checks clean, every invalid one fails exactly.

* ``specs/valid/**/*.nn`` - realistic models covering every construct of the
  language; ``check_file`` must report nothing, and one ``nnc check`` over the
  folders (and ``examples/``) must exit 0.
* ``specs/invalid/<name>.nn`` - one realistic mistake each (several in
  ``syntax_several_errors.nn``). ``nnc check`` must exit 1 and write exactly
  ``<name>.err`` to stderr; ``pytest --update-goldens`` rewrites the goldens,
  which are then reviewed as a diff.

Syntax cases are the ``syntax_*.nn`` files (every diagnostic ``[syntax]``);
semantic cases sit beside them under their own prefixes (``shape_*``,
``name_*``, ...). Helper files that invalid specs import live in
``specs/invalid/lib/`` and are not cases themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nnlang.check import check_file
from nnlang.diagnostics import NnError, render_all
from nnlang.parse import parse_source
from nnlang.source import Source

ROOT = Path(__file__).resolve().parent.parent
HEADER = re.compile(
    r"^(?P<path>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): "
    r"(?P<msg>.+) \[(?P<code>[a-z0-9-]+)\]$"
)


def golden_path(spec: str) -> Path:
    return ROOT / Path(spec).with_suffix(".err")


# ---------------------------------------------------------------- valid specs


def test_valid_spec_parses(valid_spec: str) -> None:
    """The parser alone accepts every valid spec (independent of later stages)."""
    module = parse_source(Source.read(valid_spec))
    assert module.items, f"{valid_spec} parsed to an empty module"


def test_valid_spec_checks_clean(valid_spec: str) -> None:
    result = check_file(valid_spec)
    diags = result.sorted_diagnostics()
    assert not diags, "\n" + render_all(diags, result.sources)


def test_example_checks_clean(example_file: str) -> None:
    result = check_file(example_file)
    diags = [d for d in result.sorted_diagnostics() if d.is_error]
    assert not diags, "\n" + render_all(diags, result.sources)


def test_nnc_check_valid_folders(nnc) -> None:
    """One real ``nnc check`` over the folders: directories expand to their .nn files."""
    folders = ["specs/valid"] + (["examples"] if (ROOT / "examples").is_dir() else [])
    run = nnc("check", *folders)
    assert "Traceback" not in run.stderr
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr


def test_valid_corpus_is_large_enough() -> None:
    top_level = list((ROOT / "specs" / "valid").glob("*.nn"))
    assert len(top_level) >= 32, sorted(p.name for p in top_level)


# ---------------------------------------------------------------- invalid specs


def test_invalid_spec_matches_golden(
    invalid_spec: str, nnc, update_goldens: bool
) -> None:
    run = nnc("check", invalid_spec)
    assert "Traceback" not in run.stderr, run.stderr
    assert "internal error" not in run.stderr, run.stderr
    assert run.returncode == 1, run.stderr
    golden = golden_path(invalid_spec)
    if update_goldens:
        golden.write_bytes(run.stderr_bytes)
        return
    assert golden.is_file(), f"no golden {golden.name}; run pytest --update-goldens"
    expected = golden.read_bytes()
    # Compare text first for a readable diff, then bytes for exactness.
    assert run.stderr == expected.decode("utf-8", errors="replace")
    assert run.stderr_bytes == expected


def test_invalid_spec_golden_is_well_formed(invalid_spec: str) -> None:
    """Goldens use relative paths, and syntax cases are exactly the ``syntax_*`` files."""
    golden = golden_path(invalid_spec)
    if not golden.is_file():
        pytest.skip("golden not written yet")
    text = golden.read_bytes().decode("utf-8", errors="replace")
    headers = [m for line in text.splitlines() if (m := HEADER.match(line))]
    assert headers, f"{golden.name} holds no diagnostic header"
    for m in headers:  # errors in imported files name those files, also relatively
        assert m["path"].startswith("specs/invalid/"), (
            f"{golden.name}: path {m['path']!r} is not relative to the repository"
        )
    codes = {m["code"] for m in headers}
    if Path(invalid_spec).name.startswith("syntax_"):
        assert codes == {"syntax"}, f"{golden.name} reports {sorted(codes)}"
    else:
        assert headers[0]["code"] != "syntax", "a syntax case belongs in syntax_*.nn"
    assert re.search(r"\n\nfound \d+ errors? in 1 file\n$", text), "no summary line"


def test_syntax_spec_fails_in_the_parser(syntax_spec: str) -> None:
    """``syntax_*`` specs are refused by ``parse_source`` itself, with spans in the file."""
    source = Source.read(syntax_spec)
    with pytest.raises(NnError) as info:
        parse_source(source)
    diags = info.value.diagnostics
    assert diags and all(d.code == "syntax" for d in diags)
    n_lines = source.text.count("\n") + 1
    for d in diags:
        assert d.span is not None and d.span.path == syntax_spec
        assert 1 <= d.span.line <= n_lines


def test_several_errors_are_all_reported() -> None:
    golden = golden_path("specs/invalid/syntax_several_errors.nn")
    text = golden.read_text(encoding="utf-8")
    assert len([line for line in text.splitlines() if HEADER.match(line)]) == 3


def test_every_golden_has_its_spec() -> None:
    orphans = [
        p.name
        for p in (ROOT / "specs" / "invalid").glob("*.err")
        if not p.with_suffix(".nn").is_file()
    ]
    assert not orphans, f"goldens without a spec: {orphans}"


def test_invalid_corpus_is_large_enough() -> None:
    assert len(list((ROOT / "specs" / "invalid").glob("*.nn"))) >= 32
