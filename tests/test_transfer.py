"""Transfer learning end to end: selecting classes and limiting examples in a data
source, then ``init_from`` + ``freeze`` across two train blocks of one file.

The data tests need no JAX; the run test trains two one-epoch stages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlang.data import DataError, load_data
from nnlang.diagnostics import NnError
from nnlang.values import Word

HERE = Path(".")

TWO_STAGES = """\
block base {
    dense(16, act=relu) as first
    dense(16, act=relu) as second
}

model old {
    input pixels: [64]
    base as trunk
    dense(5, act=softmax) as old_head
}

model new {
    input pixels: [64]
    base as trunk
    dense(5, act=softmax) as new_head
}

train old as pretrain {
    data = digits(classes=[0, 1, 2, 3, 4])
    epochs = 1
    seed = 0
}

train new as finetune {
    data = digits(classes=[5, 6, 7, 8, 9], train_limit=40)
    init_from = "pre"
    freeze = ["trunk/first"]
    epochs = 1
    seed = 0
}
"""


def digits(**kwargs: object):
    return load_data("digits", (), kwargs, base_dir=HERE, seed=0)


def test_classes_keep_only_those_examples_relabelled_in_order() -> None:
    everything, upper = digits(), digits(classes=[5, 6, 7, 8, 9])
    assert upper.num_classes == 5 and upper.task == "classification"
    assert upper.meta["classes"] == ["5", "6", "7", "8", "9"]
    for name in ("train", "val", "test"):
        whole, part = getattr(everything, name), getattr(upper, name)
        assert sorted(np.unique(part.y)) == [0, 1, 2, 3, 4]
        # the same examples as the full split's 5-9, in the same order
        keep = whole.y >= 5
        np.testing.assert_array_equal(part.x, whole.x[keep])
        np.testing.assert_array_equal(part.y, whole.y[keep] - 5)


def test_two_classes_are_binary_and_names_match_ids() -> None:
    pair = digits(classes=[8, 3])
    assert pair.task == "binary" and pair.num_classes == 2
    assert pair.meta["classes"] == ["8", "3"]  # label 0 is the digit 8
    iris = load_data(
        "iris", (), {"classes": [Word("virginica"), 0]}, base_dir=HERE, seed=0
    )
    assert iris.meta["classes"] == ["virginica", "setosa"]


def test_train_limit_cuts_only_the_training_split() -> None:
    full, few = (
        digits(classes=[5, 6, 7, 8, 9]),
        digits(classes=[5, 6, 7, 8, 9], train_limit=50),
    )
    assert len(few.train) == 50
    np.testing.assert_array_equal(few.train.x, full.train.x[:50])
    assert len(few.val) == len(full.val) and len(few.test) == len(full.test)
    assert len(digits(train_limit=100_000).train) == len(digits().train)


def test_train_per_class_keeps_the_first_of_each_class() -> None:
    full = digits(classes=[5, 6, 7, 8, 9])
    few = digits(classes=[5, 6, 7, 8, 9], train_per_class=2)
    assert np.bincount(few.train.y).tolist() == [2, 2, 2, 2, 2]
    # the first two of each class, in the split's order
    firsts = [np.flatnonzero(full.train.y == c)[:2] for c in range(5)]
    keep = np.sort(np.concatenate(firsts))
    np.testing.assert_array_equal(few.train.x, full.train.x[keep])
    np.testing.assert_array_equal(few.train.y, full.train.y[keep])
    assert len(few.val) == len(full.val) and len(few.test) == len(full.test)
    # then train_limit cuts what is left
    both = digits(classes=[5, 6, 7, 8, 9], train_per_class=2, train_limit=3)
    np.testing.assert_array_equal(both.train.y, few.train.y[:3])
    assert len(digits(train_per_class=100_000).train) == len(digits().train)


def test_train_per_class_needs_labelled_classes() -> None:
    with pytest.raises(DataError, match="task is 'regression'") as caught:
        load_data("diabetes", (), {"train_per_class": 3}, base_dir=HERE, seed=0)
    assert caught.value.arg == "train_per_class"


def test_inputs_as_targets() -> None:
    data = digits(target=Word("inputs"))
    assert data.task == "regression" and data.y_shape == (8, 8, 1)
    np.testing.assert_array_equal(data.test.y, data.test.x)
    assert data.train.x.max() == 1.0  # targets are normalised like the inputs
    assert data.meta["target"] == "inputs" and "classes" not in data.meta


@pytest.mark.parametrize(
    ("kwargs", "arg", "words"),
    [
        ({"classes": [11]}, "classes", "no class 11"),
        ({"classes": []}, "classes", "class names or 0-based class ids"),
        ({"classes": [1, 1]}, "classes", "class names or 0-based class ids"),
        ({"classes": [Word("seven")]}, "classes", "no class 'seven'"),
        ({"train_limit": 0}, "train_limit", ">= 1"),
        ({"train_limit": 2.5}, "train_limit", "an integer"),
        ({"train_per_class": 0}, "train_per_class", ">= 1"),
        ({"target": Word("input")}, "target", "did you mean 'inputs'"),
    ],
)
def test_bad_values_name_the_argument(kwargs: dict, arg: str, words: str) -> None:
    with pytest.raises(DataError) as caught:
        digits(**kwargs)
    assert caught.value.arg == arg and words in str(caught.value)


def test_classes_need_labelled_classes() -> None:
    with pytest.raises(DataError, match="task is 'regression'"):
        load_data("diabetes", (), {"classes": [1]}, base_dir=HERE, seed=0)


def test_bad_selection_is_a_located_diagnostic(tmp_path: Path) -> None:
    from nnlang.run import prepare

    src = tmp_path / "bad.nn"
    src.write_text(TWO_STAGES.replace("classes=[5, 6, 7, 8, 9]", "classes=[5, 10]"))
    with pytest.raises(NnError) as caught:
        prepare(src, train="finetune")
    (diag,) = caught.value.diagnostics
    assert diag.code == "data" and "no class 10" in diag.message
    assert diag.span.line == 25 and diag.span.path == str(src)


@pytest.mark.jax
def test_finetune_starts_from_pretrain_and_keeps_frozen_layers(tmp_path: Path) -> None:
    from nnlang.run import run_file
    from nnlang.train.checkpoint import load_variables

    src = tmp_path / "two.nn"
    src.write_text(TWO_STAGES)
    run_file(src, train="pretrain", out=tmp_path / "pre", verbose=0)
    history, _ = run_file(src, train="finetune", out=tmp_path / "fine", verbose=0)
    before = load_variables(tmp_path / "pre")["params"]["trunk"]
    after = history.variables["params"]["trunk"]
    for leaf in ("kernel", "bias"):  # frozen: exactly the pretrained weights
        np.testing.assert_array_equal(after["first"][leaf], before["first"][leaf])
    # trained from the pretrained weights: moved, but not far
    moved = np.abs(after["second"]["kernel"] - before["second"]["kernel"]).max()
    assert 0 < moved < 0.1
    assert "old_head" not in history.variables["params"]
