"""``csv``: tables with a target column, or sliding windows over a time series.

Read with the standard ``csv`` module (no pandas). Cells that are empty or
spell ``NA``, ``NaN``, ``null``, ``none`` or ``?`` count as missing, which is
an error in any column that is used. Without ``features=``, every numeric
column other than the target is a feature and non-numeric columns (dates,
ids) are skipped and listed in ``meta["ignored_columns"]``.
"""

from __future__ import annotations

import csv
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnlang.data.dataset import DataError, Dataset, LoadOptions, Split
from nnlang.data.prepare import (
    CLASS_TASKS,
    Target,
    as_integers,
    assemble,
    class_task,
    encode_labels,
    fit_zscore,
    gather_targets,
    split_and_assemble,
    split_counts,
)

MISSING = frozenset({"", "na", "nan", "null", "none", "?"})
MAX_LISTED = 8
"""A hint lists at most this many column names (a table may have hundreds)."""
MAX_CLASSES = 20
"""A whole-number target with at most this many distinct values is a class label."""


@dataclass(frozen=True, slots=True)
class Table:
    """Cells of a CSV file as text, with the file line of every row."""

    path: Path
    names: tuple[str, ...]
    rows: list[list[str]]
    lines: list[int]

    def column(self, index: int) -> list[str]:
        return [row[index].strip() for row in self.rows]


def read_table(path: Path, *, header: bool, delimiter: str) -> Table:
    """Parse a CSV file; every row must have as many fields as the first."""
    rows, lines = [], []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter, strict=True)
            try:
                for row in reader:
                    if row and any(cell.strip() for cell in row):
                        rows.append(row)
                        lines.append(reader.line_num)
            except csv.Error as err:
                raise DataError(
                    f"{path.name}:{reader.line_num}: {err}", arg="path"
                ) from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path.name} is not UTF-8 text ({err.reason})", arg="path"
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}", arg="path") from None
    if not rows:
        raise DataError(f"{path.name} is empty", arg="path")
    width = len(rows[0])
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise DataError(
                f"{path.name}:{line}: expected {width} fields (as on line {lines[0]}), "
                f"found {len(row)}",
                arg="path",
                hint=None
                if len(row) > 1 or width == 1
                else f"is the delimiter {delimiter!r}?",
            )
    names = (
        tuple(c.strip() for c in rows[0]) if header else tuple(map(str, range(width)))
    )
    if header:
        check_unique_names(path, names, lines[0])
    if header:
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise DataError(f"{path.name} has a header but no data rows", arg="path")
    return Table(path, names, rows, lines)


def check_unique_names(path: Path, names: tuple[str, ...], line: int) -> None:
    """A header naming one column twice makes ``target=`` and ``features=``
    ambiguous (and a table would silently keep one of the two)."""
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name and name in seen:
            raise DataError(
                f"{path.name}:{line}: the header names two columns '{name}' "
                f"(columns {seen[name]} and {j})",
                arg="path",
                hint="give every column its own name",
            )
        seen.setdefault(name, j)


def guess_delimiter(table: Table) -> str | None:
    """The separator a one-column table seems to use instead (``a;b;y``)."""
    if len(table.names) != 1:
        return None
    first = table.names[0] + "".join(table.rows[0])
    return next((d for d in (";", "\t", "|", ",") if d in first), None)


def column_index(table: Table, column: str | int, arg: str) -> int:
    """The position of ``column`` (a name, or an index that may be negative)."""
    count = len(table.names)
    if isinstance(column, int):
        if not -count <= column < count:
            raise DataError(
                f"column {column} is out of range: {table.path.name} has {count} "
                f"columns (0 to {count - 1})",
                arg=arg,
            )
        return column % count
    if column in table.names:
        return table.names.index(column)
    by_case = [n for n in table.names if n.lower() == column.lower()]
    close = by_case or difflib.get_close_matches(column, table.names, n=1)
    unnamed = table.names == tuple(map(str, range(count)))
    delimiter = guess_delimiter(table)
    if delimiter is not None:
        hint = f'is the delimiter {delimiter!r}? set delimiter="{delimiter}"'
    elif unnamed:
        hint = "without a header row, columns are numbered from 0"
    else:
        hint = f"did you mean '{close[0]}'?" if close else None
    raise DataError(
        f"no column '{column}' in {table.path.name}; the columns are: "
        f"{', '.join(table.names)}",
        arg=arg,
        hint=hint,
    )


def column_indices(table: Table, columns: tuple[str | int, ...], arg: str) -> list[int]:
    """The positions of ``columns``; naming one column twice is an error."""
    indices = [column_index(table, c, arg) for c in columns]
    for k, j in enumerate(indices):
        if j in indices[:k]:
            raise DataError(
                f"{arg} names column '{table.names[j]}' twice", arg=arg,
                hint="list each column once",
            )
    return indices


