"""Hashing and encoding functions, called through the registry as generated code calls them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang.registry import FUNCTIONS
from engine.lang.values import EvalFailure
from tests.helpers import call

NAMES = [
    "hash",
    "hash.sip",
    "hash.md5",
    "hash.sha1",
    "hash.sha256",
    "hash.sha512",
    "encoding.b64encode",
    "encoding.b64decode",
]

DATE = datetime(2014, 10, 13, tzinfo=UTC)
A_MAP = {"a": 1}

HELLO_MD5 = "5d41402abc4b2a76b9719d911017c592"
HELLO_SHA1 = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
HELLO_SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
HELLO_SHA512 = (
    "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca7"
    "2323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"
)


# docs/functions.md and lql.md §6: SipHash-2-4, key (0, 1), signed int64.
SIP_VECTORS = [
    ("hash", "hello", -8380129865243219425),
    ("hash.sip", "http://www.google.com?q=123", 5673948842516703987),
    ("hash", "www.lytics.io/", 1272651684649158109),
    ("hash.sip", ["http://go.gl"], 4903078846009498015),
    ("hash.sip", "This is a string being used as an example", -1913777820508603599),
    ("hash.sip", "bananas234029348", -9131769342440180027),
]


@pytest.mark.parametrize(("name", "arg", "expected"), SIP_VECTORS)
def test_siphash_vectors(name: str, arg: Any, expected: int) -> None:
    assert call(name, arg) == expected


def test_hash_and_hash_sip_are_one_function() -> None:
    assert FUNCTIONS["hash"] is FUNCTIONS["hash.sip"]


def test_unsign_of_hash() -> None:
    """lql.md §6: unsign(hash.sip("bananas234029348")) = "9314974731269371589"."""
    assert call("unsign", call("hash.sip", "bananas234029348")) == "9314974731269371589"


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        # hash: only strings (a list: its first item) are hashed
        ("hash", ("",), None),
        ("hash", ([],), None),
        ("hash", ([""],), None),
        ("hash", (None,), None),
        ("hash", (123,), None),
        ("hash", (1.5,), None),
        ("hash", (True,), None),
        ("hash", (DATE,), None),
        ("hash", (A_MAP,), None),
        ("hash", (["hello", "world"],), -8380129865243219425),
        ("hash", ([None],), None),
        # digests: lower-case hex of the value as a string
        ("hash.md5", ("hello",), HELLO_MD5),
        ("hash.md5", (["hello", "x"],), HELLO_MD5),
        ("hash.md5", (5,), "e4da3b7fbbce2345d7772b0674a318d5"),
        ("hash.md5", ("",), None),
        ("hash.md5", ([],), None),
        ("hash.md5", (None,), None),
        ("hash.md5", (A_MAP,), None),
        ("hash.sha1", ("hello",), HELLO_SHA1),
        ("hash.sha1", ("",), None),
        ("hash.sha1", (None,), None),
        ("hash.sha1", (A_MAP,), None),
        ("hash.sha256", ("hello",), HELLO_SHA256),
        (
            "hash.sha256",
            ("bob@example.com",),
            "5ff860bf1190596c7188ab851db691f0f3169c453936e9e1eba2f9a47f7a0018",
        ),
        ("hash.sha256", ("",), None),
        ("hash.sha256", (None,), None),
        ("hash.sha256", (A_MAP,), None),
        ("hash.sha512", ("hello",), HELLO_SHA512),
        ("hash.sha512", ("",), None),
        ("hash.sha512", (None,), None),
        ("hash.sha512", (A_MAP,), None),
        # base64
        ("encoding.b64encode", ("hello world",), "aGVsbG8gd29ybGQ="),
        ("encoding.b64encode", ("hello world=",), "aGVsbG8gd29ybGQ9"),
        ("encoding.b64encode", ("héllo",), "aMOpbGxv"),
        ("encoding.b64encode", (42,), "NDI="),
        ("encoding.b64encode", ("",), None),
        ("encoding.b64encode", (None,), None),
        ("encoding.b64encode", (A_MAP,), None),
        ("encoding.b64decode", ("aGVsbG8gd29ybGQ=",), "hello world"),
        ("encoding.b64decode", ("aMOpbGxv",), "héllo"),
        ("encoding.b64decode", ("aGVsbG8g\r\nd29ybGQ=",), "hello world"),
        ("encoding.b64decode", ("",), None),
        ("encoding.b64decode", ("xx",), None),
        ("encoding.b64decode", ("aGVsbG8gd29ybGQ",), None),
        ("encoding.b64decode", ("aGVs bG8=",), None),
        ("encoding.b64decode", ("/w==",), None),  # byte 0xff is not UTF-8 text
        ("encoding.b64decode", ("é===",), None),
        ("encoding.b64decode", (None,), None),
        ("encoding.b64decode", (A_MAP,), None),
    ],
)
def test_call(name: str, args: tuple[Any, ...], expected: Any) -> None:
    got = call(name, *args)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("hash.md5", (A_MAP,)),
        ("hash.sha1", (A_MAP,)),
        ("hash.sha256", (A_MAP,)),
        ("hash.sha512", (A_MAP,)),
        ("encoding.b64encode", (A_MAP,)),
        ("encoding.b64decode", (A_MAP,)),
        ("encoding.b64decode", ("xx",)),
        ("encoding.b64decode", ("aGVs bG8=",)),
        ("encoding.b64decode", ("/w==",)),
        ("encoding.b64decode", ("é===",)),
    ],
)
def test_runtime_failures_raise(name: str, args: tuple[Any, ...]) -> None:
    """Unusable input is a counted failure (EvalFailure), which `call` turns into missing."""
    with pytest.raises(EvalFailure):
        FUNCTIONS[name].impl(*args)
    assert call(name, *args) is None


@pytest.mark.parametrize("arg", [A_MAP, 123, True, DATE, object(), [A_MAP], "\udfff"])
def test_hash_is_safe(arg: Any) -> None:
    """`hash` is marked safe, so no input may make it raise."""
    FUNCTIONS["hash"].impl(arg)


def test_lone_surrogates_read_as_replacement_character() -> None:
    """Go's JSON decoder turns a lone surrogate escape into U+FFFD; hash what it would hash."""
    assert call("hash", "a\ud800b") == call("hash", "a\ufffdb") is not None
    assert call("hash.md5", "\udfff") == call("hash.md5", "\ufffd") is not None
    assert call("encoding.b64encode", "\ud800") == "77+9"


def test_b64_round_trip() -> None:
    text = "Grüße, 世界! \x00"
    assert call("encoding.b64decode", call("encoding.b64encode", text)) == text


@pytest.mark.parametrize(
    ("name", "signature", "safe"),
    [
        ("hash", "(x: list|string) -> int", True),
        ("hash.md5", "(x: bool|date|int|list|number|string) -> string", False),
        ("hash.sha1", "(x: bool|date|int|list|number|string) -> string", False),
        ("hash.sha256", "(x: bool|date|int|list|number|string) -> string", False),
        ("hash.sha512", "(x: bool|date|int|list|number|string) -> string", False),
        ("encoding.b64encode", "(x: bool|date|int|list|number|string) -> string", False),
        ("encoding.b64decode", "(s: string) -> string", False),
    ],
)
def test_registration(name: str, signature: str, safe: bool) -> None:
    fn = FUNCTIONS[name]
    assert fn.signature.render() == signature
    assert fn.nulls == "propagate"
    assert fn.safe is safe
    assert fn.group == "hashing"
