"""Training a generator against a discriminator: :func:`fit_gan` (``loss = gan``).

Each step takes one batch of real examples and makes two updates:

1. the discriminator learns to tell real from generated: binary cross-entropy
   on its logit, target ``1 - smooth`` for real and 0 for generated examples,
   the generator's output held fixed;
2. the generator learns to make the just-updated discriminator say "real":
   the non-saturating loss ``-log sigmoid(D(G(z)))`` (Goodfellow et al. 2014,
   section 3), whose gradient stays alive early on, when the discriminator
   rejects every fake easily and ``log(1 - D(G(z)))`` would be flat.

Discriminator first, as in the paper's algorithm: the generator then always
chases the current discriminator. Noise is N(0, 1) in the generator's input
shape, drawn on the device from ``fold_in(rng, step)``.

An epoch is one jitted ``lax.fori_loop`` over the steps with the carry
donated, as the ordinary fused epoch is: the real images stay on the device,
batches are gathered by index, and the losses and the discriminator's accuracy
are summed on the device and read once per epoch. Steps take whole batches
(the last partial one is dropped; each epoch reshuffles), so every step
compiles to the same shapes and the game sees equal real and fake counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from nnlang.train import checkpoint as ckpt_io
from nnlang.train import rundir
from nnlang.train.gan_config import GanConfig
from nnlang.train.history import (
    Callback,
    History,
    RunInfo,
    TrainingDiverged,
    TrainingInterrupted,
)
from nnlang.train.losses import activate, kernel_penalty
from nnlang.train.model import TrainableModel, activations_of
from nnlang.train.optim import build_optimizer
from nnlang.train.setup import split_arrays
from nnlang.train.step import epoch_order

KEYS = ("d_loss", "g_loss", "d_accuracy")
"""The per-epoch training logs: both losses and the discriminator's accuracy
on real against generated examples (before its update, averaged over the two)."""


class Player(NamedTuple):
    """One model's trainable state."""

    params: Any
    model_state: Any  # non-parameter collections, e.g. {"batch_stats": ...}
    opt_state: Any


class GanState(NamedTuple):
    """Both players, the step count and the key noise and dropout derive from."""

    step: jax.Array
    generator: Player
    discriminator: Player
    rng: jax.Array


class GanCarry(NamedTuple):
    """What an epoch carries: the state and the running sums of :data:`KEYS`."""

    state: GanState
    sums: dict[str, jax.Array]


@dataclass
class GanHistory(History):
    """A :class:`History` whose ``variables`` are the generator's, plus the rest.

    Attributes:
        discriminator_variables: the trained discriminator's variables.
        initial_generator: the generator's variables before training (for
            measuring how far training moved its samples).
        seconds: wall time of the training loop, compilation included.
    """

    discriminator_variables: dict[str, Any] | None = None
    initial_generator: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class Game:
    """The two models, how to call them, and the GAN loss's settings."""

    generator: TrainableModel
    discriminator: TrainableModel
    smooth: float = 0.0
    g_activation: str | None = None
    noise_shape: tuple[int, ...] = field(default=())

    @classmethod
    def of(cls, generator: TrainableModel, discriminator: TrainableModel,
           smooth: float = 0.0) -> Game:
        """The game of two compiled models (noise shape from the generator's input)."""
        shape = generator.input_shapes[generator.input_names[0]]
        act = activations_of(generator, {})[generator.output_names[0]]
        return cls(generator, discriminator, smooth, act, tuple(shape))

    def noise(self, key: jax.Array, n: int) -> dict[str, jax.Array]:
        """``n`` noise vectors from N(0, 1), as the generator's inputs."""
        z = jax.random.normal(key, (n, *self.noise_shape), jnp.float32)
        return {self.generator.input_names[0]: z}

    def generate(self, variables: Mapping[str, Any], z: dict, *, train: bool,
                 key: jax.Array | None = None) -> tuple[jax.Array, Any]:
        """Generated examples (final activation applied) and the new model state."""
        rngs = _rngs(self.generator, key)
        out, state = self.generator.apply(variables, z, train=train, rngs=rngs)
        made = out[self.generator.output_names[0]].astype(jnp.float32)
        return activate(made, self.g_activation), state

    def score(self, variables: Mapping[str, Any], images: jax.Array, *,
              key: jax.Array) -> tuple[jax.Array, Any]:
        """The discriminator's logits ``[batch]`` (training mode) and new state."""
        inputs = {self.discriminator.input_names[0]: images}
        rngs = _rngs(self.discriminator, key)
        out, state = self.discriminator.apply(variables, inputs, train=True, rngs=rngs)
        logits = out[self.discriminator.output_names[0]].astype(jnp.float32)
        return logits.reshape(logits.shape[0]), state


