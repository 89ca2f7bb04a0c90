"""fit(): every loss and optimiser trains; masking, fusion, determinism, resume,
divergence, interruption, early stopping and the run directory."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnlang.train import fusion
from nnlang.train.checkpoint import load_variables
from nnlang.train.config import TrainConfigError, parse_train_settings
from nnlang.train.history import Callback, TrainingDiverged, TrainingInterrupted
from nnlang.train.loop import evaluate, fit, predict
from nnlang.train.setup import build_setup
from nnlang.train.step import epoch_order, fresh_carry
from nnlang.train.testing import (
    check_trainable,
    compilation_cache,
    tiny_dataset,
    tiny_model,
)
from nnlang.values import CallValue, Word

pytestmark = pytest.mark.jax
W, C = Word, CallValue
TIMING = ("time", "samples_per_s")


@pytest.fixture(scope="module", autouse=True)
def _xla_cache(tmp_path_factory):
    """Tests fit the same small programs many times: compile each once."""
    with compilation_cache(tmp_path_factory.mktemp("xla")):
        yield


def config(outputs=("output",), **settings):
    settings.setdefault("fuse_epochs", False)
    settings.setdefault("batch", 32)
    return parse_train_settings(settings, outputs=list(outputs))


def rows(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history.rows]


def same_tree(a, b):
    return all(
        jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b))
    )


PROBLEMS = {
    "mse": ("regression", dict(units=1)),
    "mae": ("regression", dict(units=1)),
    "huber": ("regression", dict(units=1)),
    "cross_entropy": ("classification", dict(units=3, activation="softmax")),
    "binary_cross_entropy": ("binary", dict(units=1, activation="sigmoid")),
    "kl_divergence": ("distribution", dict(units=3, activation="softmax")),
}


@pytest.mark.parametrize("loss", sorted(PROBLEMS))
def test_each_loss_lowers_the_loss(loss):
    task, kw = PROBLEMS[loss]
    history = fit(tiny_model(**kw), tiny_dataset(task), verbose=0, config=config(
        loss=W(loss), optimizer=C("adam", (0.03,)), epochs=4))  # fmt: skip
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]


@pytest.mark.parametrize(
    "optimizer",
    [C("sgd", (0.2, 0.9, True)), C("adam", (0.03,)), C("adamw", (0.03,)),
     C("rmsprop", (0.01,)), C("adagrad", (0.3,)), C("lamb", (0.03,))],
    ids=lambda o: o.name,
)  # fmt: skip
def test_each_optimizer_lowers_the_loss(optimizer):
    history = fit(tiny_model(3, activation="softmax"), tiny_dataset(), verbose=0,
                  config=config(optimizer=optimizer, epochs=4))  # fmt: skip
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]


def test_lbfgs_takes_full_batch_steps_and_honours_freeze():
    model = tiny_model(3, activation="softmax")
    cfg = config(optimizer=W("lbfgs"), epochs=4, freeze=["dense_0"])
    history = fit(model, tiny_dataset(), cfg, verbose=0)
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    start = fit(model, tiny_dataset(), config(optimizer=C("sgd", (0.0,)), epochs=1),
                verbose=0)  # fmt: skip
    p, q = history.variables["params"], start.variables["params"]
    assert same_tree(p["dense_0"], q["dense_0"]) and not same_tree(
        p["output"], q["output"]
    )


def test_partial_batch_is_masked_not_dropped_and_compiled_once():
    data = tiny_dataset(n=50, test=23)
    model = tiny_model(3, activation="softmax", penalties={"dense_0": (0.0, 0.01)})
    cfg = config(
        batch=16, optimizer=C("sgd", (0.0,)), epochs=1, metrics=[W("accuracy")]
    )
    history = fit(model, data, cfg, verbose=0)
    variables = history.variables
    apply = jax.jit(lambda v, x: model.apply(v, {"x": x}, train=False)[0])
    for x, y, logs in ((data.train.x, data.train.y, history.rows[0]),
                       (data.test.x, data.test.y, history.test)):  # fmt: skip
        logits = apply(variables, x)
        logp = jax.nn.log_softmax(logits["output"])
        penalty = 0.01 * float(jnp.sum(variables["params"]["dense_0"]["kernel"] ** 2))
        ref = -float(jnp.mean(logp[jnp.arange(len(y)), y])) + penalty
        assert np.isclose(logs["loss"], ref, rtol=1e-5), (logs["loss"], ref)
        acc = float(jnp.mean(jnp.argmax(logp, -1) == y))
        assert np.isclose(logs["accuracy"], acc)
    setup = build_setup(model, data, cfg)
    assert setup.steps == 4
    carry = fresh_carry(setup.state, setup.zero_sums)
    order = epoch_order(setup.shuffle_key, 0, 50, 64)
    for _ in range(4):
        carry = setup.fns.step(carry, setup.train, order)
    assert float(carry.sums["count"]) == 50.0
    assert setup.fns.step._cache_size() == 1


def test_fused_and_per_step_epochs_agree():
    data = tiny_dataset(n=80, val=20)
    model = tiny_model(3, activation="softmax", dropout=0.2, batchnorm=True)
    runs = [fit(model, data, config(fuse_epochs=f, epochs=3, metrics=[W("accuracy")]),
                verbose=0) for f in (False, True)]  # fmt: skip
    assert runs[1].fused and not runs[0].fused
    for a, b in zip(rows(runs[0]), rows(runs[1]), strict=True):
        assert a.keys() == b.keys()
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 runs[0].variables, runs[1].variables)  # fmt: skip


def test_auto_fusion_measures_once_and_caches():
    fusion.clear_cache()
    model, data = tiny_model(3, activation="softmax", name="cached"), tiny_dataset()
    first = fit(model, data, config(fuse_epochs=W("auto"), epochs=1), verbose=0)
    key = next(iter(fusion._CACHE))
    assert fusion._CACHE[key][0] == fusion.Form(first.fused, first.devices)
    assert "measured" in fusion._CACHE[key][1]
    second = fit(model, data, config(fuse_epochs=W("auto"), epochs=1), verbose=0)
    assert second.fused == first.fused and len(fusion._CACHE) == 1


def test_same_seed_same_run_other_seed_other_run():
    data = tiny_dataset(val=16)
    model = tiny_model(3, activation="softmax", dropout=0.3)
    a, b, c = (fit(model, data, config(epochs=2, seed=s), verbose=0) for s in (1, 1, 2))
    assert rows(a) == rows(b) and same_tree(a.variables, b.variables)
    assert rows(a) != rows(c)


def test_resume_after_stopping_equals_one_run(tmp_path):
    data = tiny_dataset(val=16, test=16)
    model = tiny_model(3, activation="softmax", dropout=0.2, batchnorm=True)
    straight = fit(model, data, config(epochs=4), verbose=0, out_dir=tmp_path / "a")
    fit(model, data, config(epochs=2), verbose=0, out_dir=tmp_path / "b")
    resumed = fit(model, data, config(epochs=4), verbose=0, resume=tmp_path / "b")
    assert rows(resumed) == rows(straight) and resumed.test == straight.test
    assert same_tree(resumed.variables, straight.variables)
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


class InterruptAt(Callback):
    def __init__(self, epoch, step=None):
        self.epoch, self.step = epoch, step

    def on_step_end(self, epoch, step, peek):
        if (epoch, step) == (self.epoch, self.step):
            peek()
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs):
        if self.step is None and epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("fused, at", [(False, (2, 2)), (True, (1, None))])
def test_interrupt_saves_a_checkpoint_that_resumes_bit_for_bit(tmp_path, fused, at):
    data = tiny_dataset(val=16)
    model = tiny_model(3, activation="softmax", dropout=0.2)
    cfg = config(epochs=3, fuse_epochs=fused, schedule=C("cosine", (), {"warmup": 2}),
                 early_stop=C("early_stop", (), {"patience": 5}))  # fmt: skip
    straight = fit(model, data, cfg, verbose=0)
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, data, cfg, verbose=0, out_dir=tmp_path, callbacks=[InterruptAt(*at)])
    err = info.value
    assert err.run_dir == tmp_path and err.checkpoint.is_dir()
    assert err.epoch == at[0] + (at[1] is None) and "checkpoint saved in" in err.message
    resumed = fit(model, data, cfg, verbose=0, resume=tmp_path)
    assert rows(resumed) == rows(straight)
    assert same_tree(resumed.variables, straight.variables)


def count_epoch_dispatches(monkeypatch) -> list[int]:
    """Spy on fit's fused epoch function: the list grows by one per dispatch."""
    from nnlang.train import loop

    calls: list[int] = []

    def spying(*args, **kwargs):
        setup = build_setup(*args, **kwargs)
        epoch = setup.fns.epoch

        def counted(*a):
            calls.append(len(calls) + 1)
            return epoch(*a)

        return dataclasses.replace(setup, fns=setup.fns._replace(epoch=counted))

    monkeypatch.setattr(loop, "build_setup", spying)
    return calls


