"""The optax transformation a train block describes.

``build_optimizer`` assembles, in order::

    optax.chain(clip_by_global_norm(clip)?,          # clip = ...
                OPTIMIZER(learning_rate=SCHEDULE),    # optimizer = ..., schedule = ...
                decay_weights(weight_decay, SCHEDULE)?)  # weight_decay = ... (decoupled)

wrapped in ``optax.multi_transform`` with ``set_to_zero`` for frozen layers
(``freeze = [...]`` and layers compiled with ``trainable=false``).
``reduce_on_plateau`` is not part of the per-step chain: the loop keeps an
``optax.contrib.reduce_on_plateau`` state beside it, scales every update by
its ``scale`` and feeds it the monitored loss once per epoch
(:func:`build_plateau`). Schedule lengths count optimiser steps; the
``*_epochs`` spellings are converted with the number of steps per epoch.

Examples:
    >>> from nnlang.train.config import Option
    >>> sched = build_schedule(Option("step", {"every": 10, "factor": 0.5}),
    ...                        lr=1.0, steps_per_epoch=5, epochs=4)
    >>> [float(sched(s)) for s in (0, 9, 10, 25)]
    [1.0, 1.0, 0.5, 0.25]
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import optax.contrib

from nnlang.train.config import Option, TrainConfig
from nnlang.train.losses import find_subtree

Schedule = Callable[[Any], Any]


def build_schedule(
    option: Option, *, lr: float, steps_per_epoch: int, epochs: int
) -> Schedule:
    """The learning rate as a function of the optimiser step.

    Args:
        option: a bound ``SCHEDULES`` entry.
        lr: the optimiser's base learning rate.
        steps_per_epoch: optimiser steps in one epoch (for ``*_epochs``).
        epochs: epochs of training (cosine and one_cycle span all steps).

    Returns:
        An optax schedule ``step -> learning rate``. ``reduce_on_plateau`` is
        constant here; its reductions come from :func:`build_plateau`.
    """
    p = option.params
    total = max(1, steps_per_epoch * epochs)

    def steps(name: str) -> int:
        epochs_value = p.get(f"{name}_epochs")
        return epochs_value * steps_per_epoch if epochs_value is not None else p[name]

    match option.name:
        case "constant" | "reduce_on_plateau":
            return optax.constant_schedule(lr)
        case "step":
            return optax.exponential_decay(
                lr, steps("every"), p["factor"], staircase=True
            )
        case "exponential":
            return optax.exponential_decay(lr, steps("every"), p["rate"])
        case "cosine":
            warmup = steps("warmup")
            if warmup:
                return optax.warmup_cosine_decay_schedule(
                    0.0, lr, warmup, max(total, warmup + 1), end_value=p["alpha"] * lr
                )
            return optax.cosine_decay_schedule(lr, total, alpha=p["alpha"])
        case "one_cycle":
            return optax.cosine_onecycle_schedule(
                total,
                p["max_lr"] or lr,
                p["pct_start"],
                p["div_factor"],
                p["final_div_factor"],
            )
    raise ValueError(f"no schedule builder for '{option.name}'")


def build_base_optimizer(
    option: Option, schedule: Schedule
) -> optax.GradientTransformation:
    """The optax optimiser for a bound ``OPTIMIZERS`` entry, at ``schedule``'s rate."""
    p = option.params
    match option.name:
        case "sgd":
            return optax.sgd(schedule, p["momentum"] or None, nesterov=p["nesterov"])
        case "adam":
            return optax.adam(schedule, p["b1"], p["b2"], p["eps"])
        case "adamw":
            return optax.adamw(
                schedule, p["b1"], p["b2"], p["eps"], weight_decay=p["weight_decay"]
            )
        case "rmsprop":
            return optax.rmsprop(
                schedule,
                p["rho"],
                p["eps"],
                eps_in_sqrt=False,
                centered=p["centered"],
                momentum=p["momentum"] or None,
            )
        case "adagrad":
            return optax.adagrad(schedule, p["initial_accumulator"], p["eps"])
        case "lamb":
            return optax.lamb(
                schedule, p["b1"], p["b2"], p["eps"], weight_decay=p["weight_decay"]
            )
        case "lbfgs":
            linesearch = optax.scale_by_zoom_linesearch(15) if p["linesearch"] else None
            return optax.lbfgs(schedule, memory_size=p["memory"], linesearch=linesearch)
    raise ValueError(f"no optimizer builder for '{option.name}'")


class DecayWeightsState(NamedTuple):
    count: jax.Array


