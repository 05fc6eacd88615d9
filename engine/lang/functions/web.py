"""Email, URL and phone-number functions.

LQL's versions of these are thin wrappers over Go's ``net/mail`` and ``net/url``, so users rely on
Go's exact acceptance rules and quirks (``urlmain`` keeps case and port, ``qs`` lower-cases the
whole URL, ``urlminusqs`` re-sorts the query). Python's ``urllib``/``email.utils`` are more lenient
and lower-case hosts, so the strict ports of the parts of both parsers that the functions observe
live in ``engine.lang.netmail`` and ``engine.lang.neturl``; this module holds the registered
functions over them. ``email`` and ``urlmain`` run on every event, so each takes a precompiled
regular expression for the common shape before the full parser.
"""

from __future__ import annotations

import functools
from typing import Any

import phonenumbers
from publicsuffixlist import PublicSuffixList

from engine.lang import budget, regex
from engine.lang.budget import LARGE
from engine.lang.netmail import parse_address, parse_mailbox
from engine.lang.neturl import (
    FAST_HOST_PATH,
    clean_text,
    encode_query,
    parse_url,
    query_pairs,
    query_unescape,
)
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_str, type_name

_GROUP = "email/url"


def _text(v: Value) -> str | None:
    """A string argument: scalars read as text, a list as its first element, a map is a failure."""
    if isinstance(v, str):
        if len(v) > LARGE:  # a clock reading only where the work is worth one
            budget.check()
        return v
    if isinstance(v, dict):
        raise EvalFailure(f"expected a string, got {type_name(v)}")
    return to_str(v)


# --------------------------------------------------------------------------------------------
# email (Go net/mail, see engine.lang.netmail)


@function(
    "email",
    "(x: string|list) -> string",
    doc="The lower-cased address of one RFC 5322 address (display name dropped), else missing.",
    group=_GROUP,
    examples=[('email("Bob <Bob@Bob.com>")', '"bob@bob.com"'), ('email("bob")', "null")],
)
def email(x: Value) -> str | None:
    s = x if type(x) is str else _text(x)
    if not s:
        return None
    addr = parse_address(s)
    return None if addr is None else addr.lower()


