"""Every example runs end to end (shortened to a few epochs) and beats chance clearly.

The full-length targets are checked by examples/check_targets.py (minutes, not
seconds); this keeps every example runnable as the language evolves. The bars
below are what a 3-epoch run clears with room to spare, well above chance.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUMMARY_ONLY = {"vgg16", "resnet50"}  # summary showcases: ImageNet-sized, not trained here
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.nn"))
TRAINED = [name for name in EXAMPLES if name not in SUMMARY_ONLY]
pytestmark = pytest.mark.jax

# example -> (file in the run directory, key, the bar a short run must clear, larger?)
BARS = {
    "logistic_digits": ("metrics.json", "accuracy", 0.8, True),  # chance: 0.1
    "mlp_digits": ("metrics.json", "accuracy", 0.8, True),
    "cnn_digits": ("metrics.json", "accuracy", 0.6, True),
    "digits_cnn": ("metrics.json", "accuracy", 0.6, True),
    "playground_spiral": ("metrics.json", "accuracy", 0.6, True),  # chance: 0.5
    "playground_circle": ("metrics.json", "accuracy", 0.6, True),  # 0.73 after 3 epochs
    "playground_xor": ("metrics.json", "accuracy", 0.8, True),
    "playground_gauss": ("metrics.json", "accuracy", 0.9, True),
    "transfer_digits": ("metrics.json", "accuracy", 0.6, True),  # its pretrain block
    "resnet_digits": ("metrics.json", "accuracy", 0.6, True),  # 0.978 after 3 epochs
    "inception_digits": ("metrics.json", "accuracy", 0.5, True),  # 0.863 after 3 epochs
    "text_sentiment": ("metrics.json", "accuracy", 0.8, True),  # 1.000 after 3; chance 0.5
    "text_conv1d": ("metrics.json", "accuracy", 0.8, True),
    "text_bag_of_words": ("metrics.json", "accuracy", 0.55, True),  # 0.678 after 3
    "insurance_two_heads": ("metrics.json", "quote_accuracy", 0.7, True),  # 0.929 after 15
    "lstm_sine": ("baseline.json", "improvement", 1.0, True),  # x better than last value
    "lstm_timeseries": ("baseline.json", "improvement", 1.5, True),
    "gru_timeseries": ("baseline.json", "improvement", 1.5, True),
    "regression_diabetes": ("mean_baseline.json", "improvement", 0.25, True),
    "sine_extrapolation": ("mean_baseline.json", "improvement", 0.8, True),
    "autoencoder_digits": ("reconstruction.json", "mse", 0.065, False),  # mean image: 0.074
    "gan_digits": ("gan.json", "improvement", 1.3, True),  # closer to data than untrained
    "filters": ("feature_maps.json", "examples", 1, True),
}
EPOCHS = {"playground_spiral": "20", "regression_diabetes": "20", "filters": "0",
          "insurance_two_heads": "15"}  # its l1 penalty slows the first epochs


def test_every_example_has_a_bar() -> None:
    assert set(TRAINED) <= set(BARS), set(TRAINED) - set(BARS)


@pytest.mark.parametrize("name", TRAINED)
def test_example_runs_and_learns(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    run = subprocess.run(
        [sys.executable, "-m", "nnlang.cli", "run", f"examples/{name}.nn", "--out", str(out),
         "--quiet", "--epochs", EPOCHS.get(name, "3")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    file, key, bar, larger = BARS[name]
    report = json.loads((out / file).read_text())
    assert (report[key] > bar) if larger else (report[key] < bar), report
    if name == "gan_digits":
        assert 0.5 < report["d_accuracy_last"] < 1.0, report
        assert (out / "samples.png").is_file()
    if name == "autoencoder_digits":
        assert (out / "reconstructions.png").is_file()
    if name == "filters":
        assert (out / "feature_maps.png").is_file()


@pytest.mark.parametrize("name", sorted(SUMMARY_ONLY))
def test_showcase_summarises(name: str) -> None:
    run = subprocess.run([sys.executable, "-m", "nnlang.cli", "summary", f"examples/{name}.nn"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "params" in run.stdout.lower()
