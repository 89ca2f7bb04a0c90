"""The Python API: use `.nn` models from your own JAX code.

Examples:
    >>> import nnlang
    >>> program = nnlang.check_source('''
    ... model mlp {
    ...     input x: [4]
    ...     dense(8, act=relu)
    ...     dense(3, act=softmax)
    ... }
    ... ''')
    >>> model = program.model("mlp")
    >>> model.summary().total
    67

With JAX installed (it is a dependency), ``model.init(jax.random.key(0))``
returns the variables, ``model.module()`` the Flax module, ``model.fit()``
trains with the file's train block, and ``model.predict(variables, x)``
returns outputs with final activations applied.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang.check import CheckResult
from nnlang.diagnostics import NnError, did_you_mean, error
from nnlang.ir import Graph
from nnlang.ir import Program as _IRProgram
from nnlang.summary import Summary, summarize


@dataclass(eq=False)
class Model:
    """One checked model of a program."""

    graph: Graph
    program: Program
    variables: dict[str, Any] | None = None  # set by fit()
    _compiled: Any = field(default=None, repr=False)
    _activations: dict[str, str | None] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.graph.name

    def summary(self) -> Summary:
        return summarize(self.graph)

    def compiled(self):
        """The :class:`nnlang.lower.CompiledModel` (imports JAX)."""
        if self._compiled is None:
            from nnlang.lower import CompiledModel

            self._compiled = CompiledModel(self.graph)
        return self._compiled

    def module(self):
        """The Flax linen module: ``module.apply(variables, {input: x}, train=False)``.

        Its variables are flat (``'conv_bn_1/conv_0'``); :meth:`init` and
        :meth:`apply` use the nested tree keyed by `.nn` layer paths.
        """
        return self.compiled().module

    def init(self, rng, batch: int = 1) -> dict[str, Any]:
        """Fresh variables (``params`` and, with batchnorm, ``batch_stats``)."""
        compiled = self.compiled()
        return compiled.init(rng, compiled.sample_inputs(batch))

    def apply(self, variables, inputs, *, train: bool = False, rngs=None):
        """``(outputs, new_state)``; outputs keyed by output name (logits where fused)."""
        return self.compiled().apply(variables, self._as_dict(inputs), train=train, rngs=rngs)

    def predict(self, variables=None, inputs=None) -> dict[str, Any]:
        """Outputs as the loss reads them, activated: probabilities for a classifier
        (a linear output trained with cross_entropy gets its softmax), values for
        a regression; ``variables`` default to fit()'s, so after ``fit()``
        ``predict(x)`` works as in Keras."""
        if inputs is None and variables is not None and not _is_variables(variables):
            inputs, variables = variables, None  # predict(x): Keras' habit
        variables = variables if variables is not None else self.variables
        if variables is None:
            raise ValueError("no variables: call fit() first or pass variables")
        from nnlang.train.loop import predict
        from nnlang.train.model import activations_of

        acts = self._activations
        if acts is None:  # not fitted here: the train block's losses, as check reads them
            from nnlang.train.targets import declared_losses

            spec = self.program.ir.trains.get(self._train_for() or "")
            losses = declared_losses(spec, self.graph) if spec else {}
            acts = activations_of(self.compiled(), losses)
        return predict(self.compiled(), variables, self._as_dict(inputs), activations=acts)

    def fit(self, train: str | None = None, *, epochs: int | None = None,
            seed: int | None = None, out: str | Path | None = None, verbose: int = 1):
        """Train with one of the file's train blocks; returns the History.

        ``verbose``: 1 (the default, as in Keras) a progress bar and a line per
        epoch, 2 the lines only, 0 silent.

        ``data_parallel`` can split batches across CPU cores only if JAX has a
        device per core: ``nnc run`` sets that up, and from Python
        ``nnlang.train.devices.use_cpu_cores()`` does, called before JAX starts.
        """
        from nnlang.run import prepare
        from nnlang.train.loop import fit

        prepared = prepare(self.program.path, train=train or self._train_for(),
                           overrides=self.program.overrides, epochs=epochs, seed=seed)
        from nnlang.train.setup import output_activations

        history = fit(self.compiled(), prepared.data, prepared.config, verbose=verbose,
                      out_dir=out)
        self.variables = history.variables
        self._activations = output_activations(self.compiled(), prepared.config,
                                               prepared.data)
        return history

    def _train_for(self) -> str | None:
        for name, spec in self.program.ir.trains.items():
            if self.name in spec.models:
                return name
        return None

    def _as_dict(self, inputs) -> dict[str, Any]:
        """``inputs`` keyed by input name, each checked to be a batch of examples of
        the input's shape: a clear ValueError here, not Flax's shape error inside."""
        names = list(self.graph.inputs)
        if not isinstance(inputs, Mapping):
            if len(names) != 1:
                raise ValueError(f"model '{self.name}' has inputs {', '.join(names)}: "
                                 "pass a dict keyed by input name")
            inputs = {names[0]: inputs}
        unknown = [k for k in inputs if k not in self.graph.inputs]
        missing = [k for k in names if k not in inputs]
        if unknown or missing:
            hint = did_you_mean(unknown[0], names) if unknown else None
            raise KeyError(f"model '{self.name}' takes inputs {', '.join(names)}; got "
                           f"{', '.join(map(str, inputs)) or 'none'}"
                           + (f"; {hint}" if hint else ""))
        shapes = self.compiled().input_shapes
        for name, x in inputs.items():
            want, got = shapes[name], tuple(getattr(x, "shape", ()))
            if len(got) != len(want) + 1 or any(
                w is not None and g != w for g, w in zip(got[1:], want, strict=True)
            ):
                shown = ", ".join("?" if d is None else str(d) for d in want)
                raise ValueError(
                    f"input '{name}' of model '{self.name}' takes a batch of examples "
                    f"of shape [{shown}], an array of shape (batch, {shown}); got "
                    f"shape {got}")
        return dict(inputs)


def _is_variables(value: Any) -> bool:
    """A Flax variables tree (``{'params': ...}``), not inputs."""
    return isinstance(value, Mapping) and "params" in value


@dataclass(eq=False)
class Program:
    """A checked `.nn` file: its models and train blocks."""

    path: str
    ir: _IRProgram
    overrides: dict[str, str] = field(default_factory=dict)
    check: CheckResult | None = None
    _folder: Any = field(default=None, repr=False)  # check_source's file lives as long

    @property
    def models(self) -> dict[str, Graph]:
        return self.ir.models

    def model(self, name: str | None = None) -> Model:
        if name is None:
            name = next(iter(self.ir.models))
        if name not in self.ir.models:
            hint = did_you_mean(name, self.ir.models)
            raise KeyError(f"no model '{name}' in {self.path}; models: "
                           f"{', '.join(self.ir.models)}" + (f"; {hint}" if hint else ""))
        return Model(self.ir.models[name], self)


def load(path: str | Path, **overrides: Any) -> Program:
    """Check a `.nn` file (with ``--set``-style overrides) and return its program.

    Raises:
        NnError: the file has errors (``str(exc)`` lists them; ``exc.diagnostics``).
    """
    from nnlang.check import load_checked
    from nnlang.values import format_value

    texts = {k: v if isinstance(v, str) else format_value(v) for k, v in overrides.items()}
    ir, result = load_checked(path, texts)
    return Program(str(path), ir, texts, result)


def check_source(text: str, **overrides: Any) -> Program:
    """Like :func:`load`, for `.nn` text. The text lives in a temporary file as long
    as the program does, so ``fit()`` works; data file paths in it should be
    absolute (relative ones would be read beside that temporary file)."""
    folder = tempfile.TemporaryDirectory(prefix="nnlang-")
    path = Path(folder.name) / "source.nn"
    path.write_text(text, encoding="utf-8")
    try:
        program = load(path, **overrides)
    except NnError as exc:  # say "<source>:3:14", not the temporary file's path
        raise NnError([_relocated(d, str(path), "<source>") for d in exc.diagnostics]
                      ) from None
    program._folder = folder
    return program


def _relocated(diag, old: str, new: str):
    import dataclasses

    if diag.span is None or diag.span.path != old:
        return diag
    return dataclasses.replace(diag, span=dataclasses.replace(diag.span, path=new))


__all__ = ["Model", "NnError", "Program", "check_source", "error", "load"]
