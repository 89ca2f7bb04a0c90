"""Train every example in full and check the target it promises (prints a table).

    python examples/check_targets.py            # all of them, a few minutes on a laptop CPU

Each row: the example, the metric on the test split, its target, seconds taken.
Exit 1 if a target is missed. The test suite runs the same files shortened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# example -> (file holding the number, key, target, larger is better)
TARGETS = {
    "logistic_digits": ("metrics.json", "accuracy", 0.94, True),
    "mlp_digits": ("metrics.json", "accuracy", 0.97, True),
    "cnn_digits": ("metrics.json", "accuracy", 0.98, True),
    "digits_cnn": ("metrics.json", "accuracy", 0.98, True),
    "playground_spiral": ("metrics.json", "accuracy", 0.95, True),
    "lstm_sine": ("baseline.json", "improvement", 5.0, True),  # x better than last value
}


def main() -> int:
    failed = 0
    print(f"{'example':<20} {'metric':<12} {'value':>8} {'target':>8} {'time':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (file, key, target, larger) in TARGETS.items():
            out = Path(tmp) / name
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "nnlang.cli", "run",
                                  str(HERE / f"{name}.nn"), "--out", str(out), "--quiet"],
                                 capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if run.returncode != 0:
                print(f"{name:<20} failed:\n{run.stderr}")
                failed += 1
                continue
            value = json.loads((out / file).read_text())[key]
            ok = value >= target if larger else value <= target
            failed += not ok
            print(f"{name:<20} {key:<12} {value:>8.4f} {target:>8} {seconds:>5.0f}s"
                  f"{'' if ok else '  MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