class DispatchedAtEpochEnd(Callback):
    def __init__(self, calls):
        self.calls, self.seen = calls, []

    def on_epoch_end(self, epoch, logs):
        self.seen.append(len(self.calls))


@pytest.mark.parametrize("ahead", [True, False])
def test_fused_epochs_run_one_ahead_and_train_the_same(ahead, monkeypatch):
    from nnlang.train import loop

    data = tiny_dataset(val=16, test=16)
    model = tiny_model(3, activation="softmax", dropout=0.2, batchnorm=True)
    cfg = config(epochs=4, fuse_epochs=True, metrics=[W("accuracy")])
    reference = fit(model, data, cfg, verbose=0)  # LOOK_AHEAD as shipped: on
    monkeypatch.setattr(loop, "LOOK_AHEAD", ahead)
    calls = count_epoch_dispatches(monkeypatch)
    spy = DispatchedAtEpochEnd(calls)
    run = fit(model, data, cfg, verbose=0, callbacks=[spy])
    # Ahead, epoch e + 1 is already dispatched when epoch e ends (not after the last).
    assert spy.seen == ([2, 3, 4, 4] if ahead else [1, 2, 3, 4])
    assert rows(run) == rows(reference) and run.test == reference.test
    assert "val_accuracy" in run.rows[0]
    assert same_tree(run.variables, reference.variables)


