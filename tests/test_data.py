"""Data sources: shapes, splits, normalisation, file formats and user errors."""

from __future__ import annotations

import gzip
import math
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlang.data import (
    DATA_SOURCES,
    DataError,
    Dataset,
    bind_data_args,
    load_data,
    playground_features,
    tokenize_text,
)
from nnlang.data.params import KINDS
from nnlang.data.prepare import split_counts
from nnlang.values import CallValue, Word

W = Word


def load(
    name: str, *args, base_dir: Path = Path("."), seed: int = 0, **kwargs
) -> Dataset:
    return load_data(name, args, kwargs, base_dir=base_dir, seed=seed)


def rows_of(split) -> set[float]:
    """Example ids of a split whose x holds the id in column 0."""
    return set(split.x[:, 0].tolist())


def write_csv(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------- the registry


def test_registry_is_well_formed():
    for name, spec in DATA_SOURCES.items():
        assert spec.name == name and spec.doc and "\n" not in spec.doc
        names = [p.name for p in spec.params]
        assert len(names) == len(set(names))
        assert {"split", "shuffle"} <= set(names)
        for param in spec.params:
            assert param.doc and param.kind in KINDS
            assert not (param.required and param.default is not None)
        if not any(p.required for p in spec.params):
            bind_data_args(name, (), {})  # every default passes its own check


def test_import_stays_light():
    code = (
        "import sys, nnlang.data; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'flax', 'optax', 'sklearn', 'scipy')]; "
        "assert not heavy, heavy"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1]
    )


def test_bind_normalises_values():
    bound = bind_data_args("text", ("x.txt",), {"tokens": CallValue("ngrams", (3,))})
    assert bound["tokens"] == ("ngrams", 3) and bound["split"] == (0.8, 0.1, 0.1)
    assert bind_data_args("text", ("x.txt",), {})["tokens"] == ("words", 1)
    bound = bind_data_args("csv", ("x.csv",), {"target": [W("a"), 2]})
    assert bound["target"] == ("a", 2) and bound["window"] is None


# ---------------------------------------------------------------- bundled sets


@pytest.mark.parametrize(
    "name, x_shape, task, num_classes, total",
    [
        ("digits", (8, 8, 1), "classification", 10, 1797),
        ("iris", (4,), "classification", 3, 150),
        ("wine", (13,), "classification", 3, 178),
        ("breast_cancer", (30,), "binary", 2, 569),
        ("diabetes", (10,), "regression", None, 442),
    ],
)
def test_bundled_sets(name, x_shape, task, num_classes, total):
    data = load(name)
    assert (data.x_shape, data.task, data.num_classes) == (x_shape, task, num_classes)
    assert len(data.train) + len(data.val) + len(data.test) == total
    assert data.train.x.shape[1:] == x_shape and data.x_dtype == "float32"
    assert data.train.x.dtype == np.float32
    if task == "regression":
        assert data.y_shape == (1,) and data.train.y.dtype == np.float32
    else:
        assert data.y_shape == () and data.train.y.dtype == np.int32
        assert 0 <= data.train.y.min() and data.train.y.max() < num_classes


def test_digits_scaled_to_unit_range():
    scaled, raw = load("digits"), load("digits", normalize=False)
    assert scaled.train.x.min() == 0.0 and scaled.train.x.max() == 1.0
    assert raw.train.x.max() == 16.0
    np.testing.assert_allclose(scaled.train.x * 16, raw.train.x)


def test_digits_read_from_the_file_equal_sklearns_loader(monkeypatch):
    from sklearn.datasets import load_digits as sklearn_digits

    from nnlang.data import bundled

    expected = sklearn_digits()
    assert bundled.sklearn_data_file("digits.csv.gz") is not None  # the fast path
    images, target = bundled.digits_arrays()
    np.testing.assert_array_equal(images, expected.images)
    np.testing.assert_array_equal(target, expected.target)
    monkeypatch.setattr(bundled, "sklearn_data_file", lambda name: None)
    images, target = bundled.digits_arrays()  # scikit-learn's own loader
    np.testing.assert_array_equal(images, expected.images)


