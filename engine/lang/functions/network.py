"""Hosts, domains, IP ranges and user agents (qlbridge ``url_email.go`` and ``network.go``).

`hosts` and `domains` are the list forms of `host` and `domain` and read each URL exactly as
those do. `useragent` answers the features qlbridge's user-agent reader gives, from the
maintained ``ua-parser`` rules (browser, OS, bots, devices) and from the user-agent text's own
tokens (the ``Mozilla/`` version, the platform, the rendering engine); both are cached per
string, since a stream repeats a small set of user agents.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable

import ua_parser

from engine.lang import budget
from engine.lang.functions.web import domain, host
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_str, type_name

GROUP = "email/url"


def _urls(fn: str, args: tuple[Value, ...]) -> list[str]:
    """Every URL among the arguments: strings, and the items of lists."""
    out: list[str] = []
    for v in args:
        items = v if isinstance(v, list) else [v]
        for item in budget.paced(items, len(items)):
            if isinstance(item, dict):
                raise EvalFailure(f"{fn}: expected URLs, got {type_name(item)}")
            s = item if isinstance(item, str) else to_str(item)
            if s:
                out.append(s)
    return out


def _each(
    fn: str, part: Callable[[Value], str | None], args: tuple[Value, ...]
) -> list[str] | None:
    """`part` of every URL, in order (repeats kept, as qlbridge's lists keep them)."""
    found = [value for url in _urls(fn, args) if (value := part(url))]
    return found or None


@function(
    "hosts",
    "(url: string|list, *more: string|list) -> list",
    doc="`host` of every URL given (lists read item by item), in order; none is missing.",
    group=GROUP,
    examples=[
        (
            'hosts("www.Google.com/?q=golang", "www.golang.org/")',
            '["www.google.com", "www.golang.org"]',
        )
    ],
)
def hosts(*urls: Value) -> list[str] | None:
    return _each("hosts", host, urls)


@function(
    "domains",
    "(url: string|list, *more: string|list) -> list",
    doc="`domain` of every URL given (lists read item by item), in order; none is missing.",
    group=GROUP,
    examples=[
        (
            'domains("https://www.Google.com/search?q=golang", "http://www.ign.com")',
            '["google.com", "ign.com"]',
        )
    ],
)
def domains(*urls: Value) -> list[str] | None:
    return _each("domains", domain, urls)


# --------------------------------------------------------------------------------------------
# IP ranges


@functools.lru_cache(maxsize=1024)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)  # host bits allowed, as Go's ParseCIDR
    except ValueError:
        return None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if "%" in text:
        return None  # a zoned IPv6 address is no plain IP (Go's ParseIP refuses it too)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # "::ffff:10.0.0.1" is the IPv4 address, as in Go
    return ip


@function(
    "ipfilter",
    "(ip: string, cidr: string) -> bool",
    doc='Whether the IPv4 or IPv6 address `ip` lies in the range `cidr` ("10.0.0.0/8"); an '
    "unreadable address or range is a failure.",
    group=GROUP,
    examples=[
        ('ipfilter("192.168.1.100", "192.168.1.0/24")', "true"),
        ('ipfilter("2001:db9::1", "2001:db8::/32")', "false"),
    ],
)
def ipfilter(ip: Value, cidr: Value) -> bool:
    address = _address(ip.strip()) if isinstance(ip, str) else None
    if address is None:
        raise EvalFailure(f"ipfilter: not an IP address: {ip!r:.60}")
    network = _network(cidr.strip()) if isinstance(cidr, str) else None
    if network is None:
        raise EvalFailure(f"ipfilter: not a CIDR range: {cidr!r:.60}")
    return address.version == network.version and address in network


# --------------------------------------------------------------------------------------------
# user agents

FEATURES = (
    "bot",
    "mobile",
    "mozilla",
    "platform",
    "os",
    "engine",
    "engine_version",
    "browser",
    "browser_version",
)
_MOZILLA = re.compile(r"^Mozilla/(\S+)")
_COMMENT = re.compile(r"\(([^)]*)\)")
_PRODUCT = re.compile(r"\s*([A-Za-z][\w.-]*)/(\S+)")


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _os(result: ua_parser.Result, comment: list[str]) -> str:
    """The OS with its version; without one, the comment item naming it ("Linux x86_64")."""
    if result.os is None:
        return ""
    version = _version(result.os.major, result.os.minor, result.os.patch, result.os.patch_minor)
    if version:
        return f"{result.os.family} {version}"
    for item in comment:
        if item.startswith(result.os.family):
            return item
    return result.os.family


@functools.lru_cache(maxsize=4096)
def _features(ua: str) -> dict[str, str]:
    result = ua_parser.parse(ua)
    m = _COMMENT.search(ua)
    comment = [p.strip() for p in m.group(1).split(";")] if m else []
    engine = _PRODUCT.match(ua, m.end()) if m else None
    browser = result.user_agent
    device = result.device.family if result.device is not None else ""
    mobile = device not in ("", "Other", "Spider") or "Mobile" in ua
    mozilla = _MOZILLA.match(ua)
    return {
        "bot": "true" if device == "Spider" else "false",
        "mobile": "true" if mobile and device != "Spider" else "false",
        "mozilla": mozilla.group(1) if mozilla else "",
        "platform": comment[0] if comment else "",
        "os": _os(result, comment),
        "engine": engine.group(1) if engine else "",
        "engine_version": engine.group(2) if engine else "",
        "browser": browser.family if browser is not None and browser.family != "Other" else "",
        "browser_version": _version(
            browser.major, browser.minor, browser.patch, browser.patch_minor
        )
        if browser is not None
        else "",
    }


def _agent(fn: str, ua: Value) -> str | None:
    if isinstance(ua, list):
        ua = ua[0] if ua else None
    if ua is None or ua == "":
        return None
    if not isinstance(ua, str):
        raise EvalFailure(f"{fn}: expected a user-agent string, got {type_name(ua)}")
    if len(ua) > budget.LARGE:
        budget.check()
    return ua


@function(
    "useragent",
    "(ua: string|list, feature: string) -> string",
    doc='One feature of a user-agent string: bot, mobile ("true"/"false"), mozilla, platform, '
    "os, engine, engine_version, browser, browser_version; another name is a failure.",
    group=GROUP,
    examples=[
        (
            'useragent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.11 (KHTML, like Gecko) '
            'Chrome/23.0.1271.97 Safari/537.11", "browser")',
            '"Chrome"',
        ),
        (
            'useragent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.11 (KHTML, like Gecko) '
            'Chrome/23.0.1271.97 Safari/537.11", "os")',
            '"Linux x86_64"',
        ),
    ],
)
def useragent(ua: Value, feature: Value) -> str | None:
    text = _agent("useragent", ua)
    if text is None:
        return None
    if feature not in FEATURES:
        raise EvalFailure(
            f"useragent: unknown feature {feature!r:.40} (one of {', '.join(FEATURES)})"
        )
    return _features(text)[feature] or None


@function(
    "useragent.map",
    "(ua: string|list) -> map",
    doc="Every `useragent` feature of a user-agent string, as a map of strings (a feature it "
    'lacks is "").',
    group=GROUP,
    examples=[
        (
            'useragent.map("curl/7.1")',
            '{"bot": "false", "mobile": "false", "mozilla": "", "platform": "", "os": "", '
            '"engine": "", "engine_version": "", "browser": "curl", "browser_version": "7.1"}',
        )
    ],
)
def useragent_map(ua: Value) -> dict[str, str] | None:
    text = _agent("useragent.map", ua)
    return None if text is None else dict(_features(text))
