"""New examples for ``nnc predict``: CSV tables read the way training read them.

A run trained on ``csv(...)`` records its feature columns (and target columns
and delimiter) in ``preprocess.npz`` through :func:`prediction_columns`. A
prediction CSV with a header row then has its feature columns picked by name,
in training order: the target column and any other extra column are ignored,
and a missing feature column is an error that names it. A CSV without a header
row is taken by position, one example per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnlang.data.dataset import DataError
from nnlang.data.tables import (
    MISSING,
    Table,
    bad_cell,
    check_unique_names,
    is_number_like,
    parse_number,
    read_table,
)


def prediction_columns(data: Any) -> dict[str, np.ndarray]:
    """What ``preprocess.npz`` keeps so that prediction reads a table like training:
    ``feature_names``, ``target_columns`` and ``delimiter``, for flat tables only
    (a windowed series has no one column per input value)."""
    meta = data.meta or {}
    names = data.feature_names
    if names is None or "target_columns" not in meta or data.x_shape != (len(names),):
        return {}
    return {
        "feature_names": np.asarray(list(names), dtype=str),
        "target_columns": np.asarray(list(meta["target_columns"]), dtype=str),
        "delimiter": np.asarray(meta.get("delimiter", ",")),
    }


def read_prediction_csv(path: Path, prep: Mapping[str, Any]) -> np.ndarray:
    """Examples (n, features) float32 from a CSV, by header name when ``prep``
    (a run's ``preprocess.npz``) records the training columns.

    Raises:
        DataError: a file that cannot be read as a table (``arg="path"``); a
            missing column or a cell that is no number (``arg="columns"``).
    """
    delimiter = str(prep["delimiter"]) if "delimiter" in prep else ","
    table = read_table(path, header=False, delimiter=delimiter)
    first = [c.strip() for c in table.rows[0]]
    if not any(is_header_cell(c) for c in first):
        return parse_cells(table, list(range(len(first))))
    check_unique_names(path, tuple(first), table.lines[0])
    body = Table(path, tuple(first), table.rows[1:], table.lines[1:])
    if not body.rows:
        raise DataError(f"{path.name} has a header but no data rows", arg="path")
    if "feature_names" not in prep:  # trained on unnamed data: by position
        return parse_cells(body, list(range(len(first))))
    features = [str(n) for n in prep["feature_names"]]
    missing = [n for n in features if n not in first]
    if missing:
        targets = {str(n) for n in prep.get("target_columns", ())}
        plural = "s" if len(missing) > 1 else ""
        raise DataError(
            f"{path.name} has no column{plural} {', '.join(map(repr, missing))}; the "
            f"model was trained on columns {', '.join(features)}",
            arg="columns",
            hint=f"its header names: {', '.join(first)}"
            + (f" (the target {', '.join(sorted(targets))} may be left out)"
               if targets else ""),
        )
    return parse_cells(body, [first.index(n) for n in features])


def is_header_cell(cell: str) -> bool:
    """A cell that only a header row would hold: text that is no number."""
    return cell.lower() not in MISSING and not is_number_like(cell)


def parse_cells(table: Table, columns: Sequence[int]) -> np.ndarray:
    """Columns of a table as float32; a bad cell names its line and column."""
    x = np.empty((len(table.rows), len(columns)), dtype=np.float32)
    for k, j in enumerate(columns):
        for i, (cell, line) in enumerate(
            zip(table.column(j), table.lines, strict=True)
        ):
            number = parse_number(cell)
            if number is None:
                raise DataError(
                    f"{table.path.name}:{line}: column '{table.names[j]}' has "
                    f"{bad_cell(cell)}",
                    arg="columns",
                )
            x[i, k] = number
    return x
