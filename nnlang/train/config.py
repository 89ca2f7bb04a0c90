"""A train block's settings, validated: :class:`TrainConfig`.

:func:`parse_train_settings` takes the evaluated settings of a `.nn` ``train``
block (bare words arrive as :class:`~nnlang.values.Word`, calls as
:class:`~nnlang.values.CallValue`) and returns a frozen :class:`TrainConfig`,
or raises :class:`TrainConfigError` naming the setting at fault so the caller
can put the caret on it. This module imports no JAX: ``nnc check`` uses it.

Examples:
    >>> from nnlang.values import CallValue, Word
    >>> cfg = parse_train_settings(
    ...     {"optimizer": CallValue("sgd", (0.1,)), "loss": Word("mse")},
    ...     outputs=["y"])
    >>> cfg.optimizer
    sgd(lr=0.1, momentum=0.0, nesterov=false)
    >>> cfg.batch, cfg.epochs, cfg.loss
    (32, 10, {'y': mse})
    >>> parse_train_settings({"epoch": 3}, outputs=["y"])
    Traceback (most recent call last):
    ...
    nnlang.train.binding.TrainConfigError: unknown train setting 'epoch' (did you mean 'epochs'?)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nnlang.diagnostics import did_you_mean, foreign_name
from nnlang.train.binding import (
    Option,
    TrainConfigError,
    bind_option,
    check_integer,
    check_number,
)
from nnlang.train.registry import (
    CHECKPOINT,
    EARLY_STOP,
    KERAS_SETTINGS,
    LOSSES,
    METRICS,
    NONNEGATIVE,
    OPTIMIZERS,
    POSITIVE,
    SCHEDULES,
    Entry,
)
from nnlang.values import CallValue, Word, format_value

SETTING_KEYS: tuple[str, ...] = (
    "data",
    "batch",
    "epochs",
    "seed",
    "loss",
    "loss_weights",
    "optimizer",
    "schedule",
    "clip",
    "weight_decay",
    "metrics",
    "early_stop",
    "checkpoint",
    "precision",
    "fuse_epochs",
    "data_parallel",
    "freeze",
    "init_from",
)
"""Every setting a ``train`` block accepts, in documentation order."""

PRECISIONS = ("f32", "bf16", "mixed")
DEFAULT_METRICS = {
    "classification": ("accuracy",),
    "binary": ("accuracy",),
    "regression": ("mae",),
    "sequence": (),
}
DEFAULT_LOSSES = {
    "classification": "cross_entropy",
    "binary": "binary_cross_entropy",
    "regression": "mse",
    "sequence": "cross_entropy",
}


@dataclass(frozen=True, slots=True)
class EarlyStop:
    """``early_stop(monitor, patience, restore_best, min_delta)``; ``mode`` from the name."""

    monitor: str = "val_loss"
    patience: int = 5
    restore_best: bool = True
    min_delta: float = 0.0
    mode: Literal["min", "max"] = "min"


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """``checkpoint(every, keep)``: save every ``every`` epochs, keep the last ``keep``."""

    every: int = 1
    keep: int = 3


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything the trainer needs from a ``train`` block, validated.

    Attributes:
        data: the data source as written (a ``Word`` or ``CallValue``), or None.
        batch: examples per step (the last partial batch is padded and masked).
        epochs: passes over the training split; 0 trains nothing (fixed
            kernels, or ``init_from`` weights, as they are).
        seed: seeds initialisation, shuffling and dropout.
        loss: loss per output name; ``None`` picks one from the data's task
            (see :func:`default_loss`).
        loss_weights: weight per output (missing outputs weigh 1).
        optimizer: an entry of ``OPTIMIZERS`` with its parameters.
        schedule: an entry of ``SCHEDULES`` with its parameters.
        clip: global-norm gradient clipping, or None.
        weight_decay: decoupled weight decay (0 for none).
        metrics: metrics per output name; ``None`` picks them from the task.
        early_stop: stop on a plateau, or None.
        checkpoint: how often to save and how many to keep, or None for never.
        precision: ``"f32"``, ``"bf16"`` or ``"mixed"``.
        fuse_epochs: ``"auto"`` (measure), ``True`` or ``False``.
        data_parallel: split each batch across the host's devices (its CPU
            cores under ``nnc``): ``"auto"`` (measure), ``True`` or ``False``.
        freeze: layer paths (``"conv_bn_1/conv_0"``) whose parameters stay fixed.
        init_from: a run directory whose weights initialise the model.
        outputs: the model's output names, in order.
    """

    data: Any = None
    batch: int = 32
    epochs: int = 10
    seed: int = 0
    loss: Mapping[str, Option] | None = None
    loss_weights: Mapping[str, float] = field(default_factory=dict)
    optimizer: Option = Option(
        "adam", {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-7}
    )
    schedule: Option = Option("constant")
    clip: float | None = None
    weight_decay: float = 0.0
    metrics: Mapping[str, tuple[Option, ...]] | None = None
    early_stop: EarlyStop | None = None
    checkpoint: CheckpointPolicy | None = CheckpointPolicy()
    precision: Literal["f32", "bf16", "mixed"] = "f32"
    fuse_epochs: bool | Literal["auto"] = "auto"
    data_parallel: bool | Literal["auto"] = "auto"
    freeze: tuple[str, ...] = ()
    init_from: str | None = None
    outputs: tuple[str, ...] = ("output",)


