"""What a data source hands to the trainer: :class:`Dataset` and its parts.

Conventions every source follows, so the trainer needs no per-source cases:

* Arrays carry the batch axis first; ``x_shape`` and ``y_shape`` leave it out,
  as `.nn` shapes do.
* ``x`` is float32, or int32 when it holds token ids (``x_dtype`` says which).
* Class labels are one int32 scalar per example (``y_shape == ()``), ids in
  ``[0, num_classes)``; binary tasks use 0/1 with ``num_classes == 2``.
* Regression targets are float32 vectors (``y_shape == (k,)``, ``k >= 1``), so
  they line up with a ``dense(k)`` head without reshaping.
* Several inputs or outputs arrive as dicts keyed by name (``x``, ``y``,
  ``x_shape``, ``y_shape``, ``x_dtype`` all become dicts). ``task`` and
  ``num_classes`` then describe the first output; ``meta["tasks"]`` and
  ``meta["num_classes"]`` give every output's.
* The trainer may reshape ``x`` to the model's input when the element counts
  match (``digits`` is ``[8, 8, 1]``; a model declaring ``[64]`` gets it
  flattened).
* When inputs were normalised, ``meta["x_mean"]`` and ``meta["x_std"]`` hold
  the training statistics (broadcastable against one example's last axis, or
  scalars for fixed scalings such as ``/16``), so new inputs at prediction
  time get ``(x - x_mean) / x_std``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Task: TypeAlias = Literal["classification", "binary", "regression", "sequence"]
"""``sequence`` is reserved for per-step targets; no built-in source emits it
(forecasting windows are ``regression``: one target vector per window)."""

Shape: TypeAlias = tuple[int, ...]


class DataError(Exception):
    """A user mistake in a data source: bad argument, missing file, bad content.

    Attributes:
        message: one line, lower case, no trailing period.
        arg: the parameter at fault (its name even when it was passed
            positionally; positional arguments bind to ``spec.params`` in
            order), or ``None`` when the source as a whole is at fault.
        hint: a suggestion such as "did you mean 'temp'?", or ``None``.
    """

    def __init__(self, message: str, arg: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True, eq=False, slots=True)
class Split:
    """Examples of one split; ``x`` and ``y`` have the same number of rows."""

    x: Any  # np.ndarray | dict[str, np.ndarray]
    y: Any  # np.ndarray | dict[str, np.ndarray]

    def __len__(self) -> int:
        return count_rows(self.x)


@dataclass(frozen=True, eq=False, slots=True)
class Dataset:
    """Train, validation and test splits plus what the trainer needs to know.

    Attributes:
        train: the training examples (never empty).
        val: validation examples; may have 0 rows.
        test: test examples; may have 0 rows.
        task: decides the default loss and metrics.
        num_classes: for classification and binary tasks, else ``None``.
        x_shape: one example's input shape (dict per input for several).
        y_shape: one example's target shape (dict per output for several).
        x_dtype: ``"float32"`` or ``"int32"`` (dict per input for several).
        feature_names: column names for tables, feature words for playground.
        target_mean: training mean of regression targets when ``scale_target``
            was set (dict per output for several), to un-scale predictions.
        target_std: the matching standard deviation.
        vocab: token strings by id for text (0 padding, 1 unknown).
        meta: free-form extras (class names, tokenizer settings, statistics).
    """

    train: Split
    val: Split
    test: Split
    task: Task
    num_classes: int | None
    x_shape: Any  # Shape | dict[str, Shape]
    y_shape: Any  # Shape | dict[str, Shape]
    x_dtype: Any  # str | dict[str, str]
    feature_names: tuple[str, ...] | None = None
    target_mean: Any = None  # np.ndarray | dict[str, np.ndarray] | None
    target_std: Any = None
    vocab: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def unscale_targets(self, y: Any) -> Any:
        """Map scaled predictions back to the target's units (no-op if unscaled).

        Examples:
            >>> import numpy as np
            >>> s = Split(np.zeros((1, 1)), np.zeros((1, 1)))
            >>> d = Dataset(s, s, s, "regression", None, (1,), (1,), "float32",
            ...             target_mean=np.array([10.0]), target_std=np.array([2.0]))
            >>> d.unscale_targets(np.array([[1.0]]))
            array([[12.]])
        """
        if self.target_mean is None:
            return y
        if isinstance(y, dict):
            return {
                k: v * self.target_std[k] + self.target_mean[k]
                if k in self.target_mean
                else v
                for k, v in y.items()
            }
        return y * self.target_std + self.target_mean


def count_rows(arrays: Any) -> int:
    """Number of examples in an array or in a dict of arrays."""
    if isinstance(arrays, dict):
        return len(next(iter(arrays.values()))) if arrays else 0
    return len(arrays)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """The settings every loader receives besides its own arguments."""

    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    shuffle: bool = True
    normalize: bool = True
    scale_target: bool = False
    seed: int = 0
    classes: tuple[Any, ...] | None = None  # keep only examples of these classes
    train_per_class: int | None = None  # keep at most this many of each class
    train_limit: int | None = None  # keep at most this many training examples
    target: str = "labels"  # "inputs": the targets are the (normalised) inputs
