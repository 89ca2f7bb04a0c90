"""The gallery's data generators and the data-stage behaviour their examples rely on.

The sentiment file must make word order matter (the same words with both
labels), or text_bag_of_words.nn would not show what the recurrent model adds;
the insurance table must load as one input and two targets that pair with the
model's two heads by name. Both shipped files must be exactly what their
seeded generators write, so the README's measured results can be reproduced.
"""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from nnlang.data import load_data
from nnlang.diagnostics import NnError
from nnlang.values import Word

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"


def load_generator(name: str) -> ModuleType:
    """Import a generator script from examples/data (not a package)."""
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sentiment() -> ModuleType:
    return load_generator("make_sentiment")


@pytest.fixture(scope="module")
def insurance() -> ModuleType:
    return load_generator("make_insurance_csv")


def read_reviews() -> list[tuple[str, str]]:
    lines = (DATA / "sentiment.txt").read_text().splitlines()
    return [tuple(line.split("\t")) for line in lines]


# ---------------------------------------------------------------- sentiment


def test_sentiment_file_is_what_the_seeded_generator_writes(sentiment, tmp_path):
    out = tmp_path / "sentiment.txt"
    sentiment.write_text(out, sentiment.make_reviews())
    assert out.read_bytes() == (DATA / "sentiment.txt").read_bytes()
    assert out.stat().st_size < 1_000_000


def test_the_same_words_appear_with_both_labels():
    """Word order decides: a bag of words cannot separate these reviews."""
    labels_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for label, text in read_reviews():
        labels_of[tuple(sorted(text.split()))].add(label)
    ambiguous = [words for words, labels in labels_of.items() if len(labels) == 2]
    assert len(ambiguous) >= 100, len(ambiguous)


def test_swapping_the_clauses_flips_the_label(sentiment):
    rng = np.random.default_rng(0)
    flipped = 0
    for _ in range(200):
        (a, praises_a), (b, praises_b) = (sentiment.make_clause(rng) for _ in "ab")
        assert sorted(f"{a} but {b}".split()) == sorted(f"{b} but {a}".split())
        flipped += praises_a != praises_b  # "a but b" says b, "b but a" says a
    assert flipped > 50


def verdict(text: str, sentiment: ModuleType) -> str:
    """The rule, re-derived from the text: the last clause's adjective, negated?"""
    clause = text.split(" but ")[-1].split()
    praises = (clause[-1] in sentiment.POSITIVE) != ("not" in clause)
    return "pos" if praises else "neg"


def test_every_label_is_the_last_clause_verdict(sentiment):
    reviews = read_reviews()
    assert all(verdict(text, sentiment) == label for label, text in reviews)
    assert 0.4 < np.mean([label == "pos" for label, _ in reviews]) < 0.6


def test_sentiment_loads_as_padded_word_ids():
    data = load_data(
        "text",
        ("sentiment.txt",),
        {"tokens": Word("words"), "maxlen": 18, "vocab": 100},
        base_dir=DATA,
        seed=0,
    )
    assert data.x_shape == (18,) and data.x_dtype == "int32"
    assert data.meta["classes"] == ["neg", "pos"]
    assert len(data.vocab) < 100  # every word fits: no <unk> in test reviews
    assert int(data.test.x.max()) < len(data.vocab)
    assert (data.train.x[:, -1] == 0).mean() > 0.9  # the longest review fits


# ---------------------------------------------------------------- insurance


def test_insurance_file_is_what_the_seeded_generator_writes(insurance, tmp_path):
    out = tmp_path / "insurance.csv"
    insurance.write_csv(out, insurance.make_table())
    assert out.read_bytes() == (DATA / "insurance.csv").read_bytes()
    assert out.stat().st_size < 2_100_000


def load_insurance():
    return load_data(
        "csv",
        ("insurance.csv",),
        {"target": [Word("premium"), Word("quote")], "scale_target": True},
        base_dir=DATA,
        seed=0,
    )


def test_insurance_loads_as_one_input_and_two_targets():
    data = load_insurance()
    assert data.x_shape == (700,)
    assert data.y_shape == {"premium": (1,), "quote": ()}
    assert data.meta["tasks"] == {"premium": "regression", "quote": "binary"}
    assert data.meta["ignored_columns"] == ["random_id"]
    assert set(data.target_mean) == {"premium"}  # only the regression is scaled
    assert set(np.unique(data.train.y["quote"])) == {0, 1}


