"""Reading events from files for `engine ingest`: JSON objects, arrays, and NDJSON.

Each record becomes an `Incoming` that says where it came from (``file:line``), so a malformed
line is reported with its line number and skipped while the rest is ingested. NDJSON is read
line by line, so memory stays flat however large the file. For a bulk load, NDJSON files are
cut into blocks of whole lines instead (`RawFiles.blocks`), which decoder processes read and
split themselves: the main process then never handles a line.
"""

from __future__ import annotations

import os
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

    With ``parse=False`` NDJSON lines are left as bytes, for decoder processes to parse, and
    the files may be read as blocks instead (`RawFiles`).
    """
    if not parse:
        return RawFiles(paths)
    return _read(paths, parse)


def _read(paths: Iterable[str], parse: bool) -> Iterator[Incoming]:
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


# A block of an NDJSON file: (path, its first byte, the byte after it); it holds whole lines.
Block = tuple[str, int, int]
BLOCK_BYTES = 1 << 20


class RawFiles(Iterator[Incoming]):
    """Files whose records are left as bytes: iterated, the records of `read_events`; cut into
    blocks, when every file is NDJSON, for decoder processes to read themselves."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)
        self._records: Iterator[Incoming] | None = None

    def __next__(self) -> Incoming:
        if self._records is None:
            self._records = _read(self.paths, False)
        return next(self._records)

    @property
    def splittable(self) -> bool:
        """Whether every file is an NDJSON file (standard input and documents are not)."""
        return self._records is None and all(
            path != "-" and Path(path).suffix.lower() in _NDJSON_SUFFIXES for path in self.paths)

    def blocks(self, size: int | None = None) -> Iterator[Block]:
        """Every file as blocks of about `size` bytes (`BLOCK_BYTES`), each ending at a line's
        end."""
        for path in self.paths:
            yield from _blocks(path, size or BLOCK_BYTES)


def _blocks(path: str, size: int) -> Iterator[Block]:
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        start = 0
        while start < total:
            end = start + size
            if end >= total:
                end = total
            else:  # on to the end of the line the cut falls in
                f.seek(end)
                while True:
                    chunk = f.read(1 << 16)
                    newline = chunk.find(b"\n")
                    if newline >= 0:
                        end += newline + 1
                        break
                    end += len(chunk)
                    if not chunk:
                        end = total
                        break
            yield path, start, end
            start = end


def read_block(block: Block) -> bytes:
    """A block's bytes."""
    path, start, end = block
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def block_lines(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """A block's lines that are not blank, each with its number within the block (from 0) and
    without its line end, as `read_events` gives them; and how many lines the block has."""
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the end of the block's last line
        lines.pop()
    return [(n, line.rstrip(b"\r\n")) for n, line in enumerate(lines) if line.strip()], len(lines)
