"""THE table of data sources, and :func:`load_data`, the one way to load one.

``DATA_SOURCES`` is read by the checker (argument names and kinds, no JAX, no
scikit-learn), by the docs generator (``doc`` strings) and by the trainer
(through :func:`load_data`).
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnlang.data.dataset import DataError, Dataset, LoadOptions
from nnlang.data.params import DataParam, DataSourceSpec, bind_args
from nnlang.values import CallValue, Word

TABLE_NORMALIZE = "z-score each feature with training statistics"


def common_params(
    normalize: bool | None,
    normalize_doc: str = TABLE_NORMALIZE,
    scale_target: bool = False,
    shuffle_doc: str = "shuffle (from the seed) before splitting",
    inputs_target: bool = False,
) -> tuple[DataParam, ...]:
    """``split``, ``shuffle``, then ``normalize`` and ``scale_target`` where they
    apply, ``target`` (labels or inputs) for images and tables without a target
    argument of their own, and the example selection every source takes."""
    params = [
        DataParam(
            "split",
            (0.8, 0.1, 0.1),
            "fractions of the examples for train, val and test; val or test may be 0",
            kind="fractions",
        ),
        DataParam("shuffle", True, shuffle_doc, kind="bool"),
    ]
    if normalize is not None:
        params.append(DataParam("normalize", normalize, normalize_doc, kind="bool"))
    if scale_target:
        params.append(
            DataParam(
                "scale_target",
                False,
                "z-score regression targets with training statistics; the dataset "
                "keeps target_mean and target_std to un-scale predictions",
                kind="bool",
            )
        )
    if inputs_target:
        params.append(INPUTS_TARGET)
    return (*params, *SELECTION)


INPUTS_TARGET = DataParam(
    "target",
    Word("labels"),
    "labels: the source's own targets; inputs: the (normalised) inputs "
    "themselves, for autoencoders",
    kind="choice",
    choices=("labels", "inputs"),
)

SELECTION = (
    DataParam(
        "classes",
        None,
        "keep only examples of these classes (names or ids; labels keep their ids)",
        kind="labels",
    ),
    DataParam(
        "train_limit",
        None,
        "keep at most this many training examples (the first of the shuffled "
        "training split); val and test are unchanged",
        kind="int",
        minimum=1,
    ),
    DataParam(  # after train_limit: positional calls written before it still bind
        "train_per_class",
        None,
        "keep at most this many training examples of each class (the first of "
        "each in the shuffled training split); val and test are unchanged",
        kind="int",
        minimum=1,
    ),
)


def lazy(module: str, function: str) -> Any:
    """``nnlang.data.<module>.<function>``, imported when first called.

    The loaders need numpy (and some scikit-learn); the checker reads this table
    to validate a ``data = ...`` call and must not pay for those imports.
    """

    def load(*args: Any, **kwargs: Any) -> Dataset:
        loader = getattr(importlib.import_module(f"nnlang.data.{module}"), function)
        return loader(*args, **kwargs)

    load.__name__ = load.__qualname__ = function
    return load


# The names nnlang/data/generated.py implements (tests/test_data.py checks they agree).
PLAYGROUND_KINDS = ("circle", "xor", "gauss", "spiral")
PLAYGROUND_FEATURE_NAMES = (
    "x1", "x2", "x1_sq", "x2_sq", "x1x2", "sin_x1", "sin_x2",
)


def source(name: str, doc: str, load: Any, *params: DataParam) -> DataSourceSpec:
    return DataSourceSpec(name=name, params=tuple(params), doc=doc, load=load)


TASK = DataParam(
    "task",
    None,
    "force the task instead of guessing it from the target",
    kind="choice",
    choices=("classification", "binary", "regression"),
)

DATA_SOURCES: dict[str, DataSourceSpec] = {
    spec.name: spec
    for spec in (
        source(
            "digits",
            "8x8 handwritten digits from scikit-learn: 1797 images [8, 8, 1], 10 classes",
            lazy("bundled", "load_digits"),
            *common_params(
                True, "divide pixel values by 16, into [0, 1]", inputs_target=True
            ),
        ),
        source(
            "iris",
            "iris flowers from scikit-learn: 150 rows, 4 features, 3 classes",
            lazy("bundled", "load_iris"),
            *common_params(True, inputs_target=True),
        ),
        source(
            "wine",
            "wine cultivars from scikit-learn: 178 rows, 13 features, 3 classes",
            lazy("bundled", "load_wine"),
            *common_params(True, inputs_target=True),
        ),
        source(
            "breast_cancer",
            "breast cancer from scikit-learn: 569 rows, 30 features, binary 0/1",
            lazy("bundled", "load_breast_cancer"),
            *common_params(True, inputs_target=True),
        ),
        source(
            "diabetes",
            "diabetes progression from scikit-learn: 442 rows, 10 features, regression",
            lazy("bundled", "load_diabetes"),
            *common_params(True, scale_target=True, inputs_target=True),
        ),
        source(
            "playground",
            "the TensorFlow Playground sets: 2-D points in two classes (binary 0/1)",
            lazy("generated", "load_playground"),
            DataParam(
                "kind",
                Word("circle"),
                "which set",
                kind="choice",
                choices=PLAYGROUND_KINDS,
            ),
            DataParam("n", 500, "number of points", kind="int", minimum=2),
            DataParam(
                "noise",
                0.1,
                "noise as on the Playground's slider, 0 to 0.5",
                kind="float",
                minimum=0,
            ),
            DataParam(
                "features",
                (Word("x1"), Word("x2")),
                "input features, as the Playground's checkboxes",
                kind="choice_list",
                choices=PLAYGROUND_FEATURE_NAMES,
            ),
            *common_params(
                False, TABLE_NORMALIZE + " (off: the Playground feeds raw values)"
            ),
        ),
        source(
            "sine",
            "sine waves: forecasting windows [length, 1] → [horizon], or the curve "
            "y = sin(x) on [low, high] with an extrapolation set beyond it",
            lazy("generated", "load_sine"),
            DataParam("n", 1000, "number of examples", kind="int", minimum=1),
            DataParam(
                "length",
                50,
                "steps in each input window",
                kind="int",
                minimum=1,
                only_for="kind=windows",
            ),
            DataParam(
                "horizon",
                1,
                "steps to forecast after each window",
                kind="int",
                minimum=1,
                only_for="kind=windows",
            ),
            DataParam(
                "noise",
                0.0,
                "std of Gaussian noise on every value",
                kind="float",
                minimum=0,
            ),
            DataParam(
                "period",
                25.0,
                "steps per cycle",
                kind="float",
                minimum=2,
                only_for="kind=windows",
            ),
            DataParam(
                "kind",
                Word("windows"),
                "windows (forecasting) or curve (fit y = sin(x))",
                kind="choice",
                choices=("windows", "curve"),
            ),
            DataParam(
                "low",
                -math.pi,
                "curve: smallest x",
                kind="float",
                only_for="kind=curve",
            ),
            DataParam(
                "high", math.pi, "curve: largest x", kind="float", only_for="kind=curve"
            ),
            DataParam(
                "extrapolate",
                None,
                "curve: n // 5 more points from this range but outside [low, high], "
                "an extra evaluation set (nnc run writes extrapolation.json: test mse "
                "inside the range against mse outside it); default [high, high + "
                "(high - low) / 2]",
                kind="range",
                only_for="kind=curve",
            ),
            *common_params(False, scale_target=True),
        ),
        source(
            "csv",
            "a CSV table with a target column, or forecasting windows over a time series",
            lazy("tables", "load_csv"),
            DataParam("path", None, "the CSV file", required=True, kind="path"),
            DataParam(
                "target",
                None,
                "target column (name or 0-based index), or a list for several outputs; "
                "needed unless the file has one column",
                kind="columns",
            ),
            DataParam(
                "features",
                None,
                "input columns; default: every numeric column but the target "
                "(with window: every numeric column); text columns are left out, "
                "with a warning",
                kind="columns",
            ),
            DataParam(
                "window",
                None,
                "make forecasting windows of this many rows",
                kind="int",
                minimum=1,
            ),
            DataParam(
                "horizon",
                1,
                "forecast this many rows after each window",
                kind="int",
                minimum=1,
                only_for="window",
            ),
            DataParam("header", True, "the first row names the columns", kind="bool"),
            DataParam("delimiter", ",", "the field separator", kind="string"),
            TASK,
            *common_params(
                True,
                scale_target=True,
                shuffle_doc="shuffle (from the seed) before splitting; with window "
                "the series is split in time order and only training windows are "
                "shuffled",
            ),
        ),
        source(
            "npz",
            "named arrays in a numpy .npz archive",
            lazy("arrays", "load_npz"),
            DataParam("path", None, "the .npz file", required=True, kind="path"),
            DataParam(
                "x", "x", "input array name, or a list for several inputs", kind="names"
            ),
            DataParam(
                "y",
                "y",
                "target array name, or a list for several outputs",
                kind="names",
            ),
            TASK,
            *common_params(
                True,
                "scale byte (uint8) inputs to [0, 1], z-score float inputs",
                scale_target=True,
            ),
        ),
        source(
            "idx",
            "images and labels in MNIST's IDX format (.gz or raw)",
            lazy("arrays", "load_idx"),
            DataParam(
                "images", None, "the IDX file of images", required=True, kind="path"
            ),
            DataParam(
                "labels", None, "the IDX file of labels", required=True, kind="path"
            ),
            *common_params(True, "scale byte pixels to [0, 1]", inputs_target=True),
        ),
        source(
            "text",
            "labelled lines of text (label<TAB>text) as padded token ids for embedding",
            lazy("text", "load_text"),
            DataParam("path", None, "the text file", required=True, kind="path"),
            DataParam(
                "tokens", Word("words"), "words, chars or ngrams(n)", kind="tokens"
            ),
            DataParam(
                "maxlen",
                None,
                "tokens per example; default: the longest training example",
                kind="int",
                minimum=1,
            ),
            DataParam(
                "vocab",
                None,
                "vocabulary size including padding (0) and unknown (1); default: all",
                kind="int",
                minimum=3,
            ),
            DataParam("lower", True, "lower-case the text first", kind="bool"),
            DataParam(
                "pad",
                Word("post"),
                "pad (and keep tokens) at the end, or pre: at the start",
                kind="choice",
                choices=("post", "pre"),
            ),
            *common_params(None),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What a data source's targets are, known before loading anything.

    Attributes:
        task: ``classification``, ``binary`` or ``regression``; ``None`` for
            class ids whose number is unknown until the data is read (``text``).
        classes: the number of classes of class-id targets, or ``None``.
        shape: one target's shape (class ids are ``()``), or ``None``.
        what: the targets in words, for messages: ``class ids of iris``.
    """

    task: str | None
    classes: int | None
    shape: tuple[int, ...] | None
    what: str