def test_loading_digits_does_not_import_sklearn():
    code = (
        "import sys; from pathlib import Path; from nnlang.data import load_data; "
        "load_data('digits', (), {}, base_dir=Path('.'), seed=0); "
        "print('sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- splitting


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    """An npz whose x column 0 is the example's id."""
    path = tmp_path / "numbered.npz"
    np.savez(path, x=np.arange(100.0).reshape(100, 1), y=np.arange(100) % 3)
    return path


def test_split_counts():
    assert split_counts(100, (0.8, 0.1, 0.1)) == (80, 10, 10)
    assert split_counts(7, (1.0, 0.0, 0.0)) == (7, 0, 0)


def test_splits_disjoint_and_seeded(numbered):
    data = load("npz", str(numbered), normalize=False)
    parts = [rows_of(s) for s in (data.train, data.val, data.test)]
    assert [len(p) for p in parts] == [80, 10, 10]
    assert set.union(*parts) == set(range(100)) and sum(map(len, parts)) == 100
    again = load("npz", str(numbered), normalize=False)
    np.testing.assert_array_equal(again.train.x, data.train.x)
    other = load("npz", str(numbered), normalize=False, seed=1)
    assert rows_of(other.test) != parts[2]
    ordered = load("npz", str(numbered), normalize=False, shuffle=False)
    assert ordered.train.x[:, 0].tolist() == list(range(80))


def test_empty_val_and_test_keep_their_shape():
    data = load("digits", split=[1, 0, 0])
    assert len(data.val) == len(data.test) == 0
    assert data.val.x.shape == (0, 8, 8, 1) and data.test.y.shape == (0,)


# ---------------------------------------------------------------- normalisation


def test_zscore_uses_training_statistics_only():
    data, raw = load("wine"), load("wine", normalize=False)
    np.testing.assert_allclose(data.train.x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.train.x.std(axis=0), 1, atol=1e-4)
    mean, std = raw.train.x.mean(axis=0), raw.train.x.std(axis=0)
    np.testing.assert_allclose(data.meta["x_mean"], mean, rtol=1e-5)
    for part, raw_part in ((data.val, raw.val), (data.test, raw.test)):
        np.testing.assert_allclose(
            part.x, (raw_part.x - mean) / std, rtol=1e-4, atol=1e-4
        )
    assert abs(data.val.x.mean()) > 1e-3  # val was not re-centred on itself


def test_scale_target_round_trips():
    data, raw = load("diabetes", scale_target=True), load("diabetes")
    assert raw.target_mean is None
    assert abs(data.train.y.mean()) < 1e-4
    np.testing.assert_allclose(data.target_mean, raw.train.y.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(data.unscale_targets(data.test.y), raw.test.y, rtol=1e-4)


# ---------------------------------------------------------------- playground


@pytest.mark.parametrize("kind", ["circle", "xor", "gauss", "spiral"])
def test_playground_balanced_deterministic_and_learnable(kind):
    data = load("playground", kind=W(kind), n=600, noise=0.0, split=[0.5, 0, 0.5])
    y = np.concatenate([data.train.y, data.test.y])
    assert (data.x_shape, data.task, data.num_classes) == ((2,), "binary", 2)
    assert set(y.tolist()) == {0, 1} and 0.4 < y.mean() < 0.6
    if kind != "xor":
        assert y.sum() == 300
    again = load("playground", kind=W(kind), n=600, noise=0.0, split=[0.5, 0, 0.5])
    np.testing.assert_array_equal(again.train.x, data.train.x)
    assert not np.array_equal(
        load("playground", kind=W(kind), seed=1).train.x[:5], data.train.x[:5]
    )
    # 1-nearest-neighbour from train classifies test well: the classes are separable.
    dist = ((data.test.x[:, None, :] - data.train.x[None, :, :]) ** 2).sum(-1)
    accuracy = (data.train.y[dist.argmin(axis=1)] == data.test.y).mean()
    assert accuracy > 0.9


def test_playground_geometry():
    circle = load("playground", kind=W("circle"), noise=0.0, split=[1, 0, 0])
    radius = np.hypot(*circle.train.x.T)
    assert (
        radius[circle.train.y == 1].max()
        < 2.5
        <= 3.5
        <= radius[circle.train.y == 0].min()
    )
    assert radius.max() <= 5.0
    xor = load("playground", kind=W("xor"), noise=0.0, split=[1, 0, 0])
    np.testing.assert_array_equal(xor.train.y, xor.train.x.prod(axis=1) >= 0)
    assert np.abs(xor.train.x).min() >= 0.3  # the Playground's padding off the axes
    gauss = load("playground", kind=W("gauss"), noise=0.0, split=[1, 0, 0])
    np.testing.assert_allclose(
        gauss.train.x[gauss.train.y == 1].mean(axis=0), [2, 2], atol=0.3
    )
    spiral = load("playground", kind=W("spiral"), noise=0.0, split=[1, 0, 0])
    assert np.hypot(*spiral.train.x.T).max() < 5.0


def test_playground_features():
    features = [
        W(f) for f in ("x1", "x2", "x1_sq", "x2_sq", "x1x2", "sin_x1", "sin_x2")
    ]
    data = load("playground", kind=W("xor"), features=features)
    x1, x2 = data.meta["points"]["train"].T
    expected = np.stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)], axis=1)
    np.testing.assert_allclose(data.train.x, expected, rtol=1e-5, atol=1e-6)
    assert data.x_shape == (7,) and data.feature_names == tuple(features)
    grid = playground_features(np.array([[1.0, 2.0]]), ["x1x2"])
    assert grid.tolist() == [[2.0]]


