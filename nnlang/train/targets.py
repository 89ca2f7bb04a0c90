"""Losses and metrics against what the data's targets are, without JAX or numpy.

``nnc check`` judges each output's loss (named, or the default) and metrics by
the output's shape and what the data call says its targets are
(:func:`nnlang.data.registry.target_info`); ``nnc run`` judges the same again
for targets only loading tells (:func:`loaded_target_info`). The facts about
each loss and metric (what it reads, what it fuses) come from the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nnlang.data.registry import TargetInfo
from nnlang.diagnostics import Diagnostic, error, warning
from nnlang.ir import Graph, TrainSpec
from nnlang.train.binding import Option, TrainConfigError
from nnlang.train.config import TrainConfig, parse_train_settings, resolve_losses
from nnlang.train.diagnose import setting_diagnostic
from nnlang.train.registry import LOSSES, METRICS
from nnlang.types import format_shape

CLASS_METRICS = frozenset(n for n, e in METRICS.items() if e.reads == "classes")
VALUE_METRICS = frozenset(n for n, e in METRICS.items() if e.reads == "values")
VALUE_LOSSES = frozenset(n for n, e in LOSSES.items() if e.reads == "values")
SCORE_LOSSES = frozenset(n for n, e in LOSSES.items() if e.fuses == "softmax")
"""Losses that read an output as one score per class."""


def target_info(spec: TrainSpec) -> TargetInfo | None:
    """What the targets of the block's data call are, loading nothing; None when
    only the data can tell or the call is bad (reported elsewhere)."""
    from nnlang.data import DataError
    from nnlang.data.registry import bind_data_args, data_call
    from nnlang.data.registry import target_info as info_of

    source = data_call(spec.settings.get("data"))
    if source is None:
        return None
    try:
        return info_of(
            source.name, bind_data_args(source.name, source.args, source.kwargs)
        )
    except DataError:
        return None


def output_losses(
    config: TrainConfig, graph: Graph, info: TargetInfo | None
) -> dict[str, Option]:
    """Each output's loss as far as ``info`` tells: the one the train block names,
    else the default for the targets' task; outputs left unknown are missing."""
    single = len(graph.outputs) == 1
    tasks, units = {}, {}
    for out, i in graph.outputs.items():
        node = graph.node(i)
        known = single and info is not None and node.type is not None
        tasks[out] = info.task if known and info is not None else None
        units[out] = _units(node.type.shape) if node.type is not None else None
    return resolve_losses(config.loss, tasks, units)


def declared_losses(spec: TrainSpec, graph: Graph) -> dict[str, Option]:
    """:func:`output_losses` as far as the file tells without loading data."""
    try:
        config = parse_train_settings(spec.settings, outputs=list(graph.outputs))
    except TrainConfigError:
        return {}
    return output_losses(config, graph, target_info(spec))


def validate_targets(
    spec: TrainSpec,
    graph: Graph,
    config: TrainConfig,
    *,
    skip_loss: bool = False,
    info: TargetInfo | None = None,
) -> list[Diagnostic]:
    """Each output's loss (named, or the default) and metrics against the output's
    shape and what the data's targets are: ``info`` (a loaded data set's, see
    :func:`loaded_target_info`), or as far as the data call tells. Class ids
    need an output with one score per class, regression values a loss that
    compares values."""
    if len(graph.outputs) != 1:
        return []
    info = info or target_info(spec)
    if info is None:
        return []
    (out,) = graph.outputs
    node = graph.node(graph.outputs[out])
    if node.type is None:
        return []
    shape = node.type.shape
    given = (config.loss or {}).get(out)
    loss = output_losses(config, graph, info).get(out)
    diags = []
    if not skip_loss and loss is not None:
        problem = _loss_problem(loss.name, shape, info)
        if problem is not None:
            message, hint, is_error = problem
            if given is None:
                message = f"the default loss {message}"
            located = TrainConfigError(
                message, "loss" if given else "data", hint, (("statement",),)
            )
            diags.append(
                setting_diagnostic(
                    spec, located, error if is_error else warning, "target-mismatch"
                )
            )
    for i, metric in enumerate((config.metrics or {}).get(out, ())):
        located = None
        if info.task == "regression" and metric.name in CLASS_METRICS:
            located = TrainConfigError(
                f"{metric.name} counts correct classes, but the targets are "
                f"{info.what} (a regression)",
                "metrics",
                "use mae or mse to measure a regression",
                _metric_at(spec, out, i),
            )
            make = warning
        elif (
            info.task != "regression"
            and metric.name in VALUE_METRICS
            and _size(shape) not in (None, 1)
        ):
            located = TrainConfigError(
                f"{metric.name} compares the output {format_shape(shape)} with "
                f"targets [] ({info.what})",
                "metrics",
                "accuracy, precision, recall or f1 measure classes",
                _metric_at(spec, out, i),
            )
            make = error
        if located is not None:
            diags.append(setting_diagnostic(spec, located, make, "target-mismatch"))
    return diags