def metric_name(option: Option) -> str:
    """The history key of a metric: ``accuracy``, ``top_5``."""
    return f"top_{option['k']}" if option.name == "top_k" else option.name


def default_loss(task: str, units: int | None = None) -> Option:
    """The loss used when a train block names none, by the data's task and the
    output's last dimension ``units`` (``None`` when unknown).

    Two-class data follows the output, as in Keras: one unit is a probability
    (or logit) of class 1, read by ``binary_cross_entropy``; two or more units
    score each class, read by ``cross_entropy`` with the integer labels.

    Examples:
        >>> default_loss("binary", 1).name, default_loss("binary", 2).name
        ('binary_cross_entropy', 'cross_entropy')
    """
    name = DEFAULT_LOSSES.get(task, "mse")
    if task == "binary" and units is not None and units >= 2:
        name = "cross_entropy"
    return bind_option(Word(name), LOSSES, "loss", "loss")


def resolve_losses(
    given: Mapping[str, Option] | None,
    tasks: Mapping[str, str | None],
    units: Mapping[str, int | None],
) -> dict[str, Option]:
    """Each output's loss: the one the train block names (``given``), else
    :func:`default_loss` for its task (``tasks``, one per output) and last
    dimension (``units``); an output of unknown task (``None``) without a named
    loss is left out."""
    losses = {}
    for out, task in tasks.items():
        loss = (given or {}).get(out)
        if loss is None and task is not None:
            loss = default_loss(task, units.get(out))
        if loss is not None:
            losses[out] = loss
    return losses


def default_metrics(task: str) -> tuple[Option, ...]:
    """The metrics used when a train block names none, by the data's task."""
    return tuple(
        bind_option(Word(m), METRICS, "metric", "metrics")
        for m in DEFAULT_METRICS.get(task, ())
    )


def monitor_mode(monitor: str) -> Literal["min", "max"]:
    """Whether a lower (``min``) or higher (``max``) value of ``monitor`` is better."""
    base = monitor.removeprefix("val_")
    if base.endswith("loss"):
        return "min"
    if re.search(r"(^|_)top_\d+$", base):
        return "max"
    for name, entry in METRICS.items():
        if base == name or base.endswith("_" + name):
            return "max" if entry.higher_is_better else "min"
    return "min"


def history_keys(
    outputs: tuple[str, ...], metrics: Mapping[str, tuple[Option, ...]]
) -> list[str]:
    """The names logged per epoch for the training split (``val_`` adds the rest)."""
    single = len(outputs) == 1
    keys = ["loss"] + ([] if single else [f"{o}_loss" for o in outputs])
    for out, options in metrics.items():
        keys += [
            metric_name(m) if single else f"{out}_{metric_name(m)}" for m in options
        ]
    return keys


# ---------------------------------------------------------------- parsing


def parse_train_settings(
    settings: Mapping[str, Any], *, outputs: list[str]
) -> TrainConfig:
    """Validate a train block's evaluated settings into a :class:`TrainConfig`.

    Args:
        settings: setting name to value, as evaluated from the `.nn` file.
        outputs: the trained model's output names (for per-output losses).

    Returns:
        The validated configuration; unspecified settings take their defaults.

    Raises:
        TrainConfigError: the first bad setting, with ``key`` naming it; see
            :func:`collect_train_settings` for all of them.
    """
    config, errors = collect_train_settings(settings, outputs=outputs)
    if errors:
        raise errors[0]
    return config


