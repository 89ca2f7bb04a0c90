"""The training loop: :func:`fit`, plus :func:`evaluate` and :func:`predict`.

One epoch is either one call of the fused epoch (``lax.while_loop`` over the
step) or a Python loop of the jitted step; both donate the carried state and
accumulate the loss and metric sums on the device, so the host reads values
once per epoch (and a progress bar a few times a second). A fused epoch
starts from the state alone, so between two of them the host dispatches once
and reads once; the next epoch's order is drawn meanwhile. Where nothing read
from an epoch can change the next (no early stopping, no reduce_on_plateau,
no checkpoint due), the next fused epoch is dispatched before the current
one is read, so the device never waits for the host. See
:mod:`nnlang.train.step` for the step and :mod:`nnlang.train.fusion` for the
choice between the two.

Once per epoch the loop checks the loss sums for NaN/inf (naming the first
bad step, recorded on the device), scores the validation split, updates
early stopping and ``reduce_on_plateau``, writes a row and, every
``checkpoint.every`` epochs, a checkpoint. Ctrl-C saves one and raises
:class:`TrainingInterrupted`; ``fit(..., resume=run_dir)`` continues bit for
bit, mid-epoch included (the rest of such an epoch runs step by step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nnlang.train import checkpoint as ckpt_io
from nnlang.train import fusion, rundir
from nnlang.train.cache import enable_compilation_cache
from nnlang.train.config import TrainConfig
from nnlang.train.devices import replicate, to_one_device
from nnlang.train.history import (
    Callback,
    EarlyStopper,
    History,
    RunInfo,
    TrainingDiverged,
    TrainingInterrupted,
)
from nnlang.train.model import TrainableModel
from nnlang.train.optim import lr_at
from nnlang.train.setup import (
    Evaluator,
    Setup,
    _init_variables,
    build_setup,
    on_devices,
    split_arrays,
)
from nnlang.train.step import Carry, epoch_order, fresh_carry, summarize

__all__ = [
    "Callback",
    "History",
    "enable_compilation_cache",
    "TrainableModel",
    "TrainingDiverged",
    "TrainingInterrupted",
    "evaluate",
    "fit",
    "predict",
]


# Whether fused epochs may run one ahead of the host (see fit); a switch for
# A/B measurements and the test that both ways train the same.
LOOK_AHEAD = True


class _Orders:
    """Epoch orders drawn on the host, the next one while the device trains."""

    def __init__(self, setup: Setup):
        self.setup = setup
        self.epoch: int | None = None  # the one order kept, and its epoch
        self.order: jax.Array | None = None

    def use(self, setup: Setup) -> None:
        """Place the orders as ``setup`` needs them (replicated on its mesh)."""
        self.setup, self.epoch = setup, None

    def prefetch(self, epoch: int) -> None:
        if epoch != self.epoch:
            s = self.setup
            order = epoch_order(s.shuffle_key, epoch, s.n_train, s.steps * s.batch)
            placed = replicate(order, s.mesh) if s.mesh else jax.device_put(order)
            self.epoch, self.order = epoch, placed

    def __getitem__(self, epoch: int) -> jax.Array:
        self.prefetch(epoch)
        return self.order


def fit(
    model: TrainableModel,
    data: Any,
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
    out_dir: str | Path | None = None,
    resume: str | Path | None = None,
    variables: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` on ``data`` as ``config`` says.

    Args:
        model: a :class:`TrainableModel` (the compiled `.nn` model).
        data: a ``nnlang.data.Dataset`` (``train``/``val``/``test`` splits).
        config: the validated train block.
        callbacks: extra :class:`Callback` objects.
        verbose: 0 silent, 1 progress bar and rows, 2 rows only.
        out_dir: the run directory for checkpoints, ``metrics.jsonl``,
            ``metrics.json``, ``curves.png`` and ``variables``; None writes
            nothing.
        resume: a run directory to continue from its newest checkpoint (the
            same model and train settings; ``epochs`` may grow). ``out_dir``
            defaults to it.
        variables: initial variables instead of ``model.init``; ``init_from``
            is then not applied again (resolve its path and merge with
            ``checkpoint.merge_variables`` before calling, as ``nnc run`` does).

    Returns:
        The :class:`History`, with the trained variables and test metrics.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        TrainingInterrupted: Ctrl-C; a checkpoint was saved when ``out_dir`` is set.
        TrainConfigError: a setting that only the model can refute (``freeze``).
    """
    run_dir = Path(out_dir or resume) if (out_dir or resume) else None
    if config.epochs == 0 and resume is None:
        return _untrained(model, data, config, variables, run_dir, verbose)
    setup = build_setup(model, data, config, variables)
    progress = rundir.Progress(verbose)
    if setup.note:
        progress.note(setup.note)
    cbs = [progress, *callbacks]
    history = History(run_dir=run_dir)
    stopper = EarlyStopper(setup.early_stop) if setup.early_stop else None
    # The carry between epochs: zero sums shared by every epoch start (a fused
    # epoch donates only the state; a per-step epoch zeroes its own copy).
    blank = fresh_carry(None, setup.zero_sums)
    carry = blank._replace(state=setup.state)
    best: Any = None
    epoch, form, note = 0, None, ""
    ckpt = None
    if run_dir is not None and (config.checkpoint or resume):
        keep = config.checkpoint.keep if config.checkpoint else 3
        ckpt = ckpt_io.Checkpointer(run_dir, keep=keep)
    if resume is not None:
        if ckpt is None or ckpt.latest() is None:
            raise FileNotFoundError(f"no checkpoint to resume in {resume}")
        target = {"carry": carry, "best": _best_template(setup, stopper)}
        tree, meta = ckpt.restore(target)
        carry, best = tree["carry"], tree["best"] or None
        epoch, note = meta["epoch"], "resumed"
        form = fusion.Form(meta["fused"], meta.get("devices", 1))
        history.rows = [dict(r) for r in meta["history"]]
        if stopper and meta.get("stopper"):
            stopper.load_json(meta["stopper"])
        if run_dir is not None:
            rundir.write_rows(run_dir, history.rows)
    steps, batch = setup.steps, setup.batch
    orders = _Orders(setup)
    start_pos = int(carry.pos)  # > 0 only when resuming mid-epoch
    mesh = setup.parallel_mesh
    devices = mesh.size if mesh is not None else 1
    placed: dict[int, tuple[Setup, Carry]] = {1: (setup, carry)}

    def place(count: int) -> fusion.Placement:
        if count not in placed:  # replicated on the mesh (kept for the run)
            on_mesh = on_devices(setup, mesh)
            placed[count] = (on_mesh, replicate(carry, mesh, copy=True))
        at, at_carry = placed[count]
        order = replicate(orders[0], at.mesh) if at.mesh else orders[0]
        return fusion.Placement(at.fns, at_carry, at.train, order)

    if form is None:
        key = fusion.cache_key(
            model, setup.state.params, batch, (config.optimizer.name, config.precision)
        )
        form, note = fusion.choose(
            config.fuse_epochs,
            config.data_parallel,
            key,
            place,
            steps,
            devices,
            setup.parallel_note,
        )
    elif form.devices > 1 and form.devices != devices:  # resumed on another machine
        form = fusion.Form(form.fused, devices)
        note += f" on {devices} device{'s' if devices > 1 else ''}"
    if form.devices > 1:
        place(form.devices)
        setup, carry = placed[form.devices]
        orders.use(setup)
    placed.clear()  # the other placement's copies of the state and data
    fused = form.fused
    progress.note(f"training: {fusion.describe(form)} ({note})")
    evaluators = {name: Evaluator(setup, split) for name, split in setup.evals.items()}
    history.fused, history.devices = bool(fused), form.devices
    info = RunInfo(
        config.epochs,
        epoch,
        steps,
        setup.n_train,
        batch,
        bool(fused),
        note,
        tuple(setup.keys),
        form.devices,
    )
    meta = lambda: {  # noqa: E731
        "epoch": epoch,
        "fused": bool(fused),
        "devices": form.devices,
        "history": history.rows,
        "stopper": stopper.to_json() if stopper else None,
        "steps": steps,
    }

    def save(tree_carry: Carry, pos: int) -> Path | None:
        if ckpt is None:
            return None
        tree = {"carry": tree_carry, "best": best if best is not None else {}}
        return ckpt.save(epoch * steps + pos, tree, meta())

    def peek() -> dict[str, float]:
        return summarize(carry.sums, setup.metrics)

    def checkpoint_due(done: int) -> bool:
        every = config.checkpoint.every if config.checkpoint else 0
        return bool(ckpt and every and (done % every == 0 or done == config.epochs))

    # Fused epochs run one ahead: the next is dispatched before this one's
    # sums are read, so the device never waits for the host's bookkeeping
    # (W1: ~1.5 ms of a 10 ms epoch). Only where nothing read from this epoch
    # can change the next: no early stopping, no reduce_on_plateau, no
    # checkpoint due (it saves this epoch's state, which the next consumes),
    # and every callback agrees (Callback.may_run_ahead).
    look_ahead = (
        LOOK_AHEAD and bool(fused) and stopper is None and setup.plateau_tx is None
    )
    ahead: Carry | None = None  # the next epoch, dispatched before this one was read
    read_at = time.perf_counter()
    stop = False
    try:
        for cb in cbs:
            cb.on_train_begin(info)
        while epoch < config.epochs and not stop:
            e1 = epoch + 1
            for cb in cbs:
                cb.on_epoch_begin(e1)
            start = time.perf_counter()
            if ahead is not None:  # it has run since the last epoch was read
                carry, ahead, start = ahead, None, read_at
            elif fused and start_pos == 0:
                carry = setup.fns.epoch(carry.state, setup.train, orders[epoch], steps)
            else:  # per-step, or a resumed epoch's remainder
                order = orders[epoch]
                if start_pos == 0:
                    carry = fresh_carry(carry.state, setup.zero_sums)
                for i in range(start_pos, steps):
                    carry = setup.fns.step(carry, setup.train, order)
                    for cb in cbs:
                        cb.on_step_end(e1, i + 1, peek)
            val = None
            if (
                look_ahead
                and e1 < config.epochs
                and not checkpoint_due(e1)
                and all(cb.may_run_ahead(e1 + 1) for cb in cbs)
            ):
                if "val" in evaluators:  # scored before the next epoch takes the state
                    val = evaluators["val"].start(
                        carry.state.params, carry.state.model_state
                    )
                ahead = setup.fns.epoch(carry.state, setup.train, orders[e1], steps)
            orders.prefetch(e1 + (ahead is not None))  # on the host meanwhile
            sums, bad = jax.device_get((carry.sums, carry.bad))
            read_at = time.perf_counter()
            logs = summarize(sums, setup.metrics)
            if bad >= 0 or not math.isfinite(logs["loss"]):
                raise _diverged(e1, int(bad), steps, ckpt, history)
            elapsed = read_at - start
            state = carry.state  # deleted when `ahead` took it
            if val is not None:
                logs.update(evaluators["val"].read(val, "val_"))
            elif "val" in evaluators:
                logs.update(evaluators["val"](state.params, state.model_state, "val_"))
            plateau = state.plateau
            if setup.plateau_tx is not None:
                monitor = logs.get("val_loss", logs["loss"])
                plateau = setup.plateau_step(plateau, jnp.float32(monitor))
            row = {
                "epoch": e1,
                **logs,
                "lr": lr_at(setup.schedule, (epoch + 1) * steps - 1, state.plateau),
                "time": elapsed,
                "samples_per_s": setup.n_train / max(elapsed, 1e-9),
            }
            new_best = best
            if stopper is not None:
                before = stopper.best_epoch
                stop = stopper.update(e1, row)
                if stopper.best_epoch != before and setup.early_stop.restore_best:
                    new_best = jax.tree.map(
                        jnp.copy,
                        {"params": state.params, "model_state": state.model_state},
                    )
            # Commit the epoch in one go so an interrupt never sees half of it.
            carry = blank._replace(state=state._replace(plateau=plateau))
            history.rows.append(row)
            best, epoch, start_pos = new_best, epoch + 1, 0
            if run_dir is not None:
                rundir.append_row(run_dir, row)
            if checkpoint_due(epoch) or (stop and ckpt and config.checkpoint):
                save(carry, 0)
            for cb in cbs:
                cb.on_epoch_end(e1, row)
    except KeyboardInterrupt:
        progress.close()
        raise _interrupted(carry, epoch, steps, save, ckpt, run_dir, history) from None
    finally:
        progress.close()
    return _finish(
        setup,
        history,
        carry,
        best,
        stopper,
        stop,
        evaluators,
        run_dir,
        ckpt,
        cbs,
        progress,
    )