def test_premium_and_quote_depend_on_different_columns(insurance):
    table = insurance.make_table()

    def corr(a: str, b: str) -> float:
        return abs(np.corrcoef(table[a], table[b])[0, 1])

    assert corr("premium", "driver_age") > 0.4
    assert corr("quote", "driver_age") < 0.1
    assert corr("quote", "claims_5y") > 0.3
    assert corr("premium", "claims_5y") < 0.1


# ---------------------------------------------------------- targets by name

TWO_HEADS = """\
model two {
    input x: [3]
    h = x -> dense(8, act=relu)
    output premium = h -> dense(1)
    output QUOTE = h -> dense(1, act=sigmoid)
}

train two {
    data = csv("table.csv", target=[premium, quote], scale_target=true)
    batch = 16
    epochs = 3
    loss = {premium: mse, QUOTE: binary_cross_entropy}
    optimizer = adam(lr=1e-2)
    seed = 0
}
"""


def write_two_heads(folder: Path, quote_output: str) -> Path:
    """A two-head model and a 200-row table: premium = 3a + b², quote = c > 0."""
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 200))
    rows = [f"{x:.4f},{y:.4f},{z:.4f},{3 * x + y**2:.4f},{int(z > 0)}"
            for x, y, z in zip(a, b, c, strict=True)]  # fmt: skip
    (folder / "table.csv").write_text("a,b,c,premium,quote\n" + "\n".join(rows) + "\n")
    path = folder / "two.nn"
    path.write_text(TWO_HEADS.replace("QUOTE", quote_output))
    return path


@pytest.mark.parametrize(
    ("source", "message", "hint"),
    [
        ("target=[premium, quote]", "no target for output 'quoted'", "'quote'"),
        (
            "target=premium, features=[a, b, c]",
            "gives one target",
            "target=[premium, quoted]",
        ),
    ],
)
def test_targets_unlike_the_outputs_are_a_diagnostic(tmp_path, source, message, hint):
    from nnlang.run import prepare

    path = write_two_heads(tmp_path, "quoted")
    path.write_text(path.read_text().replace("target=[premium, quote]", source))
    with pytest.raises(NnError) as caught:
        prepare(path)
    (diag,) = caught.value.diagnostics
    assert diag.code == "data-mismatch" and message in diag.message
    assert hint in diag.hint
    assert diag.span.line == 9  # the data setting


@pytest.mark.jax
@pytest.mark.slow
def test_mean_baseline_is_reported_per_regression_head(tmp_path):
    from nnlang.run import run_file

    path = write_two_heads(tmp_path, "quote")
    history, run_dir = run_file(path, verbose=0, out=tmp_path / "run")
    report = json.loads((run_dir / "mean_baseline.json").read_text())
    assert set(report) == {
        "premium_mean_mse",
        "premium_model_mse",
        "premium_improvement",
    }
    data = load_data(
        "csv",
        ("table.csv",),
        {"target": [Word("premium"), Word("quote")], "scale_target": True},
        base_dir=tmp_path,
        seed=0,
    )
    train, test = (
        data.unscale_targets(s.y)["premium"] for s in (data.train, data.test)
    )
    assert report["premium_mean_mse"] == pytest.approx(
        np.mean((test - train.mean()) ** 2), rel=1e-6
    )  # in pounds, not in z-scores
    std = float(data.target_std["premium"][0])
    loss = history.test["premium_loss"]  # the mse of the z-scored premium
    assert report["premium_model_mse"] == pytest.approx(loss * std**2, rel=1e-3)
    model, mean = report["premium_model_mse"], report["premium_mean_mse"]
    assert report["premium_improvement"] == pytest.approx(1 - model / mean)


# ------------------------------------------------------- summary showcases


@pytest.mark.parametrize(
    ("name", "params"), [("vgg16", 138_357_544), ("resnet50", 25_636_712)]
)
def test_summary_showcases_have_keras_parameter_counts(name: str, params: int):
    """vgg16.nn and resnet50.nn are for `nnc summary`; they have no train block."""
    from nnlang.check import load_checked
    from nnlang.summary import summarize

    program, _ = load_checked(DATA.parent / f"{name}.nn")
    assert not program.trains  # so the example run test must skip them
    assert summarize(program.models[name]).to_json()["total_params"] == params
