"""Checks of loaded data against the model it feeds, before anything trains.

Shapes are checked in ``nnlang.run.check_data_fits``; here are the checks that
need the data's values: token ids an ``embedding`` cannot look up. Out-of-range
ids do not fail inside JAX: the lookup returns garbage or NaN and the user sees
a diverging loss with a learning-rate hint, far from the cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from nnlang.diagnostics import Diagnostic, error
from nnlang.ir import Graph, Node, TrainSpec


def embedding_inputs(graph: Graph) -> Iterator[tuple[str, Node]]:
    """(input name, embedding node) for each embedding that reads an input directly."""
    users = graph.consumers()
    for name, node_id in graph.inputs.items():
        for user in users.get(node_id, ()):
            node = graph.node(user)
            if node.op == "embedding":
                yield name, node


def input_arrays(graph: Graph, data: Any, name: str) -> list[np.ndarray]:
    """The train, val and test arrays that feed input ``name`` (by name, else by
    position, as ``check_data_fits`` pairs them)."""
    position = list(graph.inputs).index(name)
    arrays = []
    for split in (data.train, data.val, data.test):
        x = split.x
        if isinstance(x, Mapping):
            x = x[name] if name in x else list(x.values())[position]
        elif position:
            x = None
        if x is not None and np.size(x):
            arrays.append(np.asarray(x))
    return arrays


def token_id_problems(graph: Graph, data: Any, spec: TrainSpec) -> list[Diagnostic]:
    """An embedding fed ids outside ``[0, vocab)``: a ``data-mismatch`` at ``data``."""
    problems = []
    span = spec.spans.get("data", spec.span)
    for name, node in embedding_inputs(graph):
        arrays = [a for a in input_arrays(graph, data, name) if is_whole(a)]
        if not arrays:
            continue
        low = int(min(a.min() for a in arrays))
        high = int(max(a.max() for a in arrays))
        vocab = int(node.attrs["vocab"])
        if 0 <= low and high < vocab:
            continue
        where = f"line {node.span.line}" if node.span else f"layer {node.name}"
        taken = f"embedding({vocab}, ...) takes ids 0 to {vocab - 1}"
        if low < 0:
            message = f"input '{name}' gets token id {low}, but {taken}"
            hint = "token ids count from 0"
        else:
            message = (
                f"the data has token ids up to {high}, but {taken} "
                f"(input '{name}')"
            )
            hint = (
                f"set vocab={vocab} in text(...), or use embedding({high + 1}, ...)"
                if data.vocab is not None
                else f"use embedding({high + 1}, ...) or more"
            )
        problems.append(error(
            "data-mismatch", message, span,
            notes=[f"the embedding: {node.name} on {where}"], hint=hint,
        ))
    return problems


def is_whole(array: np.ndarray) -> bool:
    """Integer ids, or floats that are all whole numbers (they are cast to ids)."""
    if array.dtype.kind in "iub":
        return True
    return (
        array.dtype.kind == "f"
        and bool(np.all(np.isfinite(array)))
        and bool(np.array_equal(array, np.round(array)))
    )
