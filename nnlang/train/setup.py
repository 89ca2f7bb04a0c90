"""Everything :func:`~nnlang.train.loop.fit` prepares before the first step.

:func:`build_setup` resolves the losses and metrics per output (defaults from
the data's task), moves the splits to the device once, initialises the
variables (``init_from``, ``precision``), builds the optax transformation and
the jitted step functions. :class:`Evaluator` scores a split with the same
objective, in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from nnlang.train.config import (
    EarlyStop,
    Option,
    TrainConfig,
    TrainConfigError,
    default_metrics,
    metric_name,
    resolve_losses,
)
from nnlang.train.devices import MIN_ROWS, data_mesh, replicate
from nnlang.train.losses import get_loss
from nnlang.train.metrics import Metric, get_metric
from nnlang.train.model import TrainableModel, activations_of
from nnlang.train.optim import (
    build_optimizer,
    build_plateau,
    freeze_labels,
    is_full_batch,
    learning_rate_schedule,
    plateau_step,
)
from nnlang.train.step import (
    Data,
    Objective,
    StepFns,
    TrainState,
    jit_fns,
    make_eval_step,
    make_train_body,
    summarize,
    zero_sums,
)


@dataclass(eq=False)
class Setup:
    """The prepared pieces of one training run (see :func:`build_setup`)."""

    objective: Objective
    metrics: dict[str, tuple[str, Metric]]
    keys: list[str]
    train: Data
    n_train: int
    evals: dict[str, tuple[Data, int]]
    batch: int
    steps: int
    schedule: Any
    plateau_tx: Any
    plateau_step: Any
    state: TrainState
    zero_sums: dict[str, Any]
    fns: StepFns
    eval_step: Any
    shuffle_key: np.ndarray  # the key's data: epoch orders are drawn on the host
    early_stop: EarlyStop | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The train step body for a mesh (None: one device), and the mesh that
    # ``data_parallel`` may use (None, with the reason in ``parallel_note``).
    body_for: Callable[[Mesh | None], Any] | None = None
    parallel_mesh: Mesh | None = None
    parallel_note: str = ""
    mesh: Mesh | None = None  # the mesh this setup's arrays and steps use


def on_devices(setup: Setup, mesh: Mesh) -> Setup:
    """``setup`` with its state and splits replicated on ``mesh`` and steps
    that split each batch across it (:mod:`nnlang.train.devices`)."""
    if setup.body_for is None:
        raise ValueError("this setup cannot run data-parallel")
    return replace(
        setup,
        train=replicate(setup.train, mesh),
        evals={k: (replicate(d, mesh), n) for k, (d, n) in setup.evals.items()},
        state=replicate(setup.state, mesh, copy=True),
        fns=jit_fns(setup.body_for(mesh), setup.zero_sums),
        eval_step=make_eval_step(setup.objective, mesh),
        mesh=mesh,
    )


def _parallel_mesh(config: TrainConfig, full_batch: bool, model_state: Any,
                   batch: int) -> tuple[Mesh | None, str]:  # fmt: skip
    """The mesh ``data_parallel`` may use, or None and why not."""
    if config.data_parallel is False:
        return None, "data_parallel = false"
    if full_batch:
        return None, f"{config.optimizer.name} needs the whole batch on one device"
    if jax.tree.leaves(model_state):
        return None, "batch statistics are per batch, not per shard"
    mesh = data_mesh(batch)
    if mesh is None:
        count = len(jax.devices())
        if count == 1:
            return None, "one device"
        return None, (
            f"batch {batch} does not split over {count} devices"
            f" into shards of {MIN_ROWS} rows or more"
        )
    return mesh, ""


def split_arrays(
    arrays: Any, names: Sequence[str], model: Any, what: str
) -> dict[str, Any]:
    """A split's ``x`` or ``y`` as a dict by name (one array means the only name).

    Inputs are reshaped to ``model.input_shapes`` when the element counts match.

    Raises:
        ValueError: names are missing, or one array for several names.
    """
    if not isinstance(arrays, Mapping):
        if len(names) != 1:
            raise ValueError(
                f"the model has {len(names)} {what} ({', '.join(names)}) but "
                "the data gives one array"
            )
        arrays = {names[0]: arrays}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(
            f"the data has no {what[:-1]} '{missing[0]}' (it has {', '.join(arrays)})"
        )
    out = {n: np.asarray(arrays[n]) for n in names}
    shapes = getattr(model, "input_shapes", None) if what == "inputs" else None
    for n, shape in (shapes or {}).items():
        a = out.get(n)
        if a is None or not all(isinstance(d, int) for d in shape):
            continue
        if a.shape[1:] != tuple(shape) and math.prod(a.shape[1:]) == math.prod(shape):
            out[n] = a.reshape((len(a), *shape))
    return out


def _device(split: Any, model: TrainableModel) -> tuple[Data, int]:
    x = split_arrays(split.x, model.input_names, model, "inputs")
    y = split_arrays(split.y, model.output_names, model, "outputs")
    n = len(next(iter(x.values())))
    return jax.device_put((x, y)), n


def _tasks(data: Any, outputs: Sequence[str]) -> dict[str, str]:
    tasks = (getattr(data, "meta", None) or {}).get("tasks")
    if isinstance(tasks, Mapping):
        return {o: tasks.get(o, data.task) for o in outputs}
    return dict.fromkeys(outputs, getattr(data, "task", "regression"))


def output_units(
    model: TrainableModel, sample: Mapping[str, Any] | None = None
) -> dict[str, int | None]:
    """Each output's last dimension (one example's), for the default loss: from
    ``model.output_shapes`` when the model has them, else traced abstractly
    (nothing computed) on one example of ``sample`` (inputs by name)."""
    shapes = getattr(model, "output_shapes", None)
    if shapes is None and sample is not None:
        rng = jax.random.PRNGKey(0)

        def outputs(x):
            return model.apply(model.init(rng, x), x, train=False)[0]

        shaped = jax.eval_shape(outputs, jax.tree.map(lambda a: a[:1], sample))
        shapes = {k: tuple(v.shape[1:]) for k, v in shaped.items()}
    shapes = shapes or {}
    return {
        o: (d if isinstance(d := (shapes.get(o) or (None,))[-1], int) else None)
        for o in model.output_names
    }


def output_activations(
    model: TrainableModel, config: TrainConfig, data: Any
) -> dict[str, str | None]:
    """The activation turning each output into what its loss reads (probabilities
    after a fused or implied softmax/sigmoid; ``None`` for values): what
    predictions after training apply, as the metrics did."""
    tasks = _tasks(data, model.output_names)
    sample = None
    if getattr(model, "output_shapes", None) is None:
        sample = split_arrays(data.train.x, model.input_names, model, "inputs")
    units = output_units(model, sample)
    return activations_of(model, resolve_losses(config.loss, tasks, units))


def _objective(
    model: TrainableModel,
    config: TrainConfig,
    tasks: Mapping[str, str],
    units: Mapping[str, int | None],
) -> tuple[Objective, dict[str, tuple[str, Metric]], list[str]]:
    outputs = list(model.output_names)
    loss_options = resolve_losses(config.loss, tasks, units)
    metric_options: dict[str, tuple[Option, ...]] = {
        o: (
            config.metrics[o]
            if config.metrics is not None and o in config.metrics
            else default_metrics(tasks[o])
        )
        for o in outputs
    }
    single = len(outputs) == 1
    metrics: dict[str, tuple[str, Metric]] = {}
    for o, options in metric_options.items():
        for m in options:
            metrics[metric_name(m) if single else f"{o}_{metric_name(m)}"] = (
                o,
                get_metric(m),
            )
    objective = Objective(
        model,
        {o: get_loss(opt) for o, opt in loss_options.items()},
        dict(config.loss_weights),
        activations_of(model, loss_options),
        metrics,
        config.precision,
    )
    keys = ["loss"] + ([] if single else [f"{o}_loss" for o in outputs]) + list(metrics)
    return objective, metrics, keys


def compute_model(model: TrainableModel, precision: str) -> TrainableModel:
    """``model`` computing in bfloat16 under ``precision = bf16`` or ``mixed``
    (the parameters' storage is :func:`_init_variables`' business); models
    without ``with_compute_dtype`` are used as they are."""
    cast = getattr(model, "with_compute_dtype", None)
    if precision in ("bf16", "mixed") and cast is not None:
        return cast(jnp.bfloat16)
    return model


def _init_variables(
    model: TrainableModel,
    config: TrainConfig,
    train: Data,
    key: jax.Array,
    variables: Mapping[str, Any] | None,
) -> tuple[dict, str]:
    """Initial variables: ``variables`` as given (a caller that passes them has
    applied ``init_from`` itself, resolving its path), else ``model.init``
    merged with the ``init_from`` run's weights (path relative to the cwd)."""
    note = ""
    given = variables is not None
    if variables is None:
        sample = jax.tree.map(lambda a: a[:1], train[0])
        variables = model.init(key, sample)
    variables = dict(variables)
    if config.init_from and not given:
        from nnlang.train.checkpoint import load_variables, merge_variables

        variables, copied, total = merge_variables(
            variables, load_variables(config.init_from)
        )
        note = f"init_from: copied {copied} of {total} arrays from {config.init_from}"
    if config.precision == "bf16":
        variables["params"] = jax.tree.map(
            lambda p: (
                p.astype(jnp.bfloat16) if jnp.issubdtype(p.dtype, jnp.floating) else p
            ),
            variables["params"],
        )
    return variables, note


