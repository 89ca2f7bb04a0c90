"""Front-end driver: parse, elaborate, shape-check and validate train blocks.

Pure Python: nothing here imports JAX, so ``nnc check``, ``summary`` and ``ir``
start in a blink. ``nnc run`` calls the same driver before it compiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang.diagnostics import Diagnostic, NnError, did_you_mean, error, warning
from nnlang.ir import INPUT_OP, Graph, Program, TrainSpec
from nnlang.source import Source, Span
from nnlang.train.diagnose import setting_diagnostic


@dataclass
class CheckResult:
    """Everything the front end learnt about some files."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    programs: dict[str, Program] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def sorted_diagnostics(self) -> list[Diagnostic]:
        unique = {(d.code, d.message, d.span): d for d in self.diagnostics}
        return sorted(unique.values(), key=Diagnostic.sort_key)


def check_file(path: str | Path, result: CheckResult | None = None, *,
               overrides: Mapping[str, str] | None = None) -> CheckResult:
    """Run the whole front end on one file, collecting every diagnostic into ``result``."""
    from nnlang.elaborate import elaborate_file
    from nnlang.shapes import infer_shapes

    result = result or CheckResult()
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a .nn file" if path.is_dir() else "does not exist"
        result.diagnostics.append(error("file", f"'{path}' {what}"))
        return result
    try:
        elab = elaborate_file(path, overrides)
    except UnicodeDecodeError:
        result.diagnostics.append(error("file", f"'{path}' is not a text file"))
        return result
    result.sources.update(elab.sources)
    result.diagnostics.extend(elab.diagnostics)
    if elab.program is None:
        return result
    for graph in elab.program.models.values():
        result.diagnostics.extend(infer_shapes(graph))
    for spec in elab.program.trains.values():
        result.diagnostics.extend(validate_train(spec, elab.program, result.sources))
    result.programs[str(path)] = elab.program
    return result


def validate_train(spec: TrainSpec, program: Program,
                   sources: Mapping[str, Source] | None = None) -> list[Diagnostic]:
    """Check a train block's settings against the training and data registries,
    and against its model's layers and output shapes (``freeze``, ``loss``,
    ``metrics``); ``sources`` lets a diagnostic point inside a setting."""
    from nnlang.train.gan_config import is_gan, validate_gan

    if is_gan(spec.settings):  # two models and a game: its own settings and checks
        return validate_gan(spec, program)
    diags: list[Diagnostic] = []
    outputs: list[str] = []
    for model in spec.models:
        outputs += list(program.models[model].outputs)
    try:
        from nnlang.train.config import collect_train_settings, odd_settings
    except ImportError:  # pragma: no cover - the training package ships with nnlang
        return diags
    # Settings written but not evaluated (their error is reported already).
    unreadable = set(spec.exprs) - set(spec.settings)
    config, errors = collect_train_settings(spec.settings, outputs=outputs,
                                            unreadable=unreadable)
    bad = unreadable | {e.key for e in errors if e.key}
    diags += [setting_diagnostic(spec, e) for e in errors]
    data_diags = validate_data(spec)
    if not bad:
        examples = _train_examples(spec) if not data_diags else None
        diags += [setting_diagnostic(spec, e, warning, "odd-setting")
                  for e in odd_settings(config, examples)]
    if len(spec.models) == 1 and program.models[spec.models[0]].outputs:
        graph = program.models[spec.models[0]]
        if "freeze" not in bad:
            diags += validate_freeze(spec, graph, config.freeze, sources or {})
        if not data_diags:
            diags += validate_targets(spec, graph, config, sources or {},
                                      skip_loss="loss" in bad)
    return diags + data_diags


def layer_paths(graph: Graph) -> list[str] | None:
    """The paths ``freeze`` may name: every layer with parameters and the blocks
    around them (``conv_bn_1``, ``conv_bn_1/conv_0``); None if a shape is unknown."""
    from nnlang.layers import LAYERS

    paths: set[str] = set()
    for node in graph.nodes:
        if node.op == INPUT_OP or node.shares:
            continue
        types = [graph.node(i).type for i in node.inputs]
        if node.type is None or any(t is None for t in types):
            return None
        if sum(LAYERS[node.op].count_params(node.attrs, types)) == 0:
            continue
        parts = node.name.split("/")
        paths.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(paths)


def validate_freeze(spec: TrainSpec, graph: Graph, names: tuple[str, ...],
                    sources: Mapping[str, Source]) -> list[Diagnostic]:
    """Every ``freeze`` name is a layer (or block) of the model with parameters."""
    paths = layer_paths(graph) if names else None
    if paths is None:
        return []
    layers = {n.name for n in graph.nodes if n.op != INPUT_OP}
    diags = []
    for name in names:
        if name in paths:
            continue
        span = _name_span(sources, spec.spans.get("freeze"), name) or spec.span
        if name in layers:
            diags.append(error("train-config", f"freeze names layer '{name}', which has "
                               "no parameters", span,
                               hint="freeze the layers with weights (dense, conv2d, ...)"))
            continue
        diags.append(error("train-config", f"freeze names unknown layer '{name}'", span,
                           hint=did_you_mean(name, paths)
                           or f"layers with parameters: {', '.join(paths)}"))
    return diags


