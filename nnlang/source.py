"""Source text and spans.

A :class:`Source` keeps the text of a file so diagnostics can quote it long
after parsing; lark keeps no copy. Lines and columns are 1-based, like lark's
and like GNU's ``file:line:col`` convention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TAB_WIDTH = 4


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: from (line, col) up to (end_line, end_col), exclusive."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.path, self.line, self.col, other.end_line, other.end_col)

    def point(self) -> Span:
        """A one-character span at the start of ``self``."""
        return Span(self.path, self.line, self.col, self.line, self.col + 1)


@dataclass(frozen=True, slots=True)
class Source:
    """A file's path and text."""

    path: str
    text: str
    lines: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # split only at \n, as lark counts lines (str.splitlines also splits at \f,
        # \v, \x1c-\x1e, \x85, U+2028/9), so a quoted line matches its number
        lines = self.text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        object.__setattr__(self, "lines", tuple(line.rstrip("\r") for line in lines))

    @classmethod
    def read(cls, path: str | Path) -> Source:
        return cls(str(path), Path(path).read_text(encoding="utf-8", errors="replace"))

    def line(self, number: int) -> str:
        """The text of 1-based line ``number``, or '' past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


def expand_tabs(line: str, col: int) -> tuple[str, int]:
    """Expand tabs in ``line`` and map the 1-based ``col`` into the expanded text."""
    if "\t" not in line:
        return line, col
    prefix = line[: col - 1].expandtabs(TAB_WIDTH)
    return line.expandtabs(TAB_WIDTH), len(prefix) + 1
