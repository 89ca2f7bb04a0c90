"""Which examples and targets a source hands on: ``classes``, ``train_per_class``,
``train_limit``, ``target=inputs``.

These options are common to data sources (declared in ``registry``), so they
run in one place, :func:`nnlang.data.prepare.assemble`, on splits that are
already made: the class filter and the limit never change which split an
example falls in, only whether it is kept. That makes
``digits(classes=[0, 1, 2, 3, 4])`` and ``digits(classes=[5, 6, 7, 8, 9])``
disjoint halves of the very same split, which is what a transfer-learning
comparison needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlang.data.dataset import DataError, LoadOptions, Split

CLASS_TASKS = ("classification", "binary")


def class_ids(
    wanted: Sequence[Any], names: Sequence[str] | None, num_classes: int | None
) -> list[int]:
    """The class ids that ``classes=[...]`` names, by class name or by id.

    A value matches a class *name* first (``"setosa"``, or ``5`` for the digit
    named ``"5"``), else it is taken as a 0-based class id.

    Examples:
        >>> class_ids([5, 7], [str(i) for i in range(10)], 10)
        [5, 7]
        >>> class_ids(["virginica", 0], ["setosa", "versicolor", "virginica"], 3)
        [2, 0]

    Raises:
        DataError: a value names no class (``arg="classes"``).
    """
    names = [str(n) for n in names] if names else []
    count = num_classes if num_classes is not None else len(names)
    ids = []
    for value in wanted:
        if str(value) in names:
            ids.append(names.index(str(value)))
        elif isinstance(value, int) and 0 <= value < count:
            ids.append(value)
        else:
            known = ", ".join(names) if names else f"ids 0 to {count - 1}"
            raise DataError(
                f"classes: there is no class {value!r} in this data",
                arg="classes",
                hint=f"the classes are {known}",
            )
    return ids


def keep_classes(parts: Sequence[Split], ids: Sequence[int]) -> tuple[Split, ...]:
    """Each split reduced to the examples of classes ``ids``, relabelled 0, 1, ...

    The selected classes become a task of their own, numbered in the order
    given, as Keras numbers the class folders it is given: ``classes=[5, 6, 7,
    8, 9]`` is a 5-class problem for a ``dense(5)`` head, labels 0 to 4.
    """
    lookup = np.full(max(ids) + 1, -1, dtype=np.int64)
    lookup[np.asarray(ids)] = np.arange(len(ids))
    kept = []
    for split in parts:
        y = np.asarray(split.y).astype(np.int64)
        mask = np.isin(y, ids)
        kept.append(Split(_rows(split.x, mask), lookup[y[mask]].astype(np.int32)))
    return tuple(kept)


def first_per_class(split: Split, count: int) -> Split:
    """The first ``count`` examples of each class, in the split's order.

    Examples:
        >>> y = np.array([2, 0, 2, 2, 1, 0])
        >>> first_per_class(Split(np.arange(6), y), 2).x
        array([0, 1, 2, 4, 5])
    """
    y = np.asarray(split.y).astype(np.int64)
    firsts = [np.flatnonzero(y == c)[:count] for c in np.unique(y)]
    keep = np.sort(np.concatenate(firsts))
    return Split(_rows(split.x, keep), _rows(split.y, keep))


def _rows(arrays: Any, index: np.ndarray) -> Any:
    """Rows ``index`` (a mask or positions) of an array or of each in a dict."""
    if isinstance(arrays, dict):
        return {k: v[index] for k, v in arrays.items()}
    return arrays[index]


@dataclass(frozen=True, slots=True)
class Selection:
    """Examples left by ``classes``, ``train_per_class`` and ``train_limit``, and the
    class task."""

    parts: tuple[Split, Split, Split]
    task: Any
    num_classes: Any
    names: list[str] | None


def select_examples(
    parts: tuple[Split, Split, Split],
    opts: LoadOptions,
    task: Any,
    num_classes: Any,
    names: Sequence[str] | None,
) -> Selection:
    """Apply ``classes``, then ``train_per_class``, then ``train_limit`` to
    already split examples.

    Raises:
        DataError: ``classes`` or ``train_per_class`` on data without class
            labels, a class that does not exist, or a selection that leaves no
            training example.
    """
    for arg in ("classes", "train_per_class"):
        if getattr(opts, arg) is not None and (
            isinstance(task, dict) or task not in CLASS_TASKS
        ):
            raise DataError(
                f"{arg}= selects by class, but this data's task is {task!r}",
                arg=arg,
                hint="use it with labelled classes, such as digits or iris",
            )
    if opts.classes is not None:
        ids = class_ids(opts.classes, names, num_classes)
        parts = keep_classes(parts, ids)
        names = [names[i] if names else str(i) for i in ids]
        task, num_classes = ("binary" if len(ids) == 2 else task), len(ids)
        if len(parts[0]) == 0:
            raise DataError(
                "classes: no training example has one of these classes",
                arg="classes",
            )
    if opts.train_per_class is not None:
        parts = (first_per_class(parts[0], opts.train_per_class), *parts[1:])
    if opts.train_limit is not None:
        train = parts[0]
        keep = np.arange(min(opts.train_limit, len(train)))
        parts = (Split(_rows(train.x, keep), _rows(train.y, keep)), *parts[1:])
    return Selection(parts, task, num_classes, list(names) if names else None)


def check_inputs_target(x: Any, opts: LoadOptions) -> None:
    """``target=inputs`` needs one input array and no target scaling."""
    if opts.target != "inputs":
        return
    if isinstance(x, dict):
        raise DataError(
            "target=inputs needs data with one input; this data has several",
            arg="target",
        )
    if opts.scale_target:
        raise DataError(
            "scale_target does not combine with target=inputs: the targets are "
            "the inputs, normalised as the inputs are",
            arg="scale_target",
        )


def inputs_as_targets(split: Split) -> Split:
    """The split with its (already normalised) inputs as its targets."""
    return Split(split.x, np.array(split.x, dtype=np.float32, copy=True))