def test_a_callback_can_hold_the_next_epoch_back(monkeypatch):
    class Holding(DispatchedAtEpochEnd):
        def may_run_ahead(self, epoch):
            return epoch != 3

    calls = count_epoch_dispatches(monkeypatch)
    spy = Holding(calls)
    cfg = config(epochs=4, fuse_epochs=True)
    fit(tiny_model(3), tiny_dataset(), cfg, verbose=0, callbacks=[spy])
    assert spy.seen == [2, 2, 4, 4]


def test_no_look_ahead_past_a_checkpoint_and_an_interrupt_resumes(tmp_path, monkeypatch):
    data = tiny_dataset(val=16)
    model = tiny_model(3, activation="softmax")
    cfg = config(epochs=4, fuse_epochs=True,
                 checkpoint=C("checkpoint", (), {"every": 2}))  # fmt: skip
    straight = fit(model, data, cfg, verbose=0)
    calls = count_epoch_dispatches(monkeypatch)
    spy = DispatchedAtEpochEnd(calls)
    with pytest.raises(TrainingInterrupted) as info:  # epoch 4 runs ahead of 3's end
        fit(model, data, cfg, verbose=0, out_dir=tmp_path,
            callbacks=[spy, InterruptAt(3)])  # fmt: skip
    assert spy.seen == [2, 2, 4]  # none ahead of epoch 2's checkpoint
    err = info.value
    saved = [p for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]
    assert [p.name for p in saved] == [err.checkpoint.name]  # epoch 2's only
    assert "the newest checkpoint is" in err.message
    resumed = fit(model, data, cfg, verbose=0, resume=tmp_path)
    assert rows(resumed) == rows(straight)
    assert same_tree(resumed.variables, straight.variables)


def test_an_interrupt_before_any_checkpoint_says_so(tmp_path):
    cfg = config(epochs=3, fuse_epochs=True,
                 checkpoint=C("checkpoint", (), {"every": 3}))  # fmt: skip
    with pytest.raises(TrainingInterrupted, match=r"no checkpoint \(none saved yet\)"):
        fit(tiny_model(3), tiny_dataset(), cfg, verbose=0, out_dir=tmp_path,
            callbacks=[InterruptAt(1)])  # fmt: skip


