"""The two open questions of the H200 runs (RESULTS.md's GPU notes), in one
short script for the next session that has a GPU (``benchmarks/gpu.sh probe``).

1. Hand-written (a) ends W4 at a NaN loss on the GPU, in bf16 and in mixed
   precision, while (b), the same step body in ``lax.scan``, and nnc's fused
   epochs learn. Trains (a), (b) and nnc's per-step and fused epochs on W4 for
   a few epochs each and prints every epoch's loss and the first non-finite
   leaf of the state, if any: is it (a) alone, or every per-step W4 program?
2. nnc's and (b)'s W4 epoch compiled once more after Keras and PyTorch had
   started in the process. Runs (b) for two epochs, starts Keras and PyTorch,
   runs two more with ``jax_explain_cache_misses`` on, and prints the seconds
   compiled in each epoch: JAX's log then says which argument changed.

Prints as it goes; about two minutes on an H200. Usage::

    python benchmarks/gpu_probe.py [--epochs 8] [--device gpu]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    parser.add_argument("--rows", default="", help="W4's rows (default: the GPU run's)")
    parser.add_argument("--only", choices=("1", "2"), help="one question")
    parser.add_argument("--peer", default="b", help="question 2's peer (b: the GPU's)")
    args = parser.parse_args(argv)

    from benchmarks.run import make_trainer, select_platform

    select_platform(args.device)
    import jax

    from benchmarks.peers.base import CompileClock
    from benchmarks.peers.nnc_peer import initial_variables
    from benchmarks.suite import WORKLOADS, load_task

    print("jax", jax.__version__, jax.devices(), flush=True)
    workload = WORKLOADS["w4"]
    gpu = dict(workload.sizes["gpu"], **({"rows": args.rows} if args.rows else {}))
    task = load_task(replace(workload, sizes={**workload.sizes, "gpu": gpu}), "gpu")
    variables = initial_variables(task)
    print(f"W4: {len(task.x)} rows, batch {task.batch}, {task.precision}", flush=True)

    done: dict[int, int] = {}  # epochs run per trainer, the first included

    def epochs(name: str, trainer, n: int) -> None:
        for _ in range(n):
            e = done[id(trainer)] = done.get(id(trainer), 1) + 1
            with CompileClock() as clock:
                seconds = trainer.run_epochs(1)
            loss = trainer.last_loss()
            print(f"  {name} epoch {e}: loss {loss:.6g}  {seconds:.3f} s  "
                  f"compiled {clock.seconds:.2f} s", flush=True)  # fmt: skip
            if not math.isfinite(loss):
                print(f"  {name}: first non-finite leaf: {_non_finite(trainer)}")
                return

    if args.only != "2":
        print("\n1. the NaN: (a), (b), nnc per-step, nnc fused", flush=True)
    for peer in ("a", "b", "nnc_step", "nnc_fused") if args.only != "2" else ():
        t0 = time.perf_counter()
        trainer = make_trainer(peer, task, variables, args.device)
        try:
            trainer.start()
            print(f"  {peer}: started in {time.perf_counter() - t0:.1f} s, "
                  f"first epoch loss {trainer.last_loss():.6g}", flush=True)  # fmt: skip
            epochs(peer, trainer, args.epochs)
        except Exception as exc:  # noqa: BLE001 - nnc stops a diverged run: say so
            print(f"  {peer}: {type(exc).__name__}: {exc}"[:400], flush=True)
        trainer.close()

    if args.only == "1":
        return 0
    print(f"\n2. the second compile: ({args.peer}), then Keras and PyTorch start")
    b = make_trainer(args.peer, task, variables, args.device)
    b.start()
    epochs(args.peer, b, 2)
    for peer in ("c", "d"):
        try:
            other = make_trainer(peer, task, variables, args.device)
            other.start()
            other.close()
            print(f"  {peer} started and closed", flush=True)
        except Exception as exc:  # noqa: BLE001 - a missing peer: go on without it
            print(f"  {peer}: {type(exc).__name__}: {exc}", flush=True)
        jax.config.update("jax_explain_cache_misses", True)
        epochs(args.peer, b, 2)
        jax.config.update("jax_explain_cache_misses", False)
    return 0


def _non_finite(trainer) -> str:
    """The path of the first leaf of a hand-written peer's state holding nan/inf."""
    import jax
    import jax.numpy as jnp

    state = getattr(trainer, "state", None)
    if state is None:
        return "(nnc keeps its state inside fit)"
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        floating = jnp.issubdtype(leaf.dtype, jnp.floating)
        if floating and not bool(jnp.isfinite(leaf).all()):
            return jax.tree_util.keystr(path)
    return "none: the state is finite (the loss alone is not)"


if __name__ == "__main__":
    sys.exit(main())
