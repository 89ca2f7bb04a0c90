"""Lowering: an elaborated, shape-checked graph becomes a Flax module.

Each registry entry lowers its own layer (``LayerSpec.lower(attrs, ctx)``
returns a callable on arrays, usually wrapping a Flax layer created with
``name=ctx.name``). :class:`GraphModule` walks the graph in order inside one
``nn.compact`` call; a layer re-applied by name is built once and called
again, which is how weights are shared.

Flax names submodules flat (``conv_bn_1/conv_0``); users, checkpoints and
``freeze`` see the nested tree (``{'conv_bn_1': {'conv_0': ...}}``).
:func:`nest` and :func:`flatten` convert at the boundary, at trace time only.

When the loss fuses the final activation (softmax + cross-entropy, sigmoid +
binary cross-entropy), the module returns that output's logits and the
activation is applied only by :meth:`CompiledModel.predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nnlang.ir import INPUT_OP, Graph
from nnlang.layers import LAYERS
from nnlang.values import Word

FUSIBLE = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}
DTYPES = {"f32": jnp.float32, "f16": jnp.float16, "bf16": jnp.bfloat16,
          "i32": jnp.int32, "i64": jnp.int64, "bool": jnp.bool_}


@dataclass(frozen=True)
class LowerCtx:
    """What a layer's lowering may use."""

    name: str              # the flat parameter name; pass it as the Flax module's name=
    train: bool            # dropout, batch statistics and augmentation depend on it
    module: nn.Module      # the enclosing module: make_rng('dropout'), param(...)
    dtype: Any = jnp.float32  # computation dtype (bf16 under precision = bf16 / mixed)


def final_activation(graph: Graph, output: str) -> tuple[str | None, int | None]:
    """The activation that ends ``output`` (a layer or an ``act=``), and its node id."""
    node = graph.node(graph.outputs[output])
    if node.op in FUSIBLE:
        return node.op, node.id
    act = node.attrs.get("act")
    if isinstance(act, str) and act in FUSIBLE:
        return str(act), node.id
    return None, None


class GraphModule(nn.Module):
    """A `.nn` model as a Flax module: ``outputs = module(inputs, train=...)``.

    Attributes:
        graph: the shape-checked graph.
        logits: output names whose final activation is left to the loss.
        dtype: computation dtype.
    """

    graph: Graph
    logits: frozenset[str] = frozenset()
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, inputs: Mapping[str, jax.Array], train: bool = False):
        graph = self.graph
        skip, strip = set(), set()
        for out in self.logits:
            act, node_id = final_activation(graph, out)
            if act is None:
                continue
            (skip if graph.node(node_id).op == act else strip).add(node_id)
        built: dict[str, Any] = {}
        values: dict[int, jax.Array] = {}
        for node in graph.nodes:
            if node.op == INPUT_OP:
                values[node.id] = inputs[node.name]
                continue
            args = [values[i] for i in node.inputs]
            if node.id in skip:
                values[node.id] = args[0]
                continue
            fn = built.get(node.name)
            if fn is None:
                attrs = {**node.attrs, "act": Word("none")} if node.id in strip else node.attrs
                ctx = LowerCtx(node.name, train, self, self.dtype)
                fn = built[node.name] = LAYERS[node.op].lower(attrs, ctx)
            values[node.id] = fn(*args)
        return {name: values[i] for name, i in graph.outputs.items()}


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{'a/b': x}`` → ``{'a': {'b': x}}`` (one level of Flax collections)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        d = out
        for p in parents:
            d = d.setdefault(p, {})
        d[leaf] = value
    return out


def flatten(tree: Mapping[str, Any], prefix: str = "", names: frozenset[str] | None = None
            ) -> dict[str, Any]:
    """Inverse of :func:`nest`, given the set of flat layer names."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if names is not None and path in names:
            out[path] = value
        elif isinstance(value, Mapping) and (names is None or any(
                n.startswith(path + "/") for n in names)):
            out.update(flatten(value, path + "/", names))
        else:
            out[path] = value
    return out


def collection_names(variables: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k for coll in variables.values() for k in coll)