def build_setup(
    model: TrainableModel,
    data: Any,
    config: TrainConfig,
    variables: Mapping[str, Any] | None = None,
    splits: Sequence[str] = ("val", "test"),
) -> Setup:
    """Prepare a run: objective, device data, variables, optimiser and step functions.

    Raises:
        TrainConfigError: ``freeze`` names a layer the model does not have.
        ValueError: the data lacks an input or output of the model.
    """
    model = compute_model(model, config.precision)
    train, n_train = _device(data.train, model)
    tasks = _tasks(data, model.output_names)
    needs_units = any(
        tasks[o] == "binary" and not (config.loss or {}).get(o)
        for o in model.output_names
    )
    units = output_units(model, train[0] if needs_units else None)
    objective, metrics, keys = _objective(model, config, tasks, units)
    full = is_full_batch(config)
    batch = n_train if full else min(config.batch, n_train) if n_train else config.batch
    steps = max(1, -(-n_train // batch))
    root = jax.random.PRNGKey(config.seed)
    init_key, shuffle_key, dropout_key = jax.random.split(root, 3)
    variables, note = _init_variables(model, config, train, init_key, variables)
    params = variables.pop("params")
    frozen = tuple(config.freeze) + tuple(getattr(model, "frozen", ()) or ())
    try:
        tx = build_optimizer(
            config,
            params,
            steps_per_epoch=steps,
            frozen=getattr(model, "frozen", ()) or (),
        )
        labels = freeze_labels(params, frozen) if frozen and full else None
    except KeyError as exc:
        raise _freeze_error(config.freeze, params) from exc
    plateau_tx = build_plateau(config)
    state = TrainState(
        jnp.zeros((), jnp.int32),
        params,
        variables,
        tx.init(params),
        plateau_tx.init(params) if plateau_tx else None,
        dropout_key,
    )
    # Optimiser states may hold the very arrays of ``params`` (lbfgs' memory);
    # donated buffers must be distinct, so every leaf gets its own copy.
    state = jax.tree.map(jnp.copy, state)
    rng_names = tuple(getattr(model, "rng_names", ("dropout",)))

    def body_for(mesh: Mesh | None) -> Any:
        return make_train_body(
            objective,
            tx,
            batch=batch,
            n=n_train,
            rng_names=rng_names,
            full_batch=full,
            frozen_labels=labels,
            mesh=mesh,
        )

    parallel_mesh, parallel_note = _parallel_mesh(config, full, variables, batch)
    sums = zero_sums(objective, (params, variables), train)
    evals = {}
    for name in splits:
        split = getattr(data, name, None)
        if split is not None and len(split) > 0:
            evals[name] = _device(split, model)
    early = config.early_stop
    if early and early.monitor.startswith("val_") and "val" not in evals:
        monitor = early.monitor.removeprefix("val_")
        note = (note + "\n" if note else "") + (
            f"early_stop: no validation split; monitoring '{monitor}' instead"
        )
        early = replace(early, monitor=monitor)
    return Setup(
        objective=objective,
        metrics=metrics,
        keys=keys,
        train=train,
        n_train=n_train,
        evals=evals,
        batch=batch,
        steps=steps,
        schedule=learning_rate_schedule(config, steps),
        plateau_tx=plateau_tx,
        plateau_step=jax.jit(partial(plateau_step, plateau_tx)) if plateau_tx else None,
        state=state,
        zero_sums=sums,
        fns=jit_fns(body_for(None), sums),
        eval_step=make_eval_step(objective),
        shuffle_key=np.asarray(shuffle_key),
        early_stop=early,
        note=note,
        body_for=body_for,
        parallel_mesh=parallel_mesh,
        parallel_note=parallel_note,
    )


def _freeze_error(paths: Sequence[str], params: Any) -> TrainConfigError:
    from nnlang.diagnostics import did_you_mean

    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    names = ["/".join(str(getattr(k, "key", k)) for k in path) for path, _ in leaves]
    layers = sorted({p for n in names for p in _prefixes(n)})
    bad = next((p for p in paths if p not in layers), paths[0] if paths else "?")
    return TrainConfigError(
        f"freeze names unknown layer '{bad}'", "freeze", did_you_mean(bad, layers)
    )


def _prefixes(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class Evaluator:
    """Scores one split in eval mode with the run's objective.

    The split is padded (wrapping around) to whole batches and shaped
    ``[steps, batch, ...]`` on the device once; each call runs the shared
    jitted eval step per batch and reads the sums once.

    Args:
        setup: the run's setup.
        split: the split's device arrays and row count.
    """

    def __init__(self, setup: Setup, split: tuple[Data, int]):
        data, self.n = split
        batch = setup.batch
        self.steps = max(1, -(-self.n // batch))
        idx = jnp.resize(jnp.arange(self.n, dtype=jnp.int32), (self.steps * batch,))
        self.batches = jax.tree.map(
            lambda a: jnp.take(a, idx, axis=0).reshape(self.steps, batch, *a.shape[1:]),
            data,
        )
        self.masks = (jnp.arange(self.steps * batch) < self.n).astype(jnp.float32)
        self.masks = self.masks.reshape(self.steps, batch)
        self.setup = setup

    def __call__(
        self, params: Any, model_state: Any, prefix: str = ""
    ) -> dict[str, float]:
        return self.read(self.start(params, model_state), prefix)

    def start(self, params: Any, model_state: Any) -> Any:
        """Dispatch the scoring; the sums stay on the device until :meth:`read`."""
        setup = self.setup
        sums = jax.tree.map(jnp.zeros_like, setup.zero_sums)
        variables = (params, model_state)
        for i in range(self.steps):
            sums = setup.eval_step(sums, variables, self.batches, self.masks, i)
        return sums

    def read(self, sums: Any, prefix: str = "") -> dict[str, float]:
        return summarize(sums, self.setup.metrics, prefix)
