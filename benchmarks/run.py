"""Train the five workloads with nnc and its peers, interleaved; write RESULTS.md.

    python benchmarks/run.py [--quick] [--device cpu|gpu] [--only w1,w3]
                             [--peers nnc,a,b,c,d] [--no-frontend] [--no-startup]
                             [--out PATH]

For each workload every available peer first starts cold (build, compile, one
epoch: compile time and time to first step), then the peers take turns, one
round of ``k`` epochs each, for a warm-up round and the timed rounds; the
first peer of each round rotates so none is always first after another's
cache-thrashing turn. ``k`` is chosen per workload so a round of peer (a)
lasts about ``ROUND_S``. Peers whose package or device is missing are skipped
with a note. ``--device gpu`` runs W4 and W5 at larger batches in mixed
precision (bf16 compute, f32 parameters) and
adds model FLOP utilisation (MFU) from ``nnc summary``'s FLOPs. A CPU run and
a GPU run each rewrite only their own section of RESULTS.md.

The full CPU run takes about 15-20 minutes on a quiet 2-core machine;
``--quick`` (smaller data, fewer rounds) a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shlex
import statistics
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUNDS = {"quick": 3, "full": 7, "gpu": 5}  # gpu: the H200 run fits 480 s
ROUND_S = {"quick": 0.5, "full": 2.0, "gpu": 1.0}
WARMUP_ROUNDS = 1
SLOW_FACTOR = 8.0  # peers this much slower than the first get fewer rounds
SLOW_MIN_S = 5.0  # ...judged on their first epoch only when it took this long
PEERS = ("nnc", "a", "b", "c", "d")
# also accepted by --peers: nnc with fuse_epochs forced on or off (diagnostics)
EXTRA_PEERS = ("nnc_fused", "nnc_step")
# dense peak FLOP/s per device kind: (bf16, f32 as TF32), for MFU
PEAK_FLOPS = {
    "H100": (989e12, 495e12),
    "H200": (989e12, 495e12),
    "A100": (312e12, 156e12),
    "L4": (121e12, 60e12),
}
TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (2x) per example


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="nnc against hand-written Flax, Keras and PyTorch"
    )
    parser.add_argument("--quick", action="store_true", help="small data, 3 rounds")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--only", default="", help="workloads, e.g. w1,w4")
    parser.add_argument("--peers", default=",".join(PEERS), help="e.g. nnc,a,b")
    parser.add_argument("--rounds", type=int, help="timed rounds per workload")
    parser.add_argument("--no-frontend", action="store_true")
    parser.add_argument(
        "--no-startup", action="store_true", help="skip the cold/warm nnc run timing"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md"
    )
    return parser.parse_args(argv)


def select_platform(device: str) -> None:
    """Pin JAX to the device before it is imported (CPU even on a GPU machine)."""
    if "jax" in sys.modules:
        raise RuntimeError("select the JAX platform before importing jax")
    os.environ["JAX_PLATFORMS"] = "cpu" if device == "cpu" else "cuda"
    os.environ.setdefault("KERAS_BACKEND", "jax")
    # OpenMP workers that spin while waiting make PyTorch 20-30x slower when the
    # cores are shared (W1 here: 67-117 ms/step spinning, 4.6 ms passive); on a
    # quiet machine passive waiting costs little. Set it yourself to override.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if device == "cpu":  # as `nnc run` does: nnc's data_parallel may use the cores;
        from nnlang.train.devices import use_cpu_cores  # the peers use device 0

        use_cpu_cores()


def make_trainer(peer: str, task, variables, device: str):
    """The trainer of ``peer`` (imports its package lazily)."""
    if peer.startswith("nnc"):
        from benchmarks.peers import nnc_peer

        fuse = {"nnc": None, "nnc_fused": True, "nnc_step": False}[peer]
        return nnc_peer.make(task, max_epochs=10**6, fuse=fuse)
    if peer in ("a", "b"):
        from benchmarks.peers import flax_scan, flax_step

        return (flax_step if peer == "a" else flax_scan).make(task, variables)
    if peer == "c":
        from benchmarks.peers import keras_fit

        return keras_fit.make(task)
    from benchmarks.peers import torch_eager

    return torch_eager.make(task, device)


def peak_flops(precision: str) -> float | None:
    """The accelerator's dense peak for ``precision``, if known."""
    import jax

    kind = jax.devices()[0].device_kind
    for name, (bf16, f32) in PEAK_FLOPS.items():
        if name in kind:
            return bf16 if precision in ("bf16", "mixed") else f32
    return None