def _untrained(
    model: TrainableModel,
    data: Any,
    config: TrainConfig,
    variables: Mapping[str, Any] | None,
    run_dir: Path | None,
    verbose: int,
) -> History:
    """``epochs = 0``: the initial variables are the result, as a model of fixed
    kernels (or an ``init_from`` run looked at on new data) needs. No optimiser
    is built and nothing is scored, since no loss need fit such a model's
    outputs; ``metrics.json`` is written empty so every run has one."""
    x = split_arrays(data.train.x, model.input_names, model, "inputs")
    sample = ({k: v[:1] for k, v in x.items()}, None)
    init_key = jax.random.split(jax.random.PRNGKey(config.seed), 3)[0]  # as fit's
    variables, note = _init_variables(model, config, sample, init_key, variables)
    if verbose:
        print("epochs = 0: nothing trained" + (f"; {note}" if note else ""))
    history = History(run_dir=run_dir)
    history.variables = variables
    if run_dir is not None:
        ckpt_io.save_variables(run_dir, variables)
        rundir.write_test_metrics(run_dir, {})
    return history


def _best_template(setup: Setup, stopper: EarlyStopper | None) -> Any:
    if stopper is None or not setup.early_stop.restore_best:
        return {}
    return {"params": setup.state.params, "model_state": setup.state.model_state}


