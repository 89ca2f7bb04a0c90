"""Peer (a), the baseline: hand-written Flax + Optax, one jitted step per batch.

Written the way a JAX user trains an in-memory data set: the training arrays
go to the device once; each epoch draws a permutation on the device; the step
gathers its batch from the permutation inside the jitted function (no host
copies per step), updates Adam, accumulates the loss on the device, and
donates the whole state so XLA updates the buffers in place. The host reads
the loss once per epoch.

:func:`make_step_body` is shared with :mod:`benchmarks.peers.flax_scan`,
which runs the same body over a whole epoch in one ``lax.scan``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from benchmarks.peers.base import Startup, timed_start
from benchmarks.peers.flax_models import build_model

ADAM_EPS = 1e-7  # Keras' default, which nnc and the other peers use too


class TrainState(NamedTuple):
    """Everything a step updates (donated as a whole)."""

    params: Any
    batch_stats: Any  # {} for models without batchnorm
    opt_state: Any
    loss_sum: jax.Array  # f32: summed batch losses since the start


def make_loss(model: Any, loss: str) -> Callable[..., tuple[jax.Array, Any]]:
    """``(params, batch_stats, x, y, train) -> (mean loss, new batch_stats)``."""

    def loss_fn(params, batch_stats, x, y, train: bool):
        variables = {"params": params}
        if batch_stats:
            variables["batch_stats"] = batch_stats
        if batch_stats and train:
            out, updates = model.apply(
                variables, x, train=True, mutable=["batch_stats"]
            )
            batch_stats = updates["batch_stats"]
        else:
            out = model.apply(variables, x, train=train)
        out = out.astype(jnp.float32)
        if loss == "cross_entropy":
            per = optax.softmax_cross_entropy_with_integer_labels(out, y)
        else:
            per = jnp.mean(jnp.square(out - y), axis=-1)
        return jnp.mean(per), batch_stats

    return loss_fn


def make_step_body(model: Any, tx: optax.GradientTransformation, loss: str,
                   batch: int) -> Callable[..., TrainState]:  # fmt: skip
    """``(state, x, y, perm, i) -> state``: one Adam step on batch ``i`` of ``perm``."""
    loss_fn = make_loss(model, loss)

    def body(state: TrainState, x, y, perm, i) -> TrainState:
        idx = lax.dynamic_slice_in_dim(perm, i * batch, batch)
        xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (value, stats), grads = grad_fn(state.params, state.batch_stats, xb, yb, True)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, stats, opt_state, state.loss_sum + value)

    return body


def init_state(variables: Mapping[str, Any], tx: optax.GradientTransformation,
               precision: str) -> TrainState:  # fmt: skip
    """A fresh state from initial ``variables`` (copied: the state is donated).

    Under ``precision = bf16`` floating parameters are stored in bfloat16, as
    nnc stores them.
    """
    params = variables["params"]
    if precision == "bf16":
        params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    stats = variables.get("batch_stats", {})
    state = TrainState(params, stats, tx.init(params), jnp.zeros((), jnp.float32))
    return jax.tree.map(jnp.copy, state)


class FlaxTrainer:
    """Shared set-up of the hand-written peers; subclasses define the epoch."""

    def __init__(self, task: Any, variables: Mapping[str, Any]):
        self.task = task
        self.variables = variables
        self.epoch = 0
        self.state: TrainState | None = None
        self._total = self._last = 0.0

    def _build(self) -> None:
        task = self.task
        self.model = build_model(task.workload.key, task.precision)
        self.tx = optax.adam(task.lr, eps=ADAM_EPS)
        self.body = make_step_body(self.model, self.tx, task.loss, task.batch)
        self.x, self.y = jax.device_put((task.x, task.y))
        self.key = jax.random.PRNGKey(task.seed)
        self.state = init_state(self.variables, self.tx, task.precision)

    def start(self) -> Startup:
        def cold() -> str:
            self._build()
            self._epoch()
            return ""

        return timed_start(cold)

    def run_epochs(self, k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            self._epoch()
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return self._last

    def close(self) -> None:
        self.state = None

    def _epoch(self) -> None:
        perm = _permutation(self.key, self.epoch, len(self.task.x))
        self.state = self._run(self.state, perm)
        total = float(self.state.loss_sum)  # the host waits for the epoch here
        self._last = (total - self._total) / self.task.steps
        self._total = total
        self.epoch += 1

    def _run(self, state: TrainState, perm: jax.Array) -> TrainState:
        raise NotImplementedError


@partial(jax.jit, static_argnums=2)
def _permutation(key: jax.Array, epoch: int, n: int) -> jax.Array:
    return jax.random.permutation(jax.random.fold_in(key, epoch), n).astype(jnp.int32)


class StepTrainer(FlaxTrainer):
    """(a): a Python loop over a jitted, donating step."""

    def _build(self) -> None:
        super()._build()
        self.step = jax.jit(self.body, donate_argnums=0)

    def _run(self, state: TrainState, perm: jax.Array) -> TrainState:
        for i in range(self.task.steps):
            state = self.step(state, self.x, self.y, perm, np.int32(i))
        return state


def make(task: Any, variables: Mapping[str, Any]) -> StepTrainer:
    """Peer (a) for ``task``, starting from ``variables``."""
    return StepTrainer(task, variables)
