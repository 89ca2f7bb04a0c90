"""The compiled pieces of training: objective, train step, eval step, fused epoch.

Everything a step touches lives on the device for the whole run:

* the split's arrays (``data = (x, y)``, dicts by input and output name),
  gathered by index inside the step, so no batch is copied from the host;
* an epoch ``order``: a permutation padded to ``steps * batch`` indices by
  wrapping around, so the last partial batch keeps its shape (no
  recompilation) and its padding rows are real examples (batch statistics
  stay representative) that the mask weighs 0 in the loss and the metrics.
  It is drawn on the host (:func:`epoch_order`): XLA:CPU sorts to permute, 0.2
  ms for 1,280 rows and 32 ms for 60,000 on one core, in the device's time,
  where numpy's shuffle overlaps the previous epoch;
* a :class:`Carry` holding the :class:`TrainState`, the running metric sums,
  the position in the epoch and the first step whose loss was not finite.

:func:`jit_fns` returns one jitted step (``donate_argnums=0``: the carry's
buffers are reused in place) and one jitted epoch that starts a carry from the
training state (zeroed sums, inside the computation: no extra dispatch) and runs
the same step body in a ``lax.while_loop`` up to ``stop`` — the same body, so
fused and per-step epochs compute the same thing (to float rounding: XLA fuses
a loop body differently). The fused body is traced under
:func:`~nnlang.layers.flaxops.tracing_loop`, so a lowering can pick an in-loop
form (``TUNING["conv_loop"]`` forces one for A/B measurements).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh

from nnlang.train.devices import parallel_grad, parallel_sums
from nnlang.train.losses import Activation, activate, kernel_penalty
from nnlang.train.metrics import Metric
from nnlang.train.model import TrainableModel
from nnlang.train.optim import zero_frozen

Data = tuple[dict[str, jax.Array], dict[str, jax.Array]]


class TrainState(NamedTuple):
    """What an optimiser step updates (a pytree; saved in checkpoints)."""

    step: jax.Array  # int32: optimiser steps taken
    params: Any
    model_state: Any  # non-parameter collections, e.g. {"batch_stats": ...}
    opt_state: Any
    plateau: Any  # reduce_on_plateau state, or None
    rng: jax.Array  # folded with `step` for each step's dropout keys


class Carry(NamedTuple):
    """The loop state of one epoch (``state`` is None when evaluating)."""

    state: TrainState | None
    sums: dict[str, Any]
    pos: jax.Array  # int32: steps done in this epoch
    bad: jax.Array  # int32: first step in this epoch with a non-finite loss, or -1


@dataclass(frozen=True, eq=False)
class Objective:
    """Loss, penalties and metric sums of a model on one batch.

    Attributes:
        model: the model.
        losses: per-example loss function per output.
        weights: loss weight per output.
        activations: the final activation each output left out, or None.
        metrics: history key to ``(output, Metric)``.
        precision: ``f32``, ``bf16`` or ``mixed`` (outputs are cast to f32).
    """

    model: TrainableModel
    losses: Mapping[str, Callable[..., jax.Array]]
    weights: Mapping[str, float]
    activations: Mapping[str, Activation]
    metrics: Mapping[str, tuple[str, Metric]]
    precision: str = "f32"

    def __call__(
        self,
        params: Any,
        model_state: Any,
        x: dict,
        y: dict,
        mask: jax.Array,
        *,
        train: bool,
        rngs: dict | None = None,
    ) -> tuple[jax.Array, tuple]:
        """``(mean loss + penalty, (sums, new_model_state))`` for a masked batch."""
        outputs, new_state = self.model.apply(
            {"params": params, **model_state}, x, train=train, rngs=rngs
        )
        count = jnp.sum(mask)
        total = jnp.zeros(mask.shape, jnp.float32)
        sums: dict[str, Any] = {}
        single = len(self.losses) == 1
        for out, loss_fn in self.losses.items():
            pred = outputs[out].astype(jnp.float32)
            per = loss_fn(pred, y[out], logits=self.activations.get(out))
            total = total + self.weights.get(out, 1.0) * per
            if not single:
                sums[f"{out}_loss"] = jnp.sum(per * mask)
        penalty = kernel_penalty(params, self.model.penalties)
        loss = jnp.sum(total * mask) / jnp.maximum(count, 1.0) + penalty
        sums["loss"] = jnp.sum(total * mask) + penalty * count
        sums["count"] = count
        for key, (out, metric) in self.metrics.items():
            pred = lax.stop_gradient(outputs[out].astype(jnp.float32))
            sums[key] = metric.update(
                activate(pred, self.activations.get(out)), y[out], mask
            )
        return loss, (sums, new_state if train else model_state)


def gather(data: Data, order: jax.Array, pos: jax.Array, batch: int, n: int):
    """Rows ``pos * batch ...`` of ``order`` from ``data`` and the padding mask."""
    start = pos * batch
    idx = lax.dynamic_slice(order, (start,), (batch,))
    mask = ((start + jnp.arange(batch)) < n).astype(jnp.float32)
    take = lambda a: jnp.take(a, idx, axis=0)  # noqa: E731
    return jax.tree.map(take, data[0]), jax.tree.map(take, data[1]), mask


def step_rngs(
    rng: jax.Array, step: jax.Array, names: Sequence[str]
) -> dict[str, jax.Array]:
    """Independent keys per rng stream for one step: ``fold_in(rng, step)``."""
    if not names:
        return {}
    keys = jax.random.split(jax.random.fold_in(rng, step), len(names))
    return dict(zip(names, keys, strict=True))


def _add(sums: Any, new: Any) -> Any:
    return jax.tree.map(jnp.add, sums, new)


def _flag(bad: jax.Array, pos: jax.Array, loss: jax.Array) -> jax.Array:
    return jnp.where((bad < 0) & ~jnp.isfinite(loss), pos, bad)


def make_train_body(
    objective: Objective,
    tx: optax.GradientTransformation,
    *,
    batch: int,
    n: int,
    rng_names: Sequence[str] = ("dropout",),
    full_batch: bool = False,
    frozen_labels: Any = None,
    mesh: Mesh | None = None,
):
    """The step body ``(carry, data, order) -> carry`` (not jitted).

    With a ``mesh``, the gradient is computed with the batch split across its
    devices (:func:`~nnlang.train.devices.parallel_grad`); the state and the
    data must then be replicated on it.
    """
    split_grad = parallel_grad(objective, mesh) if mesh is not None else None

    def body(carry: Carry, data: Data, order: jax.Array) -> Carry:
        state = carry.state
        x, y, mask = gather(data, order, carry.pos, batch, n)
        rngs = step_rngs(state.rng, state.step, rng_names)

        def loss_fn(params):
            return objective(
                params, state.model_state, x, y, mask, train=True, rngs=rngs
            )

        if split_grad is None:
            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (loss, (sums, model_state)), grads = grad_fn(state.params)
        else:
            (loss, (sums, model_state)), grads = split_grad(
                state.params, state.model_state, x, y, mask, rngs
            )
        if full_batch:
            if frozen_labels is not None:
                grads = zero_frozen(grads, frozen_labels)
            updates, opt_state = tx.update(
                grads,
                state.opt_state,
                state.params,
                value=loss,
                grad=grads,
                value_fn=lambda p: loss_fn(p)[0],
            )
        else:
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
        if state.plateau is not None:
            updates = optax.tree.scale(state.plateau.scale, updates)
        params = optax.apply_updates(state.params, updates)
        new_state = TrainState(
            state.step + 1, params, model_state, opt_state, state.plateau, state.rng
        )
        return Carry(
            new_state,
            _add(carry.sums, sums),
            carry.pos + 1,
            _flag(carry.bad, carry.pos, loss),
        )

    return body


def make_eval_step(objective: Objective, mesh: Mesh | None = None):
    """``(sums, (params, model_state), batches, masks, i) -> sums``, jitted.

    Scores batch ``i`` of a split stacked ``[steps, batch, ...]`` (indexed inside
    the computation: one dispatch a batch). Evaluation takes batches, not the
    whole split, so every split of the same batch size shares one compilation;
    its sums buffer is donated. With a ``mesh`` the batch is split across it.
    """
    if mesh is None:

        def batch_sums(params, model_state, x, y, mask):
            return objective(params, model_state, x, y, mask, train=False)[1][0]

    else:
        batch_sums = parallel_sums(objective, mesh)

    def step(sums: dict, variables: tuple, batches: Data, masks: jax.Array,
             i: jax.Array) -> dict:  # fmt: skip
        params, model_state = variables
        x, y = jax.tree.map(lambda a: a[i], batches)
        return _add(sums, batch_sums(params, model_state, x, y, masks[i]))

    return jax.jit(step, donate_argnums=0)


def fuse(body: Callable[..., Carry], sums: Any) -> Callable[..., Carry]:
    """``(state, *args, stop) -> Carry``: ``body`` from a fresh carry until ``stop``.

    The carry (``sums`` zeroed, position 0) is made inside the loop's
    computation, so an epoch costs one dispatch.
    """

    def run(state: TrainState, *args: Any) -> Carry:
        from nnlang.layers.flaxops import tracing_loop

        *rest, stop = args
        carry = fresh_carry(state, sums)
        with tracing_loop():  # lowerings pick their in-loop form (fastconv.py)
            return lax.while_loop(
                lambda c: c.pos < stop, lambda c: body(c, *rest), carry
            )

    return run


class StepFns(NamedTuple):
    """A jitted step ``(carry, data, order) -> carry`` and a fused epoch
    ``(state, data, order, stop) -> carry``; argument 0 is donated."""

    step: Callable[..., Carry]
    epoch: Callable[..., Carry]


def jit_fns(body: Callable[..., Carry], sums: Any) -> StepFns:
    """Jit ``body`` per step and fused (from a fresh carry), donating argument 0."""
    return StepFns(
        jax.jit(body, donate_argnums=0), jax.jit(fuse(body, sums), donate_argnums=0)
    )


def zero_sums(objective: Objective, variables: tuple, data: Data) -> dict[str, Any]:
    """Zeros shaped like the sums of one batch (a fresh epoch's ``Carry.sums``)."""
    one = jax.tree.map(lambda a: a[:1], data)

    def sums():
        return objective(*variables, one[0], one[1], jnp.ones(1), train=False)[1][0]

    shapes = jax.eval_shape(sums)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def fresh_carry(state: TrainState | None, sums: dict[str, Any], pos: int = 0) -> Carry:
    """A carry at step ``pos`` of an epoch with zeroed sums."""
    zeros = jax.tree.map(jnp.zeros_like, sums)
    return Carry(state, zeros, jnp.asarray(pos, jnp.int32), jnp.asarray(-1, jnp.int32))


def epoch_order(
    key: Any, epoch: int, n: int, length: int, shuffle: bool = True
) -> np.ndarray:
    """Indices for one epoch: a permutation of ``n`` (or ``arange``) wrapped to ``length``.

    A function of ``key`` (a PRNG key's data, e.g. ``jax.random.PRNGKey(s)``) and
    ``epoch`` alone, so a resumed run draws the same orders. Drawn on the host
    with numpy (see the module doc).
    """
    if shuffle:
        seed = [int(v) for v in np.asarray(key).ravel()] + [int(epoch)]
        base = np.random.default_rng(seed).permutation(n)
    else:
        base = np.arange(n)
    return np.resize(base.astype(np.int32), (length,))


def summarize(
    sums: Mapping[str, Any], metrics: Mapping[str, tuple[str, Metric]], prefix: str = ""
) -> dict[str, float]:
    """Host-side epoch logs from sums (device or host arrays): mean losses and
    metric results."""
    host = jax.device_get(sums)
    count = max(float(host["count"]), 1.0)
    logs = {prefix + "loss": float(host["loss"]) / count}
    for key, value in host.items():
        if key.endswith("_loss"):
            logs[prefix + key] = float(value) / count
    for key, (_, metric) in metrics.items():
        logs[prefix + key] = metric.result(
            {k: np.asarray(v) for k, v in host[key].items()}
        )
    return logs
