"""Generate the reference tables of ``docs/language.md`` from the registries.

The tables of layers, activations, initializers, losses, optimisers,
schedules, metrics, train calls and data sources are never written by hand:
each sits between two markers in the Markdown,

.. code-block:: markdown

    <!-- BEGIN GENERATED: layers -->
    ...
    <!-- END GENERATED: layers -->

and ``python -m nnlang.docgen`` rewrites what is between them from
:data:`nnlang.layers.LAYERS`, :mod:`nnlang.train.registry` and
:data:`nnlang.data.registry.DATA_SOURCES`. ``--check`` rewrites nothing and
exits 1 when a region is stale (``tests/test_docs_reference.py`` does the
same). Only built-in layers are listed, never plugins. Nothing here imports
JAX.

Examples:
    >>> print(render_region("metrics").splitlines()[2])
    | `accuracy` | fraction of correct classes |
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from nnlang.data.params import KINDS as DATA_KINDS
from nnlang.data.params import DataParam, DataSourceSpec
from nnlang.data.registry import DATA_SOURCES, common_params
from nnlang.layers import (
    ACTIVATIONS,
    GROUPS,
    INITIALIZERS,
    LAYERS,
    ArgSpec,
    FunctionSpec,
    LayerSpec,
    act_arg,
    is_builtin,
    param_args,
)
from nnlang.train import registry as train_registry
from nnlang.values import format_value

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = (ROOT / "docs" / "language.md",)
COMMAND = "python -m nnlang.docgen"

REGION = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z_-]+) -->\n)"
    r"(?P<body>.*?)"
    r"(<!-- END GENERATED: (?P=name) -->)",
    re.S,
)

# The arguments every parametric layer shares, as param_args() and act_arg()
# declare them: a layer's argument equal to one of these is left out of its
# signature and covered by the "common arguments" table.
COMMON_ARGS: dict[str, ArgSpec] = {a.name: a for a in (act_arg(), *param_args())}
WEIGHT_ARGS = [a.name for a in param_args()]
GROUP_TITLES = {
    "core": "Core",
    "activations": "Activations (layers, and `act=` values)",
    "convolution": "Convolution",
    "pooling": "Pooling and resizing",
    "normalization": "Normalisation",
    "sequence": "Sequences",
    "merging": "Merging (tuple flows)",
    "augmentation": "Augmentation (train-time only: identity at evaluation)",
}


# ------------------------------------------------------------------ helpers


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and tags escaped."""
    pieces = " ".join(text.split()).replace("|", "\\|").split("`")
    for i in range(0, len(pieces), 2):  # outside code spans
        pieces[i] = pieces[i].replace("<", "&lt;")
    return "`".join(pieces)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table from a header and rows of cell texts."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_default(value: Any) -> str:
    """A default value as written in `.nn`."""
    return format_value(list(value) if isinstance(value, tuple) else value)


# ------------------------------------------------------------------ layers


def is_common(arg: ArgSpec) -> bool:
    """True if ``arg`` is one of the shared arguments with its usual default."""
    common = COMMON_ARGS.get(arg.name)
    return common is not None and (common.kind, common.default) == (
        arg.kind,
        arg.default,
    )


def format_arg(arg: ArgSpec) -> str:
    """``name``, ``name=default``, or ``name=auto`` for a derived default."""
    if arg.required:
        return arg.name
    if arg.default is None:
        return f"{arg.name}=auto"
    return f"{arg.name}={format_default(arg.default)}"


def layer_signature(spec: LayerSpec) -> str:
    """``conv(filters, kernel, stride=1; act=none)``: keyword-only after ``;``.

    Shared arguments with their usual defaults are left out (see
    :data:`COMMON_ARGS`); a layer that takes them is marked in its table row.
    """
    shown = [a for a in spec.args if not is_common(a)]
    positional = ", ".join(format_arg(a) for a in shown if not a.kw_only)
    keyword = ", ".join(format_arg(a) for a in shown if a.kw_only)
    inside = "; ".join(part for part in (positional, keyword) if part)
    return f"{spec.name}({inside})" if inside else spec.name


