"""``nnc eval`` and ``nnc predict``: a trained run's weights applied to data.

``eval`` scores a split of the run's own data (the split it held out, not one
an edited file would draw); ``predict`` reads new examples (.npy, .npz, .csv),
checks them as the model needs them and writes the outputs as CSV.
:mod:`nnlang.data.predict` reads and writes those prediction CSVs.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlang.check import load_checked
from nnlang.diagnostics import NnError, error, warning
from nnlang.ir import Graph
from nnlang.run import prepare, select_train, warn
from nnlang.run_record import (
    PREPROCESS,
    check_model_fits,
    load_run_variables,
    run_settings,
)
from nnlang.train.gan_config import is_gan


def load_inputs(path: Path, graph: Graph, prep: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """Read INPUT for ``nnc predict``: .npy, .npz (by input name, or x) or .csv
    (feature columns by name when it has a header and ``prep`` records them)."""
    import numpy as np

    from nnlang.data import DataError
    from nnlang.data.predict import read_prediction_csv

    if path.is_dir():
        raise NnError(error("file", f"'{path}' is a folder; name a .npy, .npz or .csv "
                                    "file of examples"))
    if not path.is_file():
        raise NnError(error("file", f"no such file: '{path}'"))
    suffix = path.suffix.lower()
    names = list(graph.inputs)
    try:
        if suffix == ".npy":
            arrays = {names[0]: np.load(path, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if all(n in z for n in names):
                    arrays = {n: z[n] for n in names}
                elif len(names) == 1 and "x" in z:
                    arrays = {names[0]: z["x"]}
                else:
                    raise NnError(error("file", f"{path} holds "
                                        f"{', '.join(z.files) or 'no arrays'}; "
                                        f"expected arrays named {', '.join(names)}"))
        elif suffix == ".csv":
            arrays = {names[0]: read_prediction_csv(path, prep or {})}
        else:
            raise NnError(error("file", f"cannot read '{path}': use .npy, .npz or .csv"))
    except DataError as exc:  # a CSV's missing column or bad cell is named
        code = "data-mismatch" if exc.arg == "columns" else "file"
        raise NnError(error(code, exc.message, hint=exc.hint)) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None
    return arrays


def _unreadable(path: Path, exc: Exception) -> NnError:
    """numpy's reason when it can read the file's format at all; otherwise say
    which format it is not (numpy's own advice, to load it as a pickle, is unsafe
    and never what a file of examples needs)."""
    suffix = path.suffix.lower()
    text = str(exc)
    if suffix in (".npy", ".npz") and ("pickle" in text or isinstance(
            exc, (EOFError, zipfile.BadZipFile)) or "magic string" in text
            or "format version" in text):
        kind = "a .npy file" if suffix == ".npy" else "a .npz archive"
        return NnError(error("file", f"'{path}' is not {kind} (numpy cannot read it)",
                             hint="save examples with np.save (.npy) or np.savez (.npz), "
                                  "or write a .csv with one example a row"))
    return NnError(error("file", f"cannot read '{path}': {text}"))


def _check_examples(path: Path, name: str, x) -> None:
    """``x`` holds numbers, at least one example, and no nan or inf: a model scores
    nan as a confident class 0, so such a row is the user's to fix, not to predict."""
    from nnlang.data.arrays import nonfinite_rows

    what = f"'{path}'" + (f" (array '{name}')" if path.suffix.lower() == ".npz" else "")
    if x.dtype.kind not in "biuf":
        raise NnError(error(
            "data-mismatch", f"{what} holds {x.dtype} values, not numbers",
            hint="save the examples as numbers: np.save(path, x.astype('float32'))"))
    if x.ndim > 0 and len(x) == 0:
        raise NnError(error("data-mismatch", f"{what} has no examples (its shape is "
                                             f"{list(x.shape)})"))
    bad = nonfinite_rows(x)
    if len(bad):
        raise NnError(error(
            "data-mismatch", f"{what} has nan or inf in {len(bad)} of its {len(x)} "
                             f"example(s), first in example {bad[0] + 1} (index {bad[0]})",
            hint="fill or drop those examples: the model cannot score them"))


