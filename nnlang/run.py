"""``nnc run``: check, load data, compile, train, evaluate, write the run directory.

What reads a run back is elsewhere: :mod:`nnlang.run_record` (run.json, the
model's fit to the weights, resuming), :mod:`nnlang.infer` (``nnc eval`` and
``nnc predict``), :mod:`nnlang.memory` (a model too large for the machine).

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
from nnlang.memory import check_fits_in_memory, is_out_of_memory, out_of_memory_error
from nnlang.run_record import (
    check_resumable,
    recorded_data,
    resume_recorder,
    save_preprocessing,
)
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
        warn(warning("data", message, span, hint=hint))


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
             f"{_size(given)} elements)" + _columns_hint(spec)))


def _columns_hint(spec: TrainSpec) -> str:
    """A table's examples take every numeric column (an index column too)."""
    source = spec.settings.get("data")
    if getattr(source, "name", None) == "csv":
        return ", or choose the columns: csv(..., features=[a, b])"
    return ""


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
        check_loss_fits(graph, data, spec, config)
    return Prepared(program, spec, graph, config, data, warnings)


def check_loss_fits(graph: Graph, data, spec: TrainSpec, config) -> None:
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
            warn(d)
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
    name = path.stem if spec.name == path.stem else f"{path.stem}-{spec.name}"
    return Path("runs") / f"{name}-{stamp}"  # runs/mlp-20261204-101500, not mlp-mlp-...


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


def warn(diag) -> None:
    """Print one warning with its source line, and go on."""
    import sys

    from nnlang.source import Source

    span = diag.span
    sources = ({span.path: Source.read(span.path, strict=False)}
               if span and Path(span.path).is_file() else {})
    print(render_all([diag], sources), file=sys.stderr)
