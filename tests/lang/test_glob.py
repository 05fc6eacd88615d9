"""`LIKE`, `filter` and `filtermatch` globs: the documented meaning, in linear time."""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

import engine
from engine.lang.glob import glob_matcher
from engine.lang.runtime import like


def reference(pattern: str, text: str) -> bool:
    """The meaning as a regex: ``*`` and ``%`` any run, a backslash makes the next character
    literal (one at the end is itself), everything else literal."""
    parts: list[str] = []
    for m in re.finditer(r"\\(.?)|(.)", pattern, re.DOTALL):
        escaped, char = m.groups()
        if char is None:  # a backslash and the character it makes literal
            parts.append(re.escape(escaped or "\\"))
        else:
            parts.append(".*" if char in "*%" else re.escape(char))
    regex = "".join(parts)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def test_documented_cases() -> None:
    assert like("abc", "ab*") and like("abc", "ab%") and like("abc", "*c")
    assert not like("abc", "b*") and not like("abc", "AB*")
    assert like("abc", "abc") and not like("abcd", "abc")
    assert like("a?c", "a?c") and not like("abc", "a?c")  # `?` stands for itself
    assert like("", "*") and like("", "%%") and not like("", "a*")
    assert like("aXbYc", "a*b*c") and not like("ab", "a*b*b")
    assert like("line\nbreak", "line*break")
    assert like(["x", "yes"], "y*") and not like(["x"], "y*")
    assert not like(None, "*") and not like("a", None)


def test_backslash_escapes_a_wildcard() -> None:
    # qlbridge's glob: a backslash makes the next character stand for itself
    assert like("a*b", "a\\*b") and not like("axb", "a\\*b")
    assert like("50%", "50\\%") and not like("500", "50\\%")
    assert like("a*bc", "a\\**") and like("a\\b", "a\\\\b") and like("a\\", "a\\")
    # in a quoted string the backslash itself is written twice
    star = engine.compile_expression('x LIKE "*\\\\*"')
    assert star.evaluate({"x": "5*"}) is True
    assert star.evaluate({"x": "55"}) is False


@given(st.text("ab*%?\\", max_size=8), st.text("ab?*\\", max_size=12))
def test_agrees_with_the_regex_meaning(pattern: str, text: str) -> None:
    assert glob_matcher(pattern)(text) is reference(pattern, text)


def test_adversarial_globs_answer_in_milliseconds() -> None:
    match = engine.compile_expression("x LIKE p")
    began = time.perf_counter()
    assert match.evaluate({"x": "a" * 2000, "p": "*a*a*a*a*a*b"}) is False
    assert match.evaluate({"x": "a" * 400_000, "p": "*a*b"}) is False
    assert match.evaluate({"x": "a" * 400_000 + "b", "p": "*a*b"}) is True
    assert time.perf_counter() - began < 0.5


def test_filter_patterns_use_the_same_globs() -> None:
    keep = engine.compile_expression('filtermatch(xs, "*a*a*a*a*a*b", "pre")')
    began = time.perf_counter()
    assert keep.evaluate({"xs": ["a" * 3000, "prefix", "aaaaab"]}) == ["prefix", "aaaaab"]
    assert time.perf_counter() - began < 0.5
