"""Names in block definitions and bodies: parameters follow Python's rules, and
a tensor rebound before anything used it is reported as unused."""

from __future__ import annotations

from nnlang.elaborate import elaborate_file


def diagnostics(text: str) -> list:
    return elaborate_file("test.nn", text=text).diagnostics


# ---------------------------------------------------------------- block parameters


def test_block_parameters_follow_pythons_rules() -> None:
    diags = diagnostics(
        "block b(f, g=1, f, h) {\n    dense(f)\n}\n\n"
        "model m {\n    input x: [4]\n    b(f=2, h=3)\n}\n")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [
        ("duplicate-name", 1, 17), ("parameter-order", 1, 20)]
    assert diags[0].message == "block 'b' has two parameters named 'f'"
    assert diags[1].message == "parameter 'h' has no default but follows 'g', which has one"


def test_good_block_parameters_are_quiet() -> None:
    assert not diagnostics(
        "block b(f, g=1, h=g + 1) {\n    dense(f * g * h)\n}\n\n"
        "model m {\n    input x: [4]\n    b(2)\n}\n")
