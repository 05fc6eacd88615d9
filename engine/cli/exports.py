"""The export commands of ``engine``: ``engine export run JOB`` and
``engine sandbox customerio`` (docs/cli.md, docs/exports.md).

They only parse arguments and call `engine.exports`: `export run` drains one job's outbox;
`sandbox` runs the Customer.io stand-in of `engine.exports.sandbox` in the foreground until
Ctrl+C. `engine.cli` registers them next to the other commands.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from engine.cli.common import EXIT_OK, config_of
from engine.engine import Engine
from engine.errors import EngineError, RuntimeFailure
from engine.exports import service

DEFAULT_PORT = 8081
DEFAULT_CREDENTIAL = "sandbox"  # the site id and API key when none is given


def cmd_sandbox(args: argparse.Namespace) -> int:
    # the sandbox loads when it runs: startup stays quick
    from engine.exports.sandbox import Sandbox, listen, make_server, url_of

    try:
        sandbox = Sandbox(args.site_id, args.api_key)
    except ValueError as exc:
        raise EngineError(str(exc)) from exc
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        raise RuntimeFailure(f"cannot listen on {args.host}:{args.port}: "
                             f"{exc.strerror or exc}") from exc
    url = url_of(sock)
    # The key is only repeated when it is the public default: a chosen one is a secret.
    key = args.api_key if args.api_key == DEFAULT_CREDENTIAL else "<your --api-key>"
    settings = {"base_url": url, "site_id": args.site_id, "api_key": key}
    flags = " ".join(f"--set {shlex.quote(f'authorizations.cio_main.{name}={value}')}"
                     for name, value in settings.items())
    print(f"engine: Customer.io sandbox at {url} (site id {args.site_id}); what it received: "
          f"{url}/_sandbox/requests, its people: {url}/_sandbox/people\n"
          f"engine: point an export at it:\n  engine serve {flags}", flush=True)
    try:
        make_server(sandbox, quiet=False).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down gracefully and re-raised the Ctrl+C: a normal stop
    finally:
        sock.close()
    return EXIT_OK


def cmd_export_run(args: argparse.Namespace) -> int:

    config = config_of(args)
    start = time.perf_counter()
    with Engine(config) as eng:
        stats, queued = service.run(eng, args.job, existing_users=args.existing_users)
        left = eng.store.outbox_depth(args.job)
    if queued is not None:
        print(f"backfill: {queued[(args.job, 'queued')]:,} members queued, "
              f"{queued[(args.job, 'skipped')]:,} without an id skipped")
    print(f"{args.job}: {stats.sent:,} sent, {stats.retried:,} retried, {stats.dead:,} dead "
          f"in {stats.requests:,} requests, {time.perf_counter() - start:.2f}s; "
          f"{left:,} left in the outbox")
    if stats.paused:
        print(f"engine: error: {stats.paused}", file=sys.stderr)
        return 1
    return 0 if not stats.dead else 1


def register(sub: Any, add_config_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the export commands to the ``engine`` parser.

    `add_config_arguments` is taken for the same shape as the other command groups; the
    sandbox reads no config, so it does not use it."""
    p = sub.add_parser("sandbox", help="run a local stand-in for an export provider",
                       description="Run a local Customer.io Track API stand-in "
                        "(docs/exports.md): it "
                                   "enforces the auth, endpoints and limits of the Track API, "
                                   "keeps the people it was sent, and lists every request at "
                                   "GET /_sandbox/requests. Ctrl+C stops it.")
    p.add_argument("provider", choices=("customerio",), help="the provider to stand in for")
    p.add_argument("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                   help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--site-id", default=DEFAULT_CREDENTIAL, metavar="S",
                   help=f"the site id clients must send (default {DEFAULT_CREDENTIAL})")
    p.add_argument("--api-key", default=DEFAULT_CREDENTIAL, metavar="K",
                   help=f"the Track API key clients must send (default {DEFAULT_CREDENTIAL})")
    p.set_defaults(run=cmd_sandbox)

    exp = sub.add_parser("export", help="run export jobs")
    esub = exp.add_subparsers(dest="export_command", required=True, metavar="COMMAND")
    p = esub.add_parser("run", help="run one export job until its outbox is drained",
                        description="Apply the logged events, then send the job's outbox to "
                                    "its destination until it is empty (for cron and tests). "
                                    "Exit 1 when an item was refused for good or the job is "
                                    "paused. Stop the daemon first: it runs its jobs itself.")
    add_config_arguments(p)
    p.add_argument("job", metavar="JOB")
    p.add_argument("--existing-users", action="store_true",
                   help="queue every current member of the job's audience first (a backfill)")
    p.set_defaults(run=cmd_export_run)
