"""The tables of training options: losses, optimisers, schedules and metrics.

One :class:`Entry` per name declares its parameters, their defaults and a
one-line doc. :mod:`nnlang.train.config` validates `.nn` settings against these
tables and the builders in ``losses.py``, ``optim.py`` and ``metrics.py`` turn
the validated values into JAX code. The tables are pure data so that
``nnc check`` can validate a train block without importing JAX, and so that
the docs can be rendered from them (:func:`markdown_table`).

Examples:
    >>> format_signature(LOSSES["huber"])
    'huber(delta=1.0)'
    >>> format_signature(SCHEDULES["step"])
    'step(every, factor=0.1)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nnlang.diagnostics import folded

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
"""Marks a parameter without a default."""

# Parameter kinds and what they accept.
FLOAT, INT, BOOL, WORD = "float", "int", "bool", "word"
# Value checks, named by what they require.
POSITIVE, NONNEGATIVE, UNIT, FRACTION = "positive", "nonnegative", "unit", "fraction"
CHECK_TEXT = {
    POSITIVE: "a positive number",
    NONNEGATIVE: "a number >= 0",
    UNIT: "a number in [0, 1)",
    FRACTION: "a number in (0, 1)",
}


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a registry entry.

    Attributes:
        name: the `.nn` keyword.
        kind: ``"float"``, ``"int"``, ``"bool"`` or ``"word"`` (a bare name).
        default: the value when omitted; :data:`REQUIRED` if it must be given;
            ``None`` for optional parameters that are off unless given.
        check: one of the keys of :data:`CHECK_TEXT`, or ``None``.
        hidden: left out of the rendered signature (an alternative spelling
            such as ``warmup_epochs`` for ``warmup``).
    """

    name: str
    kind: str = FLOAT
    default: Any = REQUIRED
    check: str | None = None
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """A named option: a loss, an optimiser, a schedule or a metric.

    Attributes:
        name: the `.nn` word (``adam``, ``cosine``).
        params: the parameters, positional order first.
        doc: one line for the docs table.
        exclusive: pairs of parameters that may not both be given; when the
            first member is :data:`REQUIRED`, one of the pair must be given.
        higher_is_better: for metrics, the early-stopping direction.
        reads: for losses and metrics, the targets they compare with:
            ``"classes"`` (class ids, one-hot or 0/1) or ``"values"``.
        fuses: for classification losses, the activation they apply to an
            output they read as logits (``"softmax"``, ``"sigmoid"``).
    """

    name: str
    params: tuple[Param, ...] = ()
    doc: str = ""
    exclusive: tuple[tuple[str, str], ...] = ()
    higher_is_better: bool = False
    reads: str | None = None
    fuses: str | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _table(*entries: Entry) -> dict[str, Entry]:
    return {e.name: e for e in entries}


def _lr(default: float) -> Param:
    return Param("lr", default=default, check=NONNEGATIVE)


LOSSES: dict[str, Entry] = _table(
    Entry("mse", doc="mean squared error over the last axes", reads="values"),
    Entry("mae", doc="mean absolute error over the last axes", reads="values"),
    Entry(
        "huber",
        (Param("delta", default=1.0, check=POSITIVE),),
        "quadratic below delta, linear above",
        reads="values",
    ),
    Entry(
        "cross_entropy",
        (Param("label_smoothing", default=0.0, check=UNIT, hidden=True),),
        "categorical cross-entropy; integer or one-hot labels; fused with a "
        "final softmax",
        reads="classes",
        fuses="softmax",
    ),
    Entry(
        "binary_cross_entropy",
        doc="binary cross-entropy on 0/1 targets; fused with a final sigmoid",
        reads="classes",
        fuses="sigmoid",
    ),
    Entry(
        "kl_divergence",
        doc="KL(target || prediction) between distributions over the last axis",
        reads="classes",
        fuses="softmax",
    ),
)

