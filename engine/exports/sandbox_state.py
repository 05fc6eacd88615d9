"""The state of the Customer.io sandbox (`engine.exports.sandbox`): people, the request log,
the script of answers, and the parsing of Track operations and scripts.

Kept apart from the HTTP routes so that tests and the routes share one thread-safe object.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hmac
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from engine.config.model import MAX_EVENT_NAME_BYTES
from engine.exports.limits import (
    MAX_ITEM_BYTES,
    Problem,
    attribute_problems,
    identifier_problems,
)

LOG_LIMIT = 10_000  # the request log keeps the newest entries, so a long run stays bounded
IDENTIFIER_KINDS = ("id", "email", "cio_id")
# The person actions the sandbox models, of the many Customer.io's v2 API takes.
ACTIONS = ("identify", "delete", "event", "merge", "suppress", "unsuppress")


@dataclass(frozen=True)
class Operation:
    """A valid person operation: who (store key), what, and the attributes to merge; an event
    has its `name`, a merge its `secondary` person."""

    person: str
    action: str
    attributes: dict[str, Any]
    name: str = ""
    secondary: str = ""


def person_of(identifiers: Any, field: str) -> str | list[Problem]:
    """The store key of v2 `identifiers` (exactly one of id, email, cio_id), or why not."""
    if not isinstance(identifiers, dict) or len(identifiers) != 1:
        return [Problem("invalid" if identifiers is not None else "required", field,
                        f"{field} must hold exactly one of " + ", ".join(IDENTIFIER_KINDS))]
    [(kind, value)] = identifiers.items()
    if kind not in IDENTIFIER_KINDS:
        return [Problem("invalid", f"{field}.{kind}", f"{field} must hold exactly one of "
                        + ", ".join(IDENTIFIER_KINDS))]
    problems = identifier_problems(value, f"{field}.{kind}")
    # v2 takes a bare cio_id; v1 paths address the same person as `cio_<id>`.
    return problems or (f"cio_{value}" if kind == "cio_id" else str(value))


def event_name_problems(name: Any, field: str = "name") -> list[Problem]:
    """An event needs a name of 1 to 100 UTF-8 bytes."""
    if not isinstance(name, str) or not name:
        return [Problem("required" if name is None else "invalid", field,
                        "an event needs a name")]
    if len(name.encode()) > MAX_EVENT_NAME_BYTES:
        return [Problem("too_long", field, f"the event name is {len(name.encode())} bytes, "
                        f"over the limit of {MAX_EVENT_NAME_BYTES}")]
    return []


def timestamp_problems(value: Any, field: str = "timestamp") -> list[Problem]:
    """A timestamp, when given, is a whole number of Unix seconds."""
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return [Problem("invalid", field, "a timestamp must be a whole number of Unix seconds")]
    if value > 10**11:  # past the year 5000: milliseconds, most likely
        return [Problem("invalid", field, "the timestamp is in milliseconds; Customer.io "
                        "takes Unix seconds")]
    return []


@dataclass
class Step:
    """One scripted answer: hold until released (`hold`), wait `delay_s`, then answer
    `status` (None: handle normally)."""

    status: int | None = None
    retry_after: int | None = None
    delay_s: float = 0.0
    times: int = 1
    hold: bool = False


@dataclass(frozen=True)
class Answer:
    """What a handler answers; kept as a document so the log can show it too."""

    status: int
    doc: Any
    headers: Mapping[str, str] | None = None


def parse_operation(op: Any) -> Operation | list[Problem]:
    """A v2 operation as the sandbox applies it, or every reason it is refused."""
    if not isinstance(op, dict):
        return [Problem("invalid", "", "an operation must be a JSON object")]
    if len(orjson.dumps(op)) > MAX_ITEM_BYTES:
        return [Problem("too_large", "", f"the operation is {len(orjson.dumps(op))} bytes of "
                        f"JSON, over the limit of {MAX_ITEM_BYTES}")]
    problems: list[Problem] = []
    if op.get("type") != "person":
        problems.append(Problem("invalid" if "type" in op else "required", "type",
                                "the sandbox models only operations of type \"person\""))
    action = op.get("action")
    if action not in ACTIONS:
        problems.append(Problem("invalid" if "action" in op else "required", "action",
                                f"action must be one of {', '.join(ACTIONS)}"))
    person, secondary, name = "", "", ""
    sides = ("primary", "secondary") if action == "merge" else ("identifiers",)
    found: list[str] = []
    for side in sides:
        who = person_of(op.get(side), side)
        if isinstance(who, list):
            problems += who
        else:
            found.append(who)
    if len(found) == len(sides):
        person, secondary = found[0], (found[1] if len(found) > 1 else "")
    if action == "event":
        problems += event_name_problems(op.get("name"))
        name = str(op.get("name"))
    problems += timestamp_problems(op.get("timestamp"))
    attributes = op.get("attributes", {})
    if not isinstance(attributes, dict):
        problems.append(Problem("invalid", "attributes", "attributes must be a JSON object"))
        attributes = {}
    elif action == "identify":
        problems += attribute_problems(attributes, "attributes.")
    return problems or Operation(person, str(action), attributes, name, secondary)


def parse_script(doc: Any) -> list[Step]:
    """The steps of a ``POST /_sandbox/script`` body; ValueError says what is wrong."""
    if not isinstance(doc, list):
        raise ValueError("the script must be a JSON list of steps")
    steps = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or not item.keys() <= {"status", "retry_after",
                                                             "delay_s", "times", "hold"}:
            raise ValueError(f"step {i}: expected an object with status, retry_after, "
                             "delay_s, times, hold")
        status, retry, delay, times, hold = (item.get("status"), item.get("retry_after"),
                                             item.get("delay_s", 0), item.get("times", 1),
                                             item.get("hold", False))
        if type(hold) is not bool:
            raise ValueError(f"step {i}: hold must be true or false")
        if status is None and not delay and not hold:
            raise ValueError(f"step {i}: give a status, a delay_s, a hold, or more than one")
        if status is not None and (type(status) is not int or not 200 <= status <= 599):
            raise ValueError(f"step {i}: status must be an HTTP status from 200 to 599")
        if retry is not None and (type(retry) is not int or retry < 0):
            raise ValueError(f"step {i}: retry_after must be a whole number of seconds")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600:
            raise ValueError(f"step {i}: delay_s must be a number of seconds from 0 to 600")
        if type(times) is not int or times < 1:
            raise ValueError(f"step {i}: times must be a positive integer")
        steps.append(Step(status, retry, float(delay), times, hold))
    return steps


class Sandbox:
    """The state of one Customer.io stand-in: credentials, people, request log, script.

    Every method is safe to call from any thread while the server runs."""

    def __init__(self, site_id: str = "sandbox", api_key: str = "sandbox", *,
                 log_limit: int = LOG_LIMIT) -> None:
        if not site_id or not api_key:
            raise ValueError("the sandbox needs a non-empty site id and API key")
        if ":" in site_id:
            raise ValueError("a site id cannot contain ':' (HTTP Basic splits on it)")
        self.site_id = site_id
        self._credentials = (site_id.encode(), api_key.encode())
        self._lock = threading.RLock()  # re-entrant: a `wait_for` predicate reads the state
        self._answers = threading.Condition(self._lock)  # notified as requests come and go
        self._people: dict[str, dict[str, Any]] = {}
        self._suppressed: set[str] = set()
        self._events: list[dict[str, Any]] = []
        self._segments: dict[int, set[str]] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._script: deque[Step] = deque()
        # requests a scripted step holds: the loop each waits on, and the event that frees it
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __repr__(self) -> str:  # never shows the API key
        return f"Sandbox(site_id={self.site_id!r})"

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries ``Basic site_id:api_key``."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        site, colon, key = decoded.partition(b":")
        # Both comparisons always run, so timing tells nothing about which part was wrong.
        site_ok = hmac.compare_digest(site, self._credentials[0])
        key_ok = hmac.compare_digest(key, self._credentials[1])
        return bool(colon) and site_ok and key_ok

    def people(self) -> dict[str, dict[str, Any]]:
        """``{identifier: attributes}`` of every person identified and not deleted."""
        with self._lock:
            return copy.deepcopy(self._people)

    def events(self) -> list[dict[str, Any]]:
        """``{person, name, attributes}`` of every event sent, oldest first."""
        with self._lock:
            return copy.deepcopy(self._events)

    def segments(self) -> dict[int, list[str]]:
        """The people of each manual segment, sorted."""
        with self._lock:
            return {k: sorted(v) for k, v in self._segments.items()}

    def suppressed(self) -> list[str]:
        """The identifiers suppressed (deleted, and refused until unsuppressed)."""
        with self._lock:
            return sorted(self._suppressed)

    def requests(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first (``status`` is None while one is pending)."""
        with self._lock:
            return copy.deepcopy(list(self._log))

    def add_script(self, steps: list[Step]) -> None:
        with self._lock:
            self._script.extend(replace(step) for step in steps)  # counted down here

    def clear(self, *parts: str) -> None:
        """Forget the named parts ("people", "requests", "script"); with none, all three:
        a fresh sandbox with the same credentials. Clearing the script releases the requests
        it holds, so no test inherits another's pending answer."""
        with self._lock:
            parts = parts or ("people", "requests", "script")
            if "people" in parts:
                self._people.clear()
                self._suppressed.clear()
                self._events.clear()
                self._segments.clear()
            if "requests" in parts:
                self._log.clear()
            if "script" in parts:
                self._script.clear()
                self.release()

    def held(self) -> int:
        """How many requests a scripted ``hold`` step keeps waiting right now."""
        with self._lock:
            return len(self._held)

    def release(self) -> int:
        """Let every held request go on to its scripted answer; how many were held."""
        with self._lock:
            held, self._held = self._held, []
            self._answers.notify_all()
        for loop, event in held:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
        return len(held)

    async def _hold(self) -> None:
        """Wait, inside the server's event loop, until `release` is called."""
        released = asyncio.Event()
        mine = (asyncio.get_running_loop(), released)
        with self._lock:
            self._held.append(mine)
            self._answers.notify_all()
        try:
            await released.wait()
        finally:
            with self._lock:
                if mine in self._held:  # the server stopped before a release
                    self._held.remove(mine)

    def apply(self, op: Operation) -> None:
        """Identify merges the attributes into the person (creating it; a null deletes the
        attribute; a suppressed person is left alone); delete removes the person, suppress
        removes and blocks it; an event is recorded; a merge moves the secondary's
        attributes into the primary (which keeps its own) and deletes the secondary."""
        with self._lock:
            person = op.person
            if op.action in ("delete", "suppress"):
                self._people.pop(person, None)
                for members in self._segments.values():
                    members.discard(person)
                if op.action == "suppress":
                    self._suppressed.add(person)
            elif op.action == "unsuppress":
                self._suppressed.discard(person)
            elif person in self._suppressed:
                return
            elif op.action == "event":
                self._people.setdefault(person, {})
                self._events.append({"person": person, "name": op.name,
                                     "attributes": copy.deepcopy(op.attributes)})
            elif op.action == "merge":
                merged = self._people.pop(op.secondary, {})
                merged.update(self._people.get(person, {}))
                self._people[person] = merged
                for members in self._segments.values():
                    if op.secondary in members:
                        members.discard(op.secondary)
                        members.add(person)
            else:
                attributes = self._people.setdefault(person, {})
                for key, value in op.attributes.items():
                    if value is None:
                        attributes.pop(key, None)
                    else:
                        attributes[key] = value

    def segment(self, segment: int, people: list[str], add: bool) -> None:
        """Add people to a manual segment, or remove them; a suppressed one is skipped."""
        with self._lock:
            members = self._segments.setdefault(segment, set())
            for person in people:
                if add and person not in self._suppressed:
                    members.add(person)
                elif not add:
                    members.discard(person)

    def _next_step(self) -> Step | None:
        with self._lock:
            if not self._script:
                return None
            step = self._script[0]
            step.times -= 1
            if step.times <= 0:
                self._script.popleft()
            return step

    def _arrive(self, method: str, path: str, body: Any) -> dict[str, Any]:
        entry = {"method": method, "path": path, "status": None, "body": body,
                 "response": None}
        with self._lock:
            self._log.append(entry)
            self._answers.notify_all()
        return entry

    def _answered(self, entry: dict[str, Any], answer: Answer) -> None:
        with self._lock:
            entry["status"], entry["response"] = answer.status, answer.doc
            self._answers.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Block until `predicate()` holds (it may read `people()` and `requests()`),
        re-checked as each request arrives and is answered: for tests and scripts that drive
        an exporter in another thread or process."""
        with self._answers:
            return self._answers.wait_for(predicate, timeout_s)

    def _dump(self, what: str) -> bytes:
        with self._lock:  # serialised under the lock: no copy, no torn read
            if what == "people":
                return orjson.dumps(self._people)
            if what == "requests":
                return orjson.dumps(list(self._log))
            if what == "segments":
                return orjson.dumps({str(k): sorted(v) for k, v in self._segments.items()})
            if what == "events":
                return orjson.dumps(self._events)
            return orjson.dumps([asdict(step) for step in self._script])
