"""``nnc run``: check, load data, compile, train, evaluate, write the run directory.

Every user mistake on the way (a bad setting, a missing data file, data that
does not fit the model's inputs) becomes a located diagnostic before anything
is compiled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang.check import load_checked
from nnlang.diagnostics import (
    Diagnostic,
    NnError,
    did_you_mean,
    error,
    render_all,
    warning,
)
from nnlang.ir import Graph, Program, TrainSpec
from nnlang.train.gan_config import is_gan
from nnlang.values import CallValue


@dataclass
class Prepared:
    """A train block resolved to its model graph, config and data."""

    program: Program
    spec: TrainSpec
    graph: Graph
    config: Any  # nnlang.train.config.TrainConfig
    data: Any    # nnlang.data.Dataset
    warnings: list[Diagnostic] = field(default_factory=list)
    """What ``nnc check`` warns about in the file: the caller's to show."""


WarningsHandler = Callable[[Sequence[Diagnostic]], None]
"""Given the checker's warnings as soon as the file is checked (``nnc run`` prints
them before data loads and training starts)."""


def select_train(program: Program, name: str | None) -> TrainSpec:
    if not program.trains:
        raise NnError(error("no-train", f"{program.path} has no train block",
                            hint="add one: train MODEL { data = digits ... }"))
    if name is None:
        return next(iter(program.trains.values()))
    if name not in program.trains:
        raise NnError(error("no-train", f"no train block named '{name}'",
                            hint=did_you_mean(name, program.trains)
                            or f"train blocks: {', '.join(program.trains)}"))
    return program.trains[name]


def _data_error(spec: TrainSpec, exc) -> NnError:
    span = spec.spans.get("data", spec.span)
    return NnError(error("data", exc.message, span, hint=exc.hint))


def load_dataset(spec: TrainSpec, base_dir: Path, seed: int):
    from nnlang.data import DataError, load_data
    from nnlang.data.registry import data_call

    source = spec.settings.get("data")
    if source is None:
        raise NnError(error("train-config", f"train block '{spec.name}' names no data",
                            spec.span, hint="data = digits(split=[0.8, 0.1, 0.1])"))
    source = data_call(source)  # data = iris: a call without arguments
    if not isinstance(source, CallValue):
        raise NnError(error("train-config", "data must name a data source, such as "
                            "digits or csv(\"file.csv\", target=y)", spec.spans.get("data")))
    try:
        data = load_data(source.name, source.args, source.kwargs, base_dir=base_dir,
                         seed=seed)
    except DataError as exc:
        raise _data_error(spec, exc) from None
    _warn_about_data(spec, data)
    return data


def _warn_about_data(spec: TrainSpec, data) -> None:
    """Print what the loader left out (a CSV's text columns): nothing goes silently."""
    span = spec.spans.get("data", spec.span)
    for message, hint in data.meta.get("warnings", ()):
        _warn(warning("data", message, span, hint=hint))


def check_data_fits(graph: Graph, data, spec: TrainSpec) -> None:
    """The data's per-example shapes must fit the model's inputs (element counts),
    and its token ids the embeddings they feed."""
    x_shape = data.x_shape if isinstance(data.x_shape, Mapping) else {
        next(iter(graph.inputs)): data.x_shape}
    if len(graph.inputs) != len(x_shape):
        raise NnError(error(
            "data-mismatch", f"the data has {len(x_shape)} input(s) but model "
            f"'{graph.name}' has {len(graph.inputs)}", spec.spans.get("data", spec.span)))
    for name, node_id in graph.inputs.items():
        node = graph.node(node_id)
        given = x_shape.get(name) if name in x_shape else list(x_shape.values())[
            list(graph.inputs).index(name)]
        want = node.attrs["shape"]
        if any(not isinstance(d, int) for d in want):
            if len(want) != len(given):
                raise _mismatch(node, given, spec)
            continue
        if _size(want) != _size(given):
            raise _mismatch(node, given, spec)
    from nnlang.data.fits import token_id_problems

    problems = token_id_problems(graph, data, spec)
    if problems:
        raise NnError(problems)


