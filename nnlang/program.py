"""Load a `.nn` file with its imports, and evaluate compile-time values.

A :class:`ModuleEnv` is one file's top level after import resolution: its
consts (evaluated, ``--set`` overrides applied), its blocks, and the
namespaces it imported. :func:`evaluate` turns expressions into the values of
:mod:`nnlang.values`; bare words that name nothing are option words
(``same``, ``relu``, ``val_loss``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlang import syntax as S
from nnlang.diagnostics import Diagnostic, NnError, did_you_mean, error
from nnlang.parse import parse_source, parse_text
from nnlang.source import Source, Span
from nnlang.values import CallValue, Word


class ElabError(Exception):
    """One located problem; caught at statement level so elaboration goes on."""

    def __init__(self, diag: Diagnostic):
        super().__init__(diag.message)
        self.diag = diag


def fail(code: str, message: str, span: Span | None, **kw: Any) -> ElabError:
    return ElabError(error(code, message, span, **kw))


@dataclass(eq=False)
class ModuleEnv:
    """One file's top level: consts, blocks and imported namespaces."""

    path: str
    module: S.Module
    consts: dict[str, Any] = field(default_factory=dict)
    const_spans: dict[str, Span] = field(default_factory=dict)
    blocks: dict[str, tuple[S.Block, ModuleEnv]] = field(default_factory=dict)
    namespaces: dict[str, ModuleEnv] = field(default_factory=dict)
    own_aliases: set[str] = field(default_factory=set)  # `import ... as NAME` in this file


@dataclass
class Loader:
    """Parses files once each, resolves imports relative to the importer, finds cycles."""

    sources: dict[str, Source] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _envs: dict[str, ModuleEnv] = field(default_factory=dict)
    _loading: list[str] = field(default_factory=list)
    _via: list[Span | None] = field(default_factory=list)  # the import that loaded each

    def load(self, path: str | Path, overrides: Mapping[str, Any] | None = None,
             text: str | None = None) -> ModuleEnv | None:
        key = str(path)
        if key in self._envs:
            return self._envs[key]
        try:
            source = Source(key, text) if text is not None else Source.read(path)
            self.sources[key] = source
            module = parse_source(source)
        except NnError as exc:
            self.diagnostics.extend(exc.diagnostics)
            return None
        env = ModuleEnv(key, module)
        if not self._via:
            self._via.append(None)  # the root file was not imported by anything
        self._loading.append(key)
        try:
            self._fill(env, overrides or {})
        finally:
            self._loading.pop()
        self._envs[key] = env
        return env

    def envs(self) -> list[ModuleEnv]:
        """Every file loaded so far, the root and its imports."""
        return list(self._envs.values())

    def _import(self, env: ModuleEnv, item: S.Import) -> None:
        target = Path(env.path).parent / item.path
        resolved = str(target)
        chain = [Path(p).resolve() for p in self._loading]
        if target.resolve() in chain:
            start = chain.index(target.resolve())
            names = " -> ".join(Path(p).name for p in self._loading[start:]) + \
                f" -> {target.name}"
            # report it where the cycle starts: the import in the file that closes it
            where = self._via[start + 1] if start + 1 < len(self._via) else item.span
            raise fail("import-cycle", f"import cycle: {names}", where,
                       notes=[f"closed by the import at {item.span}"],
                       hint="move what both files need into a third file")
        if target.is_dir():
            raise fail("import-not-found", f"cannot import '{item.path}': it is a folder "
                       f"({target})", item.span)
        if target.suffix != ".nn":
            raise fail("import-not-found", f"cannot import '{item.path}': only .nn files "
                       "can be imported", item.span,
                       hint="data files belong in a train block's data = ... setting")
        if not target.is_file():
            raise fail("import-not-found", f"cannot import '{item.path}': no such file "
                       f"(looked for {target})", item.span)
        self._via.append(item.span)
        try:
            imported = self.load(resolved)
        finally:
            self._via.pop()
        if imported is None:
            raise fail("import-error", f"'{item.path}' has errors (reported above)",
                       item.span)
        if item.alias:
            env.namespaces[item.alias] = imported
            env.own_aliases.add(item.alias)
            return
        # The file's own consts, blocks and namespaces win over imported ones,
        # wherever the import is.
        for name, value in imported.consts.items():
            if not _defined_here(env, env.const_spans.get(name)):
                env.consts[name] = value
                env.const_spans[name] = imported.const_spans[name]
        for name, found in imported.blocks.items():
            if env.blocks.get(name, (None, None))[1] is not env:
                env.blocks[name] = found
        for alias, namespace in imported.namespaces.items():
            if alias not in env.own_aliases:
                env.namespaces[alias] = namespace

    def _fill(self, env: ModuleEnv, overrides: Mapping[str, Any]) -> None:
        aliases: dict[str, Span | None] = {}
        for item in env.module.items:
            try:
                if isinstance(item, S.Import):
                    if item.alias in aliases:
                        raise fail("duplicate-name", f"namespace '{item.alias}' is imported "
                                   "twice", item.span,
                                   notes=[f"first imported at {aliases[item.alias]}"])
                    if item.alias:
                        aliases[item.alias] = item.span
                    self._import(env, item)
                elif isinstance(item, S.Const):
                    if item.name in env.consts and item.name in _own_consts(env, item):
                        raise fail("duplicate-name", f"const '{item.name}' is defined twice",
                                   item.span, notes=[f"first defined at {env.const_spans[item.name]}"])
                    value = (overrides[item.name] if item.name in overrides
                             else evaluate(item.value, Context(env)))
                    env.consts[item.name] = value
                    env.const_spans[item.name] = item.span
                elif isinstance(item, S.Block):
                    if item.name in env.blocks and env.blocks[item.name][1] is env:
                        raise fail("duplicate-name", f"block '{item.name}' is defined twice",
                                   item.span)
                    env.blocks[item.name] = (item, env)
                    self.diagnostics.extend(check_params(item))
            except ElabError as exc:
                self.diagnostics.append(exc.diag)