def _rngs(model: TrainableModel, key: jax.Array | None) -> dict[str, jax.Array]:
    names = tuple(getattr(model, "rng_names", ("dropout",)))
    if key is None or not names:
        return {}
    return dict(zip(names, jax.random.split(key, len(names)), strict=True))


def _bce(logits: jax.Array, target: float) -> jax.Array:
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def make_gan_step(game: Game, g_tx: optax.GradientTransformation,
                  d_tx: optax.GradientTransformation, batch: int):
    """The step ``(carry, real, order, i) -> carry``: both updates on batch ``i``."""
    gen, disc = game.generator, game.discriminator

    def step(carry: GanCarry, real: jax.Array, order: jax.Array, i: jax.Array) -> GanCarry:
        st = carry.state
        g, d = st.generator, st.discriminator
        idx = lax.dynamic_slice(order, (i * batch,), (batch,))
        x = jnp.take(real, idx, axis=0)
        keys = jax.random.split(jax.random.fold_in(st.rng, st.step), 7)
        fake, g_state = game.generate({"params": g.params, **g.model_state},
                                      game.noise(keys[0], batch), train=True, key=keys[1])
        fake = lax.stop_gradient(fake)

        def d_loss_fn(params):
            real_logit, state = game.score({"params": params, **d.model_state}, x,
                                           key=keys[2])
            fake_logit, state = game.score({"params": params, **state}, fake, key=keys[3])
            loss = _bce(real_logit, 1.0 - game.smooth) + _bce(fake_logit, 0.0)
            accuracy = 0.5 * (jnp.mean(real_logit > 0) + jnp.mean(fake_logit < 0))
            penalty = kernel_penalty(params, disc.penalties)
            return loss + penalty, (loss, accuracy, state)

        (_, (d_loss, accuracy, d_state)), grads = jax.value_and_grad(
            d_loss_fn, has_aux=True)(d.params)
        updates, d_opt = d_tx.update(grads, d.opt_state, d.params)
        d_params = optax.apply_updates(d.params, updates)

        def g_loss_fn(params):
            made, state = game.generate({"params": params, **g_state},
                                        game.noise(keys[4], batch), train=True,
                                        key=keys[5])
            logit, _ = game.score({"params": d_params, **d_state}, made, key=keys[6])
            loss = _bce(logit, 1.0)  # non-saturating: -log D(G(z))
            return loss + kernel_penalty(params, gen.penalties), (loss, state)

        (_, (g_loss, g_state)), grads = jax.value_and_grad(
            g_loss_fn, has_aux=True)(g.params)
        updates, g_opt = g_tx.update(grads, g.opt_state, g.params)
        g_params = optax.apply_updates(g.params, updates)
        state = GanState(st.step + 1, Player(g_params, g_state, g_opt),
                         Player(d_params, d_state, d_opt), st.rng)
        new = {"d_loss": d_loss, "g_loss": g_loss, "d_accuracy": accuracy,
               "steps": jnp.float32(1)}
        return GanCarry(state, jax.tree.map(jnp.add, carry.sums, new))

    return step


def make_gan_epoch(step, steps: int):
    """One epoch of ``step`` in a ``lax.fori_loop``, jitted, the carry donated."""

    def epoch(carry: GanCarry, real: jax.Array, order: jax.Array) -> GanCarry:
        return lax.fori_loop(0, steps, lambda i, c: step(c, real, order, i), carry)

    return jax.jit(epoch, donate_argnums=0)


def zero_sums() -> dict[str, jax.Array]:
    """A fresh epoch's sums."""
    return {k: jnp.zeros((), jnp.float32) for k in (*KEYS, "steps")}


def epoch_logs(sums: Mapping[str, Any]) -> dict[str, float]:
    """Host-side means of an epoch's sums (the one device read per epoch)."""
    host = jax.device_get(sums)
    steps = max(float(host["steps"]), 1.0)
    return {k: float(host[k]) / steps for k in KEYS}


