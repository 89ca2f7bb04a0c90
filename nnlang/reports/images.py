"""Pictures of image-shaped results: reconstructions and feature maps.

``reconstruction``: when the targets are the inputs (``digits(target=inputs)``)
and the model's one output has as many elements as an input image, writes
``reconstructions.png`` (the first test images on top, the model's
reconstructions below) and ``reconstruction.json`` with the test MSE, in the
normalised pixel units the model sees (``mean_baseline.json``, from
``reports.regression``, gives the MSE of always answering the mean image).

``feature_maps``: when some outputs are maps ``[H, W, C]`` and the targets are
not the inputs, writes ``feature_maps.png``: a row per test image, the input
first, then each map output's channels (named outputs title their panels).
A model of fixed filters run with ``epochs = 0`` is the typical user.

Both are chosen by the shapes of the data and the model, so any user's file
gets them. Values are drawn in the data's normalised units; every panel of a
reconstruction shares one grey scale, each feature-map column gets its own, since
filters such as edge detectors change the range (signed maps are drawn
red and blue around a white zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnlang.reports import RunContext, report

SHOWN = 10
"""Test images in ``reconstructions.png``."""

MAP_EXAMPLES = 4
"""Test images (rows) in ``feature_maps.png``."""

MAX_CHANNELS = 8
"""Channels drawn per map output; wider maps show their first ones."""

RECONSTRUCTIONS = "reconstructions.png"
FEATURE_MAPS = "feature_maps.png"


def image_shape(shape: Any) -> tuple[int, int, int] | None:
    """``shape`` as ``(H, W, C)`` if it is an image or a map, else None.

    Examples:
        >>> image_shape((8, 8, 1)), image_shape((64,)), image_shape((8, 8))
        ((8, 8, 1), None, (8, 8, 1))
    """
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(d, int) for d in shape
    ):
        return None
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or min(shape[0], shape[1]) < 2:
        return None
    return int(shape[0]), int(shape[1]), int(shape[2])


def shown_split(data: Any) -> tuple[str, Any]:
    """The split pictures are drawn from: test, else val, else train."""
    for name in ("test", "val", "train"):
        split = getattr(data, name)
        if len(split) > 0:
            return name, split
    return "train", data.train


def model_outputs(ctx: RunContext, x: Any) -> dict[str, np.ndarray]:
    """The trained model's (activated) outputs for inputs ``x``."""
    from nnlang.train.loop import predict

    return predict(ctx.model, ctx.history.variables, x, activations=ctx.activations())


def output_shapes(ctx: RunContext) -> dict[str, tuple[Any, ...]]:
    """Each output's per-example shape, from the checked graph (no JAX)."""
    graph = ctx.prepared.graph
    shapes = {}
    for name, node_id in graph.outputs.items():
        node_type = graph.node(node_id).type
        shapes[name] = tuple(node_type.shape) if node_type is not None else ()
    return shapes


@report("reconstruction")
def reconstructions(ctx: RunContext) -> dict[str, Any] | None:
    """An autoencoder's test reconstructions against its inputs, and their MSE."""
    data = ctx.prepared.data
    image = image_shape(data.x_shape)
    if (data.meta or {}).get("target") != "inputs" or image is None:
        return None
    (name, shape), *others = output_shapes(ctx).items()
    if others or _size(shape) != math.prod(image):
        return None
    split_name, split = shown_split(data)
    originals = np.asarray(split.x, np.float32).reshape(len(split), *image)
    rebuilt = model_outputs(ctx, split.x)[name].reshape(len(split), *image)
    mse = float(np.mean((rebuilt - originals) ** 2))
    plot_reconstructions(
        originals[:SHOWN], rebuilt[:SHOWN], ctx.run_dir / RECONSTRUCTIONS
    )
    if ctx.verbose:
        print(f"reconstruction: {split_name} mse {mse:.4g}; wrote {RECONSTRUCTIONS}")
    return {
        "split": split_name,
        "mse": mse,
        "examples": len(split),
        "picture": RECONSTRUCTIONS,
    }


def _size(shape: Sequence[Any]) -> int | None:
    if not all(isinstance(d, int) for d in shape):
        return None
    return math.prod(shape)


