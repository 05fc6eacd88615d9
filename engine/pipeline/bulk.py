"""Bulk ingest: events grouped by identity before they are merged, so each profile is read and
written about once per run instead of about once per event.

Merge rules are commutative and associative (docs/pipeline.md), so events may be applied in any
order and folded in any grouping. A bulk ingest first logs every event (in input order) while
decoder processes spill the mapped events into partitions by an identity value, each decoder
into files of its own. Then, one partition at a time, a decoder folds the partition's events
per set of identities (`engine.pipeline.decode`) while the main process resolves each set once
and merges the folded fields into its profile. A partition holds a fraction of the people, so
memory stays flat however large the input is. All profile writes and the processed position
commit together at the end: a crash before then leaves the log ahead of the position, and the
next start applies the logged events again.
"""

from __future__ import annotations

import marshal
import os
import pickle
import struct
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

FRAME = struct.Struct("<II")  # batch number, blob length

# How a spilled value is encoded: marshal when it holds only plain values (what mapped and
# normalised fields are: several times faster than pickle both ways), else pickle.
_MARSHAL, _PICKLE = b"M", b"P"


def encode(value: Any) -> bytes:
    """Bytes for a decoder to spill or send, and for `decoded` to read back."""
    try:
        return _MARSHAL + marshal.dumps(value)
    except ValueError:  # an object marshal cannot hold
        return _PICKLE + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def decoded(data: bytes) -> Any:
    """What `encode` encoded (only ever bytes our own decoders wrote)."""
    if data[:1] == _MARSHAL:
        return marshal.loads(memoryview(data)[1:])  # noqa: S302 -- our own decoders wrote it
    return pickle.loads(memoryview(data)[1:])  # noqa: S301 -- written by our own decoders


def encode_record(value: Any) -> bytes:
    """One spilled event's bytes, for `decoded_record`: as `encode`, without the prefix (a
    spill holds one per mapped event, and reading it back is the prefold's commonest step).

    A pickle (protocol 2 on) starts with 0x80; marshal's first byte is a type code, which is
    never 0 (0x80 would be that code marked as shared), so the first byte tells them apart.
    """
    try:
        return marshal.dumps(value)
    except ValueError:  # an object marshal cannot hold
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def decoded_record(data: bytes) -> Any:
    """What `encode_record` encoded (only ever bytes our own decoders wrote)."""
    if data[0] != 0x80:
        return marshal.loads(data)  # noqa: S302 -- our own decoders wrote it
    return pickle.loads(data)  # noqa: S301 -- written by our own decoders


class SpillWriter:
    """A decoder's side of a spill: it appends each batch's partitions to files of its own,
    so mapped events go from the decoder to disk without passing through the main process."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._files: dict[int, IO[bytes]] = {}

    def write(self, number: int, blobs: dict[int, bytes]) -> None:
        """Batch `number`'s encoded partitions, on disk (flushed) when this returns."""
        files = self._files
        for p, blob in blobs.items():
            f = files.get(p)
            if f is None:
                f = files[p] = open(  # noqa: SIM115 -- open while the decoder lives
                    Path(self.directory) / f"{p}.{os.getpid()}.spill", "ab")
            f.write(FRAME.pack(number, len(blob)))
            f.write(blob)
        for p in blobs:
            files[p].flush()


def read_frames(paths: Sequence[str]) -> list[tuple[int, bytes]]:
    """A partition's frames from every decoder's file, in batch order (so a partition folds
    the same whichever decoder mapped which batch)."""
    frames: list[tuple[int, bytes]] = []
    for path in paths:
        with open(path, "rb") as f:
            while header := f.read(FRAME.size):
                number, length = FRAME.unpack(header)
                frames.append((number, f.read(length)))
    frames.sort(key=lambda frame: frame[0])
    return frames


class Spill:
    """Partitioned temporary files of mapped events. Use as a context manager."""

    def __init__(self, partitions: int = 128, directory: str | Path | None = None) -> None:
        self.partitions = partitions
        self.count = 0
        self.last_seq = 0
        self._seqs: list[array[int]] = []  # per batch: each record's log seq (<= 0: not new)
        self._dir = tempfile.TemporaryDirectory(prefix="engine-bulk-", dir=directory)
        self.directory = self._dir.name

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._dir.cleanup()

    def paths(self) -> list[list[str]]:
        """Per partition, its files, one per decoder that spilled into it."""
        found: list[list[str]] = [[] for _ in range(self.partitions)]
        for name in sorted(os.listdir(self.directory)):
            p, dot, rest = name.partition(".")
            if dot and rest.endswith(".spill"):
                found[int(p)].append(os.path.join(self.directory, name))
        return found

    def write_seqs(self) -> str:
        """Every record's seq, batch after batch, with each batch's offset, in one file."""
        offsets = array("q", [0])
        flat = array("q")
        for seqs in self._seqs:
            flat.extend(seqs)
            offsets.append(len(flat))
        path = Path(self.directory) / "seqs"
        with path.open("wb") as f:
            f.write(struct.pack("<Q", len(offsets)))
            offsets.tofile(f)
            flat.tofile(f)
        return str(path)

    def add_batch(self, seqs: Sequence[int]) -> int:
        """One logged batch's records' seqs (its decoder spilled its partitions); its number."""
        number = len(self._seqs)
        self._seqs.append(array("q", seqs))
        new = [s for s in seqs if s > 0]
        self.count += len(new)
        if new:
            self.last_seq = max(self.last_seq, max(new))
        return number
