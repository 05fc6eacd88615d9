"""The ``engine`` command: parses arguments, calls the public API, prints results.

No logic lives here that the Python API lacks. Exit codes: 0 ok, 1 invalid input or a failed
check, 2 usage error, 3 runtime failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.errors import ConfigError, EngineError, RuntimeFailure, render_all
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.compiler import compile_expression
from engine.lang.dates import parse_date
from engine.output import to_json

if TYPE_CHECKING:
    from engine.config import Config

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


class _UsageError(Exception):
    pass


def read_event_argument(raw: str | None) -> dict[str, Any]:
    """An ``--event`` value: JSON text, or ``@path`` of a file holding it."""
    if raw is None:
        return {}
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise _UsageError(f"--event: cannot read {path}: {exc.strerror}") from exc
    else:
        raw_bytes = raw.encode()
    try:
        event = orjson.loads(raw_bytes)
    except orjson.JSONDecodeError as exc:
        raise EngineError(f"--event is not valid JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise EngineError(f"--event must be a JSON object, got {type(event).__name__}")
    return event


def date_argument(text: str | None, option: str) -> datetime | None:
    """A date given on the command line, or a clear error naming the option."""
    if text is None:
        return None
    d = parse_date(text)
    if d is None:
        raise EngineError(f"{option}: cannot read {text!r} as a date")
    return d


def cmd_eval(args: argparse.Namespace) -> int:
    at = date_argument(args.at, "--at")
    event = read_event_argument(args.event)
    expr = compile_expression(args.expr)
    with budget.limit(budget.DEFAULT_BUDGET_MS):
        value = expr.evaluate(event, event_time=at)
    sys.stdout.write(to_json(value) + "\n")
    return EXIT_OK


DEFAULT_CONFIGS = ("config.yaml", "config.example.yaml")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config PATH` and repeatable `--set dotted.key=value`, the same for every command."""
    parser.add_argument("--config", metavar="PATH",
                        help="the config file (default: ./config.yaml, else config.example.yaml)")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append",
                        default=[], help="override one setting, e.g. --set storage.path=/tmp/x.db")
    parser.add_argument("--allow-path", dest="allow_paths", metavar="DIR", action="append",
                        default=[], help="let the config name files in DIR too (by default "
                                         "only in its own folder); repeatable")


def resolve_config_path(args: argparse.Namespace) -> Path:
    """The config file a command reads: `--config`, else the first default that exists."""
    if args.config is not None:
        path = Path(args.config)
        if not path.is_file():
            raise _UsageError(f"--config: no such file: {path}")
        return path
    for name in DEFAULT_CONFIGS:
        if Path(name).is_file():
            return Path(name)
    raise _UsageError(f"no {' or '.join(DEFAULT_CONFIGS)} here; pass --config PATH")


def config_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The `--set` values as ``{dotted.key: value}`` (a later `--set` of a key wins)."""
    found: dict[str, str] = {}
    for item in getattr(args, "overrides", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _UsageError(
                f"--set expects KEY=VALUE (e.g. storage.path=/tmp/x.db), got {item!r}")
        found[key.strip()] = value
    return found


def config_of(args: argparse.Namespace) -> Config:
    """The loaded and compiled config a command names with `--config` and `--set`."""
    from engine.config import load_config

    return load_config(resolve_config_path(args), config_overrides(args),
                       allow_paths=args.allow_paths)


def cmd_validate(args: argparse.Namespace) -> int:
    from engine.config.checks import validate_config
    from engine.config.report import render, summary

    path = resolve_config_path(args)
    for extra in args.paths:
        if not Path(extra).is_file():
            raise _UsageError(f"no such file: {extra}")
    result = validate_config(path, overrides=config_overrides(args), extra_files=args.paths,
                             allow_paths=args.allow_paths)
    output = render(result.diagnostics, args.format)
    if output:
        sys.stdout.write(output + "\n")
    if args.format == "text":
        print(summary(result.diagnostics, len(result.files)), file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_INVALID


def cmd_schema(args: argparse.Namespace) -> int:
    from engine.config.schema import schema_text

    sys.stdout.write(schema_text(args.which))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine", description="cdp-engine: event streams to profiles, audiences and exports")
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
    va.add_argument("--format", choices=("text", "json", "github"), default="text",
                    help="how to print problems (default: text)")
    va.add_argument("paths", metavar="PATHS", nargs="*", default=[],
                    help="more mapping files to validate with the config")
    va.set_defaults(run=cmd_validate)
    sc = sub.add_parser("schema", help="print the JSON Schema of a config file",
                        description="Print the JSON Schema of the top-level config or of a "
                                    "mapping file, for editors.")
    sc.add_argument("which", nargs="?", choices=("config", "mapping"), default="config")
    sc.set_defaults(run=cmd_schema)
    from engine import cli_audiences, cli_exports, cli_pipeline

    cli_pipeline.register(sub, add_config_arguments)
    cli_audiences.register(sub, add_config_arguments)
    cli_exports.register(sub, add_config_arguments)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except _UsageError as exc:
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
