"""Baselines a model must beat, reported next to its test metrics.

``baseline.json``: for forecasting windows, the test MSE of repeating each
window's last value (the naive forecast a time-series model must beat).
"""

from __future__ import annotations

from typing import Any

from nnlang.reports import RunContext, report


@report("baseline")
def last_value_baseline(ctx: RunContext) -> dict[str, Any] | None:
    """The naive last-value forecast against the model's test MSE."""
    baseline = naive_forecast(ctx.prepared.data)
    if baseline is None:
        return None
    mse = ctx.history.test.get("loss") if _loss_is_mse(ctx.prepared.config) else None
    result: dict[str, Any] = {"naive_last_value_mse": baseline}
    if mse:
        result["model_mse"] = mse
        result["improvement"] = baseline / mse
    if ctx.verbose:
        print(f"naive last-value forecast: test mse {baseline:.4g}"
              + (f"; {compared(baseline, mse)}" if mse else ""))
    return result


def compared(baseline: float, mse: float) -> str:
    """The model's MSE against the last-value forecast's, in words either way.

    >>> compared(0.38, 187.2)
    "the model's 187.2 is 493x worse: repeating the last value does better"
    >>> compared(2.0, 0.5)
    'the model is 4.0x better'
    """
    if mse <= baseline:
        return f"the model is {baseline / mse:.1f}x better"
    return (f"the model's {mse:.4g} is {mse / baseline:.3g}x worse: repeating the last "
            "value does better")


def _loss_is_mse(config) -> bool:
    losses = config.loss or {}
    return bool(losses) and all(o.name == "mse" for o in losses.values())


def naive_forecast(data) -> float | None:
    """Test MSE of repeating a window's last value: the baseline a forecaster must beat.

    Only for sliding-window forecasting data (``sine`` windows, ``csv(window=...)``)
    whose target is the window's own (first) feature.
    """
    import numpy as np

    test = data.test
    if data.task != "regression" or isinstance(test.x, dict) or len(test) == 0:
        return None
    if (data.meta or {}).get("kind") != "windows" and "window" not in (data.meta or {}):
        return None
    x, y = np.asarray(test.x), np.asarray(test.y)
    if x.ndim != 3 or y.ndim != 2:
        return None
    meta = data.meta or {}
    column = meta.get("target_column", 0)
    last = x[:, -1, column]
    if "x_mean" in meta:  # undo the input normalisation of that column...
        mean, std = (np.broadcast_to(np.asarray(meta[k], np.float64).reshape(-1),
                                     (x.shape[-1],))[column] for k in ("x_mean", "x_std"))
        last = last * std + mean
    if data.target_mean is not None and not isinstance(data.target_mean, dict):
        # ...and scale it like the targets, so both sides are in the same units
        last = (last - np.asarray(data.target_mean).reshape(-1)[0]) / np.asarray(
            data.target_std).reshape(-1)[0]
    return float(np.mean((np.broadcast_to(last[:, None], y.shape) - y) ** 2))
