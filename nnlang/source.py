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
    def read(cls, path: str | Path, *, strict: bool = True) -> Source:
        """A `.nn` file as the parser reads it (see :func:`read_text`); CRLF and
        lone CR line endings read as LF, as Python's universal newlines do.
        ``strict=False`` replaces bytes that are not UTF-8 (to quote a line)."""
        text = read_text(path) if strict else Path(path).read_text(
            encoding="utf-8-sig", errors="replace")
        return cls(str(path), universal_newlines(text))

    def line(self, number: int) -> str:
        """The text of 1-based line ``number``, or '' past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""


BOM = "\ufeff"


def read_text(path: str | Path) -> str:
    """The text of a `.nn` file, exactly: UTF-8, without the byte-order mark that
    some Windows editors write.

    Raises:
        NnError: the file is not UTF-8; the diagnostic points at the first bad byte.
    """
    data = Path(path).read_bytes()
    if b"\x00" in data:  # binary: the parser says "is it a text file?" at the first NUL
        return data.decode("utf-8", errors="replace").removeprefix(BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from nnlang.diagnostics import NnError, error

        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        col = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        raise NnError(error(
            "syntax", f"the file is not UTF-8: byte 0x{data[exc.start]:02x} cannot start "
            "a character", Span(str(path), line, col, line, col + 1),
            hint="save the file as UTF-8 (Latin-1 and Windows-1252 accents are the usual "
                 "culprits)")) from None
    return text.removeprefix(BOM)


def universal_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def expand_tabs(line: str, col: int) -> tuple[str, int]:
    """Expand tabs in ``line`` and map the 1-based ``col`` into the expanded text."""
    if "\t" not in line:
        return line, col
    prefix = line[: col - 1].expandtabs(TAB_WIDTH)
    return line.expandtabs(TAB_WIDTH), len(prefix) + 1
