"""Regular expressions of the language (`regex.match`, `url.matchqs`), on RE2.

RE2 answers in time linear in the text for every pattern, so no pattern a mapping holds can
freeze the engine on an event (a backtracking engine takes minutes on ``^(a+)+$`` against 31
characters). The price is RE2's syntax: no backreferences (``\\1``) and no lookaround
(``(?=…)``, ``(?<!…)``); ``\\d \\w \\s \\b`` are ASCII-only. A pattern written as a constant is
compiled when the config loads (the registry's `check_constant` hook; refusal is E109, see
``docs/language.md``); any other pattern is compiled when an event needs it, through a bounded
cache, and a pattern RE2 refuses is a failure of that one field.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

__all__ = ["compiled", "pattern_arguments", "problem", "search"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # refusals are reported as diagnostics, not written to stderr

# RE2's words for the Perl features it leaves out, and what to call them.
_REFUSED = (
    ("invalid perl operator: (?=", "lookahead"),
    ("invalid perl operator: (?!", "lookahead"),
    ("invalid perl operator: (?<", "lookbehind"),
)


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    feature = next((name for marker, name in _REFUSED if text.startswith(marker)), None)
    if text.startswith("invalid escape sequence: \\") and text[-1:].isdigit():
        feature = "backreferences"
    if feature is None:
        return text
    return f"{text}: RE2 syntax has no {feature}"


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> Any:
    """The compiled pattern, or the reason RE2 refuses it (a str); refusals are cached too."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        return _reason(exc)
    except (UnicodeEncodeError, TypeError, ValueError) as exc:  # a lone surrogate, a NUL…
        return str(exc)


def problem(pattern: str) -> str | None:
    """Why RE2 refuses `pattern`, or None when it compiles (and is now cached)."""
    found = _compile(pattern)
    return found if isinstance(found, str) else None


def compiled(pattern: str) -> Any | None:
    """The compiled pattern, None when RE2 refuses it."""
    found = _compile(pattern)
    return None if isinstance(found, str) else found


def search(rx: Any, text: str) -> bool:
    """Whether `rx` matches anywhere in `text`; text RE2 cannot read does not match."""
    try:
        return rx.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8
        return False


def pattern_arguments(index: int, value: Any) -> str | None:
    """The registry hook of functions whose arguments after the first are patterns."""
    why = problem(value) if index >= 1 and isinstance(value, str) else None
    return None if why is None else f"not a valid regular expression ({why})"