OPTIMIZERS: dict[str, Entry] = _table(
    Entry(
        "sgd",
        (
            _lr(0.01),
            Param("momentum", default=0.0, check=UNIT),
            Param("nesterov", BOOL, default=False),
        ),
        "stochastic gradient descent, optionally with (Nesterov) momentum",
    ),
    Entry(
        "adam",
        (
            _lr(1e-3),
            Param("b1", default=0.9, check=UNIT),
            Param("b2", default=0.999, check=UNIT),
            Param("eps", default=1e-7, check=POSITIVE),
        ),
        "Adam (Keras defaults: eps=1e-7)",
    ),
    Entry(
        "adamw",
        (
            _lr(1e-3),
            Param("weight_decay", default=0.004, check=NONNEGATIVE),
            Param("b1", default=0.9, check=UNIT),
            Param("b2", default=0.999, check=UNIT),
            Param("eps", default=1e-7, check=POSITIVE),
        ),
        "Adam with decoupled weight decay (scaled by the learning rate)",
    ),
    Entry(
        "rmsprop",
        (
            _lr(1e-3),
            Param("rho", default=0.9, check=UNIT),
            Param("momentum", default=0.0, check=UNIT),
            Param("eps", default=1e-7, check=POSITIVE),
            Param("centered", BOOL, default=False),
        ),
        "RMSprop (Keras semantics: eps outside the square root)",
    ),
    Entry(
        "adagrad",
        (
            _lr(1e-3),
            Param("initial_accumulator", default=0.1, check=NONNEGATIVE),
            Param("eps", default=1e-7, check=POSITIVE),
        ),
        "Adagrad",
    ),
    Entry(
        "lamb",
        (
            _lr(1e-3),
            Param("b1", default=0.9, check=UNIT),
            Param("b2", default=0.999, check=UNIT),
            Param("eps", default=1e-6, check=POSITIVE),
            Param("weight_decay", default=0.0, check=NONNEGATIVE),
        ),
        "layer-wise adaptive large-batch optimiser",
    ),
    Entry(
        "lbfgs",
        (
            _lr(1.0),
            Param("memory", INT, default=10, check=POSITIVE),
            Param("linesearch", BOOL, default=True),
        ),
        "L-BFGS on the full training set: one step per epoch, zoom line search",
    ),
)

SCHEDULES: dict[str, Entry] = _table(
    Entry("constant", doc="the optimiser's learning rate throughout"),
    Entry(
        "step",
        (
            Param("every", INT, check=POSITIVE),
            Param("factor", default=0.1, check=POSITIVE),
            Param("every_epochs", INT, default=None, check=POSITIVE, hidden=True),
        ),
        "lr * factor ** floor(step / every); every_epochs= counts epochs",
        exclusive=(("every", "every_epochs"),),
    ),
    Entry(
        "exponential",
        (
            Param("rate", check=POSITIVE),
            Param("every", INT, default=1, check=POSITIVE),
            Param("every_epochs", INT, default=None, check=POSITIVE, hidden=True),
        ),
        "lr * rate ** (step / every), smooth; every_epochs= counts epochs",
        exclusive=(("every", "every_epochs"),),
    ),
    Entry(
        "cosine",
        (
            Param("warmup", INT, default=0, check=NONNEGATIVE),
            Param("alpha", default=0.0, check=UNIT),
            Param("warmup_epochs", INT, default=None, check=NONNEGATIVE, hidden=True),
        ),
        "linear warmup from 0, then cosine decay to alpha * lr at the last step",
        exclusive=(("warmup", "warmup_epochs"),),
    ),
    Entry(
        "one_cycle",
        (
            Param("max_lr", default=None, check=POSITIVE),
            Param("pct_start", default=0.3, check=FRACTION),
            Param("div_factor", default=25.0, check=POSITIVE),
            Param("final_div_factor", default=1e4, check=POSITIVE),
        ),
        "1cycle: up from max_lr/div_factor, then down (max_lr defaults to lr)",
    ),
    Entry(
        "reduce_on_plateau",
        (
            Param("patience", INT, default=5, check=NONNEGATIVE),
            Param("factor", default=0.1, check=FRACTION),
            Param("cooldown", INT, default=0, check=NONNEGATIVE),
            Param("rtol", default=1e-4, check=NONNEGATIVE),
        ),
        "multiply lr by factor after patience epochs without val_loss progress",
    ),
)

METRICS: dict[str, Entry] = _table(
    Entry(
        "accuracy",
        doc="fraction of correct classes",
        higher_is_better=True,
        reads="classes",
    ),
    Entry(
        "top_k",
        (Param("k", INT, default=5, check=POSITIVE),),
        "fraction with the target among the k highest scores",
        higher_is_better=True,
        reads="classes",
    ),
    Entry("mse", doc="mean squared error", reads="values"),
    Entry("mae", doc="mean absolute error", reads="values"),
    *(
        Entry(
            name,
            doc="binary, or macro-averaged over classes",
            higher_is_better=True,
            reads="classes",
        )
        for name in ("precision", "recall", "f1")
    ),
)


EARLY_STOP = Entry(
    "early_stop",
    (
        Param("monitor", WORD, default="val_loss"),
        Param("patience", INT, default=5, check=NONNEGATIVE),
        Param("restore_best", BOOL, default=True),
        Param("min_delta", default=0.0, check=NONNEGATIVE),
    ),
    "stop after patience epochs without improvement of monitor",
)

CHECKPOINT = Entry(
    "checkpoint",
    (
        Param("every", INT, default=1, check=POSITIVE),
        Param("keep", INT, default=3, check=POSITIVE),
    ),
    "save a checkpoint every N epochs, keeping the last keep",
)


