"""Array files: ``npz`` archives and MNIST's ``idx`` format.

Byte images (uint8) become float32 and, with ``normalize``, are divided by
255 into [0, 1]; float inputs are z-scored with training statistics; other
integer inputs are taken as token ids and left alone as int32.
"""

from __future__ import annotations

import difflib
import gzip
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from nnlang.data.dataset import DataError, Dataset, LoadOptions
from nnlang.data.prepare import (
    Scaling,
    Target,
    class_task,
    encode_labels,
    gather_targets,
    split_and_assemble,
)

BYTE_MAX = 255.0

IDX_DTYPES = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
"""IDX type codes (third byte of the magic number) → big-endian numpy dtypes."""


def load_npz(
    opts: LoadOptions,
    *,
    path: Path,
    x: str | tuple[str, ...],
    y: str | tuple[str, ...],
    task: str | None,
) -> Dataset:
    """Named arrays from ``numpy.savez``; a list of names gives several inputs
    (``x=["image", "meta"]``) or outputs, as dicts keyed by those names.

    Integer or bool targets are class labels (one per example), floats are
    regression targets; ``task=`` overrides the guess.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {path.name} as .npz: {err}", arg="path") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path.name} holds a single array; npz needs an archive of named arrays",
            arg="path",
            hint="save with numpy.savez(path, x=..., y=...)",
        )
    with archive:
        xs = {name: read_member(archive, path, name, "x") for name in as_tuple(x)}
        ys = {name: read_member(archive, path, name, "y") for name in as_tuple(y)}
    rows = {len(a) for a in (*xs.values(), *ys.values())}
    if len(rows) != 1:
        sizes = ", ".join(f"{k}: {len(a)}" for k, a in (xs | ys).items())
        raise DataError(f"arrays in {path.name} differ in length ({sizes})", arg="y")
    prepared = {k: prepare_inputs(a) for k, a in xs.items()}
    if isinstance(x, tuple):
        inputs = {k: array for k, (array, _) in prepared.items()}
        scaling = {k: rule for k, (_, rule) in prepared.items()}
    else:
        inputs, scaling = prepared[x]
    target_of = gather_targets(
        {k: prepare_targets(a, k, task) for k, a in ys.items()},
        several=isinstance(y, tuple),
    )
    classes = target_of.pop("classes")
    return split_and_assemble(
        inputs,
        opts=opts,
        scaling=scaling,
        meta={"classes": classes} if classes else {},
        **target_of,
    )


def as_tuple(names: str | tuple[str, ...]) -> tuple[str, ...]:
    return names if isinstance(names, tuple) else (names,)


def read_member(archive: Any, path: Path, name: str, arg: str) -> np.ndarray:
    if name not in archive.files:
        close = difflib.get_close_matches(name, archive.files, n=1)
        raise DataError(
            f"no array '{name}' in {path.name}; it holds: {', '.join(archive.files)}",
            arg=arg,
            hint=f"did you mean '{close[0]}'?" if close else None,
        )
    try:
        array = archive[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(
            f"cannot read '{name}' from {path.name}: {err}", arg=arg
        ) from None
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        raise DataError(
            f"'{name}' in {path.name} must be a numeric array with one row per "
            f"example, got {array.dtype} of shape {array.shape}",
            arg=arg,
        )
    check_finite(array, f"'{name}' in {path.name}", arg)
    return array


def nonfinite_rows(array: np.ndarray) -> np.ndarray:
    """The indices of the rows (examples) of ``array`` that hold nan or inf;
    empty for integer arrays, which cannot."""
    if array.dtype.kind != "f" or array.ndim == 0:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))


def check_finite(array: np.ndarray, what: str, arg: str) -> None:
    """Raise, naming the first row, if a float array holds nan or inf: training
    on it would only report a diverging loss, far from the cause."""
    rows = nonfinite_rows(array)
    if not len(rows):
        return
    value = array[rows[0]].reshape(-1)[~np.isfinite(array[rows[0]].reshape(-1))][0]
    more = f", and {len(rows) - 1} more rows" if len(rows) > 1 else ""
    raise DataError(
        f"{what} holds {value} in row {rows[0]} (counting from 0){more}",
        arg=arg,
        hint="remove or fill those rows before saving; nan and inf cannot be trained on",
    )


def prepare_inputs(x: np.ndarray) -> tuple[np.ndarray, Scaling]:
    """(x with a feature axis, its scaling rule) following the module rules."""
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if x.dtype == np.uint8:
        return x.astype(np.float32), BYTE_MAX
    if x.dtype.kind in "iu":
        return x.astype(np.int32), None
    return x.astype(np.float32), "zscore"


def prepare_targets(y: np.ndarray, name: str, forced: str | None) -> Target:
    """The labels or values of one target array, and its task."""
    labels = forced in ("classification", "binary") or (
        forced is None and y.dtype.kind in "biu"
    )
    if not labels:
        return Target(y.astype(np.float32), "regression")
    if y.ndim != 1:
        raise DataError(
            f"class labels '{name}' must be one per example, got shape {y.shape}",
            arg="y",
            hint="store integer ids (not one-hot rows), or use task=regression",
        )
    if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        raise DataError(
            f"'{name}' holds fractional numbers, not class labels", arg="task"
        )
    ids, classes = encode_labels(y.astype(np.int64))
    task = forced or class_task(len(classes))
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"task=binary needs 2 classes, but '{name}' has {len(classes)}", arg="task"
        )
    return Target(ids, task, len(classes), classes)


def read_idx(path: Path, arg: str) -> np.ndarray:
    """An array from an IDX file (gzip-compressed or not, told by its bytes).

    The format: two zero bytes, a type code (:data:`IDX_DTYPES`), the number
    of dimensions, then each dimension as a big-endian uint32, then the data
    in C order, big-endian.
    """
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except OSError as err:
        raise DataError(f"cannot read {path.name}: {err}", arg=arg) from None
    except (EOFError, zlib.error) as err:
        raise DataError(f"{path.name} is a damaged gzip file: {err}", arg=arg) from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_DTYPES:
        raise DataError(
            f"{path.name} is not an IDX file (magic number {data[:4].hex() or 'missing'})",
            arg=arg,
            hint="IDX files start with 00 00, a type code such as 08, and the rank",
        )
    ndim, start = data[3], 4 + 4 * data[3]
    if ndim == 0 or len(data) < start:
        raise DataError(f"{path.name}: the IDX header is cut short", arg=arg)
    dims = struct.unpack(f">{ndim}I", data[4:start])
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected, found = math.prod(dims) * dtype.itemsize, len(data) - start
    if found != expected:
        raise DataError(
            f"{path.name}: the header promises shape {dims} ({expected} bytes of "
            f"data) but the file has {found}",
            arg=arg,
        )
    return np.frombuffer(data, dtype=dtype, offset=start).reshape(dims)


def load_idx(opts: LoadOptions, *, images: Path, labels: Path) -> Dataset:
    """Images and labels in IDX files (MNIST, Fashion-MNIST, EMNIST).

    ``x`` gets a channel axis, (rows, cols, 1), unless the file already has
    one; with ``normalize``, byte images are scaled to [0, 1].
    """
    x, y = read_idx(images, "images"), read_idx(labels, "labels")
    check_finite(x, images.name, "images")
    if x.ndim < 2:
        raise DataError(f"{images.name} holds 1-D data, not images", arg="images")
    if y.ndim != 1:
        raise DataError(f"{labels.name} must hold one label per image", arg="labels")
    if len(x) != len(y):
        raise DataError(
            f"{images.name} has {len(x)} images but {labels.name} has {len(y)} labels",
            arg="labels",
        )
    if x.ndim == 3:
        x = x[..., np.newaxis]
    ids, classes = encode_labels(y)
    scaling: Scaling = BYTE_MAX if x.dtype == np.uint8 else "zscore"
    return split_and_assemble(
        x.astype(np.float32),
        ids,
        opts,
        task=class_task(len(classes)),
        num_classes=len(classes),
        scaling=scaling,
        meta={"classes": classes},
    )
