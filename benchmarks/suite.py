"""The five workloads and the task every peer trains: same data, batch, loss, optimiser.

A :class:`Workload` names its `.nn` file and, per mode, the ``--set`` overrides
that size it (data rows, batch, precision). :func:`load_task` runs nnc's own
front end (:func:`nnlang.run.prepare`: check, parse the train block, load and
split the data) once, and hands every peer the very same training arrays,
already shaped to the model's input, so no peer can differ in its data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import data_file, ensure_data

ROOT = Path(__file__).resolve().parent
WORKLOADS_DIR = ROOT / "workloads"
MODES = ("quick", "full", "gpu")


@dataclass(frozen=True)
class Workload:
    """One benchmark model and how each mode sizes it.

    Attributes:
        key: ``w1`` ... ``w5`` (also the hand-written models' key).
        title: a short description for the table.
        file: the `.nn` file under ``benchmarks/workloads``.
        sizes: mode → ``--set`` overrides (strings, as on the command line).
        data: ``(kind, const name)`` of a generated ``npz`` file, or None.
    """

    key: str
    title: str
    file: str
    sizes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    data: tuple[str, str] | None = None

    @property
    def path(self) -> Path:
        return WORKLOADS_DIR / self.file

    def overrides(self, mode: str) -> dict[str, str]:
        """The ``--set`` overrides for ``mode``, with generated-data paths."""
        sizes = dict(self.sizes.get(mode, {}))
        if self.data is not None:
            kind, const = self.data
            rows = int(sizes.pop("rows"))
            path = data_file(Path("data"), kind, rows)
            sizes[const] = json.dumps(str(path))  # a string literal for --set
        return sizes

    def ensure_data(self, mode: str) -> None:
        """Write this workload's generated data file for ``mode`` if missing."""
        if self.data is not None:
            rows = int(self.sizes[mode]["rows"])
            ensure_data(WORKLOADS_DIR / "data", self.data[0], rows)


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload("w1", "MLP 64-256-256-10, digits, batch 128", "w1_mlp.nn"),
        Workload(
            "w2", "CNN conv32-conv64-pool-128-10, digits 8x8x1, batch 128", "w2_cnn.nn"
        ),  # fmt: skip
        Workload(
            "w3",
            "LSTM(64)-dense(1), sine windows 50x1, batch 64, MSE",
            "w3_lstm.nn",
            {
                "quick": {"rows": "1600"},
                "full": {"rows": "3200"},
                "gpu": {"rows": "3200"},
            },  # fmt: skip
        ),
        Workload(
            "w4",
            "residual CNN (4 bottlenecks), 32x32x3 images, batch 64",
            "w4_resnet.nn",
            {
                "quick": {"rows": "320"},
                "full": {"rows": "1280"},
                "gpu": {"rows": "10240", "batch": "256", "precision": "mixed"},
            },
            data=("images", "images"),
        ),
        Workload(
            "w5",
            "transformer encoder (2 blocks, d=64, T=64), tokens, batch 64",
            "w5_transformer.nn",
            {
                "quick": {"rows": "640"},
                "full": {"rows": "2560"},
                "gpu": {"rows": "20480", "batch": "256", "precision": "mixed"},
            },
            data=("tokens", "tokens"),
        ),
    )
}


@dataclass
class Task:
    """What every peer trains, resolved once from the `.nn` file.

    Attributes:
        workload: the workload.
        mode: ``quick``, ``full`` or ``gpu``.
        x: training inputs, shaped as the model's input (``[n, *shape]``).
        y: training targets (int class ids, or float ``[n, k]`` for MSE).
        batch: examples per step.
        lr: Adam's learning rate (Keras' eps 1e-7 everywhere).
        loss: ``cross_entropy`` (sparse labels) or ``mse``.
        precision: ``f32``, ``bf16`` or ``mixed`` (bf16 compute, f32 parameters).
        seed: the train block's seed.
        flops: forward FLOPs per example (``nnc summary``).
        params: total parameters, non-trainable included (``nnc summary``).
        prepared: nnc's :class:`~nnlang.run.Prepared` (its own peer uses it).
    """

    workload: Workload
    mode: str
    x: np.ndarray
    y: np.ndarray
    batch: int
    lr: float
    loss: str
    precision: str
    seed: int
    flops: int
    params: int
    prepared: Any = None

    @property
    def steps(self) -> int:
        """Steps per epoch (the training rows are a whole number of batches)."""
        return len(self.x) // self.batch


def load_task(workload: Workload, mode: str) -> Task:
    """Check the workload's file, load its data and describe the task.

    Raises:
        ValueError: the training rows are not a whole number of batches (the
            peers would then differ in how they treat the last one).
    """
    from nnlang.run import prepare
    from nnlang.summary import summarize
    from nnlang.train.setup import split_arrays

    workload.ensure_data(mode)
    prepared = prepare(workload.path, overrides=workload.overrides(mode))
    config, graph = prepared.config, prepared.graph
    x = split_arrays(
        prepared.data.train.x, list(graph.inputs), _Shapes(graph), "inputs"
    )
    y = split_arrays(prepared.data.train.y, list(graph.outputs), None, "outputs")
    (x,), (y,) = x.values(), y.values()
    if len(x) % config.batch:
        raise ValueError(
            f"{workload.file}: {len(x)} training rows are not a whole number of "
            f"batches of {config.batch}"
        )
    summary = summarize(graph).to_json()
    return Task(
        workload=workload,
        mode=mode,
        x=x,
        y=y,
        batch=config.batch,
        lr=float(config.optimizer.params["lr"]),
        loss=str(config.loss[next(iter(graph.outputs))].name),
        precision=config.precision,
        seed=config.seed,
        flops=int(summary["flops"]),
        params=int(summary["total_params"]),
        prepared=prepared,
    )


class _Shapes:
    """The ``input_shapes`` view of a graph that ``split_arrays`` reshapes to."""

    def __init__(self, graph: Any):
        self.input_shapes = {
            name: tuple(graph.node(i).attrs["shape"])
            for name, i in graph.inputs.items()
        }


def nnc_command(*args: str) -> list[str]:
    """``nnc ARGS`` as a subprocess command line of this interpreter."""
    return [sys.executable, "-m", "nnlang.cli", *args]


def run_nnc(*args: str) -> subprocess.CompletedProcess:
    """Run ``nnc ARGS`` in a subprocess, output captured."""
    return subprocess.run(nnc_command(*args), capture_output=True, text=True)
