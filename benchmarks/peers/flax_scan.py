"""Peer (b): peer (a)'s step body, a whole epoch in one jitted ``lax.scan``.

One dispatch per epoch instead of one per step; the state is donated as in
(a). This is the hand-written counterpart of nnc's fused epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from benchmarks.peers.flax_step import FlaxTrainer, TrainState


class ScanTrainer(FlaxTrainer):
    """(b): ``lax.scan`` of the step body over the epoch's batch indices."""

    def _build(self) -> None:
        super()._build()
        body, steps = self.body, self.task.steps

        def epoch(state: TrainState, x, y, perm) -> TrainState:
            def one(state, i):
                return body(state, x, y, perm, i), None

            state, _ = lax.scan(one, state, jnp.arange(steps, dtype=jnp.int32))
            return state

        self.epoch_fn = jax.jit(epoch, donate_argnums=0)

    def _run(self, state: TrainState, perm: jax.Array) -> TrainState:
        return self.epoch_fn(state, self.x, self.y, perm)


def make(task: Any, variables: Mapping[str, Any]) -> ScanTrainer:
    """Peer (b) for ``task``, starting from ``variables``."""
    return ScanTrainer(task, variables)
