"""Expected values worked out by hand from the fixtures (tests/fixtures/expected/*.md).

Tests that build profiles two ways and compare them also compare them with these: two paths
that share a bug (a merge rule, a mapping function, identity resolution) agree with each other,
but not with a value nobody computed with the engine."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EXPECTED = Path(__file__).resolve().parent / "fixtures" / "expected"
FIXTURE_PEOPLE: list[dict[str, Any]] = json.loads((EXPECTED / "people.json").read_text())
USR_48213: dict[str, Any] = json.loads((EXPECTED / "usr_48213.json").read_text())


def people(profiles: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each profile as its identities and `cio_events`, sorted as people.json is."""
    return sorted(({"_identities": p["_identities"], "cio_events": p.get("cio_events", {})}
                   for p in profiles),
                  key=lambda p: json.dumps(p["_identities"], sort_keys=True))


def fields(profile: dict[str, Any] | None) -> dict[str, Any]:
    """A profile without its bookkeeping (`_id`, `_identities`, `_updated`)."""
    assert profile is not None
    return {k: v for k, v in profile.items() if not k.startswith("_")}