def test_interrupt_without_run_dir():
    with pytest.raises(TrainingInterrupted, match="no checkpoint") as info:
        fit(tiny_model(3), tiny_dataset(), config(epochs=2), verbose=0,
            callbacks=[InterruptAt(1, 1)])  # fmt: skip
    assert info.value.checkpoint is None and info.value.step == 1


def test_nan_loss_stops_with_epoch_and_step():
    cfg = config(optimizer=C("sgd", (1e30,)), epochs=3)
    with pytest.raises(TrainingDiverged) as info:
        fit(tiny_model(1), tiny_dataset("regression"), cfg, verbose=0)
    err = info.value
    assert (
        err.message
        == "the training loss became nan or inf at epoch 1, step 2 (step 2 overall)"
    )
    assert (err.epoch, err.step, err.checkpoint) == (1, 2, None)


def test_nan_later_keeps_the_last_good_checkpoint(tmp_path):
    cfg = config(optimizer=C("sgd", (0.01,)), epochs=4,
                 schedule=C("step", (), {"every_epochs": 1, "factor": 1e30}))  # fmt: skip
    with pytest.raises(TrainingDiverged) as info:
        fit(tiny_model(1), tiny_dataset("regression"), cfg, verbose=0, out_dir=tmp_path)
    err = info.value
    assert err.epoch == 2 and err.message.startswith("the training loss became nan or inf at "
                                                     "epoch 2, step ")  # fmt: skip
    assert err.checkpoint == tmp_path.absolute() / "checkpoints" / "3"
    assert [
        p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()
    ] == ["3"]
    assert str(err.checkpoint) in err.hint
    assert len(err.history.rows) == 1


def test_early_stop_restores_the_best_epoch():
    data, model = tiny_dataset(val=16), tiny_model(3, activation="softmax")
    stop = C("early_stop", (), {"monitor": W("loss"), "patience": 2, "min_delta": 100})
    history = fit(model, data, config(epochs=10, early_stop=stop), verbose=0)
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 1
    one = fit(model, data, config(epochs=1), verbose=0)
    assert same_tree(history.variables, one.variables)


def test_early_stop_says_what_it_did(capsys):
    """Keras prints 'Restoring model weights from the end of the best epoch'; a run
    that ended early without a word looked like one that ran out of epochs."""
    data, model = tiny_dataset(val=16), tiny_model(3, activation="softmax")
    stop = C("early_stop", (), {"monitor": W("loss"), "patience": 2, "min_delta": 100})
    fit(model, data, config(epochs=10, early_stop=stop), verbose=2)
    assert ("early stop after epoch 3: loss has not improved for 2 epochs; weights "
            "restored from epoch 1, the best loss") in capsys.readouterr().out


def test_multi_output_losses_weights_and_metrics():
    data = tiny_dataset(n=64, outputs=("a", "b"))
    model = tiny_model({"a": 3, "b": 3}, activation="softmax")
    cfg = config(("a", "b"), loss={"a": W("cross_entropy"), "b": W("kl_divergence")},
                 loss_weights={"a": 1.0, "b": 2.0}, optimizer=C("sgd", (0.0,)), epochs=1,
                 metrics={"a": [W("accuracy")]})  # fmt: skip
    history = fit(model, data, cfg, verbose=0)
    row = history.rows[0]
    assert (
        set(row) >= {"loss", "a_loss", "b_loss", "a_accuracy"}
        and "b_accuracy" not in row
    )
    assert np.isclose(row["loss"], row["a_loss"] + 2.0 * row["b_loss"], rtol=1e-6)
    out = predict(model, history.variables, data.train.x, batch=10)
    np.testing.assert_allclose(out["b"].sum(-1), 1.0, rtol=1e-5)  # softmax applied
    assert out["a"].shape == (64, 3)


