"""Glob patterns (`LIKE`, `filter`, `filtermatch`), matched in time linear in the text.

A glob is anchored and case-sensitive; ``*`` and ``%`` match any run of characters, a backslash
makes the character after it stand for itself (``\\*`` is a star, as in qlbridge's glob), every
other character stands for itself (``docs/language.md``). Translated to a backtracking regex,
``*a*b`` is quadratic and ``*a*a*a*a*a*b`` takes minutes on 2,000 characters; here the pattern
is cut at its stars, the first piece must start the text, the last must end it, and each piece
between is found leftmost after the one before. Leftmost is exact for globs: a match placing a piece
further right leaves less room for the rest, never more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["glob_matcher"]

Matcher = Callable[[str], bool]


def _pieces(pattern: str) -> list[str]:
    """The literal pieces between the wildcards, escapes resolved."""
    if "\\" not in pattern:
        return pattern.replace("%", "*").split("*")
    pieces: list[str] = []
    current: list[str] = []
    chars = iter(pattern)
    for c in chars:
        if c == "\\":
            current.append(next(chars, "\\"))  # a backslash at the end stands for itself
        elif c in "*%":
            pieces.append("".join(current))
            current = []
        else:
            current.append(c)
    pieces.append("".join(current))
    return pieces


@functools.lru_cache(maxsize=1024)
def glob_matcher(pattern: str) -> Matcher:
    """The test whether a whole text matches `pattern`."""
    pieces = _pieces(pattern)
    if len(pieces) == 1:
        return pieces[0].__eq__
    first, last = pieces[0], pieces[-1]
    middle = tuple(p for p in pieces[1:-1] if p)
    tail = len(last)
    shortest = len(first) + tail + sum(map(len, middle))

    def match(text: str) -> bool:
        if len(text) < shortest or not text.startswith(first) or not text.endswith(last):
            return False
        pos, end = len(first), len(text) - tail
        for piece in middle:
            found = text.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True

    return match
