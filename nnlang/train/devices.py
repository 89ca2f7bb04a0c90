"""Data parallelism over a host's devices: one shard of each batch per device.

XLA:CPU runs a small program on one core: the GEMMs of an LSTM time step
([64, 65] @ [65, 256]) and the fusions around them are too small to split, so
on a 2-core machine W3 kept one core idle. With one XLA device per core
(:func:`use_cpu_cores`), :func:`parallel_grad` gives each device its share of
the batch under ``shard_map`` and sums the gradients (``psum``): W3's fused
epoch ran 1.6x faster on two devices, W5's 1.2x; W1's MLP ran 0.84x (the
all-reduce costs more than splitting a 0.7 ms step saves), so ``data_parallel = auto``
measures (:mod:`nnlang.train.fusion`).

Every device holds the whole state and the whole split (replicated); each
gathers the batch and takes its rows, so nothing but the gradients and the
metric sums crosses devices. The step is the same computation as on one
device, to float rounding (the gradient is summed in another order), except:

* dropout draws each shard's masks from its own key (``fold_in`` of the
  device index), so the masks differ from a one-device run's;
* models with batch statistics (``batchnorm``) stay on one device: each shard
  would normalise by its own half of the batch;
* full-batch optimisers (``lbfgs``) re-evaluate the loss inside the update
  and stay on one device too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"
# Guards for many-core machines, not measured (this one has two cores): each
# device holds a copy of the training split, and a shard of a few rows is all
# overhead. ``use_cpu_cores(n)`` or ``jax_num_cpu_devices`` sets more devices.
MAX_CPU_DEVICES = 8
MIN_ROWS = 8


def use_cpu_cores(count: int | None = None) -> int | None:
    """Give XLA:CPU one device per core, if JAX has not started its backends.

    Call before the first use of JAX (``nnc`` and the benchmarks do); a count
    the user set (``jax_num_cpu_devices``, or XLA's
    ``--xla_force_host_platform_device_count``) is kept. Computations not
    placed otherwise still run on device 0, as before.

    Returns:
        The count set, or None when nothing was changed.
    """
    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        started = True  # cannot tell: leave JAX's count alone
    if (
        started
        or jax.config.jax_num_cpu_devices != -1
        or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    ):
        return None
    count = count or min(len(os.sched_getaffinity(0)), MAX_CPU_DEVICES)
    if count < 2:
        return None
    jax.config.update("jax_num_cpu_devices", count)
    return count


def data_mesh(batch: int) -> Mesh | None:
    """A mesh of the most devices (at least two) that split ``batch`` evenly
    into shards of at least MIN_ROWS rows."""
    devices = jax.devices()
    most = min(len(devices), batch // MIN_ROWS)
    count = next((n for n in range(most, 1, -1) if batch % n == 0), 1)
    return Mesh(np.array(devices[:count]), (AXIS,)) if count > 1 else None


def replicate(tree: Any, mesh: Mesh, *, copy: bool = False) -> Any:
    """``tree`` on every device of ``mesh``.

    The result may share the first device's buffers with ``tree`` (even with
    ``device_put(may_alias=False)``); ``copy`` makes it independent, as state
    that a step donates must be when ``tree`` lives on.
    """
    placed = jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
    return jax.tree.map(jnp.copy, placed) if copy else placed


def to_one_device(tree: Any) -> Any:
    """``tree`` on the default device (a replicated array keeps its own copy)."""
    return jax.device_put(tree, jax.devices()[0])


def parallel_grad(objective: Callable[..., Any], mesh: Mesh) -> Callable[..., Any]:
    """``(params, model_state, x, y, mask, rngs) -> ((loss, (sums, model_state)), grads)``.

    What ``jax.value_and_grad(objective, has_aux=True)`` gives for the whole
    batch, computed with the batch split across ``mesh``. ``objective`` means
    its loss over its shard's real rows (plus the penalty), so each shard's
    loss and gradient are scaled by its row count, summed, and divided by the
    batch's: the mean over all real rows, with the penalty counted once. Sums
    of losses and metrics add.
    """
    rep, split = PartitionSpec(), PartitionSpec(AXIS)

    def shard(params, model_state, x, y, mask, rngs):
        index = lax.axis_index(AXIS)
        rngs = {name: jax.random.fold_in(key, index) for name, key in rngs.items()}

        def loss_fn(p):
            return objective(p, model_state, x, y, mask, train=True, rngs=rngs)

        (loss, (sums, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        # One all-reduce a step: XLA:CPU pays a rendezvous per collective, and
        # psums per leaf made W1's step 1.35 ms where one flat psum takes 0.91.
        # The sums are of loss x rows, so the total row count divides once.
        count = jnp.sum(mask)
        scaled = jax.tree.map(lambda g: g * count, (loss, grads))
        total, scaled, sums = _flat_psum((count, scaled, sums))
        inv = 1.0 / jnp.maximum(total, 1.0)
        mean = lambda g, like: (g * inv).astype(like.dtype)  # noqa: E731 (bf16 stays)
        return jax.tree.map(mean, scaled, (loss, grads)), sums

    mapped = jax.shard_map(
        shard,
        mesh=mesh,
        in_specs=(rep, rep, split, split, split, rep),
        out_specs=(rep, rep),
        check_vma=False,  # the outputs are psums: the same on every device
    )

    def value_and_grad(params, model_state, x, y, mask, rngs):
        (loss, grads), sums = mapped(params, model_state, x, y, mask, rngs)
        return (loss, (sums, model_state)), grads

    return value_and_grad


def _flat_psum(tree: Any) -> Any:
    """``psum`` of every leaf as one concatenated vector (one collective)."""
    flat, unravel = ravel_pytree(tree)
    return unravel(lax.psum(flat, AXIS))


def parallel_sums(objective: Callable[..., Any], mesh: Mesh) -> Callable[..., Any]:
    """``(params, model_state, x, y, mask) -> sums`` in eval mode, split across ``mesh``."""
    rep, split = PartitionSpec(), PartitionSpec(AXIS)

    def shard(params, model_state, x, y, mask):
        _, (sums, _) = objective(params, model_state, x, y, mask, train=False)
        return _flat_psum(sums)

    return jax.shard_map(
        shard,
        mesh=mesh,
        in_specs=(rep, rep, split, split, split),
        out_specs=rep,
        check_vma=False,
    )
