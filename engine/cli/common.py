"""What every ``engine`` command shares: exit codes, the config arguments, reading
arguments that hold events and dates.

No logic lives here that the Python API lacks.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from engine.errors import EngineError
from engine.lang.dates import parse_date

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


class UsageError(Exception):
    """A command line that cannot mean anything: printed with the usage, exit 2."""


def read_event_argument(raw: str | None) -> dict[str, Any]:
    """An ``--event`` value: JSON text, or ``@path`` of a file holding it."""
    if raw is None:
        return {}
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--event: cannot read {path}: {exc.strerror}") from exc
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


DEFAULT_CONFIGS = ("config.yaml", "config.example.yaml")
DEFAULT_PORT = 8081  # of `engine sandbox`
DEFAULT_CREDENTIAL = "sandbox"  # the sandbox's site id and API key when none is given


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
            raise UsageError(f"--config: no such file: {path}")
        return path
    for name in DEFAULT_CONFIGS:
        if Path(name).is_file():
            return Path(name)
    raise UsageError(f"no {' or '.join(DEFAULT_CONFIGS)} here; pass --config PATH")


def config_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The `--set` values as ``{dotted.key: value}`` (a later `--set` of a key wins)."""
    found: dict[str, str] = {}
    for item in getattr(args, "overrides", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--set expects KEY=VALUE (e.g. storage.path=/tmp/x.db), got {item!r}")
        found[key.strip()] = value
    return found