def unused_name(path: Path) -> Path:
    """``path`` if nothing is there, else the first free ``stem-2.suffix``,
    ``stem-3.suffix``, ...: output nobody named is never written over."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _check_example_size(path: Path, name: str, x, want) -> None:
    """Each example (a row of ``x``) must hold as many values as input ``name``
    (the element-count rule of :func:`check_data_fits`)."""
    if any(d is None for d in want):
        return
    size = math.prod(int(d) for d in want)
    got = math.prod(int(d) for d in x.shape[1:])
    if x.ndim > 0 and got == size:
        return
    shape = ", ".join(map(str, want))
    single = x.size == size  # one example without its batch axis
    raise NnError(error(
        "data-mismatch", f"'{path}' holds {len(x) if x.ndim else 1} example(s) of "
                         f"{got} value(s); input '{name}' is [{shape}], {size} values",
        hint="add a first axis for one example: np.save(path, x[None])" if single
        else "one example per row (.csv), or along the first axis (.npy, .npz)"))


def predict_file(path: str | Path, run_dir: str | Path, inputs_path: str | Path,
                 out: str | Path | None = None) -> Path:
    """Predictions of a trained run for the examples in ``inputs_path``."""
    import numpy as np

    from nnlang.lower import CompiledModel
    from nnlang.train.loop import predict
    from nnlang.train.model import activations_of

    run_dir = Path(run_dir)
    settings = run_settings(run_dir)
    program, _ = load_checked(path, settings.get("overrides"))
    spec = select_train(program, settings.get("train"))
    graph = program.models[spec.models[0]]
    check_model_fits(run_dir, graph, command="predict")
    model = CompiledModel(graph)
    variables = load_run_variables(run_dir)
    prep = dict(np.load(run_dir / PREPROCESS)) if (run_dir / PREPROCESS).is_file() else {}
    arrays = load_inputs(Path(inputs_path), graph, prep)
    for name, x in arrays.items():
        _check_examples(Path(inputs_path), name, x)
        x = np.asarray(x, dtype=np.float32) if not np.issubdtype(x.dtype, np.integer) else x
        _check_example_size(Path(inputs_path), name, x, model.input_shapes[name])
        if "x_mean" in prep and np.issubdtype(x.dtype, np.floating):
            x = (x.reshape(len(x), -1) - prep["x_mean"].reshape(-1)) / prep["x_std"].reshape(-1)
        want = model.input_shapes[name]
        if all(d is not None for d in want) and x[0].size == int(np.prod(want)):
            x = x.reshape(len(x), *want)
        arrays[name] = x
    # as the loss read each output (runs before this was recorded: as the model ends)
    acts = settings.get("activations") or activations_of(model, {})
    outputs = predict(model, variables, arrays, activations=acts)
    target = Path(out) if out else unused_name(run_dir / "predictions.csv")
    columns, header = [], []
    for name, y in outputs.items():
        y = np.asarray(y).reshape(len(y), -1)
        if acts.get(name) == "softmax":
            columns.append(y.argmax(-1)[:, None])
            header.append(f"{name}_class")
        elif "target_mean" in prep and acts.get(name) is None:
            y = y * prep["target_std"].reshape(-1) + prep["target_mean"].reshape(-1)
        columns.append(y)
        header += [f"{name}_{i}" for i in range(y.shape[1])] if y.shape[1] > 1 else [name]
    np.savetxt(target, np.concatenate(columns, axis=1), delimiter=",",
               header=",".join(header), comments="", fmt="%.6g")
    return target


def eval_file(path: str | Path, run_dir: str | Path, split: str = "test") -> dict[str, float]:
    """Score a trained run on a split of its train block's data."""
    from nnlang.lower import CompiledModel
    from nnlang.train.loop import evaluate

    run_dir = Path(run_dir)
    settings = run_settings(run_dir)
    overrides, seed = run_data_settings(Path(path), run_dir, settings, split)
    prepared = prepare(path, train=settings.get("train"), overrides=overrides, seed=seed)
    if is_gan(prepared.spec.settings):
        raise NnError(error("train-config", "a GAN run has no split to score",
                            prepared.spec.spans.get("loss", prepared.spec.span),
                            hint=f"its numbers are in {run_dir / 'gan.json'}"))
    check_model_fits(run_dir, prepared.graph, command="eval")
    if len(getattr(prepared.data, split)) == 0:  # split=[0.7, 0.3, 0.0] keeps no test
        others = [s for s in ("test", "val", "train")
                  if s != split and len(getattr(prepared.data, s))]
        raise NnError(error(
            "data", f"the {split} split of this run has no examples",
            prepared.spec.spans.get("data", prepared.spec.span),
            hint=f"score another: nnc eval ... --split {others[0]}" if others else None))
    model = CompiledModel(prepared.graph)
    return evaluate(model, load_run_variables(run_dir), prepared.data, prepared.config,
                    split=split)


def run_data_settings(path: Path, run_dir: Path, settings: Mapping[str, Any],
                      split: str) -> tuple[dict[str, str], int | None]:
    """The overrides and seed that make ``nnc eval`` load the run's own splits.

    A run's test split is what it held out; edited data settings (another split,
    seed or file) would draw a different "test" split, overlapping what the run
    trained on, and score it silently. As Keras's ``evaluate`` scores the held-out
    data, eval uses the run's recorded data setting and seed, and warns (at the
    file's ``data`` line) when the file's own settings differ. Runs recorded
    before this have no ``data`` in run.json: the file's settings are used.
    """
    overrides = dict(settings.get("overrides") or {})
    seed = settings.get("seed")
    if "data" not in settings:
        return overrides, seed
    program, _ = load_checked(path, overrides)
    spec = select_train(program, settings.get("train"))
    from nnlang.values import format_value

    file_data = format_value(spec.settings.get("data"))
    file_seed = seed if seed is not None else spec.settings.get("seed", 0)
    run_data, run_seed = settings["data"], settings.get("data_seed", 0)
    if (file_data, file_seed) != (run_data, run_seed):
        warn(warning(
            "data-changed", f"the file's data settings differ from the run's; scoring "
                            f"the run's own {split} split: data = {run_data}, seed = "
                            f"{run_seed} (the file has data = {file_data}, seed = "
                            f"{file_seed})", spec.spans.get("data", spec.span),
            hint="other splits would mix in examples the run trained on; score new "
                 "data with nnc predict, or train a new run"))
    return {**overrides, "data": run_data}, run_seed