@report("feature_maps")
def feature_maps(ctx: RunContext) -> dict[str, Any] | None:
    """Every map-shaped output of the model for the first test images."""
    data = ctx.prepared.data
    if (data.meta or {}).get("target") == "inputs" or isinstance(data.x_shape, dict):
        return None
    maps = [n for n, s in output_shapes(ctx).items() if image_shape(s) and len(s) == 3]
    if not maps:
        return None
    split_name, split = shown_split(data)
    x = np.asarray(split.x)[:MAP_EXAMPLES]
    outputs = model_outputs(ctx, x)
    inputs = (
        x.reshape(len(x), *image_shape(data.x_shape))
        if image_shape(data.x_shape)
        else None
    )
    columns = map_columns(inputs, {n: outputs[n] for n in maps})
    plot_grid(columns, len(x), ctx.run_dir / FEATURE_MAPS)
    if ctx.verbose:
        print(f"feature maps of {', '.join(maps)}: wrote {FEATURE_MAPS}")
    return {
        "split": split_name,
        "examples": len(x),
        "outputs": {n: list(outputs[n].shape[1:]) for n in maps},
        "picture": FEATURE_MAPS,
    }


def map_columns(
    inputs: np.ndarray | None, maps: dict[str, np.ndarray]
) -> list[tuple[str, np.ndarray]]:
    """(title, [N, H, W]) per picture column: the input's channels, then each map's.

    Examples:
        >>> cols = map_columns(None, {"edges": np.zeros((2, 4, 4, 2))})
        >>> [(t, a.shape) for t, a in cols]
        [('edges[0]', (2, 4, 4)), ('edges[1]', (2, 4, 4))]
    """
    columns = []
    named = ({"input": inputs} if inputs is not None else {}) | maps
    for name, array in named.items():
        channels = min(array.shape[-1], MAX_CHANNELS)
        for c in range(channels):
            title = name if array.shape[-1] == 1 else f"{name}[{c}]"
            columns.append((title, array[..., c]))
    return columns


def plot_reconstructions(
    originals: np.ndarray, rebuilt: np.ndarray, path: Path
) -> Path:
    """Originals on the top row, reconstructions below, one grey scale for all."""
    low = float(min(originals.min(), 0.0))
    high = float(max(originals.max(), low + 1e-6))
    n = len(originals)
    fig, canvas = _figure(n, 2, titled=False)
    for row, (label, images) in enumerate(
        (("original", originals), ("reconstructed", rebuilt))
    ):
        for i in range(n):
            ax = fig.add_subplot(2, n, row * n + i + 1)
            ax.imshow(_gray(images[i]), cmap="gray_r", vmin=low, vmax=high)
            _bare(ax)
            if i == 0:
                ax.set_ylabel(label, fontsize=9)
    return _save(fig, path)


def plot_grid(columns: list[tuple[str, np.ndarray]], rows: int, path: Path) -> Path:
    """One row per example, one titled column per map, each column on its own scale.

    A column with negative values (edge detectors) is drawn red/blue around a
    white zero, so both signs of an edge read at a glance; others in grey.
    """
    fig, canvas = _figure(len(columns), rows, titled=True)
    for c, (title, maps) in enumerate(columns):
        style = column_style(maps)
        for r in range(rows):
            ax = fig.add_subplot(rows, len(columns), r * len(columns) + c + 1)
            ax.imshow(maps[r], **style)
            _bare(ax)
            if r == 0:
                ax.set_title(title, fontsize=9)
    return _save(fig, path)


def column_style(maps: np.ndarray) -> dict[str, Any]:
    """imshow settings shared by one column: diverging around 0 if signed.

    Examples:
        >>> column_style(np.array([[-2.0, 1.0]]))["vmin"]
        -2.0
    """
    low, high = float(maps.min()), float(maps.max())
    if low < 0:
        bound = max(-low, high, 1e-6)
        return {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    return {"cmap": "gray_r", "vmin": 0.0, "vmax": max(high, 1e-6)}


def _figure(columns: int, rows: int, *, titled: bool) -> tuple[Any, Any]:
    """A figure of square panels (the canvas is returned to keep it alive)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    top = 0.3 if titled else 0.1
    fig = Figure(figsize=(1.2 * columns + 0.4, 1.2 * rows + top), dpi=100)
    fig.subplots_adjust(
        left=0.4 / (1.2 * columns + 0.4),
        right=0.99,
        bottom=0.02,
        top=1 - top / (1.2 * rows + top),
        wspace=0.1,
        hspace=0.1 if not titled else 0.15,
    )
    return fig, FigureCanvasAgg(fig)


def _gray(image: np.ndarray) -> np.ndarray:
    """A [H, W] picture of an [H, W, C] image (channels averaged)."""
    return image.mean(axis=-1) if image.ndim == 3 else image


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
