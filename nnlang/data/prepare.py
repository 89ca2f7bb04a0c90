"""Shared steps from raw arrays to a :class:`Dataset`: split, encode, scale.

Loaders produce whole arrays and call :func:`split_and_assemble`; sources that
must split in their own way (time series) split first and call
:func:`assemble`. Either way every statistic — feature means and deviations,
target scaling — comes from the training split alone, so nothing about the
validation or test examples leaks into training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlang.data.dataset import DataError, Dataset, LoadOptions, Split, Task
from nnlang.data.select import check_inputs_target, inputs_as_targets, select_examples

Scaling = str | float | None
"""How to normalise an input: ``"zscore"`` (training mean and deviation per
feature, i.e. per last axis), a fixed divisor such as ``16.0``, or ``None``."""

CLASS_TASKS = ("classification", "binary")


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Rows per split for ``n`` examples; raises if a requested split is empty.

    Examples:
        >>> split_counts(100, (0.8, 0.1, 0.1))
        (80, 10, 10)
        >>> split_counts(10, (0.7, 0.3, 0.0))
        (7, 3, 0)
    """
    _, f_val, f_test = fractions
    n_val, n_test = round(n * f_val), round(n * f_test)
    counts = (n - n_val - n_test, n_val, n_test)
    for name, fraction, count in zip(
        ("train", "val", "test"), fractions, counts, strict=True
    ):
        if fraction > 0 and count <= 0:
            raise DataError(
                f"the {name} split is empty: {n} examples are too few for "
                f"split={list(fractions)}",
                arg="split",
                hint=f"give {name} a larger fraction, or 0 to have no {name} split",
            )
    return counts


def split_indices(n: int, opts: LoadOptions) -> tuple[np.ndarray, ...]:
    """Index arrays for train, val and test; shuffled from the seed if asked."""
    n_train, n_val, _ = split_counts(n, opts.split)
    order = np.arange(n)
    if opts.shuffle:
        order = np.random.default_rng([opts.seed, 0]).permutation(n)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def take(arrays: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of an array or of each array in a dict."""
    if isinstance(arrays, dict):
        return {k: v[index] for k, v in arrays.items()}
    return arrays[index]


def encode_labels(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Class ids and class names for a column of labels.

    Non-negative integer labels are kept as ids (``num_classes = max + 1``, as
    Keras' sparse labels); anything else — strings, negative or non-contiguous
    numbers like ±1 — is numbered in sorted order (numerically when every label
    is a number).

    Examples:
        >>> encode_labels(["pos", "neg", "pos"])
        (array([1, 0, 1], dtype=int32), ['neg', 'pos'])
        >>> encode_labels(np.array([-1.0, 1.0]))[0]
        array([0, 1], dtype=int32)
        >>> encode_labels(np.array([2, 0]))
        (array([2, 0], dtype=int32), ['0', '1', '2'])
    """
    numbers = as_integers(values)
    if numbers is not None and len(numbers) and numbers.min() >= 0:
        return numbers.astype(np.int32), [str(i) for i in range(numbers.max() + 1)]
    if numbers is not None:
        classes, ids = np.unique(numbers, return_inverse=True)
        return ids.astype(np.int32), [str(c) for c in classes]
    labels = [str(v) for v in values]
    classes = sorted(set(labels))
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in labels], dtype=np.int32), classes


