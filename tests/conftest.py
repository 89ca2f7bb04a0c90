"""Shared test configuration: the spec corpora and the ``--update-goldens`` flag.

Fixtures that a test names are parametrized over the corpora here, so every
test module sees the same files in the same order:

* ``valid_spec``   - every ``specs/valid/**/*.nn`` (library files in lib/ included);
* ``invalid_spec`` - every ``specs/invalid/*.nn``; its golden is the ``.err`` beside it;
* ``syntax_spec``  - the ``specs/invalid/syntax_*.nn`` among them;
* ``example_file`` - every ``examples/**/*.nn`` (the folder may be empty).

Paths are relative to the repository root (``specs/valid/mlp_iris.nn``), which
is also the working directory of every subprocess the tests start, so rendered
diagnostics and goldens carry the same relative paths whatever the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VALID_DIR = ROOT / "specs" / "valid"
INVALID_DIR = ROOT / "specs" / "invalid"
EXAMPLES_DIR = ROOT / "examples"


def _relative(paths) -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in paths)


def valid_specs() -> list[str]:
    return _relative(VALID_DIR.rglob("*.nn"))


def invalid_specs() -> list[str]:
    return _relative(INVALID_DIR.glob("*.nn"))


def syntax_specs() -> list[str]:
    return [p for p in invalid_specs() if Path(p).name.startswith("syntax_")]


def example_files() -> list[str]:
    return _relative(EXAMPLES_DIR.rglob("*.nn")) if EXAMPLES_DIR.is_dir() else []


CORPORA = {
    "valid_spec": valid_specs,
    "invalid_spec": invalid_specs,
    "syntax_spec": syntax_specs,
    "example_file": example_files,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files (specs/invalid/*.err, ...) from the current output",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, files in CORPORA.items():
        if name in metafunc.fixturenames:
            paths = files()
            ids = [Path(p).relative_to(Path(p).parts[0]).as_posix() for p in paths]
            metafunc.parametrize(name, paths, ids=ids)


@pytest.fixture(scope="session")
def update_goldens(request: pytest.FixtureRequest) -> bool:
    """True under ``pytest --update-goldens``: golden tests rewrite instead of compare."""
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _cwd_at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative spec paths resolve from the repository root in every test."""
    monkeypatch.chdir(ROOT)


@dataclass(frozen=True)
class Run:
    """A finished ``nnc`` process; ``stderr_bytes`` is exactly what it wrote."""

    returncode: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", errors="replace")


def run_nnc(
    *args: str, cwd: Path = ROOT, timeout: float = 120, python: str = sys.executable
) -> Run:
    """Run ``python -m nnlang.cli ARGS`` (what the ``nnc`` script runs) from ``cwd``.

    Going through ``-m`` with this interpreter tests the checkout under test even
    where another ``nnc`` comes first on PATH. Output is kept as bytes (no newline
    translation), so goldens compare exactly.
    """
    env = dict(os.environ, PYTHONIOENCODING="utf-8", NO_COLOR="1", COLUMNS="200")
    proc = subprocess.run(
        [python, "-m", "nnlang.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def nnc():
    """``nnc(*args)`` runs the command line in a subprocess from the repository root."""
    return run_nnc


TINY_MLP = """\
model mlp {{
    input pixels: [64]
    dense(10, act=softmax)
}}

train mlp {{
    data = digits(split=[0.7, 0.15, 0.15])
    batch = 64
    epochs = 1
    loss = cross_entropy
    optimizer = adam(lr={lr})
    seed = 0
}}
"""


@pytest.fixture
def tiny_mlp(tmp_path: Path):
    """``make(name, lr="3e-3")``: a one-epoch softmax classifier of the digits
    written to ``tmp_path / name`` (the small run the run-directory tests share)."""

    def make(name: str = "mlp.nn", lr: str = "3e-3") -> Path:
        path = tmp_path / name
        path.write_text(TINY_MLP.format(lr=lr))
        return path

    return make
