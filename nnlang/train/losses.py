"""Loss functions, one per ``LOSSES`` entry, plus L1/L2 kernel penalties.

Every loss maps a batch of predictions and targets to one value per example
(shape ``[batch]``); the training step weights these by the padding mask and
averages, so the last partial batch counts each real example exactly once.

The ``logits`` argument carries the model's fused final activation. A model
that ends in ``softmax`` or ``sigmoid`` returns the pre-activation values for
that output (see ``TrainableModel.logits_outputs``) and says which activation
it left out. A loss that matches fuses it for numerical stability
(``cross_entropy``/``kl_divergence`` with ``softmax`` use ``log_softmax``,
``binary_cross_entropy`` with ``sigmoid`` uses the log-sigmoid form); any
other loss applies the activation first, so every combination is correct.

Examples:
    >>> import jax.numpy as jnp
    >>> logits = jnp.array([[2.0, 0.0, -1.0]])
    >>> ce = cross_entropy(logits, jnp.array([0]), logits="softmax")
    >>> bool(jnp.allclose(ce, -jax.nn.log_softmax(logits)[:, 0]))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from nnlang.train.config import Option

Activation = Literal["softmax", "sigmoid"] | None
EPS = 1e-7  # Keras' epsilon for clipping probabilities
KERNEL_NAMES = ("kernel", "embedding")
"""Parameter leaves that ``l1=``/``l2=`` penalise (weights, not biases or scales)."""


def activate(x: jax.Array, activation: Activation) -> jax.Array:
    """Apply the final activation that a model left for the loss to fuse."""
    if activation == "softmax":
        return jax.nn.softmax(x, axis=-1)
    if activation == "sigmoid":
        return jax.nn.sigmoid(x)
    return x


def per_example(x: jax.Array) -> jax.Array:
    """Average every axis but the leading batch axis."""
    return x.reshape(x.shape[0], -1).mean(axis=1) if x.ndim > 1 else x


def align_target(target: jax.Array, pred: jax.Array) -> jax.Array:
    """Reshape ``target`` to ``pred``'s shape when their sizes match ([B] vs [B, 1])."""
    if target.shape != pred.shape and target.size == pred.size:
        target = target.reshape(pred.shape)
    return target.astype(pred.dtype)


def is_sparse(target: jax.Array, pred: jax.Array) -> bool:
    """Integer class ids (``[B, ...]``) rather than one-hot rows (``[B, ..., C]``)."""
    return jnp.issubdtype(target.dtype, jnp.integer) and target.shape != pred.shape


def mse(pred: jax.Array, target: jax.Array, *, logits: Activation = None) -> jax.Array:
    """Mean squared error per example."""
    pred = activate(pred, logits)
    return per_example(jnp.square(pred - align_target(target, pred)))


def mae(pred: jax.Array, target: jax.Array, *, logits: Activation = None) -> jax.Array:
    """Mean absolute error per example."""
    pred = activate(pred, logits)
    return per_example(jnp.abs(pred - align_target(target, pred)))


def huber(
    pred: jax.Array, target: jax.Array, *, logits: Activation = None, delta: float = 1.0
) -> jax.Array:
    """Huber loss per example: ``0.5 x**2`` within ``delta``, linear outside."""
    pred = activate(pred, logits)
    return per_example(optax.huber_loss(pred, align_target(target, pred), delta=delta))


def log_probs(pred: jax.Array, logits: Activation) -> jax.Array:
    """Log-probabilities over the last axis, fusing a softmax when possible."""
    if logits == "softmax":
        return jax.nn.log_softmax(pred, axis=-1)
    probs = activate(pred, logits)
    probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
    return jnp.log(jnp.clip(probs, EPS, 1.0 - EPS))