def real_examples(data: Any, discriminator: TrainableModel) -> jax.Array:
    """The training split's inputs, shaped as the discriminator's input, on the device."""
    x = split_arrays(data.train.x, discriminator.input_names, discriminator, "inputs")
    return jax.device_put(jnp.asarray(x[discriminator.input_names[0]], jnp.float32))


@dataclass(eq=False)
class GanSetup:
    """Everything the loop needs: the game, the initial carry, the compiled epoch."""

    game: Game
    carry: GanCarry
    epoch: Any
    real: jax.Array
    batch: int
    steps: int
    shuffle_key: np.ndarray  # the key's data: epoch orders are drawn on the host
    initial_generator: dict[str, Any]


def build_gan_setup(generator: TrainableModel, discriminator: TrainableModel,
                    data: Any, config: GanConfig) -> GanSetup:
    """Initialise both models and their optimisers; compile nothing yet."""
    game = Game.of(generator, discriminator, config.loss["smooth"])
    real = real_examples(data, discriminator)
    n = int(real.shape[0])
    batch = min(config.batch, n)
    steps = max(1, n // batch)
    g_key, d_key, shuffle_key, rng = jax.random.split(jax.random.PRNGKey(config.seed), 4)
    g_vars = dict(generator.init(g_key, game.noise(g_key, 1)))
    d_vars = dict(discriminator.init(d_key, {discriminator.input_names[0]: real[:1]}))
    players = []
    for model, variables, name in ((generator, g_vars, config.generator),
                                   (discriminator, d_vars, config.discriminator)):
        state = dict(variables)
        params = state.pop("params")
        tx = build_optimizer(config.models[name], params, steps_per_epoch=steps,
                             frozen=getattr(model, "frozen", ()) or ())
        players.append((Player(params, state, tx.init(params)), tx))
    (g, g_tx), (d, d_tx) = players
    state = GanState(jnp.zeros((), jnp.int32), g, d, rng)
    # Optimiser states may alias parameters; donated buffers must be distinct.
    carry = jax.tree.map(jnp.copy, GanCarry(state, zero_sums()))
    epoch = make_gan_epoch(make_gan_step(game, g_tx, d_tx, batch), steps)
    initial = jax.device_get(g_vars)
    return GanSetup(game, carry, epoch, real, batch, steps, np.asarray(shuffle_key),
                    initial)


def fit_gan(generator: TrainableModel, discriminator: TrainableModel, data: Any,
            config: GanConfig, *, callbacks: Sequence[Callback] = (), verbose: int = 1,
            out_dir: str | Path | None = None,
            resume: str | Path | None = None) -> GanHistory:
    """Train ``generator`` against ``discriminator`` on ``data``'s training split.

    Args:
        generator: the compiled generator (one input, its noise).
        discriminator: the compiled discriminator (one input, one logit).
        data: a ``nnlang.data.Dataset``; only ``train.x`` is used.
        config: the validated ``loss = gan`` block.
        callbacks: extra :class:`Callback` objects (no ``on_step_end``: an
            epoch is one compiled call).
        verbose: 0 silent, 1 progress bar and rows, 2 rows only.
        out_dir: the run directory for ``metrics.jsonl``, ``curves.png``,
            checkpoints and both models' variables (the generator's in
            ``variables``, the discriminator's in ``<its name>/variables``).
        resume: a run directory to continue from its newest checkpoint.

    Raises:
        TrainingDiverged: a loss became NaN or infinite.
        TrainingInterrupted: Ctrl-C (a checkpoint is saved when possible).
    """
    start = time.perf_counter()
    run_dir = Path(out_dir or resume) if (out_dir or resume) else None
    setup = build_gan_setup(generator, discriminator, data, config)
    history = GanHistory(run_dir=run_dir, fused=True,
                         initial_generator=setup.initial_generator)
    progress = rundir.Progress(verbose)
    cbs = [progress, *callbacks]
    ckpt = None
    if run_dir is not None and (config.checkpoint or resume):
        keep = config.checkpoint.keep if config.checkpoint else 3
        ckpt = ckpt_io.Checkpointer(run_dir, keep=keep)
    carry, epoch = setup.carry, 0
    if resume is not None:
        if ckpt is None or ckpt.latest() is None:
            raise FileNotFoundError(f"no checkpoint to resume in {resume}")
        tree, meta = ckpt.restore({"carry": carry})
        carry, epoch = tree["carry"], meta["epoch"]
        history.rows = [dict(r) for r in meta["history"]]
    progress.note(
        f"gan: {config.generator} against {config.discriminator}, "
        f"{setup.steps} steps of {setup.batch} real and {setup.batch} generated "
        "examples per epoch")
    info = RunInfo(config.epochs, epoch, setup.steps, setup.steps * setup.batch,
                   setup.batch, True, "a GAN epoch is one compiled loop", KEYS)
    try:
        for cb in cbs:
            cb.on_train_begin(info)
        while epoch < config.epochs:
            carry, row = _run_epoch(setup, carry, epoch, cbs)
            epoch += 1
            history.rows.append(row)
            if run_dir is not None:
                rundir.append_row(run_dir, row)
            policy = config.checkpoint
            if ckpt and policy and (epoch % policy.every == 0 or epoch == config.epochs):
                ckpt.save(epoch * setup.steps, {"carry": carry},
                          {"epoch": epoch, "history": history.rows})
            for cb in cbs:
                cb.on_epoch_end(epoch, row)
    except KeyboardInterrupt:
        progress.close()
        raise _interrupted(carry, epoch, setup, ckpt, run_dir, history) from None
    except TrainingDiverged:
        if ckpt is not None:
            ckpt.close()
        raise
    finally:
        progress.close()
    for cb in cbs:
        cb.on_train_end(history)
    if ckpt is not None:
        ckpt.close()
    return _finish(history, carry, config, run_dir, start)


def _run_epoch(setup: GanSetup, carry: GanCarry, epoch: int,
               cbs: Sequence[Callback]) -> tuple[GanCarry, dict[str, Any]]:
    for cb in cbs:
        cb.on_epoch_begin(epoch + 1)
    began = time.perf_counter()
    n = int(setup.real.shape[0])
    order = epoch_order(setup.shuffle_key, epoch, n, setup.steps * setup.batch)
    carry = setup.epoch(carry, setup.real, order)
    logs = epoch_logs(carry.sums)
    if not all(math.isfinite(v) for v in logs.values()):
        raise TrainingDiverged(
            f"the GAN losses became nan or inf in epoch {epoch + 1}",
            hint="lower both learning rates, or set clip = 1.0",
            epoch=epoch + 1, step=setup.steps, global_step=(epoch + 1) * setup.steps,
            checkpoint=None, history=History())
    elapsed = time.perf_counter() - began
    row = {"epoch": epoch + 1, **logs, "time": elapsed,
           "samples_per_s": setup.steps * setup.batch / max(elapsed, 1e-9)}
    return carry._replace(sums=zero_sums()), row


def _interrupted(carry: GanCarry, epoch: int, setup: GanSetup, ckpt: Any,
                 run_dir: Path | None, history: GanHistory) -> TrainingInterrupted:
    alive = not any(isinstance(x, jax.Array) and x.is_deleted()
                    for x in jax.tree.leaves(carry))
    path = None
    if ckpt is not None:
        if alive:
            path = ckpt.save(epoch * setup.steps, {"carry": carry},
                             {"epoch": epoch, "history": history.rows})
        else:
            path = ckpt.latest()
        ckpt.close()
    saved = f"checkpoint saved in {path}" if path else "no checkpoint"
    return TrainingInterrupted(
        f"training interrupted after epoch {epoch}; {saved}", checkpoint=path,
        run_dir=run_dir, epoch=epoch + 1, step=0, history=history)


def _finish(history: GanHistory, carry: GanCarry, config: GanConfig,
            run_dir: Path | None, start: float) -> GanHistory:
    g, d = carry.state.generator, carry.state.discriminator
    history.variables = {"params": g.params, **g.model_state}
    history.discriminator_variables = {"params": d.params, **d.model_state}
    history.seconds = time.perf_counter() - start
    if run_dir is not None:
        ckpt_io.save_variables(run_dir, history.variables)
        ckpt_io.save_variables(run_dir / config.discriminator,
                               history.discriminator_variables)
        rundir.write_rows(run_dir, history.rows)
        if history.rows:
            rundir.plot_curves(history.rows, run_dir / rundir.CURVES)
    return history


__all__ = ["Game", "GanHistory", "KEYS", "build_gan_setup", "fit_gan", "make_gan_step"]