def parse_number(cell: str) -> float | None:
    """The number in a cell, or ``None`` if the cell is not a finite number."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_number_like(cell: str) -> bool:
    """The cell spells a number, finite or not (``inf`` is a bad number, not text)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def bad_cell(cell: str) -> str:
    """What is wrong with a cell that is not a usable number, for messages."""
    if cell.lower() in MISSING:
        return "a missing value"
    if is_number_like(cell):
        return f"'{cell}', not a finite number"
    return f"'{cell}', not a number"


def is_numeric(table: Table, index: int) -> bool:
    """Every present cell of the column is a number (missing cells are ignored)."""
    cells = [c for c in table.column(index) if c.lower() not in MISSING]
    return bool(cells) and all(parse_number(c) is not None for c in cells)


def is_text(table: Table, index: int) -> bool:
    """The column holds text (names, dates, ids): at most half of its present
    cells spell numbers. A column of numbers with a few bad cells is not text:
    dropping it would silently train without it, so :func:`check_numeric`
    reports the bad cells instead."""
    cells = [c for c in table.column(index) if c.lower() not in MISSING]
    return 2 * sum(map(is_number_like, cells)) <= len(cells)


def check_numeric(table: Table, index: int, arg: str) -> None:
    """Raise, naming the first bad cell, unless every cell is a finite number."""
    bad = [
        (line, cell)
        for cell, line in zip(table.column(index), table.lines, strict=True)
        if parse_number(cell) is None and cell.lower() not in MISSING
    ]
    if not bad:
        return
    line, cell = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    kind = "a finite number" if is_number_like(cell) else "a number"
    raise DataError(
        f"{table.path.name}: column '{table.names[index]}' is not numeric: "
        f"line {line} has '{cell}', not {kind}{more}",
        arg=arg,
        hint="fix or remove those rows; a column of text is left out of the "
        "features only when most of its cells are text",
    )


def numeric_column(table: Table, index: int, arg: str) -> np.ndarray:
    """A column as float64; a missing or non-numeric cell names its line."""
    values = np.empty(len(table.rows))
    name = table.names[index]
    for k, (cell, line) in enumerate(
        zip(table.column(index), table.lines, strict=True)
    ):
        number = None if cell.lower() in MISSING else parse_number(cell)
        if number is None:
            raise DataError(
                f"{table.path.name}:{line}: column '{name}' has {bad_cell(cell)}",
                arg=arg,
            )
        values[k] = number
    return values


def load_csv(
    opts: LoadOptions,
    *,
    path: Path,
    target: tuple[str | int, ...] | None,
    features: tuple[str | int, ...] | None,
    window: int | None,
    horizon: int,
    header: bool,
    delimiter: str,
    task: str | None,
) -> Dataset:
    """A table (one example per row) or, with ``window``, forecasting windows."""
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise DataError(
            f"delimiter must be one character, got {delimiter!r}", arg="delimiter"
        )
    table = read_table(path, header=header, delimiter=delimiter)
    if target is None:
        if len(table.names) != 1:
            raise DataError(
                f"csv needs target=COLUMN; the columns of {path.name} are: "
                f"{', '.join(table.names)}"
            )
        target = (0,)
    targets = column_indices(table, target, "target")
    if window is not None:
        return windows_dataset(table, opts, targets, features, window, horizon, task)
    if features is not None:
        clash = set(targets) & set(column_indices(table, features, "features"))
        if clash:
            name = table.names[min(clash)]
            raise DataError(
                f"'{name}' is both the target and a feature", arg="features"
            )
    columns, ignored = feature_columns(table, features, exclude=targets)
    x = np.stack([numeric_column(table, j, "features") for j in columns], axis=1)
    named = {table.names[j]: target_values(table, j, task) for j in targets}
    target_of = gather_targets(named, several=len(targets) > 1)
    classes = target_of.pop("classes")
    return split_and_assemble(
        x,
        opts=opts,
        scaling="zscore",
        feature_names=[table.names[j] for j in columns],
        meta={
            "ignored_columns": ignored,
            "target_columns": [table.names[j] for j in targets],
            "delimiter": delimiter,
            "warnings": ignored_warning(table, ignored, columns),
        }
        | ({"classes": classes} if classes else {}),
        **target_of,
    )


def feature_columns(
    table: Table, features: tuple[str | int, ...] | None, exclude: list[int]
) -> tuple[list[int], list[str]]:
    """Feature column indices, and the names of the text columns skipped.

    Without ``features=``, a column is skipped only when it is text (see
    :func:`is_text`); a numeric column with a few bad cells is an error.
    """
    if features is not None:
        return column_indices(table, features, "features"), []
    candidates = [j for j in range(len(table.names)) if j not in exclude]
    columns = [j for j in candidates if not is_text(table, j)]
    for j in columns:
        check_numeric(table, j, "path")
    if not columns:
        raise DataError(
            f"{table.path.name} has no numeric feature columns",
            arg="path",
            hint=None
            if guess_delimiter(table) is None
            else f"is the delimiter {guess_delimiter(table)!r}?",
        )
    return columns, [table.names[j] for j in candidates if j not in columns]


