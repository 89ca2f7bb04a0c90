"""Front-end driver: parse, elaborate, shape-check and validate train blocks.

Pure Python: nothing here imports JAX, so ``nnc check``, ``summary`` and ``ir``
start in a blink. ``nnc run`` calls the same driver before it compiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nnlang.diagnostics import Diagnostic, NnError, error
from nnlang.ir import Program, TrainSpec
from nnlang.source import Source
from nnlang.values import CallValue, Word


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
    """Check a train block's settings against the training and data registries."""
    from nnlang.train.gan_config import is_gan, validate_gan

    if is_gan(spec.settings):  # two models and a game: its own settings and checks
        return validate_gan(spec, program)
    diags: list[Diagnostic] = []
    outputs: list[str] = []
    for model in spec.models:
        outputs += list(program.models[model].outputs)
    try:
        from nnlang.train.config import TrainConfigError, parse_train_settings
    except ImportError:  # pragma: no cover - the training package ships with nnlang
        return diags
    try:
        parse_train_settings(spec.settings, outputs=outputs)
    except TrainConfigError as exc:
        span = spec.spans.get(exc.key) if exc.key else spec.span
        diags.append(error("train-config", exc.message, span or spec.span, hint=exc.hint))
    return diags + validate_data(spec)


def validate_data(spec: TrainSpec) -> list[Diagnostic]:
    """Check ``data = source(...)`` against the data registry, loading nothing."""
    from nnlang.data import DataError, bind_data_args

    source = spec.settings.get("data")
    span = spec.spans.get("data", spec.span)
    if source is None:
        return []  # `nnc run` says so; a file may hold models and settings to import
    if isinstance(source, Word):
        source = CallValue(str(source))
    if not isinstance(source, CallValue):
        return [error("train-config", "data must name a data source, such as digits or "
                      'csv("file.csv", target=y)', span)]
    try:
        bind_data_args(source.name, source.args, source.kwargs)
    except DataError as exc:
        return [error("data", exc.message, span, hint=exc.hint)]
    return []


def load_checked(path: str | Path, overrides: Mapping[str, str] | None = None
                 ) -> tuple[Program, CheckResult]:
    """The checked program of ``path``, or NnError with every diagnostic."""
    result = check_file(path, overrides=overrides)
    if result.has_errors:
        raise NnError(result.sorted_diagnostics())
    return result.programs[str(Path(path))], result
