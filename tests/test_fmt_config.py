"""``[tool.nnc.fmt] exclude`` in pyproject.toml: folders walked skip excluded files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nnc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnlang.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_excluded_files_are_skipped_when_walking_but_not_when_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.nnc.fmt]\nexclude = ["corpus/bad/*"]\n')
    (tmp_path / "corpus" / "bad").mkdir(parents=True)
    (tmp_path / "corpus" / "bad" / "broken.nn").write_text("model m {\n    dense(\n")
    (tmp_path / "corpus" / "ok.nn").write_text("model m {\n    input x: [4]\n    dense(2)\n}\n")
    assert nnc("fmt", "--check", "corpus", cwd=tmp_path).returncode == 0
    named = nnc("fmt", "--check", "corpus/bad/broken.nn", cwd=tmp_path)
    assert named.returncode == 1 and "broken.nn:2" in named.stderr


def test_this_repository_formats_clean() -> None:
    run = nnc("fmt", "--check", "specs", "examples", cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