BUNDLED_CLASSES = {"digits": 10, "iris": 3, "wine": 3, "breast_cancer": 2, "playground": 2}


def target_info(name: str, bound: Mapping[str, Any]) -> TargetInfo | None:
    """The targets of ``data = name(...)`` (``bound`` from :func:`bind_data_args`),
    as far as the call tells without loading: for the checker's loss and metric
    checks. ``None`` when only the data can tell (a CSV without ``task=``)."""
    if bound.get("target") == "inputs":
        return TargetInfo("regression", None, None, f"the inputs of {name}")
    selected = bound.get("classes")
    count = len(selected) if isinstance(selected, Sequence) and selected else None
    if name in BUNDLED_CLASSES or name in ("idx", "text"):
        count = count or BUNDLED_CLASSES.get(name)
        task = None if count is None else "binary" if count == 2 else "classification"
        return TargetInfo(task, count, (), f"class ids of {name}")
    if name == "diabetes":
        return TargetInfo("regression", None, (1,), "values of diabetes")
    if name == "sine":
        return TargetInfo("regression", None, None, "values of sine")
    if name in ("csv", "npz") and isinstance(bound.get("task"), str):
        targets = bound.get("target", bound.get("y"))
        if isinstance(targets, Sequence) and not isinstance(targets, str):
            return None  # several targets, one per output
        task = str(bound["task"])
        if task == "regression":
            return TargetInfo(task, None, None, f"values of {name}(..., task=regression)")
        return TargetInfo(
            task, 2 if task == "binary" else count, (), f"class ids of {name}(...)"
        )
    return None


