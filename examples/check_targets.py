"""Train every example in full and check the target it promises (prints a table).

    python examples/check_targets.py                 # all of them (~15 min on 2 cores)
    python examples/check_targets.py mlp_digits gan_digits   # some of them

Each row: the example, the number checked, its bound, seconds taken. Most
examples are one `nnc run`; `transfer_digits` runs its three train blocks in
order (pretrain, fine-tune from it, the same from scratch) and compares the
last two. Exit 1 if a target is missed. The test suite runs the same files
shortened (tests/test_examples.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    """``file[key]`` in the run directory must be >= bound (or <= when not larger)."""

    file: str
    key: str
    bound: float
    larger: bool = True

    def met(self, value: float) -> bool:
        return value >= self.bound if self.larger else value <= self.bound

    def describe(self) -> str:
        return f"{'>=' if self.larger else '<='} {self.bound:g}"


def acc(bound: float) -> Target:
    return Target("metrics.json", "accuracy", bound)


TARGETS: dict[str, list[Target]] = {
    "logistic_digits": [acc(0.94)],
    "mlp_digits": [acc(0.97)],
    "cnn_digits": [acc(0.98)],
    "digits_cnn": [acc(0.98)],
    "resnet_digits": [acc(0.98)],
    "inception_digits": [acc(0.98)],
    "text_sentiment": [acc(0.90)],
    "text_conv1d": [acc(0.90)],
    # word order lost: must stay clearly below the recurrent model
    "text_bag_of_words": [Target("metrics.json", "accuracy", 0.80, False)],
    "insurance_two_heads": [Target("metrics.json", "quote_accuracy", 0.90),
                            Target("mean_baseline.json", "premium_improvement", 0.50)],
    "playground_circle": [acc(0.95)],
    "playground_xor": [acc(0.95)],
    "playground_gauss": [acc(0.97)],
    "playground_spiral": [acc(0.95)],
    # 1 - model MSE / MSE of predicting the training mean
    "regression_diabetes": [Target("mean_baseline.json", "improvement", 0.40)],
    "sine_extrapolation": [Target("extrapolation.json", "in_range_mse", 0.01, False)],
    # x better than repeating the window's last value
    "lstm_sine": [Target("baseline.json", "improvement", 5.0)],
    "lstm_timeseries": [Target("baseline.json", "improvement", 5.0)],
    "gru_timeseries": [Target("baseline.json", "improvement", 5.0)],
    "autoencoder_digits": [Target("reconstruction.json", "mse", 0.015, False)],
    "filters": [Target("feature_maps.json", "examples", 4)],  # the picture was drawn
    # the discriminator neither wins nor collapses over the last epochs
    "gan_digits": [Target("gan.json", "d_accuracy_last", 0.55),
                   Target("gan.json", "d_accuracy_last", 0.95, False)],
}
SUMMARY_ONLY = ("vgg16", "resnet50")  # showcases for `nnc summary`, not trained here


def nnc_run(name: str, out: Path, *extra: str) -> tuple[bool, str]:
    run = subprocess.run([sys.executable, "-m", "nnlang.cli", "run", str(HERE / f"{name}.nn"),
                          "--out", str(out), "--quiet", *extra], capture_output=True, text=True)
    return run.returncode == 0, run.stderr


def read(out: Path, target: Target) -> float:
    return float(json.loads((out / target.file).read_text())[target.key])


def check_one(name: str, tmp: Path) -> tuple[list[tuple[str, float, str, bool]], str]:
    """Rows of (what, value, bound, met) for one example, or an error text."""
    out = tmp / name
    ok, err = nnc_run(name, out)
    if not ok:
        return [], err
    return [(f"{t.file}:{t.key}", v, t.describe(), t.met(v))
            for t in TARGETS[name] for v in [read(out, t)]], ""


def check_transfer(tmp: Path) -> tuple[list[tuple[str, float, str, bool]], str]:
    """Pretrain on 0-4, fine-tune on a few 5-9 examples, and the same from scratch."""
    runs = {}
    for block, extra in [("pretrain", ()),
                         ("finetune", ("--set", f'init_from="{tmp / "pretrain"}"')),
                         ("scratch", ())]:
        ok, err = nnc_run("transfer_digits", tmp / block, "--train", block, *extra)
        if not ok:
            return [], err
        runs[block] = read(tmp / block, acc(0))
    gain = runs["finetune"] - runs["scratch"]
    return [("pretrain accuracy", runs["pretrain"], ">= 0.98", runs["pretrain"] >= 0.98),
            ("finetune accuracy", runs["finetune"], f"scratch {runs['scratch']:.3f}", gain > 0),
            ("finetune - scratch", gain, "> 0", gain > 0)], ""


def main(names: list[str]) -> int:
    names = names or [*TARGETS, "transfer_digits"]
    failed = 0
    print(f"{'example':<20} {'checked':<40} {'value':>8} {'bound':>16} {'time':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            start = time.perf_counter()
            if name == "transfer_digits":
                rows, err = check_transfer(Path(tmp) / name)
            else:
                rows, err = check_one(name, Path(tmp))
            seconds = time.perf_counter() - start
            if err or not rows:
                print(f"{name:<20} failed:\n{err}")
                failed += 1
                continue
            for i, (what, value, bound, met) in enumerate(rows):
                failed += not met
                print(f"{name if i == 0 else '':<20} {what:<40} {value:>8.4g} {bound:>16}"
                      f" {seconds:>5.0f}s{'' if met else '  MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