def _diverged(
    e1: int, bad: int, steps: int, ckpt: Any, history: History
) -> TrainingDiverged:
    step = bad + 1 if bad >= 0 else steps
    last = ckpt.latest() if ckpt is not None else None
    if ckpt is not None:
        ckpt.close()
    where = f"epoch {e1}, step {step} (step {(e1 - 1) * steps + step} overall)"
    keep = f"; the last good checkpoint is {last}" if last else ""
    return TrainingDiverged(
        f"the training loss became nan or inf at {where}",
        hint="lower the learning rate, set clip = 1.0, or check the data for nan/inf"
        + keep,
        epoch=e1,
        step=step,
        global_step=(e1 - 1) * steps + step,
        checkpoint=last,
        history=history,
    )


def _interrupted(
    carry: Carry,
    epoch: int,
    steps: int,
    save: Any,
    ckpt: Any,
    run_dir: Path | None,
    history: History,
) -> TrainingInterrupted:
    alive = not any(
        isinstance(x, jax.Array) and x.is_deleted() for x in jax.tree.leaves(carry)
    )
    # The state is gone when an epoch running (or dispatched ahead) took it;
    # the newest checkpoint is then the place to resume from.
    pos = int(carry.pos) if alive else 0
    saved = alive and ckpt is not None
    path = save(carry, pos) if saved else (ckpt.latest() if ckpt else None)
    if ckpt is not None:
        ckpt.close()
    where = f"epoch {epoch + 1}, step {pos}"
    if path is None:
        why = "no run directory" if run_dir is None else "none saved yet"
        message = f"training interrupted at {where}; no checkpoint ({why})"
    elif saved:
        message = f"training interrupted at {where}; checkpoint saved in {path}"
    else:
        message = f"training interrupted at {where}; the newest checkpoint is {path}"
    return TrainingInterrupted(
        message,
        checkpoint=path,
        run_dir=run_dir,
        epoch=epoch + 1,
        step=pos,
        history=history,
    )


