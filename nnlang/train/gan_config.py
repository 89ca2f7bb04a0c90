"""Train blocks that train a generator against a discriminator: ``loss = gan``.

A GAN is two models and one game, so its train block names both, generator
first, and says which game with ``loss``::

    train generator, discriminator as gan {
        data = digits(split=[1, 0, 0])
        loss = gan
        optimizer = {generator: adam(lr=2e-4, b1=0.5),
                     discriminator: adam(lr=2e-4, b1=0.5)}
    }

The roles come from the order, as in "G against D", rather than from the
``as`` name (a label) or from new keywords. The generator's one input is its
noise (drawn from N(0, 1), of the declared shape); its output must have the
discriminator's input shape; the discriminator ends in one unit, a logit (or
a sigmoid, which the trainer fuses into the loss). ``optimizer`` is one
optimiser for both (each model gets its own state) or a map by model name.

This module imports no JAX: ``nnc check`` validates GAN blocks with it.

Examples:
    >>> from nnlang.values import CallValue, Word
    >>> cfg = parse_gan_settings(
    ...     {"loss": Word("gan"), "optimizer": {"g": CallValue("adam", (), {"lr": 2e-4}),
    ...                                          "d": Word("sgd")}}, ("g", "d"))
    >>> cfg.generator, cfg.discriminator, cfg.models["d"].optimizer.name
    ('g', 'd', 'sgd')
    >>> parse_gan_settings({"loss": Word("gan"), "optimizer": {"dd": Word("sgd")}},
    ...                    ("g", "d"))
    Traceback (most recent call last):
    ...
    nnlang.train.binding.TrainConfigError: optimizer names unknown model 'dd' (did you mean 'd'?)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nnlang.diagnostics import Diagnostic, did_you_mean, error
from nnlang.ir import Graph, Node, Program, TrainSpec
from nnlang.layers.args import ACTIVATIONS
from nnlang.train.binding import Option, TrainConfigError, bind_option
from nnlang.train.config import (
    SETTING_KEYS,
    CheckpointPolicy,
    TrainConfig,
    parse_train_settings,
)
from nnlang.train.diagnose import setting_diagnostic
from nnlang.train.registry import UNIT, Entry, Param
from nnlang.values import CallValue, Word

GAN_LOSS = Entry(
    "gan",
    (Param("smooth", default=0.0, check=UNIT),),
    "trains the first model (generator) against the second (discriminator) with "
    "the non-saturating GAN loss; smooth= lowers the real label to 1 - smooth",
)
GAN_KEYS: tuple[str, ...] = (
    "data",
    "batch",
    "epochs",
    "seed",
    "loss",
    "optimizer",
    "schedule",
    "clip",
    "weight_decay",
    "checkpoint",
)
"""The settings of a ``loss = gan`` block; the others describe one model's fit."""
SHARED_KEYS = ("batch", "epochs", "seed", "schedule", "clip", "weight_decay")
"""Settings that apply to both models' optimisers."""
SCORE_ACTIVATIONS = ("none", "linear", "sigmoid")


@dataclass(frozen=True, slots=True)
class GanConfig:
    """A validated ``loss = gan`` train block.

    Attributes:
        generator: the generator's model name (the block's first model).
        discriminator: the discriminator's model name (the second).
        models: per model name, its optimiser settings as a :class:`TrainConfig`
            (optimizer, schedule, clip, weight_decay; batch, epochs and seed
            shared), so the ordinary optax builder serves both.
        loss: the bound ``gan(smooth=...)`` option.
        data: the data source as written (real examples; labels unused).
        batch: real (and generated) examples per step.
        epochs: passes over the real examples.
        seed: seeds initialisation, noise, dropout and shuffling.
        checkpoint: how often to save both models' states, or None.
    """

    generator: str
    discriminator: str
    models: Mapping[str, TrainConfig]
    loss: Option = Option("gan", {"smooth": 0.0})
    data: Any = None
    batch: int = 32
    epochs: int = 10
    seed: int = 0
    checkpoint: CheckpointPolicy | None = field(default_factory=CheckpointPolicy)


