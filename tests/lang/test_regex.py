"""`regex.match` and `url.matchqs` run on RE2: linear time, RE2 syntax, refusals at load."""

from __future__ import annotations

import time

import pytest

import engine
from engine.errors import ConfigError
from engine.lang import regex
from engine.lang.functions import FUNCTIONS
from engine.lang.values import EvalFailure


def call(name: str, *args: object) -> object:
    return FUNCTIONS[name].call(list(args))


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("order-1234", "[0-9]{4}$", True),
        ("Order", "^order", False),
        ("Order", "(?i)^order", True),
        ("٣", r"\d", False),  # ASCII classes, as in RE2
        ("a b", r"a\sb", True),
        (["x", "ab"], "^a", True),
        (["x", "y"], "^a", False),
        (12345, "^123", True),
    ],
)
def test_matches_like_re2(text: object, pattern: str, expected: bool) -> None:
    assert call("regex.match", text, pattern) is expected


def test_catastrophic_patterns_answer_at_once() -> None:
    began = time.perf_counter()
    assert call("regex.match", "a" * 31 + "!", "^(a+)+$") is False
    assert call("regex.match", "a" * 100_000 + "!", "^(a|aa)*$") is False
    assert call("regex.match", "x" * 400_000 + "y", "(x+x+)+y") is True
    assert time.perf_counter() - began < 2


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a)\1", "backreferences"),
        ("(?=a)b", "lookahead"),
        ("(?!a)b", "lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?<!a)b", "lookbehind"),
        ("(unclosed", "missing )"),
        ("a{2000}", "repetition"),
    ],
)
def test_a_constant_pattern_re2_refuses_is_E109_at_its_span(pattern: str, words: str) -> None:
    escaped = pattern.replace("\\", "\\\\")  # the expression's own backslash escapes
    text = f'regex.match(name, "{escaped}")'
    with pytest.raises(ConfigError) as info:
        engine.compile_expression(text)
    (d,) = info.value.diagnostics
    assert d.code == "E109"
    assert words in d.message and "`pattern` of `regex.match`" in d.message
    assert (d.column, d.end_column) == (text.index('"') + 1, len(text))


def test_url_matchqs_patterns_are_checked_too() -> None:
    with pytest.raises(ConfigError) as info:
        engine.compile_expression(r'url.matchqs(href, "q.", "(?=x)")')
    assert [d.code for d in info.value.diagnostics] == ["E109"]
    assert call("url.matchqs", "http://go.gl?qx=abc&lb=true", "q[a-z]") == "go.gl?qx=abc"


def test_a_pattern_from_the_event_is_compiled_when_needed_and_a_refusal_is_a_failure() -> None:
    fn = engine.compile_expression("regex.match(name, pat)")
    assert fn.evaluate({"name": "abc", "pat": "^a"}) is True
    assert fn.evaluate({"name": "abc", "pat": r"(a)\1"}) is None
    with pytest.raises(EvalFailure, match="backreferences"):
        FUNCTIONS["regex.match"].impl("aa", r"(a)\1")


def test_the_cache_of_compiled_patterns_is_bounded() -> None:
    maxsize = regex._compile.cache_info().maxsize
    assert maxsize is not None
    for i in range(maxsize + 10):
        assert call("regex.match", f"x{i}", f"^x{i}$") is True
    assert regex._compile.cache_info().currsize <= maxsize


def test_text_that_is_not_unicode_does_not_match() -> None:
    assert call("regex.match", "a\ud800", "a") is False
