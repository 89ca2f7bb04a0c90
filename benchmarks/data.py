"""Generated data sets for W4 and W5, written deterministically as ``.npz`` files.

The `.nn` language reads files through ``npz(path, ...)``; the benchmark writes
those files itself so a checkout needs no download. The same ``(kind, rows)``
always gives the same bytes (a fixed NumPy seed), and a file is only written
when it is missing, so every peer, every run and the tests see the same data.

* ``images``: 32×32×3 ``uint8`` images in ten classes. Each class is a smooth
  random colour pattern (low-frequency sinusoids); an example is its class
  pattern, shifted by a few pixels, plus noise. Learnable, but not at once.
* ``tokens``: ``int32`` sequences of 64 ids in ``[1, 1000)`` with a binary label:
  whether the low half of the vocabulary (ids below 500) is in the majority.
  Attention over the whole sequence (or its mean) is needed to solve it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SHAPE = (32, 32, 3)
IMAGE_CLASSES = 10
SEQUENCE_LENGTH = 64
VOCAB = 1000
SEED = 20240601


def make_images(rows: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """``rows`` images ``uint8[rows, 32, 32, 3]`` and labels ``int32[rows]``."""
    rng = np.random.default_rng(seed)
    h, w, c = IMAGE_SHAPE
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    freq = rng.uniform(0.05, 0.35, (IMAGE_CLASSES, c, 2))
    phase = rng.uniform(0, 2 * np.pi, (IMAGE_CLASSES, c))
    patterns = np.sin(
        freq[..., 0, None, None] * yy
        + freq[..., 1, None, None] * xx
        + phase[..., None, None]
    ).transpose(0, 2, 3, 1)  # [classes, H, W, C]
    labels = rng.integers(0, IMAGE_CLASSES, rows).astype(np.int32)
    shifts = rng.integers(-3, 4, (rows, 2))
    images = np.empty((rows, h, w, c), np.float32)
    for i, (label, (dy, dx)) in enumerate(zip(labels, shifts, strict=True)):
        images[i] = np.roll(patterns[label], (dy, dx), axis=(0, 1))
    images += rng.normal(0.0, 0.6, images.shape)
    pixels = np.clip((images + 2.0) * (255.0 / 4.0), 0, 255).astype(np.uint8)
    return {"images": pixels, "labels": labels}


def make_tokens(rows: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """``rows`` sequences ``int32[rows, 64]`` of ids and labels ``int32[rows]``."""
    rng = np.random.default_rng(seed + 1)
    ids = rng.integers(1, VOCAB, (rows, SEQUENCE_LENGTH)).astype(np.int32)
    low = (ids < VOCAB // 2).sum(axis=1)
    labels = (low * 2 > SEQUENCE_LENGTH).astype(np.int32)
    return {"ids": ids, "labels": labels}


MAKERS = {"images": make_images, "tokens": make_tokens}


def data_file(folder: Path, kind: str, rows: int) -> Path:
    """The path of the ``kind`` file with ``rows`` rows under ``folder``."""
    prefix = {"images": "w4_images", "tokens": "w5_tokens"}[kind]
    return Path(folder) / f"{prefix}_{rows}.npz"


def ensure_data(folder: Path, kind: str, rows: int) -> Path:
    """Write the ``kind`` file of ``rows`` rows under ``folder`` unless it exists.

    Returns:
        Its path.
    """
    path = data_file(folder, kind, rows)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **MAKERS[kind](rows))
        tmp.replace(path)
    return path