# ---------------------------------------------------------------- sine


def test_sine_windows_continue_the_wave():
    data = load("sine", n=200, length=30, horizon=3, period=20)
    assert (data.x_shape, data.y_shape, data.task) == ((30, 1), (3,), "regression")
    # A sampled sine obeys s[t+1] = 2 cos(w) s[t] - s[t-1]; so must the targets.
    c = 2 * math.cos(2 * math.pi / 20)
    seq = np.concatenate([data.train.x[:, :, 0], data.train.y], axis=1)
    np.testing.assert_allclose(seq[:, 2:], c * seq[:, 1:-1] - seq[:, :-2], atol=1e-5)


def test_sine_curve_and_extrapolation():
    data = load("sine", kind=W("curve"), n=500)
    assert (data.x_shape, data.y_shape) == ((1,), (1,))
    assert data.train.x.min() >= -math.pi and data.train.x.max() <= math.pi
    np.testing.assert_allclose(data.train.y, np.sin(data.train.x), atol=1e-6)
    beyond = data.meta["extrapolation"]
    assert len(beyond) == 100
    assert beyond.x.min() >= math.pi and beyond.x.max() <= 2 * math.pi
    np.testing.assert_allclose(beyond.y, np.sin(beyond.x), atol=1e-6)


# ---------------------------------------------------------------- csv tables


def test_csv_table_with_string_labels(tmp_path):
    lines = ["id,a,b,species"] + [
        f"r{i},{i},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(20)
    ]
    write_csv(tmp_path, "t.csv", lines)
    data = load("csv", "t.csv", base_dir=tmp_path, target=W("species"), shuffle=False)
    assert (data.task, data.num_classes, data.meta["classes"]) == (
        "binary",
        2,
        ["cat", "dog"],
    )
    assert data.feature_names == ("a", "b") and data.meta["ignored_columns"] == ["id"]
    assert data.train.y[:4].tolist() == [1, 0, 1, 0]
    raw = load(
        "csv", "t.csv", base_dir=tmp_path, target=3, shuffle=False, normalize=False
    )
    assert raw.train.x[:2].tolist() == [[0.0, 0.0], [1.0, 2.0]]


def test_csv_task_inference_and_override(tmp_path):
    lines = ["x,k,v"] + [f"{i},{i % 4},{i / 3:.4f}" for i in range(40)]
    write_csv(tmp_path, "t.csv", lines)
    k = load("csv", "t.csv", base_dir=tmp_path, target=W("k"), features=[W("x")])
    assert (k.task, k.num_classes, k.y_shape) == ("classification", 4, ())
    v = load("csv", "t.csv", base_dir=tmp_path, target=W("v"))
    assert (v.task, v.y_shape, v.feature_names) == ("regression", (1,), ("x", "k"))
    forced = load(
        "csv", "t.csv", base_dir=tmp_path, target=W("k"), task=W("regression")
    )
    assert forced.task == "regression" and forced.train.y.dtype == np.float32


