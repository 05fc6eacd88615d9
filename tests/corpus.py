"""A generated corpus of Customer.io webhooks with merges and duplicates, for the tests that
compare one way of applying events with another (the profiles must come out equal)."""

from __future__ import annotations

import random
from typing import Any

from engine.engine import Engine

METRICS = (("email", "opened"), ("email", "clicked"), ("email", "delivered"),
           ("push", "sent"), ("sms", "sent"), ("customer", "subscribed"))


def webhooks(people: int, events: int, *, seed: int = 7, start: int = 1_769_000_000
             ) -> list[dict[str, Any]]:
    """`events` webhooks about `people` people. Each carries some of a person's identifiers
    (a customer id, an email), so that profiles made apart merge later; about one in twenty
    links two people (the email of one with the id of another); about one in ten is an earlier
    webhook sent again (a duplicate, same event_id)."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(events):
        if out and rnd.random() < 0.1:
            out.append(dict(rnd.choice(out)))
            continue
        who = rnd.randrange(people)
        ids: dict[str, Any] = {}
        shape = rnd.random()
        if shape < 0.4:
            ids["id"] = f"usr_{who}"
        elif shape < 0.7:
            ids["email"] = f"p{who}@example.com"
        else:
            ids["id"] = f"usr_{who}"
            other = rnd.randrange(people) if rnd.random() < 0.15 else who
            ids["email"] = f"p{other}@example.com"
        object_type, metric = rnd.choice(METRICS)
        data: dict[str, Any] = {"identifiers": ids}
        if object_type == "email":
            data["subject"] = f"Subject {rnd.randrange(5)}"
            data["campaign_id"] = rnd.randrange(1, 4)
        out.append({"event_id": f"ev{n:06d}", "object_type": object_type, "metric": metric,
                    "timestamp": start + rnd.randrange(0, 86_400 * 30),
                    "data": data})
    return out


def profiles(engine: Engine) -> list[dict[str, Any]]:
    """Every profile without its id (ids depend on the order profiles were made), sorted by
    identities: what two runs over the same events must agree on, field for field."""
    out = []
    for doc in engine.profiles():
        doc.pop("_id")
        out.append(doc)
    return sorted(out, key=lambda d: repr(d["_identities"]))