def check_params(block: S.Block) -> list[Diagnostic]:
    """Python's rules for a block's parameters, at the parameter that breaks one:
    each name once, and none without a default after one with a default."""
    diags, seen, defaulted = [], {}, None
    for p in block.params or ():
        if p.name in seen:
            diags.append(error("duplicate-name", f"block '{block.name}' has two parameters "
                               f"named '{p.name}'", p.span,
                               notes=[f"first declared at {seen[p.name]}"]))
            continue
        seen[p.name] = p.span
        if p.default is not None:
            defaulted = defaulted or p
        elif defaulted is not None:
            diags.append(error("parameter-order", f"parameter '{p.name}' has no default but "
                               f"follows '{defaulted.name}', which has one", p.span,
                               hint=f"give '{p.name}' a default, or move it before "
                                    f"'{defaulted.name}'"))
    return diags


def _defined_here(env: ModuleEnv, span: Span | None) -> bool:
    return span is not None and span.path == env.path


def _own_consts(env: ModuleEnv, item: S.Const) -> set[str]:
    """Names of consts defined in env's own file before ``item`` (imports may be shadowed)."""
    own = set()
    for other in env.module.items:
        if other is item:
            break
        if isinstance(other, S.Const):
            own.add(other.name)
    return own


def parse_override(name: str, text: str) -> Any:
    """Evaluate the value of ``--set name=text`` as a `.nn` expression."""
    try:
        module = parse_text(f"const {name} = {text}\n", path="--set")
    except NnError:
        raise fail("bad-override", f"--set {name}={text}: not a valid value", None,
                   hint="values are .nn expressions: 128, 0.5, true, relu, [32, 64]") from None
    (item,) = module.items
    return evaluate(item.value, Context(None))


# ---------------------------------------------------------------- values


@dataclass
class Context:
    """What names mean while evaluating a value."""

    env: ModuleEnv | None
    locals: dict[str, Any] = field(default_factory=dict)  # block params, for variables
    tensors: Callable[[str], bool] = lambda name: False   # is this name a tensor here?
    symbols: bool = False  # in a shape: unknown names are symbolic dims


def lookup_value(name: str, ctx: Context) -> tuple[bool, Any]:
    if name in ctx.locals:
        return True, ctx.locals[name]
    if ctx.env is not None and name in ctx.env.consts:
        return True, ctx.env.consts[name]
    return False, None


