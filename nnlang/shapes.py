"""Shape inference and checking over an elaborated graph.

Each node's output type comes from its registry entry's ``infer`` rule. A rule
says what it needs ("conv2d needs an input of shape [H, W, C]"); this pass adds
what it got and where that came from ("; got [784] from dense_1 (line 3)"),
puts the caret on the layer, and keeps going: a node whose input failed stays
untyped and quiet, so each independent mistake is reported once.

A layer re-applied with shared weights (``b = right -> enc``) must get inputs
its weights fit: its parameter count on the new inputs must equal the count
where it was built (conv weights fit any spatial size with the same channels;
dense weights need the same features).

Assertions (``: [4, 4, 64]``) compare the asserted dims with the inferred ones.
A name in an assertion that is not yet bound in the model (``: [N, 16]``)
binds to what it meets first; names from the model's inputs are fixed.
"""

from __future__ import annotations

from typing import Any

from nnlang.diagnostics import Diagnostic, error
from nnlang.dims import SymDim, dim_str, substitute
from nnlang.ir import INPUT_OP, Graph, Node
from nnlang.layers import LAYERS
from nnlang.layers.base import ShapeError
from nnlang.types import TensorType


def describe_source(node: Node) -> str:
    """How a message names the node a tensor came from: ``dense_1 (line 3)``."""
    if node.op == INPUT_OP:
        return f"input '{node.name}'"
    who = node.label or node.name
    return f"{who} (line {node.span.line})" if node.span else who


def infer_shapes(graph: Graph) -> list[Diagnostic]:
    """Fill in ``node.type`` for every node; return the shape diagnostics."""
    diags: list[Diagnostic] = []
    owners: dict[str, Node] = {}  # layer name -> the node that built its weights
    for node in graph.nodes:
        if node.op == INPUT_OP:
            node.type = TensorType(tuple(node.attrs["shape"]), node.attrs["dtype"])
            continue
        if not node.shares:
            owners.setdefault(node.name, node)
        inputs = [graph.node(i) for i in node.inputs]
        types = [n.type for n in inputs]
        if any(t is None for t in types):
            continue
        try:
            node.type = LAYERS[node.op].infer(node.attrs, types)
        except ShapeError as exc:
            diags.append(_shape_error(node, inputs, exc))
            continue
        owner = owners.get(node.name)
        if node.shares and owner is not None and owner.type is not None:
            mismatch = _check_shared_weights(graph, owner, node)
            if mismatch:
                diags.append(mismatch)
                node.type = None  # what follows would only repeat the mistake
    diags.extend(check_assertions(graph))
    return diags


def _shape_error(node: Node, inputs: list[Node], exc: ShapeError) -> Diagnostic:
    notes = list(exc.notes)
    if len(inputs) == 1:
        message = f"{exc.message}; got {inputs[0].type} from {describe_source(inputs[0])}"
    else:
        message = exc.message
        width = len(str(len(inputs)))
        notes += [f"operand {i + 1:>{width}}: {n.type}  from {describe_source(n)}"
                  for i, n in enumerate(inputs)]
    if node.shares:
        notes.append(f"in {node.name}, applied again here with shared weights")
    elif node.origin:
        outer = node.origin[0]
        notes.append(f"in {node.name.split('/')[0]}, called at line {outer.line}")
    return error("shape-mismatch", message, node.span, notes=notes, hint=exc.hint)


def _check_shared_weights(graph: Graph, owner: Node, node: Node) -> Diagnostic | None:
    """A re-applied layer whose inputs need weights of another size than it has.

    What the weights depend on differs by layer (a dense layer's on the last
    axis, a conv's on the channels but not the spatial size, a positional
    embedding's on the length), so compare the registry's parameter counts,
    which depend on exactly that, rather than the input shapes.
    """
    spec = LAYERS[node.op]
    built = [graph.node(i).type for i in owner.inputs]
    given = [graph.node(i).type for i in node.inputs]
    have = sum(spec.count_params(owner.attrs, built))
    need = sum(spec.count_params(node.attrs, given))
    if not (isinstance(have, int) and isinstance(need, int)) or have == need:
        return None  # a symbolic count may or may not agree; the runtime will tell

    def shapes(types: list[TensorType]) -> str:
        return ", ".join(str(t) for t in types)

    line = f" at line {owner.span.line}" if owner.span else ""
    return error(
        "shape-mismatch",
        f"shared layer '{node.name}' was built for inputs of {shapes(built)}; "
        f"here it gets {shapes(given)}",
        node.span,
        notes=[f"its weights: {have:,} parameters, built{line} by {owner.op} on {shapes(built)}",
               f"on {shapes(given)} it would need {need:,} parameters"],
        hint="a shared layer needs inputs its weights fit; for different inputs use a "
             "new layer instead of its name",
    )


def check_assertions(graph: Graph) -> list[Diagnostic]:
    diags = []
    fixed = _input_symbols(graph)
    env: dict[str, Any] = {}
    for node_id, dims, dtype, span in graph.assertions:
        node = graph.node(node_id)
        if node.type is None:
            continue
        found = node.type
        expected = TensorType(tuple(dims), dtype or found.dtype)
        if not _matches(expected, found, env, fixed):
            shown = TensorType(tuple(_resolve(d, env) for d in dims), dtype or found.dtype)
            diags.append(error(
                "shape-mismatch", "output shape does not match the assertion", span,
                notes=[f"expected: {shown}   (asserted here)",
                       f"   found: {found}   ({_explain(graph, node)})"],
            ))
    return diags


def _explain(graph: Graph, node: Node) -> str:
    """``maxpool_0 on [8, 8, 32] from conv_bn_1/relu_0 (line 10)``."""
    if node.op == INPUT_OP:
        return f"input '{node.name}'"
    sources = [graph.node(i) for i in node.inputs]
    ins = ", ".join(str(n.type) for n in sources)
    line = f", line {node.span.line}" if node.span else ""
    return f"{node.label or node.name}{line}: {node.op} on {ins} from " + ", ".join(
        describe_source(n) for n in sources)


def _input_symbols(graph: Graph) -> set[str]:
    names: set[str] = set()
    for i in graph.inputs.values():
        for d in graph.node(i).attrs["shape"]:
            if isinstance(d, SymDim):
                names.update(d.symbols())
    return names


def _resolve(d: Any, env: dict[str, Any]) -> Any:
    return substitute(d, env) if isinstance(d, SymDim) and env else d


def _matches(expected: TensorType, found: TensorType, env: dict, fixed: set[str]) -> bool:
    if expected.dtype != found.dtype or len(expected.shape) != len(found.shape):
        return False
    trial = dict(env)
    for want, got in zip(expected.shape, found.shape, strict=True):
        if isinstance(want, SymDim) and want.is_symbol() and want.name not in fixed \
                and want.name not in trial:
            trial[want.name] = got  # a fresh name binds to what it meets first
            continue
        if _resolve(want, trial) != got:
            return False
    env.update(trial)
    return True


def format_dims(dims) -> str:
    return "[" + ", ".join(dim_str(d) for d in dims) + "]"
