"""Like-for-like checks: the hand-written Flax baseline against nnc's compiled step.

Both start from nnc's initial variables, take the same batches in the same
order (nnc's epoch order) for a few Adam steps, and report the parameter
count, the mean training loss over those steps and the evaluation loss of the
trained variables on the first batch. Equal numbers mean the two sides train
the same model on the same data with the same loss and optimiser, so the
timings compare like with like. Used by ``tests/test_benchmarks.py`` and
printed by ``benchmarks/run.py --parity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax


@dataclass(frozen=True)
class Outcome:
    """What a few training steps gave one side."""

    params: int  # parameters and batch statistics, counted
    train_loss: float  # mean loss of the steps' batches, before each update
    eval_loss: float  # loss on the first batch after the steps, eval mode


def count(tree: Any) -> int:
    """Number of scalars in a pytree of arrays."""
    return sum(int(x.size) for x in jax.tree.leaves(tree))


def nnc_steps(task: Any, steps: int = 3) -> tuple[Outcome, dict, jax.Array]:
    """``steps`` steps of nnc's own jitted train step (``fit``'s per-step path).

    Returns:
        The outcome, nnc's initial variables (copied before any step) and the
        epoch order the steps took their batches from.
    """
    from nnlang.lower import CompiledModel
    from nnlang.train.setup import build_setup
    from nnlang.train.step import epoch_order, fresh_carry

    prepared = task.prepared
    setup = build_setup(
        CompiledModel(prepared.graph), prepared.data, prepared.config, splits=()
    )
    state = setup.state
    initial = jax.tree.map(jnp.copy, {"params": state.params, **state.model_state})
    order = epoch_order(
        setup.shuffle_key, 0, setup.n_train, setup.steps * setup.batch, True
    )
    carry = fresh_carry(state, setup.zero_sums)
    for _ in range(steps):
        carry = setup.fns.step(carry, setup.train, order)
    sums = jax.device_get(carry.sums)
    x, y = (jax.tree.map(lambda a: a[order[: setup.batch]], d) for d in setup.train)
    mask = jnp.ones(setup.batch, jnp.float32)
    final = carry.state
    loss, _ = setup.objective(final.params, final.model_state, x, y, mask, train=False)
    outcome = Outcome(
        count(initial),
        float(sums["loss"]) / float(sums["count"]),
        float(loss),
    )
    return outcome, initial, order


def flax_steps(task: Any, variables: dict, order: jax.Array, steps: int = 3
               ) -> Outcome:  # fmt: skip
    """``steps`` steps of the hand-written baseline (peer (a)'s step body)."""
    from benchmarks.peers.flax_models import build_model
    from benchmarks.peers.flax_step import (
        ADAM_EPS,
        init_state,
        make_loss,
        make_step_body,
    )

    model = build_model(task.workload.key, task.precision)
    tx = optax.adam(task.lr, eps=ADAM_EPS)
    step = jax.jit(make_step_body(model, tx, task.loss, task.batch))
    state = init_state(variables, tx, task.precision)
    x, y = jax.device_put((task.x, task.y))
    for i in range(steps):
        state = step(state, x, y, order, jnp.int32(i))
    first = order[: task.batch]
    loss, _ = make_loss(model, task.loss)(
        state.params, state.batch_stats, x[first], y[first], False
    )
    return Outcome(
        count({"params": state.params, "batch_stats": state.batch_stats}),
        float(state.loss_sum) / steps,
        float(loss),
    )


def check(task: Any, steps: int = 3) -> tuple[Outcome, Outcome]:
    """nnc's and the baseline's outcomes on ``task``."""
    ours, variables, order = nnc_steps(task, steps)
    return ours, flax_steps(task, variables, order, steps)
