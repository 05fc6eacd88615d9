"""Bulk ingest: events grouped by identity before they are merged, so each profile is read and
written about once per run instead of about once per event.

Merge rules are commutative and associative (SPEC §6.3), so events may be applied in any order.
A bulk ingest first logs every event (in input order) while decoder processes spill the mapped
events into partitions by their first identity value; then it applies one partition after
another. A partition holds a fraction of the people, so their profiles stay in memory while all
their events are applied, and memory stays flat however large the input is. All profile writes
and the processed position commit together at the end: a crash before then leaves the log ahead
of the position, and the next start applies the logged events again.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from engine.pipeline.compiled import CompiledMapping, Contribution
from engine.pipeline.decode import Mapped
from engine.store.sqlite import LogRow

_FRAME = struct.Struct("<II")  # batch number, blob length


class Spill:
    """Partitioned temporary files of mapped events. Use as a context manager."""

    def __init__(self, mappings: Sequence[CompiledMapping], partitions: int = 32,
                 directory: str | Path | None = None) -> None:
        self.mappings = list(mappings)
        self.partitions = partitions
        self.count = 0
        self.last_seq = 0
        self._seqs: list[array[int]] = []  # per batch: each record's log seq (<= 0: not new)
        self._dir = tempfile.TemporaryDirectory(prefix="engine-bulk-", dir=directory)
        self._files: list[IO[bytes]] = [
            open(Path(self._dir.name) / f"{i}.spill", "w+b")  # noqa: SIM115 -- closed in close()
            for i in range(partitions)]

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._dir.cleanup()

    def add_batch(self, seqs: Sequence[int], blobs: dict[int, bytes]) -> None:
        """One logged batch: its records' seqs and its decoder's pickled partitions."""
        number = len(self._seqs)
        self._seqs.append(array("q", seqs))
        new = [s for s in seqs if s > 0]
        self.count += len(new)
        if new:
            self.last_seq = max(self.last_seq, max(new))
        for p, blob in blobs.items():
            f = self._files[p]
            f.write(_FRAME.pack(number, len(blob)))
            f.write(blob)

    def read(self, stream: str) -> Iterator[Iterator[tuple[list[LogRow],
                                                            list[list[Contribution]]]]]:
        """Each partition in turn, as chunks of new events: log rows and contributions."""
        for p in range(self.partitions):
            yield self._chunks(p, stream)

    def _chunks(self, p: int, stream: str
                ) -> Iterator[tuple[list[LogRow], list[list[Contribution]]]]:
        f = self._files[p]
        f.flush()
        f.seek(0)
        mappings = self.mappings
        while header := f.read(_FRAME.size):
            number, length = _FRAME.unpack(header)
            mapped: list[Mapped] = pickle.loads(f.read(length))  # noqa: S301 -- our own file
            seqs = self._seqs[number]
            rows: list[LogRow] = []
            contributions: list[list[Contribution]] = []
            for i, key, ts, contribs in mapped:
                seq = seqs[i]
                if seq > 0:  # duplicates and rejected records were not logged
                    rows.append((seq, stream, key, ts, 0, b""))
                    contributions.append([(mappings[m], out) for m, out in contribs])
            if rows:
                yield rows, contributions
        f.seek(0)
        f.truncate()
