"""``nnc summary``: a Keras-style table of layers, shapes, parameters and FLOPs.

Counts come from each layer's registry entry (Keras conventions), never from
allocated arrays, so an 800-million-parameter model summarises instantly.
A layer applied again with shared weights is listed with 0 parameters: its
weights are counted once, where they were created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nnlang.dims import dim_str
from nnlang.ir import INPUT_OP, Graph
from nnlang.layers import LAYERS

BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i32": 4, "i64": 8, "bool": 1}


@dataclass(frozen=True)
class Row:
    name: str
    op: str
    shape: str
    trainable: int
    non_trainable: int
    flops: Any  # int, or a symbolic Dim when the input has symbolic dims
    shared: bool = False

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


@dataclass
class Summary:
    model: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    output_layers: dict[str, str] = field(default_factory=dict)  # output name -> its layer

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.rows)

    @property
    def non_trainable(self) -> int:
        return sum(r.non_trainable for r in self.rows)

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def flops(self) -> Any:
        total: Any = 0
        for r in self.rows:
            total = total + r.flops
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "layers": [
                {"name": r.name, "op": r.op, "shape": r.shape, "params": r.params,
                 "trainable": r.trainable, "non_trainable": r.non_trainable,
                 "flops": _jsonable(r.flops)}
                for r in self.rows
            ],
            "total_params": self.total,
            "trainable_params": self.trainable,
            "non_trainable_params": self.non_trainable,
            "flops": _jsonable(self.flops),
        }


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, int) else dim_str(v)


def summarize(graph: Graph) -> Summary:
    """Rows for every node of a shape-checked graph (untyped nodes are skipped)."""
    summary = Summary(
        graph.name,
        {k: str(graph.node(i).type) for k, i in graph.inputs.items()},
        {k: str(graph.node(i).type) for k, i in graph.outputs.items()},
        output_layers={k: graph.node(i).name for k, i in graph.outputs.items()},
    )
    for node in graph.nodes:
        if node.type is None:
            continue
        if node.op == INPUT_OP:
            summary.rows.append(Row(node.name, "input", str(node.type), 0, 0, 0))
            continue
        spec = LAYERS[node.op]
        types = [graph.node(i).type for i in node.inputs]
        trainable, frozen = (0, 0) if node.shares else spec.count_params(node.attrs, types)
        flops = spec.flops(node.attrs, types, node.type)
        summary.rows.append(Row(node.name, node.op, str(node.type), trainable, frozen, flops,
                                node.shares))
    return summary


def format_bytes(n: float) -> str:
    """``n`` bytes in B, KB, MB, GB or TB (steps of 1024): ``2.50 MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.2f} TB"


def _human_count(v: Any) -> str:
    if not isinstance(v, int):
        return dim_str(v)
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if v >= size:
            return f"{v / size:.2f}{unit}"
    return str(v)


def format_summary(summary: Summary, dtype: str = "f32") -> str:
    """A plain-text table in the spirit of Keras' ``model.summary()``."""
    header = ("Layer", "Op", "Output shape", "Params", "FLOPs")
    body = [
        (r.name + (" (shared)" if r.shared else ""), r.op, r.shape,
         f"{r.params:,}" + ("*" if r.non_trainable else ""), _human_count(r.flops))
        for r in summary.rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    align = ["<", "<", "<", ">", ">"]

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))

    rule = "─" * len(line(header))
    out = [f'Model: "{summary.model}"', rule, line(header), rule]
    out += [line(row) for row in body]
    out.append(rule)
    size = BYTES.get(dtype, 4)
    out += [
        f"Total params: {summary.total:,} ({format_bytes(summary.total * size)})",
        f"Trainable params: {summary.trainable:,} ({format_bytes(summary.trainable * size)})",
        f"Non-trainable params: {summary.non_trainable:,} "
        f"({format_bytes(summary.non_trainable * size)})",
        f"FLOPs per example: {_human_count(summary.flops)} (2 per multiply-add)",
    ]
    if any(r.non_trainable for r in summary.rows):
        out.append("* includes non-trainable parameters (batch statistics, frozen layers)")
    named = {k: v for k, v in summary.output_layers.items() if k != v}
    if set(named) - {"output"}:  # `output price = ...`: which row is the output
        out.append("Outputs: " + ", ".join(
            f"{k} = {v} {summary.outputs[k]}" for k, v in summary.output_layers.items()))
    return "\n".join(out)


def summaries_to_json(summaries: list[Summary]) -> str:
    data = [s.to_json() for s in summaries]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2)
