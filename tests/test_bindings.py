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


# ---------------------------------------------------------------- rebinding


def model(body: str, blocks: str = "") -> str:
    return blocks + "model m {\n    input x: [8]\n" + body + "}\n"


def test_a_tensor_rebound_before_any_use_is_an_unused_warning() -> None:
    diags = diagnostics(model(
        "    h = x -> dense(4)\n    h = x -> dense(8)\n    output h\n"))
    (d,) = diags
    assert (d.code, d.is_error, d.span.line) == ("unused", False, 3)
    assert d.message == ("tensor 'h' is never used: it is bound again at line 4 "
                         "before anything uses it")


def test_rebinding_after_a_use_is_quiet() -> None:
    assert not diagnostics(model(
        "    h = x -> dense(4)\n    h = h -> dense(8)\n"         # used by name
        "    g = x -> dense(4)\n    dense(2)\n    g = x -> dense(8)\n"  # by the flow
        "    repeat 2 {\n        h = h -> dense(8)\n    }\n"
        "    output (h, g) -> concat\n"))


def test_the_last_rebinding_unused_is_still_reported() -> None:
    diags = diagnostics(model(
        "    h = x -> dense(4)\n    h = h -> dense(8)\n    output x -> dense(2)\n"))
    (d,) = diags
    assert (d.code, d.span.line, d.message) == ("unused", 4, "tensor 'h' is never used")


def test_a_block_result_bound_to_a_name_is_used_by_the_caller() -> None:
    blocks = ("block b(u) {\n    input x\n    h = x -> dense(u)\n    h = h -> dense(u)\n}\n\n"
              "block c(u) {\n    g = dense(u)\n}\n\n")
    assert not diagnostics(model("    b(4)\n    c(4)\n    dense(2)\n", blocks))


def test_a_dead_binding_in_a_block_called_twice_is_reported_once() -> None:
    blocks = "block b(u) {\n    input x\n    h = x -> dense(u)\n    h = x -> dense(u)\n}\n\n"
    diags = diagnostics(model("    b(4)\n    b(4)\n", blocks))
    # nnc check shows each (code, message, span) once
    assert {(d.code, d.message, d.span.line) for d in diags} == {
        ("unused", "tensor 'h' is never used: it is bound again at line 4 before "
                   "anything uses it", 3)}


# ---------------------------------------------------------------- the flow with several inputs


def test_with_several_inputs_a_bare_layer_has_no_flow_to_guess() -> None:
    """LANGUAGE.md: a body with one input starts with the flow on it. With two, a
    bare dense used to apply silently to the last input declared."""
    diags = diagnostics("model m {\n    input a: [3]\n    input b: [3]\n    dense(2)\n}\n")
    (diag,) = [d for d in diags if d.is_error]
    assert (diag.code, diag.span.line) == ("no-input", 4)
    assert diag.message == "dense has no flow to apply to: the model has 2 inputs (a, b)"
    assert diag.hint == "start the chain from one: a -> ..., or from several: (a, b) -> concat"


def test_a_model_input_nothing_uses_is_an_unused_warning() -> None:
    diags = diagnostics("model m {\n    input a: [3]\n    input b: [3]\n"
                        "    output y = a -> dense(2)\n}\n")
    assert [(d.code, d.span.line, d.message) for d in diags] == [
        ("unused", 3, "input 'b' is never used")]


def test_several_inputs_used_by_name_are_quiet() -> None:
    assert not diagnostics("model m {\n    input a: [3]\n    input b: [3]\n"
                           "    (a, b) -> concat -> dense(2)\n}\n")
