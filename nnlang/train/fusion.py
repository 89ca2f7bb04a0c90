"""Choosing between a fused epoch (one compiled loop) and a loop of jitted steps.

A whole epoch in one ``lax.while_loop`` removes the per-step dispatch and is
faster for dense models (1.26x on an MLP on XLA:CPU), but XLA's convolutions
inside a loop fall off XLA:CPU's fast path (30x slower for a small CNN; the
convolution lowering switches to im2col inside a fused epoch for that reason,
see nnlang/layers/fastconv.py, but other layers may still differ). So for
``fuse_epochs = auto`` the loop measures: it runs a few steps of each on copies
of the real training state, after compiling both, and keeps the faster one.
The decision is cached in memory per model, backend, batch and optimiser, and,
once :func:`persist` names a file (``nnc run`` does, next to the XLA cache), on
disk: the next run of the same model skips the measurement (0.5-3 s, and a
second compile) and keeps the same choice.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import nnlang
from nnlang.train.step import Carry, StepFns

_CACHE: dict[Hashable, tuple[bool, str]] = {}
_DISK: Path | None = None  # a JSON file of decisions shared between processes
MEASURE_STEPS = 8  # steps a sample, unless a whole epoch is quicker than...
EPOCH_SAMPLE_S = 0.15  # ...this: then a sample is the whole epoch
BUDGET_S = 0.3  # repeat short measurements up to this long (both variants)
MAX_REPEATS = 20
MARGIN = (
    1.01  # fused must win by 1%: on a tie the per-step loop keeps callbacks per step
)


def cache_key(model: Any, params: Any, batch: int, extra: Hashable = ()) -> Hashable:
    """Model identity (name and parameter shapes), backend, batch and ``extra``."""
    shapes = tuple(
        (jax.tree_util.keystr(p), tuple(x.shape), str(x.dtype))
        for p, x in jax.tree_util.tree_leaves_with_path(params)
    )
    name = getattr(model, "name", None) or type(model).__qualname__
    return (name, shapes, jax.default_backend(), batch, extra)


def _copy(carry: Carry) -> Carry:
    return jax.tree.map(jnp.copy, carry)


def _timed(run: Callable[[Carry], Carry], carry: Carry) -> float:
    fresh = _copy(carry)
    jax.block_until_ready(fresh)
    start = time.perf_counter()
    jax.block_until_ready(run(fresh))
    return time.perf_counter() - start


def measure(fns: StepFns, carry: Carry, data: Any, order: jax.Array,
            steps: int) -> tuple[float, float]:  # fmt: skip
    """Seconds per step of the per-step loop and of the fused loop (``carry`` kept).

    Both variants are compiled and run once more before anything is timed (the
    first runs pay one-time costs: 9x a step for a small MLP, 5x for a CNN).
    A fused loop already 2x slower on a single step (the convolution-in-a-loop
    case, 30x on XLA:CPU) is not timed further; otherwise samples of ``k``
    steps of each are timed alternately (:func:`_interleaved`): a whole epoch
    when that takes under EPOCH_SAMPLE_S, else MEASURE_STEPS steps. A fused
    call has a fixed cost that its epoch amortises, so shorter samples mislead:
    one-step samples judged W5's fused epoch 0.80x per-step where it runs 1.5x
    (and 25 ms samples W3's 0.95x where it runs 1.05x).
    """

    def stepwise(n: int) -> Callable[[Carry], Carry]:
        def run(c: Carry) -> Carry:
            for _ in range(n):
                c = fns.step(c, data, order)
            return c

        return run

    def fused(n: int) -> Callable[[Carry], Carry]:
        return lambda c: fns.epoch(c.state, data, order, n)

    for warm in (stepwise(1), fused(1), stepwise(1), fused(1)):
        _timed(warm, carry)
    one_step = min(_timed(stepwise(1), carry) for _ in range(2))
    first = min(_timed(fused(1), carry) for _ in range(2))
    if first > 2 * one_step:
        return one_step, first
    k = steps if steps * one_step <= EPOCH_SAMPLE_S else min(steps, MEASURE_STEPS)
    return _interleaved(stepwise(k), fused(k), carry, k)


def _interleaved(a: Callable[[Carry], Carry], b: Callable[[Carry], Carry],
                 carry: Carry, k: int) -> tuple[float, float]:  # fmt: skip
    """Median seconds per step of ``a`` and ``b``, sampled alternately.

    A few steps of a small model take milliseconds: best-of-two samples gave
    ratios from 1.05x to 1.49x for the same MLP. Alternating samples (so both
    see the same machine) and repeating up to BUDGET_S makes the choice
    stable; a large model's samples are long, so two of each suffice.
    """
    times_a: list[float] = []
    times_b: list[float] = []
    while len(times_a) < 2 or (
        sum(times_a) + sum(times_b) < BUDGET_S and len(times_a) < MAX_REPEATS
    ):
        times_a.append(_timed(a, carry))
        times_b.append(_timed(b, carry))
    return statistics.median(times_a) / k, statistics.median(times_b) / k


def choose(
    setting: bool | str,
    key: Hashable,
    fns: StepFns,
    carry: Carry,
    data: Any,
    order: jax.Array,
    steps: int,
) -> tuple[bool, str]:
    """Whether to fuse epochs, and a note saying why.

    Args:
        setting: ``fuse_epochs``: ``True``, ``False`` or ``"auto"``.
        key: the cache key (see :func:`cache_key`).
        fns: the jitted step and fused epoch.
        carry: a carry at the start of an epoch (not consumed).
        data: the training arrays.
        order: an epoch order.
        steps: steps per epoch.
    """
    if isinstance(setting, bool):
        return setting, f"fuse_epochs = {'true' if setting else 'false'}"
    if steps <= 1:
        return False, "one step per epoch: nothing to fuse"
    if key in _CACHE:
        fused, note = _CACHE[key]
        return fused, note + " (cached)"
    stored = _load_decision(key)
    if stored is not None:
        _CACHE[key] = stored
        return stored[0], stored[1] + f" (cached in {_DISK})"
    per_step, per_fused = measure(fns, carry, data, order, steps)
    fused = per_fused * MARGIN < per_step
    ratio = per_step / per_fused if per_fused > 0 else float("inf")
    note = (
        f"measured {per_step * 1e3:.3f} ms/step per-step vs {per_fused * 1e3:.3f} "
        f"ms/step fused ({ratio:.2f}x)"
    )
    _CACHE[key] = (fused, note)
    _store_decision(key, fused, note)
    return fused, note


def persist(path: str | Path | None) -> None:
    """Keep decisions in the JSON file ``path`` across processes (None: memory only)."""
    global _DISK
    _DISK = Path(path) if path is not None else None


# Part of every stored decision's name, with nnlang's and JAX's versions: bump
# it when a lowering changes enough to change which epoch form wins, so that
# decisions measured with the old lowering are measured again.
LOWERING_REVISION = 2  # 2: im2col convs and 2-D matmuls everywhere on CPU


def _digest(key: Hashable) -> str:
    """A stable name for ``key`` (its repr: shapes, names and numbers), these
    lowerings and this JAX."""
    stamp = f"{nnlang.__version__}.{LOWERING_REVISION}|{jax.__version__}"
    return hashlib.sha256(f"{stamp}|{key!r}".encode()).hexdigest()[:32]


def _read_disk() -> dict[str, Any]:
    try:
        return json.loads(_DISK.read_text()) if _DISK is not None else {}
    except (OSError, ValueError):
        return {}  # missing or half-written: measure again


def _load_decision(key: Hashable) -> tuple[bool, str] | None:
    entry = _read_disk().get(_digest(key))
    if isinstance(entry, list) and len(entry) == 2:
        return bool(entry[0]), str(entry[1])
    return None


def _store_decision(key: Hashable, fused: bool, note: str) -> None:
    if _DISK is None:
        return
    table = _read_disk()
    table[_digest(key)] = [fused, note]
    try:
        _DISK.parent.mkdir(parents=True, exist_ok=True)
        tmp = _DISK.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1))
        tmp.replace(_DISK)  # atomic: a concurrent run reads the old or the new table
    except OSError:
        pass  # a read-only cache folder costs a measurement next time, nothing more


def clear_cache() -> None:
    """Forget measured decisions in memory (tests, benchmarks); the file stays."""
    _CACHE.clear()
