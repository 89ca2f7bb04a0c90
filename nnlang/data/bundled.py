"""The small data sets bundled with scikit-learn (no download).

scikit-learn is imported inside each loader: it costs about a second, and the
checker imports this package only to read parameter names.
"""

from __future__ import annotations

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
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = bunch.images[..., np.newaxis].astype(np.float32)
    return split_and_assemble(
        x,
        bunch.target,
        opts,
        task="classification",
        num_classes=10,
        scaling=DIGITS_MAX,
        meta={"classes": [str(c) for c in bunch.target_names]},
    )


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
