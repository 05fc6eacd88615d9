"""Email, URL and phone functions, called through the registry as generated code calls them.

The tables pin docs/functions.md and every example of lql.md §3.6 and §5 (Go net/mail and net/url
behaviour); the property tests check that each fast path agrees with the full parser.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang import netmail, neturl
from engine.lang import nodes as n
from engine.lang.functions import web
from engine.lang.parser import parse_expression
from engine.lang.registry import FUNCTIONS
from engine.lang.values import EvalFailure
from tests.helpers import call, evaluate

NAMES = [
    "email",
    "emailname",
    "emaildomain",
    "host",
    "domain",
    "path",
    "qs",
    "qs2",
    "urldecode",
    "urlmain",
    "urlminusqs",
    "url.matchqs",
    "phone.e164",
]

SIGNATURES = {
    "email": "(x: list|string) -> string",
    "emailname": "(x: list|string) -> string",
    "emaildomain": "(x: list|string) -> string",
    "host": "(x: list|string) -> string",
    "domain": "(x: list|string) -> string",
    "path": "(x: list|string) -> string",
    "qs": "(url: list|string, key: string) -> string",
    "qs2": "(url: list|string, key: string) -> string",
    "urldecode": "(x: list|string) -> string",
    "urlmain": "(x: list|string) -> string",
    "urlminusqs": "(url: list|string, key: string) -> string",
    "url.matchqs": "(url: list|string, *patterns: string) -> string",
    "phone.e164": "(num: int|list|string, country?: string) -> string",
}

# A second argument that makes the two-argument functions answer when the first one does.
SECOND = {"qs": ["q"], "qs2": ["q"], "urlminusqs": ["q"], "url.matchqs": ["q"]}

A_MAP = {"a": 1}


# --- the registry entries ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_signature_doc_and_examples(name: str) -> None:
    fn = FUNCTIONS[name]
    assert fn.name == name
    assert fn.signature.render() == SIGNATURES[name]
    assert fn.doc and "\n" not in fn.doc
    assert 1 <= len(fn.examples) <= 3
    assert not fn.aggregate
    assert fn.nulls == "propagate"
    assert fn.context is None
    assert not fn.safe  # a map argument raises EvalFailure (counted), so none is "safe"


def _examples() -> list[tuple[str, str, str]]:
    return [(name, text, result) for name in NAMES for text, result in FUNCTIONS[name].examples]


@pytest.mark.parametrize(("name", "text", "result"), _examples())
def test_examples_hold(name: str, text: str, result: str) -> None:
    node = parse_expression(text)
    assert isinstance(node, n.Call)
    assert node.name == name
    assert evaluate(text) == json.loads(result)


# --- missing, empty and wrongly typed input, for every function ------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_missing_input_is_missing(name: str) -> None:
    assert call(name, None, *SECOND.get(name, [])) is None


@pytest.mark.parametrize("name", NAMES)
def test_empty_input_is_missing(name: str) -> None:
    assert call(name, "", *SECOND.get(name, [])) is None
    assert call(name, [], *SECOND.get(name, [])) is None


@pytest.mark.parametrize("name", NAMES)
def test_map_input_is_a_counted_failure(name: str) -> None:
    assert call(name, A_MAP, *SECOND.get(name, [])) is None
    with pytest.raises(EvalFailure):
        FUNCTIONS[name].impl(A_MAP, *SECOND.get(name, []))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("email", 42, None),
        ("email", True, None),
        ("email", 1.5, None),
        ("email", datetime(2014, 10, 13, tzinfo=UTC), None),
        ("emailname", 42, None),
        ("emaildomain", False, None),
        ("urlmain", 42, "42"),  # scalars read as their text: "42" is a relative path
        ("urlmain", float("nan"), None),
        ("host", 42, "42"),
        ("domain", 42, None),
        ("path", 42, "42"),
        ("urldecode", 42, "42"),
        ("urldecode", True, "true"),
        ("phone.e164", 4155552671, "+14155552671"),
        ("phone.e164", 4155552671.0, "+14155552671"),
        ("phone.e164", True, None),
    ],
)
def test_scalars_are_read_as_text(name: str, value: Any, expected: Any) -> None:
    assert call(name, value) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("email", [["Bob <Bob@Bob.com>", "c@y.com"]], "bob@bob.com"),
        ("email", [["bob", "c@y.com"]], None),  # only the first element is read
        ("emailname", [["Bob <bob@bob.com>"]], "Bob"),
        ("emaildomain", [["bob@GMAIL.com"]], "gmail.com"),
        (
            "urlmain",
            [["https://www.lytics.io/?utm_source=google", "http://b.com/"]],
            "www.lytics.io/",
        ),
        ("host", [["http://A.com/x"]], "a.com"),
        ("domain", [["http://www.A.co.uk/x"]], "a.co.uk"),
        ("path", [["http://a.com/X"]], "/x"),
        ("qs", [["http://a.com/?q=1"], "q"], "1"),
        ("qs2", [["http://a.com/?q=1"], "q"], "1"),
        ("urldecode", [["a+b"]], "a b"),
        ("urlminusqs", [["http://a.com/?q=1&a=2"], "q"], "http://a.com/?a=2"),
        ("url.matchqs", [["http://a.com/?q=1&a=2"], "q"], "a.com/?q=1"),
        ("phone.e164", [["(415) 555-2671"]], "+14155552671"),
    ],
)
def test_a_list_uses_its_first_element(name: str, args: list[Any], expected: Any) -> None:
    assert call(name, *args) == expected


# --- email, emailname, emaildomain --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # docs/functions.md and lql.md §3.6
        ("Bob <Bob@Bob.com>", "bob@bob.com"),
        (" Bob@Bob.com ", "bob@bob.com"),
        ("bob@bob", "bob@bob"),
        ("bob", None),
        ("Bob <bob>", None),
        ("a@x.com, b@y.com", None),
        ("bob.@x.com", None),
        ("bob@x..com", None),
        ("jösé@x.com", "jösé@x.com"),
        # more of Go's net/mail ParseAddress
        ("Bob.Smith+tag@Example.COM", "bob.smith+tag@example.com"),
        ("\tbob@x.com\t", "bob@x.com"),
        ('"Bob Smith" <Bob@X.com>', "bob@x.com"),
        ("Bob Smith <bob@x.com>", "bob@x.com"),
        ("<bob@x.com>", "bob@x.com"),
        ("Bob <bob@x.com> ", "bob@x.com"),
        ("Bob < bob@x.com>", "bob@x.com"),
        ("Bob <bob@x.com >", None),  # Go: unclosed angle-addr
        ("Bob <bob@x.com", None),
        ("bob@ x.com", "bob@x.com"),  # Go skips space after "@"
        ("bob @x.com", None),
        ('"john doe"@x.com', "john doe@x.com"),  # quoted local part, returned unquoted
        ('"john\\"q"@x.com', 'john"q@x.com'),
        ('""@x.com', None),
        ("bob@x.com (Bob)", "bob@x.com"),
        ("bob@x.com (Bob", None),
        ("bob@x.com (Bob) ", "bob@x.com"),
        (".bob@x.com", None),
        ("bob@.x.com", None),
        ("bob@x.com.", None),
        ("bo..b@x.com", None),
        ("bob@x.com\n", None),
        ("bob@x.com;", None),
        ("@x.com", None),
        ("bob@", None),
        ("bob@x@y.com", None),
        ("Group: bob@x.com;", "bob@x.com"),
        ("Group: bob@x.com, c@x.com;", None),
        ("Group: ;", None),
        ("bob@[127.0.0.1]", "bob@[127.0.0.1]"),
        ("bob@[IPv6:::1]", None),
        ("bob@[::1]", "bob@[::1]"),
        ("bob@[1.2.3]", None),
        ("=?utf-8?q?J=C3=B6rg?= <J@x.com>", "j@x.com"),
        ("=?no-such-charset?q?J?= <j@x.com>", None),  # Go: charset error, no display name
        ("Bob (the builder) <bob@x.com>", "bob@x.com"),
        ("Bob, Smith <bob@x.com>", "bob@x.com"),  # Go's display-name atoms are permissive
        ("Bob: <bob@x.com>", None),  # a group without ";"
        ("   ", None),
    ],
)
def test_email(text: str, expected: str | None) -> None:
    assert call("email", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bob <bob@bob.com>", "Bob"),
        ("bob@bob.com", ""),
        ("bob", None),
        ('"Bob Smith" <bob@x.com>', "Bob Smith"),
        ("Bob   Smith <bob@x.com>", "Bob Smith"),
        ('"Bob \\"B\\" Smith" <bob@x.com>', 'Bob "B" Smith'),
        ("bob@x.com (Bob  Smith)", "Bob Smith"),
        ("=?utf-8?q?J=C3=B6rg?= <j@x.com>", "Jörg"),
        ("=?UTF-8?B?SsO2cmc=?= <j@x.com>", "Jörg"),
        ("=?utf-8?q?J=C3=B6?= =?utf-8?q?rg?= <j@x.com>", "Jörg"),  # adjacent words join
        ("=?iso-8859-1?q?Andr=E9?= <a@x.com>", "André"),
        ("=?windows-1252?q?Andr=E9?= <a@x.com>", "André"),
        ("=?utf-8?x?abc?= <j@x.com>", "=?utf-8?x?abc?="),  # not an encoded word: kept
        ("=?utf-8?b?!!?= <j@x.com>", "=?utf-8?b?!!?="),
        ("Bob <bob>", None),
    ],
)
def test_emailname(text: str, expected: str | None) -> None:
    assert call("emailname", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bob<bob@gmail.com>", "gmail.com"),
        ("Bob <bob@GMail.COM>", "gmail.com"),
        (" bob@Example.org ", "example.org"),
        ('"a@b"@x.com', "x.com"),  # ours: the real domain (Go split at the first "@")
        ("bob@[127.0.0.1]", "[127.0.0.1]"),
        ("bob", None),
        ("bob@x..com", None),
    ],
)
def test_emaildomain(text: str, expected: str | None) -> None:
    assert call("emaildomain", text) == expected


# --- urlmain ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # docs/functions.md
        ("https://www.lytics.io/?utm_source=google", "www.lytics.io/"),
        ("HTTPS://WWW.Lytics.IO/Blog/Post#s", "WWW.Lytics.IO/Blog/Post"),
        ("https://user:pw@shop.example.com:8443/cart/?x=1#y", "shop.example.com:8443/cart/"),
        ("www.example.com/pricing?plan=pro", "www.example.com/pricing"),
        ("http://a.com/%zz", None),
        ("", None),
        # lql.md §5 table
        ("http://www.Google.com/search?q1=golang&q2=github", "www.Google.com/search"),
        ("https://www.lytics.io", "www.lytics.io"),
        ("HTTPS://WWW.Lytics.IO/Blog/Post#section", "WWW.Lytics.IO/Blog/Post"),
        ("//cdn.example.com/a.js?v=2", "cdn.example.com/a.js"),
        ("/relative/path?x=1", "/relative/path"),
        ("http://a.com/a%20b/c%2Fd?q=%20", "a.com/a b/c/d"),
        ("http://a.com?x=1", "a.com"),
        ("mailto:bob@example.com", ""),
        ("javascript:void(0)", ""),
        ("http://[::1]:80/x", "[::1]:80/x"),
        ("http://192.168.0.%31:8080/", None),
        ("http://not a url", None),
        (" http://a.com/x", None),
        ("http://a.com/\x00", None),
        ("http://a.com/\x1f", None),
        ("http://a.com/x\x7f", None),
        ("http://a.com/?q=\t", None),
        # more of Go's url.Parse
        ("http://a.com/a+b", "a.com/a+b"),  # "+" stays "+"
        ("http://a.com/x y", "a.com/x y"),
        ("http://a.com/x#%zz", None),  # the fragment's escapes are checked too
        ("http://a.com/x#ok%20", "a.com/x"),
        ("http://a.com/x#\x01", "a.com/x"),  # Go checks control bytes before the "#" only
        ("http://a.com:/x", "a.com:/x"),
        ("http://a.com:abc/x", None),
        ("http://a.com:80:90/x", "a.com:80:90/x"),
        ("http://a:b:80/", "a:b:80/"),
        ("http://[::1/x", None),
        ("http://[::1]x/", None),
        ("http://[fe80::1%25en0]:8080/x", "[fe80::1%en0]:8080/x"),
        ("http://ex%C3%A9.com/p", "exé.com/p"),
        ("http://%41.com/", None),  # hosts may escape only non-ASCII bytes
        ("http://a%25b.com/", "a%b.com/"),
        ("http://a{b}.com/", None),
        ("http://exé.com/é", "exé.com/é"),
        ("http://a.com/%ff", "a.com/\ufffd"),  # undecodable bytes become U+FFFD
        ("http://u%40x:p@a.com/", "a.com/"),
        ("http://u%zz@a.com/", None),
        ("http://u ser@a.com/", None),
        ("http://a@b@c.com/", "c.com/"),
        ("http:///x", "/x"),
        ("http://", ""),
        ("///x", "///x"),
        ("*", "*"),
        (":foo", None),
        ("localhost:8080/x", ""),  # "localhost" is read as a scheme: opaque, like Go
        ("a.com/b:c", "a.com/b:c"),
        ("a:b.com/x", ""),
        ("1a:b/x", None),  # no scheme, and the first segment holds a colon
        ("mailto:%zz", ""),
        ("ftp://files.example.com/pub/", "files.example.com/pub/"),
        ("HTTP://A.COM", "A.COM"),
    ],
)
def test_urlmain(text: str, expected: str | None) -> None:
    assert call("urlmain", text) == expected


def test_urlmain_feeds_the_hashed_urls_field() -> None:
    """docs/functions.md pins
    hash(urlmain("https://www.lytics.io/?utm_source=google")); the input is ours."""
    assert call("urlmain", "https://www.lytics.io/?utm_source=google") == "www.lytics.io/"
    if "hash" in FUNCTIONS:
        assert call("hash", call("urlmain", "https://www.lytics.io/?utm_source=google")) == (
            1272651684649158109
        )


# --- host, domain, path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("www.Google.com/?q=1", "www.google.com"),
        ("http://www.lytics.io/index.html", "www.lytics.io"),
        ("https://user@Sub.Example.com:8080/x", "sub.example.com:8080"),
        ("WWW.EXAMPLE.COM", "www.example.com"),
        ("http://[::1]:80/x", "[::1]:80"),
        ("http://not a url", None),
        ("http://a.com/%zz", None),
        ("httpbin.org/get", ""),  # Go: starts with "http", so no scheme is added: no host
        ("mailto:bob@x.com", "x.com"),  # not "http": gets "http://", bob@ is userinfo
    ],
)
def test_host(text: str, expected: str | None) -> None:
    assert call("host", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("www.books.amazon.co.uk", "amazon.co.uk"),
        ("http://", None),
        ("http://www.lytics.io/index.html", "lytics.io"),
        ("https://WWW.Example.COM/x", "example.com"),
        ("example.com", "example.com"),
        ("foo.blogspot.com", "foo.blogspot.com"),  # private suffixes count, as in Go
        ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp"),  # wildcard rule
        ("city.kawasaki.jp", "city.kawasaki.jp"),  # exception rule
        ("www.例え.jp", "例え.jp"),
        ("http://www.lytics.io:8080/x", "lytics.io"),  # the port is dropped
        ("co.uk", None),  # a public suffix has no eTLD+1
        ("localhost", None),
        ("http://192.168.0.1/x", None),
        ("http://[::1]/x", None),
        ("http://a..com/", None),
        ("http://a.com./", None),
        ("http://not a url", None),
        ("ab", None),
    ],
)
def test_domain(text: str, expected: str | None) -> None:
    assert call("domain", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://www.Google.com/search?q=x", "/search"),
        ("/home/a/vm", "/home/a/vm"),
        ("http://www.lytics.io/blog/index.html", "/blog/index.html"),
        ("www.Site.com/A/B?x=1", "/a/b"),  # lower-cased, "http://" added
        ("http://a.com", ""),
        ("http://a.com/a%20b", "/a b"),
        ("http://a.com/%zz", None),
        ("abc", "abc"),  # too short for "http://": a relative path
        ("http://a.com/\x01", None),
    ],
)
def test_path(text: str, expected: str | None) -> None:
    assert call("path", text) == expected


# --- query strings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        ("http://go.gl/?q=GOLANG", "q", "golang"),
        ("http://a.com/?Q=x", "q", "x"),
        ("http://a.com/?q=x", "Q", "x"),  # ours: the key is lower-cased too (Go never matched)
        ("http://www.lytics.io/?utm_source=google", "utm_source", "google"),
        ("www.Site.com/?Q=X", "q", "x"),
        ("http://a.com/?q=a&q=b", "q", "a"),
        ("http://a.com/?q=&q=b", "q", None),  # Go's Get: the first value decides
        ("http://a.com/?q=", "q", None),
        ("http://a.com/?x=1", "q", None),
        ("http://a.com/?q=%zz&q=ok", "q", "ok"),  # a pair with a bad escape is dropped
        ("http://a.com/?a=1;q=2&q=3", "q", "3"),  # so is one with ";"
        ("http://a.com/?q=a+b%20c", "q", "a b c"),
        ("http://a.com/?%71=x", "q", "x"),
        ("http://a.com/?q=%FF", "q", "\ufffd"),
        ("http://a.com/?q=x#frag", "q", "x"),
        ("http://a.com/%zz?q=x", "q", None),
        ("http://a.com/?q=x", "", None),
        ("http://a.com/?q=x", None, None),
    ],
)
def test_qs(url: str, key: str | None, expected: str | None) -> None:
    assert call("qs", url, key) == expected


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        ("http://go.gl/?q=GOLANG", "q", "GOLANG"),
        ("http://a.com/?Q=x", "q", None),
        ("http://a.com/?Q=x", "Q", "x"),
        ("go.gl/?q=Go", "q", "Go"),
        ("http://a.com/?q=a+b", "q", "a b"),
        ("http://a.com/?q=", "q", None),
        ("http://a.com/?q=x", "", None),
    ],
)
def test_qs2(url: str, key: str | None, expected: str | None) -> None:
    assert call("qs2", url, key) == expected


def test_qsl_is_an_alias_of_qs() -> None:
    assert FUNCTIONS["qsl"] is FUNCTIONS["qs"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello+world", "hello world"),
        ("a%20b", "a b"),
        ("%C3%A9t%C3%A9", "été"),
        ("%FF", "\ufffd"),
        ("plain", "plain"),
        ("http://a.com/?q=a%26b", "http://a.com/?q=a&b"),
        ("%zz", None),
        ("100%", None),
        ("%4", None),
    ],
)
def test_urldecode(text: str, expected: str | None) -> None:
    assert call("urldecode", text) == expected


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        ("http://a.com/x?z=1&a=2&q=3#f", "q", "http://a.com/x?a=2&z=1"),
        ("http://a.com/x", "q", "http://a.com/x?"),  # the dangling "?"
        ("go.gl?q=abc", "q", "http://go.gl"),
        ("http://www.lytics.io/?q1=google&q2=123", "q1", "http://www.lytics.io/?q2=123"),
        ("http://a.com/x?z=1&a=2", "q", "http://a.com/x?z=1&a=2"),  # absent: query untouched
        ("http://a.com/x?q=1&b=2&q=3", "q", "http://a.com/x?b=2"),
        ("http://a.com/x?q=1&b=x+y&a=%2F", "q", "http://a.com/x?a=%2F&b=x+y"),
        ("http://a.com/x?q=1&flag", "q", "http://a.com/x?flag="),
        ("http://a.com/x?b=2&q=1&b=1", "q", "http://a.com/x?b=2&b=1"),  # values keep order
        ("http://a.com/x?q=1&a=%FF", "q", "http://a.com/x?a=%FF"),  # bytes round-trip
        ("http://A.com/a%20b?q=1", "q", "http://A.com/a b"),  # Go prints the decoded path
        ("HTTP://A.com/x?q=1", "q", "http://HTTP://A.com/x"),  # Go: "HTTP:" lacks "http"
        ("Http://A.com/x?q=1&a=1", "q", "http://Http://A.com/x?a=1"),
        ("/p?q=1&a=2", "q", ":///p?a=2"),  # Go's quirk for a URL without scheme or host
        ("http://a.com/%zz?q=1", "q", None),
        ("http://a.com/x?q=1", "", None),
    ],
)
def test_urlminusqs(url: str, key: str, expected: str | None) -> None:
    assert call("urlminusqs", url, key) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["http://go.gl?qx=abc&lb=true", "q[a-z]"], "go.gl?qx=abc"),
        (["http://go.gl?qx=abc&lb=true", "q", "^l"], "go.gl?lb=true&qx=abc"),
        (["http://go.gl?qx=abc&lb=true"], "go.gl"),
        (["http://go.gl?qx=abc&lb=true", "^zz"], "go.gl"),
        (["http://go.gl/a%20b?QX=1&qx=2#f", "qx"], "go.gl/a b?qx=2"),
        (["http://go.gl?qx=a+b", "qx"], "go.gl?qx=a+b"),
        (["http://go.gl?qx=1", None], "go.gl"),  # a missing pattern matches nothing
        (["www.go.gl/p?qx=1", "qx"], "www.go.gl/p?qx=1"),  # no scheme is added
        (["http://a.com/%zz?qx=1", "qx"], None),
    ],
)
def test_url_matchqs(args: list[Any], expected: str | None) -> None:
    assert call("url.matchqs", *args) == expected


def test_url_matchqs_bad_regex_is_a_counted_failure() -> None:
    assert call("url.matchqs", "http://go.gl?qx=1", "(") is None
    with pytest.raises(EvalFailure):
        FUNCTIONS["url.matchqs"].impl("http://go.gl?qx=1", "(")


# --- phone.e164 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["(415) 555-2671"], "+14155552671"),
        (["415.555.2671"], "+14155552671"),
        (["+1 415 555 2671"], "+14155552671"),
        (["1-415-555-2671"], "+14155552671"),
        (["+44 20 7946 0018"], "+442079460018"),  # a leading + ignores the country
        (["020 7946 0018", "GB"], "+442079460018"),
        (["020 7946 0018", "gb"], "+442079460018"),
        (["020 7946 0018"], None),  # not a US number
        (["(415) 555-2671", None], "+14155552671"),  # missing country: the default
        (["(415) 555-2671", ""], "+14155552671"),
        (["123"], None),
        (["555-555-5555"], None),  # possible but not a valid number
        (["not a phone"], None),
    ],
)
def test_phone_e164(args: list[Any], expected: str | None) -> None:
    assert call("phone.e164", *args) == expected


def test_phone_e164_unknown_country_is_a_counted_failure() -> None:
    assert call("phone.e164", "(415) 555-2671", "XX") is None
    with pytest.raises(EvalFailure):
        FUNCTIONS["phone.e164"].impl("(415) 555-2671", "XX")


# --- the fast paths agree with the full parsers ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.from_regex(neturl.FAST_HOST_PATH, fullmatch=True))
def test_urlmain_fast_path_agrees_with_parser(text: str) -> None:
    parsed = neturl.parse_url(text)
    assert parsed is not None
    assert web.urlmain(text) == parsed[1] + parsed[2]


ATEXT = "aZ09!#$%&'*+-/=?^_`{|}~é\x80"
ATOM = st.text(alphabet=ATEXT, min_size=1, max_size=4)
DOT_ATOM = st.lists(ATOM, min_size=1, max_size=3).map(".".join)
ADDR = st.builds("{}@{}".format, DOT_ATOM, DOT_ATOM)
WS = st.text(alphabet=" \t", max_size=2)
NAME_WORD = st.text(alphabet=ATEXT.replace("?", "") + ".", min_size=1, max_size=4) | st.text(
    alphabet=" \t!#[]~aé", max_size=4
).map(lambda t: f'"{t}"')
NAME = st.lists(st.tuples(NAME_WORD, WS), max_size=3).map(
    lambda words: "".join(w + (sp or " ") for w, sp in words)
)
PLAIN_EMAIL = st.builds("{}{}{}".format, WS, ADDR, WS)
NAMED_EMAIL = st.builds("{}{}<{}{}>{}".format, WS, NAME, WS, ADDR, WS)


@settings(max_examples=300, deadline=None)
@given(PLAIN_EMAIL | NAMED_EMAIL)
def test_email_fast_paths_agree_with_parser(text: str) -> None:
    assert netmail._FAST_EMAIL.fullmatch(text) or netmail._FAST_NAMED_EMAIL.fullmatch(text)
    box = netmail.parse_mailbox(text)
    assert box is not None
    assert web.email(text) == (box[1] + "@" + box[2]).lower()


URLISH = st.text(alphabet="ab:/?#%@[]. 1é\x01+-=&;", max_size=24)


@settings(max_examples=500, deadline=None)
@given(URLISH)
def test_url_functions_never_raise_on_text(text: str) -> None:
    for name in ("urlmain", "host", "domain", "path", "urldecode"):
        FUNCTIONS[name].impl(text)
    for name in ("qs", "qs2", "urlminusqs", "url.matchqs"):
        FUNCTIONS[name].impl(text, "a")


MAILISH = st.text(alphabet='ab@.<>" ()\\,:;[]1é=?\t', max_size=24)


@settings(max_examples=500, deadline=None)
@given(MAILISH)
def test_email_functions_never_raise_on_text(text: str) -> None:
    for name in ("email", "emailname", "emaildomain"):
        FUNCTIONS[name].impl(text)
    if netmail._FAST_EMAIL.fullmatch(text) or netmail._FAST_NAMED_EMAIL.fullmatch(text):
        box = netmail.parse_mailbox(text)
        assert box is not None
        assert web.email(text) == (box[1] + "@" + box[2]).lower()