def common_label(spec: LayerSpec) -> str:
    """The shared arguments a layer takes: ``act``, "weight args" or a list."""
    names = [a.name for a in spec.args if is_common(a)]
    weights = [n for n in names if n != "act"]
    parts = ["`act`"] * ("act" in names)
    if weights == WEIGHT_ARGS:
        parts.append("weight args")
    else:
        parts += [f"`{n}`" for n in weights]
    return ", ".join(parts) or "—"


def layer_row(spec: LayerSpec) -> tuple[str, str, str]:
    """Signature, shared arguments, doc (with argument docs unless rank-fixed)."""
    own = [a for a in spec.args if not is_common(a) and a.doc]
    args = "; ".join(f"`{a.name}`: {a.doc}" for a in own)
    doc = spec.doc if spec.rank is not None or not args else f"{spec.doc} — {args}."
    return (f"`{layer_signature(spec)}`", common_label(spec), doc)


def render_layers() -> str:
    """One table per layer group, built-in layers in registry order."""
    builtins = [s for s in LAYERS.values() if is_builtin(s.name)]
    groups = list(GROUPS) + sorted({s.group for s in builtins} - set(GROUPS))
    parts = []
    for group in groups:
        specs = [s for s in builtins if s.group == group]
        if specs:
            rows = [layer_row(s) for s in specs]
            header = ("layer", "also takes", "what it does")
            title = GROUP_TITLES.get(group, group.capitalize())
            parts.append(f"### {title}\n\n{table(header, rows)}")
    return "\n\n".join(parts)


def render_common_args() -> str:
    """The shared arguments of parametric layers."""
    rows = [(f"`{format_arg(a)}`", a.doc or "", a.kind) for a in COMMON_ARGS.values()]
    return table(("argument", "meaning", "kind"), rows)


def function_signature(fn: FunctionSpec) -> str:
    if not fn.params:
        return fn.name
    return f"{fn.name}({', '.join(format_arg(p) for p in fn.params)})"


def render_functions(functions: dict[str, FunctionSpec]) -> str:
    rows = [
        (
            f"`{function_signature(f)}`",
            "; ".join(
                [f.doc] * bool(f.doc) + [f"`{p.name}`: {p.doc}" for p in f.params]
            ),
        )
        for f in functions.values()
    ]
    return table(("name", "meaning"), rows)


# ------------------------------------------------------------------ training


def entry_signature(entry: train_registry.Entry) -> str:
    """Like ``format_signature``, but word defaults bare (``monitor=val_loss``)."""
    shown = [p for p in entry.params if not p.hidden]
    parts = [
        p.name
        if p.default is train_registry.REQUIRED or p.default is None
        else f"{p.name}={p.default}"
        if p.kind == train_registry.WORD
        else f"{p.name}={format_value(p.default)}"
        for p in shown
    ]
    return f"{entry.name}({', '.join(parts)})" if parts else entry.name


def render_train_calls() -> str:
    entries = (train_registry.EARLY_STOP, train_registry.CHECKPOINT)
    return table(
        ("call", "meaning"), [(f"`{entry_signature(e)}`", e.doc) for e in entries]
    )


# ------------------------------------------------------------------ data


_SHARED_DATA = {p.name: p for p in common_params(False)}


def is_shared_data_param(param: DataParam) -> bool:
    """True for ``split`` and ``shuffle`` exactly as every source declares them."""
    return param.name in ("split", "shuffle") and _SHARED_DATA[param.name] == param


def data_default(param: DataParam) -> str:
    if param.required:
        return "required"
    if param.default is None:
        return "—"
    return f"`{format_default(param.default)}`"


