"""Data sources for `.nn` ``train`` blocks: bundled, generated and file data.

Numpy only at import time (scikit-learn is imported inside the loaders that
need it; JAX never), so the checker can read :data:`DATA_SOURCES` cheaply.

Typical use::

    dataset = load_data("csv", ("data/sensor.csv",), {"target": Word("temp")},
                        base_dir=spec_path.parent, seed=0)

Modules: ``dataset`` (the result types), ``params`` (parameter declarations
and argument binding), ``prepare`` (splitting and normalising), ``registry``
(the table and :func:`load_data`), and one module per family of sources:
``bundled``, ``generated``, ``tables`` (csv), ``arrays`` (npz, idx), ``text``.
"""



from nnlang.data.dataset import DataError, Dataset, LoadOptions, Split, Task
from nnlang.data.params import DataParam, DataSourceSpec
from nnlang.data.registry import DATA_SOURCES, bind_data_args, find_source, load_data
from nnlang.lazy import lazy_getattr

# Helpers that need numpy load on first use, so `nnc check` (which validates
# `data = ...` calls against DATA_SOURCES) never imports it.
_LAZY = {
    "playground_features": "nnlang.data.generated",
    "encode_token_ids": "nnlang.data.text",
    "tokenize_text": "nnlang.data.text",
}


__getattr__ = lazy_getattr("nnlang.data", _LAZY)


__all__ = [
    "DATA_SOURCES",
    "DataError",
    "DataParam",
    "DataSourceSpec",
    "Dataset",
    "LoadOptions",
    "Split",
    "Task",
    "bind_data_args",
    "encode_token_ids",
    "find_source",
    "load_data",
    "playground_features",
    "tokenize_text",
]
