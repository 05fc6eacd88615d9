"""The export commands of ``engine``: ``engine export run JOB``, ``engine export
dead-letters JOB [--replay]``, ``engine export pause|resume JOB`` and
``engine sandbox customerio`` (docs/cli.md, docs/exports.md, docs/customerio.md).

They only parse arguments and call `engine.exports`: `export run` drains one job's outbox;
`dead-letters`, `pause` and `resume` work on the store alone (`engine.exports.operations`),
so they run beside a daemon, which notices them; `sandbox` runs the Customer.io stand-in of
`engine.exports.sandbox` in the foreground until Ctrl+C. `engine.cli` registers them next to
the other commands.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import orjson

from engine.cli.common import DEFAULT_CREDENTIAL, EXIT_OK, UsageError
from engine.cli.configured import config_of
from engine.engine import Engine
from engine.errors import EngineError, RuntimeFailure
from engine.exports import operations, service
from engine.exports.sandbox import Sandbox, listen, make_server, url_of


def cmd_sandbox(args: argparse.Namespace) -> int:
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
    superseded = f", {stats.superseded:,} superseded" if stats.superseded else ""
    print(f"{args.job}: {stats.sent:,} sent, {stats.retried:,} retried, {stats.dead:,} dead"
          f"{superseded} in {stats.requests:,} requests, {time.perf_counter() - start:.2f}s; "
          f"{left:,} left in the outbox")
    if stats.paused:
        print(f"engine: error: {stats.paused}", file=sys.stderr)
        return 1
    return 0 if not stats.dead else 1


def cmd_export_dead_letters(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    config = config_of(args)
    with Engine(config, read_only=True) as eng:  # beside a daemon: the store alone
        job = service.job_of(eng, args.job).name
        if args.replay:
            moved = operations.replay(eng.store, job, eng.clock())
            print(f"put {moved:,} dead letter(s) of {job} back in its outbox; the daemon "
                  f"sends them (or `engine export run {job}`)", file=sys.stderr)
        letters = operations.dead_letters(eng.store, job, args.limit)
    if args.format == "json":
        for letter in letters:
            sys.stdout.write(orjson.dumps(letter.as_dict()).decode() + "\n")
        return EXIT_OK
    for letter in letters:
        d = letter.as_dict()
        who = orjson.dumps(d["identifiers"]).decode()
        print(f"#{d['id']} {d['action']} of profile {d['profile_id']} {who} at {d['at']}: "
              f"{d['status'] or 'not sent'}\n    {d['response'][:300]}")
    more = " or more" if len(letters) == args.limit else ""
    print(f"{len(letters):,}{more} dead letter(s) of {job}", file=sys.stderr)
    return EXIT_OK


def cmd_export_pause(args: argparse.Namespace) -> int:
    config = config_of(args)
    with Engine(config, read_only=True) as eng:
        job = service.job_of(eng, args.job).name
        since = operations.pause(eng.store, job, eng.clock())
        print(f"{job}: {operations.held_reason(job, since)}")
    return EXIT_OK


def cmd_export_resume(args: argparse.Namespace) -> int:
    config = config_of(args)
    with Engine(config, read_only=True) as eng:
        job = service.job_of(eng, args.job).name
        was = operations.resume(eng.store, job)
        depth = eng.store.outbox_depth(job)
    print(f"{job}: resumed; {depth:,} item(s) in its outbox to send" if was
          else f"{job}: was not paused by the operator; nothing to do")
    return EXIT_OK