def collect_train_settings(
    settings: Mapping[str, Any],
    *,
    outputs: list[str],
    unreadable: Collection[str] = (),
) -> tuple[TrainConfig, list[TrainConfigError]]:
    """Validate every setting, collecting one error per bad setting.

    A bad setting takes its default in the returned configuration, and the
    checks of other settings that depend on it are left out (an ``early_stop``
    monitor is checked against ``metrics`` only when the metrics are good), so
    that one mistake gives one error.

    Args:
        settings: setting name to value, as evaluated from the `.nn` file.
        outputs: the trained model's output names (for per-output losses).
        unreadable: settings written but not evaluated (an error was already
            reported on them): others depending on them are not checked.

    Returns:
        The configuration as far as it is good, and the errors in the order of
        ``settings``.

    Examples:
        >>> config, errors = collect_train_settings(
        ...     {"batch": 0, "optimizer": Word("adma"), "epochs": 3}, outputs=["y"])
        >>> [e.key for e in errors], config.epochs
        (['batch', 'optimizer'], 3)
    """
    outs = tuple(outputs) or ("output",)
    errors: dict[str, TrainConfigError] = {}
    s: dict[str, Any] = {}
    for key, value in settings.items():
        if key in SETTING_KEYS:
            s[key] = value
        else:
            errors[key] = TrainConfigError(
                f"unknown train setting '{key}'",
                key,
                foreign_name(key, KERAS_SETTINGS) or did_you_mean(key, SETTING_KEYS),
                (("setting",),),
            )
    kw: dict[str, Any] = {"outputs": outs, "data": s.get("data")}

    def take(key: str, parse: Any, *args: Any) -> None:
        try:
            kw[key] = parse(s[key], *args)
        except TrainConfigError as exc:
            for e in exc.each():
                e.key = e.key or key
            errors[key] = exc

    for key, lo in (("batch", 1), ("epochs", 0), ("seed", None)):
        if key in s:
            take(key, check_integer, key, lo)
    if "loss" in s:
        take("loss", _per_output, outs, "loss", LOSSES, "loss")
    if "loss_weights" in s:
        take("loss_weights", _loss_weights, outs)
    s.setdefault("optimizer", Word("adam"))
    take("optimizer", bind_option, OPTIMIZERS, "optimizer", "optimizer")
    if "schedule" in s:
        take("schedule", bind_option, SCHEDULES, "schedule", "schedule")
    if s.get("clip") is not None:
        take("clip", check_number, "clip", POSITIVE)
    if "weight_decay" in s:
        take("weight_decay", check_number, "weight_decay", NONNEGATIVE)
    if "metrics" in s:
        take("metrics", _metrics, outs)
    if "early_stop" in s:
        metrics_known = "metrics" not in errors and "metrics" not in unreadable
        take("early_stop", _early_stop, outs, kw.get("metrics"), metrics_known)
    if "checkpoint" in s:
        take("checkpoint", _checkpoint)
    if "precision" in s:
        take("precision", _choice, "precision", PRECISIONS)
    for key in ("fuse_epochs", "data_parallel"):
        if key in s:
            take(key, _auto_bool, key)
    if "freeze" in s:
        take("freeze", _names, "freeze")
    if s.get("init_from") is not None:
        take("init_from", _path, "init_from")
    if "optimizer" in kw and kw["optimizer"].name == "lbfgs":
        for key in ("clip", "weight_decay"):
            if kw.get(key):
                errors[key] = TrainConfigError(
                    f"{key} does not combine with lbfgs",
                    key,
                    "use l2= on the layers to regularise instead",
                )
    order = list(settings)
    found = sorted(
        errors.values(),
        key=lambda e: order.index(e.key) if e.key in order else len(order),
    )
    return TrainConfig(**kw), [e for exc in found for e in exc.each()]


