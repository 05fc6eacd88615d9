"""The pipeline commands of ``engine``: ingest, map, profile, test, replay, errors, serve.

Each command only parses its arguments, calls the public API and prints; `engine.cli` registers
them next to the language and config commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    date_argument,
    read_event_argument,
)
from engine.cli.configured import config_of
from engine.config.report import CI_FORMATS, render
from engine.engine import Engine, IngestResult
from engine.errors import ConfigError, EngineError
from engine.lang.values import date_to_ms
from engine.output import to_json
from engine.pipeline.decode import default_workers
from engine.pipeline.files import read_events
from engine.program import Config
from engine.store import open_maintenance
from engine.testing import run_config_tests
from engine.transport import open_transport


def _config(args: argparse.Namespace) -> Config:
    return config_of(args)


@contextmanager
def _upkept(config: Config) -> Iterator[None]:
    """The store's upkeep on a thread of its own for the block, as the daemon runs it: a
    bulk load's commits then never stop to copy the write-ahead log into the database file
    (SQLite), which they otherwise do every few hundred MB (docs/performance.md)."""
    upkeep = open_maintenance(config.settings.storage)
    upkeep.start()
    try:
        yield
    finally:
        upkeep.stop()


def _identity(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise EngineError(f"expected FIELD=VALUE (e.g. email=a@b.com), got {text!r}")
    return name, value


class _Progress:
    """Progress on stderr: one line redrawn on a terminal, a line per batch with ``always``."""

    def __init__(self, mode: str) -> None:
        self.tty = sys.stderr.isatty()
        self.enabled = mode == "always" or (mode == "auto" and self.tty)
        self.start = time.perf_counter()

    def __call__(self, result: IngestResult) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        line = (f"ingest: {result.read:,} read, {result.accepted:,} accepted, "
                f"{result.duplicates:,} duplicates ({result.read / elapsed:,.0f}/s)")
        sys.stderr.write(f"\r{line}" if self.tty else f"{line}\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def cmd_ingest(args: argparse.Namespace) -> int:

    config = _config(args)
    progress = _Progress(args.progress)
    workers = default_workers() if args.workers is None else args.workers
    start = time.perf_counter()
    transport = open_transport(config.settings.transport, name="engine-ingest")
    if transport is not None:  # published: the processing nodes apply them
        try:
            with Engine(config, batch_size=args.batch_size, shared=True) as eng:
                result = eng.publish(transport, args.stream, read_events(args.files),
                                     progress=progress)
        finally:
            transport.close()
    else:
        with Engine(config, batch_size=args.batch_size, background_checkpoints=True) as eng, \
                _upkept(config):
            records = read_events(args.files, parse=workers == 0)
            result = eng.ingest(args.stream, records, progress=progress, workers=workers)
    progress.done()
    elapsed = time.perf_counter() - start
    if args.format == "json":
        doc = result.as_dict() | {"seconds": round(elapsed, 3),
                                  "rejections": [r.__dict__ for r in result.rejections]}
        sys.stdout.write(to_json(doc) + "\n")
    else:
        rate = result.read / elapsed if elapsed > 0 else 0.0
        print(f"read {result.read:,}, accepted {result.accepted:,}, duplicates "
              f"{result.duplicates:,}, rejected {sum(result.rejected.values()):,} "
              f"in {elapsed:.2f}s ({rate:,.0f} events/s)")
        for reason, count in sorted(result.rejected.items()):
            print(f"  rejected, {reason}: {count:,}")
        for r in result.rejections:
            print(f"  {r.where}: {r.reason}", file=sys.stderr)
        s = result.stats
        print(f"profiles created {s.profiles_created:,}, merges {s.merges:,}, "
              f"unidentified {s.unidentified:,}")
        if s.overmerge_skipped:
            print(f"merges not made {s.overmerge_skipped:,}: an identity value already joins "
                  "`identity.max_profiles_per_value` profiles (docs/pipeline.md)")
        if s.dead_letters:
            print(f"dead letters {s.dead_letters:,}: a transform or mapping failed on them "
                  "(`engine errors` lists them)")
    return EXIT_INVALID if result.rejected else EXIT_OK


def cmd_map(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.show_code:
        sys.stdout.write(config.generated_code(args.stream))
        return EXIT_OK
    event = read_event_argument(args.event)
    at = _at(args.at)
    doc = config.dry_run(args.stream, event, at if at is not None else _now())
    if args.format == "json":
        sys.stdout.write(to_json(doc) + "\n")
        return EXIT_OK
    print(f"event id {doc['id']!r}, event time {to_json(doc['time'])}")
    for entry in doc["streams"]:
        print(f"stream {entry['stream']}: {to_json(entry['event'])}")
        for m in entry["mappings"]:
            print(f"  mapping {m['mapping']} (identities {to_json(m['identities'])})")
            for row in m["fields"]:
                cond = f"  [if {row['if']}]" if "if" in row else ""
                print(f"    {row['field']} = {to_json(row['value'])}  <- {row['expr']}{cond}")
    return EXIT_OK


def _now() -> int:
    return time.time_ns() // 1_000_000


def _at(text: str | None, option: str = "--at") -> int | None:

    d = date_argument(text, option)
    return None if d is None else date_to_ms(d)


def cmd_profile_get(args: argparse.Namespace) -> int:
    field, value = _identity(args.identity)
    with Engine(_config(args), read_only=True) as eng:
        doc = eng.explain(field, value) if args.explain else eng.profile(field, value)
    if doc is None:
        print(f"no profile has {field} = {value!r}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode()
                     + "\n")
    return EXIT_OK


def cmd_profile_export(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    with Engine(_config(args), read_only=True) as eng:
        for doc in eng.profiles():
            out.write(orjson.dumps(doc) + b"\n")
    out.flush()
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    since = _at(args.since, "--since")
    start = time.perf_counter()
    config = _config(args)
    transport = open_transport(config.settings.transport, name="engine-replay")
    try:
        with Engine(config) as eng:
            stats = eng.replay(stream=args.stream, since_ms=since, transport=transport)
            profiles = eng.profile_count()
    finally:
        if transport is not None:
            transport.close()
    print(f"replayed {stats.events:,} events in {time.perf_counter() - start:.2f}s: "
          f"{profiles:,} profiles, {stats.merges:,} merges, {stats.unidentified:,} unidentified")
    return EXIT_OK


def _test_for_ci(args: argparse.Namespace) -> int:
    """`engine test` for a CI service: failed cases, or the config's own errors when it cannot
    load, as diagnostics in the one format the service reads; the counts go to stderr."""
    try:
        results = run_config_tests(_config(args))
    except ConfigError as exc:
        sys.stdout.write(render(exc.diagnostics, args.format) + "\n")
        return EXIT_INVALID
    failed = [r for r in results if not r.ok]
    output = render([r.diagnostic() for r in failed], args.format)
    if output:
        sys.stdout.write(output + "\n")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=sys.stderr)
    if not results:
        print("no test cases found in the config", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_INVALID if failed else EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    if args.format in CI_FORMATS:
        return _test_for_ci(args)
    results = run_config_tests(_config(args))
    if args.format == "json":
        sys.stdout.write(to_json([r.as_json() for r in results]) + "\n")
    else:
        for r in results:
            where = ""
            if r.case.at is not None:
                line, col = r.case.at.source.location(r.case.at.start)
                where = f"{r.case.at.source.name}:{line}:{col}: "
            print(f"{'ok  ' if r.ok else 'FAIL'} {where}{r.case.name}")
            for failure in r.failures:
                print(f"       {failure}")
        failed = sum(not r.ok for r in results)
        print(f"{len(results) - failed} passed, {failed} failed")
    if not results:
        print("no test cases found in the config", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK if all(r.ok for r in results) else EXIT_INVALID


def cmd_errors(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.replay:
        transport = open_transport(config.settings.transport, name="engine-replay")
        try:
            with Engine(config) as eng:
                stats = eng.replay(transport=transport)
        finally:
            if transport is not None:
                transport.close()
        print(f"replayed {stats.events:,} events with the current config", file=sys.stderr)
    with Engine(config, read_only=True) as eng:
        letters = eng.errors(stream=args.stream, limit=args.limit)
        total = eng.store.count_errors()
    if args.format == "json":
        for letter in letters:
            sys.stdout.write(orjson.dumps(letter.as_dict()).decode() + "\n")
    else:
        for letter in letters:
            d = letter.as_dict()
            print(f"#{d['seq']} {d['stream']} at {d['time']}: {d['reason']}\n"
                  f"    {orjson.dumps(d['event']).decode()[:300]}")
        shown = f"{len(letters):,} shown" if len(letters) < total else "all shown"
        print(f"{total:,} dead letter(s) in _errors ({shown})", file=sys.stderr)
    return EXIT_OK
