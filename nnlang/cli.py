"""``nnc``: the command line.

Exit codes: 0 clean, 1 user errors (diagnostics printed), 2 usage errors.
A user mistake never prints a traceback; anything else is an internal error,
printed loudly (with the traceback under ``--debug``).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from nnlang import __version__
from nnlang.diagnostics import NnError, did_you_mean, render_all, to_json

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors, as we want
        self.print_usage(sys.stderr)
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        hint = choice and did_you_mean(choice[1], re.findall(r"'?([\w-]+)'?", choice[2]))
        self.exit(EXIT_USAGE, f"nnc: error: {message}\n" + (f"  {hint}\n" if hint else ""))


def _expand(paths: Sequence[str]) -> list[Path]:
    """Files as given; directories contribute their `.nn` files, recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.rglob("*.nn")) if p.is_dir() else [p])
    return out


def _usage_error(message: str) -> int:
    print(f"nnc: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _overrides(pairs: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise _Usage(f"--set takes NAME=VALUE; got '{pair}'")
        out[name.strip()] = value.strip()
    return out


class _Usage(Exception):
    pass


def _epochs(text: str) -> int:
    """``--epochs``: a whole number, 0 or more (0 trains nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {value}")
    return value


def _report(result, fmt: str = "text") -> None:
    diags = result.sorted_diagnostics()
    if fmt == "json":
        print(to_json(diags))
    elif diags:
        sources = {**_sources_of(d for d in diags if d.span and
                                 d.span.path not in result.sources), **result.sources}
        print(render_all(diags, sources), file=sys.stderr)


def _check_one(path: Path, overrides, result=None):
    from nnlang.check import check_file

    return check_file(path, result, overrides=overrides)


def _checked_program(args):
    """Check FILE; on errors print them and return None."""
    from nnlang.check import CheckResult

    path = Path(args.file)
    if not path.is_file():
        raise _Usage(f"no such file: '{path}'")
    result = _check_one(path, _overrides(getattr(args, "set", None)), CheckResult())
    if result.has_errors:
        _report(result)
        return None, result
    _report(result)  # warnings
    return result.programs[str(path)], result


def _select_models(program, name: str | None):
    if not program.models:  # a library of blocks: valid, nothing to show (--json: [])
        print(f"nnc: {program.path} defines no model, only blocks, consts or imports",
              file=sys.stderr)
    if name is None:
        return list(program.models.values())
    if name not in program.models:
        from nnlang.diagnostics import did_you_mean

        hint = did_you_mean(name, program.models)
        raise _Usage(f"no model named '{name}' in {program.path}" + (f"; {hint}" if hint else ""))
    return [program.models[name]]


def cmd_check(args) -> int:
    from nnlang.check import CheckResult

    files = _expand(args.files)
    missing = [f for f in files if not f.exists()]
    if missing:
        return _usage_error(f"no such file: '{missing[0]}'")
    if not files:
        return _usage_error(f"no .nn files in {', '.join(args.files)}")
    result = CheckResult()
    overrides = _overrides(args.set)
    for f in files:
        _check_one(f, overrides, result)
    _report(result, args.format)
    if result.has_errors:
        n = sum(d.is_error for d in result.sorted_diagnostics())
        if args.format != "json":
            print(f"\nfound {n} error{'s' * (n != 1)} in {len(files)} "
                  f"file{'s' * (len(files) != 1)}", file=sys.stderr)
        return EXIT_ERRORS
    if args.format != "json":
        print(f"ok: {len(files)} file{'s' * (len(files) != 1)} checked")
    return EXIT_OK


def cmd_summary(args) -> int:
    from nnlang.summary import format_summary, summaries_to_json, summarize

    program, _ = _checked_program(args)
    if program is None:
        return EXIT_ERRORS
    summaries = [summarize(g) for g in _select_models(program, args.model)]
    if args.json:
        print(summaries_to_json(summaries))
    elif summaries:
        print("\n\n".join(format_summary(s) for s in summaries))
    return EXIT_OK


def cmd_ir(args) -> int:
    from nnlang.ir import format_graph, graph_to_json

    program, _ = _checked_program(args)
    if program is None:
        return EXIT_ERRORS
    graphs = _select_models(program, args.model)
    if args.json:
        import json

        print(json.dumps([graph_to_json(g) for g in graphs], indent=2))
    elif graphs:
        print("\n\n".join(format_graph(g) for g in graphs))
    return EXIT_OK


def cmd_graph(args) -> int:
    from nnlang.graphviz import RenderError, render, to_dot

    program, _ = _checked_program(args)
    if program is None:
        return EXIT_ERRORS
    dot = "".join(to_dot(g) for g in _select_models(program, args.model))
    if args.output is None:
        print(dot, end="")
        return EXIT_OK
    try:
        render(dot, Path(args.output))
    except RenderError as exc:
        raise _Usage(str(exc)) from None
    return EXIT_OK


def cmd_run(args) -> int:
    from nnlang.run import run_file
    from nnlang.train.history import TrainingDiverged, TrainingInterrupted

    if not Path(args.file).is_file():
        raise _Usage(f"no such file: '{args.file}'")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise _Usage(f"--out {args.out}: a file of that name is in the way of the run "
                     "directory")
    try:
        history, run_dir = run_file(
            args.file, train=args.train, overrides=_overrides(args.set), epochs=args.epochs,
            seed=args.seed, out=args.out, resume=args.resume, verbose=0 if args.quiet else 1,
            on_warnings=_print_diagnostics)  # what check warns about, before training
    except TrainingInterrupted as exc:
        where = exc.run_dir or args.out or args.resume
        print(f"\ninterrupted in epoch {exc.epoch} after step {exc.step}", file=sys.stderr)
        if where and exc.checkpoint:
            print(f"checkpoint saved in {where}\n"
                  f"resume with: nnc run {args.file} --resume {where}", file=sys.stderr)
        elif where:
            print(f"no checkpoint was saved yet in {where}", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        print(f"error: {exc.message} [diverged]\n  = help: {exc.hint}", file=sys.stderr)
        if exc.checkpoint and str(exc.checkpoint) not in exc.hint:  # say it once
            print(f"  = the last good checkpoint is kept in {exc.checkpoint}", file=sys.stderr)
        return EXIT_ERRORS
    if args.quiet and history.test:  # quiet drops the progress, not the result
        from nnlang.train.rundir import format_metrics

        print(format_metrics(history.test))
    print(f"run directory: {run_dir}")
    return EXIT_OK


def cmd_eval(args) -> int:
    from nnlang.infer import eval_file

    metrics = eval_file(args.file, args.run, split=args.split)
    width = max(map(len, metrics), default=0)
    for k, v in metrics.items():
        print(f"{args.split} {k:<{width}}  {v:.4f}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from nnlang.infer import predict_file

    target = predict_file(args.file, args.run, args.input, out=args.out)
    print(f"predictions written to {target}")
    return EXIT_OK


def fmt_excludes(start: Path) -> list[str]:
    """``[tool.nnc.fmt] exclude`` globs from the nearest pyproject.toml, like black's."""
    import tomllib

    for folder in (start.resolve(), *start.resolve().parents):
        config = folder / "pyproject.toml"
        if config.is_file():
            try:
                data = tomllib.loads(config.read_text())
            except tomllib.TOMLDecodeError:
                return []
            globs = data.get("tool", {}).get("nnc", {}).get("fmt", {}).get("exclude", [])
            return [str(folder / g) for g in globs]
    return []


def _expand_for_fmt(paths: Sequence[str]) -> list[Path]:
    """Files named on the command line always; files found in folders unless excluded."""
    from fnmatch import fnmatch

    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
            continue
        excludes = fmt_excludes(p)
        out.extend(f for f in sorted(p.rglob("*.nn"))
                   if not any(fnmatch(str(f.resolve()), g) for g in excludes))
    return out


def cmd_fmt(args) -> int:
    from nnlang.fmt import run_fmt

    files = _expand_for_fmt(args.files)
    missing = [f for f in files if not f.exists()]
    if missing:
        return _usage_error(f"no such file: '{missing[0]}'")
    return run_fmt(files, check=args.check, diff=args.diff, width=args.width)


def _print_diagnostics(diags) -> None:
    print(render_all(diags, _sources_of(diags)), file=sys.stderr)


def _sources_of(diags) -> dict:
    """The files the diagnostics point into, read again for their excerpts."""
    from nnlang.source import Source

    sources = {}
    for d in diags:
        if d.span and d.span.path not in sources and Path(d.span.path).is_file():
            sources[d.span.path] = Source.read(d.span.path, strict=False)
    return sources


def load_plugins(paths: Sequence[str]) -> None:
    """Run each plugin file once; it registers layers with nnlang.register_layer."""
    import runpy

    for path in paths:
        if not Path(path).is_file():
            raise _Usage(f"no such plugin file: '{path}'")
        try:
            runpy.run_path(path, run_name=f"nnlang_plugin_{Path(path).stem}")
        except (ValueError, TypeError) as exc:  # register_layer refused the entry
            raise _Usage(f"plugin {path}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the plugin's own bug, not nnc's
            raise _PluginFailed(path, exc) from None


class _PluginFailed(Exception):
    """A plugin file raised while it ran: the user's code, shown as Python shows it."""

    def __init__(self, path: str, exc: Exception):
        super().__init__(path)
        self.path, self.exc = path, exc

    def render(self) -> str:
        frames = traceback.extract_tb(self.exc.__traceback__)
        mine = Path(self.path).resolve()
        first = next((i for i, f in enumerate(frames)
                      if Path(f.filename).resolve() == mine), len(frames))
        return "".join([f"nnc: error: plugin {self.path} failed while loading\n",
                        *traceback.format_list(frames[first:]),
                        *traceback.format_exception_only(self.exc)]).rstrip()


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a const (or a train setting); repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnc", description="The .nn neural-network language compiler.")
    parser.add_argument("--version", action="version", version=f"nnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--plugin", action="append", metavar="FILE.py", default=[],
                        help="load a Python file that registers layers "
                             "(nnlang.register_layer); repeatable")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("check", help="report diagnostics (fast: no JAX)")
    p.add_argument("files", nargs="+", help=".nn files or directories")
    p.add_argument("--format", choices=["text", "json"], default="text")
    _add_set(p)
    p.set_defaults(handler=cmd_check)

    for name, handler, about in (
        ("summary", cmd_summary, "layers, output shapes, parameters and FLOPs"),
        ("ir", cmd_ir, "print the elaborated graph"),
    ):
        p = sub.add_parser(name, help=about)
        p.add_argument("file")
        p.add_argument("--model", help="only this model")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        _add_set(p)
        p.set_defaults(handler=handler)

    p = sub.add_parser("graph", help="the elaborated graph as Graphviz DOT (or SVG/PNG)")
    p.add_argument("file")
    p.add_argument("--model", help="only this model")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write FILE.dot, or render FILE.svg/.png/.pdf with Graphviz's dot")
    _add_set(p)
    p.set_defaults(handler=cmd_graph)

    p = sub.add_parser("run", help="train and evaluate a model from its train block")
    p.add_argument("file")
    p.add_argument("--train", help="which train block (by its name); default the first")
    p.add_argument("--epochs", type=_epochs, help="override the number of epochs")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--out", help="run directory (default runs/FILE-TRAIN-TIME)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run")
    p.add_argument("--quiet", action="store_true",
                   help="no progress output: only the test metrics and the run directory")
    _add_set(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("eval", help="score a trained run on its test split")
    p.add_argument("file")
    p.add_argument("--run", required=True, metavar="DIR", help="the run directory")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("predict", help="predictions of a trained run for new inputs")
    p.add_argument("file")
    p.add_argument("--run", required=True, metavar="DIR", help="the run directory")
    p.add_argument("input", help="a .npy, .npz or .csv file of examples")
    p.add_argument("--out", help="where to write the predictions (CSV)")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("fmt", help="rewrite files in the canonical layout")
    p.add_argument("files", nargs="+", help=".nn files or directories")
    p.add_argument("--check", action="store_true", help="list files that would change; exit 1")
    p.add_argument("--diff", action="store_true", help="print a unified diff instead of writing (with --check: as well as the list)")
    p.add_argument("--width", type=int, default=88, help="line width (default 88)")
    p.set_defaults(handler=cmd_fmt)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A short-lived process building acyclic trees: collect garbage rarely, as
    # mypy does (a tenth fewer instructions for `nnc check` of a large file).
    gc.set_threshold(100_000, 50, 100)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins(args.plugin)
        return args.handler(args)
    except _Usage as exc:
        return _usage_error(str(exc))
    except _PluginFailed as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERRORS
    except NnError as exc:  # a user mistake found past the front end (data, config)
        _print_diagnostics(exc.diagnostics)
        return EXIT_ERRORS
    except BrokenPipeError:  # `nnc ir f.nn | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("nnc: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - an internal bug: say so loudly
        from nnlang.train.binding import TrainConfigError

        if isinstance(exc, TrainConfigError):  # a bad setting found late: still the user's
            from nnlang.train.diagnose import setting_diagnostic

            print(render_all([setting_diagnostic(None, exc)]), file=sys.stderr)
            return EXIT_ERRORS
        from nnlang.memory import is_out_of_memory, out_of_memory_error

        if is_out_of_memory(exc):  # too large a model or batch, not a bug
            diags = out_of_memory_error(None, exc).diagnostics
            print(render_all(diags), file=sys.stderr)
            return EXIT_ERRORS
        print(f"nnc: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in nnc, not in your file; please report it"
              + ("" if args.debug else " (run with --debug for the traceback)."),
              file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