def _name_span(sources: Mapping[str, Source], span: Span | None, name: str) -> Span | None:
    """Where ``name`` (bare or quoted) is written inside the setting at ``span``."""
    source = sources.get(span.path) if span is not None else None
    if source is None or span is None:
        return span
    token = re.compile(r'(?<![\w/"])"?' + re.escape(name) + r'"?(?![\w/"])')
    for number in range(span.line, span.end_line + 1):
        text = source.line(number)
        start = span.col - 1 if number == span.line else 0
        end = span.end_col - 1 if number == span.end_line else len(text)
        equals = text.find("=", start) + 1 if number == span.line else start
        found = token.search(text, max(start, equals), end)
        if found:
            return Span(span.path, number, found.start() + 1, number, found.end() + 1)
    return span


def declared_losses(spec: TrainSpec, graph: Graph) -> dict[str, Any]:
    """Each output's loss as far as the file tells without loading data: the one
    the train block names, else the default for what the data call says its
    targets are; outputs left unknown are missing."""
    from nnlang.train.config import TrainConfigError, default_loss, parse_train_settings

    try:
        config = parse_train_settings(spec.settings, outputs=list(graph.outputs))
    except TrainConfigError:
        return {}
    losses: dict[str, Any] = dict(config.loss or {})
    info = _target_info(spec) if len(graph.outputs) == 1 else None
    for out, i in graph.outputs.items():
        node = graph.node(i)
        if out not in losses and info is not None and info.task and node.type:
            shape = node.type.shape
            units = shape[-1] if shape and isinstance(shape[-1], int) else None
            losses[out] = default_loss(info.task, units)
    return losses


def _target_info(spec: TrainSpec) -> Any:
    from nnlang.data import DataError
    from nnlang.data.registry import bind_data_args, data_call, target_info

    source = data_call(spec.settings.get("data"))
    if source is None:
        return None
    try:
        return target_info(source.name, bind_data_args(source.name, source.args,
                                                       source.kwargs))
    except DataError:
        return None


CLASS_METRICS = ("accuracy", "top_k", "precision", "recall", "f1")
VALUE_LOSSES = ("mse", "mae", "huber")


def validate_targets(spec: TrainSpec, graph: Graph, config: Any,
                     sources: Mapping[str, Source], *, skip_loss: bool = False,
                     info: Any = None) -> list[Diagnostic]:
    """Each output's loss (named, or the default) and metrics against the output's
    shape and what the data's targets are: ``info`` (a loaded data set's, see
    :func:`loaded_target_info`), or as far as the data call tells
    (:func:`nnlang.data.registry.target_info`). Class ids need an output with
    one score per class, regression values a loss that compares values."""
    from nnlang.train.config import default_loss

    if len(graph.outputs) != 1:
        return []
    info = info or _target_info(spec)
    if info is None:
        return []
    (out,) = graph.outputs
    node = graph.node(graph.outputs[out])
    if node.type is None:
        return []
    shape = node.type.shape
    units = shape[-1] if shape and isinstance(shape[-1], int) else None
    given = (config.loss or {}).get(out)
    diags = []
    if not skip_loss and (given is not None or info.task is not None):
        loss = given or default_loss(info.task, units)
        span = spec.spans.get("loss") if given is not None else spec.spans.get("data")
        problem = _loss_problem(loss.name, shape, units, info)
        if problem is not None:
            message, hint, is_error = problem
            if given is None:
                message = f"the default loss {message}"
            make = error if is_error else warning
            diags.append(make("target-mismatch", message, span or spec.span, hint=hint))
    metrics = (config.metrics or {}).get(out, ())
    for metric in metrics:
        span = _name_span(sources, spec.spans.get("metrics"), metric.name) or spec.span
        if info.task == "regression" and metric.name in CLASS_METRICS:
            diags.append(warning(
                "target-mismatch", f"{metric.name} counts correct classes, but the "
                f"targets are {info.what} (a regression)", span,
                hint="use mae or mse to measure a regression"))
        elif info.task != "regression" and metric.name in VALUE_METRICS and \
                _size(shape) not in (None, 1):
            diags.append(error(
                "target-mismatch", f"{metric.name} compares the output "
                f"{_shown(shape)} with targets [] ({info.what})", span,
                hint="accuracy, precision, recall or f1 measure classes"))
    return diags


VALUE_METRICS = ("mse", "mae")


def _size(shape: tuple) -> int | None:
    """Elements of one example of ``shape``; None when a dim is symbolic."""
    if not all(isinstance(d, int) for d in shape):
        return None
    size = 1
    for d in shape:
        size *= d
    return size


def _shown(shape: tuple) -> str:
    from nnlang.types import format_shape

    return format_shape(shape)


