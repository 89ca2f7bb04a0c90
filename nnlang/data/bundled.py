"""The small data sets bundled with scikit-learn (no download).

scikit-learn is imported inside each loader: it costs about a second, and the
checker imports this package only to read parameter names. The digits, which
most examples use, are read from scikit-learn's file without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from nnlang.data.dataset import Dataset, LoadOptions
from nnlang.data.prepare import class_task, split_and_assemble

DIGITS_MAX = 16.0  # pixel intensities of sklearn's digits run 0..16


def load_digits(opts: LoadOptions) -> Dataset:
    """8x8 handwritten digits, 1797 images, 10 classes.

    ``x`` is an image of shape (8, 8, 1); the trainer reshapes it to the
    model's input when the element counts match, so ``input x: [64]`` works
    too. ``normalize`` divides by 16, giving values in [0, 1].
    """
    images, target = digits_arrays()
    x = images[..., np.newaxis].astype(np.float32)
    return split_and_assemble(
        x,
        target,
        opts,
        task="classification",
        num_classes=10,
        scaling=DIGITS_MAX,
        meta={"classes": [str(c) for c in range(10)]},
    )


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(images [1797, 8, 8], target [1797])``.

    Read from the CSV scikit-learn ships, found without importing it: the
    import took 1.8 s of a 15 s ``nnc run examples/digits_cnn.nn``, reading
    the file 0.02 s. Falls back to ``sklearn.datasets.load_digits`` if the
    file is not where scikit-learn keeps it or is not the expected table.
    """
    path = sklearn_data_file("digits.csv.gz")
    if path is not None:
        try:
            table = np.loadtxt(path, delimiter=",")
        except (OSError, ValueError):
            table = None
        if table is not None and table.shape == (1797, 65):
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.images, bunch.target


def sklearn_data_file(name: str) -> Path | None:
    """``sklearn/datasets/data/NAME`` if it exists, without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), "datasets", "data", name)
    return path if path.is_file() else None


def load_iris(opts: LoadOptions) -> Dataset:
    """Iris flowers: 150 rows, 4 measurements, 3 species."""
    from sklearn.datasets import load_iris as sklearn_iris

    return labelled_table(sklearn_iris(), opts)


def load_wine(opts: LoadOptions) -> Dataset:
    """Wine cultivars: 178 rows, 13 chemical measurements, 3 classes."""
    from sklearn.datasets import load_wine as sklearn_wine

    return labelled_table(sklearn_wine(), opts)


def load_breast_cancer(opts: LoadOptions) -> Dataset:
    """Breast cancer (Wisconsin): 569 rows, 30 features; 0 malignant, 1 benign."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    return labelled_table(sklearn_breast_cancer(), opts)


def load_diabetes(opts: LoadOptions) -> Dataset:
    """Diabetes progression: 442 rows, 10 features, a regression target.

    The raw (unscaled) features are used so that ``normalize`` z-scores them
    with training statistics, like any other table.
    """
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes(scaled=False)
    return split_and_assemble(
        bunch.data.astype(np.float32),
        bunch.target,
        opts,
        task="regression",
        scaling="zscore",
        feature_names=list(bunch.feature_names),
    )


def labelled_table(bunch: Any, opts: LoadOptions) -> Dataset:
    """A classification table from a scikit-learn Bunch."""
    classes = [str(c) for c in bunch.target_names]
    return split_and_assemble(
        bunch.data.astype(np.float32),
        bunch.target,
        opts,
        task=class_task(len(classes)),
        num_classes=len(classes),
        scaling="zscore",
        feature_names=list(bunch.feature_names),
        meta={"classes": classes},
    )