def known_value_names(ctx: Context) -> list[str]:
    names = list(ctx.locals)
    if ctx.env is not None:
        names += list(ctx.env.consts)
    return names


_ARITH = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def evaluate(expr: S.Expr, ctx: Context) -> Any:
    """The compile-time value of ``expr`` (see :mod:`nnlang.values`)."""
    match expr:
        case S.Number(value=v) | S.String(value=v) | S.Bool(value=v):
            return v
        case S.Name(id=name):
            found, value = lookup_value(name, ctx)
            if found:
                return value
            if ctx.tensors(name):
                raise fail("not-a-value", f"'{name}' is a tensor, not a value", expr.span,
                           hint="tensors flow through '->'; arguments are numbers, words, "
                                "lists and calls")
            if ctx.symbols:
                from nnlang.dims import sym
                return sym(name)
            return Word(name)
        case S.Attr(base=S.Name(id=ns), name=name):
            target = ctx.env.namespaces.get(ns) if ctx.env else None
            if target is None:
                return Word(f"{ns}.{name}")
            if name not in target.consts:
                raise fail("unknown-name", f"'{ns}' has no const '{name}'", expr.span,
                           hint=did_you_mean(name, target.consts))
            return target.consts[name]
        case S.ListExpr(items=items):
            return [evaluate(i, ctx) for i in items]
        case S.MapExpr(entries=entries):
            return {e.key: evaluate(e.value, ctx) for e in entries}
        case S.TupleExpr():
            raise fail("not-a-value", "a tuple of tensors is not a value here", expr.span,
                       hint="write a list [a, b] for a list of values")
        case S.Call(func=func, args=args):
            positional, keywords = [], {}
            for a in args:
                v = evaluate(a.value, ctx)
                if a.name is None:
                    positional.append(v)
                else:
                    keywords[a.name] = v
            return CallValue(callee_name(func), tuple(positional), keywords, expr.span)
        case S.Unary(op="-", operand=operand):
            return _arith(expr, "*", -1, evaluate(operand, ctx))
        case S.Unary(op="not", operand=operand):
            return not _truth(evaluate(operand, ctx), operand)
        case S.Binary(op="and", left=left, right=right):
            return _truth(evaluate(left, ctx), left) and _truth(evaluate(right, ctx), right)
        case S.Binary(op="or", left=left, right=right):
            return _truth(evaluate(left, ctx), left) or _truth(evaluate(right, ctx), right)
        case S.Binary(op=op, left=left, right=right):
            return _arith(expr, op, evaluate(left, ctx), evaluate(right, ctx))
        case S.IfExpr(cond=cond, then=then, orelse=orelse):
            return evaluate(then if _truth(evaluate(cond, ctx), cond) else orelse, ctx)
        case S.Named() | S.Chain():
            raise fail("not-a-value", "a layer chain is not a value here", expr.span)
    raise fail("not-a-value", "this expression has no compile-time value", expr.span)


def _truth(value: Any, expr: S.Expr) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    raise fail("type-error", f"expected true or false; got {value!r}", expr.span)


def _arith(expr: S.Expr, op: str, a: Any, b: Any) -> Any:
    numeric = (int, float)
    from nnlang.dims import SymDim
    ok = all(isinstance(v, numeric + (SymDim,)) and not isinstance(v, bool) for v in (a, b))
    if op in ("==", "!="):
        return _ARITH[op](a, b)
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if not ok:
        raise fail("type-error", f"'{op}' needs numbers; got {a!r} and {b!r}", expr.span)
    if op in ("/", "//", "%") and b == 0:
        raise fail("type-error", "division by zero", expr.span)
    try:
        return _ARITH[op](a, b)
    except TypeError as exc:  # e.g. T / 2 or T < 5 on a symbolic dim
        raise fail("type-error", f"'{op}' cannot be applied to {a} and {b}: {exc}",
                   expr.span, hint="symbolic dims support + - * // and %") from None


def callee_name(func: S.Expr) -> str:
    if isinstance(func, S.Name):
        return func.id
    if isinstance(func, S.Attr):
        return f"{callee_name(func.base)}.{func.name}"
    return "<expression>"
