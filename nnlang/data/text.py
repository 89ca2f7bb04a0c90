"""``text``: labelled lines of text, tokenised into integer ids for ``embedding``.

The file format is one example per line, the label, a tab, then the text::

    pos<TAB>A gripping film, beautifully shot.
    neg<TAB>Two hours I will never get back.

Blank lines are skipped; the text may contain commas and quotes freely (only
the first tab separates). Labels are any strings; whole-number labels such as
0 and 1 are used as class ids directly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnlang.data.dataset import DataError, Dataset, LoadOptions, Split
from nnlang.data.prepare import assemble, class_task, encode_labels, split_indices

PAD, UNKNOWN = "<pad>", "<unk>"
"""Reserved tokens: id 0 pads short sequences, id 1 stands for unseen tokens."""

WORD = re.compile(r"\w+(?:'\w+)*")
"""A word is a run of letters, digits or underscores, with inner apostrophes
(``don't``); punctuation is dropped."""


def tokenize_text(text: str, tokens: tuple[str, int], lower: bool = True) -> list[str]:
    """Split one text into tokens.

    Args:
        text: the text.
        tokens: ``("words", 1)``, ``("chars", 1)`` or ``("ngrams", n)``; word
            n-grams are every run of 1 to n consecutive words, in text order
            (Chollet's "bag of n-grams").
        lower: lower-case first.

    Examples:
        >>> tokenize_text("The cat sat.", ("ngrams", 2))
        ['the', 'the cat', 'cat', 'cat sat', 'sat']
        >>> tokenize_text("Hi!", ("chars", 1), lower=False)
        ['H', 'i', '!']
    """
    kind, n = tokens
    text = text.lower() if lower else text
    if kind == "chars":
        return list(text)
    words = WORD.findall(text)
    if kind == "words":
        return words
    return [
        " ".join(words[i : i + k])
        for i in range(len(words))
        for k in range(1, n + 1)
        if i + k <= len(words)
    ]


def build_vocab(token_lists: Sequence[list[str]], size: int | None) -> list[str]:
    """Reserved tokens, then tokens by falling count (ties alphabetical).

    ``size`` counts the two reserved ids, so ``vocab=2000`` matches
    ``embedding(2000, dim)``.

    Examples:
        >>> build_vocab([["b", "a", "b"], ["c"]], size=4)
        ['<pad>', '<unk>', 'b', 'a']
    """
    counts = Counter(t for tokens in token_lists for t in tokens)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    kept = ranked if size is None else ranked[: size - 2]
    return [PAD, UNKNOWN, *kept]


def encode_token_ids(
    token_lists: Sequence[list[str]],
    vocab: Sequence[str],
    maxlen: int,
    pad: str = "post",
) -> np.ndarray:
    """Token ids (n, maxlen) int32: unknown → 1, cut to the first ``maxlen``
    tokens, padded with 0 after (``pad="post"``) or before (``"pre"``)."""
    lookup = {t: i for i, t in enumerate(vocab)}
    ids = np.zeros((len(token_lists), maxlen), dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        seq = [lookup.get(t, 1) for t in tokens[:maxlen]]
        start = 0 if pad == "post" else maxlen - len(seq)
        ids[row, start : start + len(seq)] = seq
    return ids


def read_labelled_lines(path: Path) -> tuple[list[str], list[str]]:
    """(labels, texts) from a ``label<TAB>text`` file."""
    labels, texts = [], []
    try:
        with path.open(encoding="utf-8-sig") as file:
            for number, line in enumerate(file, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                label, tab, text = line.partition("\t")
                if not tab or not label.strip():
                    raise DataError(
                        f"{path.name}:{number}: expected a label, a tab, then the text",
                        arg="path",
                        hint="each line is label<TAB>text",
                    )
                labels.append(label.strip())
                texts.append(text.strip())
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path.name} is not UTF-8 text ({err.reason})", arg="path"
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}", arg="path") from None
    if not labels:
        raise DataError(f"{path.name} has no examples", arg="path")
    return labels, texts


def load_text(
    opts: LoadOptions,
    *,
    path: Path,
    tokens: tuple[str, int],
    maxlen: int | None,
    vocab: int | None,
    lower: bool,
    pad: str,
) -> Dataset:
    """Labelled text as padded token ids, x int32 of shape (maxlen,).

    The vocabulary is built from the training split only, so val and test
    meet unknown tokens as new text would. Without ``maxlen`` the longest
    training example sets it. ``meta`` records the tokenizer settings
    (``tokens``, ``lower``, ``maxlen``, ``pad``) so that prediction can
    encode new text with :func:`tokenize_text` and :func:`encode_token_ids`.
    """
    labels, texts = read_labelled_lines(path)
    y, classes = encode_labels(labels)
    token_lists = [tokenize_text(t, tokens, lower) for t in texts]
    index = split_indices(len(texts), opts)
    train_tokens = [token_lists[i] for i in index[0]]
    vocabulary = build_vocab(train_tokens, vocab)
    maxlen = maxlen or max(1, max(len(t) for t in train_tokens))
    x = encode_token_ids(token_lists, vocabulary, maxlen, pad)
    return assemble(
        tuple(Split(x[i], y[i]) for i in index),
        opts,
        task=class_task(len(classes)),
        num_classes=len(classes),
        vocab=vocabulary,
        meta={
            "tokens": tokens[0] if tokens[0] != "ngrams" else f"ngrams({tokens[1]})",
            "ngrams": tokens[1],
            "lower": lower,
            "maxlen": maxlen,
            "pad": pad,
            "classes": classes,
        },
    )
