"""Re-applying a block instance by its ``as`` name, with shared weights.

``x = a -> mlp(8) as tower`` expands ``mlp`` into nodes ``tower/dense_0``,
``tower/dense_1``; ``y = b -> tower`` then applies the *whole* instance again,
as calling one Keras ``Model`` object twice does. The elaborator records
each named instance as a :class:`BlockInstance` (the flow it was applied to
and the range of nodes its expansion added) and :func:`reapply_block` copies
that range onto the new flow: every copy keeps its original's name and is
marked ``shares``, so the Flax lowering calls the module built for the first
application again and ``nnc summary`` counts its weights once. Residual and
multi-branch bodies copy as they are; a multi-input block takes a tuple flow
of the same length.

Copying the first expansion, rather than elaborating the body again, makes
the second application the same computation by construction: a compile-time
``if`` or a ``repeat`` inside the block cannot come out differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnlang.ir import Graph
from nnlang.source import Span


@dataclass(frozen=True)
class BlockInstance:
    """A block applied ``as NAME``: what re-using ``NAME`` copies.

    Attributes:
        block: the block's name, for messages.
        entry: the node ids of the flow the block was first applied to.
        first, end: the range of node ids its expansion added.
        result: the block's result (a node id or a tuple of them), or the
            elaborator's poison marker when the body had errors.
    """

    block: str
    entry: tuple[int, ...]
    first: int
    end: int
    result: Any


def reapply_block(graph: Graph, instance: BlockInstance, inputs: tuple[int, ...],
                  span: Span | None, origin: tuple[Span, ...]) -> int | tuple[int, ...]:
    """Copy ``instance``'s nodes onto ``inputs``, sharing every layer's weights.

    The copies point at ``span`` (the re-use) so that a shape error in them is
    reported where the block met its new input; shape assertions inside the
    block are copied too and hold for the new application as well.
    """
    mapping = dict(zip(instance.entry, inputs, strict=True))
    for node in graph.nodes[instance.first:instance.end]:
        copy = graph.add(node.op, node.attrs, tuple(mapping.get(i, i) for i in node.inputs),
                         node.name, span=span, origin=origin, shares=True)
        mapping[node.id] = copy.id
    for node_id, dims, dtype, where in list(graph.assertions):
        if instance.first <= node_id < instance.end:
            graph.assertions.append((mapping[node_id], dims, dtype, where))
    result = instance.result
    if isinstance(result, tuple):
        return tuple(mapping.get(i, i) for i in result)
    return mapping.get(result, result)
