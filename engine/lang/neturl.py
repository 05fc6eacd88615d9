"""URLs and query strings, parsed with Go ``net/url``'s acceptance rules.

LQL (qlbridge) defines ``urlmain``, ``host``, ``domain``, ``path``, ``qs``, ``urlminusqs`` and
friends over Go's ``url.Parse`` and ``url.ParseQuery``, so users rely on Go's exact behaviour:
hosts keep their case and port, bad percent-escapes and control characters are errors, a query
pair holding ";" is dropped, and ``Values.Encode`` re-sorts the query. Python's ``urllib`` is more
lenient and lower-cases hosts, hence this small strict port of the parts the functions observe.

`parse_url` returns (scheme, host, path, raw query) with host and path percent-decoded (invalid
UTF-8 after decoding becomes U+FFFD); `query_pairs`, `query_unescape`, `encode_query` and
`clean_text` handle the query.
`FAST_HOST_PATH` is the shortcut the per-event ``urlmain`` takes for URLs with nothing to decode
(when it matches, group 1 equals host + path from `parse_url`; the property tests check this).
The functions themselves live in ``engine.lang.functions.web``.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus, unquote, unquote_plus

__all__ = [
    "FAST_HOST_PATH",
    "ParsedURL",
    "clean_text",
    "encode_query",
    "parse_url",
    "query_pairs",
    "query_unescape",
]

FAST_HOST_PATH = re.compile(  # scheme://host[:port][/path][?query][#fragment], nothing to decode
    r"[A-Za-z][A-Za-z0-9+.\-]*://"
    r"([A-Za-z0-9\-._~!$&'()*+,;=]+(?::[0-9]*)?(?:/[^?#%\x00-\x1f\x7f]*)?)"
    r"(?:\?[^#\x00-\x1f\x7f]*)?(?:#[^%]*)?"
)
_CTL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*(?=:)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_HOST_ASCII = "A-Za-z0-9!$&'()*+,;=:\\[\\]<>\"\\-_.~"
_BAD_HOST_CHAR = re.compile(rf"[^{_HOST_ASCII}%\u0080-\U0010ffff]")
_HOST_CHAR = re.compile(rf"[{_HOST_ASCII}]")
_USERINFO = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*")
_PORT = re.compile(r":[0-9]*")

ParsedURL = tuple[str, str, str, str]  # scheme (lower-cased), host, path, raw query


def _unescape_path(s: str) -> str | None:
    if "%" not in s:
        return s
    if _BAD_ESCAPE.search(s):
        return None
    return unquote(s, errors="replace")


def _unescape_host(s: str, zone: bool = False) -> str | None:
    """Hosts allow a fixed ASCII set and may %-encode only non-ASCII bytes (and "%25")."""
    if _BAD_HOST_CHAR.search(s):
        return None
    if "%" not in s:
        return s
    if _BAD_ESCAPE.search(s):
        return None
    for m in _ESCAPE.finditer(s):
        v = int(m.group(1), 16)
        if v == 0x25:
            continue
        if zone:  # a zone may escape only what it could spell directly (or a space)
            if v != 0x20 and not _HOST_CHAR.fullmatch(chr(v)):
                return None
        elif v < 0x80:
            return None
    return unquote(s, errors="replace")


def _parse_host(host: str) -> str | None:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0 or not (end + 1 == len(host) or _PORT.fullmatch(host, end + 1)):
            return None
        zone = host.find("%25", 0, end)
        if zone >= 0:
            parts = (
                _unescape_host(host[:zone]),
                _unescape_host(host[zone:end], zone=True),
                _unescape_host(host[end:]),
            )
            return None if None in parts else "".join(p for p in parts if p is not None)
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _PORT.fullmatch(host, colon):
            return None
    return _unescape_host(host)


def parse_url(raw: str) -> ParsedURL | None:
    """Go's ``url.Parse``; None where it returns an error."""
    u, _, fragment = raw.partition("#")
    if fragment and _BAD_ESCAPE.search(fragment):
        return None
    if _CTL.search(u):
        return None
    if u == "*":
        return "", "", "*", ""
    m = _SCHEME.match(u)
    if m is not None:
        scheme, rest = m.group().lower(), u[m.end() + 1 :]
    elif u.startswith(":"):
        return None  # missing protocol scheme
    else:
        scheme, rest = "", u
    rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return scheme, "", "", query  # opaque ("mailto:x"): no host, no path
        if ":" in rest.partition("/")[0]:
            return None  # first path segment cannot contain a colon
    host = ""
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        at = authority.rfind("@")
        if at >= 0:
            userinfo = authority[:at]
            if not _USERINFO.fullmatch(userinfo) or _BAD_ESCAPE.search(userinfo):
                return None
            authority = authority[at + 1 :]
        parsed_host = _parse_host(authority)
        if parsed_host is None:
            return None
        host = parsed_host
    path = _unescape_path(rest)
    if path is None:
        return None
    return scheme, host, path, query


def query_unescape(s: str) -> str | None:
    """Go's ``QueryUnescape``: "%XX" decoded, "+" as a space; None on a bad escape."""
    if "%" not in s:
        return s.replace("+", " ") if "+" in s else s
    if _BAD_ESCAPE.search(s):
        return None
    # surrogateescape keeps undecodable bytes so a re-encoded query round-trips them exactly
    return unquote_plus(s, errors="surrogateescape")


def query_pairs(raw: str) -> list[tuple[str, str]]:
    """Go's ``ParseQuery``: "&"-separated, pairs with ";" or a bad escape are dropped."""
    out: list[tuple[str, str]] = []
    for pair in raw.split("&"):
        if not pair or ";" in pair:
            continue
        k, _, v = pair.partition("=")
        key, value = query_unescape(k), query_unescape(v)
        if key is not None and value is not None:
            out.append((key, value))
    return out


def encode_query(pairs: list[tuple[str, str]]) -> str:
    """Go's ``Values.Encode``: sorted by key (stable, so values keep their order)."""
    return "&".join(
        quote_plus(k, safe="", errors="surrogateescape")
        + "="
        + quote_plus(v, safe="", errors="surrogateescape")
        for k, v in sorted(pairs, key=lambda kv: kv[0])
    )


def clean_text(s: str) -> str:
    """Turn bytes kept by surrogateescape into U+FFFD before a value is returned."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return s
