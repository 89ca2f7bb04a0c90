"""The layer registry: every layer of the `.nn` vocabulary, one entry each.

``LAYERS`` maps a layer name to its :class:`~nnlang.layers.base.LayerSpec`:
arguments with types, defaults (Keras' where Keras and Flax differ) and ranges,
a shape-and-dtype rule, Keras-convention parameter counts, a FLOP count and
its Flax lowering (``lower``, which imports JAX only when called; helpers in
:mod:`~nnlang.layers.flaxops`). Both the checker (``shapes.py``,
``summary.py``) and the compiler (``lower.py``) read it, so a layer cannot be
checkable but not compilable. Families live in their own
modules, as in Flax: :mod:`~nnlang.layers.core`, :mod:`~nnlang.layers.activations`,
:mod:`~nnlang.layers.conv`, :mod:`~nnlang.layers.pooling`, :mod:`~nnlang.layers.norm`,
:mod:`~nnlang.layers.sequence`, :mod:`~nnlang.layers.merge`,
:mod:`~nnlang.layers.augment`. Nothing here imports JAX, Flax or NumPy.

Conventions:

* **Shapes** exclude the batch axis, are channels-last, and may hold symbolic
  dims (:mod:`nnlang.dims`); rules work through them (``maxpool(2)`` on
  ``[T, 8]`` gives ``[T // 2, 8]``). Dims that size weights (a dense layer's
  input features, conv channels) must be static. Static bounds are checked;
  symbolic dims are assumed large enough.
* **Parameters** are counted as Keras counts them (``model.summary()``), as
  ``(trainable, non_trainable)``; ``trainable=false`` moves a layer's count to
  non-trainable. Batch statistics are non-trainable.
* **FLOPs** are per example (no batch axis) at inference: 2 per multiply-add
  for dense, convolutions, recurrent layers (per time step, times ``T``) and
  attention (projections, ``Q K^T``, ``A V``); 1 per element for activations
  (also an ``act=`` on a layer), merges and pooling-window elements; a small
  constant per element for normalisation (2 for batchnorm, 8 for layernorm and
  groupnorm); 0 for reshapes, copies, dropout and augmentation (identity at
  evaluation). Bias additions are not counted, as in most published FLOP
  tables. A count over symbolic dims is a symbolic :data:`~nnlang.dims.Dim`.

Plugins add entries with :func:`register_layer`; ``lookup(name)`` finds one.
"""

from __future__ import annotations

from nnlang.layers import (
    activations,
    augment,
    conv,
    core,
    merge,
    norm,
    pooling,
    sequence,
)
from nnlang.layers.args import (
    ACTIVATIONS,
    ALIASES,
    INITIALIZERS,
    KINDS,
    REQUIRED,
    ArgError,
    ArgSpec,
    FunctionSpec,
    ShapeError,
    act_arg,
    param_args,
    resolve_function,
)
from nnlang.layers.base import (
    LAYERS,
    LayerSpec,
    bind_args,
    is_builtin,
    lookup,
    non_default_attrs,
    register_builtin,
    register_layer,
    unregister_layer,
    usage,
)

GROUPS = (
    "core",
    "activations",
    "convolution",
    "pooling",
    "normalization",
    "sequence",
    "merging",
    "augmentation",
)

for _family in (core, activations, conv, pooling, norm, sequence, merge, augment):
    for _spec in _family.SPECS:
        register_builtin(_spec)
del _family, _spec

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "GROUPS",
    "INITIALIZERS",
    "KINDS",
    "LAYERS",
    "REQUIRED",
    "ArgError",
    "ArgSpec",
    "FunctionSpec",
    "LayerSpec",
    "ShapeError",
    "act_arg",
    "bind_args",
    "is_builtin",
    "lookup",
    "non_default_attrs",
    "param_args",
    "register_layer",
    "resolve_function",
    "unregister_layer",
    "usage",
]