def _early_stop_note(setup: Setup, history: History, *, restored: bool) -> str | None:
    """What early stopping did, in words, as Keras says it: the run ends with it."""
    rule = setup.early_stop
    if rule is None or not history.rows:
        return None
    last, best = history.rows[-1]["epoch"], history.best_epoch
    parts = []
    if history.stopped_early:
        parts.append(f"early stop after epoch {last}: {rule.monitor} has not improved for "
                     f"{rule.patience} epoch{'s' if rule.patience != 1 else ''}")
    if restored and best is not None and best != last:
        parts.append(f"weights restored from epoch {best}, the best {rule.monitor}")
    return "; ".join(parts) or None


def _finish(
    setup: Setup,
    history: History,
    carry: Carry,
    best: Any,
    stopper: Any,
    stopped: bool,
    evaluators: dict,
    run_dir: Path | None,
    ckpt: Any,
    cbs: list[Callback],
    progress: Any,
) -> History:
    state = carry.state
    variables = {"params": state.params, **state.model_state}
    if best is not None:
        variables = {"params": best["params"], **best["model_state"]}
    history.variables = variables
    history.stopped_early = bool(stopped)
    history.best_epoch = stopper.best_epoch if stopper else None
    note = _early_stop_note(setup, history, restored=best is not None)
    if note:
        progress.note(note)
    for cb in cbs:
        cb.on_train_end(history)
    if "test" in evaluators:
        history.test = evaluators["test"](
            variables["params"], {k: v for k, v in variables.items() if k != "params"}
        )
        progress.note(rundir.format_metrics(history.test))
    if setup.mesh is not None:  # replicated across the mesh: one copy suffices
        history.variables = variables = to_one_device(variables)
    if ckpt is not None:
        ckpt.close()
    if run_dir is not None:
        ckpt_io.save_variables(run_dir, variables)
        rundir.write_rows(run_dir, history.rows)
        if history.test:
            rundir.write_test_metrics(run_dir, history.test)
        if history.rows:
            rundir.plot_curves(history.rows, Path(run_dir) / rundir.CURVES)
    return history


