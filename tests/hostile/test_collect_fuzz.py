"""Whatever a collect body holds, the answer is 200 or a 4xx that names the reason.

A fuzz of `POST /collect/json/{stream}` bodies and content types against the app over a real
SQLite store, in this process (no socket: thousands of posts in seconds): random JSON of every
shape (deep and wide nesting, huge integers, floats at the ends of the exponent range, arrays
of mixed types), lone surrogate escapes, invalid UTF-8, truncated documents, NDJSON-ish lines,
empty bodies and wrong content types. No answer may be a 5xx or an exception; afterwards a
good event is still collected, and the log, fuzzed events and all, is applied to profiles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Config, load_config
from engine.engine import Engine
from engine.server.app import Daemon, create_app
from engine.server.metrics import Live, Metrics
from engine.server.writer import Writer
from tests.server.conftest import FIXTURES, TOKEN, write_config

COLLECT = f"/collect/json/customerio?key={TOKEN}"
EXAMPLES = 500  # some 10 s on a busy machine

scalars = (st.none() | st.booleans()
           | st.integers(min_value=-(2 ** 200), max_value=2 ** 200)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
events = st.dictionaries(st.sampled_from(["event_id", "timestamp", "data", "metric",
                                          "object_type", "x"]) | st.text(max_size=6),
                         documents, max_size=5)


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()  # NaN and Infinity as Python writes them: not JSON


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 3000))
    if draw(st.booleans()):
        return b"[" * depth + b"]" * depth
    return b'{"event_id": "deep", "a": ' + b'{"a": ' * depth + b"1" + b"}" * (depth + 1)


@st.composite
def wide(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 5000))
    if draw(st.booleans()):
        return _dumps({"event_id": "wide", **{f"k{i}": i for i in range(width)}})
    return _dumps([{"event_id": f"w{i}"} if i % 3 else i for i in range(width)])


@st.composite
def numbers(draw: st.DrawFn) -> bytes:
    mantissa = draw(st.sampled_from(["1", "-1", "9.999", "0", "-0", "123456789012345678901"]))
    exponent = draw(st.integers(-400, 400) | st.sampled_from([-100000, 100000, 2 ** 70]))
    digits = draw(st.integers(1, 400))
    number = draw(st.sampled_from([f"{mantissa}e{exponent}", "9" * digits, "-" + "9" * digits,
                                   f"0.{'0' * digits}1", "1E+308", "-1e-324"]))
    return f'{{"event_id": "n", "timestamp": {number}, "v": {number}}}'.encode()


@st.composite
def surrogates(draw: st.DrawFn) -> bytes:
    escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d\\ude00",
                                   "\\u0000", "\\ud800x"]))
    where = draw(st.sampled_from(['{{"event_id": "{}"}}', '{{"{}": 1, "event_id": "s"}}',
                                  '[{{"event_id": "{}"}}]']))
    return where.format(escape).encode()


@st.composite
def bad_utf8(draw: st.DrawFn) -> bytes:
    junk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
        [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]))
    return b'{"event_id": "' + junk + b'", "name": "x' + junk + b'"}'


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    whole = _dumps(draw(events | st.lists(events, max_size=4)))
    return whole[:draw(st.integers(0, max(0, len(whole) - 1)))]


@st.composite
def ndjsonish(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(events.map(_dumps) | documents.map(_dumps) | st.binary(max_size=10)
                          | st.just(b""), min_size=1, max_size=6))
    return draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"])).join(lines)


bodies = st.one_of(
    events.map(_dumps), documents.map(_dumps), st.lists(documents, max_size=6).map(_dumps),
    st.lists(events, max_size=6).map(_dumps), nested(), wide(), numbers(), surrogates(),
    bad_utf8(), truncated(), ndjsonish(), st.binary(max_size=64),
    st.sampled_from([b"", b" ", b"\n", b"\x00", b"null", b"[]", b"{}", b"[{}]", b"\xef\xbb\xbf{}"]))
content_types = st.sampled_from([
    None, "application/json", "application/json; charset=utf-8", "text/json",
    "application/x-ndjson", "application/jsonl", "text/plain", "application/octet-stream",
    "application/vnd.api+json", "application/xml", "multipart/form-data; boundary=x",
    "application/json; charset=latin-1", 'application/json; charset="UTF-8"',
    "application/json;;;charset", "", "*/*", "APPLICATION/JSON"])


Post = Callable[..., httpx.Response]


@contextmanager
def collecting(config: Config) -> Iterator[Post]:
    """A post to the daemon's app over a writer on the config's store, as `engine serve`
    builds it; one event loop serves every post."""
    # Commits are not fsync'd (`synchronous=NORMAL`): durability is not under test here, and
    # an fsync per accepted body would take most of the time on a busy disk.
    writer = Writer(lambda c: Engine(c, drain=False, locks=("log",),
                                     background_checkpoints=True, durability="crash"),
                    config, max_queue_events=config.settings.server.max_queue_events)
    writer.metrics = Metrics(Live(failures=dict, queue_events=lambda: writer.queued_events,
                                  backlog_events=lambda: 0, profiles=lambda: 0,
                                  retrying=lambda: 0))
    writer.start()
    assert writer.ready.wait(30)
    reader = Engine(config, read_only=True)
    app = create_app(Daemon(config, writer, reader, writer.metrics))
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://engine")

    def post(**kwargs: Any) -> httpx.Response:
        return loop.run_until_complete(client.post(COLLECT, **kwargs))

    try:
        yield post
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        writer.stop(30)
        reader.close()


def test_no_body_breaks_the_collect_api(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    seen: dict[int, int] = {}
    with collecting(config) as post:

        @settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(body=bodies, content_type=content_types)
        def fuzz(body: bytes, content_type: str | None) -> None:
            headers = {} if content_type is None else {"content-type": content_type}
            r = post(content=body, headers=headers)
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code == 200 or 400 <= r.status_code < 500, (r.status_code, r.text)
            doc = r.json()
            if r.status_code == 200:
                # The Customer.io import keeps an undecodable body as a dead letter
                # (`on_undecodable: dead_letter`, its default) where another stream says 400.
                assert set(doc) == {"accepted", "duplicates"} or doc == {
                    "accepted": 0, "dead_lettered": 1}, doc
                if "dead_lettered" in doc:
                    seen[-1] = seen.get(-1, 0) + 1
            else:
                assert isinstance(doc["error"], str) and doc["error"], doc
                assert isinstance(doc["message"], str) and doc["message"], doc

        fuzz()
        good = json.loads((FIXTURES / "email_opened.json").read_bytes())
        good["event_id"] = "after-the-fuzz"
        r = post(json=good)
        assert r.json() == {"accepted": 1, "duplicates": 0}, r.text
    # accepted, dead-lettered and refused bodies were all drawn
    assert seen.get(200, 0) > seen.get(-1, 0) > 0 and len(seen) > 2, seen
    with Engine(config) as engine:  # opening applies the log: every fuzzed event, then this
        profile = engine.profile("cio_customer_id", "usr_48213")
    assert profile is not None and profile["cio_events"] == {"email_opened": 1}, profile
