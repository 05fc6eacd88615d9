"""Hashing and encoding functions (qlbridge ``hash_and_encode.go``).

``hash`` is SipHash-2-4 with key (k0=0, k1=1) over the UTF-8 bytes, as a signed int64, exactly as
Lytics computes it, so hashed ids written by either side agree. Digests and base64 read their
argument as a string (a list gives its first item); ``""`` has no answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

from siphashc import siphash

from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_str, type_name

GROUP = "hashing"

_SCALAR_OR_LIST = "string|int|number|bool|date|list"

# k0 = 0, k1 = 1 as two little-endian 64-bit words.
_SIP_KEY = bytes(8) + b"\x01" + bytes(7)
_I64_SIGN = 1 << 63
_U64 = 1 << 64


def _utf8(s: str) -> bytes:
    """UTF-8 bytes; a lone surrogate (JSON "\\ud800") becomes U+FFFD, as Go's decoder does."""
    try:
        return s.encode()
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _sip(s: str) -> int:
    try:
        h: int = siphash(_SIP_KEY, s)
    except UnicodeEncodeError:
        h = siphash(_SIP_KEY, _utf8(s))
    return h - _U64 if h >= _I64_SIGN else h


@function(
    "hash",
    "(x: string|list) -> int",
    doc="SipHash-2-4 (key 0, 1) of the string `x` (a list: its first item) as a signed 64-bit "
    'int; numbers, bools, dates and "" are missing.',
    group=GROUP,
    aliases=["hash.sip"],
    safe=True,
    examples=[
        ('hash("hello")', "-8380129865243219425"),
        ('hash.sip("http://www.google.com?q=123")', "5673948842516703987"),
        ('hash.sip(split("http://go.gl", ","))', "4903078846009498015"),
    ],
)
def hash_sip(x: Value) -> int | None:
    if isinstance(x, str):
        return _sip(x) if x else None
    if isinstance(x, list) and x:
        first = x[0]
        s = first if isinstance(first, str) else to_str(first)
        return _sip(s) if s else None
    return None


def _text(x: Value, fn: str) -> str | None:
    if isinstance(x, str):
        return x
    s = to_str(x)
    if s is None and isinstance(x, dict):
        raise EvalFailure(f"{fn}: expected a string, got {type_name(x)}")
    return s


def _hex_digest(fn: str, digest: Callable[[bytes], str]) -> Callable[[Value], str | None]:
    def impl(x: Value) -> str | None:
        s = x if isinstance(x, str) else _text(x, fn)
        if not s:
            return None
        return digest(_utf8(s))

    impl.__name__ = impl.__qualname__ = fn.replace(".", "_")
    return impl


def _md5(b: bytes) -> str:
    return hashlib.md5(b, usedforsecurity=False).hexdigest()


def _sha1(b: bytes) -> str:
    return hashlib.sha1(b, usedforsecurity=False).hexdigest()


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _sha512(b: bytes) -> str:
    return hashlib.sha512(b).hexdigest()


hash_md5 = function(
    "hash.md5",
    f"(x: {_SCALAR_OR_LIST}) -> string",
    doc='Lower-case hex MD5 of `x` as a string; "" is missing.',
    group=GROUP,
    examples=[('hash.md5("hello")', '"5d41402abc4b2a76b9719d911017c592"')],
)(_hex_digest("hash.md5", _md5))

hash_sha1 = function(
    "hash.sha1",
    f"(x: {_SCALAR_OR_LIST}) -> string",
    doc='Lower-case hex SHA-1 of `x` as a string; "" is missing.',
    group=GROUP,
    examples=[('hash.sha1("hello")', '"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"')],
)(_hex_digest("hash.sha1", _sha1))

hash_sha256 = function(
    "hash.sha256",
    f"(x: {_SCALAR_OR_LIST}) -> string",
    doc='Lower-case hex SHA-256 of `x` as a string; "" is missing.',
    group=GROUP,
    examples=[
        (
            'hash.sha256("hello")',
            '"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"',
        )
    ],
)(_hex_digest("hash.sha256", _sha256))

hash_sha512 = function(
    "hash.sha512",
    f"(x: {_SCALAR_OR_LIST}) -> string",
    doc='Lower-case hex SHA-512 of `x` as a string; "" is missing.',
    group=GROUP,
    examples=[
        (
            'hash.sha512("hello")',
            '"9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca7'
            "2323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
            '"',
        )
    ],
)(_hex_digest("hash.sha512", _sha512))


@function(
    "encoding.b64encode",
    f"(x: {_SCALAR_OR_LIST}) -> string",
    doc='Standard padded base64 of the UTF-8 bytes of `x`; "" is missing.',
    group=GROUP,
    examples=[('encoding.b64encode("hello world")', '"aGVsbG8gd29ybGQ="')],
)
def b64encode(x: Value) -> str | None:
    s = x if isinstance(x, str) else _text(x, "encoding.b64encode")
    if not s:
        return None
    return base64.b64encode(_utf8(s)).decode("ascii")


@function(
    "encoding.b64decode",
    "(s: string) -> string",
    doc='Text decoded from standard padded base64; "" is missing, malformed input or '
    "non-UTF-8 content a failure.",
    group=GROUP,
    examples=[
        ('encoding.b64decode("aGVsbG8gd29ybGQ=")', '"hello world"'),
        ('encoding.b64decode("xx")', "null"),
    ],
)
def b64decode(s: Value) -> str | None:
    text = s if isinstance(s, str) else _text(s, "encoding.b64decode")
    if not text:
        return None
    if "\n" in text or "\r" in text:  # line breaks are ignored, as by Go's decoder
        text = text.replace("\n", "").replace("\r", "")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as e:  # bad base64; UnicodeDecodeError is a ValueError
        raise EvalFailure(f"encoding.b64decode: {e}") from None
