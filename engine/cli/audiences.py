"""The audience commands of ``engine``: ``audience list`` and ``audience members``.

Both only read the store (they work beside a running daemon) and print what it holds: the
membership as of the last profile change or scheduled re-evaluation.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from engine.cli.common import EXIT_OK
from engine.cli.configured import config_of
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
