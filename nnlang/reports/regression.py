"""Reports for regression: the mean baseline, and interpolation vs extrapolation.

``mean_baseline.json``: for regression tables and curve fits (not forecasting
windows, which get ``baseline.json``), the test MSE of always predicting the
training split's mean target, the model's test MSE, and ``improvement``,
``1 - model / mean``: the fraction of the variance the model explains beyond
the mean (R² against the training mean). A model below 0 is worse than a
constant.

``extrapolation.json``: for data carrying an extra evaluation set
``meta["extrapolation"]`` (``sine(kind=curve, extrapolate=[...])``, or any
source that adds one), the MSE inside the training range (the test split)
and outside it, and ``extrapolation.png`` showing the fit over both. A network
that interpolates well can still be wildly wrong beyond its data.

Every MSE is in the target's own units: predictions and targets are un-scaled
when the source z-scored the targets (``scale_target``), so the numbers do not
depend on that setting, and the model's MSE is computed from its predictions
rather than taken from the loss (which may be MAE, Huber or carry penalties).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnlang.reports import RunContext, report


@report("mean_baseline")
def mean_baseline(ctx: RunContext) -> dict[str, Any] | None:
    """Predicting the training mean against the model, both by test MSE.

    With several outputs (one input), each regression output gets the three
    keys prefixed by its name, as in metrics.json: ``premium_improvement``.
    """
    data = ctx.prepared.data
    if is_forecasting(data) or len(data.test) == 0:
        return None
    if isinstance(data.test.y, dict) and not isinstance(data.test.x, dict):
        return mean_baselines_per_output(ctx)
    if not is_single_regression(data):
        return None
    y_test = data.unscale_targets(np.asarray(data.test.y, np.float64))
    mean = data.unscale_targets(np.asarray(data.train.y, np.float64)).mean(axis=0)
    baseline = mse(np.broadcast_to(mean, y_test.shape), y_test)
    model = mse(predict_targets(ctx, data.test.x), y_test)
    improvement = 1.0 - model / baseline if baseline > 0 else 0.0
    if ctx.verbose:
        print(
            f"predicting the training mean: test mse {baseline:.4g}; the model's "
            f"{model:.4g} {compared_to_mean(improvement)}"
        )
    return {"mean_mse": baseline, "model_mse": model, "improvement": improvement}


def mean_baselines_per_output(ctx: RunContext) -> dict[str, Any] | None:
    """``mean_baseline`` for each regression output of a several-output model."""
    from nnlang.train.loop import predict

    data = ctx.prepared.data
    tasks = (data.meta or {}).get("tasks", {})
    names = [name for name, task in tasks.items() if task == "regression"]
    if not names:
        return None
    pred = data.unscale_targets(predict(ctx.model, ctx.history.variables, data.test.x,
                                           activations=ctx.activations()))
    train, test = (data.unscale_targets(s.y) for s in (data.train, data.test))
    result: dict[str, Any] = {}
    for name in names:
        y_test = np.asarray(test[name], np.float64).reshape(len(test[name]), -1)
        y_train = np.asarray(train[name], np.float64).reshape(len(train[name]), -1)
        mean = y_train.mean(axis=0)
        baseline = mse(np.broadcast_to(mean, y_test.shape), y_test)
        model = mse(np.asarray(pred[name], np.float64), y_test)
        improvement = 1.0 - model / baseline if baseline > 0 else 0.0
        result |= {
            f"{name}_mean_mse": baseline,
            f"{name}_model_mse": model,
            f"{name}_improvement": improvement,
        }
        if ctx.verbose:
            print(
                f"predicting the training mean of {name}: test mse {baseline:.4g}; "
                f"the model's {model:.4g} {compared_to_mean(improvement)}"
            )
    return result


@report("extrapolation")
def extrapolation(ctx: RunContext) -> dict[str, Any] | None:
    """Test MSE inside the training range against MSE on points beyond it."""
    data = ctx.prepared.data
    beyond = (data.meta or {}).get("extrapolation")
    if beyond is None or not is_single_regression(data) or len(data.test) == 0:
        return None
    inside = mse(predict_targets(ctx, data.test.x), data.unscale_targets(data.test.y))
    outside_pred = predict_targets(ctx, beyond.x)
    outside = mse(outside_pred, data.unscale_targets(beyond.y))
    result: dict[str, Any] = {
        "in_range_mse": inside,
        "out_of_range_mse": outside,
        "ratio": outside / inside if inside > 0 else None,
    }
    for key in ("range", "extrapolate"):
        if key in data.meta:
            result[key] = [float(v) for v in data.meta[key]]
    if np.asarray(beyond.x).reshape(len(beyond), -1).shape[1] == 1:
        plot_fit(ctx, beyond, outside_pred, ctx.run_dir / "extrapolation.png")
    if ctx.verbose:
        print(
            f"inside the training range: test mse {inside:.3g}; "
            f"outside it: {outside:.3g}"
            + (f" ({outside / inside:.0f}x worse)" if inside > 0 else "")
        )
    return result


def compared_to_mean(improvement: float) -> str:
    """``is 40% lower``, or for a model worse than the constant ``is 622% higher:
    worse than always predicting the mean`` (never a negative "lower").

    Examples:
        >>> compared_to_mean(0.4)
        'is 40% lower'
        >>> compared_to_mean(-6.22)
        'is 622% higher: worse than always predicting the mean'
    """
    if improvement >= 0:
        return f"is {improvement:.0%} lower"
    return f"is {-improvement:.0%} higher: worse than always predicting the mean"


def is_single_regression(data: Any) -> bool:
    """One regression output from one input (dict splits are left alone)."""
    return (
        data.task == "regression"
        and not isinstance(data.test.x, dict)
        and not isinstance(data.test.y, dict)
    )


def is_forecasting(data: Any) -> bool:
    """Sliding windows over a series: their baseline is the last value instead."""
    meta = data.meta or {}
    return meta.get("kind") == "windows" or "window" in meta


def predict_targets(ctx: RunContext, x: Any) -> np.ndarray:
    """The trained model's predictions for ``x``, in the target's own units."""
    from nnlang.train.loop import predict

    (y,) = predict(ctx.model, ctx.history.variables, x,
                   activations=ctx.activations()).values()
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    return ctx.prepared.data.unscale_targets(y)


def mse(prediction: np.ndarray, target: Any) -> float:
    """Mean squared error over every example and target component."""
    target = np.asarray(target, np.float64).reshape(len(prediction), -1)
    return float(np.mean((np.asarray(prediction).reshape(target.shape) - target) ** 2))


def plot_fit(ctx: RunContext, beyond: Any, beyond_pred: np.ndarray, path: Path) -> None:
    """The 1-D fit over the test and extrapolation points, with the training range.

    Inputs are un-normalised for the x axis when the source z-scored them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = ctx.prepared.data
    x = np.concatenate([raw_inputs(data, data.test.x), raw_inputs(data, beyond.x)])
    truth = np.concatenate(
        [np.asarray(data.unscale_targets(s.y)).reshape(-1) for s in (data.test, beyond)]
    )
    pred = np.concatenate(
        [predict_targets(ctx, data.test.x).reshape(-1), beyond_pred.reshape(-1)]
    )
    order = np.argsort(x)
    fig = Figure(figsize=(7, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if "range" in data.meta:
        ax.axvspan(
            *data.meta["range"], color="tab:blue", alpha=0.1, label="training range"
        )
    ax.scatter(x, truth, s=5, color="tab:gray", label="data (test and extrapolation)")
    ax.plot(x[order], pred[order], color="tab:red", label="model")
    ax.legend(fontsize=7)
    ax.set_xlabel("x")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def raw_inputs(data: Any, x: Any) -> np.ndarray:
    """1-D inputs in their original units (undoing a z-score of the inputs)."""
    x = np.asarray(x, np.float64).reshape(-1)
    meta = data.meta or {}
    if "x_mean" in meta:
        x = x * float(np.asarray(meta["x_std"]).reshape(-1)[0]) + float(
            np.asarray(meta["x_mean"]).reshape(-1)[0]
        )
    return x
