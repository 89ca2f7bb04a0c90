"""What a run shows and leaves behind: the progress bar, one printed row per
epoch, and the run directory's ``metrics.jsonl``, ``metrics.json`` and
``curves.png``.

:class:`Progress` is a :class:`~nnlang.train.history.Callback`. It never
forces a device sync per step: in per-step epochs it refreshes at most every
``refresh`` seconds (reading the running sums then), in fused epochs once per
epoch. ``verbose=0`` prints nothing; ``1`` shows the bar and the rows; ``2``
prints the rows only (for logs and non-terminals).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from nnlang.train.history import Callback, RunInfo

METRICS_ROWS = "metrics.jsonl"
METRICS_TEST = "metrics.json"
CURVES = "curves.png"
SKIP_IN_ROW = ("epoch", "time", "samples_per_s")


def format_value(key: str, value: Any) -> str:
    """A log value for the terminal: ``lr`` in scientific notation, others ``0.1234``."""
    if not isinstance(value, float | int) or isinstance(value, bool):
        return str(value)
    if key == "lr":
        return f"{value:.2e}"
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def format_row(row: Mapping[str, Any], epochs: int | None = None) -> str:
    """One epoch as an aligned line: ``epoch  3/20  loss 0.2345  val_loss ...``."""
    width = len(str(epochs)) if epochs else 1
    head = f"epoch {row['epoch']:>{width}}" + (f"/{epochs}" if epochs else "")
    parts = [head]
    parts += [
        f"{k} {format_value(k, v)}" for k, v in row.items() if k not in SKIP_IN_ROW
    ]
    if "time" in row:
        parts.append(f"{row['time']:.1f}s")
    if row.get("samples_per_s"):
        parts.append(f"{row['samples_per_s']:,.0f} samples/s")
    return "  ".join(parts)


def format_metrics(metrics: Mapping[str, float], title: str = "test") -> str:
    """Final metrics as one line: ``test  loss 0.1234  accuracy 0.9812``."""
    return "  ".join(
        [title] + [f"{k} {format_value(k, v)}" for k, v in metrics.items()]
    )


class Progress(Callback):
    """A rich progress bar plus one printed row per epoch.

    Args:
        verbose: 0 silent, 1 bar and rows, 2 rows only.
        console: a ``rich.console.Console`` (default: stderr-aware default).
        refresh: seconds between bar refreshes within an epoch.
    """

    def __init__(self, verbose: int = 1, console: Any = None, refresh: float = 0.5):
        self.verbose, self.refresh = verbose, refresh
        self.console = console
        self.bar: Any = None
        self.task: Any = None
        self.info: RunInfo | None = None
        self.last = 0.0
        self.epoch_start = 0.0

    def _print(self, text: str) -> None:
        if self.verbose:
            console = self.bar.console if self.bar else self._console()
            console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _console(self) -> Any:
        if self.console is None:
            from rich.console import Console

            self.console = Console()
        return self.console

    def note(self, text: str) -> None:
        """Print a one-line note above the bar (verbose only)."""
        self._print(text)

    def on_train_begin(self, info: RunInfo) -> None:
        self.info = info
        if self.verbose != 1:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[logs]}"),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=self._console(),
            transient=True,
        )
        total = (info.epochs - info.initial_epoch) * info.steps_per_epoch
        self.task = self.bar.add_task("", total=max(total, 1), logs="", speed="")
        self.bar.start()

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch_start = self.last = time.perf_counter()
        if self.bar is not None and self.info is not None:
            self.bar.update(self.task, description=f"epoch {epoch}/{self.info.epochs}")

    def on_step_end(
        self, epoch: int, step: int, peek: Callable[[], dict[str, float]]
    ) -> None:
        if self.bar is None or self.info is None:
            return
        now = time.perf_counter()
        if now - self.last < self.refresh:
            return
        self.last = now
        logs = peek()
        seen = step * self.info.batch
        speed = seen / max(now - self.epoch_start, 1e-9)
        self._show(epoch, step, logs, speed)

    def _show(
        self, epoch: int, step: int, logs: Mapping[str, float], speed: float
    ) -> None:
        info = self.info
        done = (epoch - 1 - info.initial_epoch) * info.steps_per_epoch + step
        shown = "  ".join(f"{k} {format_value(k, v)}" for k, v in logs.items())
        self.bar.update(self.task, completed=done, logs=shown, speed=f"{speed:,.0f}/s")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.bar is not None and self.info is not None:
            train = {k: v for k, v in logs.items() if k in self.info.keys}
            self._show(
                epoch, self.info.steps_per_epoch, train, logs.get("samples_per_s", 0.0)
            )
        if self.verbose:  # formatting a row costs ~35 us, 0.5% of a small epoch
            self._print(format_row(logs, self.info.epochs if self.info else None))

    def on_train_end(self, history: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar (idempotent)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# ---------------------------------------------------------------- files


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def write_rows(run_dir: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``metrics.jsonl``: one JSON object per epoch (NaN and inf as null)."""
    path = Path(run_dir) / METRICS_ROWS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(_clean(dict(r))) + "\n" for r in rows))
    return path


def append_row(run_dir: str | Path, row: Mapping[str, Any]) -> Path:
    """Append one epoch to ``metrics.jsonl``."""
    path = Path(run_dir) / METRICS_ROWS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(_clean(dict(row))) + "\n")
    return path


def read_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (empty if missing)."""
    path = Path(run_dir) / METRICS_ROWS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_test_metrics(run_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics.json``: the final metrics on the test split."""
    path = Path(run_dir) / METRICS_TEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(dict(metrics)), indent=2) + "\n")
    return path


def plot_curves(rows: list[Mapping[str, Any]], path: str | Path) -> Path:
    """Plot loss and metric curves, train against validation, to a PNG.

    One panel per quantity (``loss``, each metric); uses matplotlib's Agg
    canvas directly, so the caller's pyplot backend is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [
        k
        for k in (rows[0] if rows else {})
        if k not in SKIP_IN_ROW + ("lr",) and not k.startswith("val_")
    ]
    keys = keys or ["loss"]
    fig = Figure(figsize=(4.5 * len(keys), 3.6), dpi=100)
    fig.subplots_adjust(
        left=0.6 / len(keys) / 4.5 * 4, right=0.97, bottom=0.15, top=0.9, wspace=0.3
    )
    FigureCanvasAgg(fig)
    epochs = [r.get("epoch") for r in rows]
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        for name, style in ((key, "-"), ("val_" + key, "--")):
            values = [r.get(name) for r in rows]
            if any(v is not None for v in values):
                ax.plot(
                    epochs,
                    [math.nan if v is None else v for v in values],
                    style,
                    marker="o",
                    markersize=3,
                    label="val" if name != key else "train",
                )
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