def format_signature(entry: Entry) -> str:
    """``name(p1, p2=default)`` as written in `.nn`, hidden parameters left out."""
    from nnlang.values import format_value

    shown = [p for p in entry.params if not p.hidden]
    if not shown:
        return entry.name
    parts = [
        p.name
        if p.default is REQUIRED or p.default is None
        else f"{p.name}={format_value(p.default)}"
        for p in shown
    ]
    return f"{entry.name}({', '.join(parts)})"


def markdown_table(registry: Mapping[str, Entry]) -> str:
    """A Markdown table of a registry for the docs: signature and description."""
    rows = ["| option | meaning |", "|---|---|"]
    rows += [f"| `{format_signature(e)}` | {e.doc} |" for e in registry.values()]
    return "\n".join(rows)


# ------------------------------------------------------------------ Keras names

# Keras spellings of the names above (case and underscores aside, as
# diagnostics.fold_name folds them) and the `.nn` name each is written as:
# ``nnc check`` suggests it for an unknown loss or metric before any "did you
# mean" by spelling (which took categorical_crossentropy for binary_cross_entropy).


KERAS_LOSSES: dict[str, str] = folded(
    {
        "categorical_crossentropy": "cross_entropy",
        "sparse_categorical_crossentropy": "cross_entropy",
        "binary_crossentropy": "binary_cross_entropy",
        "mean_squared_error": "mse",
        "mean_absolute_error": "mae",
        "huber_loss": "huber",
        "kullback_leibler_divergence": "kl_divergence",
        "kld": "kl_divergence",
        "KLDivergence": "kl_divergence",
        # PyTorch's loss classes
        "CrossEntropyLoss": "cross_entropy",
        "NLLLoss": "cross_entropy",
        "MSELoss": "mse",
        "L1Loss": "mae",
        "BCELoss": "binary_cross_entropy",
        "BCEWithLogitsLoss": "binary_cross_entropy",
        "HuberLoss": "huber",
        "SmoothL1Loss": "huber",
        "KLDivLoss": "kl_divergence",
    }
)

KERAS_METRICS: dict[str, str] = folded(
    {
        "acc": "accuracy",
        "categorical_accuracy": "accuracy",
        "sparse_categorical_accuracy": "accuracy",
        "binary_accuracy": "accuracy",
        "top_k_categorical_accuracy": "top_k",
        "sparse_top_k_categorical_accuracy": "top_k",
        "mean_squared_error": "mse",
        "mean_absolute_error": "mae",
        "f1_score": "f1",
    }
)

# Keyword arguments of Keras optimizers (and schedules) and the `.nn` parameter
# each is; the hint names it where the entry has that parameter.
KERAS_OPTIMIZER_ARGS: dict[str, str] = {
    "learning_rate": "lr",
    "beta_1": "b1",
    "beta1": "b1",
    "beta_2": "b2",
    "beta2": "b2",
    "epsilon": "eps",
    "initial_accumulator_value": "initial_accumulator",
    "decay_steps": "every",
    "decay_rate": "rate",
}

# Keras names with nothing of that kind in `.nn`, and what to write instead.
KERAS_MISSING: dict[str, str] = folded(
    {
        "AUC": "no AUC metric in .nn; precision, recall and f1 are",
        "Nadam": "no Nadam in .nn; adam is the closest",
        "Adadelta": "no Adadelta in .nn; adam and rmsprop adapt per parameter too",
        "Adamax": "no Adamax in .nn; adam is the closest",
        "clipnorm": "clip the gradients with clip = 1.0 in the train block",
        "global_clipnorm": "clip the gradients with clip = 1.0 in the train block",
        "clipvalue": "no per-value clipping in .nn; clip = 1.0 in the train block "
                     "clips the gradients' global norm",
    }
)

# Keras' compile() and fit() keywords written as train settings, and the `.nn` way.
KERAS_SETTINGS: dict[str, str] = folded(
    {
        "batch_size": "the setting is called batch: batch = 64",
        "learning_rate": "the learning rate is the optimizer's: optimizer = adam(lr=1e-3)",
        "lr": "the learning rate is the optimizer's: optimizer = adam(lr=1e-3)",
        "validation_split": "the data call splits: data = digits(split=[0.8, 0.1, 0.1])",
        "validation_data": "the data call splits: data = digits(split=[0.8, 0.1, 0.1])",
        "shuffle": "the data call shuffles: data = csv(..., shuffle=true)",
        "callbacks": "callbacks are settings of their own: early_stop(...), checkpoint(...), "
                     "schedule = reduce_on_plateau(...)",
        "verbose": "nnc run --quiet prints less",
        "class_weight": "not in .nn yet (see docs/from-keras.md)",
        "sample_weight": "not in .nn yet (see docs/from-keras.md)",
        "steps_per_epoch": "an epoch is one pass over the train split",
    }
)
