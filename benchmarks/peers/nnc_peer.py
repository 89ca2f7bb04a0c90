"""The row being judged: nnc's own training path, as ``nnc run`` drives it.

:class:`NncTrainer` calls :func:`nnlang.train.loop.fit` on a
:class:`~nnlang.lower.CompiledModel` of the workload's graph with the train
block's config (``fuse_epochs = auto``: fit measures and picks fused or
per-step epochs itself), exactly as :func:`nnlang.run.run_file` does, minus
the run directory and the persistent XLA cache (compile times here are cold
compiles, as for every other peer).

``fit`` runs all its epochs in one call, so to interleave it with the other
peers it runs in a thread and a callback gates each epoch: the runner
releases ``k`` epochs and waits until the ``k``-th has ended. The threads
meet once a round, not once an epoch; the training thread's wake-up at the
round's start is inside the measured time, microseconds against a round of
about two seconds. When the runner is done the gate stops ``fit`` at the
next epoch boundary (so the test split is never scored). ``fit`` runs a fused
epoch ahead of the host only once the gate has released it
(``Gate.may_run_ahead``), so no epoch runs while the other peers are timed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from benchmarks.peers.base import CompileClock, Startup

WAIT_S = 1800.0  # give up on a silent training thread after this long


class _Stopped(Exception):
    """Raised from the gate to end ``fit`` early."""


def initial_variables(task: Any) -> dict[str, Any]:
    """nnc's initial variables for ``task`` (``params`` and any batch statistics).

    Taken from :func:`nnlang.train.setup.build_setup` itself, so they are the
    arrays ``fit`` starts from: same seed, same key split, same data sample.
    """
    from nnlang.lower import CompiledModel
    from nnlang.train.setup import build_setup

    prepared = task.prepared
    setup = build_setup(
        CompiledModel(prepared.graph), prepared.data, prepared.config, splits=()
    )
    return {"params": setup.state.params, **setup.state.model_state}


def _gate_class() -> type:
    from nnlang.train.history import Callback

    class Gate(Callback):
        """Lets ``fit`` start an epoch only when the runner has released one.

        Counters under one condition variable: the runner releases ``k``
        epochs and sleeps until the last of them ends, so neither thread wakes
        the other once per epoch (on a busy core each wake-up is a GIL
        hand-off inside the measured time).
        """

        def __init__(self) -> None:
            self.cond = threading.Condition()
            self.allowed = self.started = self.ended = 0
            self.stop = False
            self.failed = False
            self.info: Any = None
            self.rows: list[dict] = []

        def on_train_begin(self, info: Any) -> None:
            self.info = info

        def on_epoch_begin(self, epoch: int) -> None:
            with self.cond:
                while self.started >= self.allowed and not self.stop:
                    self.cond.wait()
                if self.stop:
                    raise _Stopped
                self.started += 1

        def may_run_ahead(self, epoch: int) -> bool:
            """Only a released epoch: none may run while the other peers do."""
            with self.cond:
                return self.started < self.allowed and not self.stop

        def on_epoch_end(self, epoch: int, logs: dict) -> None:
            self.rows.append(logs)
            with self.cond:
                self.ended += 1
                if self.ended >= self.allowed:
                    self.cond.notify_all()

        def release(self, k: int) -> None:
            with self.cond:
                self.allowed += k
                self.cond.notify_all()

        def wait(self, timeout: float) -> bool:
            """Until every released epoch has ended (False: timed out or failed)."""
            with self.cond:
                ok = self.cond.wait_for(
                    lambda: self.ended >= self.allowed or self.failed, timeout
                )
            return ok and not self.failed

        def fail(self) -> None:
            with self.cond:
                self.failed = True
                self.cond.notify_all()

        def halt(self) -> None:
            with self.cond:
                self.stop = True
                self.cond.notify_all()

    return Gate


class NncTrainer:
    """nnc's ``fit`` in a thread, one gated epoch at a time."""

    def __init__(self, task: Any, max_epochs: int, fuse: bool | None = None):
        self.task = task
        self.max_epochs = max_epochs
        self.fuse = fuse
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Startup:
        from nnlang.lower import CompiledModel
        from nnlang.train.loop import fit

        prepared = self.task.prepared
        config = dataclasses.replace(prepared.config, epochs=self.max_epochs)
        if self.fuse is not None:
            config = dataclasses.replace(config, fuse_epochs=self.fuse)
        self.gate = _gate_class()()

        def train() -> None:
            try:
                model = CompiledModel(prepared.graph)
                fit(model, prepared.data, config, callbacks=[self.gate], verbose=0)
            except _Stopped:
                pass
            except BaseException as exc:  # reported by the waiting runner
                self.error = exc
                self.gate.fail()

        with CompileClock() as clock:
            t0 = time.perf_counter()
            self.thread = threading.Thread(target=train, daemon=True)
            self.thread.start()
            self._release(1)
            elapsed = time.perf_counter() - t0
        info = self.gate.info
        devices = f" on {info.devices} devices" if info.devices > 1 else ""
        kind = "fused" if info.fused else "per-step"
        note = f"{kind} epochs{devices} ({info.fuse_note})"
        return Startup(elapsed, clock.seconds, note)

    @property
    def fused(self) -> bool:
        return bool(self.gate.info.fused)

    @property
    def devices(self) -> int:
        return self.gate.info.devices

    def run_epochs(self, k: int) -> float:
        start = time.perf_counter()
        self._release(k)
        return time.perf_counter() - start

    def last_loss(self) -> float:
        return float(self.gate.rows[-1]["loss"])

    def close(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            return
        self.gate.halt()
        self.thread.join(timeout=60)

    def _release(self, k: int) -> None:
        self.gate.release(k)
        if not self.gate.wait(WAIT_S) or self.error:
            raise RuntimeError(f"nnc training failed: {self.error!r}")


def make(task: Any, max_epochs: int, fuse: bool | None = None) -> NncTrainer:
    """nnc's peer for ``task``, allowed ``max_epochs`` epochs in all.

    ``fuse`` overrides the train block's ``fuse_epochs`` (the diagnostic peers
    ``nnc_fused`` and ``nnc_step`` of ``run.py``); None keeps it (``auto``).
    """
    return NncTrainer(task, max_epochs, fuse)
