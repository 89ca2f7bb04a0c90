"""The docs stay true: generated tables match the registries, examples check.

* Every region between ``<!-- BEGIN GENERATED: NAME -->`` markers in
  ``docs/language.md`` must equal what ``python -m nnlang.docgen`` renders from
  the registries *now*, so a new layer, data-source parameter or optimiser
  fails here until the tables are regenerated.
* Every fenced block tagged ```` ```nn ```` in ``docs/*.md`` and ``README.md``
  must pass ``nnc check`` with no diagnostics, in the layout ``nnc fmt`` writes. ```` ```nn fragment ```` marks a
  piece that is not a whole file (left unchecked); ```` ```nn file=NAME.nn ````
  saves a block under that name beside the others of the same page, so a later
  block can ``import "NAME.nn"``.
* Hand-written lists stay complete: every train setting and every ``nnc``
  subcommand is documented.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nnlang import docgen
from nnlang.check import check_file
from nnlang.cli import build_parser
from nnlang.fmt import format_source
from nnlang.train.config import SETTING_KEYS

ROOT = Path(__file__).resolve().parent.parent
LANGUAGE = ROOT / "docs" / "language.md"
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
REGENERATE = f"run `{docgen.COMMAND}` to regenerate the tables"


@dataclass(frozen=True)
class NnBlock:
    """One ```nn fenced block of a page."""

    page: Path
    line: int
    body: str
    file: str | None
    fragment: bool

    @property
    def name(self) -> str:
        return self.file or f"block_{self.line}.nn"

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def nn_blocks(page: Path) -> list[NnBlock]:
    """The ```nn blocks of a Markdown page, in order."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        words = match["info"].split()
        if not words or words[0] != "nn":
            continue
        files = [w.removeprefix("file=") for w in words if w.startswith("file=")]
        blocks.append(
            NnBlock(
                page=page,
                line=text.count("\n", 0, match.start()) + 1,
                body=match["body"],
                file=files[0] if files else None,
                fragment="fragment" in words,
            )
        )
    return blocks


def write_page_blocks(page: Path, folder: Path) -> list[Path]:
    """Write a page's checkable blocks into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for block in nn_blocks(page):
        if not block.fragment:
            path = folder / block.name
            path.write_text(block.body, encoding="utf-8")
            paths.append(path)
    return paths


ALL_BLOCKS = [b for page in PAGES for b in nn_blocks(page) if not b.fragment]


# ------------------------------------------------------------------ generated tables


def test_generated_tables_match_the_registries() -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    stale = docgen.stale_regions(text)
    assert not stale, f"docs/language.md is stale in {stale}: {REGENERATE}"


def test_every_generated_region_is_in_the_reference() -> None:
    names = docgen.region_names(LANGUAGE.read_text(encoding="utf-8"))
    assert sorted(names) == sorted(docgen.RENDERERS), REGENERATE


def test_regenerating_is_idempotent() -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    once = docgen.regenerate(text)
    assert docgen.regenerate(once) == once
    assert docgen.stale_regions(once) == []


def test_every_builtin_layer_and_source_is_listed() -> None:
    from nnlang.data.registry import DATA_SOURCES
    from nnlang.layers import LAYERS, is_builtin

    text = LANGUAGE.read_text(encoding="utf-8")
    for name in [n for n in LAYERS if is_builtin(n)] + list(DATA_SOURCES):
        assert f"`{name}" in text, f"{name} missing: {REGENERATE}"


def test_docgen_check_flag_reports_stale_files(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- BEGIN GENERATED: metrics -->\nold\n<!-- END GENERATED: metrics -->\n"
    )
    assert docgen.main(["--check", str(page)]) == 1
    assert docgen.main([str(page)]) == 0
    assert docgen.main(["--check", str(page)]) == 0
    assert "`accuracy`" in page.read_text()


def test_docgen_imports_no_jax() -> None:
    code = (
        "import sys, nnlang.docgen as d; d.render_region('layers'); "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('jax', 'flax', 'optax')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ examples


def test_the_pages_have_checked_examples() -> None:
    counts = {p.name: 0 for p in PAGES}
    for block in ALL_BLOCKS:
        counts[block.page.name] += 1
    assert counts["language.md"] >= 10, counts
    assert counts["from-keras.md"] >= 8, counts
    assert counts["README.md"] >= 1, counts


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=str)
def test_nn_block_checks_clean(block: NnBlock, tmp_path: Path) -> None:
    write_page_blocks(block.page, tmp_path)
    result = check_file(tmp_path / block.name)
    diagnostics = result.sorted_diagnostics()
    assert not diagnostics, f"{block}: " + "; ".join(d.message for d in diagnostics)


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=str)
def test_nn_block_is_in_canonical_layout(block: NnBlock) -> None:
    formatted = format_source(block.body)
    diff = "".join(
        difflib.unified_diff(
            block.body.splitlines(True), formatted.splitlines(True), "doc", "nnc fmt"
        )
    )
    assert formatted == block.body, f"{block}: not as nnc fmt writes it:\n{diff}"


def test_nnc_check_passes_on_every_page(tmp_path: Path) -> None:
    for i, page in enumerate(PAGES):
        write_page_blocks(page, tmp_path / f"page{i}")
    out = subprocess.run(
        [sys.executable, "-m", "nnlang.cli", "check", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------------ hand lists


def subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)


@pytest.mark.parametrize("page", [LANGUAGE, ROOT / "README.md"], ids=lambda p: p.name)
def test_every_subcommand_is_documented(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = [c for c in subcommands() if f"`nnc {c}" not in text]
    assert not missing, f"{page.name} does not document: {missing}"


def test_every_train_setting_is_documented() -> None:
    text = LANGUAGE.read_text(encoding="utf-8")
    section = text.split("## Training", 1)[1].split("\n## ", 1)[0]
    missing = [k for k in SETTING_KEYS if f"`{k}" not in section]
    assert not missing, f"train settings missing from docs/language.md: {missing}"


def test_readme_links_the_docs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in (
        "docs/language.md",
        "docs/from-keras.md",
        "docs/errors.md",
        "examples/README.md",
        "benchmarks/RESULTS.md",
    ):
        assert f"]({target}" in text, target
