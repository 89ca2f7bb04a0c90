"""fuse_epochs and data_parallel = auto: a decision measured once is kept on disk
for the next run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.jax


@pytest.fixture
def disk(tmp_path: Path):
    from nnlang.train import fusion

    before = fusion._DISK
    fusion.clear_cache()
    fusion.persist(tmp_path / "fusion.json")
    yield tmp_path / "fusion.json"
    fusion.persist(before)
    fusion.clear_cache()


def test_a_measured_choice_is_reused_by_a_later_process(
    disk: Path, monkeypatch
) -> None:
    from nnlang.train import fusion

    step, fused = fusion.Form(False), fusion.Form(True)
    timings = iter([{step: 2e-3, fused: 1e-3}])  # fusing wins
    monkeypatch.setattr(fusion, "measure", lambda forms, steps: next(timings))
    key = (
        "mlp",
        ((".dense_0.kernel", (64, 10), "float32"),),
        "cpu",
        32,
        ("adam", "f32"),
    )
    form, note = fusion.choose("auto", "auto", key, lambda d: d, steps=10)
    assert form == fused and "measured per-step 2.000, fused 1.000 ms/step" in note
    assert len(json.loads(disk.read_text())) == 1

    fusion.clear_cache()  # a new process: nothing in memory, the file remains
    form, note = fusion.choose("auto", "auto", key, _no_placement, steps=10)
    assert form == fused and "cached in" in note  # no second measurement


def _no_placement(devices: int):
    raise AssertionError("measure is replaced: nothing is placed")


def test_data_parallel_is_chosen_and_kept_with_its_device_count(
    disk: Path, monkeypatch
) -> None:
    from nnlang.train import fusion

    times = {
        fusion.Form(False): 7e-3,
        fusion.Form(True): 6.5e-3,
        fusion.Form(True, 2): 4.6e-3,
    }
    seen = []

    def measure(forms, steps):
        seen.extend(forms)
        return times

    monkeypatch.setattr(fusion, "measure", measure)
    form, note = fusion.choose(
        "auto", "auto", ("lstm",), lambda d: d, steps=10, devices=2
    )
    assert form == fusion.Form(True, 2) and str(form) == "fused on 2 devices"
    assert seen == list(times)  # one device first: simpler forms win ties
    fusion.clear_cache()
    assert fusion.choose("auto", "auto", ("lstm",), _no_placement, steps=10, devices=2)[
        0
    ] == fusion.Form(True, 2)
    # data_parallel = false is another question: measured again, on one device
    seen.clear()
    form, _ = fusion.choose("auto", False, ("lstm",), lambda d: d, steps=10, devices=2)
    assert form == fusion.Form(True) and seen == [fusion.Form(False), fusion.Form(True)]


def test_a_form_must_win_by_the_margin_over_a_simpler_one(
    disk: Path, monkeypatch
) -> None:
    from nnlang.train import fusion

    times = {
        fusion.Form(False): 1.0,
        fusion.Form(True): 0.995,
        fusion.Form(True, 2): 0.996,
    }
    monkeypatch.setattr(fusion, "measure", lambda forms, steps: times)
    form, _ = fusion.choose("auto", "auto", ("tie",), lambda d: d, steps=10, devices=2)
    assert form == fusion.Form(False)
    times = {fusion.Form(False): 1.0, fusion.Form(False, 2): 0.995}
    form, _ = fusion.choose(False, "auto", ("tie",), lambda d: d, steps=10, devices=2)
    assert form == fusion.Form(False)


def test_settings_that_leave_one_form_measure_nothing(monkeypatch) -> None:
    from nnlang.train import fusion

    monkeypatch.setattr(fusion, "measure", _no_placement)
    assert fusion.choose(True, False, ("k",), _no_placement, steps=10, devices=2) == (
        fusion.Form(True),
        "fuse_epochs = true; data_parallel = false",
    )
    assert fusion.choose(False, True, ("k",), _no_placement, steps=10, devices=2) == (
        fusion.Form(False, 2),
        "fuse_epochs = false; data_parallel = true",
    )
    form, note = fusion.choose(
        True,
        True,
        ("k",),
        _no_placement,
        steps=10,
        devices=1,
        why_one_device="one device",
    )
    assert form == fusion.Form(True) and "data_parallel = true, but one device" in note
    form, note = fusion.choose("auto", "auto", ("k",), _no_placement, steps=1)
    assert form == fusion.Form(False) and note == "one step per epoch: nothing to fuse"


def test_a_damaged_file_means_measuring_again(disk: Path, monkeypatch) -> None:
    from nnlang.train import fusion

    disk.write_text("{not json")
    times = {fusion.Form(False): 1e-3, fusion.Form(True): 2e-3}
    monkeypatch.setattr(fusion, "measure", lambda forms, steps: times)
    form, note = fusion.choose("auto", "auto", ("k",), lambda d: d, steps=10)
    assert form == fusion.Form(False) and "measured" in note
    assert json.loads(disk.read_text())  # rewritten whole


def test_a_note_on_the_settings_survives_measuring_and_the_cache(
    disk: Path, monkeypatch
) -> None:
    """data_parallel = true on a model that cannot split (batchnorm) says so
    however the fused/per-step choice is made: measured, cached or stored."""
    from nnlang.train import fusion

    times = {fusion.Form(False): 1e-3, fusion.Form(True): 2e-3}
    monkeypatch.setattr(fusion, "measure", lambda forms, steps: times)
    why = "data_parallel = true, but batchnorm's statistics need the whole batch"
    args = ("auto", True, ("bn",), lambda d: d)
    kw = {"steps": 10, "devices": 1, "why_one_device": why.split(", but ")[1]}
    measured = fusion.choose(*args, **kw)[1]
    cached = fusion.choose(*args, **kw)[1]
    fusion.clear_cache()
    stored = fusion.choose(*args, **kw)[1]
    for note in (measured, cached, stored):
        assert note.startswith(why + "; ")
    assert "measured" in measured and "(cached)" in cached and "cached in" in stored
    assert why not in json.loads(disk.read_text()).popitem()[1][1]  # kept once, on top
