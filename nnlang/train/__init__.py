"""Training: the train block's settings, losses, metrics, optimisers and the loop.

Importing this package (or :mod:`nnlang.train.config` and
:mod:`nnlang.train.registry`) does not import JAX, so ``nnc check`` can
validate train blocks. :func:`fit` and the rest load JAX on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnlang.lazy import lazy_getattr
from nnlang.train.config import (
    SETTING_KEYS,
    CheckpointPolicy,
    EarlyStop,
    Option,
    TrainConfig,
    TrainConfigError,
    parse_train_settings,
)

_LAZY = {
    "fit": "nnlang.train.loop",
    "evaluate": "nnlang.train.loop",
    "predict": "nnlang.train.loop",
    "History": "nnlang.train.loop",
    "Callback": "nnlang.train.loop",
    "TrainableModel": "nnlang.train.loop",
    "TrainingInterrupted": "nnlang.train.loop",
    "TrainingDiverged": "nnlang.train.loop",
    "LinenModel": "nnlang.train.model",
    "enable_compilation_cache": "nnlang.train.cache",
}

if TYPE_CHECKING:  # pragma: no cover
    from nnlang.train.cache import enable_compilation_cache  # noqa: F401
    from nnlang.train.loop import (  # noqa: F401
        Callback,
        History,
        TrainableModel,
        TrainingDiverged,
        TrainingInterrupted,
        evaluate,
        fit,
        predict,
    )
    from nnlang.train.model import LinenModel  # noqa: F401


__getattr__ = lazy_getattr("nnlang.train", _LAZY)


__all__ = [
    "SETTING_KEYS",
    "CheckpointPolicy",
    "EarlyStop",
    "Option",
    "TrainConfig",
    "TrainConfigError",
    "parse_train_settings",
    *_LAZY,
]
