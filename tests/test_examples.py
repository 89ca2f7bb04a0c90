"""Every example runs end to end (shortened to a few epochs) and beats chance clearly.

The full-length targets are checked by examples/check_targets.py (minutes, not
seconds); this keeps every example runnable as the language evolves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.nn"))
pytestmark = pytest.mark.jax

# metric, the bar a short run must clear (chance: 0.1 for digits, 0.5 for the spiral)
BARS = {
    "logistic_digits": ("accuracy", 0.8),
    "mlp_digits": ("accuracy", 0.8),
    "cnn_digits": ("accuracy", 0.6),
    "digits_cnn": ("accuracy", 0.6),
    "playground_spiral": ("accuracy", 0.6),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_learns(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    epochs = "20" if name == "playground_spiral" else "3"
    run = subprocess.run(
        [sys.executable, "-m", "nnlang.cli", "run", f"examples/{name}.nn", "--out", str(out),
         "--quiet", "--epochs", epochs], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    if name in BARS:
        key, bar = BARS[name]
        assert metrics[key] > bar, metrics
    if name == "lstm_sine":
        baseline = json.loads((out / "baseline.json").read_text())
        assert baseline["improvement"] > 1.0, baseline  # already beats the naive forecast
