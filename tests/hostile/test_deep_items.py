"""An array whose items nest deep must get an answer that names the problem, never a 500.

Found by posting `[{"a": {"a": ... 300 levels ... }}]`: the body parsed, but writing the item
out again as its log body hit the JSON writer's nesting limit (254), and the request failed
with 500. Items are now cut out of the body as they came, so such an item is logged and
applied like any other; one too deep to cut out (past about 1,000 levels, where only the full
parse goes) answers 400 `malformed_body` naming the item, and the daemon goes on.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import TOKEN, start, write_config

COLLECT = f"/collect/json/customerio?key={TOKEN}"


def _deep(event_id: str, depth: int) -> bytes:
    return (b'{"event_id": "' + event_id.encode() + b'", "timestamp": 1769420700, '
            b'"metric": "opened", "data": {"identifiers": {"id": "usr_1"}}, "deep": '
            + b'{"a": ' * depth + b"1" + b"}" * (depth + 1))


def test_deep_array_items_are_kept_or_named_never_a_500(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path, on_undecodable="reject"))
    try:
        with daemon.client() as c:
            r = c.post(COLLECT + "&wait=applied", content=b"[" + _deep("d300", 300) + b"]")
            assert (r.status_code, r.json()) == (200, {"accepted": 1, "duplicates": 0})
            r = c.post(COLLECT, content=b'[{"event_id": "ok"}, ' + _deep("d1010", 1010) + b"]")
            assert (r.status_code, r.json()["error"]) == (400, "malformed_body"), r.text
            assert "item 1 of the array nests too deep" in r.json()["message"]
            good = {"event_id": "after", "timestamp": 1769420700, "metric": "opened",
                    "data": {"identifiers": {"id": "usr_2"}}}
            r = c.post(COLLECT + "&wait=applied", content=json.dumps([good]))
            assert r.json() == {"accepted": 1, "duplicates": 0}
            assert c.get("/healthz").status_code == 200
    finally:
        daemon.close()