def test_freeze_keeps_layers_fixed_and_names_unknown_ones():
    model, data = tiny_model(3, activation="softmax"), tiny_dataset()
    history = fit(model, data, config(epochs=2, freeze=["dense_0"]), verbose=0)
    start = fit(model, data, config(epochs=1, optimizer=C("sgd", (0.0,))), verbose=0)
    p, q = history.variables["params"], start.variables["params"]
    assert same_tree(p["dense_0"], q["dense_0"]) and not same_tree(
        p["output"], q["output"]
    )
    with pytest.raises(TrainConfigError) as info:
        fit(model, data, config(freeze=["dense_9"]), verbose=0)
    assert (info.value.message, info.value.key) == ("freeze names unknown layer 'dense_9'",
                                                    "freeze")  # fmt: skip
    assert info.value.hint == "did you mean 'dense_0'?"


def test_run_directory_files_and_init_from(tmp_path, capsys):
    data, model = tiny_dataset(val=16, test=16), tiny_model(3, activation="softmax")
    history = fit(model, data, config(epochs=2, metrics=[W("accuracy")]), verbose=2,
                  out_dir=tmp_path)  # fmt: skip
    printed = capsys.readouterr().out
    assert (
        "epoch 1/2  loss " in printed
        and "val_accuracy" in printed
        and "test  loss" in printed
    )
    lines = [
        json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["epoch"] for r in lines] == [1, 2] and "val_loss" in lines[0]
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(
        history.test
    )
    assert (tmp_path / "curves.png").stat().st_size > 1000
    saved = load_variables(tmp_path)
    assert same_tree(saved["params"], history.variables["params"])
    scores = evaluate(model, saved, data, config(metrics=[W("accuracy")]))
    assert scores == pytest.approx(history.test, rel=1e-6)
    cfg = config(epochs=1, optimizer=C("sgd", (0.0,)), init_from=str(tmp_path))
    warm = fit(model, data, cfg, verbose=0)
    assert same_tree(warm.variables["params"], history.variables["params"])


def test_progress_bar_runs(tmp_path):
    fit(tiny_model(3), tiny_dataset(), config(epochs=1), verbose=1)


def test_tiny_model_meets_the_contract():
    model = tiny_model({"a": 2, "b": 1}, activation="sigmoid", dropout=0.1, batchnorm=True,
                       penalties={"dense_0": (0.1, 0.0)})  # fmt: skip
    check_trainable(model, {"x": jnp.ones((2, 4))})


@pytest.mark.parametrize(
    "precision, param_dtype", [("bf16", jnp.bfloat16), ("mixed", jnp.float32)]
)
def test_precision_computes_in_bfloat16(precision, param_dtype):
    """bf16 and mixed run the layers' matmuls in bfloat16 (params stored per mode),
    and the loss is still summed in f32 and trains."""
    from nnlang.elaborate import elaborate_file
    from nnlang.lower import CompiledModel
    from nnlang.shapes import infer_shapes

    source = "model m {\n    input x: [4]\n    dense(16, act=relu)\n    dense(3, act=softmax)\n}\n"
    (graph,) = elaborate_file("m.nn", text=source).program.models.values()
    assert not infer_shapes(graph)
    model, data = CompiledModel(graph), tiny_dataset(n=96)
    cfg = config(
        precision=W(precision),
        loss=W("cross_entropy"),
        epochs=8,
        optimizer=C("adam", (), {"lr": 0.02}),
    )
    setup = build_setup(model, data, cfg)
    params = setup.state.params
    assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(param_dtype)}
    carry = fresh_carry(setup.state, setup.zero_sums)
    order = epoch_order(setup.shuffle_key, 0, setup.n_train, setup.batch)
    jaxpr = str(jax.make_jaxpr(setup.fns.step)(carry, setup.train, order))
    dots = [line for line in jaxpr.splitlines() if "dot_general" in line]
    assert dots and all("bf16[" in line.split("=")[0] for line in dots), dots
    history = fit(model, data, cfg, verbose=0)
    assert history.rows[-1]["loss"] < 0.7 * history.rows[0]["loss"]


def test_history_reads_as_keras_history():
    from nnlang.train.history import History

    rows = [{"epoch": 1, "loss": 1.0, "val_loss": 2.0}, {"epoch": 2, "loss": 0.5}]
    history = History(rows=rows, variables={"params": np.zeros(100_000)})
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [2.0]}
    assert history["loss"] == [1.0, 0.5]
    assert "variables" not in repr(history)  # print(history) is not a screen of weights
