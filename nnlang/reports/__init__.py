"""What ``nnc run`` writes after training besides metrics: baselines, pictures.

A report is a function of the finished run. It returns a small JSON-able dict
(written to ``<run>/<name>.json``) or None when it does not apply to this
model and data; it may also write files (PNGs) into the run directory and
print one line when ``verbose``. Reports are chosen by what the data and model
are, never by the example's name, so every user's file gets them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """Everything a report may look at once training is over."""

    prepared: Any  # nnlang.run.Prepared
    model: Any  # nnlang.lower.CompiledModel
    history: Any  # nnlang.train.history.History (its .variables are the trained ones)
    run_dir: Path
    verbose: int

    def activations(self) -> dict[str, str | None]:
        """Each output's activation as the loss read it (``predict``'s
        ``activations``): a linear classifier's logits become probabilities."""
        from nnlang.train.setup import output_activations

        return output_activations(self.model, self.prepared.config, self.prepared.data)


Report = Callable[[RunContext], dict[str, Any] | None]

REPORTS: dict[str, Report] = {}
"""name -> report; the name is also the JSON file's stem."""


def report(name: str) -> Callable[[Report], Report]:
    """Register a report under ``name`` (a decorator)."""

    def register(fn: Report) -> Report:
        REPORTS[name] = fn
        return fn

    return register


def write_reports(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Run every report that applies; write ``<name>.json`` for each."""
    from nnlang.reports import baselines, images, regression  # noqa: F401  (registers)

    written = {}
    for name, fn in REPORTS.items():
        result = fn(ctx)
        if result is not None:
            (ctx.run_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
            written[name] = result
    return written
