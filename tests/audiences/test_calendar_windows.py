"""Month and year windows leave at the exact instant the documented date math says.

docs/audiences.md: a relative date is relative to the moment the filter is evaluated, and the
engine re-evaluates a profile when its answer can next change. docs/language.md and
`engine.lang.dates`: `M` and `y` are calendar months and years, the day clamped to the month's
end. So a member of `last_active_ts > "now-1M"` leaves at the first instant whose date one
calendar month back is not before its last activity. The instants below are worked out by hand
from that rule (not by the engine's date functions), as a daemon would see them: the clock jumps
from one due check to the next, and each is run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.engine import Engine
from tests.audiences.test_membership import Clock, _config, visit

AUDIENCES = """\
audiences:
  - {name: month, filter: 'last_active_ts > "now-1M"'}
  - {name: year, filter: 'last_active_ts > "now-1y"'}
  - {name: month_lapsed, filter: 'last_active_ts <= "now-1M"'}
"""


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


CASES = [
    # Jan 31 + 1 month is clamped to Feb 29 (2024 is a leap year); no instant of February is a
    # month after Jan 31 12:00 (Feb 29 23:59:59.999 one month back is Jan 29), Mar 1 00:00 is.
    ("month", ms(2024, 1, 31, 12), ms(2024, 3, 1)),
    # Feb 29 of a leap year: one month later is Mar 29, same time of day
    ("month", ms(2024, 2, 29, 12), ms(2024, 3, 29, 12)),
    # April has no 31st: Apr 30 23:59:59.999 one month back is Mar 30; May 1 00:00 is Apr 1
    ("month", ms(2024, 3, 31, 12), ms(2024, 5, 1)),
    # Dec 31 + 1 year: Dec 31 of the next year, same time of day
    ("year", ms(2023, 12, 31, 12), ms(2024, 12, 31, 12)),
    # Feb 29 + 1 year: 2025 has no Feb 29; Feb 28 2025 one year back is Feb 28 2024
    ("year", ms(2024, 2, 29, 12), ms(2025, 3, 1)),
]


@pytest.mark.parametrize(("audience", "active", "leaves"), CASES)
def test_a_member_leaves_at_the_exact_instant(tmp_path: Path, audience: str, active: int,
                                             leaves: int) -> None:
    clock = Clock(active)
    with Engine(_config(tmp_path, AUDIENCES), clock=clock) as eng:
        eng.ingest("visits", [visit(1, "u1", active)])
        pid = eng.profile("user_id", "u1")["_id"]  # type: ignore[index]
        assert (audience, pid, 1, active) in eng.store.audience_changes(pid)
        left = None
        for _ in range(50):
            due = eng.next_due()
            assert due is not None and due <= leaves, (due, leaves)
            clock.ms = due
            eng.run_due()
            exits = [at for a, p, entered, at in eng.store.audience_changes(pid)
                     if a == audience and not entered]
            if exits:
                left = exits[0]
                break
        assert left == leaves
        assert eng.audience_sizes()[audience] == 0
        if audience == "month":  # the non-strict opposite enters at that same instant
            assert ("month_lapsed", pid, 1, leaves) in eng.store.audience_changes(pid)