def data_accepts(param: DataParam) -> str:
    """What a parameter takes, in words; the words themselves for choices."""
    words = ", ".join(f"`{c}`" for c in param.choices)
    if param.kind == "choice" and words:
        text = f"one of {words}"
    elif param.kind == "choice_list" and words:
        text = f"a list of {words}"
    else:
        text = DATA_KINDS.get(param.kind, param.kind)
    if param.minimum is not None:
        text += f", at least {format_default(param.minimum)}"
    return text


def data_meaning(param: DataParam) -> str:
    return param.doc + (f" (only with {param.only_for})" if param.only_for else "")


def data_signature(spec: DataSourceSpec) -> str:
    required = [p.name for p in spec.params if p.required]
    return f"{spec.name}({', '.join(required)})" if required else spec.name


def render_data_source(spec: DataSourceSpec) -> str:
    own = [p for p in spec.params if not is_shared_data_param(p)]
    rows = [
        (f"`{p.name}`", data_default(p), data_accepts(p), data_meaning(p)) for p in own
    ]
    head = f"### `{data_signature(spec)}`\n\n{cell(spec.doc)}."
    if not rows:
        return head
    return f"{head}\n\n{table(('parameter', 'default', 'accepts', 'meaning'), rows)}"


def render_data() -> str:
    shared = table(
        ("parameter", "default", "accepts", "meaning"),
        [
            (f"`{p.name}`", data_default(p), data_accepts(p), data_meaning(p))
            for p in _SHARED_DATA.values()
            if p.name in ("split", "shuffle")
        ],
    )
    intro = (
        "Every source takes these (a source whose table lists one of them again "
        "gives it its own meaning or default):\n\n" + shared
    )
    return "\n\n".join([intro] + [render_data_source(s) for s in DATA_SOURCES.values()])


# ------------------------------------------------------------------ regions


RENDERERS: dict[str, Callable[[], str]] = {
    "layers": render_layers,
    "common-args": render_common_args,
    "activations": lambda: render_functions(ACTIVATIONS),
    "initializers": lambda: render_functions(INITIALIZERS),
    "losses": lambda: train_registry.markdown_table(train_registry.LOSSES),
    "optimizers": lambda: train_registry.markdown_table(train_registry.OPTIMIZERS),
    "schedules": lambda: train_registry.markdown_table(train_registry.SCHEDULES),
    "metrics": lambda: train_registry.markdown_table(train_registry.METRICS),
    "train-calls": render_train_calls,
    "data": render_data,
}
"""Each generated region's name and the function that renders it."""


def render_region(name: str) -> str:
    """The Markdown of one region (no markers).

    Raises:
        KeyError: no region has that name.
    """
    return RENDERERS[name]().rstrip("\n") + "\n"


def regenerate(text: str) -> str:
    """``text`` with every generated region rewritten; unknown names raise KeyError."""

    def replace(match: re.Match[str]) -> str:
        body = render_region(match["name"])
        return f"{match.group(1)}{body}{match.group(4)}"

    return REGION.sub(replace, text)


def region_names(text: str) -> list[str]:
    """The names of the generated regions in ``text``, in order."""
    return [m["name"] for m in REGION.finditer(text)]


def stale_regions(text: str) -> list[str]:
    """The regions of ``text`` whose content differs from the registries."""
    return [
        m["name"]
        for m in REGION.finditer(text)
        if m["body"] != render_region(m["name"])
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnlang.docgen [--check] [FILE...]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="regenerate the reference tables of the docs"
    )
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_DOCS))
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if stale"
    )
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        text = path.read_text(encoding="utf-8")
        stale = stale_regions(text)
        if args.check:
            if stale:
                print(f"{path}: stale: {', '.join(stale)}; run {COMMAND}")
                status = 1
        elif stale:
            path.write_text(regenerate(text), encoding="utf-8")
            print(f"{path}: regenerated {', '.join(stale)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