def cross_entropy(
    pred: jax.Array,
    target: jax.Array,
    *,
    logits: Activation = None,
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Categorical cross-entropy per example, for integer or one-hot labels.

    Integer labels have one axis fewer than ``pred`` (or a trailing axis of
    1); anything else is read as a distribution over the last axis.
    """
    logp = log_probs(pred, logits)
    classes = pred.shape[-1]
    if is_sparse(target, pred):
        target = target.reshape(pred.shape[:-1])
        target = jax.nn.one_hot(target, classes, dtype=logp.dtype)
    target = target.astype(logp.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    return per_example(-jnp.sum(target * logp, axis=-1))


def binary_cross_entropy(
    pred: jax.Array, target: jax.Array, *, logits: Activation = None
) -> jax.Array:
    """Binary cross-entropy per example on 0/1 (or soft) targets."""
    target = align_target(target, pred)
    if logits == "sigmoid":
        return per_example(optax.sigmoid_binary_cross_entropy(pred, target))
    p = jnp.clip(activate(pred, logits), EPS, 1.0 - EPS)
    return per_example(-(target * jnp.log(p) + (1.0 - target) * jnp.log1p(-p)))


def kl_divergence(
    pred: jax.Array, target: jax.Array, *, logits: Activation = None
) -> jax.Array:
    """``KL(target || pred)`` per example, over the last axis (Keras clipping)."""
    logp = log_probs(pred, logits)
    if is_sparse(target, pred):
        target = jax.nn.one_hot(target.reshape(pred.shape[:-1]), pred.shape[-1])
    t = jnp.clip(target.astype(logp.dtype), EPS, 1.0)
    return per_example(jnp.sum(t * (jnp.log(t) - logp), axis=-1))


LOSS_FUNCTIONS: dict[str, Callable[..., jax.Array]] = {
    "mse": mse,
    "mae": mae,
    "huber": huber,
    "cross_entropy": cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "kl_divergence": kl_divergence,
}


def get_loss(option: Option) -> Callable[..., jax.Array]:
    """The per-example loss ``fn(pred, target, *, logits)`` for a bound option."""
    fn = LOSS_FUNCTIONS[option.name]
    params = {k: v for k, v in option.params.items() if v is not None}
    if not params:
        return fn

    def loss(
        pred: jax.Array, target: jax.Array, *, logits: Activation = None
    ) -> jax.Array:
        return fn(pred, target, logits=logits, **params)

    loss.__name__ = option.name
    return loss


# ---------------------------------------------------------------- penalties


def find_subtree(tree: Mapping[str, Any], path: str) -> Any:
    """The subtree at a `.nn` layer path such as ``"conv_bn_1/conv_0"``.

    Raises:
        KeyError: a component of the path is missing; the message names it.
    """
    node: Any = tree
    for part in path.strip("/").split("/"):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"no layer '{path}' in the parameters (missing '{part}')")
        node = node[part]
    return node


def kernel_penalty(
    params: Mapping[str, Any], penalties: Mapping[str, tuple[float, float]]
) -> jax.Array:
    """Sum of ``l1 * sum|w| + l2 * sum w**2`` over the kernels of penalised layers.

    Keras' convention (no factor 1/2 on the L2 term). A kernel is any leaf
    named in :data:`KERNEL_NAMES` inside the layer's subtree.

    Args:
        params: the ``params`` collection, nested dicts keyed by layer name.
        penalties: layer path to ``(l1, l2)``, from the compiled model.

    Returns:
        A float32 scalar (0 when ``penalties`` is empty).
    """
    total = jnp.zeros((), jnp.float32)
    for path, (l1, l2) in penalties.items():
        for leaf_path, w in jax.tree_util.tree_leaves_with_path(
            find_subtree(params, path)
        ):
            if _leaf_name(leaf_path) not in KERNEL_NAMES:
                continue
            w = w.astype(jnp.float32)
            if l1:
                total += l1 * jnp.sum(jnp.abs(w))
            if l2:
                total += l2 * jnp.sum(jnp.square(w))
    return total


def _leaf_name(path: tuple) -> str:
    last = path[-1] if path else None
    return str(getattr(last, "key", getattr(last, "name", last)))
