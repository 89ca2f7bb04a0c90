"""One diagnostic type and one renderer.

Every user-facing problem, from a stray character to a shape mismatch, is a
:class:`Diagnostic`: a severity, a stable kebab-case code (mypy style), a
message, a span, and optional notes and hint. :func:`render` prints it GNU
style with a caret under the span::

    model.nn:3:17: error: unexpected ')' [syntax]
        3 |     conv(32, 3, )
          |                 ^
          = expected: a number, a name, '[' or '('

User mistakes travel as :class:`NnError` (carrying diagnostics); anything
else that escapes is an internal bug and is shown loudly by the CLI.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from nnlang.source import Source, Span, expand_tabs


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A located message for the user.

    Attributes:
        code: stable kebab-case identifier, documented in docs/errors.md.
        message: one line, lower case, no trailing period.
        span: where the problem is; ``None`` only for file-level problems.
        notes: extra lines printed after the excerpt (``= label: text``).
        hint: a suggestion such as "did you mean 'dense'?".
    """

    severity: Severity
    code: str
    message: str
    span: Span | None = None
    notes: tuple[str, ...] = ()
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        s = self.span
        return (s.path, s.line, s.col) if s else ("", 0, 0)


def error(code: str, message: str, span: Span | None = None, *,
          notes: Iterable[str] = (), hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, span, tuple(notes), hint)


def warning(code: str, message: str, span: Span | None = None, *,
            notes: Iterable[str] = (), hint: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, span, tuple(notes), hint)


class NnError(Exception):
    """A user mistake: one or more diagnostics. Never shown as a traceback."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))

    def __str__(self) -> str:
        """Each diagnostic with its place, notes and hint (no source excerpt): what
        ``print(exc)`` should show a user of the Python API."""
        return "\n".join(render(d) for d in self.diagnostics)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint for ``word`` among ``candidates``, or None."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def fold_name(word: str) -> str:
    """``word`` lower-cased without underscores, the key of a table of foreign
    spellings: Keras' ``MaxPooling2D``, ``max_pooling2d`` and ``maxpooling2d``
    are one key.

    >>> fold_name("Sparse_Categorical_Crossentropy")
    'sparsecategoricalcrossentropy'
    """
    return word.lower().replace("_", "")


def folded(table: Mapping[str, str]) -> dict[str, str]:
    """``table`` keyed by :func:`fold_name`: a table of foreign spellings.

    >>> folded({"MaxPooling2D": "maxpool2d"})
    {'maxpooling2d': 'maxpool2d'}
    """
    return {fold_name(k): v for k, v in table.items()}


def foreign_name(word: str, table: Mapping[str, str]) -> str | None:
    """The `.nn` name that ``table`` (keys folded by :func:`fold_name`) gives
    ``word``, a name from another library, or None.

    >>> foreign_name("CategoricalCrossentropy", {"categoricalcrossentropy": "cross_entropy"})
    'cross_entropy'
    """
    return table.get(fold_name(word))


def render(diag: Diagnostic, sources: Mapping[str, Source] | None = None) -> str:
    """Render one diagnostic as text: header, source excerpt with caret, notes, hint."""
    span = diag.span
    where = f"{span.path}:{span.line}:{span.col}: " if span else ""
    out = [f"{where}{diag.severity.value}: {diag.message} [{diag.code}]"]
    source = sources.get(span.path) if (span and sources) else None
    gutter = 0
    if span and source is not None:
        raw = source.line(span.line)
        text, col = expand_tabs(raw, span.col)
        if span.end_line == span.line:
            _, end = expand_tabs(raw, max(span.end_col, span.col + 1))
        else:
            end = len(text) + 1
        width = max(1, min(end, len(text) + 1) - col)
        number = str(span.line)
        gutter = len(number)
        out.append(f"{number:>{gutter + 1}} | {text}".rstrip())
        out.append(f"{'':>{gutter + 1}} | {' ' * (col - 1)}^{'~' * (width - 1)}")
    pad = " " * (gutter + 1)
    out.extend(f"{pad} = {note}" for note in diag.notes)
    if diag.hint:
        out.append(f"{pad} = help: {diag.hint}")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic], sources: Mapping[str, Source] | None = None) -> str:
    return "\n\n".join(render(d, sources) for d in diags)


def to_json(diags: Iterable[Diagnostic]) -> str:
    """Machine-readable diagnostics for editors and tools."""
    items = []
    for d in diags:
        s = d.span
        items.append({
            "severity": d.severity.value, "code": d.code, "message": d.message,
            "path": s.path if s else None, "line": s.line if s else None,
            "col": s.col if s else None, "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None, "notes": list(d.notes), "hint": d.hint,
        })
    return json.dumps(items, indent=2)


@dataclass
class DiagnosticSink:
    """Collects diagnostics across a pass so that all errors are reported, not the first."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        self.items.append(diag)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.items.extend(diags)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)
