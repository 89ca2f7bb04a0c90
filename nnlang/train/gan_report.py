"""What a GAN run shows: ``samples.png`` and the numbers behind ``gan.json``.

A GAN has no test score, so the report answers the two questions that matter
for a run: did the game stay balanced (the discriminator's accuracy over the
last epochs, neither 0.5 nor 1), and do the samples look like the data? For
the second it measures, on a fixed batch of noise, the Chamfer distance
between generated and real examples: the mean distance (RMS over pixels) from
each generated example to its nearest real one and from each real example to
its nearest generated one. The first half alone rewards a collapsed generator
that draws one average digit; the second half punishes it. It is given for
the trained and the untrained generator, and for two halves of the real data
(the floor), with the samples' spread against the data's (diversity).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nnlang.train.adversarial import Game, GanHistory

SAMPLES = "samples.png"
REPORT = "gan.json"
LAST_EPOCHS = 5
"""How many final epochs the discriminator's accuracy is averaged over."""
BALANCED = (0.55, 0.95)
"""A discriminator whose final accuracy leaves this range has won or given up."""


def generate_samples(game: Game, variables: Mapping[str, Any], n: int,
                     seed: int) -> np.ndarray:
    """``n`` examples of the generator in evaluation mode, from a fixed noise key."""
    z = game.noise(jax.random.PRNGKey(seed), n)
    made, _ = jax.jit(lambda v, z: game.generate(v, z, train=False))(variables, z)
    return np.asarray(made)


def nearest_distance(samples: np.ndarray, real: np.ndarray) -> float:
    """Mean over samples of the RMS pixel distance to the nearest real example."""
    a = samples.reshape(len(samples), -1).astype(np.float64)
    b = real.reshape(len(real), -1).astype(np.float64)
    squared = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return float(np.sqrt(np.maximum(squared.min(1), 0.0) / a.shape[1]).mean())


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric nearest-neighbour distance between two sets of examples."""
    return 0.5 * (nearest_distance(a, b) + nearest_distance(b, a))


def spread(examples: np.ndarray) -> float:
    """Mean RMS pixel distance between pairs of examples (0 for one picture)."""
    a = examples.reshape(len(examples), -1).astype(np.float64)
    squared = (a * a).sum(1)[:, None] - 2 * a @ a.T + (a * a).sum(1)[None, :]
    n = len(a)
    pairs = np.sqrt(np.maximum(squared, 0.0) / a.shape[1])
    return float(pairs.sum() / max(n * (n - 1), 1))


def as_images(examples: np.ndarray) -> np.ndarray | None:
    """Examples as ``[n, H, W]`` or ``[n, H, W, 3]`` for display, or None."""
    shape = examples.shape[1:]
    if len(shape) == 3 and shape[-1] in (1, 3):
        return examples[..., 0] if shape[-1] == 1 else examples
    if len(shape) == 2:
        return examples
    side = math.isqrt(math.prod(shape))
    if side * side == math.prod(shape):
        return examples.reshape(len(examples), side, side)
    return None


def _grid(images: np.ndarray, columns: int) -> np.ndarray:
    """Tile images into one picture with a one-pixel gutter."""
    n, h, w = images.shape[:3]
    rows = -(-n // columns)
    shape = (rows * (h + 1) + 1, columns * (w + 1) + 1, *images.shape[3:])
    grid = np.full(shape, np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = image
    return grid


def plot_samples(generated: np.ndarray, real: np.ndarray, path: Path,
                 title: str = "") -> Path | None:
    """Generated examples beside real ones, in two grids, to a PNG (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fake, true = as_images(generated), as_images(real)
    if fake is None or true is None:
        return None
    fig = Figure(figsize=(9, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    for i, (images, label) in enumerate(((fake, f"generated{title}"),
                                         (true, "real (training data)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        grid = _grid(np.clip(images, 0.0, 1.0), columns=8)
        ax.imshow(grid, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(label)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    return path


def balance(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The discriminator's accuracy over the last epochs, and whether it stayed balanced."""
    last = [float(r["d_accuracy"]) for r in rows[-LAST_EPOCHS:]]
    mean = float(np.mean(last)) if last else math.nan
    low, high = BALANCED
    return {
        "d_accuracy_last": mean,
        "d_accuracy_min": min(last, default=math.nan),
        "d_accuracy_max": max(last, default=math.nan),
        "last_epochs": len(last),
        "balanced": bool(last) and low <= min(last) and max(last) <= high,
    }


def gan_report(game: Game, history: GanHistory, real: np.ndarray, run_dir: Path,
               seed: int, n: int = 512) -> dict[str, Any]:
    """Write ``samples.png`` and ``gan.json`` for a finished run; return the report."""
    generated = generate_samples(game, history.variables, n, seed)
    untrained = generate_samples(game, history.initial_generator, n, seed)
    shuffled = real[np.random.default_rng(seed).permutation(len(real))]
    pool, rest = shuffled[:n], shuffled[n:]
    distance = chamfer(generated, real)
    before = chamfer(untrained, real)
    report = {
        **balance(history.rows),
        "d_loss": history.rows[-1]["d_loss"] if history.rows else math.nan,
        "g_loss": history.rows[-1]["g_loss"] if history.rows else math.nan,
        "distance": distance,
        "distance_untrained": before,
        "distance_real": chamfer(pool, rest) if len(rest) else math.nan,
        "improvement": before / max(distance, 1e-12),
        "diversity": spread(generated[:256]) / max(spread(pool[:256]), 1e-12),
        "epochs": len(history.rows),
        "seconds": history.seconds,
    }
    epochs = f" after {len(history.rows)} epochs" if history.rows else ""
    plot_samples(generated[:64], pool[:64], run_dir / SAMPLES, epochs)
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in report.items()}
    (run_dir / REPORT).write_text(json.dumps(clean, indent=2) + "\n")
    return report


def format_report(report: Mapping[str, Any]) -> str:
    """One line for the terminal."""
    verdict = "balanced" if report["balanced"] else "NOT balanced"
    return (
        f"gan  d_accuracy {report['d_accuracy_last']:.3f} over the last "
        f"{report['last_epochs']} epochs ({verdict})  samples {report['improvement']:.2f}x "
        f"closer to the data than untrained  diversity {report['diversity']:.2f}"
    )
