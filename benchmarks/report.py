"""RESULTS.md: the machine, the versions, the tables and the targets.

The file has a CPU section and a GPU section; each comes from one run of
``benchmarks/run.py``, which rewrites only its own (:func:`merge`). Ratios are
against peer (a) of the same workload in the same run.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PEER_NAMES = {
    "nnc": "nnc (`fit`, fuse_epochs=auto)",
    "nnc_fused": "nnc, fuse_epochs=true",
    "nnc_step": "nnc, fuse_epochs=false",
    "a": "(a) Flax+Optax, jitted step",
    "b": "(b) Flax+Optax, epoch in lax.scan",
    "c": "(c) Keras 3 (JAX) fit",
    "d": "(d) PyTorch eager",
}
PACKAGES = ("jax", "jaxlib", "flax", "optax", "keras", "torch", "numpy", "lark")


@dataclass
class PeerResult:
    """One peer on one workload."""

    peer: str
    samples_per_s: float | None = None
    step_ms: float | None = None
    compile_s: float | None = None
    first_step_s: float | None = None
    mfu: float | None = None
    loss: float | None = None
    note: str = ""
    fused: bool | None = None
    devices: int = 1  # devices nnc split each batch across (data_parallel)
    round_s: list[float] = field(default_factory=list)  # each timed round, in order


@dataclass
class WorkloadResult:
    """All peers on one workload, with the run's settings."""

    key: str
    title: str
    rows: int
    batch: int
    precision: str
    epochs_per_round: int
    rounds: int
    peers: list[PeerResult] = field(default_factory=list)

    def peer(self, name: str) -> PeerResult | None:
        return next((p for p in self.peers if p.peer == name and p.samples_per_s), None)


def machine() -> dict[str, str]:
    """CPU model, cores, memory, accelerator, OS, Python and package versions."""
    import jax

    info = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical",
        "memory": _memory(),
        "jax devices": ", ".join(sorted({d.device_kind for d in jax.devices()})),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for name in PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _ratio(value: float | None, base: float | None, invert: bool = False) -> str:
    if value is None or base is None or value <= 0 or base <= 0:
        return "–"
    return f"{(base / value if invert else value / base):.2f}×"


def round_ratios(peer: PeerResult, base: PeerResult | None) -> list[float]:
    """``peer``'s speed over ``base``'s in each timed round (the two ran in the
    same round, so a machine slowing down between rounds moves both); empty
    unless both were timed in every round."""
    if base is None or peer is base or len(peer.round_s) < 2:
        return []
    if len(peer.round_s) != len(base.round_s):
        return []
    return [b / s for s, b in zip(peer.round_s, base.round_s, strict=True)]


def _spread(peer: PeerResult, base: PeerResult | None) -> str:
    ratios = round_ratios(peer, base)
    return f" ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else ""


