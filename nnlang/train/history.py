"""What training reports: :class:`History`, callbacks, early stopping, and the
two ways a run ends early (:class:`TrainingInterrupted`, :class:`TrainingDiverged`).

Epochs are numbered from 1 everywhere a user sees them (rows, callbacks,
messages); steps within an epoch likewise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang.train.config import EarlyStop


@dataclass(frozen=True)
class RunInfo:
    """Facts about a run, given to :meth:`Callback.on_train_begin`.

    Attributes:
        epochs: the last epoch number.
        initial_epoch: epochs already done (a resumed run starts after them).
        steps_per_epoch: optimiser steps per epoch.
        n_train: training examples.
        batch: examples per step.
        fused: whether epochs run as one compiled loop.
        fuse_note: why (``"measured 1.3x faster"``, ``"fuse_epochs = true"``).
        keys: the training log names (``loss``, ``accuracy``; ``val_`` added).
        devices: devices each batch is split across (``data_parallel``).
    """

    epochs: int
    initial_epoch: int
    steps_per_epoch: int
    n_train: int
    batch: int
    fused: bool
    fuse_note: str
    keys: tuple[str, ...]
    devices: int = 1


class Callback:
    """Hooks :func:`~nnlang.train.loop.fit` calls; override the ones you need.

    ``on_step_end`` runs on the host after each step is *dispatched* (per-step
    epochs only; a fused epoch is one call): the device may still be working.
    ``peek()`` returns the running epoch logs and waits for the device, so
    call it sparingly (a progress bar calls it a few times a second).
    Raising ``KeyboardInterrupt`` from any hook interrupts training as Ctrl-C.
    """

    def on_train_begin(self, info: RunInfo) -> None:
        """Called once before the first epoch runs."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Called before epoch ``epoch`` (1-based) is read back; a fused epoch
        may already be running (see :meth:`may_run_ahead`)."""

    def may_run_ahead(self, epoch: int) -> bool:
        """Whether fused epoch ``epoch`` may start before the one before it is
        read back and before ``on_epoch_begin(epoch)``. Return False when that
        hook must run first (it blocks, or changes what the epoch does)."""
        return True

    def on_step_end(
        self, epoch: int, step: int, peek: Callable[[], dict[str, float]]
    ) -> None:
        """Called after step ``step`` (1-based) of ``epoch`` was dispatched."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Called with the epoch's row: losses, metrics, ``val_*``, ``lr``, ``time``."""

    def on_train_end(self, history: History) -> None:
        """Called once after the last epoch, before the test split is scored."""


@dataclass
class History:
    """One row per epoch, the final variables and the test metrics.

    Attributes:
        rows: per epoch: ``epoch``, ``loss``, metrics, ``val_*``, ``lr``, ``time``.
        test: metrics on the test split (empty when it has no rows).
        variables: the trained variables (best epoch's if restored).
        best_epoch: the early-stopping best epoch, or None.
        stopped_early: whether early stopping ended the run.
        fused: whether epochs ran fused.
        devices: devices each batch was split across.
        run_dir: where files and checkpoints were written, or None.
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    test: dict[str, float] = field(default_factory=dict)
    variables: dict[str, Any] | None = field(default=None, repr=False)  # not a screenful
    best_epoch: int | None = None
    stopped_early: bool = False
    fused: bool = False
    devices: int = 1
    run_dir: Path | None = None

    def __getitem__(self, key: str) -> list[float]:
        """The values of ``key`` per epoch (Keras' ``history.history[key]``)."""
        return [row[key] for row in self.rows if key in row]

    @property
    def history(self) -> dict[str, list[float]]:
        """Every logged value per epoch, keyed as Keras' ``History.history`` is."""
        keys = dict.fromkeys(k for row in self.rows for k in row if k != "epoch")
        return {k: self[k] for k in keys}

    @property
    def epochs(self) -> int:
        return len(self.rows)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a callback's KeyboardInterrupt) stopped training.

    Attributes:
        checkpoint: the checkpoint written at the interruption, or None.
        run_dir: the run directory to pass to ``--resume``, or None.
        epoch: the epoch that was running (1-based).
        step: steps done in it.
        history: the rows so far.
    """

    def __init__(
        self,
        message: str,
        *,
        checkpoint: Path | None,
        run_dir: Path | None,
        epoch: int,
        step: int,
        history: History,
    ):
        super().__init__(message)
        self.message = message
        self.checkpoint, self.run_dir = checkpoint, run_dir
        self.epoch, self.step, self.history = epoch, step, history

    def __str__(self) -> str:
        return self.message


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite.

    Attributes:
        message: names the epoch and the step.
        hint: what to try.
        epoch: the epoch (1-based).
        step: the first step in it with a non-finite loss (1-based).
        global_step: the same step counted from the start of training.
        checkpoint: the last good checkpoint, or None.
        history: the rows of the epochs that completed.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str,
        epoch: int,
        step: int,
        global_step: int,
        checkpoint: Path | None,
        history: History,
    ):
        super().__init__(message)
        self.message, self.hint = message, hint
        self.epoch, self.step, self.global_step = epoch, step, global_step
        self.checkpoint, self.history = checkpoint, history

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})"


@dataclass
class EarlyStopper:
    """Tracks the monitored value; says when to stop and which epoch was best.

    Examples:
        >>> s = EarlyStopper(EarlyStop("val_loss", patience=2))
        >>> [s.update(e, {"val_loss": v}) for e, v in enumerate([3.0, 2.0, 2.5, 2.4], 1)]
        [False, False, False, True]
        >>> s.best_epoch, s.best
        (2, 2.0)
    """

    rule: EarlyStop
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0

    def update(self, epoch: int, logs: dict[str, float]) -> bool:
        """Record one epoch; True when training should stop after it."""
        value = logs.get(self.rule.monitor)
        if value is None or math.isnan(value):
            return False
        sign = 1.0 if self.rule.mode == "min" else -1.0
        if self.best is None or sign * (self.best - value) > self.rule.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return False
        self.wait += 1
        return self.wait >= self.rule.patience

    def to_json(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_json(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = (
            state["best"],
            state["best_epoch"],
            state["wait"],
        )
