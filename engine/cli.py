"""The ``engine`` command: parses arguments, calls the public API, prints results.

No logic lives here that the Python API lacks. Exit codes: 0 ok, 1 invalid input or a failed
check, 2 usage error, 3 runtime failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from engine.errors import ConfigError, EngineError, render_all
from engine.lang.compiler import compile_expression
from engine.lang.dates import parse_date
from engine.output import to_json

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


class _UsageError(Exception):
    pass


def _read_event(raw: str | None) -> dict[str, Any]:
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


def cmd_eval(args: argparse.Namespace) -> int:
    at = None
    if args.at is not None:
        at = parse_date(args.at)
        if at is None:
            raise EngineError(f"--at: cannot read {args.at!r} as a date")
    event = _read_event(args.event)
    expr = compile_expression(args.expr)
    value = expr.evaluate(event, event_time=at)
    sys.stdout.write(to_json(value) + "\n")
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
    except EngineError as exc:
        print(f"engine: error: {exc}", file=sys.stderr)
        code = EXIT_INVALID
    raise SystemExit(code)
