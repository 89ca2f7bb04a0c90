"""Peer (c): Keras 3 on the JAX backend, ``model.fit`` as a Keras user calls it.

The models are the workloads in Keras' own layers with their defaults (which
nnc's defaults follow: glorot-uniform kernels, batchnorm momentum 0.99 and
eps 1e-3, Adam eps 1e-7), a softmax output with
``sparse_categorical_crossentropy`` or a linear one with ``mse``. Each round
calls ``fit(x, y, batch_size, epochs=k, shuffle=True)`` on the in-memory
NumPy arrays: Keras compiles its train step with XLA (``jit_compile`` is on
by default for JAX) and feeds one batch per step from the host. The models
use their own initialisation; only speed is compared, the parameter counts
are checked in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.peers.base import PeerUnavailable, Startup, timed_start


def import_keras() -> Any:
    """Keras on the JAX backend, or :class:`PeerUnavailable`."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as exc:
        raise PeerUnavailable(
            f"keras is not installed ({exc}); pip install -e .[bench]"
        ) from None
    if keras.backend.backend() != "jax":
        raise PeerUnavailable(
            f"keras runs on {keras.backend.backend()}; set KERAS_BACKEND=jax"
        )
    return keras


def _conv_bn(keras: Any, x: Any, filters: int, kernel: int = 3, stride: int = 1):
    layers = keras.layers
    conv = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False
    )
    return layers.ReLU()(layers.BatchNormalization()(conv(x)))


def _bottleneck(keras: Any, x: Any, filters: int, stride: int = 1,
                project: bool = False):  # fmt: skip
    layers = keras.layers
    y = _conv_bn(keras, x, filters, 1, stride)
    y = _conv_bn(keras, y, filters, 3)
    y = layers.Conv2D(4 * filters, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    s = x
    if project:
        s = layers.Conv2D(4 * filters, 1, strides=stride, use_bias=False)(x)
        s = layers.BatchNormalization()(s)
    return layers.ReLU()(layers.Add()([y, s]))


def _positional(keras: Any) -> Any:
    class Positional(keras.layers.Layer):
        """A learned position table added to ``[B, T, D]``."""

        def build(self, shape):
            self.table = self.add_weight(
                shape=(shape[1], shape[2]), initializer="glorot_uniform"
            )

        def call(self, x):
            return x + keras.ops.cast(self.table, x.dtype)

    return Positional()


def _encoder(keras: Any, x: Any) -> Any:
    layers = keras.layers
    a = layers.MultiHeadAttention(num_heads=4, key_dim=16)(x, x)
    h = layers.LayerNormalization(epsilon=1e-3)(layers.Add()([x, a]))
    f = layers.Dense(128, activation="relu")(h)
    f = layers.Dense(64)(f)
    return layers.LayerNormalization(epsilon=1e-3)(layers.Add()([h, f]))


def build_model(keras: Any, key: str) -> Any:
    """The Keras model of workload ``key``."""
    layers = keras.layers
    if key == "w1":
        inputs = keras.Input((64,))
        x = layers.Dense(256, activation="relu")(inputs)
        x = layers.Dense(256, activation="relu")(x)
        out = layers.Dense(10, activation="softmax")(x)
    elif key == "w2":
        inputs = keras.Input((8, 8, 1))
        x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
        x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = layers.Flatten()(layers.MaxPooling2D(2)(x))
        x = layers.Dense(128, activation="relu")(x)
        out = layers.Dense(10, activation="softmax")(x)
    elif key == "w3":
        inputs = keras.Input((50, 1))
        out = layers.Dense(1)(layers.LSTM(64)(inputs))
    elif key == "w4":
        inputs = keras.Input((32, 32, 3))
        x = _conv_bn(keras, inputs, 32)
        x = _bottleneck(keras, x, 16, project=True)
        x = _bottleneck(keras, x, 16)
        x = _bottleneck(keras, x, 32, stride=2, project=True)
        x = _bottleneck(keras, x, 32)
        x = layers.GlobalAveragePooling2D()(x)
        out = layers.Dense(10, activation="softmax")(x)
    elif key == "w5":
        inputs = keras.Input((64,), dtype="int32")
        x = _positional(keras)(layers.Embedding(1000, 64)(inputs))
        x = _encoder(keras, _encoder(keras, x))
        x = layers.GlobalAveragePooling1D()(x)
        out = layers.Dense(2, activation="softmax")(x)
    else:
        raise KeyError(key)
    return keras.Model(inputs, out)


class KerasTrainer:
    """``model.fit`` for ``k`` epochs per round."""

    def __init__(self, task: Any):
        self.task = task
        self.keras = import_keras()
        self._last = float("nan")

    def start(self) -> Startup:
        def cold() -> str:
            keras, task = self.keras, self.task
            policy = {"bf16": "bfloat16", "mixed": "mixed_bfloat16"}.get(
                task.precision, "float32"
            )
            keras.config.set_dtype_policy(policy)
            try:
                self.model = build_model(keras, task.workload.key)
            finally:
                keras.config.set_dtype_policy("float32")
            loss = "mse" if task.loss == "mse" else "sparse_categorical_crossentropy"
            self.model.compile(optimizer=keras.optimizers.Adam(task.lr), loss=loss)
            self._fit(1)
            return ""

        return timed_start(cold)

    def run_epochs(self, k: int) -> float:
        start = time.perf_counter()
        self._fit(k)
        return time.perf_counter() - start

    def _fit(self, k: int) -> None:
        task = self.task
        history = self.model.fit(
            task.x, task.y, batch_size=task.batch, epochs=k, shuffle=True, verbose=0
        )
        self._last = float(history.history["loss"][-1])

    def last_loss(self) -> float:
        return self._last

    def close(self) -> None:
        self.model = None


def make(task: Any) -> KerasTrainer:
    """Peer (c) for ``task``; :class:`PeerUnavailable` without Keras."""
    return KerasTrainer(task)