def check_targets_fit(graph: Graph, data, spec: TrainSpec) -> None:
    """Several targets pair with the model's outputs by name; one target, one output.

    A mismatch is the user's (a column named unlike its output), so it is a
    diagnostic at the data setting rather than an error inside training.
    """
    outputs = list(graph.outputs)
    targets = list(data.y_shape) if isinstance(data.y_shape, Mapping) else []
    span = spec.spans.get("data", spec.span)
    if not targets and len(outputs) > 1:
        raise NnError(error(
            "data-mismatch", f"model '{graph.name}' has {len(outputs)} outputs "
            f"({', '.join(outputs)}) but the data gives one target", span,
            hint=f"name a target for each output, e.g. target=[{', '.join(outputs)}]"))
    if targets and len(outputs) == 1 and outputs[0] not in targets:
        raise NnError(error(
            "data-mismatch", f"the data gives {len(targets)} targets "
            f"({', '.join(targets)}) but model '{graph.name}' has one output", span,
            hint="give one target, or an output for each"))
    for name in outputs if targets else ():
        if name not in targets:
            raise NnError(error(
                "data-mismatch", f"the data has no target for output '{name}' "
                f"(its targets: {', '.join(targets)})", span,
                hint=did_you_mean(name, targets)
                or "targets pair with outputs by name"))


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _mismatch(node, given, spec: TrainSpec) -> NnError:
    shown = "[" + ", ".join(str(d) for d in given) + "]"
    return NnError(error(
        "data-mismatch", f"input '{node.name}' is declared {node.type}, but the data gives "
        f"examples of shape {shown}", node.span,
        notes=[f"data: {spec.settings.get('data')!r} (line {spec.spans['data'].line})"
               if "data" in spec.spans else "data"],
        hint=f"declare it as input {node.name}: {shown} (or any shape with "
             f"{_size(given)} elements)"))


def config_error(exc, spec: TrainSpec) -> NnError:
    """A :class:`~nnlang.train.binding.TrainConfigError` as the user's mistake,
    located as ``nnc check`` locates it (:func:`setting_diagnostic`)."""
    from nnlang.train.diagnose import setting_diagnostic

    return NnError(setting_diagnostic(spec, exc))


def prepare(path: str | Path, *, train: str | None = None,
            overrides: Mapping[str, str] | None = None, epochs: int | None = None,
            seed: int | None = None, on_warnings: WarningsHandler | None = None
            ) -> Prepared:
    """Everything ``nnc run`` needs before compiling, or NnError.

    The checker's warnings are not printed (a library call stays quiet): they
    are on the result, and go to ``on_warnings`` first, before anything can fail.
    """
    from nnlang.train.config import TrainConfigError, parse_train_settings

    path = Path(path)
    program, checked = load_checked(path, overrides)
    warnings = [d for d in checked.sorted_diagnostics() if not d.is_error]
    if warnings and on_warnings is not None:
        on_warnings(warnings)
    spec = select_train(program, train)
    if is_gan(spec.settings):
        from nnlang.run_gan import prepare_gan

        prepared = prepare_gan(program, spec, path, epochs=epochs, seed=seed)
        return dataclasses.replace(prepared, warnings=warnings)
    if len(spec.models) != 1:
        raise NnError(error("train-config", "training several models together is not "
                            "supported yet", spec.span,
                            hint="loss = gan trains a generator against a discriminator"))
    graph = program.models[spec.models[0]]
    try:
        config = parse_train_settings(spec.settings, outputs=list(graph.outputs))
    except TrainConfigError as exc:
        raise config_error(exc, spec) from None
    changes = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    config = dataclasses.replace(config, **changes)
    data = load_dataset(spec, path.parent, config.seed)
    check_data_fits(graph, data, spec)
    if config.epochs > 0:  # epochs = 0 trains and scores nothing: targets unused
        check_targets_fit(graph, data, spec)
        check_loss_fits(graph, data, spec, config, checked.sources)
    return Prepared(program, spec, graph, config, data, warnings)