def odd_settings(
    config: TrainConfig, train_examples: int | None = None
) -> list[TrainConfigError]:
    """Legal settings that are most likely mistakes, for warnings: a learning
    rate of 0 (nothing trains), an ``exponential`` rate above 1 (the learning
    rate grows), and a schedule whose length outlasts the run (``step`` that
    never steps, a ``cosine`` warmup never finished, a plateau ``patience`` of
    the whole run). Lengths counted in steps need ``train_examples``, the size
    of the training split; without it only those in epochs are compared.

    Examples:
        >>> config = parse_train_settings(
        ...     {"optimizer": CallValue("adam", (), {"lr": 0}),
        ...      "schedule": CallValue("cosine", (), {"warmup": 1000}), "epochs": 5},
        ...     outputs=["y"])
        >>> [str(e) for e in odd_settings(config, train_examples=1437)]  # doctest: +NORMALIZE_WHITESPACE
        ['adam(): lr is 0, so nothing will train (give a positive lr, such as 1e-3)',
         'cosine(warmup=1000) outlasts the run: the run is only 225 steps (5 epochs of
          45 at batch 32) (warm up for fewer steps, or train for more epochs)']
    """
    if config.epochs == 0:
        return []
    odd = []
    opt = config.optimizer
    if opt.params.get("lr") == 0 and "lr" in opt.given:
        odd.append(TrainConfigError(
            f"{opt.name}(): lr is 0, so nothing will train", "optimizer",
            "give a positive lr, such as 1e-3",
            (("val", "lr", _position(OPTIMIZERS[opt.name], "lr")),),
        ))
    sched = config.schedule
    entry = SCHEDULES[sched.name]
    if sched.name == "exponential" and sched["rate"] > 1:
        odd.append(TrainConfigError(
            f"exponential(): rate {format_value(sched['rate'])} > 1 makes the learning "
            "rate grow at every step", "schedule",
            "a decay multiplies by less than 1, such as exponential(0.96)",
            (("val", "rate", _position(entry, "rate")),),
        ))
    full = opt.name == "lbfgs"
    steps = None
    if train_examples:
        batch = train_examples if full else min(config.batch, train_examples)
        steps = -(-train_examples // batch)
    lengths = {"step": ("every", "never decays", "decay more often"),
               "cosine": ("warmup", "outlasts the run", "warm up for fewer steps"),
               "reduce_on_plateau": ("patience", "never reduces the learning rate",
                                     "wait fewer epochs")}
    if sched.name not in lengths:
        return odd
    param, what, fix = lengths[sched.name]
    in_epochs = sched.name == "reduce_on_plateau" or sched.params.get(f"{param}_epochs")
    if in_epochs:
        name = param if sched.name == "reduce_on_plateau" else f"{param}_epochs"
        total, run = config.epochs, f"{config.epochs} epochs"
    elif steps is not None:
        name, total = param, steps * config.epochs
        batch = "full-batch" if full else f"at batch {config.batch}"
        run = f"{total} steps ({config.epochs} epochs of {steps} {batch})"
    else:
        return odd
    length = sched[name]
    if length and length >= total:
        odd.append(TrainConfigError(
            f"{sched.name}({name}={length}) {what}: the run is only {run}",
            "schedule", f"{fix}, or train for more epochs",
            (("val", name, _position(entry, name)),),
        ))
    return odd


def _position(entry: Entry, name: str) -> int | None:
    shown = [p.name for p in entry.params if not p.hidden]
    return shown.index(name) if name in shown else None


def _path(value: Any, key: str) -> str:
    if not isinstance(value, str) or isinstance(value, Word) or not value:
        raise TrainConfigError(
            f"{key} must be a path in double quotes, got {format_value(value)}", key
        )
    return value


def _per_output(
    value: Any,
    outs: tuple[str, ...],
    key: str,
    registry: Mapping[str, Entry],
    what: str,
) -> dict[str, Option]:
    if not isinstance(value, dict):
        option = bind_option(value, registry, what, key)
        return dict.fromkeys(outs, option)
    _check_outputs(value, outs, key)
    missing = [o for o in outs if o not in value]
    if missing:
        raise TrainConfigError(
            f"{key} gives no {what} for output '{missing[0]}'",
            key,
            f"add '{missing[0]}: ...' or give one {what} for all outputs",
        )
    bound = {}
    for o in outs:
        try:
            bound[o] = bind_option(value[o], registry, what, key)
        except TrainConfigError as exc:
            raise exc.inside(("entry", o)) from None
    return bound


def _check_outputs(value: dict, outs: tuple[str, ...], key: str) -> None:
    for name in value:
        if name not in outs:
            hint = did_you_mean(str(name), outs) or f"outputs are: {', '.join(outs)}"
            raise TrainConfigError(
                f"{key} names unknown output '{name}'", key, hint, (("key", name),)
            )


def _loss_weights(value: Any, outs: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict):
        raise TrainConfigError(
            f"loss_weights must be a map {{output: weight}}, got {format_value(value)}",
            "loss_weights",
        )
    _check_outputs(value, outs, "loss_weights")
    weights = {}
    for k, v in value.items():
        try:
            weights[str(k)] = check_number(
                v, f"loss_weights: weight of '{k}'", NONNEGATIVE, key="loss_weights"
            )
        except TrainConfigError as exc:
            raise exc.inside(("entry", k)) from None
    return weights


def _metric_list(value: Any) -> tuple[Option, ...]:
    listed = isinstance(value, list | tuple)
    items = value if listed else [value]
    options, names = [], []
    for i, item in enumerate(items):
        step = (("item", i),) if listed else ()
        try:
            option = bind_option(item, METRICS, "metric", "metrics")
        except TrainConfigError as exc:
            raise exc.inside(*step) from None
        name = metric_name(option)
        if name in names:
            raise TrainConfigError(f"metrics lists '{name}' twice", "metrics", at=step)
        options.append(option)
        names.append(name)
    return tuple(options)


def _metrics(value: Any, outs: tuple[str, ...]) -> dict[str, tuple[Option, ...]]:
    if isinstance(value, dict):
        _check_outputs(value, outs, "metrics")
        metrics = {}
        for o in outs:
            try:
                metrics[o] = _metric_list(value[o]) if o in value else ()
            except TrainConfigError as exc:
                raise exc.inside(("entry", o)) from None
        return metrics
    if not isinstance(value, list | tuple | str | CallValue):
        raise TrainConfigError(
            "metrics must be a list such as [accuracy, top_k(5)], got "
            f"{format_value(value)}",
            "metrics",
        )
    return dict.fromkeys(outs, _metric_list(value))


def _early_stop(
    value: Any,
    outs: tuple[str, ...],
    metrics: Mapping[str, tuple[Option, ...]] | None,
    metrics_known: bool = True,
) -> EarlyStop | None:
    if value is False:
        return None
    if value is True:
        value = Word("early_stop")
    option = bind_option(value, {"early_stop": EARLY_STOP}, "setting", "early_stop")
    if metrics is None:
        metrics = {o: tuple(Option(m, {}) for m in ("accuracy", "mae")) for o in outs}
    train_keys = history_keys(outs, metrics)
    known = train_keys + ["val_" + k for k in train_keys]
    monitor = option["monitor"]
    if monitor not in known and metrics_known:
        raise TrainConfigError(
            f"early_stop(): unknown monitor '{monitor}'",
            "early_stop",
            did_you_mean(monitor, known) or f"monitor one of: {', '.join(known)}",
            (("val", "monitor", 0),),
        )
    return EarlyStop(
        monitor,
        option["patience"],
        option["restore_best"],
        option["min_delta"],
        monitor_mode(monitor),
    )


def _checkpoint(value: Any) -> CheckpointPolicy | None:
    if value is False:
        return None
    if value is True:
        value = Word("checkpoint")
    option = bind_option(value, {"checkpoint": CHECKPOINT}, "setting", "checkpoint")
    return CheckpointPolicy(option["every"], option["keep"])


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> Any:
    if isinstance(value, str) and str(value) in choices:
        return str(value)
    shown = format_value(value)
    raise TrainConfigError(
        f"{key} must be one of {', '.join(choices)}, got {shown}",
        key,
        did_you_mean(str(value), choices) if isinstance(value, str) else None,
    )


def _auto_bool(value: Any, key: str) -> bool | Literal["auto"]:
    if isinstance(value, bool) or value == "auto":
        return value if isinstance(value, bool) else "auto"
    raise TrainConfigError(
        f"{key} must be auto, true or false, got {format_value(value)}", key
    )


def _names(value: Any, key: str) -> tuple[str, ...]:
    listed = isinstance(value, list | tuple)
    items = value if listed else [value]
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip("/"):
            raise TrainConfigError(
                f"{key} must be a list of layer names, got {format_value(value)}",
                key,
                'write paths in quotes: ["conv_bn_1/conv_0"]',
                (("item", i),) if listed else (),
            )
    return tuple(str(item).strip("/") for item in items)
