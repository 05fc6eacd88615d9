"""Splitting collect bodies into events (`engine.server.bodies.parse`): what each event's
logged bytes are, and which bodies are refused with which reason."""

from __future__ import annotations

import pytest

from engine.server.bodies import BodyError, parse


def refusal(body: bytes, max_events: int = 100) -> tuple[int, str, str]:
    with pytest.raises(BodyError) as caught:
        parse(body, "application/json", max_events)
    return caught.value.status, caught.value.code, caught.value.message


def test_array_items_keep_the_bytes_they_came_as() -> None:
    body = b' [ {"a" : 1,\n "b": "\\u00e9"} ,\t{"c":[1, {"d": null}]}\n]\n'
    assert parse(body, "application/json") == [
        (None, b'{"a" : 1,\n "b": "\\u00e9"}'), (None, b'{"c":[1, {"d": null}]}')]
    assert parse("[{\"é\": \"ü\"}]".encode(), None) == [(None, "{\"é\": \"ü\"}".encode())]
    assert parse(b"[]", "application/json") == []


def test_objects_and_lines_are_parsed_whole() -> None:
    assert parse(b' {"a": 1} ', "application/json") == [({"a": 1}, b'{"a": 1}')]
    assert parse(b'{"a": 1}\n{"b": 2}\n', "application/x-ndjson") == [
        ({"a": 1}, b'{"a": 1}'), ({"b": 2}, b'{"b": 2}')]


def test_an_item_nested_too_deep_to_cut_out_is_refused_by_its_index() -> None:
    depth = 1010  # past the splitter's nesting, within the full parser's 1024
    item = b'{"a":' * depth + b"1" + b"}" * depth
    assert refusal(b"[{}, " + item + b"]") == (
        400, "malformed_body", "item 1 of the array nests too deep to be kept: send it on "
                               "its own")
    assert parse(item, "application/json")[0][1] == item  # on its own, it is kept
    shallower = b'{"a":' * 300 + b"1" + b"}" * 300  # past what a JSON writer nests
    assert parse(b"[" + shallower + b"]", None) == [(None, shallower)]


def test_refusals_name_the_item_or_the_position() -> None:
    assert refusal(b'[{"a": 1}, 5]') == (
        400, "malformed_body", "item 1 of the array is a number, not a JSON object")
    status, code, message = refusal(b'[{"a": 1}, {"b": "Jos\xe9"}]')
    assert (status, code) == (400, "malformed_body") and "UTF-8" in message
    status, code, message = refusal(b'[{"a": 1}, {"b": tru}]')
    assert (status, code) == (400, "malformed_body") and "column 18" in message
    assert refusal(b"[" + b"{}," * 3 + b"{}]", max_events=3)[:2] == (413, "too_many_events")
