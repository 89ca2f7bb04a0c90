"""Front-end driver: parse, elaborate, shape-check and validate train blocks.

Pure Python: nothing here imports JAX, so ``nnc check``, ``summary`` and ``ir``
start in a blink. ``nnc run`` calls the same driver before it compiles.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang.diagnostics import Diagnostic, NnError, did_you_mean, error, warning
from nnlang.ir import INPUT_OP, Graph, Program, TrainSpec
from nnlang.source import Source
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
        result.diagnostics.extend(validate_train(spec, elab.program))
    result.programs[str(path)] = elab.program
    return result


def validate_train(spec: TrainSpec, program: Program) -> list[Diagnostic]:
    """Check a train block's settings against the training and data registries,
    and against its model's layers and output shapes (``freeze``, ``loss``,
    ``metrics``)."""
    from nnlang.train.gan_config import is_gan, validate_gan
    from nnlang.train.targets import validate_targets

    diags = duplicate_arguments(spec)
    if is_gan(spec.settings):  # two models and a game: its own settings and checks
        return diags + validate_gan(spec, program)
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
            diags += validate_freeze(spec, graph, config.freeze)
        if not data_diags:
            diags += validate_targets(spec, graph, config, skip_loss="loss" in bad)
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


def duplicate_arguments(spec: TrainSpec) -> list[Diagnostic]:
    """A keyword given twice in a setting's call (``adam(lr=0, lr=1)``): the
    value keeps the last, so it is an error, as in a layer's call."""
    from nnlang.train.binding import TrainConfigError

    return [setting_diagnostic(spec, TrainConfigError(
                f"argument '{name}' is given twice", key, at=(*at, ("kw", name))),
                code="duplicate-argument")
            for key, expr in spec.exprs.items() for at, name in _repeated(expr)]


def _repeated(expr: Any, at: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """``(steps to a call, keyword)`` for each keyword repeated in a call inside
    ``expr`` (a syntax tree); the steps are those of TrainConfigError.at."""
    from nnlang import syntax as S

    if isinstance(expr, S.Call):
        seen: set[str] = set()
        positional = 0
        for arg in expr.args:
            if arg.name is None:
                yield from _repeated(arg.value, (*at, ("pos", positional)))
                positional += 1
                continue
            if arg.name in seen:
                yield at, arg.name
            seen.add(arg.name)
            yield from _repeated(arg.value, (*at, ("val", arg.name, None)))
    elif isinstance(expr, S.ListExpr | S.TupleExpr):
        for i, item in enumerate(expr.items):
            yield from _repeated(item, (*at, ("item", i)))
    elif isinstance(expr, S.MapExpr):
        for entry in expr.entries:
            yield from _repeated(entry.value, (*at, ("entry", entry.key)))


def validate_freeze(spec: TrainSpec, graph: Graph, names: tuple[str, ...]
                    ) -> list[Diagnostic]:
    """Every ``freeze`` name is a layer (or block) of the model with parameters."""
    from nnlang.train.binding import TrainConfigError

    paths = layer_paths(graph) if names else None
    if paths is None:
        return []
    layers = {n.name for n in graph.nodes if n.op != INPUT_OP}
    listed = isinstance(spec.settings.get("freeze"), list | tuple)
    diags = []
    for i, name in enumerate(names):
        if name in paths:
            continue
        at = (("item", i),) if listed else ()
        if name in layers:
            problem = TrainConfigError(
                f"freeze names layer '{name}', which has no parameters", "freeze",
                "freeze the layers with weights (dense, conv2d, ...)", at)
        else:
            problem = TrainConfigError(
                f"freeze names unknown layer '{name}'", "freeze",
                did_you_mean(name, paths) or f"layers with parameters: {', '.join(paths)}",
                at)
        diags.append(setting_diagnostic(spec, problem))
    return diags


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
        _one_class(source.name, bind_data_args(source.name, source.args, source.kwargs))
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


def _one_class(name: str, bound: Mapping[str, Any]) -> None:
    """Raise the loader's DataError for ``classes=`` that keeps a single class:
    the registry's target_info counts them, so check need not wait for loading."""
    from nnlang.data import DataError
    from nnlang.data.registry import target_info

    info = target_info(name, bound)
    if info is not None and info.classes == 1 and bound.get("classes"):
        raise DataError(
            f"the labels hold one class, '{bound['classes'][0]}': there is nothing "
            "to tell apart", arg="classes", hint="classes= keeps one class; keep two or more")


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
