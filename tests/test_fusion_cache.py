"""fuse_epochs = auto: a decision measured once is kept on disk for the next run."""

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


def test_a_measured_choice_is_reused_by_a_later_process(disk: Path, monkeypatch) -> None:
    from nnlang.train import fusion

    timings = iter([(2e-3, 1e-3)])  # per-step, fused: fusing wins
    monkeypatch.setattr(fusion, "measure", lambda *a: next(timings))
    key = ("mlp", ((".dense_0.kernel", (64, 10), "float32"),), "cpu", 32, ("adam", "f32"))
    fused, note = fusion.choose("auto", key, None, None, None, None, steps=10)
    assert fused and "measured" in note
    assert len(json.loads(disk.read_text())) == 1

    fusion.clear_cache()  # a new process: nothing in memory, the file remains
    fused, note = fusion.choose("auto", key, None, None, None, None, steps=10)
    assert fused and "cached in" in note  # no second measurement (the iterator is spent)


def test_a_damaged_file_means_measuring_again(disk: Path, monkeypatch) -> None:
    from nnlang.train import fusion

    disk.write_text("{not json")
    monkeypatch.setattr(fusion, "measure", lambda *a: (1e-3, 2e-3))
    fused, note = fusion.choose("auto", ("k",), None, None, None, None, steps=10)
    assert not fused and "measured" in note
    assert json.loads(disk.read_text())  # rewritten whole
