"""Generated data: the TensorFlow Playground sets and sine waves.

Everything is drawn from ``numpy.random.default_rng([seed, 1])``, so a seed
gives the same points on every machine (the split shuffle uses its own
stream, ``[seed, 0]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from nnlang.data.dataset import DataError, Dataset, LoadOptions, Split
from nnlang.data.prepare import assemble, split_and_assemble, split_indices

PLAYGROUND_RADIUS = 5.0

PLAYGROUND_FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1_sq": lambda x1, x2: x1 * x1,
    "x2_sq": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}
"""The Playground's input checkboxes: X1, X2, X1², X2², X1X2, sin(X1), sin(X2)."""


def playground_features(points: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """Engineered inputs (n, len(features)) from raw points (n, 2).

    Public so that a trainer can draw a decision boundary over a grid of points.

    Examples:
        >>> playground_features(np.array([[2.0, 3.0]]), ["x1", "x1x2"])
        array([[2., 6.]], dtype=float32)
    """
    x1, x2 = points[:, 0], points[:, 1]
    columns = [PLAYGROUND_FEATURES[f](x1, x2) for f in features]
    return np.stack(columns, axis=1).astype(np.float32)


def load_playground(
    opts: LoadOptions, *, kind: str, n: int, noise: float, features: Sequence[str]
) -> Dataset:
    """A TensorFlow Playground classification set, labels 0/1.

    The generators follow playground.tensorflow.org's ``dataset.ts``: points
    within radius 5, ``noise`` as on its slider (0 to 0.5), label +1 → 1 and
    -1 → 0. As there, circle and xor take their label from the noisy point
    but keep the clean one, so noise blurs the boundary. ``x`` holds the
    chosen ``features`` of each point; ``meta["points"]`` keeps the raw 2-D
    points per split for plotting.
    """
    rng = np.random.default_rng([opts.seed, 1])
    points, signs = PLAYGROUND_GENERATORS[kind](n, noise, rng)
    x = playground_features(points, features)
    y = (signs > 0).astype(np.int32)
    index = split_indices(n, opts)
    parts = tuple(Split(x[i], y[i]) for i in index)
    return assemble(
        parts,
        opts,
        task="binary",
        num_classes=2,
        scaling="zscore",
        feature_names=features,
        meta={
            "kind": kind,
            "features": tuple(features),
            "points": {
                name: points[i].astype(np.float32)
                for name, i in zip(("train", "val", "test"), index, strict=True)
            },
        },
    )


def halves(n: int) -> tuple[int, int]:
    """Points per class: the Playground draws n/2 of each."""
    return n - n // 2, n // 2


def uniform(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    return rng.uniform(low, high, size)


def classify_circle(n: int, noise: float, rng: np.random.Generator):
    """classifyCircleData: a disc of 1s (r < 2.5) inside a ring of 0s (3.5..5)."""
    r_max = PLAYGROUND_RADIUS
    parts = []
    for count, (r_low, r_high) in zip(
        halves(n), ((0.0, r_max * 0.5), (r_max * 0.7, r_max)), strict=True
    ):
        r = uniform(rng, r_low, r_high, count)
        angle = uniform(rng, 0.0, 2 * math.pi, count)
        parts.append(np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1))
    points = np.concatenate(parts)
    noisy = points + uniform(rng, -r_max, r_max, 2 * n).reshape(n, 2) * noise
    signs = np.where(np.hypot(noisy[:, 0], noisy[:, 1]) < r_max * 0.5, 1, -1)
    return points, signs


def classify_xor(n: int, noise: float, rng: np.random.Generator):
    """classifyXORData: quadrants, 1 where x*y >= 0, pushed 0.3 off the axes."""
    points = uniform(rng, -5.0, 5.0, 2 * n).reshape(n, 2)
    points += np.where(points > 0, 0.3, -0.3)  # the Playground's padding
    noisy = points + uniform(rng, -5.0, 5.0, 2 * n).reshape(n, 2) * noise
    signs = np.where(noisy[:, 0] * noisy[:, 1] >= 0, 1, -1)
    return points, signs


def classify_two_gauss(n: int, noise: float, rng: np.random.Generator):
    """classifyTwoGaussData: blobs at (2, 2) → 1 and (-2, -2) → 0."""
    variance = 0.5 + noise * 7.0  # d3 linear scale: noise 0..0.5 → variance 0.5..4
    parts, signs = [], []
    for count, (center, sign) in zip(halves(n), ((2.0, 1), (-2.0, -1)), strict=True):
        parts.append(rng.normal(center, math.sqrt(variance), (count, 2)))
        signs.append(np.full(count, sign))
    return np.concatenate(parts), np.concatenate(signs)


def classify_spiral(n: int, noise: float, rng: np.random.Generator):
    """classifySpiralData: two interleaved arms, 1.75 turns out to radius 5."""
    half = n / 2
    parts, signs = [], []
    for count, (delta, sign) in zip(halves(n), ((0.0, 1), (math.pi, -1)), strict=True):
        i = np.arange(count)
        r = i / half * PLAYGROUND_RADIUS
        t = 1.75 * i / half * 2 * math.pi + delta
        jitter = uniform(rng, -1.0, 1.0, 2 * count).reshape(count, 2) * noise
        parts.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1) + jitter)
        signs.append(np.full(count, sign))
    return np.concatenate(parts), np.concatenate(signs)


