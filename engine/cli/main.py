"""The ``engine`` command: parses arguments, calls the public API, prints results.

No logic lives here that the Python API lacks. Exit codes: 0 ok, 1 invalid input or a failed
check, 2 usage error, 3 runtime failure. Each group of commands is a module of this package
(`pipeline`, `audiences`, `exports`), loaded when one of its commands runs (`commands`), so
``engine eval`` starts without the server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli.commands import (
    register_audiences,
    register_exports,
    register_pipeline,
    register_setup,
)
from engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    UsageError,
    add_config_arguments,
    config_overrides,
    date_argument,
    read_event_argument,
    resolve_config_path,
)
from engine.config.checks import validate_config
from engine.config.report import FORMATS, render, summary
from engine.config.schema import schema_text
from engine.errors import ConfigError, EngineError, RuntimeFailure, render_all
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.compiler import compile_expression
from engine.output import to_json
from engine.version import version_line


def cmd_eval(args: argparse.Namespace) -> int:
    at = date_argument(args.at, "--at")
    event = read_event_argument(args.event)
    expr = compile_expression(args.expr)
    with budget.limit(budget.DEFAULT_BUDGET_MS):
        value = expr.evaluate(event, event_time=at)
    sys.stdout.write(to_json(value) + "\n")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    path = resolve_config_path(args)
    for extra in args.paths:
        if not Path(extra).is_file():
            raise UsageError(f"no such file: {extra}")
    result = validate_config(path, overrides=config_overrides(args), extra_files=args.paths,
                             allow_paths=args.allow_paths)
    output = render(result.diagnostics, args.format)
    if output:
        sys.stdout.write(output + "\n")
    if args.format == "text":
        print(summary(result.diagnostics, len(result.files)), file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_INVALID


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text(args.which))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine", description="cdp-engine: event streams to profiles, audiences and exports")
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print the engine's version and Python's, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ev = sub.add_parser("eval", help="evaluate one expression against an event",
                        description="Evaluate one expression; print its value as JSON.")
    ev.add_argument("expr", metavar="EXPR", help="the expression, e.g. 'hash(urlmain(href))'")
    ev.add_argument("--event", metavar="JSON|@FILE", help="the event as JSON, or @path to a file")
    ev.add_argument("--at", metavar="ISO", help="the event time (default: now)")
    ev.set_defaults(run=cmd_eval)
    va = sub.add_parser("validate", help="check the config and every file it references",
                        description="Check the config and every file it references (docs/config.md)"
                                    " without touching storage; report every problem.")
    add_config_arguments(va)
    va.add_argument("--format", choices=FORMATS, default="text",
                    help="how to print problems (default: text)")
    va.add_argument("paths", metavar="PATHS", nargs="*", default=[],
                    help="more mapping files to validate with the config")
    va.set_defaults(run=cmd_validate)
    sc = sub.add_parser("schema", help="print the JSON Schema of a config file",
                        description="Print the JSON Schema of the top-level config or of a "
                                    "mapping file, for editors.")
    sc.add_argument("which", nargs="?", choices=("config", "mapping"), default="config")
    sc.set_defaults(run=cmd_schema)
    register_setup(sub, add_config_arguments)
    register_pipeline(sub, add_config_arguments)
    register_audiences(sub, add_config_arguments)
    register_exports(sub, add_config_arguments)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"engine: error: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except ConfigError as exc:
        print(render_all(exc.diagnostics), file=sys.stderr)
        code = EXIT_INVALID
    except RuntimeFailure as exc:
        print(f"engine: error: {exc}", file=sys.stderr)
        code = EXIT_RUNTIME
    except BudgetExceeded as exc:  # `eval`, `map`: the one event they evaluate took too long
        print(f"engine: error: {exc.reason}", file=sys.stderr)
        code = EXIT_RUNTIME
    except EngineError as exc:
        print(f"engine: error: {exc}", file=sys.stderr)
        code = EXIT_INVALID
    raise SystemExit(code)
