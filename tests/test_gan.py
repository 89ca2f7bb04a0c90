"""``loss = gan``: a generator trained against a discriminator, checked then run.

The first half is the JAX-free checker: every mistake in a GAN train block is a
located diagnostic. The second half trains a tiny GAN on the bundled digits for
a few epochs and asserts what adversarial training must do: the discriminator
neither wins nor gives up, the generator's samples move toward the data, and
the run directory holds samples.png, gan.json and both models' weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlang.check import check_file
from nnlang.train.binding import TrainConfigError
from nnlang.train.gan_config import parse_gan_settings
from nnlang.values import CallValue, Word

ROOT = Path(__file__).resolve().parent.parent

GENERATOR = """\
model generator {
    input z: [16]
    dense(64, act=leaky_relu)
    dense(64, act=sigmoid)
    reshape([8, 8, 1])
}
"""
DISCRIMINATOR = """\
model discriminator {
    input image: [8, 8, 1]
    flatten
    dense(64, act=leaky_relu)
    dense(1)
}
"""
TRAIN = """\
train generator, discriminator as gan {
    data = digits(split=[1, 0, 0])
    loss = gan
    optimizer = {generator: adam(lr=1e-3, b1=0.5), discriminator: adam(lr=5e-4, b1=0.5)}
    batch = 64
    epochs = 6
    seed = 0
}
"""


def diagnose(tmp_path: Path, text: str) -> list:
    path = tmp_path / "gan.nn"
    path.write_text(text)
    return check_file(path).sorted_diagnostics()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_example_block_checks_clean(tmp_path: Path) -> None:
    assert diagnose(tmp_path, GENERATOR + DISCRIMINATOR + TRAIN) == []


def test_optimizer_map_naming_an_unknown_model_says_which(tmp_path: Path) -> None:
    text = GENERATOR + DISCRIMINATOR + TRAIN.replace("discriminator: adam", "discrim: adam")
    (d,) = diagnose(tmp_path, text)
    assert d.code == "train-config"
    assert d.message == "optimizer names unknown model 'discrim'"
    assert d.hint == "did you mean 'discriminator'?"
    assert d.span.line == line_of(text, "optimizer =")


def test_optimizer_map_must_cover_both_models(tmp_path: Path) -> None:
    text = GENERATOR + DISCRIMINATOR + TRAIN.replace(
        ", discriminator: adam(lr=5e-4, b1=0.5)", "")
    (d,) = diagnose(tmp_path, text)
    assert d.message == "optimizer gives no optimizer for model 'discriminator'"


def test_generator_output_must_be_the_discriminator_input(tmp_path: Path) -> None:
    text = GENERATOR.replace("    reshape([8, 8, 1])\n", "") + DISCRIMINATOR + TRAIN
    (d,) = diagnose(tmp_path, text)
    assert d.code == "shape-mismatch"
    assert d.span.line == line_of(text, "input image")
    assert "makes [64]" in d.message and "[8, 8, 1]" in d.message
    assert "reshape([8, 8, 1])" in d.hint


def test_discriminator_must_end_in_one_unit(tmp_path: Path) -> None:
    text = GENERATOR + DISCRIMINATOR.replace("dense(1)", "dense(10)") + TRAIN
    (d,) = diagnose(tmp_path, text)
    assert d.code == "shape-mismatch"
    assert d.span.line == line_of(text, "dense(10)")
    assert d.hint == "end it with dense(1)"


@pytest.mark.parametrize("ending, ok", [("dense(1, act=sigmoid)", True),
                                        ("dense(1, act=tanh)", False),
                                        ("dense(1) -> relu", False)])
def test_discriminator_ends_in_a_logit_or_a_sigmoid(tmp_path: Path, ending: str,
                                                   ok: bool) -> None:
    text = GENERATOR + DISCRIMINATOR.replace("dense(1)", ending) + TRAIN
    diags = diagnose(tmp_path, text)
    assert (diags == []) is ok
    if not ok:
        assert "must end in a logit or a sigmoid" in diags[0].message


def test_settings_of_one_model_do_not_apply(tmp_path: Path) -> None:
    text = GENERATOR + DISCRIMINATOR + TRAIN.replace("seed = 0", "metrics = [accuracy]")
    (d,) = diagnose(tmp_path, text)
    assert d.message == "'metrics' does not apply to a GAN train block"
    assert d.span.line == line_of(text, "metrics =")


def test_misspelt_setting_suggests_a_gan_setting(tmp_path: Path) -> None:
    text = GENERATOR + DISCRIMINATOR + TRAIN.replace("epochs = 6", "epoch = 6")
    (d,) = diagnose(tmp_path, text)
    assert d.hint == "did you mean 'epochs'?"


def test_gan_loss_on_one_model_asks_for_the_discriminator(tmp_path: Path) -> None:
    text = GENERATOR + "train generator {\n    data = digits\n    loss = gan\n}\n"
    (d,) = diagnose(tmp_path, text)
    assert d.code == "train-config" and d.span.line == line_of(text, "loss = gan")
    assert "train generator, DISCRIMINATOR" in d.hint


def test_lbfgs_and_plateau_are_refused() -> None:
    for key, value in (("optimizer", Word("lbfgs")),
                       ("schedule", CallValue("reduce_on_plateau", (), {"patience": 2}))):
        with pytest.raises(TrainConfigError) as info:
            parse_gan_settings({"loss": Word("gan"), key: value}, ("g", "d"))
        assert info.value.key == key


def test_one_optimizer_serves_both_and_run_overrides_apply() -> None:
    cfg = parse_gan_settings(
        {"loss": CallValue("gan", (), {"smooth": 0.1}), "optimizer": Word("sgd"),
         "epochs": 30, "clip": 1.0}, ("g", "d"), epochs=3, seed=7)
    assert (cfg.generator, cfg.discriminator, cfg.epochs, cfg.seed) == ("g", "d", 3, 7)
    assert cfg.loss["smooth"] == 0.1
    for name in ("g", "d"):
        assert cfg.models[name].optimizer.name == "sgd"
        assert (cfg.models[name].clip, cfg.models[name].epochs) == (1.0, 3)


def test_several_models_without_gan_still_check_as_before(tmp_path: Path) -> None:
    """``train a, b { loss = mse }`` is still validated as before (nnc run refuses it)."""
    assert diagnose(tmp_path, (ROOT / "specs/valid/multi_model.nn").read_text()) == []


# ---------------------------------------------------------------- training


@pytest.mark.jax
@pytest.mark.slow
def test_tiny_gan_trains_balanced_and_moves_toward_the_data(tmp_path: Path) -> None:
    from nnlang.infer import predict_file
    from nnlang.run import run_file

    source = tmp_path / "gan.nn"
    source.write_text(GENERATOR + DISCRIMINATOR + TRAIN)
    out = tmp_path / "run"
    history, run_dir = run_file(source, out=out, epochs=6, verbose=0)
    assert run_dir == out
    assert [r["epoch"] for r in history.rows] == [1, 2, 3, 4, 5, 6]
    assert set(history.rows[0]) >= {"d_loss", "g_loss", "d_accuracy", "time"}
    report = json.loads((out / "gan.json").read_text())
    # The discriminator tells real from fake better than chance, without winning.
    assert 0.5 < report["d_accuracy_last"] < 1.0, report
    # Generated digits are nearer the real ones than the untrained generator's.
    assert report["distance"] < 0.8 * report["distance_untrained"], report
    assert json.loads((out / "metrics.json").read_text())["improvement"] > 1.25
    png = (out / "samples.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert (out / "variables").is_dir() and (out / "discriminator" / "variables").is_dir()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 6

    # The run's generator turns noise into images through nnc predict.
    z = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    table = np.loadtxt(predict_file(source, out, tmp_path / "z.npy"), delimiter=",",
                       skiprows=1)
    assert table.shape == (5, 64) and 0.0 <= table.min() and table.max() <= 1.0


@pytest.mark.jax
@pytest.mark.slow
def test_resumed_gan_continues_as_if_never_stopped(tmp_path: Path) -> None:
    from nnlang.run import run_file

    source = tmp_path / "gan.nn"
    source.write_text(GENERATOR + DISCRIMINATOR + TRAIN)
    whole, _ = run_file(source, out=tmp_path / "whole", epochs=3, verbose=0)
    run_file(source, out=tmp_path / "part", epochs=2, verbose=0)
    resumed, _ = run_file(source, resume=tmp_path / "part", epochs=3, verbose=0)
    keys = ("d_loss", "g_loss", "d_accuracy")
    assert [[r[k] for k in keys] for r in resumed.rows] == [
        [r[k] for k in keys] for r in whole.rows]