PLAYGROUND_GENERATORS = {
    "circle": classify_circle,
    "xor": classify_xor,
    "gauss": classify_two_gauss,
    "spiral": classify_spiral,
}


def load_sine(
    opts: LoadOptions,
    *,
    n: int,
    length: int,
    horizon: int,
    noise: float,
    period: float,
    kind: str,
    low: float,
    high: float,
    extrapolate: tuple[float, float] | None = None,
) -> Dataset:
    """Sine data in two kinds.

    ``windows`` (forecasting): each example is a stretch of
    ``sin(2*pi*t/period + phase)`` at integer steps ``t`` with its own random
    phase; ``x`` is the first ``length`` steps, shape (length, 1), and ``y``
    the next ``horizon`` steps, shape (horizon,). With the default period of
    25 steps a 50-step window holds two cycles, easy for a small LSTM.

    ``curve`` (function fitting): ``x`` is uniform in [low, high], shape (1,),
    and ``y = sin(x)``, shape (1,). ``meta["extrapolation"]`` is a Split of
    ``n // 5`` points (at least 1) drawn uniformly from the part of
    ``extrapolate`` outside [low, high], on either side; by default
    [high, high + (high - low) / 2] ([pi, 2*pi] for the defaults). It is
    never trained on: ``nnc run`` scores the fit on it next to the test
    split (``extrapolation.json``) to show that fits do not extrapolate.
    ``meta["range"]`` and ``meta["extrapolate"]`` record both ranges.

    ``noise`` is the standard deviation of Gaussian noise added to every
    observed value, inputs and targets alike.
    """
    rng = np.random.default_rng([opts.seed, 1])
    if kind == "windows":
        phase = rng.uniform(0.0, 2 * math.pi, (n, 1))
        steps = np.arange(length + horizon)
        series = np.sin(2 * math.pi * steps / period + phase)
        series += rng.normal(0.0, 1.0, series.shape) * noise
        x, y = series[:, :length, np.newaxis], series[:, length:]
        return split_and_assemble(
            x, y, opts, task="regression", scaling="zscore", meta={"kind": kind}
        )
    if not low < high:
        raise DataError(f"sine: 'high' must be above low={low}, got {high}", arg="high")
    outside = extrapolate or (high, high + (high - low) / 2)
    if not (outside[0] < low or outside[1] > high):
        raise DataError(
            f"sine: extrapolate={list(outside)} lies inside the training range "
            f"[{low:g}, {high:g}]",
            arg="extrapolate",
            hint=f"reach beyond it, e.g. extrapolate=[{high:g}, {2 * high - low:g}]",
        )

    def observe(x: np.ndarray) -> Split:
        return Split(x, np.sin(x) + rng.normal(0.0, 1.0, x.shape) * noise)

    data = observe(rng.uniform(low, high, (n, 1)))
    beyond = observe(uniform_outside(rng, max(1, n // 5), outside, (low, high)))
    return split_and_assemble(
        data.x,
        data.y,
        opts,
        task="regression",
        scaling="zscore",
        meta={"kind": kind, "range": (low, high), "extrapolate": outside},
        extra={"extrapolation": beyond},
    )


def uniform_outside(
    rng: np.random.Generator,
    count: int,
    wide: tuple[float, float],
    inner: tuple[float, float],
) -> np.ndarray:
    """``count`` points (count, 1) uniform over ``wide`` minus the ``inner`` range.

    The extrapolation set of a curve fit: it may lie on one side of the
    training range or on both, and never overlaps it.

    Examples:
        >>> x = uniform_outside(np.random.default_rng(0), 1000, (-2.0, 2.0), (-1.0, 1.0))
        >>> bool(np.all(np.abs(x) >= 1.0) and np.all(np.abs(x) <= 2.0))
        True
    """
    left = (wide[0], min(wide[1], inner[0]))
    right = (max(wide[0], inner[1]), wide[1])
    sizes = np.array([max(0.0, left[1] - left[0]), max(0.0, right[1] - right[0])])
    u = rng.uniform(0.0, sizes.sum(), (count, 1))
    return np.where(u < sizes[0], left[0] + u, right[0] + (u - sizes[0]))
