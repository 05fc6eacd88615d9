"""What an ingest, or a replay of dead letters, did: the counts `engine ingest` and
`engine errors --replay` print and the daemon reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.pipeline.processor import Stats


def copy_stats(stats: Stats) -> Stats:
    """A copy of counts, to go back to when what was counted since is applied again."""
    copy = Stats()
    copy.add(stats)
    return copy


@dataclass
class Rejection:
    where: str
    reason: str


@dataclass
class IngestResult:
    """Counts of one ingest call (what `engine ingest` prints)."""

    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read, "accepted": self.accepted, "duplicates": self.duplicates,
            "rejected": dict(self.rejected), "unidentified": self.stats.unidentified,
            "profiles_created": self.stats.profiles_created, "merges": self.stats.merges,
            "overmerge_skipped": self.stats.overmerge_skipped,
            "dead_letters": self.stats.dead_letters,
        }


@dataclass
class ErrorReplay:
    """What applying the dead letters again did."""

    stats: Stats = field(default_factory=Stats)  # its dead letters: those that failed again
    # applied in part before, to a field that sums: applying them again would count them
    # twice, so they stay dead letters for a full replay (`engine errors --replay`)
    left: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"replayed": self.stats.events - self.stats.dead_letters,
                "failed_again": self.stats.dead_letters, "left": self.left}