def check_loss_fits(graph: Graph, data, spec: TrainSpec, config, sources) -> None:
    """The checker's loss-against-targets rules, for targets only loading could
    tell (a CSV's whole numbers read as classes): a loss that cannot fit is an
    error before training, not a run stuck at loss 0."""
    from nnlang.train.targets import loaded_target_info, validate_targets

    info = loaded_target_info(spec, data)
    if info is None:
        return
    diags = validate_targets(spec, graph, config, info=info)
    if info.task != "regression":
        why = (f"the data's targets read as {info.classes} classes (a few distinct whole "
               "numbers); for values to regress, add task=regression to the data call")
        diags = [dataclasses.replace(d, notes=(*d.notes, why)) for d in diags]
    errors = [d for d in diags if d.is_error]
    for d in diags:
        if not d.is_error:
            _warn(d)
    if errors:
        raise NnError(errors)


@contextlib.contextmanager
def stop_on_ctrl_c():
    """Ctrl-C stops training at the next step boundary, never inside a save.

    A KeyboardInterrupt raised at an arbitrary point can land inside an orbax
    checkpoint write or an XLA call and leave the process hanging. The first
    Ctrl-C only sets a flag; the callback raises KeyboardInterrupt from a
    training hook, where the loop saves a checkpoint cleanly. A second Ctrl-C
    stops at once.
    """
    import signal
    import sys
    import threading

    from nnlang.train.history import Callback

    class StopOnSignal(Callback):
        requested = False

        def _check(self, *args) -> None:
            if self.requested:
                raise KeyboardInterrupt

        on_epoch_begin = on_epoch_end = _check

        def on_step_end(self, epoch, step, peek) -> None:
            self._check()

    stopper = StopOnSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return

    def handle(signum, frame):
        if stopper.requested:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        stopper.requested = True
        print("\nstopping after this step (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stopper
    finally:
        signal.signal(signal.SIGINT, previous)


def default_run_dir(path: Path, spec: TrainSpec) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{path.stem}-{spec.name}-{stamp}"


def initial_variables(model, prepared: Prepared, base_dir: Path):
    """Weights from ``init_from``: another run's, matched by layer path."""
    config = prepared.config
    if not config.init_from:
        return None
    import jax

    from nnlang.train.checkpoint import load_variables, merge_variables

    source = Path(config.init_from)
    if not source.is_absolute():
        source = base_dir / source
    try:
        loaded = load_variables(source)
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise NnError(error("train-config", f"init_from: cannot load weights from "
                            f"'{config.init_from}': {exc}",
                            prepared.spec.spans.get("init_from"))) from None
    fresh = model.init(jax.random.key(config.seed), model.sample_inputs())
    merged, matched, _ = merge_variables(fresh, loaded)
    if matched == 0:
        raise NnError(error("train-config", f"init_from: no layer of '{config.init_from}' "
                            "matches this model's layer names",
                            prepared.spec.spans.get("init_from")))
    return merged


def run_file(path: str | Path, *, train: str | None = None,
             overrides: Mapping[str, str] | None = None, epochs: int | None = None,
             seed: int | None = None, out: str | Path | None = None,
             resume: str | Path | None = None, verbose: int = 1,
             on_warnings: WarningsHandler | None = None):
    """Train the file's train block; return (History, run directory).

    ``on_warnings`` gets what ``nnc check`` warns about in the file, before
    training (see :func:`prepare`).
    """
    from nnlang.train.devices import use_cpu_cores

    use_cpu_cores()  # before JAX starts: data_parallel may split batches over cores
    from nnlang.lower import CompiledModel
    from nnlang.summary import summarize
    from nnlang.train.loop import enable_compilation_cache, fit

    path = Path(path)
    prepared = prepare(path, train=train, overrides=overrides, epochs=epochs, seed=seed,
                       on_warnings=on_warnings)
    hooks = []
    if resume is not None:
        check_resumable(Path(resume), path, prepared)
        hooks.append(resume_recorder(Path(resume), overrides, epochs, seed))
    if is_gan(prepared.spec.settings):
        from nnlang.run_gan import run_gan

        return run_gan(path, prepared, overrides=overrides, epochs=epochs, seed=seed,
                       out=out, resume=resume, verbose=verbose, callbacks=hooks)
    from nnlang.train.config import TrainConfigError
    from nnlang.train.setup import output_activations

    check_fits_in_memory(prepared.graph)
    run_dir = Path(resume or out or default_run_dir(path, prepared.spec))
    run_dir.mkdir(parents=True, exist_ok=True)
    model = CompiledModel(prepared.graph)
    if not resume:
        shutil.copyfile(path, run_dir / path.name)
        (run_dir / "summary.json").write_text(
            json.dumps(summarize(prepared.graph).to_json(), indent=2) + "\n")
        (run_dir / "run.json").write_text(json.dumps({
            "source": path.name, "train": prepared.spec.name,
            "model": prepared.graph.name, "overrides": dict(overrides or {}),
            "epochs": epochs, "seed": seed, **recorded_data(prepared),
            "activations": output_activations(model, prepared.config, prepared.data),
        }, indent=2) + "\n")
        save_preprocessing(run_dir, prepared.data)
    enable_compilation_cache()
    variables = None if resume else initial_variables(model, prepared, path.parent)
    try:
        with stop_on_ctrl_c() as stopper:
            history = fit(model, prepared.data, prepared.config, verbose=verbose,
                          out_dir=run_dir, resume=resume, variables=variables,
                          callbacks=[stopper, *hooks])
    except TrainConfigError as exc:  # a setting only the built model refutes
        raise config_error(exc, prepared.spec) from None
    except Exception as exc:
        if is_out_of_memory(exc):
            raise out_of_memory_error(prepared.graph, exc) from None
        raise
    from nnlang.reports import RunContext, write_reports

    write_reports(RunContext(prepared, model, history, run_dir, verbose))
    return history, run_dir


def is_out_of_memory(exc: BaseException) -> bool:
    """XLA's allocation failure (``JaxRuntimeError: RESOURCE_EXHAUSTED``)."""
    return "RESOURCE_EXHAUSTED" in str(exc) or isinstance(exc, MemoryError)


def memory_of_machine() -> tuple[int | None, str]:
    """The memory the model's arrays live in, in bytes, and its name: the
    accelerator's when JAX runs on one, else the machine's RAM (None: unknown)."""
    import os

    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        limit = (device.memory_stats() or {}).get("bytes_limit")
        return limit, f"{device.platform.upper()} memory"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "memory"
    except (ValueError, OSError, AttributeError):
        return None, "memory"


OUT_OF_MEMORY_HINT = ("make the model smaller (fewer units or filters; a conv or pooling "
                      "before a dense layer), or lower batch if a batch's activations are "
                      "the excess; nnc summary FILE shows each layer's parameters")


def out_of_memory_error(graph: Graph | None, exc: BaseException | None = None
                        ) -> NnError:
    """Too large a model or batch as the user's mistake, not a bug.

    With the model at hand, its parameters' size against the machine's memory
    (training needs about four times the parameters: weights, gradients and two
    Adam moments, plus the activations of a batch). Without it (``nnc``'s last
    resort, the failure caught far from the model), XLA's own first line.
    """
    if graph is None:
        reason = _allocation_failure(exc) if exc is not None else ""
        return NnError(error("out-of-memory",
                             f"out of memory: {reason or 'an allocation failed'}",
                             hint=OUT_OF_MEMORY_HINT))
    from nnlang.summary import format_bytes, summarize

    summary = summarize(graph)
    total = summary.total
    memory, where = memory_of_machine()
    has = f"; this machine has {format_bytes(memory)} of {where}" if memory else ""
    largest = max(summary.rows, key=lambda r: r.params, default=None)
    node = next((n for n in graph.nodes if largest and n.name == largest.name), None)
    notes = [f"the largest layer, {largest.name}, has {largest.params:,} parameters"
             ] if largest and largest.params else []
    return NnError(error(
        "out-of-memory", f"model '{graph.name}' does not fit in memory: its {total:,} "
                         f"parameters take {format_bytes(4 * total)} as float32 (about "
                         f"{format_bytes(16 * total)} to train with adam){has}",
        node.span if node else graph.span, notes=notes, hint=OUT_OF_MEMORY_HINT))


def _allocation_failure(exc: BaseException) -> str:
    """The first line of XLA's message after ``RESOURCE_EXHAUSTED:`` (the rest is
    XLA's internals), or the exception's own text."""
    text = str(exc)
    if "RESOURCE_EXHAUSTED:" in text:
        text = text.partition("RESOURCE_EXHAUSTED:")[2]
    return text.strip().split("\n")[0]


def check_fits_in_memory(graph: Graph) -> None:
    """Refuse, before allocating anything, a model whose parameters alone exceed
    the machine's memory: allocating it may get the process killed, not raise."""
    from nnlang.summary import summarize

    memory, _ = memory_of_machine()
    if memory and 4 * summarize(graph).total > memory:
        raise out_of_memory_error(graph)


def check_resumable(run_dir: Path, path: Path, prepared: Prepared) -> None:
    """``--resume run_dir`` for ``path``: a user mistake raises a diagnostic here,
    before training, instead of failing inside the checkpoint restore."""
    from nnlang.train.checkpoint import has_checkpoint

    settings = _run_settings(run_dir)
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
    settings = _run_settings(run_dir)
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
    copy = _run_settings(run_dir).get("source")
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


def load_inputs(path: Path, graph: Graph, prep: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """Read INPUT for ``nnc predict``: .npy, .npz (by input name, or x) or .csv
    (feature columns by name when it has a header and ``prep`` records them)."""
    import numpy as np

    from nnlang.data import DataError
    from nnlang.data.predict import read_prediction_csv

    if path.is_dir():
        raise NnError(error("file", f"'{path}' is a folder; name a .npy, .npz or .csv "
                                    "file of examples"))
    if not path.is_file():
        raise NnError(error("file", f"no such file: '{path}'"))
    suffix = path.suffix.lower()
    names = list(graph.inputs)
    try:
        if suffix == ".npy":
            arrays = {names[0]: np.load(path, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if all(n in z for n in names):
                    arrays = {n: z[n] for n in names}
                elif len(names) == 1 and "x" in z:
                    arrays = {names[0]: z["x"]}
                else:
                    raise NnError(error("file", f"{path} holds "
                                        f"{', '.join(z.files) or 'no arrays'}; "
                                        f"expected arrays named {', '.join(names)}"))
        elif suffix == ".csv":
            arrays = {names[0]: read_prediction_csv(path, prep or {})}
        else:
            raise NnError(error("file", f"cannot read '{path}': use .npy, .npz or .csv"))
    except DataError as exc:  # a CSV's missing column or bad cell is named
        code = "data-mismatch" if exc.arg == "columns" else "file"
        raise NnError(error(code, exc.message, hint=exc.hint)) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None
    return arrays


def _unreadable(path: Path, exc: Exception) -> NnError:
    """numpy's reason when it can read the file's format at all; otherwise say
    which format it is not (numpy's own advice, to load it as a pickle, is unsafe
    and never what a file of examples needs)."""
    suffix = path.suffix.lower()
    text = str(exc)
    if suffix in (".npy", ".npz") and ("pickle" in text or isinstance(
            exc, (EOFError, zipfile.BadZipFile)) or "magic string" in text
            or "format version" in text):
        kind = "a .npy file" if suffix == ".npy" else "a .npz archive"
        return NnError(error("file", f"'{path}' is not {kind} (numpy cannot read it)",
                             hint="save examples with np.save (.npy) or np.savez (.npz), "
                                  "or write a .csv with one example a row"))
    return NnError(error("file", f"cannot read '{path}': {text}"))


def _check_examples(path: Path, name: str, x) -> None:
    """``x`` holds numbers, at least one example, and no nan or inf: a model scores
    nan as a confident class 0, so such a row is the user's to fix, not to predict."""
    from nnlang.data.arrays import nonfinite_rows

    what = f"'{path}'" + (f" (array '{name}')" if path.suffix.lower() == ".npz" else "")
    if x.dtype.kind not in "biuf":
        raise NnError(error(
            "data-mismatch", f"{what} holds {x.dtype} values, not numbers",
            hint="save the examples as numbers: np.save(path, x.astype('float32'))"))
    if x.ndim > 0 and len(x) == 0:
        raise NnError(error("data-mismatch", f"{what} has no examples (its shape is "
                                             f"{list(x.shape)})"))
    bad = nonfinite_rows(x)
    if len(bad):
        raise NnError(error(
            "data-mismatch", f"{what} has nan or inf in {len(bad)} of its {len(x)} "
                             f"example(s), first in example {bad[0] + 1} (index {bad[0]})",
            hint="fill or drop those examples: the model cannot score them"))


def unused_name(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``stem-2.suffix``,
    ``stem-3.suffix``, ...: output nobody named is never written over."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _check_example_size(path: Path, name: str, x, want) -> None:
    """Each example (a row of ``x``) must hold as many values as input ``name``
    (the element-count rule of :func:`check_data_fits`)."""
    if any(d is None for d in want):
        return
    size = _size(want)
    got = _size(x.shape[1:])
    if x.ndim > 0 and got == size:
        return
    shape = ", ".join(map(str, want))
    single = x.size == size  # one example without its batch axis
    raise NnError(error(
        "data-mismatch", f"'{path}' holds {len(x) if x.ndim else 1} example(s) of "
                         f"{got} value(s); input '{name}' is [{shape}], {size} values",
        hint="add a first axis for one example: np.save(path, x[None])" if single
        else "one example per row (.csv), or along the first axis (.npy, .npz)"))


def predict_file(path: str | Path, run_dir: str | Path, inputs_path: str | Path,
                 out: str | Path | None = None) -> Path:
    """Predictions of a trained run for the examples in ``inputs_path``."""
    import numpy as np

    from nnlang.lower import CompiledModel
    from nnlang.train.loop import predict
    from nnlang.train.model import activations_of

    run_dir = Path(run_dir)
    settings = _run_settings(run_dir)
    program, _ = load_checked(path, settings.get("overrides"))
    spec = select_train(program, settings.get("train"))
    graph = program.models[spec.models[0]]
    check_model_fits(run_dir, graph, command="predict")
    model = CompiledModel(graph)
    variables = _load_run_variables(run_dir)
    prep = dict(np.load(run_dir / PREPROCESS)) if (run_dir / PREPROCESS).is_file() else {}
    arrays = load_inputs(Path(inputs_path), graph, prep)
    for name, x in arrays.items():
        _check_examples(Path(inputs_path), name, x)
        x = np.asarray(x, dtype=np.float32) if not np.issubdtype(x.dtype, np.integer) else x
        _check_example_size(Path(inputs_path), name, x, model.input_shapes[name])
        if "x_mean" in prep and np.issubdtype(x.dtype, np.floating):
            x = (x.reshape(len(x), -1) - prep["x_mean"].reshape(-1)) / prep["x_std"].reshape(-1)
        want = model.input_shapes[name]
        if all(d is not None for d in want) and x[0].size == int(np.prod(want)):
            x = x.reshape(len(x), *want)
        arrays[name] = x
    # as the loss read each output (runs before this was recorded: as the model ends)
    acts = settings.get("activations") or activations_of(model, {})
    outputs = predict(model, variables, arrays, activations=acts)
    target = Path(out) if out else unused_name(run_dir / "predictions.csv")
    columns, header = [], []
    for name, y in outputs.items():
        y = np.asarray(y).reshape(len(y), -1)
        if acts.get(name) == "softmax":
            columns.append(y.argmax(-1)[:, None])
            header.append(f"{name}_class")
        elif "target_mean" in prep and acts.get(name) is None:
            y = y * prep["target_std"].reshape(-1) + prep["target_mean"].reshape(-1)
        columns.append(y)
        header += [f"{name}_{i}" for i in range(y.shape[1])] if y.shape[1] > 1 else [name]
    np.savetxt(target, np.concatenate(columns, axis=1), delimiter=",",
               header=",".join(header), comments="", fmt="%.6g")
    return target


def _run_settings(run_dir: Path) -> dict[str, Any]:
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


def _load_run_variables(run_dir: Path):
    from nnlang.train.checkpoint import load_variables

    try:
        return load_variables(run_dir)
    except FileNotFoundError:
        raise NnError(error("file", f"'{run_dir}' holds no trained weights")) from None


def eval_file(path: str | Path, run_dir: str | Path, split: str = "test") -> dict[str, float]:
    """Score a trained run on a split of its train block's data."""
    from nnlang.lower import CompiledModel
    from nnlang.train.loop import evaluate

    run_dir = Path(run_dir)
    settings = _run_settings(run_dir)
    overrides, seed = run_data_settings(Path(path), run_dir, settings, split)
    prepared = prepare(path, train=settings.get("train"), overrides=overrides, seed=seed)
    if is_gan(prepared.spec.settings):
        raise NnError(error("train-config", "a GAN run has no split to score",
                            prepared.spec.spans.get("loss", prepared.spec.span),
                            hint=f"its numbers are in {run_dir / 'gan.json'}"))
    check_model_fits(run_dir, prepared.graph, command="eval")
    model = CompiledModel(prepared.graph)
    return evaluate(model, _load_run_variables(run_dir), prepared.data, prepared.config,
                    split=split)


def recorded_data(prepared: Prepared) -> dict[str, Any]:
    """What fixes a run's splits, for run.json: the data setting as `.nn` text
    and the seed that shuffled it."""
    from nnlang.values import format_value

    data = prepared.spec.settings.get("data")
    return {"data": format_value(data), "data_seed": prepared.config.seed} if data else {}


def run_data_settings(path: Path, run_dir: Path, settings: Mapping[str, Any],
                      split: str) -> tuple[dict[str, str], int | None]:
    """The overrides and seed that make ``nnc eval`` load the run's own splits.

    A run's test split is what it held out; edited data settings (another split,
    seed or file) would draw a different "test" split, overlapping what the run
    trained on, and score it silently. As Keras's ``evaluate`` scores the held-out
    data, eval uses the run's recorded data setting and seed, and warns (at the
    file's ``data`` line) when the file's own settings differ. Runs recorded
    before this have no ``data`` in run.json: the file's settings are used.
    """
    overrides = dict(settings.get("overrides") or {})
    seed = settings.get("seed")
    if "data" not in settings:
        return overrides, seed
    program, _ = load_checked(path, overrides)
    spec = select_train(program, settings.get("train"))
    from nnlang.values import format_value

    file_data = format_value(spec.settings.get("data"))
    file_seed = seed if seed is not None else spec.settings.get("seed", 0)
    run_data, run_seed = settings["data"], settings.get("data_seed", 0)
    if (file_data, file_seed) != (run_data, run_seed):
        _warn(warning(
            "data-changed", f"the file's data settings differ from the run's; scoring "
                            f"the run's own {split} split: data = {run_data}, seed = "
                            f"{run_seed} (the file has data = {file_data}, seed = "
                            f"{file_seed})", spec.spans.get("data", spec.span),
            hint="other splits would mix in examples the run trained on; score new "
                 "data with nnc predict, or train a new run"))
    return {**overrides, "data": run_data}, run_seed


def _warn(diag) -> None:
    """Print one warning with its source line, and go on."""
    import sys

    from nnlang.source import Source

    span = diag.span
    sources = ({span.path: Source.read(span.path, strict=False)}
               if span and Path(span.path).is_file() else {})
    print(render_all([diag], sources), file=sys.stderr)
