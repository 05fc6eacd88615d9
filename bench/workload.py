"""The benchmark workload: the seed's 29-row Customer.io mapping and synthetic flattened events.

Events are the derived `customerio_events` stream of docs/customerio.md (one flat dict per event)
with an event time in epoch ms beside each. The row table below is the default mapping table of
docs/customerio.md turned into data, so every candidate is built from the
same rows and cannot drift from the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Output = dict[str, Any]
Candidate = Callable[[Event, int], Output]
Fn = Callable[[Any], Any]

# --------------------------------------------------------------------------------------------
# The mapping (seed table order). Every candidate writes exactly these 29 field names.
# --------------------------------------------------------------------------------------------

# `epochms() IF (eq(object_type, X) AND eq(metric, Y))` rows: (object_type, metric, field).
LAST_TS_ROWS: tuple[tuple[str, str, str], ...] = (
    ("email", "bounced", "cio_email_last_bounced_ts"),
    ("email", "clicked", "cio_email_last_clicked_ts"),
    ("email", "opened", "cio_email_last_open_ts"),
    ("email", "sent", "cio_email_last_send_ts"),
    ("in-app", "bounced", "cio_inapp_last_bounced_ts"),  # never fires: in-app has no bounce
    ("in-app", "clicked", "cio_inapp_last_clicked_ts"),
    ("in-app", "opened", "cio_inapp_last_open_ts"),
    ("in-app", "sent", "cio_inapp_last_send_ts"),
    ("push", "bounced", "cio_push_last_bounced_ts"),
    ("push", "clicked", "cio_push_last_clicked_ts"),
    ("push", "opened", "cio_push_last_open_ts"),
    ("push", "sent", "cio_push_last_send_ts"),
    ("slack", "failed", "cio_slack_last_bounced_ts"),
    ("slack", "clicked", "cio_slack_last_clicked_ts"),
    ("slack", "sent", "cio_slack_last_send_ts"),
    ("sms", "bounced", "cio_sms_last_bounced_ts"),
    ("sms", "clicked", "cio_sms_last_clicked_ts"),
    ("sms", "sent", "cio_sms_last_send_ts"),
)

# `set(x)` rows: (source field, output field); the contribution is `[str(x)]`.
SET_ROWS: tuple[tuple[str, str], ...] = (
    ("campaign_id", "cio_campaign_ids"),
    ("campaign_name", "cio_campaign_names"),
    ("journey_id", "cio_journey_ids"),
    ("object_type", "cio_channels"),
    ("subject", "cio_subjects"),
)

# `valuect(...)` rows; the contribution is `{str(key): 1}`.
VALUECT_FIELDS: tuple[str, ...] = ("cio_events", "hashedurls", "cio_email_hourlyopens")

FIELDS: tuple[str, ...] = (
    "cio_customer_id",
    "email",
    *(field for _, _, field in LAST_TS_ROWS),
    "last_active_ts",
    *(field for _, field in SET_ROWS),
    *VALUECT_FIELDS,
)
assert len(FIELDS) == 29 and len(set(FIELDS)) == 29

MS_PER_HOUR = 3_600_000

# --------------------------------------------------------------------------------------------
# email(), urlmain(), hash(): the project's own implementations from the function registry.
# --------------------------------------------------------------------------------------------


def load_functions() -> tuple[Fn, Fn, Fn, str]:
    """Return (email, urlmain, hash) implementations and a note saying where they came from."""
    import engine.lang.functions  # noqa: F401 -- fills the registry
    from engine.lang.registry import FUNCTIONS

    return (
        FUNCTIONS["email"].impl,
        FUNCTIONS["urlmain"].impl,
        FUNCTIONS["hash"].impl,
        "engine.lang.registry FUNCTIONS",
    )


def propagate_missing(fn: Fn) -> Fn:
    """The language's call rule (missing in → missing out) for engines that may pass None.

    The hand-written function tests for None inline. The other engines get the functions
    wrapped in this: some of them cannot skip a call on a null argument (json-logic's
    `hash(urlmain(href))`, where urlmain may answer missing).
    """

    def call(value: Any) -> Any:
        return None if value is None else fn(value)

    call.__name__ = getattr(fn, "__name__", "fn")
    return call


# --------------------------------------------------------------------------------------------
# Synthetic flattened Customer.io events (docs/customerio.md), deterministic per seed.
# --------------------------------------------------------------------------------------------

# (object_type as the derived stream spells it, raw Customer.io spelling, weight)
_CHANNELS: tuple[tuple[str, str, float], ...] = (
    ("email", "email", 72),
    ("push", "push", 9),
    ("sms", "sms", 6),
    ("in-app", "in_app", 5),
    ("customer", "customer", 3),
    ("webhook", "webhook", 2),
    ("whatsapp", "whatsapp", 2),
    ("slack", "slack", 1),
)

_METRICS: dict[str, tuple[tuple[str, float], ...]] = {
    "email": (
        ("sent", 30),
        ("delivered", 29),
        ("opened", 20),
        ("clicked", 7),
        ("bounced", 2),
        ("converted", 2),
        ("unsubscribed", 1),
        ("failed", 0.7),
        ("dropped", 0.5),
        ("undeliverable", 0.5),
        ("spammed", 0.3),
    ),
    "push": (
        ("sent", 35),
        ("delivered", 30),
        ("opened", 15),
        ("clicked", 8),
        ("bounced", 4),
        ("failed", 3),
        ("converted", 2),
    ),
    "sms": (
        ("sent", 40),
        ("delivered", 38),
        ("clicked", 10),
        ("failed", 4),
        ("bounced", 3),
        ("converted", 2),
    ),
    "in-app": (("sent", 40), ("opened", 35), ("clicked", 15), ("converted", 5), ("failed", 5)),
    "customer": (
        ("unsubscribed", 50),
        ("subscribed", 40),
        ("cio_subscription_preferences_changed", 10),
    ),
    "webhook": (("sent", 60), ("clicked", 25), ("failed", 10), ("converted", 5)),
    "whatsapp": (
        ("sent", 30),
        ("delivered", 28),
        ("opened", 20),
        ("clicked", 10),
        ("failed", 5),
    ),
    "slack": (("sent", 60), ("clicked", 25), ("failed", 15)),
}

_FIRST = (
    "Maria", "James", "Wei", "Aisha", "Lukas", "Sofia", "Omar", "Hannah", "Kenji", "Priya",
    "Diego", "Emma", "Noah", "Fatima", "Olivia", "Mateo", "Chloe", "Ivan", "Zoe", "Amir",
)  # fmt: skip
_LAST = (
    "Lopez", "Smith", "Zhang", "Khan", "Muller", "Rossi", "Haddad", "Schmidt", "Tanaka",
    "Patel", "Garcia", "Brown", "OConnor", "Nguyen", "Dubois", "Silva", "Kowalski", "Ivanova",
)  # fmt: skip
_DOMAINS = ("Example.com", "gmail.com", "Yahoo.com", "outlook.com", "Acme.io", "mail.Example.org")
_BAD_EMAILS = ("unknown", "n/a", "bob@example..com", "a@x.com, b@y.com", "")
_HOSTS = ("www.example.com", "Shop.Example.com", "example.com:8443", "blog.example.org", "lnk.co")
_PATHS = (
    "",
    "pricing",
    "blog/2026/01/new-features/",
    "products/sku-{n}",
    "account/settings",
    "caf%C3%A9/menu",
    "docs/Getting%20Started",
    "cart/",
)
_SUBJECTS = (
    "Welcome to Example!",
    "Your January statement",
    "{first}, your cart is waiting",
    "New features this week",
    "Last chance: 20% off",
    "Reset your password",
)


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def generate_events(n: int, seed: int = 20260101) -> list[tuple[Event, int]]:
    """n (event, event-time-ms) pairs with a realistic Customer.io mix."""
    rng = random.Random(seed)
    people = []
    for i in range(max(50, n // 20)):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        addr = f"{first}.{last}{rng.randrange(100) if rng.random() < 0.5 else ''}@"
        addr += rng.choice(_DOMAINS)
        if rng.random() < 0.1:
            addr = addr.lower()
        people.append(
            (f"usr_{10000 + i}", first, f"{first} {last}", addr, f"{rng.getrandbits(48):012x}")
        )
    campaigns = []
    for cid in range(1, 61):
        name = f"Campaign {cid}: {rng.choice(_SUBJECTS)}" if rng.random() < 0.45 else None
        if name is not None and rng.random() < 0.05:
            name = ""
        journey = f"01J{rng.getrandbits(80):020X}" if rng.random() < 0.8 else None
        campaigns.append((cid, name, journey, rng.choice(_SUBJECTS)))
    channels = [(ot, raw) for ot, raw, _ in _CHANNELS]
    channel_weights = [w for _, _, w in _CHANNELS]
    start_s = 1_767_225_600  # 2026-01-01T00:00:00Z
    events: list[tuple[Event, int]] = []
    for _ in range(n):
        object_type, raw_type = rng.choices(channels, channel_weights)[0]
        metric = _pick(rng, _METRICS[object_type])
        customer_id, first, full_name, addr, cio_id = rng.choice(people)
        ev: Event = {
            "event_id": f"01J{rng.getrandbits(100):025X}",
            "object_type": object_type,
            "metric": metric,
            "event": f"{raw_type}_{metric}",
        }
        if rng.random() < 0.97:
            ev["customer_id"] = customer_id
        present = 0.99 if object_type in ("email", "customer") else 0.7
        if rng.random() < present:
            r = rng.random()
            if r < 0.01:
                ev["email"] = rng.choice(_BAD_EMAILS)
            elif r < 0.04:
                ev["email"] = f"{full_name} <{addr}>"
            else:
                ev["email"] = addr
        ev["cio_id"] = cio_id
        if object_type != "customer" and rng.random() < 0.85:
            cid, name, journey, subject = rng.choice(campaigns)
            ev["campaign_id"] = cid
            ev["action_id"] = cid * 10 + rng.randrange(5)
            if name is not None:
                ev["campaign_name"] = name
            if journey is not None:
                ev["journey_id"] = journey
        else:
            subject = rng.choice(_SUBJECTS)
            if object_type != "customer":
                ev["broadcast_id"] = rng.randrange(1, 30)
        if object_type != "customer":
            ev["delivery_id"] = f"dgXX{rng.getrandbits(64):016x}"
        if object_type == "email" and rng.random() < 0.97:
            ev["subject"] = subject.format(first=first)
        if metric == "clicked" and rng.random() < 0.98:
            path = rng.choice(_PATHS).format(n=rng.randrange(1000))
            href = f"https://{rng.choice(_HOSTS)}/{path}"
            if rng.random() < 0.05:
                href = href.replace("https://", "HTTPS://")
            href += f"?utm_source=customerio&utm_medium={object_type}"
            href += f"&utm_campaign={ev.get('campaign_id', 'broadcast')}"
            if rng.random() < 0.1:
                href += "#top"
            if rng.random() < 0.005:
                href = "http://lnk.co/%zz"  # undecodable path: urlmain() is missing
            ev["href"] = href
            ev["link_id"] = rng.randrange(1, 500)
        if metric in ("failed", "bounced", "dropped", "undeliverable"):
            ev["failure_message"] = "550 5.1.1 mailbox unavailable"
        ts = (start_s + rng.randrange(30 * 86_400)) * 1000  # Customer.io sends epoch seconds
        events.append((ev, ts))
    return events