def _metric_at(spec: TrainSpec, out: str, index: int) -> tuple[tuple, ...]:
    """The steps to the ``index``-th metric of ``out`` in the ``metrics`` setting."""
    value = spec.settings.get("metrics")
    at: tuple[tuple, ...] = ()
    if isinstance(value, dict):
        at, value = (("entry", out),), value.get(out)
    return (*at, ("item", index)) if isinstance(value, list | tuple) else at


def loaded_target_info(spec: TrainSpec, data: Any) -> TargetInfo | None:
    """What a loaded data set's single target is, for :func:`validate_targets`,
    when the data call alone could not tell (a CSV without ``task=``); else None:
    the checker has judged it already."""
    if target_info(spec) is not None or isinstance(data.y_shape, Mapping):
        return None
    source = getattr(spec.settings.get("data"), "name", "the data")
    if data.task == "regression":
        return TargetInfo(
            "regression", None, tuple(data.y_shape), f"values of {source}"
        )
    return TargetInfo(data.task, data.num_classes, (), f"class ids of {source}")


def _units(shape: tuple) -> int | None:
    """The last dim of an output (its classes or values), when known."""
    return shape[-1] if shape and isinstance(shape[-1], int) else None


def _size(shape: tuple) -> int | None:
    """Elements of one example of ``shape``; None when a dim is symbolic."""
    if not all(isinstance(d, int) for d in shape):
        return None
    size = 1
    for d in shape:
        size *= d
    return size


def _loss_problem(
    loss: str, shape: tuple, info: TargetInfo
) -> tuple[str, str, bool] | None:
    """``(message, hint, is_error)`` when ``loss`` cannot compare an output of
    ``shape`` with the targets ``info`` describes; None when it fits (or the
    shapes are symbolic)."""
    size, units = _size(shape), _units(shape)
    if size is None:
        return None
    shown = format_shape(shape)
    if info.task == "regression":
        if (
            loss in SCORE_LOSSES
            and info.shape is not None
            and (size == 1 or tuple(shape) != info.shape)
        ):
            return (
                f"{loss} reads the output {shown} as class scores, but the targets "
                f"are {info.what} (a regression)",
                "use mse, mae or huber to fit values",
                False,
            )
        wanted = _size(info.shape) if info.shape is not None else None
        if loss in VALUE_LOSSES and wanted is not None and size != wanted:
            return (
                f"{loss} compares the output {shown} with targets "
                f"{format_shape(info.shape)} ({info.what})",
                f"end in {wanted} value{'s' if wanted != 1 else ''}, e.g. "
                f"dense({wanted})",
                True,
            )
        return None
    compares = f"{loss} compares the output {shown} with targets [] ({info.what})"
    count = info.classes
    if loss in VALUE_LOSSES and size != 1:
        return compares, "use cross_entropy, or one-hot targets", True
    if loss == "binary_cross_entropy":
        if size != 1:
            hint = (
                "use cross_entropy for class ids"
                if count != 2
                else "use cross_entropy, or end in dense(1, act=sigmoid)"
            )
            return compares, hint, True
        if count is not None and count > 2:
            return (
                f"binary_cross_entropy reads 0/1 targets, but the targets are "
                f"{info.what}, {count} classes",
                f"use cross_entropy with one unit per class, e.g. dense({count})",
                True,
            )
    if loss in SCORE_LOSSES:
        if len(shape) != 1:
            return (
                compares,
                "end in one unit per class, e.g. flatten then dense(N)",
                True,
            )
        if units == 1:
            return (
                f"{loss} over the output {shown} scores a single class, so the loss "
                "is always 0",
                "use binary_cross_entropy for two classes, or one unit per class",
                True,
            )
        if count is not None and units is not None and units < count:
            return (
                f"{loss} over the output {shown} scores {units} classes, but the "
                f"targets are {info.what}, {count} classes",
                f"end in dense({count})",
                True,
            )
    return None