def bench_workload(key: str, mode: str, device: str, peers: list[str],
                   rounds: int, log) -> tuple:  # fmt: skip
    """Start every peer, interleave the rounds, summarise. Returns (result, notes)."""
    from benchmarks.peers.base import PeerUnavailable, first_step_s
    from benchmarks.peers.nnc_peer import initial_variables
    from benchmarks.report import PeerResult, WorkloadResult
    from benchmarks.suite import WORKLOADS, load_task

    task = load_task(WORKLOADS[key], mode)
    variables = initial_variables(task)
    result = WorkloadResult(
        key, task.workload.title, len(task.x), task.batch, task.precision, 1, rounds
    )
    trainers, startups, notes = {}, {}, []
    for peer in peers:
        out = PeerResult(peer)
        result.peers.append(out)
        try:
            trainer = make_trainer(peer, task, variables, device)
            startups[peer] = trainer.start()
            trainers[peer] = trainer
            out.note = startups[peer].note
            out.fused = getattr(trainer, "fused", None)
            out.devices = getattr(trainer, "devices", 1)
            log(f"  {peer}: started in {startups[peer].first_epoch_s:.2f} s "
                f"{out.note}")  # fmt: skip
        except PeerUnavailable as exc:
            out.note = f"skipped: {exc}"
            notes.append(f"{key} {peer} {out.note}")
            log(f"  {peer}: {out.note}")
        except Exception as exc:  # one broken peer must not cost the others' numbers
            traceback.print_exc()
            out.note = f"failed: {type(exc).__name__}: {exc}"[:200]
            notes.append(f"{key} {peer} {out.note}")
            log(f"  {peer}: {out.note}")
    if not trainers:
        raise RuntimeError(f"{key}: no peer started")
    base = "a" if "a" in trainers else next(iter(trainers))
    # the base's second epoch: its first after the others started can pay a
    # one-off cost (seconds on the H200 in W4) that would shrink k to 1
    epoch_s = min(trainers[base].run_epochs(1) for _ in range(2))
    k = max(1, math.ceil(ROUND_S[mode] / max(epoch_s, 1e-6)))
    result.epochs_per_round = k
    samples, slow = interleave(
        trainers, startups, base, k, epoch_s, task.steps, rounds, log
    )
    peak = peak_flops(task.precision) if device == "gpu" else None
    for out in result.peers:
        if out.peer not in trainers:
            continue
        trainer, start = trainers[out.peer], startups[out.peer]
        median = statistics.median(samples[out.peer])
        if out.peer in slow:
            out.note = "; ".join(filter(None, (out.note, slow[out.peer])))
        out.samples_per_s = k * len(task.x) / median
        out.round_s = list(samples[out.peer])
        step = median / (k * task.steps)
        out.step_ms = 1e3 * step
        out.compile_s = start.compile_s
        out.first_step_s = start.first_step_s or first_step_s(start, task.steps, step)
        out.loss = trainer.last_loss()
        if peak:
            flops = TRAIN_FLOPS_PER_FORWARD * task.flops * out.samples_per_s
            out.mfu = flops / peak
        trainer.close()
    gc.collect()
    return result, notes