def decay_weights(rate: float, schedule: Schedule) -> optax.GradientTransformation:
    """Decoupled weight decay: ``updates - schedule(step) * rate * params``.

    Placed after the optimiser, so the decay is not rescaled by Adam's second
    moments (Loshchilov & Hutter), and it follows the learning-rate schedule
    as Keras' ``weight_decay=`` does.
    """

    def init(params):
        del params
        return DecayWeightsState(jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        lr = schedule(state.count)
        updates = jax.tree.map(lambda u, w: u - lr * rate * w, updates, params)
        return updates, DecayWeightsState(optax.safe_increment(state.count))

    return optax.GradientTransformation(init, update)


def build_optimizer(
    config: TrainConfig,
    params: Any,
    *,
    steps_per_epoch: int,
    frozen: Collection[str] = (),
) -> optax.GradientTransformation:
    """The per-step optax transformation for ``config`` (see the module doc).

    Args:
        config: the validated train block.
        params: the parameter tree (for the labels of frozen layers).
        steps_per_epoch: optimiser steps per epoch.
        frozen: layer paths held fixed besides ``config.freeze``.

    Raises:
        KeyError: a frozen path names no layer of ``params``.
    """
    schedule = learning_rate_schedule(config, steps_per_epoch)
    parts = []
    if config.clip:
        parts.append(optax.clip_by_global_norm(config.clip))
    parts.append(build_base_optimizer(config.optimizer, schedule))
    if config.weight_decay:
        parts.append(decay_weights(config.weight_decay, schedule))
    tx = parts[0] if len(parts) == 1 else optax.chain(*parts)
    paths = tuple(config.freeze) + tuple(frozen)
    if paths and config.optimizer.name != "lbfgs":
        tx = optax.multi_transform(
            {"train": tx, "frozen": optax.set_to_zero()}, freeze_labels(params, paths)
        )
    return tx


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int) -> Schedule:
    """The configured schedule at the optimiser's learning rate."""
    return build_schedule(
        config.schedule,
        lr=config.optimizer["lr"],
        steps_per_epoch=steps_per_epoch,
        epochs=config.epochs,
    )


def freeze_labels(params: Any, paths: Collection[str]) -> Any:
    """A tree like ``params`` labelling leaves under ``paths`` ``"frozen"``, others ``"train"``."""
    for path in paths:
        find_subtree(params, path)
    prefixes = [tuple(p.strip("/").split("/")) for p in paths]

    def label(leaf_path, _):
        keys = tuple(str(getattr(k, "key", k)) for k in leaf_path)
        return "frozen" if any(keys[: len(p)] == p for p in prefixes) else "train"

    return jax.tree_util.tree_map_with_path(label, params)


def zero_frozen(grads: Any, labels: Any) -> Any:
    """Zero the gradient of frozen leaves (how ``lbfgs`` honours ``freeze``)."""
    return jax.tree.map(
        lambda g, lab: jnp.zeros_like(g) if lab == "frozen" else g, grads, labels
    )


def build_plateau(config: TrainConfig) -> optax.GradientTransformationExtraArgs | None:
    """``reduce_on_plateau``'s transformation, or None when the schedule is another."""
    if config.schedule.name != "reduce_on_plateau":
        return None
    p = config.schedule.params
    # optax reduces when the count of bad epochs *equals* patience, so patience=0
    # would reduce after improving epochs too; Keras' patience=0 reduces after
    # every bad epoch, which is optax's patience=1.
    return optax.contrib.reduce_on_plateau(
        factor=p["factor"],
        patience=max(p["patience"], 1),
        rtol=p["rtol"],
        cooldown=p["cooldown"],
    )


def plateau_step(
    plateau: optax.GradientTransformationExtraArgs, state: Any, value: jax.Array
) -> Any:
    """Feed one epoch's monitored loss to the plateau state; returns the new state."""
    _, state = plateau.update(jnp.zeros(()), state, value=value)
    return state


def is_full_batch(config: TrainConfig) -> bool:
    """Whether the optimiser takes whole-dataset steps (``lbfgs``)."""
    return config.optimizer.name == "lbfgs"


def lr_at(schedule: Schedule, step: int, plateau_state: Any = None) -> float:
    """The learning rate at ``step`` on the host, including a plateau's scale."""
    lr = float(schedule(step))
    return lr * float(plateau_state.scale) if plateau_state is not None else lr


__all__ = [
    "build_base_optimizer",
    "build_optimizer",
    "build_plateau",
    "build_schedule",
    "decay_weights",
    "freeze_labels",
    "is_full_batch",
    "learning_rate_schedule",
    "lr_at",
    "plateau_step",
    "zero_frozen",
]
