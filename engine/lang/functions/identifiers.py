"""`uuid`: a fresh random identifier per call (qlbridge ``string.go``).

It is the one function whose answer is not a function of the event: replaying the event log
gives new values, so its entry is `volatile` (never computed at compile time) and `engine
validate` warns where a mapping uses it (docs/language.md, "Functions that do not replay").
"""

from __future__ import annotations

import uuid as _uuid

from engine.lang.registry import function


@function(
    "uuid",
    "() -> string",
    doc="A new random UUID (version 4) on every call; a replay gives other values "
    "(`engine validate` warns in mappings).",
    group="extras",
    total=True,
    volatile=True,
    examples=[("len(uuid())", "36")],
)
def uuid() -> str:
    return str(_uuid.uuid4())