BUNDLED_SIZES = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569,
                 "diabetes": 442}


def train_examples(name: str, bound: Mapping[str, Any]) -> int | None:
    """How many examples the training split of ``data = name(...)`` holds
    (``bound`` from :func:`bind_data_args`), as far as the call tells without
    loading: bundled sets know their size, generated ones are given ``n``;
    ``None`` otherwise, or when ``classes``/``train_per_class`` select examples.

    Examples:
        >>> train_examples("iris", bind_data_args("iris", (), {}))
        120
        >>> train_examples("playground", bind_data_args("playground", (), {"n": 200}))
        160
    """
    n = BUNDLED_SIZES.get(name)
    if name in ("playground", "sine"):
        n = bound.get("n")
    if not isinstance(n, int) or bound.get("classes") or bound.get("train_per_class"):
        return None
    _, f_val, f_test = bound.get("split") or (0.8, 0.1, 0.1)
    count = n - round(n * f_val) - round(n * f_test)  # as prepare.split_counts
    limit = bound.get("train_limit")
    return min(count, limit) if isinstance(limit, int) else count


def find_source(name: str) -> DataSourceSpec:
    """The spec named ``name``; raises with a did-you-mean hint otherwise."""
    if name in DATA_SOURCES:
        return DATA_SOURCES[name]
    close = difflib.get_close_matches(name, DATA_SOURCES, n=1)
    raise DataError(
        f"unknown data source '{name}'",
        hint=f"did you mean '{close[0]}'?"
        if close
        else f"sources: {', '.join(DATA_SOURCES)}",
    )


