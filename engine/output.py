"""How values leave the engine: JSON with dates as RFC 3339 UTC with milliseconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from engine.lang.values import format_date


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _prepare(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_date(value)
    if isinstance(value, dict):
        return {str(k): _prepare(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """One value as compact JSON text; missing is ``null``."""
    return orjson.dumps(_prepare(value), default=_default).decode()
