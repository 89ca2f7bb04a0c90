"""nnlang: a declarative language for neural networks, compiled to Flax + Optax.

Importing this package does not import JAX; only building and training do.

Examples:
    >>> import nnlang
    >>> program = nnlang.check_source('''
    ... model m {
    ...     input x: [4]
    ...     dense(3)
    ... }
    ... ''')
    >>> program.models["m"].outputs
    {'output': 1}
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use, PEP 562)
_EXPORTS = {
    "load": "nnlang.api",
    "check_source": "nnlang.api",
    "Program": "nnlang.api",
    "Model": "nnlang.api",
    "parse_source": "nnlang.parse",
    "parse_text": "nnlang.parse",
    "check_file": "nnlang.check",
    "format_source": "nnlang.fmt",
    "NnError": "nnlang.diagnostics",
    "Diagnostic": "nnlang.diagnostics",
    "register_layer": "nnlang.layers",
    "LayerSpec": "nnlang.layers",
    "ArgSpec": "nnlang.layers",
    "ShapeError": "nnlang.layers",
    "ArgError": "nnlang.layers",
    "TensorType": "nnlang.types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nnlang' has no attribute {name!r}")