def loaded_target_info(spec: TrainSpec, data: Any) -> Any:
    """What a loaded data set's single target is, for :func:`validate_targets`,
    when the data call alone could not tell (a CSV without ``task=``); else None:
    the checker has judged it already."""
    from nnlang.data.registry import TargetInfo

    if _target_info(spec) is not None or isinstance(data.y_shape, Mapping):
        return None
    source = getattr(spec.settings.get("data"), "name", "the data")
    if data.task == "regression":
        return TargetInfo("regression", None, tuple(data.y_shape), f"values of {source}")
    return TargetInfo(data.task, data.num_classes, (), f"class ids of {source}")


def _loss_problem(loss: str, shape: tuple, units: int | None, info: Any
                  ) -> tuple[str, str, bool] | None:
    """``(message, hint, is_error)`` when ``loss`` cannot compare an output of
    ``shape`` with the targets ``info`` describes; None when it fits (or the
    shapes are symbolic)."""
    size = _size(shape)
    if size is None:
        return None
    shown = _shown(shape)
    if info.task == "regression":
        if loss in ("cross_entropy", "kl_divergence") and info.shape is not None and (
                size == 1 or tuple(shape) != info.shape):
            return (f"{loss} reads the output {shown} as class scores, but the targets "
                    f"are {info.what} (a regression)", "use mse, mae or huber to fit "
                    "values", False)
        wanted = _size(info.shape) if info.shape is not None else None
        if loss in VALUE_LOSSES and wanted is not None and size != wanted:
            return (f"{loss} compares the output {shown} with targets "
                    f"{_shown(info.shape)} ({info.what})",
                    f"end in {wanted} value{'s' if wanted != 1 else ''}, e.g. "
                    f"dense({wanted})", True)
        return None
    compares = f"{loss} compares the output {shown} with targets [] ({info.what})"
    count = info.classes
    if loss in VALUE_LOSSES and size != 1:
        return compares, "use cross_entropy, or one-hot targets", True
    if loss == "binary_cross_entropy":
        if size != 1:
            hint = ("use cross_entropy for class ids" if count != 2 else
                    "use cross_entropy, or end in dense(1, act=sigmoid)")
            return compares, hint, True
        if count is not None and count > 2:
            return (f"binary_cross_entropy reads 0/1 targets, but the targets are "
                    f"{info.what}, {count} classes",
                    f"use cross_entropy with one unit per class, e.g. dense({count})", True)
    if loss in ("cross_entropy", "kl_divergence"):
        if len(shape) != 1:
            return compares, "end in one unit per class, e.g. flatten then dense(N)", True
        if units == 1:
            return (f"{loss} over the output {shown} scores a single class, so the loss "
                    "is always 0", "use binary_cross_entropy for two classes, or one "
                    "unit per class", True)
        if count is not None and units is not None and units < count:
            return (f"{loss} over the output {shown} scores {units} classes, but the "
                    f"targets are {info.what}, {count} classes", f"end in dense({count})",
                    True)
    return None


def validate_data(spec: TrainSpec) -> list[Diagnostic]:
    """Check ``data = source(...)`` against the data registry, loading nothing."""
    from nnlang.data import DataError, bind_data_args
    from nnlang.data.registry import DATA_SOURCES, data_call
    from nnlang.train.binding import TrainConfigError

    source = spec.settings.get("data")
    if source is None:
        return []  # `nnc run` says so; a file may hold models and settings to import
    source = data_call(source)
    if source is None:
        return [setting_diagnostic(spec, TrainConfigError(
            "data must name a data source, such as digits or "
            'csv("file.csv", target=y)', "data"))]
    try:
        bind_data_args(source.name, source.args, source.kwargs)
    except DataError as exc:
        names = [p.name for p in DATA_SOURCES[source.name].params] if (
            source.name in DATA_SOURCES) else []
        if source.name not in DATA_SOURCES:
            at: tuple = (("name",),)
        elif exc.arg is None:
            at = ()
        elif exc.arg not in names or "got two values" in exc.message:
            at = (("kw", exc.arg),)
        else:
            at = (("val", exc.arg, names.index(exc.arg)),)
        located = TrainConfigError(exc.message, "data", exc.hint, at)
        return [setting_diagnostic(spec, located, code="data")]
    return []


def _train_examples(spec: TrainSpec) -> int | None:
    """The size of the training split, when the data call tells it (bundled
    and generated sets); None otherwise."""
    from nnlang.data import DataError
    from nnlang.data.registry import bind_data_args, data_call, train_examples

    source = data_call(spec.settings.get("data"))
    if source is None:
        return None
    try:
        bound = bind_data_args(source.name, source.args, source.kwargs)
    except DataError:
        return None
    return train_examples(source.name, bound)


def load_checked(path: str | Path, overrides: Mapping[str, str] | None = None
                 ) -> tuple[Program, CheckResult]:
    """The checked program of ``path``, or NnError with every diagnostic."""
    result = check_file(path, overrides=overrides)
    if result.has_errors:
        raise NnError(result.sorted_diagnostics())
    return result.programs[str(Path(path))], result
