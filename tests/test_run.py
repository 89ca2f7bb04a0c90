"""``nnc run``, ``eval``, ``predict`` and the Python API, end to end on small runs.

Each test trains for a few epochs on the bundled digits (seconds on a CPU) and
asserts real behaviour: files written, the model beats chance clearly, the
same seed gives the same metrics, a resumed run equals an uninterrupted one,
a diverging run stops with a message, bad data is a located error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.jax

MLP = """\
model mlp {
    input pixels: [64]
    dense(32, act=relu)
    dropout(0.1)
    dense(10, act=softmax)
}

train mlp {
    data = digits(split=[0.7, 0.15, 0.15])
    batch = 64
    epochs = 4
    loss = cross_entropy
    optimizer = adam(lr=3e-3)
    metrics = [accuracy]
    seed = 0
}
"""


def nnc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def mlp_file(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.nn"
    path.write_text(MLP)
    return path


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_writes_the_run_directory_and_beats_chance(mlp_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = nnc("run", str(mlp_file), "--out", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    for name in ("mlp.nn", "summary.json", "metrics.jsonl", "metrics.json", "curves.png",
                 "run.json"):
        assert (out / name).is_file(), name
    assert len(rows(out)) == 4
    test = json.loads((out / "metrics.json").read_text())
    assert test["accuracy"] > 0.85  # chance is 0.1
    assert run.stdout == (f"test  loss {test['loss']:.4f}  accuracy {test['accuracy']:.4f}\n"
                          f"run directory: {out}\n")  # --quiet: the result, no progress
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total_params"] == 64 * 32 + 32 + 32 * 10 + 10


def test_same_seed_same_metrics(mlp_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert nnc("run", str(mlp_file), "--out", str(out), "--quiet", "--epochs", "2"
                   ).returncode == 0
    strip = lambda r: {k: v for k, v in r.items() if k not in ("time", "samples_per_s")}  # noqa: E731
    assert [strip(r) for r in rows(a)] == [strip(r) for r in rows(b)]
    assert json.loads((a / "metrics.json").read_text()) == json.loads(
        (b / "metrics.json").read_text())


def test_resume_continues_as_if_never_stopped(mlp_file: Path, tmp_path: Path) -> None:
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert nnc("run", str(mlp_file), "--out", str(straight), "--quiet").returncode == 0
    assert nnc("run", str(mlp_file), "--out", str(stopped), "--quiet", "--epochs", "2"
               ).returncode == 0
    run = nnc("run", str(mlp_file), "--resume", str(stopped), "--quiet", "--epochs", "4",
              "--set", "seed=0")  # the file's seed: changes nothing, but is recorded
    assert run.returncode == 0, run.stderr
    assert [r["loss"] for r in rows(stopped)] == [r["loss"] for r in rows(straight)]
    info = json.loads((stopped / "run.json").read_text())
    assert (info["overrides"], info["epochs"]) == ({}, 2)  # as the run started
    (resumed,) = info["resumes"]  # then what the resume changed
    assert (resumed["overrides"], resumed["epochs"]) == ({"seed": "0"}, 4)
    assert json.loads((stopped / "metrics.json").read_text()) == json.loads(
        (straight / "metrics.json").read_text())


def test_resuming_the_wrong_directory_is_a_user_error_that_changes_nothing(
        mlp_file: Path, tmp_path: Path) -> None:  # fmt: skip
    ran = tmp_path / "ran"
    assert nnc("run", str(mlp_file), "--out", str(ran), "--quiet", "--epochs", "1"
               ).returncode == 0  # fmt: skip
    before = {p: p.read_bytes() for p in ran.rglob("*") if p.is_file()}
    no_checkpoint = tmp_path / "no_checkpoint"  # stopped before its first save
    no_checkpoint.mkdir()
    for name in ("run.json", "summary.json"):
        (no_checkpoint / name).write_bytes((ran / name).read_bytes())
    other = tmp_path / "other.nn"
    other.write_text(MLP)
    wider = tmp_path / "wider" / "mlp.nn"  # the same file name, the model edited
    wider.parent.mkdir()
    wider.write_text(MLP.replace("dense(32, act=relu)", "dense(48, act=relu)"))
    cases = [
        (mlp_file, tmp_path / "missing", "is not a run directory (no run.json)"),
        (mlp_file, no_checkpoint, "has no checkpoint to resume"),
        (other, ran, "is a run of train 'mlp' in mlp.nn, not of train 'mlp' in "
                     "other.nn"),
        (wider, ran, "model 'mlp' changed since the run in"),
    ]  # fmt: skip
    for source, folder, message in cases:
        run = nnc("run", str(source), "--resume", str(folder), "--quiet")
        assert run.returncode == 1, (folder, run.stderr)
        assert message in run.stderr and "[file]" in run.stderr
        assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    assert "layer dense_0 is [48] with 3,120 parameters, was dense_0 [32] with " \
        "2,080" in run.stderr  # fmt: skip
    assert not (tmp_path / "missing").exists()
    assert {p: p.read_bytes() for p in ran.rglob("*") if p.is_file()} == before


def test_diverging_run_stops_with_epoch_and_step(mlp_file: Path, tmp_path: Path) -> None:
    run = nnc("run", str(mlp_file), "--out", str(tmp_path / "nan"), "--quiet",
              "--set", "optimizer=sgd(lr=1e30)")
    assert run.returncode == 1
    assert "epoch 1" in run.stderr and "step" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_data_file_is_a_located_error(tmp_path: Path) -> None:
    src = tmp_path / "table.nn"
    src.write_text(MLP.replace("digits(split=[0.7, 0.15, 0.15])",
                               'csv("missing.csv", target=label)'))
    run = nnc("run", str(src), "--quiet")
    assert run.returncode == 1
    assert f"{src}:9:5: error:" in run.stderr and "missing.csv" in run.stderr
    assert "data = csv(" in run.stderr  # the source line is quoted
    assert "Traceback" not in run.stderr


def test_data_that_does_not_fit_the_input_is_a_located_error(tmp_path: Path) -> None:
    src = tmp_path / "wrong.nn"
    src.write_text(MLP.replace("input pixels: [64]", "input pixels: [60]"))
    run = nnc("run", str(src), "--quiet")
    assert run.returncode == 1
    assert f"{src}:2:5: error: input 'pixels' is declared [60]" in run.stderr
    assert "[data-mismatch]" in run.stderr
    assert "features=" not in run.stderr  # digits has no columns to choose


def test_a_table_that_does_not_fit_the_input_suggests_choosing_columns(
        tmp_path: Path) -> None:
    """A CSV window takes every numeric column, an index column too."""
    rows = "\n".join(f"{i},{i * 0.1:.1f},{i * 0.2:.1f}" for i in range(200))
    (tmp_path / "series.csv").write_text("step,a,y\n" + rows + "\n")
    src = tmp_path / "series.nn"
    src.write_text("model m {\n    input x: [5, 2]\n    flatten\n    dense(1)\n}\n\n"
                   "train m {\n    data = csv(\"series.csv\", target=y, window=5)\n}\n")
    run = nnc("check", str(src))
    assert run.returncode == 0, run.stderr
    run = nnc("run", str(src), "--quiet", cwd=tmp_path)
    assert run.returncode == 1 and "[data-mismatch]" in run.stderr, run.stderr
    assert "or choose the columns: csv(..., features=[a, b])" in run.stderr


def test_eval_and_predict_use_the_trained_run(mlp_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert nnc("run", str(mlp_file), "--out", str(out), "--quiet").returncode == 0
    run = nnc("eval", str(mlp_file), "--run", str(out))
    assert run.returncode == 0, run.stderr
    trained = json.loads((out / "metrics.json").read_text())
    assert f"{trained['accuracy']:.4f}" in run.stdout

    from sklearn.datasets import load_digits

    digits = load_digits()
    np.save(tmp_path / "x.npy", digits.data[:200].astype(np.float32))
    run = nnc("predict", str(mlp_file), "--run", str(out), str(tmp_path / "x.npy"))
    assert run.returncode == 0, run.stderr
    table = np.loadtxt(out / "predictions.csv", delimiter=",", skiprows=1)
    assert table.shape == (200, 11)  # the class, then 10 probabilities
    assert np.allclose(table[:, 1:].sum(1), 1, atol=1e-3)
    assert (table[:, 0] == digits.target[:200]).mean() > 0.85


def test_predicting_examples_of_the_wrong_size_is_a_user_error(mlp_file: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert nnc("run", str(mlp_file), "--out", str(out), "--quiet", "--epochs", "1"
               ).returncode == 0  # fmt: skip
    cases = {
        "narrow.npy": (np.zeros((3, 5)), "holds 3 example(s) of 5 value(s); input "
                                         "'pixels' is [64], 64 values"),
        "one.npy": (np.zeros(64), "add a first axis for one example"),
    }  # fmt: skip
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array)
        run = nnc("predict", str(mlp_file), "--run", str(out), str(tmp_path / name))
        assert run.returncode == 1, run.stderr
        assert message in run.stderr and "[data-mismatch]" in run.stderr
        assert "internal error" not in run.stderr
    assert not (out / "predictions.csv").exists()


def test_python_api_init_apply_fit_predict(mlp_file: Path) -> None:
    import jax

    import nnlang

    model = nnlang.load(mlp_file).model("mlp")
    variables = model.init(jax.random.key(0), batch=2)
    assert set(variables["params"]) == {"dense_0", "dense_1"}
    assert variables["params"]["dense_0"]["kernel"].shape == (64, 32)
    outputs, _ = model.apply(variables, np.zeros((2, 64), np.float32))
    assert outputs["output"].shape == (2, 10)
    history = model.fit(epochs=3)
    assert history.test["accuracy"] > 0.7  # chance is 0.1
    probs = model.predict(inputs=np.zeros((3, 64), np.float32))["output"]
    assert np.allclose(np.asarray(probs).sum(-1), 1, atol=1e-5)


def test_check_source_programs_fit_and_predict_as_in_keras() -> None:
    """check_source's temporary file used to vanish before fit() could read it;
    predict(x) used to take x for the variables."""
    import nnlang

    model = nnlang.check_source(MLP).model("mlp")
    history = model.fit(epochs=2)
    assert history.test["accuracy"] > 0.5  # chance is 0.1
    probs = model.predict(np.zeros((3, 64), np.float32))["output"]
    assert np.asarray(probs).shape == (3, 10)


def test_an_api_error_prints_where_and_how_to_fix_it() -> None:
    import nnlang

    with pytest.raises(nnlang.NnError) as info:
        nnlang.check_source("model m {\n    input x: [3]\n    dense(2, activation=relu)\n}\n")
    assert str(info.value) == (
        "<source>:3:14: error: unknown argument 'activation' for dense [bad-argument]\n"
        "  = help: did you mean 'act'?")


def test_python_api_names_what_it_wants_for_wrong_inputs_and_models(mlp_file: Path) -> None:
    import jax

    import nnlang

    program = nnlang.load(mlp_file)
    with pytest.raises(KeyError, match="no model 'mpl' .*; models: mlp; did you mean 'mlp'"):
        program.model("mpl")
    model = program.model("mlp")
    variables = model.init(jax.random.key(0))
    wrong = {
        "examples of shape \\[64\\], an array of shape \\(batch, 64\\); got shape "
        "\\(3, 5\\)": np.zeros((3, 5), np.float32),
        "got shape \\(64,\\)": np.zeros(64, np.float32),  # one example, no batch axis
    }
    for message, x in wrong.items():
        with pytest.raises(ValueError, match=message):
            model.apply(variables, x)
        with pytest.raises(ValueError, match=message):
            model.predict(variables, x)
    with pytest.raises(KeyError, match="takes inputs pixels; got pixel; did you mean"):
        model.apply(variables, {"pixel": np.zeros((3, 64), np.float32)})


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same(mlp_file: Path,
                                                                tmp_path: Path) -> None:
    import signal
    import time

    slow = mlp_file.read_text().replace("batch = 64", "batch = 8").replace(
        "epochs = 4", "epochs = 30")
    mlp_file.write_text(slow)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert nnc("run", str(mlp_file), "--out", str(straight), "--quiet").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "nnlang.cli", "run", str(mlp_file), "--out",
                             str(stopped), "--quiet"], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    log = stopped / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("training finished before the interrupt arrived")
    assert proc.returncode == 130, stderr
    assert f"resume with: nnc run {mlp_file} --resume {stopped}" in stderr
    assert "Traceback" not in stderr
    run = nnc("run", str(mlp_file), "--resume", str(stopped), "--quiet")
    assert run.returncode == 0, run.stderr
    assert [r["loss"] for r in rows(stopped)] == [r["loss"] for r in rows(straight)]
    assert json.loads((stopped / "metrics.json").read_text()) == json.loads(
        (straight / "metrics.json").read_text())


def test_second_run_reuses_the_persistent_compilation_cache(mlp_file: Path,
                                                            tmp_path: Path) -> None:
    """`nnc run` keeps compiled programs under $XDG_CACHE_HOME/nnlang; a second run
    of the same file adds nothing there (every program was found) and gives the
    same metrics."""
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    xla = tmp_path / "cache" / "nnlang" / "xla"
    runs = []
    for name in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-m", "nnlang.cli", "run", str(mlp_file), "--epochs", "2",
             "--quiet", "--out", str(tmp_path / name)],
            cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr
        runs.append(sorted(p.name for p in xla.iterdir()))
    assert runs[0] and runs[1] == runs[0]
    assert (tmp_path / "cache" / "nnlang" / "fusion.json").is_file()
    first, second = (json.loads((tmp_path / n / "metrics.json").read_text())
                     for n in ("first", "second"))
    assert first == second


def test_a_two_class_softmax_head_trains_with_the_default_loss(tmp_path: Path) -> None:
    path = tmp_path / "cancer.nn"
    path.write_text("model m {\n    input x: [30]\n    dense(2, act=softmax)\n}\n\n"
                    "train m {\n    data = breast_cancer\n    epochs = 2\n"
                    "    checkpoint = false\n}\n")
    out = tmp_path / "run"
    result = nnc("run", str(path), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["activations"] == {"output": "softmax"}
    assert rows(out)[-1]["accuracy"] > 0.7


def test_a_train_config_error_found_while_training_is_a_located_user_error(
        mlp_file: Path, monkeypatch) -> None:
    import nnlang.train.loop as loop
    from nnlang.diagnostics import NnError
    from nnlang.run import run_file
    from nnlang.train.config import TrainConfigError

    def refuse(*args, **kwargs):
        raise TrainConfigError("freeze names unknown layer 'x'", "seed", "did you mean?")

    monkeypatch.setattr(loop, "fit", refuse)
    with pytest.raises(NnError) as caught:
        run_file(mlp_file, out=mlp_file.parent / "run", verbose=0)
    (diag,) = caught.value.diagnostics
    assert diag.code == "train-config" and diag.span.line == 15  # the seed setting
    assert diag.message == "freeze names unknown layer 'x'"


def test_nnc_predict_of_a_linear_classifier_gives_probabilities_and_classes(
        tmp_path: Path) -> None:
    path = tmp_path / "lin.nn"
    path.write_text(MLP.replace("dense(10, act=softmax)", "dense(10)").replace(
        "epochs = 4", "epochs = 1"))
    out = tmp_path / "run"
    assert nnc("run", str(path), "--out", str(out), cwd=tmp_path).returncode == 0
    x = np.random.default_rng(0).uniform(size=(3, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = nnc("predict", str(path), "--run", str(out), str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "p.csv"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1:].sum(axis=1), 1.0, rtol=1e-4)
    assert (table[:, 1:] >= 0).all()


def test_eval_and_predict_refuse_a_model_edited_since_the_run(mlp_file: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert nnc("run", str(mlp_file), "--out", str(out), "--quiet", "--epochs", "1"
               ).returncode == 0  # fmt: skip
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    wider = tmp_path / "wider.nn"
    wider.write_text(MLP.replace("dense(32, act=relu)", "dense(48, act=relu)"))
    for command in (("eval",), ("predict", str(tmp_path / "x.npy"))):
        run = nnc(command[0], str(wider), "--run", str(out), *command[1:])
        assert run.returncode == 1, run.stderr
        assert "model 'mlp' is not the model trained in" in run.stderr
        assert "layer dense_0 is [48] with 3,120 parameters, was dense_0 [32] with " \
            "2,080" in run.stderr and "[file]" in run.stderr  # fmt: skip
        assert f"a copy is '{out / 'mlp.nn'}'" in run.stderr
        assert "internal error" not in run.stderr


def test_eval_scores_the_runs_own_split_when_the_data_settings_changed(
        mlp_file: Path, tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert nnc("run", str(mlp_file), "--out", str(out), "--quiet", "--epochs", "1"
               ).returncode == 0  # fmt: skip
    info = json.loads((out / "run.json").read_text())
    assert (info["data"], info["data_seed"]) == ("digits(split=[0.7, 0.15, 0.15])", 0)
    same = nnc("eval", str(mlp_file), "--run", str(out))
    assert same.returncode == 0 and same.stderr == "", same.stderr
    edited = tmp_path / "edited.nn"  # another split: its "test" overlaps training
    edited.write_text(MLP.replace("split=[0.7, 0.15, 0.15]", "split=[0.5, 0.25, 0.25]"))
    run = nnc("eval", str(edited), "--run", str(out))
    assert run.returncode == 0, run.stderr
    assert run.stdout == same.stdout  # the run's test split, not the file's
    assert f"{edited}:9:5: warning: the file's data settings differ from the run's" \
        in run.stderr and "[data-changed]" in run.stderr  # fmt: skip
    assert "data = digits(split=[0.7, 0.15, 0.15]), seed = 0" in run.stderr


def test_predict_input_mistakes_are_named_and_nothing_is_overwritten(
        mlp_file: Path, tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert nnc("run", str(mlp_file), "--out", str(out), "--quiet", "--epochs", "1"
               ).returncode == 0  # fmt: skip
    bad = np.zeros((4, 64), np.float32)
    bad[2, 5] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    np.save(tmp_path / "text.npy", np.array([["a"] * 64]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 64), np.float32))
    (tmp_path / "notnumpy.npy").write_text("hello")
    (tmp_path / "garbage.npz").write_text("not a zip at all")
    cases = {
        "nan.npy": "has nan or inf in 1 of its 4 example(s), first in example 3 (index 2)",
        "text.npy": "holds <U1 values, not numbers",
        "empty.npy": "has no examples",
        "notnumpy.npy": "is not a .npy file",
        "garbage.npz": "is not a .npz archive",
        ".": "is a folder",
    }  # fmt: skip
    for name, message in cases.items():
        run = nnc("predict", str(mlp_file), "--run", str(out), str(tmp_path / name))
        assert run.returncode == 1, (name, run.stderr)
        assert message in run.stderr, (name, run.stderr)
        assert "internal error" not in run.stderr and "pickle" not in run.stderr
    assert not list(out.glob("predictions*"))
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    for name in ("predictions.csv", "predictions-2.csv"):  # never over the first
        run = nnc("predict", str(mlp_file), "--run", str(out), str(tmp_path / "x.npy"))
        assert run.returncode == 0, run.stderr
        assert f"predictions written to {out / name}" in run.stdout


def test_a_model_too_large_for_memory_is_a_user_error(mlp_file: Path, tmp_path: Path,
                                                      monkeypatch) -> None:
    wide = tmp_path / "wide.nn"
    wide.write_text("const width = 32\n" + MLP.replace("dense(32,", "dense(width,"))
    run = nnc("run", str(wide), "--out", str(tmp_path / "big"), "--quiet",
              "--set", "width=100000000000")
    assert run.returncode == 1, run.stderr
    assert "model 'mlp' does not fit in memory: its 7,500,000,000,010 parameters take " \
        "27.28 TB as float32" in run.stderr and "[out-of-memory]" in run.stderr
    assert "the largest layer, dense_0, has 6,500,000,000,000 parameters" in run.stderr
    assert "internal error" not in run.stderr
    assert not (tmp_path / "big").exists()  # refused before anything was written

    import nnlang.train.loop as loop
    from nnlang.diagnostics import NnError
    from nnlang.run import run_file

    def exhaust(*args, **kwargs):  # XLA's failure when the batch does not fit
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 4096 bytes")

    monkeypatch.setattr(loop, "fit", exhaust)
    with pytest.raises(NnError) as caught:
        run_file(mlp_file, out=tmp_path / "run", verbose=0)
    (diag,) = caught.value.diagnostics
    assert diag.code == "out-of-memory" and "2,410 parameters" in diag.message


def test_a_loss_that_cannot_fit_targets_only_loading_can_tell_stops_before_training(
        tmp_path: Path) -> None:
    """Whole-number ratings read as 6 classes; a one-unit model then trained at loss
    0.0000. The checker's rule now runs on the loaded targets, with a way out."""
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.normal(size=(60, 2)), rng.integers(0, 6, size=60)])
    np.savetxt(tmp_path / "rating.csv", table, delimiter=",", header="a,b,y", comments="",
               fmt=["%.3f", "%.3f", "%d"])
    path = tmp_path / "rating.nn"
    path.write_text('model m {\n    input x: [2]\n    dense(1)\n}\n\ntrain m {\n'
                    '    data = csv("rating.csv", target=y)\n    epochs = 1\n}\n')
    run = nnc("run", str(path), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "rating.nn:7:5: error: the default loss cross_entropy over the output [1] " \
        "scores a single class, so the loss is always 0 [target-mismatch]" in run.stderr
    assert "read as 6 classes" in run.stderr and "task=regression" in run.stderr
    assert not (tmp_path / "run").exists()


def test_run_prints_what_check_warns_about(mlp_file: Path, tmp_path: Path) -> None:
    text = mlp_file.read_text()
    assert "optimizer" in text
    path = tmp_path / "zero_lr.nn"
    path.write_text("\n".join(
        "    optimizer = adam(lr=0)" if line.strip().startswith("optimizer") else line
        for line in text.splitlines()) + "\n")
    run = nnc("run", str(path), "--epochs", "1", "--out", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    assert "warning: adam(): lr is 0, so nothing will train [odd-setting]" in run.stderr


def test_eval_of_a_split_the_run_does_not_have_says_which_it_has(tmp_path: Path) -> None:
    """split=[0.8, 0.2, 0.0] keeps no test split: nnc eval was an internal error."""
    path = tmp_path / "mlp.nn"
    path.write_text(MLP.replace("split=[0.7, 0.15, 0.15]", "split=[0.8, 0.2, 0.0]")
                    .replace("epochs = 4", "epochs = 1"))
    assert nnc("run", str(path), "--out", str(tmp_path / "run")).returncode == 0
    run = nnc("eval", str(path), "--run", str(tmp_path / "run"))
    assert run.returncode == 1, run.stderr
    assert "error: the test split of this run has no examples [data]" in run.stderr
    assert "--split val" in run.stderr and "internal error" not in run.stderr


def test_a_run_directory_does_not_repeat_the_file_name() -> None:
    from nnlang.run import default_run_dir

    class Spec:
        name = "mlp"

    assert default_run_dir(Path("mlp.nn"), Spec()).name.startswith("mlp-2")
    Spec.name = "finetune"
    assert default_run_dir(Path("mlp.nn"), Spec()).name.startswith("mlp-finetune-2")
