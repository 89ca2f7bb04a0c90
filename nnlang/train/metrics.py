"""Metrics as on-device sums: one ``update`` per batch, one ``result`` per epoch.

A metric never leaves the device during an epoch. ``update(pred, target,
mask)`` returns this batch's contribution to a small dict of sums (masked, so
padded rows of the last batch count for nothing); the loop adds them into the
carried state; at the end of the epoch ``result(sums)`` turns the host copy of
the sums into one float. Predictions arrive *activated* (probabilities after a
fused softmax or sigmoid).

Classification conventions:

* ``pred`` with a last axis of 1 is binary: class 1 when ``p > 0.5``;
* otherwise the class is ``argmax`` over the last axis;
* targets are integer ids (one axis fewer than ``pred``) or one-hot rows;
* ``precision``, ``recall`` and ``f1`` are binary (positive class 1) for one or
  two classes, as scikit-learn's default ``average="binary"``, and
  macro-averaged over the classes present in targets or predictions
  otherwise, as ``average="macro"`` (with ``zero_division=0``).

Examples:
    >>> import jax.numpy as jnp, numpy as np
    >>> m = get_metric(Option("accuracy"))
    >>> sums = m.update(jnp.array([[0.9, 0.1], [0.2, 0.8]]), jnp.array([0, 0]),
    ...                 jnp.array([1.0, 1.0]))
    >>> m.result({k: np.asarray(v) for k, v in sums.items()})
    0.5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnlang.train.config import Option
from nnlang.train.losses import align_target, is_sparse, per_example

Sums = dict[str, jax.Array]


class Metric(NamedTuple):
    """A metric: ``update(pred, target, mask) -> sums`` and ``result(sums) -> float``."""

    update: Callable[[jax.Array, jax.Array, jax.Array], Sums]
    result: Callable[[Mapping[str, np.ndarray]], float]


def _mean_result(sums: Mapping[str, np.ndarray]) -> float:
    return float(sums["total"]) / max(float(sums["count"]), 1.0)


def _mean_update(values: jax.Array, mask: jax.Array) -> Sums:
    return {"total": jnp.sum(per_example(values) * mask), "count": jnp.sum(mask)}


def _classes(pred: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Predicted and true class ids, shaped like ``pred`` without its last axis."""
    if pred.shape[-1] == 1:
        predicted = (pred[..., 0] > 0.5).astype(jnp.int32)
        true = (align_target(target, pred)[..., 0] > 0.5).astype(jnp.int32)
        return predicted, true
    predicted = jnp.argmax(pred, axis=-1)
    if is_sparse(target, pred):
        true = target.reshape(pred.shape[:-1]).astype(predicted.dtype)
    else:
        true = jnp.argmax(target, axis=-1)
    return predicted, true


def accuracy() -> Metric:
    """Fraction of examples whose predicted class is the target class."""

    def update(pred, target, mask):
        predicted, true = _classes(pred, target)
        return _mean_update((predicted == true).astype(jnp.float32), mask)

    return Metric(update, _mean_result)


def top_k(k: int = 5) -> Metric:
    """Fraction of examples whose target is among the ``k`` highest scores."""

    def update(pred, target, mask):
        if is_sparse(target, pred):
            true = target.reshape(pred.shape[:-1])
        else:
            true = jnp.argmax(target, axis=-1)
        score = jnp.take_along_axis(pred, true[..., None].astype(jnp.int32), axis=-1)
        rank = jnp.sum(pred > score, axis=-1)
        return _mean_update((rank < k).astype(jnp.float32), mask)

    return Metric(update, _mean_result)


def mse() -> Metric:
    """Mean squared error."""

    def update(pred, target, mask):
        return _mean_update(jnp.square(pred - align_target(target, pred)), mask)

    return Metric(update, _mean_result)


def mae() -> Metric:
    """Mean absolute error."""

    def update(pred, target, mask):
        return _mean_update(jnp.abs(pred - align_target(target, pred)), mask)

    return Metric(update, _mean_result)


def _confusion(pred: jax.Array, target: jax.Array, mask: jax.Array) -> Sums:
    """True/false positives and false negatives: scalars for class 1 if binary,
    else vectors over classes."""
    predicted, true = _classes(pred, target)
    m = jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (true.ndim - 1)), true.shape)
    m = m.reshape(-1)
    predicted, true = predicted.reshape(-1), true.reshape(-1)
    classes = max(pred.shape[-1], 2)
    if classes == 2:
        p, t = (predicted == 1).astype(jnp.float32), (true == 1).astype(jnp.float32)
    else:
        p = jax.nn.one_hot(predicted, classes)
        t = jax.nn.one_hot(true, classes)
        m = m[:, None]
    return {
        "tp": jnp.sum(p * t * m, axis=0),
        "fp": jnp.sum(p * (1 - t) * m, axis=0),
        "fn": jnp.sum((1 - p) * t * m, axis=0),
    }


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _confusion_result(
    score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
):
    def result(sums: Mapping[str, np.ndarray]) -> float:
        tp, fp, fn = (np.asarray(sums[k], np.float64) for k in ("tp", "fp", "fn"))
        per_class = score(tp, fp, fn)
        if per_class.ndim == 0:
            return float(per_class)
        present = (tp + fp + fn) > 0
        return float(per_class[present].mean()) if present.any() else 0.0

    return result


def precision() -> Metric:
    """``tp / (tp + fp)``: binary, or macro-averaged over classes."""
    return Metric(
        _confusion, _confusion_result(lambda tp, fp, fn: _divide(tp, tp + fp))
    )


def recall() -> Metric:
    """``tp / (tp + fn)``: binary, or macro-averaged over classes."""
    return Metric(
        _confusion, _confusion_result(lambda tp, fp, fn: _divide(tp, tp + fn))
    )


def f1() -> Metric:
    """``2 tp / (2 tp + fp + fn)`` per class: binary, or macro-averaged."""
    return Metric(
        _confusion,
        _confusion_result(lambda tp, fp, fn: _divide(2 * tp, 2 * tp + fp + fn)),
    )


METRIC_BUILDERS: dict[str, Callable[..., Metric]] = {
    "accuracy": accuracy,
    "top_k": top_k,
    "mse": mse,
    "mae": mae,
    "precision": precision,
    "recall": recall,
    "f1": f1,
}


def get_metric(option: Option) -> Metric:
    """The :class:`Metric` for a bound ``METRICS`` option."""
    return METRIC_BUILDERS[option.name](**option.params)