def evaluate(
    model: TrainableModel,
    variables: Mapping[str, Any],
    data: Any,
    config: TrainConfig,
    *,
    split: str = "test",
) -> dict[str, float]:
    """Loss and metrics of ``variables`` on one split of ``data`` (train=False).

    Raises:
        ValueError: the split has no rows.
    """
    setup = build_setup(model, data, config, variables, splits=(split,))
    if split not in setup.evals:
        raise ValueError(f"the {split} split has no rows")
    evaluator = Evaluator(setup, setup.evals[split])
    params = variables["params"]
    return evaluator(params, {k: v for k, v in variables.items() if k != "params"})


def predict(
    model: TrainableModel,
    variables: Mapping[str, Any],
    inputs: Any,
    *,
    batch: int = 256,
    activations: Mapping[str, str | None] | None = None,
) -> dict[str, np.ndarray]:
    """Model outputs for ``inputs`` (an array or a dict by input name), in batches.

    Outputs that return logits (``model.logits_outputs``) come back
    activated, as probabilities; pass ``activations`` to override.
    """
    from nnlang.train.losses import activate
    from nnlang.train.model import activations_of

    x = split_arrays(inputs, model.input_names, model, "inputs")
    n = len(next(iter(x.values())))
    acts = activations if activations is not None else activations_of(model, {})

    @jax.jit
    def run(variables, chunk):
        out, _ = model.apply(variables, chunk, train=False)
        return {k: activate(v.astype(jnp.float32), acts.get(k)) for k, v in out.items()}

    pieces: list[dict[str, np.ndarray]] = []
    for lo in range(0, n, batch):
        idx = np.resize(np.arange(lo, min(lo + batch, n)), batch)
        out = run(variables, {k: v[idx] for k, v in x.items()})
        pieces.append({k: np.asarray(v)[: min(batch, n - lo)] for k, v in out.items()})
    return (
        {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]} if pieces else {}
    )
