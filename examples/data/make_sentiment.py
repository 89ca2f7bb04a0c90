"""Write examples/data/sentiment.txt: short reviews whose label depends on word order.

    python examples/data/make_sentiment.py      # rewrites sentiment.txt (seeded)

Each line is ``pos`` or ``neg``, a tab, then a review of one or two clauses
about a film ("the plot was not boring but the acting was awful"). Two rules
of English decide the label, and both are about order, not about which words
occur:

* **negation scope**: ``not`` flips the adjective that follows it in its own
  clause ("the plot was not good" is negative);
* **"but" decides**: in "A but B" the clause after ``but`` gives the verdict.

The two clauses of a review are drawn independently, so a review and its
clauses swapped use the same multiset of words and often carry opposite
labels; some reviews are followed by that mirror image. A bag-of-words model,
which sees only the multiset, cannot tell them apart, while a recurrent or
convolutional model reading the order can. tests/test_examples_text.py checks
that the file holds such pairs.

The same seed writes the same file, so the examples' measured results hold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 7
LINES = 4000
TWO_CLAUSES = 0.75  # share of "A but B" reviews; the rest have one clause
NEGATED = 0.4  # chance that a clause negates its adjective
MIRRORED = 0.2  # chance that "A but B" is followed by "B but A"

SUBJECTS = (
    "the plot", "the acting", "the film", "the script", "the ending",
    "the music", "the cast", "the dialogue", "the story", "the pacing",
    "the camera work", "the director", "this movie", "the soundtrack",
)  # fmt: skip
VERBS = (  # each verb, then its negation
    ("was", "was not"),
    ("is", "is not"),
    ("felt", "did not feel"),
    ("seemed", "did not seem"),
    ("looked", "did not look"),
)
INTENSIFIERS = ("", "", "", "really", "very", "quite", "truly")
POSITIVE = (
    "good", "great", "wonderful", "superb", "brilliant", "moving", "funny",
    "clever", "charming", "gripping", "excellent", "beautiful",
)  # fmt: skip
NEGATIVE = (
    "bad", "awful", "boring", "dull", "terrible", "weak", "clumsy",
    "predictable", "tedious", "bland", "painful", "messy",
)  # fmt: skip


def make_clause(rng: np.random.Generator) -> tuple[str, bool]:
    """One clause and whether it praises: the adjective's polarity, flipped by ``not``."""
    positive = bool(rng.random() < 0.5)
    negated = bool(rng.random() < NEGATED)
    words = [
        str(rng.choice(SUBJECTS)),
        VERBS[rng.integers(len(VERBS))][negated],
        str(rng.choice(INTENSIFIERS)),
        str(rng.choice(POSITIVE if positive else NEGATIVE)),
    ]
    return " ".join(w for w in words if w), positive != negated


def make_reviews_at(rng: np.random.Generator) -> list[tuple[str, bool]]:
    """One review and its label (the last clause's verdict: "A but B" → B), or
    with chance ``MIRRORED`` also "B but A", the same words with A's verdict."""
    first, first_praises = make_clause(rng)
    if rng.random() >= TWO_CLAUSES:
        return [(first, first_praises)]
    second, second_praises = make_clause(rng)
    reviews = [(f"{first} but {second}", second_praises)]
    if rng.random() < MIRRORED:
        reviews.append((f"{second} but {first}", first_praises))
    return reviews


def make_reviews(seed: int = SEED, lines: int = LINES) -> list[tuple[str, str]]:
    """``lines`` (label, text) pairs, labels ``pos``/``neg``."""
    rng = np.random.default_rng(seed)
    reviews: list[tuple[str, bool]] = []
    while len(reviews) < lines:
        reviews += make_reviews_at(rng)
    return [("pos" if praises else "neg", text) for text, praises in reviews[:lines]]


def write_text(path: Path, reviews: list[tuple[str, str]]) -> None:
    """One ``label<TAB>text`` line per review, the format ``text(...)`` reads."""
    path.write_text("".join(f"{label}\t{text}\n" for label, text in reviews))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("sentiment.txt")
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--lines", type=int, default=LINES)
    args = parser.parse_args()
    write_text(args.out, make_reviews(args.seed, args.lines))


if __name__ == "__main__":
    main()
