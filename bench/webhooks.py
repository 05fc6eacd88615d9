"""Synthetic Customer.io reporting webhooks (docs/customerio.md), shaped like the real ones.

Deterministic for a seed: the same call writes the same bytes, so runs compare. The mix follows
what a Customer.io workspace sends: mostly email deliveries and opens, then push, SMS, in-app,
slack and subscription events; about one event in twenty carries only an email address.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import orjson

_MIX: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("email", ("sent", "delivered", "opened", "clicked", "bounced", "converted"), 50),
    ("push", ("sent", "delivered", "opened", "clicked", "bounced"), 15),
    ("sms", ("sent", "delivered", "clicked", "bounced"), 10),
    ("in_app", ("sent", "opened", "clicked"), 10),
    ("slack", ("sent", "clicked", "failed"), 5),
    ("webhook", ("sent", "failed"), 5),
    ("customer", ("subscribed", "unsubscribed"), 5),
)
_BASE_TS = 1_769_000_000


def webhooks(count: int, people: int, seed: int = 7) -> Iterator[dict[str, object]]:
    rnd = random.Random(seed)
    kinds = [(t, metrics) for t, metrics, weight in _MIX for _ in range(weight)]
    for i in range(count):
        person = rnd.randrange(people)
        object_type, metrics = rnd.choice(kinds)
        metric = rnd.choice(metrics)
        email = f"person{person}@example.com"
        identifiers: dict[str, object] = {"id": f"usr_{person}", "email": email,
                                          "cio_id": f"{person:012x}"}
        if rnd.random() < 0.05:
            identifiers = {"email": email}
        data: dict[str, object] = {"identifiers": identifiers}
        if object_type == "customer":
            data["email_address"] = email
        else:
            data.update({
                "campaign_id": rnd.randrange(1, 200),
                "action_id": rnd.randrange(1, 2000),
                "journey_id": f"01KFT7T8{rnd.randrange(40):018d}",
                "delivery_id": f"dlv{i:012d}",
                "recipient": email if object_type == "email" else f"+1555{person:07d}",
            })
            if object_type == "email":
                data["subject"] = f"Your plan update #{rnd.randrange(60)}"
            if metric == "clicked":
                data["href"] = f"https://www.example.com/p/{rnd.randrange(500)}?utm_source=cio"
                data["link_id"] = rnd.randrange(1, 9)
            if metric in ("bounced", "failed"):
                data["failure_message"] = "550 mailbox unavailable"
        yield {"event_id": f"01K{i:023d}", "object_type": object_type, "metric": metric,
               "timestamp": _BASE_TS + i // 10, "data": data}


def write_jsonl(path: Path, count: int, people: int, seed: int = 7) -> Path:
    """Write `count` webhooks as NDJSON (once: an existing file of the right name is reused)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for hook in webhooks(count, people, seed):
            out.write(orjson.dumps(hook) + b"\n")
    tmp.replace(path)
    return path
