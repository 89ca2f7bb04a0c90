"""The built wheel works on its own: the grammar ships inside the package.

The checkout has grammars/nn.lark at the top level, where an editable install
finds it; pyproject force-includes it as nnlang/grammars/nn.lark in the wheel.
This test builds a real (non-editable) wheel, installs it into a fresh venv,
and parses and checks a spec from a directory outside the repository with that
venv's python, making sure the wheel's nnlang is the one imported.

The venv uses ``--system-site-packages`` so lark, numpy and friends come from
the running interpreter instead of being downloaded (a .pth file adds them when
the tests themselves run in a venv); building the wheel needs
pip's isolated build environment (hatchling), as any ``pip wheel .`` does.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "valid" / "mlp_iris.nn"

pytestmark = pytest.mark.slow

PROBE = """
import json, sys
from pathlib import Path
import nnlang, nnlang.parse
from nnlang.parse import parse_source, grammar_text
from nnlang.source import Source
module = parse_source(Source.read(sys.argv[1]))
print(json.dumps({
    "file": nnlang.__file__,
    "items": len(module.items),
    "grammar": grammar_text(),
    "packaged": (Path(nnlang.__file__).parent / "grammars" / "nn.lark").is_file(),
}))
"""


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"{args}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", out], cwd=ROOT)
    (built,) = out.glob("nnlang-*.whl")
    return built


def test_wheel_contains_the_grammar(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "nnlang/grammars/nn.lark" in names
    assert "nnlang/parse.py" in names and "nnlang/cli.py" in names
    assert not any(n.startswith(("tests/", "specs/")) for n in names)
    packaged = zipfile.ZipFile(wheel).read("nnlang/grammars/nn.lark").decode("utf-8")
    assert packaged == (ROOT / "grammars" / "nn.lark").read_text(encoding="utf-8")


def test_installed_wheel_parses_and_checks_outside_the_repo(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    # --without-pip: the system pip is visible through --system-site-packages and
    # installs into the venv's prefix, which saves bootstrapping a second pip.
    _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv],
        cwd=tmp_path,
    )
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if sys.prefix != sys.base_prefix:
        # pytest runs in a venv: --system-site-packages shows the base
        # interpreter's packages, not this venv's lark and numpy; add ours by a
        # .pth file (after the new venv's own, so the wheel's nnlang still wins)
        purelib = _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).stdout.strip()
        (Path(purelib) / "_outer_site.pth").write_text(
            "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
        )
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            wheel,
        ],
        cwd=tmp_path,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = elsewhere / SPEC.name
    spec.write_text(SPEC.read_text(encoding="utf-8"), encoding="utf-8")

    probe = _run([python, "-c", PROBE, spec], cwd=elsewhere)
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    nnlang_file = Path(report["file"]).resolve()
    assert venv.resolve() in nnlang_file.parents, (
        f"imported {nnlang_file}, not the wheel"
    )
    assert ROOT not in nnlang_file.parents
    assert report["packaged"], "the grammar is not inside the installed package"
    assert report["grammar"] == (ROOT / "grammars" / "nn.lark").read_text(
        encoding="utf-8"
    )
    assert report["items"] == 2

    check = subprocess.run(
        [python, "-m", "nnlang.cli", "check", spec.name],
        cwd=elsewhere,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in check.stderr, check.stderr
    assert check.returncode == 0, check.stderr
