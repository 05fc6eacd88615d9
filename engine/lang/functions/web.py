"""Email, URL and phone-number functions.

LQL's versions of these are thin wrappers over Go's ``net/mail`` and ``net/url``, so users rely on
Go's exact acceptance rules and quirks (``urlmain`` keeps case and port, ``qs`` lower-cases the
whole URL, ``urlminusqs`` re-sorts the query). Python's ``urllib``/``email.utils`` are more lenient
and lower-case hosts, so this module carries a small strict port of the parts of both parsers that
the functions observe. ``email`` and ``urlmain`` run on every event, so each has a precompiled
regular expression for the common shape in front of the full parser.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from urllib.parse import quote_plus, unquote, unquote_plus

import phonenumbers
from publicsuffixlist import PublicSuffixList

from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_str, type_name

_GROUP = "email/url"


def _text(v: Value) -> str | None:
    """A string argument: scalars read as text, a list as its first element, a map is a failure."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        raise EvalFailure(f"expected a string, got {type_name(v)}")
    return to_str(v)


# --------------------------------------------------------------------------------------------
# net/mail: one RFC 5322 address (name-addr, addr-spec or a one-member group)

_AT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"  # atext; >= 0x80 per RFC 6532
_ADDR = rf"[{_AT}]+(?:\.[{_AT}]+)*@[{_AT}]+(?:\.[{_AT}]+)*"
# `local@domain`, or `<local@domain>` after a display name of plain atoms and simple quoted
# strings (no "?", so no RFC 2047 word that could fail). Possessive, so no backtracking blow-up.
_FAST_EMAIL = re.compile(rf"[ \t]*({_ADDR})[ \t]*")
_FAST_NAMED_EMAIL = re.compile(
    rf"[ \t]*(?:(?:[{_AT.replace('?', '')}.]++"
    rf'|"[ \t!#-\[\]-~\u0080-\U0010ffff]*+")[ \t]*+)*+<[ \t]*({_ADDR})>[ \t]*'
)
_DOT_ATOM = re.compile(rf"[{_AT}.]+")
_PHRASE_ATOM = re.compile(rf"[{_AT}.()\[\];@\\,]+")  # Go's permissive atom for display names
_DTEXT = re.compile(r"[!-Z^-~\u0080-\U0010ffff]*")
_ENCODED_WORD = re.compile(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")
_Q_TEXT = re.compile(r"(?:[ -<>-~\t\r\n]|=[0-9A-Fa-f]{2})*")
_Q_ESCAPE = re.compile(r"=([0-9A-Fa-f]{2})")

Mailbox = tuple[str, str, str]  # display name, local part, domain


class _BadAddress(Exception):
    """Internal: the text is not an address (never leaves this module)."""


def _vchar(c: str) -> bool:
    return "!" <= c <= "~" or c >= "\x80"


def _decode_word(word: str) -> tuple[str, bool]:
    """RFC 2047 ``=?charset?B|Q?text?=``: (decoded, True); other words come back unchanged.

    As in Go, a malformed encoded word is kept literally; an unknown charset is an error.
    """
    m = _ENCODED_WORD.fullmatch(word)
    if m is None:
        return word, False
    charset, enc, text = m.groups()
    data: bytes
    if enc in "bB":
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            return word, False
    else:
        if not _Q_TEXT.fullmatch(text):
            return word, False
        text = _Q_ESCAPE.sub(lambda e: chr(int(e.group(1), 16)), text.replace("_", " "))
        data = text.encode("latin-1")  # validated: ASCII plus escaped bytes
    try:
        return data.decode(charset, "replace"), True
    except (LookupError, UnicodeError, ValueError):
        raise _BadAddress(charset) from None


class _AddressParser:
    """A strict RFC 5322 address parser with Go ``net/mail``'s acceptance rules."""

    __slots__ = ("i", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0

    def parse_single(self) -> Mailbox:
        boxes = self.address(handle_group=True)
        if not self.skip_cfws() or self.i < len(self.s) or len(boxes) != 1:
            raise _BadAddress
        return boxes[0]

    def consume(self, c: str) -> bool:
        if self.s.startswith(c, self.i):
            self.i += 1
            return True
        return False

    def skip_space(self) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t":
            i += 1
        self.i = i

    def skip_cfws(self) -> bool:
        self.skip_space()
        while self.consume("("):
            if self.comment() is None:
                return False
            self.skip_space()
        return True

    def comment(self) -> str | None:
        """The text of a (nested) comment whose "(" is consumed; None when it is unclosed."""
        s, i, n, depth = self.s, self.i, len(self.s), 1
        out: list[str] = []
        while i < n and depth:
            c = s[i]
            if c == "\\" and i + 1 < n:
                i += 1
                c = s[i]
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            if depth:
                out.append(c)
            i += 1
        self.i = i
        return None if depth else "".join(out)

    def address(self, handle_group: bool) -> list[Mailbox]:
        self.skip_space()
        if self.i >= len(self.s):
            raise _BadAddress
        try:
            local, domain = self.addr_spec()
        except _BadAddress:
            pass
        else:
            name = ""
            self.skip_space()
            if self.consume("("):
                text = self.comment()
                if text is None:
                    raise _BadAddress
                name = " ".join(_decode_word(w)[0] for w in text.replace("\t", " ").split(" ") if w)
            return [(name, local, domain)]
        name = "" if self.s.startswith("<", self.i) else self.phrase()
        self.skip_space()
        if handle_group and self.consume(":"):
            return self.group_list()
        if not self.consume("<"):
            raise _BadAddress
        local, domain = self.addr_spec()
        if not self.consume(">"):
            raise _BadAddress
        return [(name, local, domain)]

    def group_list(self) -> list[Mailbox]:
        group: list[Mailbox] = []
        self.skip_space()
        if self.consume(";"):
            self.skip_cfws()
            return group
        while True:
            self.skip_space()
            group += self.address(handle_group=False)
            if not self.skip_cfws():
                raise _BadAddress
            if self.consume(";"):
                self.skip_cfws()
                return group
            if not self.consume(","):
                raise _BadAddress

    def addr_spec(self) -> tuple[str, str]:
        start = self.i
        try:
            self.skip_space()
            if self.s.startswith('"', self.i):
                local = self.quoted_string()
                if not local:
                    raise _BadAddress
            else:
                local = self.atom(permissive=False)
            if not self.consume("@"):
                raise _BadAddress
            self.skip_space()
            domain = self.domain_literal() if self.consume("[") else self.atom(permissive=False)
        except _BadAddress:
            self.i = start
            raise
        return local, domain

    def atom(self, permissive: bool) -> str:
        m = (_PHRASE_ATOM if permissive else _DOT_ATOM).match(self.s, self.i)
        if m is None:
            raise _BadAddress
        atom = m.group()
        if not permissive and (atom[0] == "." or atom[-1] == "." or ".." in atom):
            raise _BadAddress
        self.i = m.end()
        return atom

    def domain_literal(self) -> str:
        """``[dtext]`` whose text must be an IP address ("[" already consumed)."""
        m = _DTEXT.match(self.s, self.i)
        if m is None:  # never: the pattern accepts the empty string
            raise _BadAddress
        text = m.group()
        self.i = m.end()
        if not self.consume("]") or "%" in text:
            raise _BadAddress
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise _BadAddress from None
        return f"[{text}]"

    def quoted_string(self) -> str:
        s, n, i = self.s, len(self.s), self.i + 1
        out: list[str] = []
        escaped = False
        while True:
            if i >= n:
                raise _BadAddress
            c = s[i]
            if escaped:
                if not (_vchar(c) or c in " \t"):
                    raise _BadAddress
                out.append(c)
                escaped = False
            elif c == '"':
                break
            elif c == "\\":
                escaped = True
            elif _vchar(c) or c in " \t":
                out.append(c)
            else:
                raise _BadAddress
            i += 1
        self.i = i + 1
        return "".join(out)

    def phrase(self) -> str:
        """A display name: words (atoms or quoted strings), adjacent encoded words joined."""
        words: list[str] = []
        prev_encoded = False
        while True:
            if words and not self.skip_cfws():
                raise _BadAddress
            self.skip_space()
            if self.i >= len(self.s):
                break
            try:
                if self.s[self.i] == '"':
                    word, encoded = self.quoted_string(), False
                else:
                    word, encoded = _decode_word(self.atom(permissive=True))
            except _BadAddress:
                if not words:
                    raise
                break
            if prev_encoded and encoded:
                words[-1] += word
            else:
                words.append(word)
            prev_encoded = encoded
        return " ".join(words)


def _mailbox(s: str) -> Mailbox | None:
    try:
        return _AddressParser(s).parse_single()
    except _BadAddress:
        return None


def _address(s: str) -> str | None:
    """The addr-spec (``local@domain``) of the one address in `s`, fast forms first."""
    m = _FAST_EMAIL.fullmatch(s) or _FAST_NAMED_EMAIL.fullmatch(s)
    if m is not None:
        return m.group(1)
    box = _mailbox(s)
    return None if box is None else box[1] + "@" + box[2]


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
    addr = _address(s)
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
    box = _mailbox(s)
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
    addr = _address(s)
    return None if addr is None else addr.rpartition("@")[2].lower()


# --------------------------------------------------------------------------------------------
# net/url: Parse as Go does it, returning (scheme, host, path, raw query); host and path are
# percent-decoded (invalid UTF-8 after decoding becomes U+FFFD).

_FAST_MAIN = re.compile(  # scheme://host[:port][/path][?query][#fragment], nothing to decode
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

ParsedURL = tuple[str, str, str, str]


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


def _parse_url(raw: str) -> ParsedURL | None:
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


def _guess_http(s: str) -> str:
    """qlbridge's rule for path/qs/urlminusqs: add "http://" to a longer, slash-less start."""
    if len(s) > 6 and "/" not in s[:5] and not s.startswith("http"):
        return "http://" + s
    return s


def _query_unescape(s: str) -> str | None:
    if "%" not in s:
        return s.replace("+", " ") if "+" in s else s
    if _BAD_ESCAPE.search(s):
        return None
    # surrogateescape keeps undecodable bytes so a re-encoded query round-trips them exactly
    return unquote_plus(s, errors="surrogateescape")


def _query_pairs(raw: str) -> list[tuple[str, str]]:
    """Go's ``ParseQuery``: "&"-separated, pairs with ";" or a bad escape are dropped."""
    out: list[tuple[str, str]] = []
    for pair in raw.split("&"):
        if not pair or ";" in pair:
            continue
        k, _, v = pair.partition("=")
        key, value = _query_unescape(k), _query_unescape(v)
        if key is not None and value is not None:
            out.append((key, value))
    return out


def _encode_query(pairs: list[tuple[str, str]]) -> str:
    """Go's ``Values.Encode``: sorted by key (stable, so values keep their order)."""
    return "&".join(
        quote_plus(k, safe="", errors="surrogateescape")
        + "="
        + quote_plus(v, safe="", errors="surrogateescape")
        for k, v in sorted(pairs, key=lambda kv: kv[0])
    )


def _clean(s: str) -> str:
    """Turn bytes kept by surrogateescape into U+FFFD before a value leaves the module."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return s


def _qs(raw_url: Value, key: Value, lower: bool) -> str | None:
    s, k = _text(raw_url), _text(key)
    if not s or not k:
        return None
    if lower:
        s, k = s.lower(), k.lower()
    parsed = _parse_url(_guess_http(s))
    if parsed is None:
        return None
    for name, value in _query_pairs(parsed[3]):
        if name == k:
            return _clean(value) if value else None
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
    m = _FAST_MAIN.fullmatch(s)
    if m is not None:
        return m.group(1)
    parsed = _parse_url(s)
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
    parsed = _parse_url(u if u.startswith("http") else "http://" + u)
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
    parsed = _parse_url(u if u.startswith("http") else "http://" + u)
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
    parsed = _parse_url(_guess_http(s.lower()))
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
    out = _query_unescape(s)
    return None if out is None else _clean(out)


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
    parsed = _parse_url(_guess_http(s))
    if parsed is None:
        return None
    scheme, host_, path_, raw_query = parsed
    base = f"{scheme}://{host_}{path_}"
    pairs = _query_pairs(raw_query)
    if not any(name == k for name, _ in pairs):
        return f"{base}?{raw_query}"
    rest = _encode_query([(name, value) for name, value in pairs if name != k])
    return f"{base}?{rest}" if rest else base


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise EvalFailure(f"bad regular expression {text!r}: {exc}") from None


@function(
    "url.matchqs",
    "(url: string|list, *patterns: string) -> string",
    doc="Host and path plus only the query parameters whose names match one of the regexes.",
    group=_GROUP,
    examples=[('url.matchqs("http://go.gl?qx=abc&lb=true", "q[a-z]")', '"go.gl?qx=abc"')],
)
def url_matchqs(url: Value, *patterns: Value) -> str | None:
    s = _text(url)
    if not s:
        return None
    parsed = _parse_url(s)
    if parsed is None:
        return None
    regexes = [_pattern(t) for t in map(_text, patterns) if t]
    base = parsed[1] + parsed[2]
    kept = [kv for kv in _query_pairs(parsed[3]) if any(r.search(kv[0]) for r in regexes)]
    rest = _encode_query(kept)
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
