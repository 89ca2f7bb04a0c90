"""The elaborated program: a flat graph per model, and its printer.

Elaboration (:mod:`nnlang.elaborate`) turns blocks, repeats, loops and
compile-time ifs into a flat list of :class:`Node` in topological order.
Shape inference (:mod:`nnlang.shapes`) then fills in each node's ``type``.

``nnc ir`` prints one node a line, jaxpr style::

    %3 = conv[filters=32, kernel=3, padding=same](%2) : f32[B, 8, 8, 32]  # digits.nn:9:5 conv_bn_0/conv_0
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nnlang.source import Span
from nnlang.types import TensorType
from nnlang.values import format_value

INPUT_OP = "input"


@dataclass(eq=False)
class Node:
    """One layer application (or a model input) in the graph.

    Attributes:
        id: position in the graph, printed as ``%id``.
        op: a layer name from the registry, or ``input``.
        attrs: the layer's arguments, bound and with defaults filled in.
        inputs: ids of the nodes whose outputs this one consumes, in order.
        name: hierarchical and stable (``conv_bn_1/conv_0``) or the ``as`` name;
            parameters are stored under it.
        span: the layer call in the source.
        origin: spans of the block calls this node was expanded from, outermost first.
        shares: True when this node re-applies an earlier layer of the same
            name (shared weights, counted once).
        type: the inferred output type, or None before or after a shape error.
    """

    id: int
    op: str
    attrs: dict[str, Any]
    inputs: tuple[int, ...]
    name: str
    span: Span | None = None
    origin: tuple[Span, ...] = ()
    shares: bool = False
    type: TensorType | None = None
    label: str | None = None  # the tensor name bound to this output, for messages


@dataclass(eq=False)
class Graph:
    """A model: its nodes in topological order, named inputs and outputs."""

    name: str
    nodes: list[Node] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    span: Span | None = None
    # `: [shape]` assertions: (node id, asserted dims, dtype or None, where written)
    assertions: list[tuple[int, tuple[Any, ...], str | None, Span | None]] = field(
        default_factory=list)

    def add(self, op: str, attrs: dict[str, Any], inputs: tuple[int, ...], name: str,
            **kw: Any) -> Node:
        node = Node(len(self.nodes), op, attrs, inputs, name, **kw)
        self.nodes.append(node)
        return node

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def consumers(self) -> dict[int, list[int]]:
        users: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                users[i].append(n.id)
        return users


@dataclass(eq=False)
class TrainSpec:
    """A train block with its settings evaluated (calls as CallValues).

    ``spans`` holds each written setting's statement, ``exprs`` its syntax
    tree (so that a diagnostic can point inside the value; a setting written
    but not evaluated, for an error already reported, has an expression and no
    value), and ``overridden`` the text of each setting's ``--set`` value.
    """

    name: str
    models: tuple[str, ...]
    settings: dict[str, Any]
    spans: dict[str, Span]
    span: Span | None = None
    exprs: dict[str, Any] = field(default_factory=dict)
    overridden: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Program:
    """Everything a file elaborates to."""

    path: str
    models: dict[str, Graph] = field(default_factory=dict)
    trains: dict[str, TrainSpec] = field(default_factory=dict)
    consts: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- printer


def _short_path(span: Span | None) -> str:
    if span is None:
        return ""
    path = span.path.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{path}:{span.line}:{span.col}"


def format_attrs(op: str, attrs: dict[str, Any]) -> str:
    """Attributes worth reading: the required ones and those not at their default."""
    from nnlang.layers import lookup
    from nnlang.layers.base import REQUIRED

    spec = lookup(op)
    defaults = {a.name: a.default for a in spec.args} if spec else {}
    shown = {k: v for k, v in attrs.items()
             if k not in defaults or defaults[k] is REQUIRED or not _same(defaults[k], v)}
    return ", ".join(f"{k}={format_value(v)}" for k, v in shown.items())


def _same(default: Any, value: Any) -> bool:
    if value is None or default is None:
        return value is default
    try:
        return default == value or str(default) == str(value)
    except Exception:  # noqa: BLE001 - exotic values are simply shown
        return False


def format_type(node: Node) -> str:
    """``f32[B, 8, 8, 32]``: the batch axis written as B, as the arrays have it."""
    t = node.type
    dims = ", ".join(["B", *(str(d) for d in t.shape)])
    return f"{t.dtype}[{dims}]"


def format_node(node: Node) -> str:
    args = ", ".join(f"%{i}" for i in node.inputs)
    attrs = format_attrs(node.op, node.attrs) if node.op != INPUT_OP else ""
    head = f"%{node.id} = {node.op}" + (f"[{attrs}]" if attrs else "") + f"({args})"
    if node.type is not None:
        head += f" : {format_type(node)}"
    where = _short_path(node.span)
    note = node.name + (" (shared)" if node.shares else "")
    return f"{head}  # {where} {note}".rstrip()


def format_graph(graph: Graph) -> str:
    ins = ", ".join(f"%{i}:{name}" for name, i in graph.inputs.items())
    outs = ", ".join(f"{name}=%{i}" for name, i in graph.outputs.items())
    lines = [f"model {graph.name}({ins}) {{"]
    lines += ["    " + format_node(n) for n in graph.nodes]
    lines.append(f"    return {outs}")
    lines.append("}")
    return "\n".join(lines)


def graph_to_json(graph: Graph) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {str(k): value(x) for k, x in v.items()}
        if isinstance(v, (bool, int, float, str)) or v is None:
            return v
        return format_value(v)

    return {
        "model": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "nodes": [
            {
                "id": n.id, "op": n.op, "name": n.name, "inputs": list(n.inputs),
                "attrs": value(n.attrs), "shared": n.shares,
                "type": str(n.type) if n.type is not None else None,
                "span": _short_path(n.span) or None,
            }
            for n in graph.nodes
        ],
    }


def program_to_json(program: Program) -> str:
    return json.dumps([graph_to_json(g) for g in program.models.values()], indent=2)
