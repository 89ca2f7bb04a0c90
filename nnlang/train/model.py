"""What the trainer needs from a model: the :class:`TrainableModel` protocol.

The compiler implements it for `.nn` models; :class:`LinenModel` adapts any
Flax linen module whose ``__call__(inputs: dict, train: bool)`` returns a dict
of outputs, which is also what the tests use.

Contract (the compiler must respect it):

* ``init(rng, sample_inputs)`` returns the variables: a dict with
  ``"params"`` and any other collections (``"batch_stats"``). Parameter trees
  are nested dicts keyed by `.nn` layer names, so ``"conv_bn_1/conv_0"`` is a
  path into them (``freeze``, ``penalties`` and checkpoints rely on it).
* ``apply(variables, inputs, *, train, rngs)`` returns ``(outputs,
  new_state)``: outputs keyed by output name; ``new_state`` holds the updated
  non-parameter collections when ``train`` is true (``{}`` if none).
* ``logits_outputs`` maps an output name to the final activation it left out
  (``"softmax"`` or ``"sigmoid"``): that output returns pre-activation logits,
  and the trainer fuses the activation into a matching loss or applies it
  itself (metrics, predictions, other losses). A plain set of names is read
  as ``"sigmoid"`` for outputs trained with ``binary_cross_entropy`` and
  ``"softmax"`` otherwise.
* ``penalties`` maps a layer path to its ``(l1, l2)`` kernel penalty.
* Optional ``linear_outputs``: outputs that end in a layer without an
  activation. They return values as they are; a classification loss reads
  them as logits (``cross_entropy``/``kl_divergence`` fuse a softmax,
  ``binary_cross_entropy`` a sigmoid), and metrics and predictions of a model
  trained so see the probabilities (see :func:`activations_of`).
* Optional ``output_shapes``: output name to shape without the batch axis
  (the default loss of two-class data follows the last dimension).
* Optional attributes: ``frozen`` (paths of layers declared
  ``trainable=false``), ``rng_names`` (rng streams ``apply`` consumes in
  training, default ``("dropout",)``), ``input_shapes`` (name to shape without
  the batch axis; the trainer reshapes data whose element count matches) and
  ``name`` (for the epoch-fusion decision cache).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import jax

from nnlang.train.registry import LOSSES

Variables = dict[str, Any]


@runtime_checkable
class TrainableModel(Protocol):
    """A model the loop can train (see the module doc for the contract)."""

    input_names: Sequence[str]
    output_names: Sequence[str]
    logits_outputs: Mapping[str, str] | Collection[str]
    penalties: Mapping[str, tuple[float, float]]

    def init(self, rng: jax.Array, sample_inputs: dict[str, jax.Array]) -> Variables:
        """Initial variables for inputs shaped like ``sample_inputs``."""
        ...

    def apply(
        self,
        variables: Variables,
        inputs: dict[str, jax.Array],
        *,
        train: bool,
        rngs: dict[str, jax.Array] | None = None,
    ) -> tuple[dict[str, jax.Array], Variables]:
        """Outputs by name and the updated non-parameter collections."""
        ...


@dataclass(eq=False)
class LinenModel:
    """A :class:`TrainableModel` around a linen module called with a dict of inputs.

    Args:
        module: ``module(inputs: dict[str, Array], train: bool)`` returns a
            dict of outputs (or one array for a single output).
        input_names: the keys of the inputs dict.
        output_names: the keys of the outputs dict.
        logits_outputs: output name to the activation the module left out.
        penalties: layer path to ``(l1, l2)``.
        frozen: layer paths that are never trained.
        rng_names: rng streams used in training.
        mutable: collections updated in training (``batch_stats``).
    """

    module: Any
    input_names: Sequence[str] = ("x",)
    output_names: Sequence[str] = ("output",)
    logits_outputs: Mapping[str, str] = field(default_factory=dict)
    penalties: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    frozen: Collection[str] = ()
    rng_names: Sequence[str] = ("dropout",)
    mutable: Sequence[str] = ("batch_stats",)
    name: str | None = None

    def init(self, rng: jax.Array, sample_inputs: dict[str, jax.Array]) -> Variables:
        """Initial variables, jitted as one computation (eager ``init``
        compiles each initialiser and op on its own)."""
        return dict(jax.jit(self._init)(rng, sample_inputs))

    def _init(self, rng: jax.Array, sample_inputs: dict[str, jax.Array]) -> Variables:
        keys = jax.random.split(rng, len(self.rng_names) + 1)
        rngs = {"params": keys[0], **dict(zip(self.rng_names, keys[1:], strict=True))}
        return dict(self.module.init(rngs, sample_inputs, train=False))

    def apply(
        self,
        variables: Variables,
        inputs: dict[str, jax.Array],
        *,
        train: bool,
        rngs: dict[str, jax.Array] | None = None,
    ) -> tuple[dict[str, jax.Array], Variables]:
        mutable = [c for c in self.mutable if c in variables] if train else []
        if mutable:
            out, state = self.module.apply(
                variables, inputs, train=True, rngs=rngs, mutable=mutable
            )
        else:
            out, state = (
                self.module.apply(variables, inputs, train=train, rngs=rngs),
                {},
            )
        if not isinstance(out, Mapping):
            out = {self.output_names[0]: out}
        return dict(out), dict(state)


LOGIT_LOSSES = {name: e.fuses for name, e in LOSSES.items() if e.fuses}
"""The activation each classification loss fuses into an output it reads as logits."""


def activations_of(
    model: TrainableModel, losses: Mapping[str, Any]
) -> dict[str, str | None]:
    """Each output's activation for the losses ``losses`` (output name to an
    Option or its name): the one the model left out (``logits_outputs``), or
    for an output that ends in a linear layer (``linear_outputs``) the one its
    classification loss implies (``LOGIT_LOSSES``); ``None`` when the output
    returns values as they are."""
    fused = model.logits_outputs
    linear = getattr(model, "linear_outputs", ()) or ()

    def loss_of(o: str) -> str | None:
        loss = losses.get(o)
        return str(getattr(loss, "name", loss)) if loss is not None else None

    if isinstance(fused, Mapping):
        acts = {o: fused.get(o) for o in model.output_names}
    else:
        acts = {
            o: LOGIT_LOSSES.get(loss_of(o) or "", "softmax") if o in fused else None
            for o in model.output_names
        }
    for o in model.output_names:
        if acts[o] is None and o in linear:
            acts[o] = LOGIT_LOSSES.get(loss_of(o) or "")
    return acts