def ignored_warning(
    table: Table, ignored: list[str], columns: list[int]
) -> list[tuple[str, str]]:
    """``(message, hint)`` saying which text columns were left out, so that
    nothing is dropped silently; naming the features yourself silences it."""
    if not ignored:
        return []
    quoted = ", ".join(f"'{n}'" for n in ignored)
    names = [table.names[j] for j in columns]
    listed = (
        f"features=[{', '.join(names)}]"
        if len(names) <= MAX_LISTED
        else f"features=[...] (the {len(names)} numeric columns)"
    )
    plural = "s" if len(ignored) > 1 else ""
    return [
        (
            f"{table.path.name}: column{plural} {quoted} "
            f"{'hold' if plural else 'holds'} text and {'are' if plural else 'is'} "
            "left out of the features",
            f"encode text as numbers to use it; to say the features are meant, "
            f"name them: {listed}",
        )
    ]


def target_values(table: Table, index: int, forced: str | None) -> Target:
    """The labels or values of one target column, and its task."""
    name = table.names[index]
    numeric = is_numeric(table, index)
    cells = table.column(index)
    if not numeric and forced not in CLASS_TASKS and not is_text(table, index):
        check_numeric(table, index, "target")  # numbers with a few bad cells
    if numeric or forced == "regression":
        numbers = numeric_column(table, index, "target")
        whole = as_integers(numbers)
        few = whole is not None and len(np.unique(whole)) <= MAX_CLASSES
        if forced == "regression" or (forced is None and not few):
            return Target(numbers, "regression")
        if whole is None:
            raise DataError(
                f"column '{name}' holds fractional numbers, not class labels",
                arg="task",
                hint="use task=regression",
            )
        ids, classes = encode_labels(whole)
    else:
        for cell, line in zip(cells, table.lines, strict=True):
            if cell.lower() in MISSING:
                raise DataError(
                    f"{table.path.name}:{line}: column '{name}' has a missing label",
                    arg="path",
                )
        ids, classes = encode_labels(cells)
    task = forced or class_task(len(classes))
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"task=binary needs 2 classes, but column '{name}' has {len(classes)}",
            arg="task",
        )
    return Target(ids, task, len(classes), classes)


def windows_dataset(
    table: Table,
    opts: LoadOptions,
    targets: list[int],
    features: tuple[str | int, ...] | None,
    window: int,
    horizon: int,
    task: str | None,
) -> Dataset:
    """Forecasting windows: x rows [t, t+window), y target rows [t+window, +horizon).

    The series is cut in time order into train, val and test parts first
    (never shuffled), and windows are taken inside each part, so no window
    reaches across a boundary. ``normalize`` uses the training part's rows.
    Training windows are then shuffled if ``shuffle`` is set.
    """
    if len(targets) != 1:
        raise DataError("a windowed series forecasts one target column", arg="target")
    if task not in (None, "regression"):
        raise DataError("windowed series are regression; drop task=", arg="task")
    columns, ignored = feature_columns(table, features, exclude=[])
    series = np.stack([numeric_column(table, j, "features") for j in columns], axis=1)
    goal = numeric_column(table, targets[0], "target")
    need, rows = window + horizon, len(table.rows)
    if rows < need:
        raise DataError(
            f"window={window} plus horizon={horizon} needs {need} rows, but "
            f"{table.path.name} has only {rows}",
            arg="window",
        )
    counts = split_counts(rows, opts.split)
    meta: dict[str, Any] = {
        "window": window,
        "horizon": horizon,
        "ignored_columns": ignored,
        "warnings": ignored_warning(table, ignored, columns),
    }
    if opts.normalize:
        mean, std = fit_zscore(series[: counts[0]], axes=(0,))
        series = (series - mean) / std
        meta["x_mean"], meta["x_std"] = mean, std
    parts, start = [], 0
    for name, count in zip(("train", "val", "test"), counts, strict=True):
        if 0 < count < need:
            raise DataError(
                f"window={window} plus horizon={horizon} needs {need} rows in each "
                f"split, but the {name} part of the series has only {count}",
                arg="window",
                hint="use a shorter window or a larger split fraction",
            )
        part = slice(start, start + count)
        parts.append(make_windows(series[part], goal[part], window, horizon))
        start += count
    if opts.shuffle:
        order = np.random.default_rng([opts.seed, 0]).permutation(len(parts[0]))
        parts[0] = Split(parts[0].x[order], parts[0].y[order])
    return assemble(
        tuple(parts),
        opts,
        task="regression",
        feature_names=[table.names[j] for j in columns],
        meta=meta | {"target": table.names[targets[0]]},
    )


def make_windows(
    series: np.ndarray, goal: np.ndarray, window: int, horizon: int
) -> Split:
    """All windows of one contiguous part; an empty part gives 0 windows."""
    count = max(0, len(series) - window - horizon + 1)
    if count == 0:
        return Split(np.zeros((0, window, series.shape[1])), np.zeros((0, horizon)))
    view = np.lib.stride_tricks.sliding_window_view
    x = view(series, window, axis=0)[:count].transpose(0, 2, 1)
    y = view(goal[window:], horizon)[:count]
    return Split(x.copy(), y.copy())
