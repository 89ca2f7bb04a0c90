"""Elaboration: a parsed file and its imports become flat IR graphs.

Blocks are inlined, ``repeat``/``for``/``if`` unrolled at compile time, tuple
flows and bindings resolved, and every layer gets a stable hierarchical name
(``conv_bn_1/conv_0``) derived only from source order, so checkpoints stay
valid when a file is edited elsewhere. A layer name used again after ``->``
re-applies that layer with shared weights; a block instance's name re-applies
the whole instance (:mod:`nnlang.sharing`).

Errors are collected per statement: a bad statement poisons its flow (later
statements that use it stay quiet) and elaboration carries on, so one pass
reports every independent mistake.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang import syntax as S
from nnlang.diagnostics import Diagnostic, did_you_mean, warning
from nnlang.ir import INPUT_OP, Graph, Program, TrainSpec
from nnlang.layers import LAYERS, lookup
from nnlang.layers.base import ArgError, bind_args, keras_layer_hint
from nnlang.layers.binding import alias_for, unknown_argument
from nnlang.program import (
    Context,
    ElabError,
    Loader,
    ModuleEnv,
    callee_name,
    evaluate,
    fail,
    known_value_names,
    parse_override,
)
from nnlang.sharing import BlockInstance, reapply_block
from nnlang.source import Source, Span
from nnlang.values import Word

MAX_NODES = 100_000  # far beyond any real model; stops `repeat 10000000` before memory does
POISON = object()  # the flow after an error: everything downstream stays quiet
Flow = int | tuple[int, ...] | None | object

TENSOR_OPS = {"+": "add", "*": "multiply"}


@dataclass(eq=False)
class Scope:
    """Names visible inside one model body or one block instance."""

    env: ModuleEnv
    prefix: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, Flow] = field(default_factory=dict)
    tensor_spans: dict[str, Span | None] = field(default_factory=dict)
    # `as` names -> the owning node, or the block instance they name
    layers: dict[str, int | BlockInstance] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)
    used: set[str] = field(default_factory=set)
    outputs: list[tuple[str | None, Flow, Span | None]] = field(default_factory=list)
    blocks: tuple[str, ...] = ()  # block call stack, for recursion
    origin: tuple[Span, ...] = ()

    def context(self, symbols: bool = False) -> Context:
        return Context(self.env, self.values, lambda n: n in self.tensors, symbols)

    def fresh(self, kind: str) -> str:
        n = self.counters[kind]
        self.counters[kind] += 1
        return f"{self.prefix}{kind}_{n}"


@dataclass
class Elaboration:
    program: Program | None
    diagnostics: list[Diagnostic]
    sources: dict[str, Source]


def elaborate_file(path: str | Path, overrides: Mapping[str, str] | None = None,
                   text: str | None = None) -> Elaboration:
    """Load ``path`` (and its imports) and elaborate every model and train block."""
    loader = Loader()
    const_overrides, setting_overrides, diags = {}, {}, []
    for name, raw in (overrides or {}).items():
        if not name.isidentifier():
            diags.append(fail("bad-override", f"--set {name}: not a const or train setting "
                              "name", None, hint=_OVERRIDE_SCOPE).diag)
            continue
        try:
            const_overrides[name] = parse_override(name, raw)
        except ElabError as exc:
            diags.append(exc.diag)
    env = loader.load(path, const_overrides, text)
    diags = loader.diagnostics + diags
    if env is None:
        return Elaboration(None, diags, loader.sources)
    own_consts = {i.name for i in env.module.items if isinstance(i, S.Const)}
    known_settings = _setting_keys()
    for name in const_overrides:
        if name in own_consts:
            continue
        if name in known_settings:
            setting_overrides[name] = const_overrides[name]
        else:
            diags.append(fail("bad-override", f"--set {name}: no const or train setting "
                              f"named '{name}'", None,
                              hint=_override_hint(name, own_consts | known_settings)).diag)
    program = Program(str(path), consts=dict(env.consts))
    builder = _Builder(diags)
    builder.elsewhere = {i.name: e.path for e in loader.envs() if e is not env
                         for i in e.module.items if isinstance(i, S.Model)}
    for item in env.module.items:
        if isinstance(item, S.Model):
            if item.name in program.models:
                diags.append(fail("duplicate-name", f"model '{item.name}' is defined twice",
                                  item.span).diag)
                continue
            program.models[item.name] = builder.model(item, env)
    for item in env.module.items:
        if isinstance(item, S.Train):
            raw = {name: (overrides or {})[name] for name in setting_overrides}
            spec = builder.train(item, env, program, setting_overrides, raw)
            if spec is not None:
                program.trains[spec.name] = spec
    return Elaboration(program, diags, loader.sources)


_OVERRIDE_SCOPE = ("--set reaches this file's consts and whole train settings: "
                   "--set width=128, --set optimizer=adam(lr=1e-2)")
def _optimizer_args() -> set[str]:
    """Every optimizer's argument names (and Keras' learning_rate), from the registry."""
    from nnlang.train.registry import OPTIMIZERS

    return {p.name for entry in OPTIMIZERS.values() for p in entry.params} | {
        "learning_rate"}


def _override_hint(name: str, known: set[str]) -> str | None:
    """did you mean (any case), or how to reach an optimizer argument."""
    if name.lower() in _optimizer_args():
        return "an optimizer's arguments are set with it: --set optimizer=adam(lr=1e-2)"
    folded = {k.lower(): k for k in known}
    if name.lower() in folded:
        return f"did you mean '{folded[name.lower()]}'?"
    return did_you_mean(name, known) or _OVERRIDE_SCOPE


def _setting_keys() -> set[str]:
    try:
        from nnlang.train.config import SETTING_KEYS
        return set(SETTING_KEYS)
    except ImportError:  # the training package is optional for the front end
        return {"data", "batch", "epochs", "seed", "loss", "loss_weights", "optimizer",
                "schedule", "clip", "weight_decay", "metrics", "precision",
                "fuse_epochs", "data_parallel", "freeze", "init_from"}


class _Builder:
    """Builds one graph per model by walking statements with a flow."""

    def __init__(self, diags: list[Diagnostic]):
        self.diags = diags
        self.graph: Graph | None = None
        self.elsewhere: dict[str, str] = {}  # models of imported files, by name: their path

    # ------------------------------------------------------------ items

    def model(self, item: S.Model, env: ModuleEnv) -> Graph:
        self.graph = graph = Graph(item.name, span=item.span)
        scope = Scope(env)
        errors_before = sum(d.is_error for d in self.diags)
        flow = self.body(item.body.stmts, None, scope, is_model=True)
        if not graph.outputs and isinstance(flow, int):
            graph.outputs["output"] = flow
        elif not graph.outputs and flow is not POISON and not self._has_errors(item):
            self.error("no-output", f"model '{item.name}' produces no output", item.span,
                       hint="end the model with a layer, or write 'output NAME = ...'")
        if sum(d.is_error for d in self.diags) == errors_before:
            self.warn_unused(scope, set(graph.outputs.values()))  # after an error, 'unused' is mostly a cascade
        return graph

    def _has_errors(self, item) -> bool:
        return any(d.is_error and d.span and d.span.path == item.span.path
                   and item.span.line <= d.span.line <= item.span.end_line for d in self.diags)

    def train(self, item: S.Train, env: ModuleEnv, program: Program,
              overrides: Mapping[str, Any],
              raw_overrides: Mapping[str, str] | None = None) -> TrainSpec | None:
        for model in item.models:
            if model not in program.models:
                hint = did_you_mean(model, program.models)
                if model in self.elsewhere:
                    hint = (f"'{model}' is defined in {self.elsewhere[model]}; imports bring "
                            "consts and blocks, not models: train it there, or make it a block")
                self.error("unknown-name", f"train block names unknown model '{model}'",
                           item.span, hint=hint)
                return None
        settings, spans, exprs = {}, {}, {}
        ctx = Context(env)
        for s in item.body.settings:
            call = None if isinstance(s, S.Setting) else s.call
            key = s.key if call is None else callee_name(getattr(call, "func", call))
            if key in exprs:
                self.error("duplicate-name", f"setting '{key}' is given twice", s.span)
                continue
            exprs[key] = s.value if call is None else call
            try:
                settings[key] = evaluate(exprs[key], ctx)
            except ElabError as exc:
                self.diags.append(exc.diag)
                continue
            spans[key] = s.span
        for key, value in overrides.items():
            settings[key] = value
        spec = TrainSpec(item.label, item.models, settings, spans, item.span, exprs,
                         dict(raw_overrides or {}))
        if spec.name in program.trains:
            self.error("duplicate-name", f"two train blocks are named '{spec.name}'", item.span,
                       hint="name them apart: train MODEL as NAME { ... }")
            return None
        return spec

    # ------------------------------------------------------------ statements

    def body(self, stmts, flow: Flow, scope: Scope, is_model: bool = False) -> Flow:
        for stmt in stmts:
            try:
                flow = self.stmt(stmt, flow, scope, is_model)
            except ElabError as exc:
                self.diags.append(exc.diag)
                flow = POISON
                if isinstance(stmt, S.BindStmt):
                    scope.tensors[stmt.name] = POISON
        return flow

    def stmt(self, stmt, flow: Flow, scope: Scope, is_model: bool) -> Flow:
        graph = self.graph
        match stmt:
            case S.InputStmt(name=name, shape=shape):
                if not is_model:
                    raise fail("syntax", "inputs of a block are bound by its caller",
                               stmt.span)
                if shape is None:
                    raise fail("missing-shape", f"model input '{name}' needs a shape",
                               stmt.span, hint=f"input {name}: [8, 8, 1]")
                if name in graph.inputs:
                    raise fail("duplicate-name", f"input '{name}' is declared twice", stmt.span)
                dims = self.shape_dims(shape, scope)
                node = graph.add(INPUT_OP, {"shape": list(dims), "dtype": shape.dtype or "f32"},
                                 (), name, span=stmt.span)
                graph.inputs[name] = node.id
                self.bind(scope, name, node.id, stmt.span)
                # LANGUAGE.md: a body with one input starts with the flow on it; with
                # several, a bare layer would have to guess which, so there is none
                return node.id if len(graph.inputs) == 1 else None
            case S.BindStmt(name=name, value=value, assertion=assertion):
                result = self.chain(value, flow, scope)
                self.check_assertion(assertion, result, scope)
                self.bind(scope, name, result, stmt.span)
                return result
            case S.ExprStmt(value=value, assertion=assertion):
                result = self.chain(value, flow, scope)
                self.check_assertion(assertion, result, scope)
                return result
            case S.OutputStmt(name=name, value=value, assertion=assertion):
                result = self.chain(value, flow, scope)
                self.check_assertion(assertion, result, scope)
                if name is None and isinstance(value, S.Name):
                    name = value.id
                scope.outputs.append((name, result, stmt.span))
                if is_model and isinstance(result, int):
                    key = name or "output"
                    if key in graph.outputs:
                        raise fail("duplicate-name", f"output '{key}' is declared twice",
                                   stmt.span)
                    graph.outputs[key] = result
                elif is_model and isinstance(result, tuple):
                    raise fail("type-error", "an output must be one tensor, not a tuple",
                               stmt.span)
                return result
            case S.RepeatStmt(count=count, body=body):
                n = evaluate(count, scope.context())
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    raise fail("type-error", f"repeat needs a count ≥ 0; got {n!r}", count.span)
                for _ in range(n):
                    if n > MAX_NODES or len(self.graph.nodes) > MAX_NODES:
                        raise fail("too-large", f"repeat {n} unrolls past {MAX_NODES:,} layers",
                                   count.span, hint="a model this deep is almost certainly a "
                                   "typo in the count (or a const set too high)")
                    flow = self.body(body.stmts, flow, scope, is_model)
                return flow
            case S.ForStmt(var=var, iterable=iterable, body=body):
                items = evaluate(iterable, scope.context())
                if not isinstance(items, list):
                    raise fail("type-error", f"for needs a list; got {items!r}", iterable.span)
                saved = scope.values.get(var, _MISSING)
                for value in items:
                    scope.values[var] = value
                    flow = self.body(body.stmts, flow, scope, is_model)
                if saved is _MISSING:
                    scope.values.pop(var, None)
                else:
                    scope.values[var] = saved
                return flow
            case S.IfStmt(cond=cond, then=then, orelse=orelse):
                if self.truth(cond, scope):
                    return self.body(then.stmts, flow, scope, is_model)
                if isinstance(orelse, S.IfStmt):
                    return self.stmt(orelse, flow, scope, is_model)
                if orelse is not None:
                    return self.body(orelse.stmts, flow, scope, is_model)
                return flow
        raise AssertionError(f"unhandled statement {type(stmt).__name__}")

    def truth(self, cond: S.Expr, scope: Scope) -> bool:
        value = evaluate(cond, scope.context())
        if not isinstance(value, bool):
            raise fail("type-error", f"a condition must be true or false; got {value!r}",
                       cond.span)
        return value

    def bind(self, scope: Scope, name: str, flow: Flow, span: Span | None) -> None:
        if name in scope.values or name in scope.env.consts:
            raise fail("duplicate-name", f"'{name}' is already a value here; "
                       "a tensor needs another name", span)
        if name in scope.tensors:
            self.warn_rebound(scope, name, span)
        scope.tensors[name] = flow
        scope.tensor_spans[name] = span
        scope.used.discard(name)  # the new value is unused so far
        if isinstance(flow, int):
            node = self.graph.node(flow)
            node.label = node.label or name

    def shape_dims(self, shape: S.Shape, scope: Scope) -> tuple:
        ctx = scope.context(symbols=True)
        dims = []
        for d in shape.dims:
            value = evaluate(d, ctx)
            if isinstance(value, bool) or not (isinstance(value, int) or _is_dim(value)):
                raise fail("type-error", f"a shape dimension must be a whole number or a "
                           f"name; got {value!r}", d.span)
            if isinstance(value, int) and value < 1:
                raise fail("type-error", f"a shape dimension must be positive; got {value}",
                           d.span)
            dims.append(value)
        if shape.dtype is not None:
            from nnlang.types import DTYPES
            if shape.dtype not in DTYPES:
                raise fail("unknown-name", f"unknown dtype '{shape.dtype}'", shape.span,
                           hint=did_you_mean(shape.dtype, DTYPES)
                           or f"dtypes: {', '.join(DTYPES)}")
        return tuple(dims)

    def check_assertion(self, shape: S.Shape | None, flow: Flow, scope: Scope) -> None:
        if shape is None or not isinstance(flow, int):
            return
        self.graph.assertions.append((flow, self.shape_dims(shape, scope), shape.dtype,
                                      shape.span))

    # ------------------------------------------------------------ chains

    def chain(self, expr: S.Expr, flow: Flow, scope: Scope) -> Flow:
        stages = expr.stages if isinstance(expr, S.Chain) else (expr,)
        for i, stage in enumerate(stages):
            flow = self.stage(stage, flow, scope, first=i == 0)
        return flow

    def stage(self, expr: S.Expr, flow: Flow, scope: Scope, first: bool) -> Flow:
        as_name = None
        if isinstance(expr, S.Named):
            as_name, expr = expr.name, expr.value
        if isinstance(expr, S.IfExpr):
            branch = expr.then if self.truth(expr.cond, scope) else expr.orelse
            return self.chain(branch, flow, scope)
        if self.is_tensor_expr(expr, scope):
            if not first:
                raise fail("not-a-layer", "a tensor can only start a chain, not follow '->'",
                           expr.span, hint="apply layers after '->': x -> dense(10)")
            return self.tensor_expr(expr, scope, as_name)
        return self.apply(expr, flow, scope, as_name)

    def is_tensor_expr(self, expr: S.Expr, scope: Scope) -> bool:
        match expr:
            case S.Name(id=name):
                return name in scope.tensors
            case S.TupleExpr():
                return True
            case S.Binary(op=op, left=left, right=right) if op in TENSOR_OPS:
                return self.is_tensor_expr(left, scope) or self.is_tensor_expr(right, scope)
        return False

    def tensor_expr(self, expr: S.Expr, scope: Scope, as_name: str | None) -> Flow:
        match expr:
            case S.Name(id=name):
                scope.used.add(name)
                return scope.tensors[name]
            case S.TupleExpr(items=items):
                parts = [self.chain(i, None, scope) if self.is_tensor_expr(i, scope) else
                         self._not_tensor(i, scope) for i in items]
                if any(p is POISON for p in parts):
                    return POISON
                flat = []
                for p in parts:
                    flat.extend(p if isinstance(p, tuple) else (p,))
                return tuple(flat)
            case S.Binary(op=op, left=left, right=right):
                a = self.tensor_operand(left, scope)
                b = self.tensor_operand(right, scope)
                if a is POISON or b is POISON:
                    return POISON
                kind = TENSOR_OPS[op]
                node = self.graph.add(kind, {}, (a, b), as_name or scope.fresh(kind),
                                      span=expr.span, origin=scope.origin)
                return node.id
        raise AssertionError("not a tensor expression")

    def tensor_operand(self, expr: S.Expr, scope: Scope) -> Flow:
        if not self.is_tensor_expr(expr, scope):
            return self._not_tensor(expr, scope)
        result = self.tensor_expr(expr, scope, None)
        if isinstance(result, tuple):
            raise fail("type-error", "'+' and '*' take single tensors, not tuples", expr.span)
        return result

    def _not_tensor(self, expr: S.Expr, scope: Scope):
        if isinstance(expr, S.Name):
            raise fail("unknown-name", f"unknown tensor '{expr.id}'", expr.span,
                       hint=did_you_mean(expr.id, scope.tensors))
        raise fail("type-error", "expected a tensor here", expr.span,
                   hint="tensors are inputs and names bound with '='")

    # ------------------------------------------------------------ layer application

    def apply(self, expr: S.Expr, flow: Flow, scope: Scope, as_name: str | None) -> Flow:
        if isinstance(expr, S.Call):
            callee, args = expr.func, expr.args
        elif isinstance(expr, (S.Name, S.Attr)):
            callee, args = expr, ()
        else:
            raise fail("not-a-layer", "expected a layer or block here", expr.span,
                       hint="a stage of a chain is a layer such as dense(10) or relu")
        name = callee_name(callee)
        span = expr.span
        if isinstance(callee, S.Name) and name in scope.layers:
            if args:
                raise fail("type-error", f"'{name}' re-applies a named layer and takes no "
                           "arguments", span)
            return POISON if flow is POISON else self.share(name, flow, scope, span)
        block = self.find_block(callee, scope)
        if block is not None:
            return self.apply_block(block, args, flow, scope, as_name, span)
        spec = lookup(name) if isinstance(callee, S.Name) else None
        if spec is None:
            raise self.unknown(callee, scope)
        return self.apply_layer(spec, args, flow, scope, as_name, span)

    def find_block(self, callee: S.Expr, scope: Scope):
        if isinstance(callee, S.Name):
            return scope.env.blocks.get(callee.id)
        if isinstance(callee, S.Attr) and isinstance(callee.base, S.Name):
            ns = scope.env.namespaces.get(callee.base.id)
            if ns is None:
                raise fail("unknown-name", f"unknown namespace '{callee.base.id}'",
                           callee.base.span, hint=did_you_mean(callee.base.id,
                                                               scope.env.namespaces))
            if callee.name not in ns.blocks:
                raise fail("unknown-name", f"'{callee.base.id}' has no block '{callee.name}'",
                           callee.span, hint=did_you_mean(callee.name, ns.blocks))
            return ns.blocks[callee.name]
        return None

    def unknown(self, callee: S.Expr, scope: Scope) -> ElabError:
        name = callee_name(callee)
        if name in scope.tensors:
            return fail("not-a-layer", f"'{name}' is a tensor, not a layer", callee.span,
                        hint=f"start the chain from it instead: {name} -> ...")
        candidates = set(LAYERS) | set(scope.env.blocks) | set(scope.layers)
        hint = keras_layer_hint(name) or did_you_mean(name, candidates)
        if hint is None and name in known_value_names(scope.context()):
            hint = f"'{name}' is a value, not a layer"
        return fail("unknown-name", f"unknown layer '{name}'", callee.span, hint=hint)

    def flow_inputs(self, flow: Flow, what: str, lo: int, hi: int | None,
                    span: Span | None) -> tuple[int, ...]:
        if flow is None:
            raise self.no_flow(what, span)
        inputs = flow if isinstance(flow, tuple) else (flow,)
        n = len(inputs)
        if n < lo:
            needs = f"{lo} tensors" if lo == hi else f"{lo} or more tensors"
            raise fail("arity", f"{what} needs {needs}; got {n}", span,
                       hint=f"give it a tuple: (a, b) -> {what}")
        if hi is not None and n > hi:
            takes = "one tensor" if hi == 1 else f"at most {hi} tensors"
            raise fail("arity", f"{what} takes {takes}; got a tuple of {n}", span,
                       hint="merge the tuple first: (a, b) -> concat" if hi == 1 else None)
        return inputs

    def apply_layer(self, spec, args, flow, scope: Scope, as_name, span) -> int:
        positional, keywords = [], {}
        ctx = scope.context()
        for a in args:
            value = evaluate(a.value, ctx)
            if a.name is None:
                positional.append(value)
            elif a.name in keywords:
                raise fail("duplicate-argument", f"argument '{a.name}' is given twice",
                           a.span)
            else:
                keywords[a.name] = value
        try:
            attrs = bind_args(spec, tuple(positional), keywords)
        except ArgError as exc:
            # every unknown keyword of the call at once, each at its own argument
            errors = _unknown_keywords(spec, keywords, exc)
            diags = [fail("bad-argument", e.message, _arg_span(e.arg, args, span),
                          hint=e.hint or _value_hint(e, positional, keywords, scope)).diag
                     for e in errors]
            attrs = _without_unknown(spec, positional, keywords, exc)
            self.diags.extend(diags[:-1])
            if attrs is None:  # what is left fails too: most likely the same mistake
                raise ElabError(diags[-1]) from None
            self.diags.append(diags[-1])  # reported; the layer flows on for later checks
        if flow is POISON:  # name and arguments checked; nothing to apply them to
            return POISON
        inputs = self.flow_inputs(flow, spec.name, spec.min_inputs, spec.max_inputs, span)
        name = self.layer_name(as_name, spec.name, scope, span)
        node = self.graph.add(spec.name, attrs, inputs, name, span=span, origin=scope.origin)
        if as_name:
            scope.layers[as_name] = node.id
        return node.id

    def layer_name(self, as_name: str | None, kind: str, scope: Scope, span) -> str:
        if as_name is None:
            return scope.fresh(kind)
        if as_name in scope.layers or as_name in scope.tensors:
            raise fail("duplicate-name", f"'{as_name}' already names a layer or tensor", span)
        return scope.prefix + as_name

    def share(self, name: str, flow: Flow, scope: Scope, span) -> Flow:
        named = scope.layers[name]
        if isinstance(named, BlockInstance):
            if named.result is POISON:
                return POISON
            n = len(named.entry)
            inputs = self.flow_inputs(flow, name, n, n, span)
            return reapply_block(self.graph, named, inputs, span, scope.origin)
        owner = self.graph.node(named)
        spec = LAYERS[owner.op]
        inputs = self.flow_inputs(flow, name, spec.min_inputs, spec.max_inputs, span)
        node = self.graph.add(owner.op, owner.attrs, inputs, owner.name, span=span,
                              origin=scope.origin, shares=True)
        return node.id

    def apply_block(self, found, args, flow, scope: Scope, as_name, span) -> Flow:
        block, benv = found
        if block.name in scope.blocks:
            cycle = " -> ".join(scope.blocks[scope.blocks.index(block.name):] + (block.name,))
            raise fail("recursion", f"block '{block.name}' calls itself ({cycle})", span,
                       hint="blocks are expanded at compile time; use repeat for depth")
        params = self.bind_block_args(block, benv, args, scope, span)
        if flow is POISON:  # arguments checked; the body would only repeat the error
            return POISON
        instance = self.layer_name(as_name, block.name, scope, span)
        inner = Scope(benv, prefix=instance + "/", values=params,
                      blocks=scope.blocks + (block.name,), origin=scope.origin + (span,))
        inputs = [s for s in block.body.stmts if isinstance(s, S.InputStmt)]
        for s in inputs:
            if s.shape is not None:
                raise fail("syntax", f"block input '{s.name}' takes no shape: its caller's "
                           "flow decides it", s.span)
        body = [s for s in block.body.stmts if not isinstance(s, S.InputStmt)]
        first = len(self.graph.nodes)
        if inputs:
            given = self.flow_inputs(flow, block.name, len(inputs), len(inputs), span)
            for s, node_id in zip(inputs, given, strict=True):
                inner.tensors[s.name] = node_id
                inner.used.add(s.name)
            flow = given[0] if len(given) == 1 else given
        elif flow is None:
            raise self.no_flow(block.name, span)
        result = self.body(body, flow, inner)
        outputs = inner.outputs
        if len(outputs) == 1:
            result = outputs[0][1]
        elif outputs:
            parts = tuple(o[1] for o in outputs)
            result = POISON if POISON in parts else parts
        if not any(d.is_error for d in self.diags):
            self.warn_unused(inner, set(result if isinstance(result, tuple) else (result,)))
        if as_name:
            entry = flow if isinstance(flow, tuple) else (flow,)
            scope.layers[as_name] = BlockInstance(block.name, entry, first,
                                                  len(self.graph.nodes), result)
        return result

    def bind_block_args(self, block: S.Block, benv: ModuleEnv, args, scope: Scope,
                        span) -> dict[str, Any]:
        params = block.params or ()
        names = [p.name for p in params]
        ctx = scope.context()
        bound: dict[str, Any] = {}
        for i, a in enumerate(args):
            if a.name is None:
                if i >= len(params):
                    raise fail("arity", f"{block.name} takes {len(params)} argument"
                               f"{'s' * (len(params) != 1)}; got {len(args)}", a.span)
                bound[params[i].name] = evaluate(a.value, ctx)
            else:
                if a.name not in names:
                    raise fail("bad-argument", f"{block.name} has no parameter '{a.name}'",
                               a.span, hint=did_you_mean(a.name, names))
                if a.name in bound:
                    raise fail("duplicate-argument", f"argument '{a.name}' is given twice",
                               a.span)
                bound[a.name] = evaluate(a.value, ctx)
        for p in params:
            if p.name not in bound:
                if p.default is None:
                    raise fail("missing-argument", f"{block.name} needs argument '{p.name}'",
                               span, notes=[f"{block.name}({', '.join(names)}) is defined "
                                            f"at {block.span}"])
                bound[p.name] = evaluate(p.default, Context(benv, dict(bound)))
        return bound

    # ------------------------------------------------------------ diagnostics

    def no_flow(self, what: str, span: Span | None) -> ElabError:
        inputs = list(self.graph.inputs) if self.graph is not None else []
        if len(inputs) < 2:
            return fail("no-input", f"{what} has nothing to apply to", span,
                        hint="declare an input first: input x: [8, 8, 1]")
        names = ", ".join(inputs)
        return fail("no-input", f"{what} has no flow to apply to: the model has "
                    f"{len(inputs)} inputs ({names})", span,
                    hint=f"start the chain from one: {inputs[0]} -> ..., or from several: "
                         f"({names}) -> concat")

    def error(self, code: str, message: str, span, **kw) -> None:
        self.diags.append(fail(code, message, span, **kw).diag)

    def warn_unused(self, scope: Scope, outputs: set) -> None:
        """Tensors of ``scope`` nothing uses; ``outputs`` (the model's outputs, or
        what a block returns to its caller) count as used."""
        for name, flow in scope.tensors.items():
            if name in scope.used or flow is POISON or flow in outputs:
                continue
            if isinstance(flow, int) and self._consumed(flow):
                continue
            is_input = self.graph is not None and self.graph.inputs.get(name) == flow
            self.diags.append(warning(
                "unused", f"{'input' if is_input else 'tensor'} '{name}' is never used",
                scope.tensor_spans.get(name),
                hint="the model still takes it: use it or remove the line" if is_input
                else "use it, output it, or remove the line"))

    def warn_rebound(self, scope: Scope, name: str, span: Span | None) -> None:
        """``h = ...`` again before anything used the first ``h``: a dead layer."""
        old = scope.tensors[name]
        parts = old if isinstance(old, tuple) else (old,)
        if name in scope.used or not all(isinstance(p, int) for p in parts) or any(
                self._consumed(p) or p in self.graph.outputs.values() for p in parts):
            return
        where = scope.tensor_spans.get(name)
        line = f" at line {span.line}" if span else ""
        self.diags.append(warning("unused", f"tensor '{name}' is never used: it is bound "
                                  f"again{line} before anything uses it", where,
                                  hint="use it, or remove the line"))

    def _consumed(self, node_id: int) -> bool:
        return any(node_id in n.inputs for n in self.graph.nodes)


_MISSING = object()


def _is_dim(value: Any) -> bool:
    from nnlang.dims import SymDim
    return isinstance(value, SymDim)


def _without_unknown(spec, positional, keywords, exc: ArgError):
    """Bind again without the unknown keywords, so checking can go on past them.

    A Keras spelling counts as the argument it stands for (``return_sequences=``
    as ``sequences=``), so that later shapes are those the author meant."""
    known = {a.name for a in spec.args}
    if not isinstance(exc.arg, str) or exc.arg in known:
        return None
    rest = {k: v for k, v in keywords.items() if k in known}
    meant = dict(rest)
    for k, v in keywords.items():
        target = alias_for(k, known) if k not in known else None
        if target is not None and target not in meant:
            meant[target] = v
    for attempt in ([meant, rest] if meant != rest else [rest]):
        try:
            return bind_args(spec, tuple(positional), attempt)
        except ArgError:
            continue
    return None


def _unknown_keywords(spec, keywords, exc: ArgError) -> list[ArgError]:
    """``exc`` if it is not about an unknown keyword, else one error per unknown
    keyword of the call, in the order written."""
    known = {a.name for a in spec.args}
    if not isinstance(exc.arg, str) or exc.arg in known:
        return [exc]
    return [unknown_argument(spec.name, k, spec.args, v)
            for k, v in keywords.items() if k not in known]


def _arg_span(arg, args, default: Span | None) -> Span | None:
    if isinstance(arg, int):
        positional = [a for a in args if a.name is None]
        return positional[arg].span if arg < len(positional) else default
    if isinstance(arg, str):
        for a in args:
            if a.name == arg:
                return a.span
    return default


def _value_hint(exc: ArgError, positional, keywords, scope: Scope) -> str | None:
    """A misspelt const reads as an option word; suggest the const."""
    values = list(positional) + list(keywords.values())
    for v in values:
        if isinstance(v, Word):
            hint = did_you_mean(str(v), known_value_names(scope.context()))
            if hint:
                return hint
    return None
