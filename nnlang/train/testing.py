"""Small models and synthetic data for testing the trainer (and compilers of it).

:func:`tiny_model` builds a :class:`~nnlang.train.model.LinenModel` of one or
two dense layers, optionally with dropout, batch norm and several heads;
:func:`tiny_dataset` draws a learnable synthetic problem.
:func:`check_trainable` runs the protocol checks a compiled model must pass.

Examples:
    >>> ds = tiny_dataset("binary", n=8)
    >>> ds.train.x.shape, ds.num_classes
    ((8, 4), 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nnlang.data.dataset import Dataset, Split
from nnlang.train.model import LinenModel, TrainableModel


class _Tiny(nn.Module):
    heads: tuple[tuple[str, int, str | None], ...]  # (name, units, activation)
    hidden: int = 16
    dropout: float = 0.0
    batchnorm: bool = False
    fused: tuple[str, ...] = ()  # heads whose activation is left to the loss

    @nn.compact
    def __call__(self, inputs: dict[str, jax.Array], train: bool = False):
        x = inputs["x"].astype(jnp.float32).reshape(inputs["x"].shape[0], -1)
        if self.hidden:
            x = nn.Dense(self.hidden, name="dense_0")(x)
            if self.batchnorm:
                x = nn.BatchNorm(use_running_average=not train, name="batchnorm_0")(x)
            x = nn.relu(x)
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        out = {}
        for name, units, act in self.heads:
            y = nn.Dense(units, name=name)(x)
            if act and name not in self.fused:
                y = jax.nn.softmax(y) if act == "softmax" else getattr(jax.nn, act)(y)
            out[name] = y
        return out


def tiny_model(units: int | Mapping[str, int] = 3, *, activation: str | None = None,
               fuse: bool = True, hidden: int = 16, dropout: float = 0.0,
               batchnorm: bool = False, penalties: Mapping[str, tuple[float, float]] = {},
               frozen: Sequence[str] = (), name: str | None = None) -> LinenModel:  # fmt: skip
    """A dense model: ``dense_0`` (+ batchnorm, relu, dropout), then one head per output.

    Args:
        units: units of the single head ``output``, or head name to units.
        activation: the heads' final activation (``softmax``/``sigmoid``).
        fuse: return logits and declare them in ``logits_outputs``.
        hidden: width of ``dense_0`` (0 for a linear model).
        dropout: dropout rate after ``dense_0``.
        batchnorm: batch norm after ``dense_0``.
        penalties: layer path to ``(l1, l2)``.
        frozen: layers compiled with ``trainable=false``.
        name: the model name (fusion cache key).
    """
    heads = units if isinstance(units, Mapping) else {"output": units}
    spec = tuple((h, u, activation) for h, u in heads.items())
    fused = tuple(heads) if (fuse and activation) else ()
    module = _Tiny(spec, hidden, dropout, batchnorm, fused)
    return LinenModel(
        module, ("x",), tuple(heads), {h: activation for h in fused}, dict(penalties),
        tuple(frozen), name=name or f"tiny{id(module)}",
    )  # fmt: skip


def tiny_dataset(task: str = "classification", *, n: int = 96, features: int = 4,
                 classes: int = 3, val: int = 0, test: int = 0, seed: int = 0,
                 outputs: Sequence[str] | None = None) -> Dataset:  # fmt: skip
    """A learnable synthetic problem with ``n`` training rows.

    ``classification``: int32 labels of a linear rule over ``classes``;
    ``binary``: 0/1 labels; ``regression``: float32 ``[n, 1]`` targets;
    ``distribution``: rows of class probabilities (for ``kl_divergence``).
    ``outputs`` names several heads that share the targets (dict ``y``).
    """
    rng = np.random.default_rng(seed)
    total = n + val + test
    x = rng.normal(size=(total, features)).astype(np.float32)
    w = rng.normal(size=(features, classes))
    scores = x @ w
    if task == "classification":
        y: Any = np.argmax(scores, axis=1).astype(np.int32)
    elif task == "binary":
        y, classes = (scores[:, 0] > 0).astype(np.int32), 2
    elif task == "distribution":
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        y = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    else:
        y = (scores[:, :1] + 0.1 * rng.normal(size=(total, 1))).astype(np.float32)
    kind = "regression" if task in ("regression", "distribution") else task

    def split(lo: int, hi: int) -> Split:
        ys = {o: y[lo:hi] for o in outputs} if outputs else y[lo:hi]
        return Split(x[lo:hi], ys)

    y_shape = tuple(y.shape[1:])
    return Dataset(
        split(0, n), split(n, n + val), split(n + val, total), kind,
        classes if kind != "regression" else None, (features,),
        {o: y_shape for o in outputs} if outputs else y_shape, "float32",
    )  # fmt: skip


def check_trainable(model: TrainableModel, sample_inputs: dict[str, Any]) -> None:
    """Assert the :class:`TrainableModel` contract on one batch of inputs.

    Raises:
        AssertionError: naming the broken part of the contract.
    """
    variables = model.init(jax.random.PRNGKey(0), sample_inputs)
    assert "params" in variables, "init must return a dict with 'params'"
    rngs = {n: jax.random.PRNGKey(1) for n in getattr(model, "rng_names", ("dropout",))}
    for train in (False, True):
        out, state = model.apply(variables, sample_inputs, train=train, rngs=rngs)
        assert set(out) == set(model.output_names), f"outputs {set(out)}"
        assert isinstance(state, Mapping), "apply must return (outputs, new_state)"
    fused = model.logits_outputs
    if isinstance(fused, Mapping):
        assert all(v in ("softmax", "sigmoid") for v in fused.values()), fused
    for path in model.penalties:
        node: Any = variables["params"]
        for part in path.split("/"):
            assert part in node, f"penalty path '{path}' is not in params"
            node = node[part]


@contextmanager
def compilation_cache(directory: str | Path) -> Iterator[Path]:
    """Use a persistent XLA cache in ``directory`` inside the block, then restore.

    Tests fit the same tiny programs many times; with the cache each one
    compiles once. The previous settings come back on exit.
    """
    from nnlang.train.cache import _reset_compilation_cache, enable_compilation_cache

    names = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    from nnlang.train import fusion

    old = {name: getattr(jax.config, name) for name in names}
    old_disk = fusion._DISK
    try:
        yield enable_compilation_cache(directory)
    finally:
        for name, value in old.items():
            jax.config.update(name, value)
        _reset_compilation_cache()
        fusion.persist(old_disk)