def as_integers(values: Sequence[Any] | np.ndarray) -> np.ndarray | None:
    """``values`` as int64 if every one is a whole number, else ``None``."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if numbers.ndim != 1 or not np.all(np.isfinite(numbers)):
        return None
    if not np.array_equal(numbers, np.round(numbers)):
        return None
    return numbers.astype(np.int64)


@dataclass(frozen=True, slots=True)
class Target:
    """One prepared target column or array."""

    y: np.ndarray
    task: Task
    num_classes: int | None = None
    classes: list[str] | None = None


def gather_targets(targets: Mapping[str, Target], several: bool) -> dict[str, Any]:
    """``y``, ``task``, ``num_classes`` and ``classes`` for :func:`assemble`'s
    caller: plain values for one target, dicts keyed by name for several."""
    if not several:
        (one,) = targets.values()
        return {
            "y": one.y,
            "task": one.task,
            "num_classes": one.num_classes,
            "classes": one.classes,
        }
    return {
        "y": {k: t.y for k, t in targets.items()},
        "task": {k: t.task for k, t in targets.items()},
        "num_classes": {k: t.num_classes for k, t in targets.items()},
        "classes": {k: t.classes for k, t in targets.items() if t.classes is not None},
    }


def class_task(num_classes: int) -> Task:
    """``binary`` for two classes, ``classification`` otherwise."""
    return "binary" if num_classes == 2 else "classification"


def split_and_assemble(x: Any, y: Any, opts: LoadOptions, **kwargs: Any) -> Dataset:
    """Split whole arrays by ``opts.split`` and build the dataset (see assemble)."""
    parts = tuple(
        Split(take(x, i), take(y, i)) for i in split_indices(len(Split(x, y)), opts)
    )
    return assemble(parts, opts, **kwargs)


def assemble(
    parts: tuple[Split, Split, Split],
    opts: LoadOptions,
    *,
    task: Task | dict[str, Task],
    num_classes: int | None | dict[str, int | None] = None,
    scaling: Scaling | dict[str, Scaling] = None,
    feature_names: Sequence[str] | None = None,
    vocab: list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    extra: Mapping[str, Split] | None = None,
) -> Dataset:
    """Normalise with training statistics, cast, and describe the splits.

    Args:
        parts: raw train, val and test splits (train must have rows).
        opts: the common options; ``normalize`` enables ``scaling`` and
            ``scale_target`` z-scores regression targets.
        task: the task, or one per output name when ``y`` is a dict.
        num_classes: likewise.
        scaling: how to normalise ``x`` (one per input name for dict ``x``).
        feature_names: names of the last axis of ``x``, if meaningful.
        vocab: token strings by id, for text.
        meta: extras copied into ``Dataset.meta``.
        extra: more splits (e.g. ``extrapolation``) transformed exactly like
            val and test and stored in ``meta`` under their names.
    """
    if len(parts[0]) == 0:
        raise DataError("the train split is empty", arg="split")
    check_inputs_target(parts[0].x, opts)
    # Targets take their final shape first, so statistics have the shape of y.
    train, val, test = (
        Split(s.x, map_arrays(lambda k, a: cast_targets(a, pick(task, k)), s.y))
        for s in parts
    )
    meta = dict(meta or {})
    picked = select_examples(
        (train, val, test), opts, task, num_classes, meta.get("classes")
    )
    train, val, test = picked.parts
    task, num_classes = picked.task, picked.num_classes
    if picked.names is not None:
        meta["classes"] = picked.names
    if opts.target != "inputs":
        check_several_classes((train, val, test), task, meta.get("classes"), opts)
    x_stats = None
    if opts.normalize:
        x_stats = map_arrays(lambda k, a: fit_scaling(a, pick(scaling, k)), train.x)
        if any_values(x_stats):
            meta["x_mean"], meta["x_std"] = unzip_stats(x_stats)
    y_stats = None
    if opts.scale_target:
        y_stats = map_arrays(
            lambda k, a: (
                fit_zscore(a, axes=(0,)) if pick(task, k) == "regression" else None
            ),
            train.y,
        )
        if not any_values(y_stats):
            raise DataError(
                "scale_target=true needs a regression target, but the task is "
                f"{describe_task(task)}",
                arg="scale_target",
            )

    def transform(split: Split) -> Split:
        x = map_arrays(lambda k, a: cast_inputs(apply(a, pick(x_stats, k))), split.x)
        y = map_arrays(
            lambda k, a: cast_targets(apply(a, pick(y_stats, k)), pick(task, k)),
            split.y,
        )
        return Split(x, y)

    train, val, test = (transform(s) for s in (train, val, test))
    for name, split in (extra or {}).items():
        y = map_arrays(lambda k, a: cast_targets(a, pick(task, k)), split.y)
        meta[name] = transform(Split(split.x, y))
    if opts.target == "inputs":  # an autoencoder's targets: its normalised inputs
        train, val, test = (inputs_as_targets(s) for s in (train, val, test))
        task, num_classes = "regression", None
        meta.pop("classes", None)
        meta["target"] = "inputs"
    if isinstance(task, dict):
        meta["tasks"], meta["num_classes"] = dict(task), dict(num_classes or {})
    target_mean, target_std = unzip_stats(drop_none(y_stats))
    return Dataset(
        train=train,
        val=val,
        test=test,
        task=first(task),
        num_classes=first(num_classes),
        x_shape=map_arrays(lambda k, a: tuple(a.shape[1:]), train.x),
        y_shape=map_arrays(lambda k, a: tuple(a.shape[1:]), train.y),
        x_dtype=map_arrays(lambda k, a: str(a.dtype), train.x),
        feature_names=tuple(feature_names) if feature_names is not None else None,
        target_mean=target_mean,
        target_std=target_std,
        vocab=vocab,
        meta=meta,
    )


def check_several_classes(
    parts: tuple[Split, Split, Split],
    task: Task | dict[str, Task],
    names: Any,
    opts: LoadOptions,
) -> None:
    """Class labels must hold two classes or more: with one, the loss is 0 and
    accuracy 1.0 from the first step, and nothing is learnt."""
    for key, kind in (task.items() if isinstance(task, dict) else [(None, task)]):
        if kind not in CLASS_TASKS:
            continue
        ys = [np.asarray(pick(s.y, key)).reshape(-1) for s in parts]
        present = np.unique(np.concatenate(ys))
        if len(present) != 1:
            continue
        labels = pick(names, key) if isinstance(names, dict) else names
        label = labels[present[0]] if labels and present[0] < len(labels) else present[0]
        where = f" of target '{key}'" if key is not None else ""
        raise DataError(
            f"the labels{where} hold one class, '{label}': there is nothing to "
            "tell apart",
            arg="classes" if opts.classes else None,
            hint="classes= keeps one class; keep two or more"
            if opts.classes
            else "a classifier needs examples of two classes or more; check the "
            "labels in the file",
        )


def fit_scaling(x: np.ndarray, scaling: Scaling) -> tuple[Any, Any] | None:
    """(mean, std) implementing ``scaling`` on training inputs ``x``."""
    if scaling is None or np.issubdtype(x.dtype, np.integer):
        return None  # token ids and the like are never scaled
    if scaling == "zscore":
        return fit_zscore(x, axes=tuple(range(x.ndim - 1)))
    return np.float32(0.0), np.float32(scaling)


def fit_zscore(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and deviation over ``axes``; constant features get a deviation of 1."""
    mean = x.mean(axis=axes, dtype=np.float64)
    std = x.std(axis=axes, dtype=np.float64)
    std = np.where(std < 1e-12, 1.0, std)  # a constant column would divide by 0
    return mean.astype(np.float32), std.astype(np.float32)