def is_gan(settings: Mapping[str, Any]) -> bool:
    """Whether a train block's ``loss`` is ``gan`` (or ``gan(...)``)."""
    loss = settings.get("loss")
    name = loss.name if isinstance(loss, CallValue) else loss
    return isinstance(name, str) and str(name) == "gan"


def parse_gan_settings(
    settings: Mapping[str, Any],
    models: Sequence[str],
    *,
    epochs: int | None = None,
    seed: int | None = None,
) -> GanConfig:
    """Validate a ``loss = gan`` block's settings into a :class:`GanConfig`.

    Args:
        settings: setting name to evaluated value.
        models: the block's model names, generator first.
        epochs: overrides the block's ``epochs`` (``nnc run --epochs``).
        seed: overrides the block's ``seed``.

    Raises:
        TrainConfigError: the first bad setting, ``key`` naming it.
    """
    if len(models) != 2:
        raise TrainConfigError(
            f"loss = gan trains two models, a generator and a discriminator; this "
            f"block names {len(models)}",
            "loss",
            f"write: train {models[0] if models else 'GENERATOR'}, DISCRIMINATOR "
            "as gan { ... }, generator first",
        )
    _check_keys(settings)
    loss = bind_option(settings["loss"], {"gan": GAN_LOSS}, "loss", "loss")
    shared = {k: settings[k] for k in SHARED_KEYS if k in settings}
    shared |= {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    optimizers = _per_model(settings.get("optimizer", Word("adam")), models)
    configs = {m: _model_config(shared, optimizers[m]) for m in models}
    checkpoint = parse_train_settings(
        {k: settings[k] for k in ("checkpoint",) if k in settings}, outputs=[]
    ).checkpoint
    first = configs[models[0]]
    return GanConfig(
        models[0],
        models[1],
        configs,
        loss,
        settings.get("data"),
        first.batch,
        first.epochs,
        first.seed,
        checkpoint,
    )


def _check_keys(settings: Mapping[str, Any]) -> None:
    for key in settings:
        if key in GAN_KEYS:
            continue
        if key in SETTING_KEYS:
            raise TrainConfigError(
                f"'{key}' does not apply to a GAN train block",
                key,
                f"loss = gan takes: {', '.join(GAN_KEYS)}",
            )
        raise TrainConfigError(
            f"unknown train setting '{key}'", key, did_you_mean(key, GAN_KEYS)
        )


def _per_model(value: Any, models: Sequence[str]) -> dict[str, Any]:
    """One optimiser for every model, or a map ``{model: optimiser}`` naming each."""
    if not isinstance(value, dict):
        return dict.fromkeys(models, value)
    for name in value:
        if name not in models:
            hint = did_you_mean(str(name), models) or f"models: {', '.join(models)}"
            raise TrainConfigError(
                f"optimizer names unknown model '{name}'", "optimizer", hint,
                (("key", name),),
            )
    missing = [m for m in models if m not in value]
    if missing:
        raise TrainConfigError(
            f"optimizer gives no optimizer for model '{missing[0]}'",
            "optimizer",
            f"add '{missing[0]}: adam(...)' or give one optimizer for both models",
        )
    return dict(value)


def _model_config(shared: Mapping[str, Any], optimizer: Any) -> TrainConfig:
    config = parse_train_settings({**shared, "optimizer": optimizer}, outputs=[])
    if config.optimizer.name == "lbfgs":
        raise TrainConfigError(
            "lbfgs takes whole-dataset steps and cannot play a GAN's alternating game",
            "optimizer",
            "use adam(lr=2e-4, b1=0.5), the usual GAN optimiser",
        )
    if config.schedule.name == "reduce_on_plateau":
        raise TrainConfigError(
            "reduce_on_plateau has no loss to watch in a GAN (neither loss settles)",
            "schedule",
            "use constant, step, exponential or cosine",
        )
    return config


# ---------------------------------------------------------------- the two models


def validate_gan(spec: TrainSpec, program: Program) -> list[Diagnostic]:
    """Diagnostics for a ``loss = gan`` block: its settings, then its two models."""
    try:
        parse_gan_settings(spec.settings, spec.models)
    except TrainConfigError as exc:
        return [setting_diagnostic(spec, e) for e in exc.each()]
    generator, discriminator = (program.models[m] for m in spec.models)
    return check_gan_models(generator, discriminator)


def check_gan_models(generator: Graph, discriminator: Graph) -> list[Diagnostic]:
    """The generator's noise input, the shape hand-over, the discriminator's score.

    Models whose own shapes failed to infer are skipped: their errors are
    reported already.
    """
    diags = _one_input_one_output(generator, "generator")
    diags += _one_input_one_output(discriminator, "discriminator")
    if diags:
        return diags
    noise = generator.node(next(iter(generator.inputs.values())))
    if not all(isinstance(d, int) for d in noise.attrs["shape"]) or noise.attrs[
        "dtype"
    ] not in ("f32", "bf16", "f16"):
        diags.append(
            error(
                "train-config",
                f"the generator's input '{noise.name}' is its noise and needs a fixed "
                f"float shape; got {noise.type or noise.attrs['shape']}",
                noise.span,
                hint=f"declare it as input {noise.name}: [32]",
            )
        )
    made = generator.node(next(iter(generator.outputs.values())))
    image = discriminator.node(next(iter(discriminator.inputs.values())))
    if (
        made.type is not None
        and image.type is not None
        and (tuple(made.type.shape) != tuple(image.type.shape))
    ):
        diags.append(_handover_error(generator, made, image))
    score = discriminator.node(next(iter(discriminator.outputs.values())))
    if score.type is not None:
        diags += _score_errors(discriminator, score)
    return diags


def _one_input_one_output(graph: Graph, role: str) -> list[Diagnostic]:
    for what, names in (("input", graph.inputs), ("output", graph.outputs)):
        if len(names) != 1:
            return [
                error(
                    "train-config",
                    f"the {role} '{graph.name}' must have one {what}; it has "
                    f"{len(names)} ({', '.join(names)})",
                    graph.span,
                )
            ]
    return []


def _handover_error(generator: Graph, made: Node, image: Node) -> Diagnostic:
    line = f" (line {made.span.line})" if made.span else ""
    shown = "[" + ", ".join(str(d) for d in made.type.shape) + "]"
    return error(
        "shape-mismatch",
        f"the discriminator's input '{image.name}' is {image.type}, but the "
        f"generator '{generator.name}' makes {made.type}",
        image.span,
        notes=[f"generator output: {made.type}  from {made.label or made.name}{line}"],
        hint=f"declare input {image.name}: {shown}, or end the generator in "
        f"reshape({[*image.type.shape]})",
    )


def _score_errors(discriminator: Graph, score: Node) -> list[Diagnostic]:
    if tuple(score.type.shape) not in ((1,), ()):
        return [
            error(
                "shape-mismatch",
                f"the discriminator '{discriminator.name}' must end in one unit (real or "
                f"fake); it ends in {score.type}",
                score.span,
                hint="end it with dense(1)",
            )
        ]
    act = score.op if score.op in ACTIVATIONS else score.attrs.get("act")
    name = act.name if isinstance(act, CallValue) else act
    if name is None or str(name) in SCORE_ACTIVATIONS:
        return []
    return [
        error(
            "train-config",
            f"the discriminator '{discriminator.name}' must end in a logit or a sigmoid; "
            f"it ends in {name}",
            score.span,
            hint="end it with dense(1): a logit, which the GAN loss expects",
        )
    ]


__all__ = [
    "GAN_KEYS",
    "GAN_LOSS",
    "GanConfig",
    "check_gan_models",
    "is_gan",
    "parse_gan_settings",
    "validate_gan",
]
