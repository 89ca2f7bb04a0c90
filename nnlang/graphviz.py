"""``nnc graph``: a model's elaborated graph as Graphviz DOT.

One box per layer (its name, the call with its arguments, the output type),
inputs and outputs as ovals, block instances as dashed clusters named after
the block call (``residual_0``), so the picture reads like the source. Layers
that re-apply another's weights (``-> dense_0``) are drawn dashed; a block
instance applied again by its ``as`` name gets a cluster of its own for each
application (``t, again``). Rendering
to SVG or PNG is Graphviz's ``dot``, which nnc calls when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from nnlang.ir import INPUT_OP, Graph, Node, format_attrs, format_type


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(node: Node) -> str:
    call = node.op
    attrs = format_attrs(node.op, node.attrs) if node.op != INPUT_OP else ""
    if attrs:
        call += f"({attrs})"
    kind = f"{node.name.rsplit('/', 1)[-1]}\n{call}" if node.op != INPUT_OP else node.name
    return kind + (f"\n{format_type(node)}" if node.type is not None else "")


def to_dot(graph: Graph) -> str:
    """The DOT text of ``graph`` (deterministic: nodes in graph order)."""
    lines = [f"digraph {_quote(graph.name)} {{", "    rankdir=TB;",
             '    node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
             '    edge [arrowsize=0.6];']
    scopes: dict[str, list[Node]] = {}  # block scope -> its own layers
    applied: dict[str, int] = {}  # layer name -> applications so far
    for node in graph.nodes:
        n = applied[node.name] = applied.get(node.name, 0) + 1
        scope = node.name.rpartition("/")[0]
        if n > 1 and scope:  # a re-applied block: its own cluster, "t@2"
            scope = "/".join(f"{part}@{n}" for part in scope.split("/"))
        scopes.setdefault(scope, []).append(node)
    _emit_scope("", scopes, lines, "    ")
    for node in graph.nodes:
        for i in node.inputs:
            lines.append(f"    n{i} -> n{node.id};")
    for k, (name, node_id) in enumerate(graph.outputs.items()):
        lines.append(f"    out{k} [label={_quote(name)}, shape=oval];")
        lines.append(f"    n{node_id} -> out{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _emit_scope(scope: str, scopes: dict[str, list[Node]], lines: list[str],
                indent: str) -> None:
    """A scope's layers, then its nested block instances as clusters inside it."""
    for node in scopes.get(scope, []):
        attrs = [f"label={_quote(_label(node))}"]
        if node.op == INPUT_OP:
            attrs.append("shape=oval")
        if node.shares:
            attrs.append('style="rounded,dashed"')
        lines.append(f"{indent}n{node.id} [{', '.join(attrs)}];")
    prefix = scope + "/" if scope else ""
    children = dict.fromkeys(s[len(prefix):].split("/", 1)[0] for s in scopes
                             if s.startswith(prefix) and s != scope)  # source order
    for child in children:
        inner = prefix + child
        lines.append(f"{indent}subgraph {_quote('cluster_' + inner)} {{")
        name, _, again = child.partition("@")
        label = f"{name}, again" if again == "2" else f"{name}, #{again}" if again else name
        lines.append(f"{indent}    label={_quote(label)}; style=dashed; fontsize=10;")
        _emit_scope(inner, scopes, lines, indent + "    ")
        lines.append(f"{indent}}}")


class RenderError(Exception):
    """``dot`` is missing or failed."""


TEXT_FORMATS = ("dot", "gv")
RENDERED_FORMATS = ("svg", "png", "pdf")


def render(dot: str, out: Path) -> None:
    """Write ``dot`` to ``out``: as text for ``.dot``/``.gv``, else rendered by Graphviz.

    Raises:
        RenderError: ``out`` is a folder, its folder does not exist, its extension
            is none of ``.dot .gv .svg .png .pdf``, or Graphviz is missing or failed.
    """
    fmt = out.suffix.lstrip(".").lower()
    if out.is_dir() or str(out).endswith(("/", "\\")):
        raise RenderError(f"-o {out} is a folder; name a file in it, e.g. "
                          f"{out / 'model.svg'}")
    if fmt not in TEXT_FORMATS + RENDERED_FORMATS:
        kinds = ", ".join("." + f for f in TEXT_FORMATS + RENDERED_FORMATS)
        raise RenderError(f"-o {out}: cannot write "
                          f"{'.' + fmt + ' files' if fmt else 'a file without an extension'}"
                          f"; name a {kinds} file")
    if not out.parent.is_dir():
        raise RenderError(f"-o {out}: no such folder '{out.parent}'")
    if fmt in TEXT_FORMATS:
        try:
            out.write_text(dot)
        except OSError as exc:
            raise RenderError(f"cannot write {out}: {exc.strerror or exc}") from None
        return
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(f"writing .{fmt} needs Graphviz's 'dot' program, which is not "
                          "installed; write a .dot file and render it elsewhere")
    done = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot, text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise RenderError(f"dot could not write {out.name}: {done.stderr.strip()}")
