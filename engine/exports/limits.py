"""Customer.io Track API limits (docs/exports.md), in one place: the exporter checks them before it
sends, and the sandbox enforces them.

Where Customer.io's "KB" is ambiguous the stricter reading is taken, so that what passes here
fits Customer.io whichever reading it uses: a v2 batch may hold 500,000 bytes of body, a v2
item 32,000 bytes of compact JSON. Identifiers and attribute names count UTF-8 bytes; attribute
values count UTF-8 bytes for strings and their JSON text for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

MAX_BATCH_BYTES = 500_000  # one v2 batch request body
MAX_ITEM_BYTES = 32_000  # one v2 operation (compact JSON), and a v2 entity request body
MAX_IDENTIFIER_BYTES = 150
MAX_NAME_BYTES = 150
MAX_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300  # per identify call
MAX_SEGMENT_IDS = 1000  # people in one v1 segment add or remove


@dataclass(frozen=True)
class Problem:
    """Why one operation (or one request) is refused, in Customer.io's v2 error terms."""

    reason: str
    field: str
    message: str


def _size(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else len(orjson.dumps(value))


def identifier_problems(value: Any, field: str) -> list[Problem]:
    """An identifier must be a non-empty string (or integer) of at most 150 UTF-8 bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return [Problem("invalid", field, "an identifier must be a string")]
    text = str(value)
    if not text:
        return [Problem("required", field, "the identifier is empty")]
    if len(text.encode()) > MAX_IDENTIFIER_BYTES:
        return [Problem("too_long", field, f"the identifier is {len(text.encode())} bytes, "
                        f"over the limit of {MAX_IDENTIFIER_BYTES}")]
    return []


def attribute_problems(attributes: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Every way `attributes` breaks Customer.io's per-identify limits."""
    problems: list[Problem] = []
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(Problem("too_many", prefix.rstrip(".") or "attributes",
                                f"{len(attributes)} attributes in one identify, over the limit "
                                f"of {MAX_ATTRIBUTES}"))
    for name, value in attributes.items():
        if len(name.encode()) > MAX_NAME_BYTES:
            problems.append(Problem("too_long", prefix + name, f"the attribute name is "
                                    f"{len(name.encode())} bytes, over the limit of "
                                    f"{MAX_NAME_BYTES}"))
        if _size(value) > MAX_VALUE_BYTES:
            problems.append(Problem("too_long", prefix + name, f"the value is {_size(value)} "
                                    f"bytes, over the limit of {MAX_VALUE_BYTES}"))
    return problems
