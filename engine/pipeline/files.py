"""Reading events from files for `engine ingest`: JSON objects, arrays, and NDJSON.

Each record becomes an `Incoming` that says where it came from (``file:line``), so a malformed
line is reported with its line number and skipped while the rest is ingested. NDJSON is read
line by line, so memory stays flat however large the file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from engine.pipeline.intake import Incoming

_NDJSON_SUFFIXES = (".jsonl", ".ndjson")


def _decode_error(exc: orjson.JSONDecodeError) -> str:
    return f"invalid JSON: {exc.msg} at column {exc.colno}"


def _lines(name: str, handle: Iterable[bytes], parse: bool) -> Iterator[Incoming]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        if not parse:
            yield (None, line.rstrip(b"\r\n"), where, None)
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield (None, None, where, _decode_error(exc))
            continue
        yield (event, line.rstrip(b"\r\n"), where, None)


def _document(name: str, data: bytes) -> Iterator[Incoming]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield (None, None, f"{name}:{exc.lineno}", _decode_error(exc))
        return
    if isinstance(doc, list):
        for i, event in enumerate(doc):
            yield (event, None, f"{name}[{i}]", None)
    else:
        yield (doc, data.strip(), name, None)


def read_events(paths: Iterable[str], *, parse: bool = True) -> Iterator[Incoming]:
    """Every record of every file, in order; ``-`` is standard input.

    With ``parse=False`` NDJSON lines are left as bytes, for decoder processes to parse.
    """
    for path in paths:
        if path == "-":
            data = sys.stdin.buffer.read()
            if data.lstrip()[:1] == b"[":
                yield from _document("<stdin>", data)
            else:
                yield from _lines("<stdin>", _BytesLines(data), parse)
            continue
        p = Path(path)
        if p.suffix.lower() in _NDJSON_SUFFIXES:
            with p.open("rb") as handle:
                yield from _lines(path, handle, parse)
        else:
            yield from _document(path, p.read_bytes())


class _BytesLines:
    """Iterates the lines of a bytes buffer the way a binary file does."""

    def __init__(self, data: bytes) -> None:
        self._lines = data.splitlines(keepends=True)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._lines)
