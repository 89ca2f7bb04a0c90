"""lark, imported without the third-party ``regex`` module.

lark imports ``regex`` whenever it is installed, only to support Unicode
categories in terminals. The .nn grammar uses none, and that import costs a
tenth of a cold ``nnc check``, so lark is imported here with ``regex``
hidden; other code can still import ``regex`` afterwards.
"""

from __future__ import annotations

import sys

if "lark" not in sys.modules and "regex" not in sys.modules:
    sys.modules["regex"] = None  # type: ignore[assignment]  # `import regex` fails
    try:
        import lark  # noqa: F401
    finally:
        del sys.modules["regex"]

from lark import Lark, Token, Transformer  # noqa: E402
from lark.exceptions import (  # noqa: E402
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
)

__all__ = [
    "Lark",
    "Token",
    "Transformer",
    "UnexpectedCharacters",
    "UnexpectedEOF",
    "UnexpectedInput",
]
