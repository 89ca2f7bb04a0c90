"""docs/errors.md documents every diagnostic code the code can emit."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r'(?:fail|error|warning)\(\s*"([a-z][a-z-]*)"', re.S)


def emitted_codes() -> set[str]:
    codes: set[str] = set()
    for path in (ROOT / "nnlang").rglob("*.py"):
        codes |= set(CODE.findall(path.read_text()))
    return codes


def test_every_code_is_documented() -> None:
    headings = set(re.findall(r"^## ([a-z-]+)", (ROOT / "docs/errors.md").read_text(), re.M))
    codes = emitted_codes()
    assert {"syntax", "shape-mismatch", "unknown-name", "data-mismatch"} <= codes
    assert codes <= headings, f"undocumented codes: {sorted(codes - headings)}"


def test_every_golden_code_is_documented() -> None:
    headings = set(re.findall(r"^## ([a-z-]+)", (ROOT / "docs/errors.md").read_text(), re.M))
    for golden in (ROOT / "specs/invalid").glob("*.err"):
        for code in re.findall(r"\[([a-z-]+)\]$", golden.read_text(errors="replace"), re.M):
            assert code in headings, (golden.name, code)