def unzip_stats(stats: Any) -> tuple[Any, Any]:
    """(means, stds) from (mean, std) pairs, keeping a dict's keys; None stays None."""
    if stats is None:
        return None, None
    means = map_arrays(lambda k, s: None if s is None else s[0], stats)
    stds = map_arrays(lambda k, s: None if s is None else s[1], stats)
    return means, stds


def apply(a: np.ndarray, stats: tuple[Any, Any] | None) -> np.ndarray:
    return a if stats is None else (a - stats[0]) / stats[1]


def cast_inputs(x: np.ndarray) -> np.ndarray:
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.int32)
    return x.astype(np.float32)


def cast_targets(y: np.ndarray, task: Task) -> np.ndarray:
    if task in CLASS_TASKS:
        return y.astype(np.int32)
    y = y.astype(np.float32)
    return y.reshape(-1, 1) if y.ndim == 1 else y  # regression targets are vectors


def describe_task(task: Task | dict[str, Task]) -> str:
    if isinstance(task, dict):
        return ", ".join(f"{k}: {v}" for k, v in task.items())
    return task


def map_arrays(fn: Any, arrays: Any) -> Any:
    """``fn(name, value)`` over a dict, or ``fn(None, value)`` for a single value."""
    if isinstance(arrays, dict):
        return {k: fn(k, v) for k, v in arrays.items()}
    return fn(None, arrays)


def pick(value: Any, key: str | None) -> Any:
    """The entry for ``key`` of a per-name dict, or the value itself."""
    if isinstance(value, dict) and key is not None:
        return value.get(key)
    return value


def first(value: Any) -> Any:
    return next(iter(value.values()), None) if isinstance(value, dict) else value


def any_values(value: Any) -> bool:
    if isinstance(value, dict):
        return any(v is not None for v in value.values())
    return value is not None


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value