def test_csv_several_targets_and_no_header(tmp_path):
    write_csv(tmp_path, "t.csv", [f"{i};{i % 2};{i * 0.5}" for i in range(30)])
    data = load(
        "csv", "t.csv", base_dir=tmp_path, header=False, delimiter=";", target=[1, 2]
    )
    assert data.y_shape == {"1": (), "2": (1,)}
    assert data.meta["tasks"] == {"1": "binary", "2": "regression"}
    assert data.train.y["1"].dtype == np.int32 and data.feature_names == ("0",)


# ---------------------------------------------------------------- csv windows


@pytest.fixture
def series(tmp_path: Path) -> Path:
    """30 rows: time (text), temp = 10 * row, hum = row % 3."""
    lines = ["time,temp,hum"] + [f"t{i},{i * 10},{i % 3}" for i in range(30)]
    return write_csv(tmp_path, "series.csv", lines)


def test_csv_windows_align_exactly(series):
    data = load(
        "csv",
        series.name,
        base_dir=series.parent,
        target=W("temp"),
        window=3,
        horizon=2,
        split=[0.6, 0.2, 0.2],
        shuffle=False,
        normalize=False,
    )
    assert (data.x_shape, data.y_shape, data.task) == ((3, 2), (2,), "regression")
    # Train is rows 0..17 (14 windows), val rows 18..23 (2), test rows 24..29 (2).
    assert (len(data.train), len(data.val), len(data.test)) == (14, 2, 2)
    assert data.train.x[0].tolist() == [[0, 0], [10, 1], [20, 2]]
    assert data.train.y[0].tolist() == [30, 40]
    assert data.train.y[-1].tolist() == [160, 170]  # last train target is row 17
    assert data.val.x[:, 0, 0].tolist() == [180, 190]
    assert data.val.y.tolist() == [[210, 220], [220, 230]]
    assert data.test.y.tolist() == [[270, 280], [280, 290]]
    assert data.meta["ignored_columns"] == ["time"]


