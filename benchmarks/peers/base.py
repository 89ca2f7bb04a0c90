"""What every peer implements, and the compile clock they share.

A peer is a factory ``make(task, device) -> Trainer``. The runner calls
:meth:`Trainer.start` once (build, compile, run the first epoch: the cold
start) and then :meth:`Trainer.run_epochs` round-robin with the other peers;
each call returns wall seconds, measured by the trainer around exactly the
training work and a read of the epoch's loss to the host (every peer must
finish its epoch before the clock stops).

Time to first step is not directly observable for peers that run a whole
epoch in one call (``lax.scan``, nnc's fused epochs), so every JAX peer is
measured the same way: the seconds from the start of :meth:`Trainer.start`
to the end of the first epoch, less the steady-state time of its other
``steps - 1`` steps (from the interleaved rounds). See :func:`first_step_s`.
PyTorch eager, whose start is well under the noise of that difference,
times its first step directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class PeerUnavailable(Exception):
    """A peer cannot run here (a package or device is missing); the runner skips it."""


@dataclass
class Startup:
    """The cold start of a trainer.

    Attributes:
        first_epoch_s: wall seconds from the start of building the model (data
            already in host memory) to the end of the first epoch.
        compile_s: seconds JAX spent tracing, lowering and compiling during the
            start (every jitted function the peer needed), or None for a peer
            that does not compile (PyTorch eager).
        note: what the peer wants recorded (nnc: fused or per-step, and why).
        first_step_s: the time to the first step where the peer observes it
            directly (PyTorch eager, which has no compile step to amortise);
            None to use :func:`first_step_s`.
    """

    first_epoch_s: float
    compile_s: float | None
    note: str = ""
    first_step_s: float | None = None


class Trainer(Protocol):
    """A model being trained on a task by one peer."""

    def start(self) -> Startup:
        """Build, compile and run the first epoch."""

    def run_epochs(self, k: int) -> float:
        """Train ``k`` more epochs; wall seconds, the last loss read to the host."""

    def last_loss(self) -> float:
        """The mean training loss of the last epoch (a sanity check)."""

    def close(self) -> None:
        """Release threads and memory."""


PeerFactory = Callable[[Any, str], Trainer]


class CompileClock:
    """Sums JAX's compile-phase durations while active (``with clock: ...``).

    JAX reports tracing, lowering and backend compilation through
    ``jax.monitoring``; a listener cannot be removed, so one is registered per
    process and feeds whichever clock is active. Only one peer starts at a
    time, so attributing every event to the active clock is exact.
    """

    _active: CompileClock | None = None
    _registered = False
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.seconds = 0.0

    @classmethod
    def _listen(cls, event: str, duration: float, **_: Any) -> None:
        clock = cls._active
        if clock is not None and event in COMPILE_EVENTS:
            clock.seconds += duration

    def __enter__(self) -> CompileClock:
        import jax

        with CompileClock._lock:
            if not CompileClock._registered:
                jax.monitoring.register_event_duration_secs_listener(
                    CompileClock._listen
                )
                CompileClock._registered = True
        CompileClock._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        CompileClock._active = None


def timed_start(build_and_first_epoch: Callable[[], str]) -> Startup:
    """Run a peer's cold start under a :class:`CompileClock` and a wall clock."""
    with CompileClock() as clock:
        t0 = time.perf_counter()
        note = build_and_first_epoch()
        elapsed = time.perf_counter() - t0
    return Startup(elapsed, clock.seconds, note or "")


def first_step_s(startup: Startup, steps: int, step_s: float) -> float:
    """Time to first step: the first epoch less ``steps - 1`` steady steps."""
    return max(startup.first_epoch_s - (steps - 1) * step_s, 0.0)


def jax_device(device: str) -> Any:
    """The JAX device for ``cpu`` or ``gpu``.

    Raises:
        PeerUnavailable: no such device.
    """
    import jax

    try:
        return jax.devices(device)[0]
    except RuntimeError as exc:
        raise PeerUnavailable(f"JAX has no {device} device ({exc})") from None