def interleave(trainers: dict, startups: dict, base: str, k: int, epoch_s: float,
               steps: int, rounds: int, log
               ) -> tuple[dict[str, list[float]], dict[str, str]]:  # fmt: skip
    """Round-robin rounds of ``k`` epochs; seconds per round by peer, and notes.

    A peer more than ``SLOW_FACTOR`` times slower than ``base`` (whose epoch
    takes ``epoch_s``) is not given every round: on XLA:CPU a convolution
    inside ``lax.scan`` can run 30x slower, and W4 would then take an hour.
    When its first epoch, less compilation, already shows it, that epoch is
    its only sample. When the warm-up round shows it, one more epoch is timed:
    if that one is slow too it is the sample, else the peer stays (on the H200
    nnc's and (b)'s first W4 epoch after Keras and PyTorch started took ~4 s,
    40x their steady epoch). Compilation during the rounds is noted per peer.
    """
    from benchmarks.peers.base import CompileClock

    slow: dict[str, str] = {}
    timed: dict[str, list[tuple[int, float]]] = {p: [] for p in trainers}
    for peer, start in startups.items():
        # the first epoch less compilation and any directly timed first step
        # (PyTorch's first call pays seconds of one-time set-up under load)
        run_s = start.first_epoch_s - (start.compile_s or 0.0)
        if start.first_step_s is not None and steps > 1:
            run_s = (run_s - start.first_step_s) * steps / (steps - 1)
        judged = peer.startswith("nnc")  # nnc's start also times both epoch forms
        too_slow = run_s > max(SLOW_FACTOR * epoch_s, SLOW_MIN_S)
        if peer != base and not judged and too_slow:
            timed[peer].append((0, k * run_s))
            slow[peer] = f"timed on its first epoch ({run_s / epoch_s:.0f}x slower)"
    compiled: dict[str, float] = dict.fromkeys(trainers, 0.0)
    for r in range(WARMUP_ROUNDS + rounds):
        active = [p for p in trainers if p not in slow]
        for i in range(len(active)):
            peer = active[(r + i) % len(active)]
            with CompileClock() as clock:
                timed[peer].append((r, trainers[peer].run_epochs(k)))
            compiled[peer] += clock.seconds
        for peer in active:
            last = timed[peer][-1][1]
            if r < WARMUP_ROUNDS and last > SLOW_FACTOR * timed[base][-1][1]:
                # once more, one epoch: a one-off cost in the warm-up (the
                # H200 spent ~4 s in one W4 epoch of nnc and (b)) is no verdict
                again = trainers[peer].run_epochs(1)
                if again > SLOW_FACTOR * epoch_s:
                    timed[peer][-1] = (r, k * again)
                    slow[peer] = "timed on one epoch after a slow warm-up round"
                else:
                    log(f"  {peer}: warm-up {last / k / epoch_s:.0f}x {base}'s epoch, "
                        f"then {again / epoch_s:.1f}x: timed in full")  # fmt: skip
        log(f"  round {r + 1}/{WARMUP_ROUNDS + rounds} done")
    notes = dict(slow)
    for peer, seconds in compiled.items():
        if seconds > 0.01:  # a timed round must not compile: say so where one did
            note = f"compiled {seconds:.2f} s during the rounds"
            notes[peer] = "; ".join(filter(None, (slow.get(peer), note)))
            log(f"  {peer}: {note}")
    samples = {
        p: [s for r, s in pairs if r >= WARMUP_ROUNDS] or [s for _, s in pairs]
        for p, pairs in timed.items()
    }
    return samples, notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    select_platform(args.device)
    import jax

    try:
        jax.devices()
    except (RuntimeError, AssertionError) as exc:  # jax 0.10 asserts without cuda
        message = (
            f"--device {args.device}: JAX has no such backend here ({exc!r}); "
            "a GPU run needs a CUDA build of jaxlib"
        )
        raise SystemExit(message) from None
    from benchmarks import report
    from benchmarks.suite import WORKLOADS

    mode = "gpu" if args.device == "gpu" else ("quick" if args.quick else "full")
    keys = [k for k in args.only.split(",") if k] or list(WORKLOADS)
    if missing := sorted(set(keys) - set(WORKLOADS)):
        raise SystemExit(f"unknown workloads {missing}; choose from {list(WORKLOADS)}")
    peers = [p for p in args.peers.split(",") if p]
    unknown = sorted(set(peers) - set(PEERS + EXTRA_PEERS))
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; choose from {PEERS + EXTRA_PEERS}")
    rounds = args.rounds or ROUNDS[mode]
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    command = "python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None
                                                       else argv)  # fmt: skip
    info = report.machine()
    existing = args.out.read_text() if args.out.is_file() else None

    def write(results: list, notes: list[str], frontend=None, startup=None) -> None:
        section = report.render_run(
            results, frontend, info, command.strip(), mode, notes, startup
        )
        # whole or not at all: a run killed while writing keeps the last file
        partial = args.out.with_name(args.out.name + ".partial")
        partial.write_text(report.merge(existing, section))
        partial.replace(args.out)

    results, notes = [], []
    for i, key in enumerate(keys):
        log(f"{key}: {WORKLOADS[key].title}")
        try:
            result, more = bench_workload(key, mode, args.device, peers, rounds, log)
        except Exception as exc:  # e.g. a device's missing kernel: go on to the next
            traceback.print_exc()
            notes.append(f"{key} failed: {type(exc).__name__}: {exc}"[:300])
            log(f"{key}: failed")
            continue
        results.append(result)
        notes += more
        # a run cut short (a time limit, Ctrl-C) keeps the workloads it finished
        write(results, [*notes, f"Partial: the run stopped after {i + 1} of "
                                f"{len(keys)} workloads."])  # fmt: skip
    frontend = None
    if not args.no_frontend and args.device == "cpu":  # the CPU's process start-up
        from benchmarks.frontend import run_frontend

        log("front end")
        frontend = run_frontend(repeats=5 if mode == "quick" else 11)
    startup = None
    if not args.no_startup and args.device == "cpu":
        from benchmarks.startup import run_startup

        log("start-up: first and second nnc run")
        startup = run_startup(repeats=1 if mode == "quick" else 3)
    notes += run_notes(results, mode, time.perf_counter() - started)
    write(results, notes, frontend, startup)
    log(f"wrote the {report.section_kind(mode)} section of {args.out}")
    return 0


def run_notes(results: list, mode: str, seconds: float) -> list[str]:
    """Facts a reader of RESULTS.md needs beside the tables."""
    notes = [
        f"The whole run took {seconds / 60:.1f} minutes; "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')} (see run.py)."
    ]
    fused = [r.key for r in results if (p := r.peer("nnc")) and p.fused]
    notes.append(
        "nnc fused its epochs on: " + (", ".join(fused) if fused else "no workload")
        + " (fuse_epochs = auto measures both forms when training starts)."
    )  # fmt: skip
    split = [f"{r.key} ({p.devices})" for r in results
             if (p := r.peer("nnc")) and p.devices > 1]  # fmt: skip
    notes.append(
        "nnc split each batch across devices (one per core) on: "
        + (", ".join(split) if split else "no workload")
        + " (data_parallel = auto measures that too; the other peers run on one"
        " device, PyTorch on its intra-op threads)."
    )
    if mode == "gpu":
        notes.append(
            "The front end and the start-up of `nnc run` are timed in the CPU run."
        )
    if mode == "quick":
        notes.append(
            "Quick mode: smaller W3-W5 data and 3 timed rounds; a first look, "
            "not the numbers to quote."
        )
    return notes


if __name__ == "__main__":
    sys.exit(main())
