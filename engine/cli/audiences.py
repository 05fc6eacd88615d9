"""The audience commands of ``engine``: ``audience list`` and ``audience members``.

Both only read the store (they work beside a running daemon) and print what it holds: the
membership as of the last profile change or scheduled re-evaluation.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import orjson

from engine.cli.common import EXIT_OK, config_of
from engine.engine import Engine


def _engine(args: argparse.Namespace) -> Engine:
    return Engine(config_of(args), read_only=True)


def cmd_audience_list(args: argparse.Namespace) -> int:
    with _engine(args) as eng:
        sizes = eng.audience_sizes()
        audiences = eng.config.audiences.audiences
    if args.format == "json":
        rows = [{"name": name, "members": size,
                 "description": audiences[name].spec.description} for name, size in sizes.items()]
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return EXIT_OK
    width = max((len(name) for name in sizes), default=8)
    for name, size in sizes.items():
        print(f"{name:<{width}}  {size:>10,}  {audiences[name].spec.description}")
    if not sizes:
        print("no audiences in the config", file=sys.stderr)
    return EXIT_OK


def cmd_audience_members(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    with _engine(args) as eng:
        for doc in eng.audience_members(args.name, limit=args.limit):
            out.write(orjson.dumps(doc) + b"\n")
    out.flush()
    return EXIT_OK


def register(sub: Any, add_config_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the audience commands to the ``engine`` parser."""
    aud = sub.add_parser("audience", help="audience sizes and members")
    asub = aud.add_subparsers(dest="audience_command", required=True, metavar="COMMAND")
    p = asub.add_parser("list", help="each audience with its number of members")
    add_config_arguments(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_audience_list)
    p = asub.add_parser("members", help="the member profiles of an audience, one JSON per line")
    add_config_arguments(p)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--limit", type=int, metavar="N", help="at most N members")
    p.set_defaults(run=cmd_audience_members)