def workload_table(result: WorkloadResult, gpu: bool) -> list[str]:
    """Markdown rows of one workload: speed, compile and first step vs (a)."""
    base = result.peer("a")
    head = (
        "| peer | samples/s | × (a) | ms/step | compile s | × (a) | "
        "first step s | × (a) |" + (" MFU |" if gpu else "") + " loss | note |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for p in result.peers:
        if p.samples_per_s is None:
            lines.append(
                f"| {PEER_NAMES[p.peer]} |" + " – |" * (8 + gpu) + f" – | {p.note} |"
            )
            continue
        cells = [
            PEER_NAMES[p.peer],
            _num(p.samples_per_s, ",.0f"),
            _ratio(p.samples_per_s, base and base.samples_per_s) + _spread(p, base),
            _num(p.step_ms, ".2f"),
            _num(p.compile_s, ".2f"),
            _ratio(p.compile_s, base and base.compile_s),
            _num(p.first_step_s, ".2f"),
            _ratio(p.first_step_s, base and base.first_step_s),
        ]
        if gpu:
            cells.append("–" if p.mfu is None else f"{100 * p.mfu:.1f}%")
        cells += [_num(p.loss, ".4f"), p.note]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(results: Sequence[WorkloadResult]) -> list[str]:
    """The issue's targets for the nnc row, one line per workload."""
    lines = [
        "| workload | nnc ≥ 1.0× (a) | fused: nnc ≥ 1.2× (a) | nnc ≥ 1.3× Keras fit "
        "| nnc ≥ PyTorch |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        ours = r.peer("nnc")
        if ours is None:
            continue
        cells = [f"{r.key}"]
        for peer, need, only_fused in (
            ("a", 1.0, False),
            ("a", 1.2, True),
            ("c", 1.3, False),
            ("d", 1.0, False),
        ):
            other = r.peer(peer)
            if other is None or (only_fused and not ours.fused):
                cells.append("n/a (not fused)" if only_fused and other else "n/a")
                continue
            ratio = ours.samples_per_s / other.samples_per_s
            cells.append(
                f"{'✅' if ratio >= need else '❌'} {ratio:.2f}×{_spread(ours, other)}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


TITLE = "# nnlang benchmarks"
INTRO = (
    "Written by `benchmarks/run.py`. The CPU run (`python benchmarks/run.py`) and "
    "the GPU run (`python benchmarks/run.py --device gpu`) each replace only their "
    "own section, so the file keeps the newest run of each. Every ratio in a "
    "section comes from that one run, the peers interleaved round-robin."
)
KINDS = ("cpu", "gpu")  # the sections, in file order
_SECTION = re.compile(
    r"<!-- run: (?P<kind>\w+) -->\n.*?<!-- end run: (?P=kind) -->\n", re.DOTALL
)


def section_kind(mode: str) -> str:
    """The RESULTS.md section a run of ``mode`` writes: ``gpu`` or ``cpu``."""
    return "gpu" if mode == "gpu" else "cpu"


def merge(existing: str | None, section: str) -> str:
    """The whole RESULTS.md: ``section`` (from :func:`render_run`) in place of
    the old section of its kind in ``existing``, the other kind's kept.

    A file without section markers (or none) keeps nothing. A kind that has
    never run gets a line saying so, and the command that fills it.
    """
    sections = {m["kind"]: m[0] for m in _SECTION.finditer(existing or "")}
    new = _SECTION.match(section)
    if new is None:
        raise ValueError("not a RESULTS.md section: render it with render_run")
    sections[new["kind"]] = section
    out = [TITLE, "", INTRO, ""]
    for kind in KINDS:
        out.append(sections.get(kind) or _not_run(kind))
    return "\n".join(out)


def _not_run(kind: str) -> str:
    command = "python benchmarks/run.py" + (" --device gpu" if kind == "gpu" else "")
    return f"## {kind.upper()} run\n\nNot run yet: `{command}` writes this section.\n"


def render_run(
    results: Sequence[WorkloadResult],
    frontend: Sequence | None,
    info: dict[str, str],
    command: str,
    mode: str,
    notes: Sequence[str] = (),
    startup: Sequence | None = None,
) -> str:
    """One run's section of RESULTS.md, between its kind's markers."""
    gpu = mode == "gpu"
    kind = section_kind(mode)
    out = [
        f"<!-- run: {kind} -->",
        f"## {kind.upper()} run",
        "",
        f"Generated by `{command}` ({mode} mode) on {info['date']}.",
        "",
        "### Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items() if k != "date"],
        "",
        "### Training",
        "",
        "samples/s: median over the timed rounds of (training rows × epochs) / wall "
        "time, the epoch's loss read back to the host included. compile s: time JAX "
        "spent tracing, lowering and compiling while the peer started (for nnc "
        "that includes compiling and timing both epoch forms under "
        "`fuse_epochs = auto`). first step s: from building the model (data in "
        "memory) to the end of the first epoch, less the steady time of its other "
        "steps. loss: the last timed epoch's mean training loss (a sanity check; "
        "Keras and PyTorch start from their own initialisation). A ratio's "
        "(low–high) is the range of the same ratio taken round by round (each "
        "round times every peer back to back): how far this machine's noise "
        "moves it.",
        "",
    ]
    for r in results:
        out += [
            f"#### {r.key.upper()}: {r.title}",
            "",
            f"{r.rows} training rows, batch {r.batch}, {r.precision}, Adam; "
            f"{r.rounds} timed rounds of {r.epochs_per_round} epoch(s) per peer.",
            "",
            *workload_table(r, gpu),
            "",
        ]
    out += ["### Targets (nnc's samples/s against each peer)", "", *targets(results)]
    if frontend:
        out += [
            "",
            "### Front end (whole process, median wall time)",
            "",
            "| command | median s | target | runs |",
            "|---|---|---|---|",
        ]
        for t in frontend:
            target = "–"
            if t.target_s is not None:
                ok = "✅" if t.median_s <= t.target_s else "❌"
                target = f"{ok} < {t.target_s} s"
            out.append(f"| `{t.label}` | {t.median_s:.3f} | {target} | {t.runs} |")
    if startup:
        out += [
            "",
            "### Start-up (whole `nnc run` process, median wall time)",
            "",
            "The first run of a file in an empty cache folder against the second, "
            "which finds its compiled programs in the persistent XLA cache "
            "(`$XDG_CACHE_HOME/nnlang`).",
            "",
            "| command | first s | second s | × faster | runs |",
            "|---|---|---|---|---|",
        ]
        for t in startup:
            out.append(
                f"| `{t.label}` | {t.cold_s:.2f} | {t.warm_s:.2f} | "
                f"{t.cold_s / t.warm_s:.2f}× | {t.runs} |"
            )
    if notes:
        out += ["", "### Notes", "", *[f"- {n}" for n in notes]]
    out.append(f"<!-- end run: {kind} -->")
    return "\n".join(out) + "\n"
