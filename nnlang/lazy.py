"""Module attributes imported on first use (PEP 562), for heavy dependencies.

``nnc check`` imports ``nnlang.data`` and ``nnlang.train`` for their tables;
the names that need numpy or JAX load only when someone asks for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``name`` from the module ``table[name]``."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module '{package}' has no attribute '{name}'")

    return __getattr__