@function(
    "emailname",
    "(x: string|list) -> string",
    doc='The display name of one RFC 5322 address ("" when it has none), else missing.',
    group=_GROUP,
    examples=[('emailname("Bob <bob@bob.com>")', '"Bob"'), ('emailname("bob@bob.com")', '""')],
)
def emailname(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    box = parse_mailbox(s)
    return None if box is None else box[0]


@function(
    "emaildomain",
    "(x: string|list) -> string",
    doc="The lower-cased domain of one RFC 5322 address, else missing.",
    group=_GROUP,
    examples=[('emaildomain("Bob<bob@gmail.com>")', '"gmail.com"')],
)
def emaildomain(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    addr = parse_address(s)
    return None if addr is None else addr.rpartition("@")[2].lower()


# --------------------------------------------------------------------------------------------
# URLs (Go net/url, see engine.lang.neturl)


def _guess_http(s: str) -> str:
    """qlbridge's rule for path/qs/urlminusqs: add "http://" to a longer, slash-less start."""
    if len(s) > 6 and "/" not in s[:5] and not s.startswith("http"):
        return "http://" + s
    return s


def _qs(raw_url: Value, key: Value, lower: bool) -> str | None:
    s, k = _text(raw_url), _text(key)
    if not s or not k:
        return None
    if lower:
        s, k = s.lower(), k.lower()
    parsed = parse_url(_guess_http(s))
    if parsed is None:
        return None
    for name, value in query_pairs(parsed[3]):
        if name == k:
            return clean_text(value) if value else None
    return None


@function(
    "urlmain",
    "(x: string|list) -> string",
    doc="Host (case and port kept) plus decoded path; scheme, user, query and fragment dropped.",
    group=_GROUP,
    examples=[
        ('urlmain("https://www.lytics.io/?utm_source=google")', '"www.lytics.io/"'),
        (
            'urlmain("https://user:pw@shop.example.com:8443/cart/?x=1#y")',
            '"shop.example.com:8443/cart/"',
        ),
        ('urlmain("http://a.com/%zz")', "null"),
    ],
)
def urlmain(x: Value) -> str | None:
    s = x if type(x) is str else _text(x)
    if not s:
        return None
    m = FAST_HOST_PATH.fullmatch(s)
    if m is not None:
        return m.group(1)
    parsed = parse_url(s)
    return None if parsed is None else parsed[1] + parsed[2]


@function(
    "host",
    "(x: string|list) -> string",
    doc='The lower-cased host[:port] of a URL ("http://" assumed unless it starts with "http").',
    group=_GROUP,
    examples=[('host("www.Google.com/?q=1")', '"www.google.com"')],
)
def host(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    u = s.lower()
    parsed = parse_url(u if u.startswith("http") else "http://" + u)
    return None if parsed is None else parsed[1]


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package; no network


@function(
    "domain",
    "(x: string|list) -> string",
    doc="The registrable domain (eTLD+1, Public Suffix List) of a URL's host, port dropped.",
    group=_GROUP,
    examples=[
        ('domain("www.books.amazon.co.uk")', '"amazon.co.uk"'),
        ('domain("http://")', "null"),
    ],
)
def domain(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    u = s.lower()
    parsed = parse_url(u if u.startswith("http") else "http://" + u)
    if parsed is None or len(parsed[1]) <= 2:
        return None
    name = parsed[1]
    if name.startswith("["):
        return None  # an IPv6 literal has no domain
    colon = name.rfind(":")
    if colon >= 0:
        name = name[:colon]
    if not name or name[0] == "." or name[-1] == "." or ".." in name:
        return None
    if name.rpartition(".")[2].isdigit():
        return None  # an IPv4 address, not a domain
    return _public_suffixes().privatesuffix(name)


@function(
    "path",
    "(x: string|list) -> string",
    doc="The decoded path of the lower-cased URL.",
    group=_GROUP,
    examples=[('path("https://www.Google.com/search?q=x")', '"/search"')],
)
def path(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    parsed = parse_url(_guess_http(s.lower()))
    return None if parsed is None else parsed[2]


@function(
    "qs",
    "(url: string|list, key: string) -> string",
    doc="First value of a query parameter, matched and returned lower-cased (the URL is lowered).",
    group=_GROUP,
    aliases=["qsl"],
    examples=[('qs("http://go.gl/?q=GOLANG", "q")', '"golang"')],
)
def qs(url: Value, key: Value) -> str | None:
    return _qs(url, key, lower=True)


@function(
    "qs2",
    "(url: string|list, key: string) -> string",
    doc="First value of a query parameter, case-sensitive and case-preserving.",
    group=_GROUP,
    examples=[
        ('qs2("http://go.gl/?q=GOLANG", "q")', '"GOLANG"'),
        ('qs2("http://a.com/?Q=x", "q")', "null"),
    ],
)
def qs2(url: Value, key: Value) -> str | None:
    return _qs(url, key, lower=False)


@function(
    "urldecode",
    "(x: string|list) -> string",
    doc='Query-unescape a string ("%XX" decoded, "+" as a space); missing on a bad escape.',
    group=_GROUP,
    examples=[('urldecode("hello+world")', '"hello world"')],
)
def urldecode(x: Value) -> str | None:
    s = _text(x)
    if not s:
        return None
    out = query_unescape(s)
    return None if out is None else clean_text(out)


@function(
    "urlminusqs",
    "(url: string|list, key: string) -> string",
    doc='The URL without one query parameter, the rest re-encoded sorted ("?" kept when absent).',
    group=_GROUP,
    examples=[
        ('urlminusqs("http://a.com/x?z=1&a=2&q=3#f", "q")', '"http://a.com/x?a=2&z=1"'),
        ('urlminusqs("http://a.com/x", "q")', '"http://a.com/x?"'),
    ],
)
def urlminusqs(url: Value, key: Value) -> str | None:
    s, k = _text(url), _text(key)
    if not s or not k:
        return None
    parsed = parse_url(_guess_http(s))
    if parsed is None:
        return None
    scheme, host_, path_, raw_query = parsed
    base = f"{scheme}://{host_}{path_}"
    pairs = query_pairs(raw_query)
    if not any(name == k for name, _ in pairs):
        return f"{base}?{raw_query}"
    rest = encode_query([(name, value) for name, value in pairs if name != k])
    return f"{base}?{rest}" if rest else base


def _pattern(text: str) -> Any:
    rx = regex.compiled(text)
    if rx is None:
        raise EvalFailure(f"bad regular expression {text!r}: {regex.problem(text)}")
    return rx


def _query_patterns(index: int, value: object) -> str | None:
    """An empty constant pattern names no parameter (qlbridge refuses it when it parses)."""
    if index >= 1 and value == "":
        return "an empty pattern; each pattern is a regex of the names of the parameters to keep"
    return regex.pattern_arguments(index, value)


@function(
    "url.matchqs",
    "(url: string|list, *patterns: string) -> string",
    doc="Host and path plus only the query parameters whose names match one of the regexes "
    "(RE2 syntax).",
    group=_GROUP,
    check_constant=_query_patterns,
    examples=[('url.matchqs("http://go.gl?qx=abc&lb=true", "q[a-z]")', '"go.gl?qx=abc"')],
)
def url_matchqs(url: Value, *patterns: Value) -> str | None:
    s = _text(url)
    if not s:
        return None
    parsed = parse_url(s)
    if parsed is None:
        return None
    regexes = [_pattern(t) for t in map(_text, patterns) if t]
    base = parsed[1] + parsed[2]
    kept = [kv for kv in query_pairs(parsed[3]) if any(regex.search(r, kv[0]) for r in regexes)]
    rest = encode_query(kept)
    return f"{base}?{rest}" if rest else base


# --------------------------------------------------------------------------------------------
# phone numbers (libphonenumber's metadata, bundled with the `phonenumbers` package)


@function(
    "phone.e164",
    "(num: string|int|list, country?: string) -> string",
    doc='A valid phone number in E.164 form ("+14155552671"); `country` (default "US") is the '
    "region for numbers without a leading +.",
    group="extras",
    examples=[
        ('phone.e164("(415) 555-2671")', '"+14155552671"'),
        ('phone.e164("020 7946 0018", "GB")', '"+442079460018"'),
        ('phone.e164("123")', "null"),
    ],
)
def phone_e164(num: Value, country: Value = None) -> str | None:
    s = _text(num)
    if not s:
        return None
    region = (_text(country) or "US").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise EvalFailure(f"unknown country code {region!r}")
    try:
        parsed = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
