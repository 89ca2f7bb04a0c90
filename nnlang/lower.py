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

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nnlang.ir import INPUT_OP, Graph
from nnlang.layers import LAYERS
from nnlang.layers.flaxops import activation
from nnlang.values import Word

# The final activations a classification loss may fuse (the registry's LOSSES say
# which loss fuses which): left out here, they are applied by the loss.
FUSIBLE = frozenset({"softmax", "sigmoid"})
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
        if node.op == "softmax" and not _last_axis(node):
            return None, None  # the losses and predict() normalise the last axis only
        return node.op, node.id
    act = node.attrs.get("act")
    if isinstance(act, str) and act in FUSIBLE and LAYERS[node.op].act_last:
        return str(act), node.id
    return None, None


def ends_linear(graph: Graph, output: str) -> bool:
    """Whether ``output`` ends in a layer that takes ``act=`` but has none (a plain
    ``dense(10)``): its values are unbounded scores, which a classification loss
    reads as logits (the activation the loss names is fused), never as
    probabilities."""
    from nnlang.layers.args import NO_ACTIVATION

    node = graph.node(graph.outputs[output])
    if node.op == INPUT_OP or not any(a.name == "act" for a in LAYERS[node.op].args):
        return False
    act = node.attrs.get("act", "none")
    return isinstance(act, str) and str(act) in NO_ACTIVATION


def _last_axis(node) -> bool:
    """Whether a softmax node normalises its input's last axis (batch axis excluded)."""
    axis = node.attrs.get("axis", -1)
    rank = node.type.rank if node.type is not None else None
    return axis == -1 or (rank is not None and axis == rank - 1)


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
        # A shared layer is built once: without its act= if any use returns logits,
        # and the uses that do not get the activation applied after it.
        stripped = {graph.node(i).name for i in strip}
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
                attrs = ({**node.attrs, "act": Word("none")} if node.name in stripped
                         else node.attrs)
                ctx = LowerCtx(node.name, train, self, self.dtype)
                fn = built[node.name] = LAYERS[node.op].lower(attrs, ctx)
            value = fn(*args)
            if node.name in stripped and node.id not in strip:
                value = activation(node.attrs["act"])(value)
            values[node.id] = value
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


class CompiledModel:
    """A `.nn` model, ready to train: the trainer's ``TrainableModel``.

    Variables are nested by `.nn` layer path (``{'conv_bn_1': {'conv_0':
    {...}}}``); outputs are keyed by output name. Outputs that end in softmax
    or sigmoid return logits (``logits_outputs`` says which activation was left
    out) so the loss can fuse it; :meth:`predict` applies it. Outputs that end
    in a linear layer (``linear_outputs``) return their values, which a
    classification loss reads as logits (see
    :func:`nnlang.train.model.activations_of`).
    """

    rng_names = ("dropout",)  # dropout, noise and augmentation all draw from it

    def __init__(self, graph: Graph, *, dtype: Any = jnp.float32):
        self.graph = graph
        self.dtype = dtype
        self.name = graph.name
        self.input_names = list(graph.inputs)
        self.output_names = list(graph.outputs)
        self.logits_outputs = {
            out: act for out in graph.outputs
            if (act := final_activation(graph, out)[0]) is not None
        }
        self.linear_outputs = frozenset(
            out for out in graph.outputs
            if out not in self.logits_outputs and ends_linear(graph, out))
        self.output_shapes = {
            out: tuple(graph.node(i).type.shape) if graph.node(i).type else None
            for out, i in graph.outputs.items()
        }
        self.module = GraphModule(graph, frozenset(self.logits_outputs), dtype)
        owners = [n for n in graph.nodes if n.op != INPUT_OP and not n.shares]
        self._names = frozenset(n.name for n in owners)
        self.penalties = {
            n.name: (float(n.attrs.get("l1") or 0), float(n.attrs.get("l2") or 0))
            for n in owners if n.attrs.get("l1") or n.attrs.get("l2")
        }
        self.frozen = tuple(n.name for n in owners if n.attrs.get("trainable") is False)
        self.input_shapes = {
            name: tuple(d if isinstance(d, int) else None
                        for d in graph.node(i).attrs["shape"])
            for name, i in graph.inputs.items()
        }
        self.input_dtypes = {name: DTYPES[graph.node(i).attrs["dtype"]]
                             for name, i in graph.inputs.items()}

    def with_compute_dtype(self, dtype: Any) -> CompiledModel:
        """The same model computing in ``dtype`` (``precision = bf16``/``mixed``);
        parameters keep whatever dtype they are given."""
        if jnp.dtype(dtype) == jnp.dtype(self.dtype):
            return self
        return CompiledModel(self.graph, dtype=dtype)

    def _flat(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {c: flatten(tree, names=self._names) for c, tree in variables.items()}

    def init(self, rng: jax.Array, sample_inputs: Mapping[str, jax.Array]) -> dict[str, Any]:
        """Initial variables, in one jitted computation: an eager
        ``Module.init`` compiles every initialiser and layer op on its own
        (resnet_digits 6.7 s, W4 8.1 s; jitted 2.3 s and 3.9 s)."""
        return self._init(rng, dict(sample_inputs))

    @functools.cached_property
    def _init(self):
        @jax.jit
        def init(rng, sample_inputs):
            params_key, dropout_key = jax.random.split(rng)
            variables = self.module.init({"params": params_key, "dropout": dropout_key},
                                         sample_inputs, train=False)
            return {c: nest(tree) for c, tree in variables.items()}

        return init

    def apply(self, variables: Mapping[str, Any], inputs: Mapping[str, jax.Array], *,
              train: bool, rngs: Mapping[str, jax.Array] | None = None):
        flat = self._flat(variables)
        mutable = [c for c in flat if c != "params"] if train else []
        if mutable:
            outputs, state = self.module.apply(flat, dict(inputs), train=True,
                                               rngs=dict(rngs or {}), mutable=mutable)
            return outputs, {c: nest(tree) for c, tree in state.items()}
        return self.module.apply(flat, dict(inputs), train=train, rngs=dict(rngs or {})), {}

    def predict(self, variables: Mapping[str, Any], inputs: Mapping[str, jax.Array]
                ) -> dict[str, jax.Array]:
        """Outputs with every final activation applied (probabilities, not logits)."""
        outputs, _ = self.apply(variables, inputs, train=False)
        for out, act in self.logits_outputs.items():
            fn = jax.nn.softmax if act == "softmax" else jax.nn.sigmoid
            outputs[out] = fn(outputs[out])
        return outputs

    def sample_inputs(self, batch: int = 1) -> dict[str, jax.Array]:
        """Zeros shaped like the inputs (symbolic dims as 1), for ``init``."""
        return {name: jnp.zeros((batch, *(d or 1 for d in shape)), self.input_dtypes[name])
                for name, shape in self.input_shapes.items()}
