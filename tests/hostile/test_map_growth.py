"""Map growth: a sender that invents keys must not grow one person's profile without bound.

Found by posting one person's Customer.io webhooks with thousands of distinct event names and
link hrefs: `cio_events` and `hashedurls` (counts per key) kept every key, and every later
event of that person read and rewrote a profile of tens of thousands of keys. The stock mapping
now gives both a `capacity`: the most recently updated keys are kept, the rest dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from engine.lang.functions.hashing import hash_sip
from engine.lang.functions.web import urlmain
from tests.server.conftest import ADMIN, FIXTURES, TOKEN, start, write_config

BASE_S = 1_769_420_000  # event times, epoch seconds; each webhook one second after the last
LINKS, NAMES = 2000, 500
EVENTS_CAPACITY, URLS_CAPACITY = 100, 1000  # the stock mapping's
DEADLINE_S = 120  # generous: a regression fails instead of hanging the suite


def _webhook(event_id: str, seconds: int, metric: str, href: str | None = None
             ) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "email_clicked.json").read_bytes())
    doc.update(event_id=event_id, metric=metric, timestamp=seconds)
    if href is None:
        del doc["data"]["href"]
    else:
        doc["data"]["href"] = href
    return doc


def _link(i: int) -> str:
    return f"https://shop.example.com/catalog/item-{i}?utm_source=customerio#top"


def _post(c: httpx.Client, events: list[dict[str, Any]], wait: bool = False) -> None:
    query = f"key={TOKEN}" + ("&wait=applied" if wait else "")
    for at in range(0, len(events), 500):
        chunk = events[at:at + 500]
        r = c.post(f"/collect/json/customerio?{query}", json=chunk, timeout=DEADLINE_S)
        assert (r.status_code, r.json()["accepted"]) == (200, len(chunk)), r.text


def test_invented_event_names_and_links_keep_the_newest_keys(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path))
    try:
        with daemon.client() as c:
            # 2000 clicks on distinct pages first, then 500 invented metrics: every key of
            # both maps is updated at its own second, so "most recent" names exact keys.
            clicks = [_webhook(f"click{i}", BASE_S + i, "clicked", _link(i))
                      for i in range(LINKS)]
            names = [_webhook(f"name{i}", BASE_S + LINKS + i, f"m{i:03d}")
                     for i in range(NAMES)]
            _post(c, clicks)
            _post(c, names, wait=True)
            good = _webhook("good", BASE_S + LINKS + NAMES, "opened")
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied", json=good,
                       timeout=DEADLINE_S)
            assert (r.status_code, r.json()["accepted"]) == (200, 1), r.text
            assert c.get("/readyz").json()["ready"] is True
            r = c.get("/api/profiles/cio_customer_id/usr_48213",
                      headers={"Authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 200, r.text
            profile = r.json()
    finally:
        daemon.close()
    events = profile["cio_events"]
    assert len(events) == EVENTS_CAPACITY
    # the good event (newest), then the 99 newest invented names; email_clicked is older
    assert events == {"email_opened": 1,
                      **{f"email_m{i:03d}": 1 for i in range(NAMES - EVENTS_CAPACITY + 1,
                                                            NAMES)}}
    urls = profile["hashedurls"]
    assert len(urls) == URLS_CAPACITY
    assert urls == {str(hash_sip(urlmain(_link(i)))): 1
                    for i in range(LINKS - URLS_CAPACITY, LINKS)}
