"""What a run directory records, and the checks that read it back.

``run.json`` (the file, train block, settings and data a run started with, and
each resume), ``summary.json`` (the model the weights fit), ``preprocess.npz``
(training statistics ``nnc predict`` applies again) and the checkpoints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlang.diagnostics import NnError, error
from nnlang.ir import Graph

if TYPE_CHECKING:
    from nnlang.run import Prepared


def check_resumable(run_dir: Path, path: Path, prepared: Prepared) -> None:
    """``--resume run_dir`` for ``path``: a user mistake raises a diagnostic here,
    before training, instead of failing inside the checkpoint restore."""
    from nnlang.train.checkpoint import has_checkpoint

    settings = run_settings(run_dir)
    source, train = settings.get("source"), settings.get("train")
    if (source, train) != (path.name, prepared.spec.name):
        raise NnError(error(
            "file", f"'{run_dir}' is a run of train '{train}' in {source}, not of "
                    f"train '{prepared.spec.name}' in {path.name}",
            hint=f"resume it with its own file: nnc run {source} --resume {run_dir}"))
    if not has_checkpoint(run_dir):
        raise NnError(error(
            "file", f"'{run_dir}' has no checkpoint to resume: the run stopped "
                    "before it saved one", hint="start it again without --resume"))
    models = [(run_dir, prepared.graph)]
    if settings.get("discriminator"):  # a GAN run keeps its second model's summary
        name = settings["discriminator"]
        models.append((run_dir / name, prepared.program.models.get(name)))
    for folder, graph in models:
        if graph is not None:
            check_model_fits(run_dir, graph, folder=folder)


def record_resume(run_dir: Path, overrides: Mapping[str, str] | None,
                  epochs: int | None, seed: int | None) -> None:
    """Append this resume's ``--set``, ``--epochs`` and ``--seed`` to run.json's
    ``resumes``: the top-level ``overrides``/``epochs``/``seed`` stay those the run
    started with, and the list tells what each resume changed after."""
    settings = run_settings(run_dir)
    settings.setdefault("resumes", []).append({
        "overrides": dict(overrides or {}), "epochs": epochs, "seed": seed,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    (run_dir / "run.json").write_text(json.dumps(settings, indent=2) + "\n")


def resume_recorder(run_dir: Path, overrides: Mapping[str, str] | None,
                    epochs: int | None, seed: int | None):
    """A training hook that calls :func:`record_resume` as training begins: a
    resume that fails before (a setting only the built model refutes, a
    checkpoint that does not restore) leaves run.json as it was."""
    from nnlang.train.history import Callback

    class RecordResume(Callback):
        def on_train_begin(self, info) -> None:
            record_resume(run_dir, overrides, epochs, seed)

    return RecordResume()


def check_model_fits(run_dir: Path, graph: Graph, *, folder: Path | None = None,
                     command: str = "resume") -> None:
    """The run's weights fit ``graph``, or a ``[file]`` diagnostic naming the first
    layer that differs from the run's ``summary.json`` (a model edited since, or
    another model): otherwise the checkpoint restore fails with a shape error.

    Args:
        run_dir: the run directory.
        graph: the model about to load its weights.
        folder: where that model's ``summary.json`` is (a GAN's second model has
            its own); default ``run_dir``.
        command: ``resume``, ``eval`` or ``predict``: words the message.
    """
    change = _model_change((folder or run_dir) / "summary.json", graph)
    if not change:
        return
    if command == "resume":
        raise NnError(error(
            "file", f"model '{graph.name}' changed since the run in '{run_dir}' "
                    f"started: {change}; its checkpoint does not fit it",
            hint=f"resume with the file as it ran (a copy is in '{run_dir}'), "
                 "or start a new run"))
    copy = run_settings(run_dir).get("source")
    raise NnError(error(
        "file", f"model '{graph.name}' is not the model trained in '{run_dir}': "
                f"{change}; its trained weights do not fit it",
        hint=f"{command} with the file as it ran (a copy is '{run_dir / copy}'), or "
             "train this model first" if copy and (run_dir / copy).is_file()
        else "train this model first: nnc run FILE"))


def _model_change(summary_file: Path, graph: Graph) -> str | None:
    """The first layer whose name, output shape or parameter count differs from
    the run's ``summary.json``; None when they agree (or there is none)."""
    from nnlang.summary import summarize

    if not summary_file.is_file():
        return None
    was, now = (
        [(r["name"], r["shape"], r["trainable"], r["non_trainable"]) for r in layers]
        for layers in (json.loads(summary_file.read_text())["layers"],
                       summarize(graph).to_json()["layers"])
    )
    for old, new in zip(was, now, strict=False):
        if old != new:
            return (f"layer {new[0]} is {new[1]} with {new[2] + new[3]:,} parameters, "
                    f"was {old[0]} {old[1]} with {old[2] + old[3]:,}")
    if len(was) != len(now):
        return f"it has {len(now)} layers, was {len(was)}"
    return None


PREPROCESS = "preprocess.npz"


def save_preprocessing(run_dir: Path, data) -> None:
    """Training-split statistics, so ``nnc predict`` treats new inputs the same way."""
    import numpy as np

    meta = data.meta or {}
    arrays = {k: np.asarray(meta[k]) for k in ("x_mean", "x_std")
              if k in meta and not isinstance(meta[k], Mapping)}
    if data.target_mean is not None and not isinstance(data.target_mean, Mapping):
        arrays["target_mean"] = np.asarray(data.target_mean)
        arrays["target_std"] = np.asarray(data.target_std)
    if "classes" in meta:
        arrays["classes"] = np.asarray([str(c) for c in meta["classes"]])
    from nnlang.data.predict import prediction_columns

    arrays |= prediction_columns(data)  # a CSV's columns, read by name at prediction
    np.savez(run_dir / PREPROCESS, **arrays)


def run_settings(run_dir: Path) -> dict[str, Any]:
    info = run_dir / "run.json"
    if not info.is_file():
        raise NnError(error("file", f"'{run_dir}' is not a run directory (no run.json)",
                            hint="pass the folder nnc run wrote, e.g. runs/model-..."))
    try:
        settings = json.loads(info.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = (f"not valid JSON ({exc.msg}, line {exc.lineno})"
               if isinstance(exc, json.JSONDecodeError) else "not text")
    else:
        if isinstance(settings, dict):
            return settings
        why = f"a JSON {type(settings).__name__}, not the object nnc run writes"
    raise NnError(error("file", f"'{info}' is damaged: it is {why}",
                        hint="nnc run writes it as a run starts; a run whose record is "
                             "lost cannot be resumed or scored: start a new run"))


def load_run_variables(run_dir: Path):
    from nnlang.train.checkpoint import load_variables

    try:
        return load_variables(run_dir)
    except FileNotFoundError:
        raise NnError(error("file", f"'{run_dir}' holds no trained weights")) from None


def recorded_data(prepared: Prepared) -> dict[str, Any]:
    """What fixes a run's splits, for run.json: the data setting as `.nn` text
    and the seed that shuffled it."""
    from nnlang.values import format_value

    data = prepared.spec.settings.get("data")
    return {"data": format_value(data), "data_seed": prepared.config.seed} if data else {}
