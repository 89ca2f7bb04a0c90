"""Train-block validation: defaults, binding, exact error messages, JAX-free import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nnlang.train.config import (
    SETTING_KEYS,
    CheckpointPolicy,
    EarlyStop,
    TrainConfig,
    TrainConfigError,
    default_loss,
    monitor_mode,
    parse_train_settings,
)
from nnlang.train.registry import (
    LOSSES,
    METRICS,
    OPTIMIZERS,
    SCHEDULES,
    format_signature,
    markdown_table,
)
from nnlang.values import CallValue, Word

W, C = Word, CallValue


def parse(outputs=("y",), **settings):
    return parse_train_settings(settings, outputs=list(outputs))


def test_defaults():
    cfg = parse()
    assert (cfg.batch, cfg.epochs, cfg.seed) == (32, 10, 0)
    assert cfg.optimizer.name == "adam" and cfg.optimizer["eps"] == 1e-7
    assert cfg.optimizer["lr"] == 1e-3
    assert cfg.schedule.name == "constant"
    assert cfg.loss is None and cfg.metrics is None  # chosen from the data's task
    assert cfg.fuse_epochs == "auto" and cfg.precision == "f32"
    assert cfg.checkpoint == CheckpointPolicy(every=1, keep=3)
    assert cfg.early_stop is None and cfg.clip is None and cfg.weight_decay == 0.0
    assert cfg == TrainConfig(outputs=("y",))


def test_full_block():
    cfg = parse(
        ("premium", "quote"),
        data=C("digits", (), {"split": [0.8, 0.1, 0.1]}),
        batch=128,
        epochs=20,
        loss={"premium": W("mse"), "quote": W("binary_cross_entropy")},
        loss_weights={"premium": 1, "quote": 0.5},
        optimizer=C("adam", (), {"lr": 1e-2}),
        schedule=C("cosine", (), {"warmup": 100}),
        clip=1,
        weight_decay=1e-4,
        metrics={"quote": [W("accuracy"), C("top_k", (2,))]},
        early_stop=C(
            "early_stop", (), {"monitor": W("val_quote_accuracy"), "patience": 3}
        ),
        checkpoint=C("checkpoint", (), {"every": 2}),
        precision=W("bf16"),
        fuse_epochs=False,
        data_parallel=True,
        freeze=["conv_bn_1/conv_0", W("dense_0")],
        init_from="runs/base",
        seed=7,
    )
    assert cfg.loss["premium"].name == "mse"
    assert cfg.loss["quote"].name == "binary_cross_entropy"
    assert cfg.loss_weights == {"premium": 1.0, "quote": 0.5}
    assert cfg.optimizer["lr"] == 1e-2 and cfg.schedule["warmup"] == 100
    assert cfg.clip == 1.0 and cfg.weight_decay == 1e-4
    assert [m.name for m in cfg.metrics["quote"]] == ["accuracy", "top_k"]
    assert cfg.metrics["premium"] == ()
    assert cfg.early_stop == EarlyStop("val_quote_accuracy", 3, True, 0.0, "max")
    assert cfg.checkpoint == CheckpointPolicy(2, 3)
    assert cfg.precision == "bf16" and cfg.fuse_epochs is False
    assert cfg.data_parallel is True
    assert cfg.freeze == ("conv_bn_1/conv_0", "dense_0")
    assert cfg.init_from == "runs/base" and cfg.seed == 7


def test_positional_arguments_and_words():
    cfg = parse(optimizer=C("sgd", (0.1, 0.9, True)), loss=C("huber", (2.0,)))
    assert dict(cfg.optimizer.params) == {"lr": 0.1, "momentum": 0.9, "nesterov": True}
    assert cfg.loss["y"]["delta"] == 2.0
    assert parse(optimizer="rmsprop").optimizer["rho"] == 0.9
    assert (
        parse(schedule=C("step", (), {"every_epochs": 2})).schedule["every_epochs"] == 2
    )
    assert (
        parse(metrics=W("accuracy")).metrics == parse(metrics=[W("accuracy")]).metrics
    )


@pytest.mark.parametrize(
    "settings, message, key, hint",
    [
        ({"epoch": 3}, "unknown train setting 'epoch'", "epoch", "did you mean 'epochs'?"),
        ({"optimizer": W("adma")}, "unknown optimizer 'adma'", "optimizer",
         "did you mean 'adam'?"),
        ({"loss": W("crossentropy")}, "unknown loss 'crossentropy'", "loss",
         "did you mean 'cross_entropy'?"),
        ({"schedule": C("cosin", ())}, "unknown schedule 'cosin'", "schedule",
         "did you mean 'cosine'?"),
        ({"metrics": [W("acuracy")]}, "unknown metric 'acuracy'", "metrics",
         "did you mean 'accuracy'?"),
        ({"optimizer": C("adam", (), {"learning_rate": 0.1})},
         "adam() has no parameter 'learning_rate'", "optimizer",
         "did you mean 'lr'?"),
        ({"loss": W("categorical_crossentropy")}, "unknown loss 'categorical_crossentropy'",
         "loss", "did you mean 'cross_entropy'?"),
        ({"loss": W("MeanSquaredError")}, "unknown loss 'MeanSquaredError'", "loss",
         "did you mean 'mse'?"),
        ({"loss": W("CrossEntropyLoss")}, "unknown loss 'CrossEntropyLoss'", "loss",
         "did you mean 'cross_entropy'?"),  # PyTorch's name
        ({"loss": W("BCEWithLogitsLoss")}, "unknown loss 'BCEWithLogitsLoss'", "loss",
         "did you mean 'binary_cross_entropy'?"),
        ({"optimizer": W("SGD")}, "unknown optimizer 'SGD'", "optimizer",
         "did you mean 'sgd'?"),
        ({"metrics": [W("auc")]}, "unknown metric 'auc'", "metrics",
         "no AUC metric in .nn; precision, recall and f1 are"),
        ({"optimizer": C("sgd", (), {"momentun": 0.9})}, "sgd() has no parameter 'momentun'",
         "optimizer", "did you mean 'momentum'?"),
        ({"optimizer": C("sgd", (0.1, 0.9, True, 4))}, "sgd() takes at most 3 arguments, got 4",
         "optimizer", None),
        ({"optimizer": C("sgd", (0.1,), {"lr": 0.2})}, "sgd() got two values for 'lr'",
         "optimizer", None),
        ({"optimizer": C("adam", (), {"lr": -1})}, "adam(): lr must be a number >= 0, got -1",
         "optimizer", None),
        ({"optimizer": C("adam", (), {"lr": "fast"})},
         'adam(): lr must be a number, got "fast"', "optimizer", None),
        ({"optimizer": C("sgd", (), {"nesterov": 1})},
         "sgd(): nesterov must be true or false, got 1", "optimizer", None),
        ({"optimizer": C("sgd", (), {"momentum": 1.5})},
         "sgd(): momentum must be a number in [0, 1), got 1.5", "optimizer", None),
        ({"schedule": C("step", ())}, "step() needs 'every' (or 'every_epochs')", "schedule",
         "write step(every, factor=0.1)"),
        ({"schedule": C("exponential", ())}, "exponential() needs 'rate'", "schedule",
         "write exponential(rate, every=1)"),
        ({"schedule": C("cosine", (), {"warmup": 10, "warmup_epochs": 1})},
         "cosine() takes 'warmup' or 'warmup_epochs', not both", "schedule", None),
        ({"schedule": C("step", (), {"every": 2.5})},
         "step(): every must be an integer, got 2.5", "schedule", None),
        ({"batch": 0}, "batch must be a positive integer, got 0", "batch", None),
        ({"epochs": 2.5}, "epochs must be an integer, got 2.5", "epochs", None),
        ({"seed": True}, "seed must be an integer, got true", "seed", None),
        ({"clip": 0}, "clip must be a positive number, got 0", "clip", None),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0, got -0.1",
         "weight_decay", None),
        ({"precision": W("fp16")}, "precision must be one of f32, bf16, mixed, got fp16",
         "precision", "did you mean 'bf16'?"),
        ({"fuse_epochs": W("yes")}, "fuse_epochs must be auto, true or false, got yes",
         "fuse_epochs", None),
        ({"data_parallel": 2}, "data_parallel must be auto, true or false, got 2",
         "data_parallel", None),
        ({"freeze": 3}, "freeze must be a list of layer names, got 3", "freeze",
         'write paths in quotes: ["conv_bn_1/conv_0"]'),
        ({"init_from": W("run")}, "init_from must be a path in double quotes, got run",
         "init_from", None),
        ({"early_stop": C("early_stop", (), {"monitor": W("val_acc")})},
         "early_stop(): unknown monitor 'val_acc'", "early_stop", "did you mean 'val_accuracy'?"),
        ({"early_stop": C("early_stop", (), {"patiense": 3})},
         "early_stop() has no parameter 'patiense'", "early_stop", "did you mean 'patience'?"),
        ({"checkpoint": C("checkpoint", (), {"keep": 0})},
         "checkpoint(): keep must be a positive integer, got 0", "checkpoint", None),
        ({"metrics": [W("accuracy"), W("accuracy")]}, "metrics lists 'accuracy' twice",
         "metrics", None),
        ({"optimizer": W("lbfgs"), "clip": 1.0}, "clip does not combine with lbfgs", "clip",
         "use l2= on the layers to regularise instead"),
        ({"optimizer": 3}, "optimizer must be a name such as sgd, got 3", "optimizer", None),
    ],
)  # fmt: skip
def test_errors(settings, message, key, hint):
    with pytest.raises(TrainConfigError) as info:
        parse(**settings)
    err = info.value
    assert (err.message, err.key, err.hint) == (message, key, hint)
    assert err.code == "train-config"


@pytest.mark.parametrize(
    "settings, message, hint",
    [
        ({"loss": {"premum": W("mse"), "quote": W("mse")}},
         "loss names unknown output 'premum'", "did you mean 'premium'?"),
        ({"loss": {"premium": W("mse")}}, "loss gives no loss for output 'quote'",
         "add 'quote: ...' or give one loss for all outputs"),
        ({"loss_weights": {"qoute": 2}}, "loss_weights names unknown output 'qoute'",
         "did you mean 'quote'?"),
        ({"loss_weights": {"quote": -1}},
         "loss_weights: weight of 'quote' must be a number >= 0, got -1", None),
        ({"loss_weights": 2}, "loss_weights must be a map {output: weight}, got 2", None),
        ({"metrics": {"x": [W("accuracy")]}}, "metrics names unknown output 'x'",
         "outputs are: premium, quote"),
    ],
)  # fmt: skip
def test_per_output_errors(settings, message, hint):
    with pytest.raises(TrainConfigError) as info:
        parse(("premium", "quote"), **settings)
    assert (info.value.message, info.value.hint) == (message, hint)


def test_one_loss_applies_to_every_output():
    cfg = parse(("a", "b"), loss=W("mae"))
    assert {k: v.name for k, v in cfg.loss.items()} == {"a": "mae", "b": "mae"}


def test_monitor_mode():
    assert monitor_mode("val_loss") == "min"
    assert monitor_mode("quote_loss") == "min"
    assert monitor_mode("val_accuracy") == "max"
    assert monitor_mode("val_quote_f1") == "max"
    assert monitor_mode("top_5") == "max"
    assert monitor_mode("val_mae") == "min"


def test_setting_keys_match_language():
    assert set(SETTING_KEYS) == {
        "data", "batch", "epochs", "seed", "loss", "loss_weights", "optimizer", "schedule",
        "clip", "weight_decay", "metrics", "early_stop", "checkpoint", "precision",
        "fuse_epochs", "data_parallel", "freeze", "init_from",
    }  # fmt: skip


def test_registries_render():
    assert set(LOSSES) == {"mse", "mae", "huber", "cross_entropy", "binary_cross_entropy",
                           "kl_divergence"}  # fmt: skip
    assert set(OPTIMIZERS) == {
        "sgd",
        "adam",
        "adamw",
        "rmsprop",
        "adagrad",
        "lamb",
        "lbfgs",
    }
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine", "one_cycle",
                              "reduce_on_plateau"}  # fmt: skip
    assert set(METRICS) == {
        "accuracy",
        "top_k",
        "mse",
        "mae",
        "precision",
        "recall",
        "f1",
    }
    assert (
        format_signature(OPTIMIZERS["sgd"])
        == "sgd(lr=0.01, momentum=0.0, nesterov=false)"
    )
    assert format_signature(SCHEDULES["cosine"]) == "cosine(warmup=0, alpha=0.0)"
    table = markdown_table(LOSSES)
    assert table.splitlines()[2].startswith("| `mse` |")
    assert all(
        e.doc for r in (LOSSES, OPTIMIZERS, SCHEDULES, METRICS) for e in r.values()
    )


def test_config_imports_no_jax():
    code = (
        "import sys, nnlang.train.config, nnlang.train\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'jaxlib', 'flax', 'optax', 'orbax', 'numpy'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import nnlang.train.config"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = [line.split("|")[-1].strip() for line in out.stderr.splitlines()]
    assert not [m for m in imported if m.split(".")[0] in ("jax", "optax", "flax")]


# ------------------------------------- losses and metrics against the targets


def check_text(tmp_path, model: str, train: str):
    from nnlang.check import check_file

    path = tmp_path / "m.nn"
    path.write_text(f"model m {{\n{model}\n}}\n\ntrain m {{\n{train}\n}}\n")
    return [(d.is_error, d.code, d.message,
             d.span.line if d.span else None, d.span.col if d.span else None)
            for d in check_file(path).sorted_diagnostics()]


def test_default_loss_follows_the_output_of_two_class_data():
    assert default_loss("binary", 2).name == "cross_entropy"
    assert default_loss("binary", 5).name == "cross_entropy"
    assert default_loss("binary", 1).name == "binary_cross_entropy"
    assert default_loss("binary").name == "binary_cross_entropy"
    assert default_loss("classification", 3).name == "cross_entropy"
    assert default_loss("regression", 1).name == "mse"


@pytest.mark.parametrize("loss", ["mae", "mse", "huber(2.0)", "binary_cross_entropy"])
def test_a_value_or_binary_loss_on_a_three_class_head_is_a_check_error(tmp_path, loss):
    diags = check_text(tmp_path, "    input x: [4]\n    dense(3, act=softmax)",
                       f"    data = iris\n    loss = {loss}")
    assert len(diags) == 1, diags
    _, code, message, line, _ = diags[0]
    name = loss.split("(")[0]
    assert code == "target-mismatch" and line == 8
    assert message == f"{name} compares the output [3] with targets [] (class ids of iris)"


@pytest.mark.parametrize("model, train, message", [
    ("dense(1, act=sigmoid)", "data = iris\n    loss = binary_cross_entropy",
     "binary_cross_entropy reads 0/1 targets, but the targets are class ids of iris, "
     "3 classes"),
    ("dense(1)", "data = breast_cancer\n    loss = cross_entropy",
     "cross_entropy over the output [1] scores a single class, so the loss is always 0"),
    ("dense(2)", "data = iris",
     "the default loss cross_entropy over the output [2] scores 2 classes, but the targets "
     "are class ids of iris, 3 classes"),
])
def test_class_outputs_must_score_the_classes(tmp_path, model, train, message):
    diags = check_text(tmp_path, f"    input x: [4]\n    {model}", f"    {train}")
    assert len(diags) == 1 and diags[0][1] == "target-mismatch", diags
    assert diags[0][2] == message


@pytest.mark.parametrize("model, data", [
    ("dense(2, act=softmax)", "breast_cancer"),  # the Keras two-class head
    ("dense(1, act=sigmoid)", "breast_cancer"),
    ("dense(10)", "digits"),
    ("dense(3)", "iris(classes=[setosa, virginica, versicolor])"),
    ("dense(1)", "diabetes"),
    ("dense(2)", 'csv("t.csv", target=y)'),  # unknown until loaded: no complaint
])
def test_fitting_defaults_check_clean(tmp_path, model, data):
    (tmp_path / "t.csv").write_text("a,y\n1,0\n")
    assert check_text(tmp_path, f"    input x: [4]\n    {model}", f"    data = {data}") == []


def test_class_losses_and_metrics_on_regression_targets_warn(tmp_path):
    diags = check_text(tmp_path, "    input x: [10]\n    dense(1)",
                       "    data = diabetes\n    loss = cross_entropy\n"
                       "    metrics = [mae, accuracy, f1]")
    assert [(d[1], d[3], d[4]) for d in diags] == [
        ("target-mismatch", 8, 5), ("target-mismatch", 9, 21), ("target-mismatch", 9, 31)]
    assert not any(d[0] for d in diags)  # warnings, not errors
    assert diags[1][2] == ("accuracy counts correct classes, but the targets are values "
                           "of diabetes (a regression)")


def test_freeze_of_an_unknown_layer_is_a_check_error_at_the_name(tmp_path):
    model = "    input x: [4]\n    dense(8, act=relu) as hidden\n    relu as act\n    dense(3)"
    diags = check_text(tmp_path, model, '    data = iris\n    freeze = ["hidden", hiden]')
    assert diags == [(True, "train-config", "freeze names unknown layer 'hiden'", 10, 25)]
    diags = check_text(tmp_path, model, "    data = iris\n    freeze = [act]")
    assert diags[0][2] == "freeze names layer 'act', which has no parameters"


# ---------------------------------------------------------------- every error at once


def test_every_bad_setting_is_collected_in_order_with_where_it_is():
    from nnlang.train.config import collect_train_settings

    settings = {
        "data": W("digits"),
        "optimizer": C("adma", (), {"lr": 1e-3}),
        "loss": W("cross_entropyy"),
        "schedule": C("cosine", (), {"warmpu": 10}),
        "metrics": [W("accuracy"), C("top_k", (), {"k": 0})],
        "clip": -1,
        "epochs": 3,
    }
    config, errors = collect_train_settings(settings, outputs=["y"])
    assert [(e.key, e.at) for e in errors] == [
        ("optimizer", (("name",),)),
        ("loss", (("name",),)),
        ("schedule", (("kw", "warmpu"),)),
        ("metrics", (("item", 1), ("val", "k", None))),
        ("clip", ()),
    ]
    assert config.epochs == 3 and config.optimizer.name == "adam"  # bad ones: defaults


def test_every_problem_of_one_call_is_collected_in_source_order():
    from nnlang.train.config import collect_train_settings

    settings = {
        "optimizer": C("adam", (-1.0,), {"beta1": 0.9, "eps": 0, "lr": 1e-3}),
        "metrics": [C("top_k", (), {"k": 0, "j": 1})],
    }
    _, errors = collect_train_settings(settings, outputs=["y"])
    assert [(e.key, e.at, e.hint) for e in errors] == [
        ("optimizer", (("val", "lr", 0),), None),  # positional lr, < 0
        ("optimizer", (("kw", "beta1"),), "did you mean 'b1'?"),
        ("optimizer", (("val", "eps", None),), None),
        ("optimizer", (("kw", "lr"),), None),  # lr twice
        ("metrics", (("item", 0), ("val", "k", None)), None),  # located inside the list
        ("metrics", (("item", 0), ("kw", "j")), "top_k() takes k"),
    ]
    assert "two values for 'lr'" in errors[3].message
    with pytest.raises(TrainConfigError) as exc:  # one exception still carries them all
        parse(optimizer=C("adam", (), {"lr": -1, "b9": 1}))
    assert [e.at for e in exc.value.each()] == [(("val", "lr", None),), (("kw", "b9"),)]


def test_a_setting_depending_on_a_bad_one_is_not_checked():
    from nnlang.train.config import collect_train_settings

    settings = {"metrics": [W("acuracy")], "early_stop": C("early_stop", (W("val_acuracy"),))}
    _, errors = collect_train_settings(settings, outputs=["y"])
    assert [e.key for e in errors] == ["metrics"]
    _, errors = collect_train_settings(
        {"early_stop": C("early_stop", (W("val_acuracy"),))}, outputs=["y"],
        unreadable={"metrics"})
    assert errors == []
    with pytest.raises(TrainConfigError) as exc:  # metrics fine: the monitor is checked
        parse(metrics=[W("accuracy")], early_stop=C("early_stop", (W("val_acuracy"),)))
    assert exc.value.at == (("val", "monitor", 0),)


def test_positional_and_per_output_errors_say_where():
    with pytest.raises(TrainConfigError) as exc:
        parse(optimizer=C("sgd", (-1,)))
    assert exc.value.at == (("val", "lr", 0),)
    with pytest.raises(TrainConfigError) as exc:
        parse(outputs=("a", "b"), loss={"a": W("mse"), "b": W("mea")})
    assert exc.value.at == (("entry", "b"), ("name",))
    with pytest.raises(TrainConfigError) as exc:
        parse(outputs=("a", "b"), loss={"a": W("mse"), "c": W("mae")})
    assert exc.value.at == (("key", "c"),)
    with pytest.raises(TrainConfigError) as exc:
        parse(metrics=[W("mae"), W("mse"), W("mae")])
    assert exc.value.at == (("item", 2),)


# ---------------------------------------------------------------- legal but odd


def odd(examples=None, **settings):
    from nnlang.train.config import odd_settings

    return [(e.key, e.message) for e in odd_settings(parse(**settings), examples)]


def test_a_zero_learning_rate_is_odd():
    assert odd(optimizer=C("sgd", (0,))) == [
        ("optimizer", "sgd(): lr is 0, so nothing will train")]
    assert odd(optimizer=C("sgd", (0,)), epochs=0) == []  # trains nothing on purpose
    assert odd(optimizer=C("sgd", (0.1,))) == []


def test_a_growing_exponential_rate_is_odd():
    assert odd(schedule=C("exponential", (1.5,)))[0][1].startswith(
        "exponential(): rate 1.5 > 1")
    assert odd(schedule=C("exponential", (0.9,))) == []


def test_a_schedule_outlasting_the_run_is_odd():
    # 120 training examples at batch 32: 4 steps an epoch, 40 in 10 epochs
    assert odd(120, schedule=C("cosine", (), {"warmup": 40})) == [(
        "schedule", "cosine(warmup=40) outlasts the run: the run is only 40 steps "
        "(10 epochs of 4 at batch 32)")]
    assert odd(120, schedule=C("cosine", (), {"warmup": 39})) == []
    assert odd(None, schedule=C("cosine", (), {"warmup": 10**6})) == []  # size unknown
    assert odd(120, schedule=C("step", (40,)))[0][1].startswith("step(every=40) never")
    assert odd(schedule=C("step", (), {"every_epochs": 10}))[0][1] == (
        "step(every_epochs=10) never decays: the run is only 10 epochs")
    assert odd(schedule=C("reduce_on_plateau", (), {"patience": 10}))[0][1].startswith(
        "reduce_on_plateau(patience=10) never reduces")
    assert odd(120, optimizer=W("lbfgs"), schedule=C("step", (10,)), epochs=10) == [(
        "schedule", "step(every=10) never decays: the run is only 10 steps "
        "(10 epochs of 1 full-batch)")]


@pytest.mark.parametrize("model, train, message", [
    ("dense(3)", "data = diabetes",
     "the default loss mse compares the output [3] with targets [1] (values of diabetes)"),
    ("dense(10, act=softmax)", "data = digits\n    metrics = [accuracy, mae]",
     "mae compares the output [10] with targets [] (class ids of digits)"),
])
def test_values_compared_with_the_wrong_number_of_targets_are_errors(tmp_path, model,
                                                                     train, message):
    """Both trained by broadcasting and crashed afterwards (the report, the metric)."""
    diags = check_text(tmp_path, f"    input x: [64]\n    {model}", f"    {train}")
    assert [(e, code, msg) for e, code, msg, *_ in diags] == [
        (True, "target-mismatch", message)]


# ------------------------------------- located like every other setting


def check_set(tmp_path, model: str, train: str, **overrides: str):
    from nnlang.check import check_file

    path = tmp_path / "m.nn"
    path.write_text(f"model m {{\n{model}\n}}\n\ntrain m {{\n{train}\n}}\n")
    return check_file(path, overrides=overrides).sorted_diagnostics()


@pytest.mark.parametrize("key, value, code", [
    ("loss", "mse", "target-mismatch"),
    ("freeze", '["dense_5"]', "train-config"),
])
def test_a_target_or_freeze_problem_from_set_is_noted_not_placed(tmp_path, key, value,
                                                                 code):
    diags = check_set(tmp_path, "    input x: [4]\n    dense(3, act=softmax)",
                      "    data = iris", **{key: value})
    assert [(d.code, d.span, d.notes) for d in diags] == [
        (code, None, (f"the value comes from --set {key}={value}",))]


def test_a_keyword_given_twice_in_a_setting_is_an_error_at_the_second(tmp_path):
    diags = check_set(tmp_path, "    input x: [4]\n    dense(1)",
                      "    data = diabetes\n    optimizer = adam(lr=0, lr=1)\n"
                      "    loss = {output: huber(delta=1, delta=2)}")
    assert [(d.code, d.message, d.span.line, d.span.col) for d in diags] == [
        ("duplicate-argument", "argument 'lr' is given twice", 8, 28),
        ("duplicate-argument", "argument 'delta' is given twice", 9, 36)]


def test_data_that_keeps_one_class_is_the_loaders_error_at_check_time(tmp_path):
    diags = check_set(tmp_path, "    input x: [4]\n    dense(3)",
                      "    data = iris(classes=[setosa])")
    assert [(d.code, d.message, d.hint, d.span.col) for d in diags] == [
        ("data", "the labels hold one class, 'setosa': there is nothing to tell apart",
         "classes= keeps one class; keep two or more", 25)]


@pytest.mark.parametrize("setting, hint", [
    ("batch_size = 64", "the setting is called batch: batch = 64"),
    ("validation_split = 0.2", "the data call splits: data = digits(split=[0.8, 0.1, 0.1])"),
    ("learning_rate = 0.01", "the learning rate is the optimizer's: optimizer = adam(lr=1e-3)"),
    ("callbacks = [early_stop]", "callbacks are settings of their own: early_stop(...), "
                                 "checkpoint(...), schedule = reduce_on_plateau(...)"),
    ("epoch = 3", "did you mean 'epochs'?"),
])
def test_keras_fit_keywords_as_settings_get_the_nn_way(tmp_path, setting, hint):
    from nnlang.check import check_file

    path = tmp_path / "m.nn"
    path.write_text("model m {\n    input x: [64]\n    dense(10, act=softmax)\n}\n\n"
                    f"train m {{\n    data = digits\n    {setting}\n}}\n")
    (diag,) = check_file(path).diagnostics
    assert diag.message.startswith("unknown train setting") and diag.hint == hint
