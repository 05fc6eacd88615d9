"""Bulk ingest: events grouped by identity before they are merged, so each profile is read and
written about once per run instead of about once per event.

Merge rules are commutative and associative (docs/pipeline.md), so events may be applied in any
order
and folded in any grouping. A bulk ingest first logs every event (in input order) while decoder
processes spill the mapped events into partitions by an identity value. Then, one
partition at a time, a decoder folds the partition's events per set of identities
(`engine.pipeline.decode`) while the main process resolves each set once and merges the folded
fields into its profile. A partition holds a fraction of the people, so memory stays flat
however large the input is. All profile writes and the processed position commit together at
the end: a crash before then leaves the log ahead of the position, and the next start applies
the logged events again.
"""

from __future__ import annotations

import struct
import tempfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import IO

FRAME = struct.Struct("<II")  # batch number, blob length


class Spill:
    """Partitioned temporary files of mapped events. Use as a context manager."""

    def __init__(self, partitions: int = 128, directory: str | Path | None = None) -> None:
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

    def path(self, p: int) -> str:
        """The file of partition `p`, complete (for a decoder process to read)."""
        self._files[p].flush()
        return self._files[p].name

    def write_seqs(self) -> str:
        """Every record's seq, batch after batch, with each batch's offset, in one file."""
        offsets = array("q", [0])
        flat = array("q")
        for seqs in self._seqs:
            flat.extend(seqs)
            offsets.append(len(flat))
        path = Path(self._dir.name) / "seqs"
        with path.open("wb") as f:
            f.write(struct.pack("<Q", len(offsets)))
            offsets.tofile(f)
            flat.tofile(f)
        return str(path)

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
            f.write(FRAME.pack(number, len(blob)))
            f.write(blob)
