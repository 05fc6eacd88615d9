"""``engine status``: where events stand, on either back end (docs/scale-out.md)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from engine.cli.common import EXIT_OK
from engine.cli.configured import config_of
from engine.engine import Engine
from engine.output import to_json
from engine.transport import NatsTransport, open_transport

POLL_S = 0.25  # how often --wait looks again
EXIT_BACKLOG = 1  # --wait: the timeout passed with events still waiting


def _text(status: dict[str, Any]) -> str:
    lines = [f"storage {status['storage']}, transport {status['transport']}"]
    width = max([len("stream"), *map(len, status["streams"])])
    lines.append(f"{'stream':<{width}}  {'collected':>10}  {'applied':>10}  {'backlog':>8}")
    for name, row in status["streams"].items():
        lines.append(f"{name:<{width}}  {row['collected']:>10,}  {row['applied']:>10,}  "
                     f"{row['backlog']:>8,}")
    lines.append(f"backlog {status['backlog']:,}; dead letters {status['dead_letters']:,}")
    for job in status["exports"]:
        reason = f": {job['reason']}" if job["reason"] else ""
        lines.append(f"export {job['job']}: {job['state']}, outbox {job['outbox']:,}{reason}")
    nodes = status["nodes"]
    lines.append(f"live nodes: {len(nodes)}")
    lines += [f"  {n['node']} {n['role']} (seen {n['seen']})" for n in nodes]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    config = config_of(args)
    transport: NatsTransport | None = open_transport(config.settings.transport,
                                                     name="engine-status")
    try:
        with Engine(config, read_only=True) as eng:
            deadline = time.monotonic() + args.timeout
            status = eng.status(transport)
            while args.wait and status["backlog"] and time.monotonic() < deadline:
                time.sleep(POLL_S)
                status = eng.status(transport)
    finally:
        if transport is not None:
            transport.close()
    if args.json:
        sys.stdout.write(to_json(status) + "\n")
    else:
        print(_text(status))
    if args.wait and status["backlog"]:
        print(f"engine: the backlog is {status['backlog']:,} after {args.timeout:g} s",
              file=sys.stderr)
        return EXIT_BACKLOG
    return EXIT_OK
