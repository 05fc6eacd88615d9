"""`hosts`, `domains`, `ipfilter`, `useragent` and `useragent.map`, with the rows of qlbridge's
builtins test table for each."""

from __future__ import annotations

from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from tests.helpers import assert_documented, call, evaluate
from tests.lang.qlbridge_rows import EVENT, TS, UA

SIGNATURES = {
    "hosts": "(url: list|string, *more: list|string) -> list",
    "domains": "(url: list|string, *more: list|string) -> list",
    "ipfilter": "(ip: string, cidr: string) -> bool",
    "useragent": "(ua: list|string, feature: string) -> string",
    "useragent.map": "(ua: list|string) -> map",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_registered(name: str) -> None:
    fn = assert_documented(name, SIGNATURES[name])
    assert fn.nulls == "propagate"


# qlbridge builtins_test.go: hosts, domains, ipfilter, useragent, useragent.map (the rows of an
# `emptyslice()` are written with an empty list field).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'hosts("www.Google.com/?q=golang", "www.golang.org/")',
            ["www.google.com", "www.golang.org"],
        ),
        (
            'hosts(["www.Google.com/?q=golang", "www.golang.org/"])',
            ["www.google.com", "www.golang.org"],
        ),
        ('hosts("")', None),
        (
            'domains(split("https://www.Google.com/,http://www.lytics.io",","))',
            ["google.com", "lytics.io"],
        ),
        ('domains("https://www.Google.com/search?q=golang")', ["google.com"]),
        (
            'domains("https://www.Google.com/search?q=golang","http://www.ign.com")',
            ["google.com", "ign.com"],
        ),
        ('domains("Google.com/search?q=golang","www.ign.com")', ["google.com", "ign.com"]),
        ("domains(Address)", None),
        ('domains(split("abc,def",","))', None),
        ('ipfilter("192.168.1.100", "192.168.1.0/24")', True),
        ('ipfilter("192.168.1.1", "192.168.1.0/24")', True),
        ('ipfilter("192.168.1.254", "192.168.1.0/24")', True),
        ('ipfilter("192.168.2.1", "192.168.1.0/24")', False),
        ('ipfilter("10.0.0.1", "192.168.1.0/24")', False),
        ('ipfilter("127.0.0.1", "127.0.0.0/8")', True),
        ('ipfilter("128.0.0.1", "127.0.0.0/8")', False),
        ('ipfilter("10.10.10.10", "10.0.0.0/8")', True),
        ('ipfilter("11.10.10.10", "10.0.0.0/8")', False),
        ('ipfilter("2001:db8::1", "2001:db8::/32")', True),
        ('ipfilter("2001:db9::1", "2001:db8::/32")', False),
        ('ipfilter("::1", "::1/128")', True),
        ('ipfilter("invalid.ip", "192.168.1.0/24")', None),
        ('ipfilter("192.168.1.1", "invalid/cidr")', None),
        ('ipfilter("192.168.1.1", "192.168.1.0/35")', None),
        ('useragent(ua, "os")', "Linux x86_64"),
        ('useragent(ua, "bot")', "false"),
        ('useragent(ua, "mobile")', "false"),
        ('useragent(ua, "mozilla")', "5.0"),
        ('useragent(ua, "platform")', "X11"),
        ('useragent(ua, "engine")', "AppleWebKit"),
        ('useragent(ua, "engine_version")', "537.11"),
        ('useragent(ua, "browser")', "Chrome"),
        ('useragent(ua, "browser_version")', "23.0.1271.97"),
        ('useragent(split(ua,","), "os")', "Linux x86_64"),
        ('useragent(EmptyStrings, "os")', None),
        ('useragent("", "os")', None),
        ('useragent(ua, "")', None),
        ('useragent(ua, "not_valid")', None),
        ("len(useragent.map(ua))", 9),
        ('len(useragent.map(split(ua,",")))', 9),
        ("len(useragent.map(EmptyStrings))", None),
        ('useragent.map("")', None),
    ],
)
def test_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("hosts", (["a.com/x", "A.com/y", ""],), ["a.com", "a.com"]),
        ("hosts", ({"a": 1},), None),
        ("ipfilter", ("::ffff:192.168.1.9", "192.168.1.0/24"), True),
        ("ipfilter", ("192.168.1.9", "::/0"), False),
        ("ipfilter", ("192.168.1.9", "192.168.1.7/24"), True),
        ("ipfilter", ("fe80::1%eth0", "fe80::/10"), None),
        ("ipfilter", (5, "10.0.0.0/8"), None),
        ("useragent", (5, "os"), None),
    ],
)
def test_edges(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args) == expected


@pytest.mark.parametrize(
    ("ua", "feature", "expected"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 12_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
            "mobile",
            "true",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 12_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
            "os",
            "iOS 12.2",
        ),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot", "true"),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "mobile", "false"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
            "engine",
            "Gecko",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
            "os",
            "Windows 10",
        ),
        (UA, "mozilla", "5.0"),
    ],
)
def test_user_agents(ua: str, feature: str, expected: str) -> None:
    assert call("useragent", ua, feature) == expected
