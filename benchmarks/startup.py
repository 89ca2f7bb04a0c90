"""Start-up: a first and a second ``nnc run`` of the same file, as whole processes.

``nnc run`` keeps compiled XLA programs (and its ``fuse_epochs = auto``
decisions) under ``$XDG_CACHE_HOME/nnlang``, so the second run of a file
skips compilation. Each repeat points ``XDG_CACHE_HOME`` at a new empty folder,
runs ``nnc run FILE --epochs 1`` twice (cold, then warm) and takes the wall
time of each process; the median over repeats is reported with the ratio.

Run alone: ``python -m benchmarks.startup [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.frontend import time_command
from benchmarks.suite import WORKLOADS, nnc_command

CASES = ("w1", "w2")  # a dense net and a CNN: small, their compile dominates


@dataclass(frozen=True)
class StartupTiming:
    """Median wall seconds of a cold and a warm ``nnc run`` of one workload."""

    label: str
    cold_s: float
    warm_s: float
    runs: int


def run_startup(repeats: int = 3, keys: tuple[str, ...] = CASES) -> list[StartupTiming]:
    """Cold and warm ``nnc run --epochs 1`` of each workload, ``repeats`` times."""
    samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in keys}
    for _ in range(repeats):
        for key in keys:
            workload = WORKLOADS[key]
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
                args = nnc_command(
                    "run", str(workload.path), "--epochs", "1", "--quiet",
                    "--out", str(Path(tmp) / "run"),
                )  # fmt: skip
                cold, warm = samples[key]
                cwd = workload.path.parent
                cold.append(time_command(args, 1, env=env, cwd=cwd))
                warm.append(time_command(args, 1, env=env, cwd=cwd))
    return [
        StartupTiming(
            f"nnc run {WORKLOADS[k].file} --epochs 1",
            statistics.median(samples[k][0]),
            statistics.median(samples[k][1]),
            repeats,
        )
        for k in keys
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for t in run_startup(args.repeats):
        print(
            f"{t.label:45s} first {t.cold_s:6.2f} s  second {t.warm_s:6.2f} s  "
            f"({t.cold_s / t.warm_s:.2f}x faster)"
        )


if __name__ == "__main__":
    main()
