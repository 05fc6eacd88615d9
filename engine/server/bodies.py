"""Request bodies of the collect API: a JSON object, a JSON array of objects, or NDJSON.

A request is all-or-nothing (docs/http.md): one unreadable line or one array item that is not an
object refuses the whole body, with the position of the first problem, so the sender can fix
and resend it without guessing which of its events were kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from engine.config.model import ServerSpec
from engine.pipeline.intake import json_kind

JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines"})
SNIFFED_TYPES = frozenset({"", "text/plain", "application/octet-stream"})
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


@dataclass
class BodyError(Exception):
    """Why a body is refused: HTTP status, error code, message."""

    status: int
    code: str
    message: str


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header; `BodyError` 415 for a charset not UTF-8."""
    if not content_type:
        return ""
    kind, *params = (p.strip() for p in content_type.split(";"))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8", "utf8"):
            raise BodyError(415, "unsupported_media_type",
                            f"charset {value.strip()!r} is not supported: send UTF-8")
    return kind.lower()


def parse(body: bytes, content_type: str | None,
          max_events: int = ServerSpec.max_events_per_request
          ) -> Sequence[tuple[dict[str, Any] | None, bytes]]:
    """Each event of a body with its own bytes (what the log keeps); more than `max_events`
    is refused before any event is copied. The items of an array come unparsed (None): the
    log keeps their bytes as they came, and `CompiledStream.log_records` reads only the key
    and time it needs from them."""
    kind = media_type(content_type)
    if kind in NDJSON_TYPES:
        return _lines(body, max_events)
    if kind not in JSON_TYPES and kind not in SNIFFED_TYPES and not kind.endswith("+json"):
        raise BodyError(415, "unsupported_media_type",
                        f"content type {kind!r} is not accepted: send application/json "
                        "(an object or an array of objects) or application/x-ndjson")
    stripped = body.strip()
    if not stripped:
        raise BodyError(400, "empty_body", "the body is empty: send a JSON object, a JSON "
                                           "array of objects, or NDJSON")
    if stripped[0] == 0x5B:  # [
        items = _objects(stripped, max_events)
        if items is not None:
            return items
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        if _first_line_is_an_object(stripped):
            return _lines(body, max_events)  # NDJSON sent as application/json
        raise BodyError(400, "malformed_body", _where(exc)) from None
    if isinstance(doc, dict):
        return [(doc, stripped)]
    if isinstance(doc, list):
        if len(doc) > max_events:
            raise _too_many(max_events)
        out = []
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise BodyError(400, "malformed_body",
                                f"item {i} of the array is {json_kind(item)}, not a JSON object")
            try:  # too deep for `_objects` to split
                out.append((item, orjson.dumps(item)))
            except orjson.JSONEncodeError:
                raise BodyError(400, "malformed_body", f"item {i} of the array nests too "
                                "deep to be kept: send it on its own") from None
        return out
    raise BodyError(400, "malformed_body",
                    f"the body is {json_kind(doc)}: send a JSON object or an array of objects")


def _objects(body: bytes, max_events: int) -> list[tuple[None, bytes]] | None:
    """The items of an array of JSON objects, each as the bytes it came as, without building
    them; None when the body is anything else, so that the full parse below says why.

    Splitting checks the JSON grammar (strings, escapes, numbers, nesting) but leaves the
    values unread, so UTF-8 is checked here. A number past a double's range (1e400) is valid
    JSON that only the full parse refuses: such an item is logged, and the processor makes it
    a dead letter naming the number."""
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return None
    try:
        items = _ARRAY.decode(body)
    except (msgspec.MsgspecError, RecursionError):
        return None
    if len(items) > max_events:
        raise _too_many(max_events)
    out: list[tuple[None, bytes]] = []
    append = out.append
    for item in items:
        raw = bytes(item)
        if raw[0] != 0x7B:  # {: an item that is not an object
            return None
        append((None, raw))
    return out


def _too_many(max_events: int) -> BodyError:
    return BodyError(413, "too_many_events", f"the body holds more than {max_events} events "
                     "(server.max_events_per_request): send them in several requests")


def _lines(body: bytes, max_events: int) -> list[tuple[dict[str, Any], bytes]]:
    out: list[tuple[dict[str, Any], bytes]] = []
    for number, line in enumerate(body.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        if len(out) == max_events:
            raise _too_many(max_events)
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, "malformed_body", f"line {number}: {_where(exc)}") from None
        if not isinstance(event, dict):
            raise BodyError(400, "malformed_body",
                            f"line {number} is {json_kind(event)}, not a JSON object")
        out.append((event, line))
    if not out:
        raise BodyError(400, "empty_body", "the body holds no events")
    return out


def _first_line_is_an_object(body: bytes) -> bool:
    first, newline, _rest = body.partition(b"\n")
    if not newline:
        return False
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError:
        return False


def _where(exc: orjson.JSONDecodeError) -> str:
    return f"invalid JSON at line {exc.lineno}, column {exc.colno} (byte {exc.pos}): {exc.msg}"

