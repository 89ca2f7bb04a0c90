"""The typed syntax tree of a `.nn` file.

One frozen dataclass per construct, mirroring the grammar rules in
grammars/nn.lark. Spans and comments are ``compare=False``: two trees are equal
when they mean the same program, whatever their layout. That is the contract
the formatter is checked against (``parse(fmt(s)) == parse(s)``).

Comments are attached by :mod:`nnlang.parse`:

* ``leading``  - own-line comments just above a statement or item;
* ``trailing`` - the comment at the end of a statement's last line;
* ``dangling`` - own-line comments before a closing ``}`` or at end of file;
* ``inner``    - comments inside a statement's brackets, between its chain
  stages or around its ``else``, each kept next to the item it follows or precedes.

``blank_before`` records a blank line above a statement so the formatter can
keep the author's paragraphs (at most one blank line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnlang.source import Span


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)


def _meta(default=()):  # comments and layout hints never affect equality
    return field(default=default, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    text: str = field(default="", compare=False)
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Attr:
    """``ns.block``: a name inside an imported namespace."""

    base: Expr
    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Arg:
    """One call argument; ``name`` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Call:
    func: Expr
    args: tuple[Arg, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class MapEntry:
    key: str
    value: Expr
    quoted: bool = field(default=False, compare=False)
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class MapExpr:
    entries: tuple[MapEntry, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class TupleExpr:
    """``(a, b, c)``: a tuple flow for layers that take several tensors."""

    items: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # or and == != < <= > >= + - * / // %
    left: Expr
    right: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class IfExpr:
    """``if c { chain } else { chain }``: chosen at compile time."""

    cond: Expr
    then: Expr
    orelse: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Named:
    """``layer as name``: names a layer (summary rows, checkpoint keys)."""

    value: Expr
    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Chain:
    """``a -> b -> c`` (comments between stages are in the statement's ``inner``)."""

    stages: tuple[Expr, ...]
    span: Span | None = _span()


Expr = (Number | String | Bool | Name | Attr | Call | ListExpr | MapExpr | TupleExpr
        | Unary | Binary | IfExpr | Named | Chain)


@dataclass(frozen=True, slots=True)
class Shape:
    """``[8, 8, 1]`` or ``i32[T]``; dims are expressions (symbolic names allowed)."""

    dims: tuple[Expr, ...]
    dtype: str | None = None
    span: Span | None = _span()


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Comments:
    """Comment text attached to a node (``#`` included); layout only."""

    leading: tuple[str, ...] = ()
    trailing: str | None = None  # on the statement's (or a compound's header) line
    closing: str | None = None  # after the closing `}` of a compound statement
    blank_before: bool = False
    # comments inside the statement, each at a place (path, kind, index): ``path``
    # leads from the statement to a bracket, chain or the statement itself (a
    # block's parameters, an if's ``else``); see :mod:`nnlang.comments`
    inner: tuple[tuple[tuple[str | int, ...], str, int, str], ...] = ()


NO_COMMENTS = Comments()


@dataclass(frozen=True, slots=True)
class InputStmt:
    name: str
    shape: Shape | None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class OutputStmt:
    """``output name = chain``, ``output name`` or ``output chain``."""

    name: str | None
    value: Expr
    assertion: Shape | None = None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class BindStmt:
    name: str
    value: Expr
    assertion: Shape | None = None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class ExprStmt:
    """A bare layer line or chain, applied to the flow."""

    value: Expr
    assertion: Shape | None = None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class Body:
    stmts: tuple[Stmt, ...]
    span: Span | None = _span()
    dangling: tuple[str, ...] = _meta()


@dataclass(frozen=True, slots=True)
class RepeatStmt:
    count: Expr
    body: Body
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class ForStmt:
    var: str
    iterable: Expr
    body: Body
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class IfStmt:
    """``orelse`` is a Body, another IfStmt (``else if``), or None."""

    cond: Expr
    then: Body
    orelse: Body | IfStmt | None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


Stmt = InputStmt | OutputStmt | BindStmt | ExprStmt | RepeatStmt | ForStmt | IfStmt


@dataclass(frozen=True, slots=True)
class Setting:
    """``key = value`` in a train block."""

    key: str
    value: Expr
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class TrainCall:
    """A bare call in a train block: ``early_stop(...)``, ``checkpoint(...)``."""

    call: Expr
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class TrainBody:
    settings: tuple[Setting | TrainCall, ...]
    span: Span | None = _span()
    dangling: tuple[str, ...] = _meta()


# ---------------------------------------------------------------- top level


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    alias: str | None
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class Const:
    name: str
    value: Expr
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    params: tuple[Param, ...] | None  # None: declared without parentheses
    body: Body
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    body: Body
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)


@dataclass(frozen=True, slots=True)
class Train:
    """``train model { ... }``; ``train a, b as name { ... }`` for several models."""

    models: tuple[str, ...]
    name: str | None
    body: TrainBody
    span: Span | None = _span()
    comments: Comments = _meta(NO_COMMENTS)

    @property
    def label(self) -> str:
        """The name ``--train`` selects it by: its ``as`` name, else its model's."""
        return self.name or self.models[0]


Item = Import | Const | Block | Model | Train


@dataclass(frozen=True, slots=True)
class Module:
    """A whole `.nn` file."""

    items: tuple[Item, ...]
    path: str = field(default="", compare=False)
    dangling: tuple[str, ...] = _meta()