def data_call(value: Any) -> CallValue | None:
    """The ``data =`` setting as a call: a bare word (``data = iris``) is a call
    without arguments; ``None`` for anything else (a number, a list)."""
    if isinstance(value, Word):
        return CallValue(str(value))
    return value if isinstance(value, CallValue) else None


def bind_data_args(
    name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate a ``data = name(...)`` call without loading anything (for ``check``).

    Returns every parameter's value, defaults filled in and normalised
    (fractions as a tuple, words as ``str``, ``ngrams(2)`` as ``("ngrams", 2)``).

    Examples:
        >>> bind_data_args("playground", (), {"kind": Word("spiral")})["n"]
        500
    """
    return bind_args(find_source(name), args, kwargs)


def load_data(
    name: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    base_dir: Path,
    seed: int,
) -> Dataset:
    """Load the data source a ``train`` block names.

    Args:
        name: the source, e.g. ``"csv"``.
        args: positional arguments as `.nn` values (bound in ``spec.params`` order).
        kwargs: keyword arguments as `.nn` values (``Word``, ``CallValue``, ...).
        base_dir: the `.nn` file's folder; relative paths are resolved from it.
        seed: seeds generation and shuffling; the same seed gives the same data.

    Raises:
        DataError: for every user mistake, with ``arg`` naming the argument.
    """
    spec = find_source(name)
    bound = bind_data_args(name, args, kwargs)
    for param in spec.params:
        if param.kind == "path" and bound[param.name] is not None:
            bound[param.name] = resolve_path(
                bound[param.name], Path(base_dir), param.name
            )
    opts = LoadOptions(
        split=bound.pop("split"),
        shuffle=bound.pop("shuffle"),
        normalize=bound.pop("normalize", False),
        scale_target=bound.pop("scale_target", False),
        seed=seed,
        classes=bound.pop("classes"),
        train_per_class=bound.pop("train_per_class"),
        train_limit=bound.pop("train_limit"),
        target=bound.pop("target") if INPUTS_TARGET in spec.params else "labels",
    )
    return spec.load(opts, **bound)


def resolve_path(written: str, base_dir: Path, arg: str) -> Path:
    """The absolute path of an existing file named relative to ``base_dir``."""
    path = Path(written)
    path = (path if path.is_absolute() else base_dir / path).resolve()
    if path.is_file():
        return path
    if path.is_dir():
        raise DataError(f"'{written}' is a folder, not a file", arg=arg)
    # files of the same kind, compared by stem: a missing 'nope.csv' is neither
    # the 'nope.nn' beside it nor 'text.csv' (the shared suffix made them close)
    siblings = {
        p.stem: p.name
        for p in (path.parent.iterdir() if path.parent.is_dir() else ())
        if p.is_file() and p.suffix.lower() == path.suffix.lower()
    }
    close = [siblings[s] for s in difflib.get_close_matches(path.stem, siblings, n=1)]
    raise DataError(
        f"no such file: '{written}' (looked in {path.parent})",
        arg=arg,
        hint=f"did you mean '{close[0]}'?" if close else None,
    )
