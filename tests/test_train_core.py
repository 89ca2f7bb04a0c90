"""Losses, metrics, schedules and the optax chain against reference values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as skm

from nnlang.train import losses as L
from nnlang.train.config import Option, parse_train_settings
from nnlang.train.metrics import get_metric
from nnlang.train.optim import (
    build_optimizer,
    build_plateau,
    build_schedule,
    freeze_labels,
    plateau_step,
)
from nnlang.values import CallValue, Word

pytestmark = pytest.mark.jax

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)
LABELS = np.array([0, 3, 1, 1, 2, 0], np.int32)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- losses


def test_cross_entropy_integer_onehot_fused_and_probabilities():
    ref = -np.log(softmax(LOGITS)[np.arange(6), LABELS])
    onehot = np.eye(4, dtype=np.float32)[LABELS]
    np.testing.assert_allclose(
        L.cross_entropy(LOGITS, LABELS, logits="softmax"), ref, rtol=1e-5
    )
    np.testing.assert_allclose(
        L.cross_entropy(LOGITS, onehot, logits="softmax"), ref, rtol=1e-5
    )
    probs = softmax(LOGITS)
    np.testing.assert_allclose(L.cross_entropy(probs, LABELS), ref, rtol=1e-4)
    np.testing.assert_allclose(L.cross_entropy(probs, LABELS[:, None]), ref, rtol=1e-4)


def test_fused_cross_entropy_is_stable_where_probabilities_saturate():
    big = jnp.array([[1000.0, 0.0]])
    assert float(L.cross_entropy(big, jnp.array([1]), logits="softmax")[0]) == 1000.0
    assert np.isclose(float(L.cross_entropy(jax.nn.softmax(big), jnp.array([1]))[0]),
                      -np.log(1e-7), rtol=1e-3)  # fmt: skip


def test_binary_cross_entropy():
    z = RNG.normal(size=(6, 1)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0], np.int32)
    p = sigmoid(z[:, 0])
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(
        L.binary_cross_entropy(z, y, logits="sigmoid"), ref, rtol=1e-5
    )
    np.testing.assert_allclose(L.binary_cross_entropy(p[:, None], y), ref, rtol=1e-4)


def test_kl_divergence_huber_mse_mae():
    t = softmax(RNG.normal(size=(6, 4)))
    ref_kl = np.sum(t * (np.log(t) - np.log(softmax(LOGITS))), -1)
    np.testing.assert_allclose(
        L.kl_divergence(LOGITS, t, logits="softmax"), ref_kl, rtol=1e-4
    )
    np.testing.assert_allclose(L.kl_divergence(softmax(LOGITS), t), ref_kl, rtol=1e-3)
    target = RNG.normal(size=(6, 4)).astype(np.float32)
    d = LOGITS - target
    huber = np.where(np.abs(d) <= 0.5, 0.5 * d**2, 0.5 * (np.abs(d) - 0.25)).mean(-1)
    np.testing.assert_allclose(L.huber(LOGITS, target, delta=0.5), huber, rtol=1e-5)
    np.testing.assert_allclose(L.mse(LOGITS, target), (d**2).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(L.mae(LOGITS, target), np.abs(d).mean(-1), rtol=1e-5)
    # a loss that does not match the fused activation applies it first
    np.testing.assert_allclose(L.mse(LOGITS, target, logits="softmax"),
                               ((softmax(LOGITS) - target) ** 2).mean(-1), rtol=1e-5)  # fmt: skip
    # [B] targets line up with a [B, 1] head
    np.testing.assert_allclose(
        L.mse(LOGITS[:, :1], target[:, 0]), d[:, 0] ** 2, rtol=1e-5
    )


def test_get_loss_binds_parameters():
    fn = L.get_loss(Option("huber", {"delta": 0.5}))
    target = np.zeros((6, 4), np.float32)
    np.testing.assert_allclose(fn(LOGITS, target), L.huber(LOGITS, target, delta=0.5))


def test_kernel_penalty():
    params = {
        "block": {"conv_0": {"kernel": jnp.full((2, 2), -2.0), "bias": jnp.ones(2)}},
        "dense_0": {"kernel": jnp.ones((3,)), "bias": jnp.ones(3)},
    }
    penalty = L.kernel_penalty(
        params, {"block/conv_0": (0.1, 0.0), "dense_0": (0.0, 0.5)}
    )
    assert np.isclose(float(penalty), 0.1 * 8 + 0.5 * 3)
    assert float(L.kernel_penalty(params, {})) == 0.0
    with pytest.raises(KeyError, match="no layer 'block/conv_9'"):
        L.kernel_penalty(params, {"block/conv_9": (0.1, 0)})


# ---------------------------------------------------------------- metrics


def run_metric(name, pred, target, mask=None, chunks=2, **params):
    """Accumulate a metric over ``chunks`` batches, as the loop does."""
    metric = get_metric(Option(name, params))
    mask = np.ones(len(pred), np.float32) if mask is None else mask
    total = None
    for p, t, m in zip(
        *(np.array_split(a, chunks) for a in (pred, target, mask)), strict=True
    ):
        sums = metric.update(jnp.asarray(p), jnp.asarray(t), jnp.asarray(m))
        total = sums if total is None else jax.tree.map(jnp.add, total, sums)
    return metric.result({k: np.asarray(v) for k, v in total.items()})


def test_classification_metrics_match_sklearn():
    n, k = 60, 5
    probs = softmax(RNG.normal(size=(n, k)))
    y = RNG.integers(
        0, k - 1, size=n
    )  # class 4 never a target: macro over present classes
    pred = probs.argmax(-1)
    assert np.isclose(run_metric("accuracy", probs, y), skm.accuracy_score(y, pred))
    assert np.isclose(run_metric("top_k", probs, y, k=2),
                      skm.top_k_accuracy_score(y, probs, k=2, labels=range(k)))  # fmt: skip
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):  # fmt: skip
        ref = fn(y, pred, average="macro", zero_division=0)
        assert np.isclose(run_metric(name, probs, y), ref), name
    onehot = np.eye(k)[y]
    assert np.isclose(
        run_metric("accuracy", probs, onehot), skm.accuracy_score(y, pred)
    )


def test_binary_metrics_match_sklearn():
    p = RNG.uniform(size=(50, 1))
    y = RNG.integers(0, 2, size=50)
    pred = (p[:, 0] > 0.5).astype(int)
    assert np.isclose(run_metric("accuracy", p, y), skm.accuracy_score(y, pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):  # fmt: skip
        assert np.isclose(run_metric(name, p, y), fn(y, pred)), name
    two = np.concatenate([1 - p, p], axis=1)  # a 2-unit softmax head is binary too
    assert np.isclose(run_metric("f1", two, y), skm.f1_score(y, pred))


def test_masked_regression_metrics():
    pred = RNG.normal(size=(10, 2))
    y = RNG.normal(size=(10, 2))
    mask = np.array([1] * 7 + [0] * 3, np.float32)
    assert np.isclose(run_metric("mse", pred, y, mask),
                      skm.mean_squared_error(y[:7], pred[:7]))  # fmt: skip
    assert np.isclose(run_metric("mae", pred, y, mask),
                      skm.mean_absolute_error(y[:7], pred[:7]))  # fmt: skip
    probs = softmax(pred)
    labels = RNG.integers(0, 2, size=10)
    assert np.isclose(run_metric("accuracy", probs, labels, mask),
                      np.mean(probs[:7].argmax(-1) == labels[:7]))  # fmt: skip


# ---------------------------------------------------------------- schedules


def schedule(call, lr=1.0, spe=10, epochs=11):
    option = parse_train_settings({"schedule": call}, outputs=["y"]).schedule
    fn = build_schedule(option, lr=lr, steps_per_epoch=spe, epochs=epochs)
    return lambda step: float(fn(step))


@pytest.mark.parametrize(
    "call, points",
    [
        (Word("constant"), {0: 1.0, 500: 1.0}),
        (CallValue("step", (10, 0.5)), {0: 1.0, 9: 1.0, 10: 0.5, 25: 0.25}),
        (CallValue("step", (), {"every_epochs": 2, "factor": 0.1}),
         {19: 1.0, 20: 0.1, 40: 0.01}),
        (CallValue("exponential", (0.5,), {"every": 10}), {0: 1.0, 5: 0.5**0.5, 20: 0.25}),
        (CallValue("cosine", (), {"warmup": 10, "alpha": 0.1}),
         {0: 0.0, 5: 0.5, 10: 1.0, 60: 0.55, 110: 0.1}),
        (CallValue("cosine", (), {"warmup_epochs": 1}), {5: 0.5, 10: 1.0, 110: 0.0}),
        (CallValue("cosine", ()), {0: 1.0, 55: 0.5, 110: 0.0}),
        (CallValue("one_cycle", (), {"max_lr": 2.0}),
         {0: 2.0 / 25, 33: 2.0, 110: 2.0 / 25 / 1e4}),
        (Word("reduce_on_plateau"), {0: 1.0, 100: 1.0}),
    ],
)  # fmt: skip
def test_schedule_curves(call, points):
    lr = schedule(call)
    for step, expected in points.items():
        assert np.isclose(lr(step), expected, rtol=1e-4, atol=1e-9), (step, lr(step))


def test_one_cycle_defaults_to_the_optimizer_lr():
    assert np.isclose(schedule(Word("one_cycle"), lr=0.5)(33), 0.5)


def test_reduce_on_plateau_scales_after_patience():
    cfg = parse_train_settings(
        {
            "schedule": CallValue(
                "reduce_on_plateau", (), {"patience": 2, "factor": 0.5}
            )
        },
        outputs=["y"],
    )
    tx = build_plateau(cfg)
    state = tx.init({"w": jnp.zeros(2)})
    scales = []
    for value in [1.0, 0.5, 0.6, 0.6, 0.7, 0.7, 0.4]:
        state = plateau_step(tx, state, jnp.float32(value))
        scales.append(float(state.scale))
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    # patience=0 is Keras': reduce after every epoch without improvement, only then
    keras0 = build_plateau(
        parse_train_settings(
            {"schedule": CallValue("reduce_on_plateau", (), {"patience": 0})},
            outputs=["y"],
        )
    )
    state = keras0.init({"w": jnp.zeros(2)})
    scales = []
    for value in [1.0, 0.9, 0.95, 0.8]:
        state = plateau_step(keras0, state, jnp.float32(value))
        scales.append(round(float(state.scale), 6))
    assert scales == [1.0, 1.0, 0.1, 0.1]


# ---------------------------------------------------------------- the optax chain


def config(**settings):
    return parse_train_settings(settings, outputs=["y"])


def one_update(cfg, params, grads, frozen=()):
    tx = build_optimizer(cfg, params, steps_per_epoch=1, frozen=frozen)
    updates, _ = tx.update(grads, tx.init(params), params)
    return optax.apply_updates(params, updates)


def test_decoupled_weight_decay_and_clip():
    params = {"w": jnp.array([2.0, -4.0])}
    zero = {"w": jnp.zeros(2)}
    out = one_update(
        config(optimizer=CallValue("sgd", (0.1,)), weight_decay=0.5), params, zero
    )
    np.testing.assert_allclose(out["w"], [2.0 * 0.95, -4.0 * 0.95])
    grads = {"w": jnp.array([6.0, 8.0])}
    out = one_update(
        config(optimizer=CallValue("sgd", (1.0,)), clip=1.0), params, grads
    )
    np.testing.assert_allclose(params["w"] - out["w"], [0.6, 0.8], rtol=1e-6)


def test_adam_and_rmsprop_follow_keras():
    params = {"w": jnp.array([1.0])}
    g = {"w": jnp.array([0.5])}
    out = one_update(config(optimizer=CallValue("rmsprop", (0.01,))), params, g)
    v = 0.1 * 0.25
    np.testing.assert_allclose(
        out["w"], 1.0 - 0.01 * 0.5 / (np.sqrt(v) + 1e-7), rtol=1e-6
    )
    out = one_update(config(optimizer=Word("adam")), params, g)
    np.testing.assert_allclose(out["w"], 1.0 - 1e-3 * 0.5 / (0.5 + 1e-7), rtol=1e-6)


def test_freeze_paths():
    params = {
        "block": {"conv_0": {"kernel": jnp.ones(2)}, "conv_1": {"kernel": jnp.ones(2)}},
        "dense_0": {"kernel": jnp.ones(2)},
    }
    grads = jax.tree.map(jnp.ones_like, params)
    cfg = config(optimizer=CallValue("sgd", (0.5,)), freeze=["block/conv_0"])
    out = one_update(cfg, params, grads, frozen=["dense_0"])
    assert float(out["block"]["conv_0"]["kernel"][0]) == 1.0
    assert float(out["dense_0"]["kernel"][0]) == 1.0
    assert float(out["block"]["conv_1"]["kernel"][0]) == 0.5
    labels = freeze_labels(params, ["block"])
    assert labels["block"]["conv_1"]["kernel"] == "frozen"
    assert labels["dense_0"]["kernel"] == "train"
    with pytest.raises(KeyError):
        freeze_labels(params, ["block/conv_7"])
