"""data_parallel: each batch split across devices computes the one-device step.

The test session has one XLA device, so this module's tests run again in a
process with two CPU devices (``test_on_two_cpu_devices``); there they compare
a step on two devices with the same step on one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnlang.train.config import parse_train_settings
from nnlang.train.history import Callback, TrainingInterrupted
from nnlang.train.loop import fit, predict
from nnlang.train.setup import Evaluator, build_setup, on_devices
from nnlang.train.step import epoch_order, fresh_carry
from nnlang.train.testing import tiny_dataset, tiny_model
from nnlang.values import CallValue, Word

pytestmark = pytest.mark.jax
W, C = Word, CallValue
ROOT = Path(__file__).resolve().parent.parent
two_devices = pytest.mark.skipif(
    len(jax.devices()) < 2, reason="needs two devices: test_on_two_cpu_devices runs it"
)


def test_on_two_cpu_devices():
    """Runs this module in a process where XLA:CPU has two devices."""
    if len(jax.devices()) >= 2:
        pytest.skip("this process has the devices: the tests below run here")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " skipped" in done.stdout  # only this one


def config(**settings):
    settings.setdefault("batch", 32)
    settings.setdefault("fuse_epochs", False)
    return parse_train_settings(settings, outputs=["output"])


def close(a, b, tol=2e-5):
    return all(
        jax.tree.leaves(
            jax.tree.map(lambda x, y: np.allclose(x, y, rtol=tol, atol=tol), a, b)
        )
    )


def one_epoch(setup, fused: bool):
    order = epoch_order(setup.shuffle_key, 0, setup.n_train, setup.steps * setup.batch)
    order = jax.device_put(order, jax.tree.leaves(setup.state)[0].sharding)
    if fused:
        return setup.fns.epoch(setup.state, setup.train, order, setup.steps)
    carry = fresh_carry(setup.state, setup.zero_sums)
    for _ in range(setup.steps):
        carry = setup.fns.step(carry, setup.train, order)
    return carry


@two_devices
@pytest.mark.parametrize("fused", [False, True])
def test_a_split_batch_takes_the_one_device_step(fused):
    # 90 rows, batch 32: the last batch has 26 real rows, 16 and 10 per device,
    # so each shard's gradient must be weighted by its share of the rows; an
    # L2 penalty is added once, not once per device.
    model = tiny_model(3, activation="softmax", penalties={"dense_0": (0.0, 1e-2)})
    data = tiny_dataset(n=90, val=20)
    setup = build_setup(model, data, config())
    assert setup.parallel_mesh is not None and setup.parallel_mesh.size == 2
    two = on_devices(setup, setup.parallel_mesh)
    one = one_epoch(setup, fused)
    split = one_epoch(two, fused)
    assert close(one.state.params, split.state.params)
    assert close(one.sums, split.sums) and int(split.pos) == setup.steps == 3
    assert len(split.state.params["dense_0"]["kernel"].sharding.device_set) == 2
    # evaluation splits the batch too, and scores the same
    assert close(
        Evaluator(setup, setup.evals["val"])(one.state.params, {}),
        Evaluator(two, two.evals["val"])(split.state.params, {}),
    )


class Notes(Callback):
    def on_train_begin(self, info):
        self.info = info


@two_devices
def test_fit_on_two_devices_learns_and_returns_variables_on_one():
    data = tiny_dataset(n=256, val=64, test=64)
    notes = Notes()
    history = fit(
        tiny_model(3, activation="softmax", dropout=0.1),
        data,
        config(epochs=8, fuse_epochs=True, data_parallel=True, optimizer=C(
            "adam", (), {"lr": 0.02})),
        verbose=0,
        callbacks=[notes],
    )  # fmt: skip
    assert notes.info.devices == history.devices == 2 and history.fused
    assert history.rows[-1]["val_accuracy"] > 0.7 and history.test["accuracy"] > 0.7
    kernel = history.variables["params"]["dense_0"]["kernel"]
    assert len(kernel.sharding.device_set) == 1
    probs = predict(tiny_model(3, activation="softmax"), history.variables, data.test.x)
    assert np.allclose(probs["output"].sum(axis=1), 1.0, atol=1e-5)


@two_devices
def test_bf16_parameters_train_on_two_devices():
    # the gradients are summed in f32 and come back in the parameters' dtype
    history = fit(
        tiny_model(3, activation="softmax"),
        tiny_dataset(n=256),
        config(epochs=6, fuse_epochs=True, data_parallel=True, precision=W("bf16"),
               optimizer=C("adam", (), {"lr": 0.02})),
        verbose=0,
    )  # fmt: skip
    assert history.devices == 2
    assert history.variables["params"]["dense_0"]["kernel"].dtype == jnp.bfloat16
    assert history.rows[-1]["accuracy"] > 0.7


class InterruptAt(Callback):
    def __init__(self, epoch, step):
        self.epoch, self.step = epoch, step

    def on_step_end(self, epoch, step, peek):
        if (epoch, step) == (self.epoch, self.step):
            raise KeyboardInterrupt


@two_devices
def test_an_interrupted_run_on_two_devices_resumes_bit_for_bit(tmp_path):
    # dropout draws per-device keys from the state's rng: a resumed run draws the same
    data, model = tiny_dataset(val=16), tiny_model(3, activation="softmax", dropout=0.2)
    cfg = config(epochs=3, data_parallel=True)
    straight = fit(model, data, cfg, verbose=0)
    with pytest.raises(TrainingInterrupted):
        fit(
            model, data, cfg, verbose=0, out_dir=tmp_path, callbacks=[InterruptAt(2, 2)]
        )
    resumed = fit(model, data, cfg, verbose=0, resume=tmp_path)
    assert straight.devices == resumed.devices == 2
    timing = ("time", "samples_per_s")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(resumed.rows) == strip(straight.rows)
    assert all(
        bool(jnp.array_equal(a, b))
        for a, b in zip(
            jax.tree.leaves(resumed.variables), jax.tree.leaves(straight.variables),
            strict=True,
        )
    )  # fmt: skip


@two_devices
@pytest.mark.parametrize(
    "model, settings, why",
    [
        (dict(batchnorm=True), {}, "batch statistics are per batch, not per shard"),
        ({}, dict(batch=31), "batch 31 does not split over 2 devices"),
        ({}, dict(batch=14), "into shards of 8 rows or more"),
        ({}, dict(optimizer=W("lbfgs")), "lbfgs needs the whole batch on one device"),
    ],
)
def test_what_cannot_be_split_stays_on_one_device(model, settings, why):
    notes = Notes()
    cfg = config(epochs=1, data_parallel=True, **settings)
    history = fit(tiny_model(3, activation="softmax", **model), tiny_dataset(), cfg,
                  verbose=0, callbacks=[notes])  # fmt: skip
    assert history.devices == 1 and why in notes.info.fuse_note


def test_use_cpu_cores_sets_the_device_count_before_jax_starts():
    code = (
        "from nnlang.train.devices import use_cpu_cores; print(use_cpu_cores(2));"
        "import jax; print(len(jax.devices('cpu'))); print(use_cpu_cores(2))"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()  # fmt: skip
    assert out == ["2", "2", "None"]  # the second call finds the backend started
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=3"  # the user's choice
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()  # fmt: skip
    assert out == ["None", "3", "None"]