def test_csv_windows_normalise_with_training_rows(series):
    data = load(
        "csv",
        series.name,
        base_dir=series.parent,
        target=W("temp"),
        window=3,
        split=[0.6, 0.2, 0.2],
    )
    train_rows = np.stack([np.arange(18) * 10.0, np.arange(18) % 3], axis=1)
    np.testing.assert_allclose(data.meta["x_mean"], train_rows.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(data.meta["x_std"], train_rows.std(axis=0), rtol=1e-6)
    ordered = load(
        "csv",
        series.name,
        base_dir=series.parent,
        target=W("temp"),
        window=3,
        split=[0.6, 0.2, 0.2],
        shuffle=False,
    )
    assert sorted(data.train.y[:, 0]) == sorted(ordered.train.y[:, 0])  # only reordered
    np.testing.assert_array_equal(data.val.y, ordered.val.y)


# ---------------------------------------------------------------- npz and idx


def test_npz_several_inputs_and_byte_images(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        img=np.full((10, 2, 2), 255, np.uint8),
        ids=np.arange(10),
        a=np.arange(10.0),
        b=np.arange(10) % 2,
    )
    data = load(
        "npz", path.name, base_dir=tmp_path, x=[W("img"), W("ids")], y=[W("a"), W("b")]
    )
    assert data.x_shape == {"img": (2, 2), "ids": (1,)}
    assert data.x_dtype == {"img": "float32", "ids": "int32"}
    assert data.train.x["img"].max() == 1.0
    assert data.meta["tasks"] == {"a": "regression", "b": "binary"}
    assert data.task == "regression" and data.y_shape == {"a": (1,), "b": ()}


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_and_labels(tmp_path, compress):
    images = np.arange(10 * 4 * 3, dtype=np.uint8).reshape(10, 4, 3)
    labels = np.arange(10, dtype=np.uint8) % 10
    for name, array in (("img.idx", images), ("lab.idx", labels)):
        blob = idx_bytes(array)
        (tmp_path / name).write_bytes(gzip.compress(blob) if compress else blob)
    data = load(
        "idx", "img.idx", "lab.idx", base_dir=tmp_path, shuffle=False, split=[1, 0, 0]
    )
    assert (data.x_shape, data.num_classes, data.task) == (
        (4, 3, 1),
        10,
        "classification",
    )
    np.testing.assert_allclose(data.train.x[..., 0], images / 255.0, rtol=1e-6)
    assert data.train.y.tolist() == list(range(10))


def test_idx_reads_wider_types(tmp_path):
    (tmp_path / "f.idx").write_bytes(idx_bytes(np.ones((6, 2, 2), ">f4"), code=0x0D))
    (tmp_path / "l.idx").write_bytes(idx_bytes(np.array([0, 1] * 3, ">i4"), code=0x0C))
    data = load(
        "idx", "f.idx", "l.idx", base_dir=tmp_path, normalize=False, split=[1, 0, 0]
    )
    assert data.train.x.shape == (6, 2, 2, 1) and data.task == "binary"


# ---------------------------------------------------------------- text


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.txt"
    path.write_text("pos\tThe cat sat.\n\nneg\tThe dog ran, the dog!\n")
    return path


def test_text_words(reviews):
    data = load(
        "text", reviews.name, base_dir=reviews.parent, split=[1, 0, 0], shuffle=False
    )
    assert data.vocab == ["<pad>", "<unk>", "the", "dog", "cat", "ran", "sat"]
    assert data.train.x.tolist() == [[2, 4, 6, 0, 0], [2, 3, 5, 2, 3]]
    assert data.train.y.tolist() == [1, 0] and data.meta["classes"] == ["neg", "pos"]
    assert (data.x_shape, data.x_dtype, data.task) == ((5,), "int32", "binary")


def test_text_chars_and_ngrams(reviews):
    chars = load(
        "text",
        reviews.name,
        base_dir=reviews.parent,
        tokens=W("chars"),
        maxlen=4,
        split=[1, 0, 0],
        shuffle=False,
        vocab=5,
    )
    # Counts: ' ' 7, 't' 5, then 'a', 'e', 'h' 3 each (ties go alphabetically).
    assert chars.vocab == ["<pad>", "<unk>", " ", "t", "a"]
    assert chars.train.x.tolist() == [[3, 1, 1, 2], [3, 1, 1, 2]]  # "the " cut at 4
    grams = load(
        "text",
        reviews.name,
        base_dir=reviews.parent,
        tokens=CallValue("ngrams", (2,)),
        split=[1, 0, 0],
        shuffle=False,
    )
    ids = {t: i for i, t in enumerate(grams.vocab)}
    first = ["the", "the cat", "cat", "cat sat", "sat"]
    assert grams.train.x[0].tolist() == [ids[t] for t in first] + [0] * 4
    assert tokenize_text("Don't stop", ("words", 1)) == ["don't", "stop"]


def test_text_vocab_from_training_split_only(reviews):
    data = load(
        "text",
        reviews.name,
        base_dir=reviews.parent,
        split=[0.5, 0.5, 0],
        shuffle=False,
        maxlen=6,
        pad=W("pre"),
    )
    assert data.vocab == ["<pad>", "<unk>", "cat", "sat", "the"]  # ties alphabetical
    assert data.val.x.tolist() == [[0, 4, 1, 1, 4, 1]]  # pre-padded; unseen words are 1


# ---------------------------------------------------------------- user errors


BAD_CALLS = [
    # (source, args, kwargs, arg at fault, words in the message or hint)
    ("digitz", (), {}, None, "did you mean 'digits'"),
    ("digits", (), {"splt": [0.8, 0.1, 0.1]}, "splt", "did you mean 'split'"),
    ("digits", (), {"split": [0.8, 0.3, 0.1]}, "split", "sum to 1"),
    ("digits", (), {"split": [0.8, 0.2]}, "split", "three fractions"),
    ("digits", (), {"normalize": 1}, "normalize", "true or false"),
    ("digits", (1,), {}, "split", "three fractions"),
    ("digits", (1, 2, 3, 4, 5, 6, 7, 8), {}, None, "at most 7 positional"),
    ("playground", (), {"kind": W("spirl")}, "kind", "circle, xor, gauss, spiral"),
    ("playground", (), {"kind": W("spirl")}, "kind", "did you mean 'spiral'"),
    ("playground", (), {"n": 0.5}, "n", "an integer"),
    ("playground", (), {"n": True}, "n", "an integer"),
    ("playground", (), {"noise": -1}, "noise", ">= 0"),
    ("playground", (), {"features": [W("x1"), W("x3")]}, "features", "x1_sq"),
    ("playground", (W("circle"),), {"kind": W("xor")}, "kind", "two values"),
    ("playground", (), {"n": 5, "split": [0.5, 0.25, 0.25]}, None, None),  # fine
    ("playground", (), {"n": 3}, "split", "val split is empty"),
    ("sine", (), {"kind": W("curve"), "length": 10}, "length", "kind=windows"),
    ("sine", (), {"low": 1.0}, "low", "kind=curve"),
    ("sine", (), {"kind": W("curve"), "low": 2, "high": 1}, "high", "above"),
    ("sine", (), {"period": 1}, "period", ">= 2"),
    ("iris", (), {"scale_target": True}, "scale_target", "no argument"),
    ("csv", (), {}, None, "needs the argument 'path'"),
    ("csv", (W("sensor"),), {}, "path", "in quotes"),
    (
        "csv",
        ("data/x.csv",),
        {"target": W("a")},
        "path",
        "no such file: 'data/x.csv' (looked in",
    ),
    (
        "text",
        ("reviews.txt",),
        {"tokens": CallValue("ngrams", (0,))},
        "tokens",
        "ngrams(n)",
    ),
    ("text", ("reviews.txt",), {"tokens": W("sentences")}, "tokens", "words, chars"),
    ("text", ("reviews.txt",), {"vocab": 2}, "vocab", ">= 3"),
    ("text", ("reviews.txt",), {"normalize": True}, "normalize", "no argument"),
]


def test_a_missing_file_suggests_a_file_of_its_kind_with_a_close_name(tmp_path):
    from nnlang.data.registry import resolve_path

    for name in ("sensor.nn", "text.csv", "sensors.csv"):
        (tmp_path / name).write_text("a\n1\n")
    with pytest.raises(DataError) as caught:
        resolve_path("sensor.csv", tmp_path, "path")
    assert caught.value.hint == "did you mean 'sensors.csv'?"
    (tmp_path / "sensors.csv").unlink()  # not the .nn, nor text.csv for its suffix
    with pytest.raises(DataError) as caught:
        resolve_path("sensor.csv", tmp_path, "path")
    assert caught.value.hint is None


@pytest.mark.parametrize("name, args, kwargs, arg, words", BAD_CALLS)
def test_bad_arguments(tmp_path, name, args, kwargs, arg, words):
    (tmp_path / "reviews.txt").write_text("a\tb\n")
    if words is None:
        load_data(name, args, kwargs, base_dir=tmp_path, seed=0)
        return
    with pytest.raises(DataError) as caught:
        load_data(name, args, kwargs, base_dir=tmp_path, seed=0)
    err = caught.value
    assert err.arg == arg
    assert words in f"{err.message} {err.hint}"


BAD_FILES = [
    # (file name, content, source kwargs, arg at fault, words)
    (
        "t.csv",
        "a,b\n1,2\n3\n",
        {"target": W("b")},
        "path",
        "t.csv:3: expected 2 fields",
    ),
    (
        "t.csv",
        "a,b\n1,2\n3,\n",
        {"target": W("b")},
        "target",
        "t.csv:3: column 'b' has a missing",
    ),
    (
        "t.csv",
        "a,b\n1,2\nx,4\n",
        {"target": W("b"), "features": [W("a")]},
        "features",
        "t.csv:3: column 'a' has 'x', not a number",
    ),
    ("t.csv", "temp,hum\n1,2\n", {"target": W("tmp")}, "target", "did you mean 'temp'"),
    (
        "t.csv",
        "temp,hum\n1,2\n",
        {"target": W("tmp")},
        "target",
        "the columns are: temp, hum",
    ),
    ("t.csv", "temp,hum\n1,2\n", {"target": 5}, "target", "out of range"),
    ("t.csv", "a,b\n", {"target": W("b")}, "path", "no data rows"),
    ("t.csv", "", {"target": W("b")}, "path", "is empty"),
    ("t.csv", 'a,b\n1,"2\n', {"target": W("b")}, "path", "t.csv:"),
    (
        "t.csv",
        "a,b\n1,2\n3,4\n",
        {"target": W("b"), "window": 5},
        "window",
        "needs 6 rows",
    ),
    (
        "t.csv",
        "a,b\n" + "1,2\n" * 20,
        {"target": W("b"), "window": 4},
        "window",
        "the val part of the series has only 2",
    ),
    (
        "t.csv",
        "a,b\n1,2\n",
        {"target": W("b"), "horizon": 2},
        "horizon",
        "window is given",
    ),
    (
        "t.csv",
        "a,b\n1,0.5\n",
        {"target": W("b"), "task": W("binary")},
        "task",
        "fractional",
    ),
    (
        "t.csv",
        "a,b\n1,2\n",
        {"target": W("b"), "delimiter": "ab"},
        "delimiter",
        "one character",
    ),
    (
        "t.csv",
        "a,b\n" + "1,x\n2,y\n" * 5,
        {"target": W("b"), "scale_target": True},
        "scale_target",
        "needs a regression target",
    ),
    (
        "t.csv",
        "a,b\n" + "1,2\n" * 5,
        {"target": W("b"), "features": [W("b")]},
        "features",
        "both the target and a feature",
    ),
    (
        "t.csv",
        "a,b,y\n" + "1,2,0\n" * 9 + "3,x,1\n",
        {"target": W("y")},
        "path",
        "column 'b' is not numeric: line 11 has 'x'",
    ),
    (
        "t.csv",
        "a,b,y\n" + "1,2,0\n" * 9 + "3,-inf,1\n",
        {"target": W("y")},
        "path",
        "column 'b' is not numeric: line 11 has '-inf', not a finite number",
    ),
    (
        "t.csv",
        "a,b,y\n" + "1,2,0\n" * 9 + "3,4,inf\n",
        {"target": W("y")},
        "target",
        "column 'y' is not numeric: line 11 has 'inf'",
    ),
    ("t.csv", "a,a,y\n1,2,0\n", {"target": W("y")}, "path", "two columns 'a'"),
    (
        "t.csv",
        "a,b,y\n1,2,0\n",
        {"target": W("y"), "features": [W("a"), 0]},
        "features",
        "names column 'a' twice",
    ),
    ("t.csv", "a,b,y\n1,2,0\n", {"target": W("Y")}, "target", "did you mean 'y'?"),
    (
        "t.csv",
        "a;b;y\n1;2;0\n",
        {"target": W("y")},
        "target",
        "is the delimiter ';'?",
    ),
    (
        "t.csv",
        "a,y\n" + "1,0\n" * 10,
        {"target": W("y")},
        None,
        "the labels hold one class, '0'",
    ),
    (
        "r.txt",
        "pos\tgood\npos\tfine\npos\tgreat\n",
        {"split": [1, 0, 0]},
        None,
        "the labels hold one class, 'pos'",
    ),
    ("r.txt", "pos\tok\nno tab here\n", {}, "path", "r.txt:2: expected a label, a tab"),
    ("r.txt", "\n\n", {}, "path", "no examples"),
    ("d.npz", "not a zip", {}, "path", "cannot read d.npz"),
]


@pytest.mark.parametrize("file, content, kwargs, arg, words", BAD_FILES)
def test_bad_files(tmp_path, file, content, kwargs, arg, words):
    (tmp_path / file).write_text(content)
    source = {".csv": "csv", ".txt": "text", ".npz": "npz"}[Path(file).suffix]
    with pytest.raises(DataError) as caught:
        load_data(source, (file,), kwargs, base_dir=tmp_path, seed=0)
    assert caught.value.arg == arg
    assert words in f"{caught.value.message} {caught.value.hint}"


def test_csv_text_columns_are_left_out_with_a_warning(tmp_path):
    """Text columns are skipped and said so; naming the features silences it."""
    lines = ["id,a,when,y"] + [f"r{i},{i},2024-01-{i + 1:02},{i % 2}" for i in range(20)]
    write_csv(tmp_path, "t.csv", lines)
    data = load("csv", "t.csv", base_dir=tmp_path, target=W("y"))
    assert data.feature_names == ("a",)
    ((message, hint),) = data.meta["warnings"]
    assert "columns 'id', 'when' hold text and are left out" in message
    assert "features=[a]" in hint
    named = load("csv", "t.csv", base_dir=tmp_path, target=W("y"), features=[W("a")])
    assert named.meta["warnings"] == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("member", ["x", "y"])
def test_npz_nan_or_inf_is_a_data_error_naming_array_and_row(tmp_path, bad, member):
    """Not a diverging loss at step 1, nor numpy's RuntimeWarnings from z-scoring."""
    arrays = {"x": np.ones((20, 3), np.float32), "y": np.linspace(0, 1, 20)}
    arrays[member][7] = bad
    np.savez(tmp_path / "d.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError) as caught:
            load("npz", "d.npz", base_dir=tmp_path)
    assert caught.value.arg == member
    assert f"'{member}' in d.npz holds {bad} in row 7" in caught.value.message


def test_bad_npz_members(numbered):
    with pytest.raises(DataError) as caught:
        load("npz", str(numbered), x=W("xx"))
    assert caught.value.arg == "x" and caught.value.hint == "did you mean 'x'?"
    np.savez(numbered, x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="differ in length"):
        load("npz", str(numbered))


def test_bad_idx_files(tmp_path):
    good = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    (tmp_path / "labels.idx").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    cases = [
        (b"\x00\x00\x07\x01\x00", "images", "not an IDX file"),
        (good[:-1], "images", "has 11"),
        (gzip.compress(good)[:-9], "images", "damaged gzip"),
        (good, "labels", "has 3 images but labels.idx has 4 labels"),
    ]
    for content, arg, words in cases:
        (tmp_path / "images.idx").write_bytes(content)
        with pytest.raises(DataError) as caught:
            load("idx", "images.idx", "labels.idx", base_dir=tmp_path)
        assert caught.value.arg == arg and words in caught.value.message


def test_missing_file_suggests_a_neighbour(tmp_path):
    (tmp_path / "sensor.csv").write_text("a\n1\n")
    with pytest.raises(DataError) as caught:
        load("csv", "sensr.csv", base_dir=tmp_path)
    assert caught.value.hint == "did you mean 'sensor.csv'?"
    assert str(tmp_path.resolve()) in caught.value.message


# ---------------------------------------------------------------- fuzzing


NN_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 100)
    | st.floats(allow_nan=True)
    | st.text(max_size=5)
    | st.sampled_from(["circle", "words", "chars", "x1", "curve", "a"]).map(Word)
    | st.builds(
        CallValue, st.sampled_from(["ngrams", "adam"]), st.tuples(st.integers(-1, 3))
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=6,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(name=st.sampled_from(sorted(DATA_SOURCES)), data=st.data())
def test_any_arguments_bind_or_raise_data_error(name, data):
    names = [p.name for p in DATA_SOURCES[name].params]
    args = data.draw(st.lists(NN_VALUES, max_size=2))
    kwargs = data.draw(st.dictionaries(st.sampled_from(names), NN_VALUES, max_size=3))
    try:
        bind_data_args(name, tuple(args), kwargs)
    except DataError:
        pass


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.binary(max_size=80)
    | st.lists(
        st.sampled_from(["a", "1", "2.5", "", ",", "\t", '"', "\n", "x"]), max_size=30
    )
    .map("".join)
    .map(str.encode),
    source=st.sampled_from(["csv", "text", "idx", "npz"]),
)
def test_any_file_loads_or_raises_data_error(tmp_path, content, source):
    (tmp_path / "f").write_bytes(content)
    args = ("f", "f") if source == "idx" else ("f",)
    kwargs = (
        {"target": 0, "split": [1, 0, 0]} if source == "csv" else {"split": [1, 0, 0]}
    )
    try:
        load_data(source, args, kwargs, base_dir=tmp_path, seed=0)
    except DataError:
        pass


def test_the_registry_names_what_the_generators_implement() -> None:
    from nnlang.data import generated
    from nnlang.data.registry import PLAYGROUND_FEATURE_NAMES, PLAYGROUND_KINDS

    assert PLAYGROUND_KINDS == tuple(generated.PLAYGROUND_GENERATORS)
    assert PLAYGROUND_FEATURE_NAMES == tuple(generated.PLAYGROUND_FEATURES)


def test_the_data_table_loads_without_numpy() -> None:
    """`nnc check` validates data calls against the table; numpy must not come with it."""
    import subprocess
    import sys

    code = ("import sys, nnlang.data, nnlang.check; "
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
