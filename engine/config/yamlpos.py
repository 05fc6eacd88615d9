"""Where each character of a YAML scalar's value came from in the file.

PyYAML keeps the start and end mark of every node, but a scalar's value is not a copy of the text
between them: quotes go, escapes (``\\u00e9``, ``\\n``) become one character, line breaks fold into
spaces, block scalars lose their indentation. An error inside an expression must still point at
the exact character the user typed, so this module re-reads the scalar's text the way PyYAML's
scanner does (``yaml/scanner.py``: ``scan_plain``, ``scan_flow_scalar``, ``scan_block_scalar``)
and records, for each character of the value, the offset in the file it was read from.

The result is checked against the value PyYAML produced; when the two differ (a construct this
re-reading does not model), the caller gets None and falls back to the node's start.
"""

from __future__ import annotations

import yaml
from yaml.scanner import Scanner

_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPE_REPLACEMENTS: dict[str, str] = dict(Scanner.ESCAPE_REPLACEMENTS)
_ESCAPE_CODES: dict[str, int] = dict(Scanner.ESCAPE_CODES)


class _Cursor:
    """A read position in the file text with PyYAML's notion of column."""

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.text[i] if i < len(self.text) else "\0"

    @property
    def column(self) -> int:
        return self.pos - (self.text.rfind("\n", 0, self.pos) + 1)

    def line_break(self) -> tuple[str, int]:
        """Read one line break; ``\\r\\n`` and ``\\r`` read as ``\\n`` (as PyYAML does)."""
        at, ch = self.pos, self.peek()
        if ch == "\r" and self.peek(1) == "\n":
            self.pos += 2
            return "\n", at
        if ch in "\r\n\x85":
            self.pos += 1
            return "\n", at
        if ch in "\u2028\u2029":
            self.pos += 1
            return ch, at
        return "", at


Origins = list[tuple[str, int]]  # (character of the value, offset in the file)


def _plain(cur: _Cursor, end: int) -> Origins:
    out: Origins = []
    while cur.pos < end:
        ch = cur.peek()
        if ch not in " \t" + _BREAKS:
            out.append((ch, cur.pos))
            cur.pos += 1
            continue
        spaces_at = cur.pos
        while cur.peek() in " \t":
            cur.pos += 1
        if cur.peek() not in _BREAKS:
            out.extend((cur.text[i], i) for i in range(spaces_at, cur.pos))
            continue
        brk, brk_at = cur.line_break()
        breaks: Origins = []
        while cur.pos < end and cur.peek() in " \t" + _BREAKS:
            if cur.peek() in " \t":
                cur.pos += 1
            else:
                b, at = cur.line_break()
                breaks.append((b, at))
        if brk != "\n":
            out.append((brk, brk_at))
        elif not breaks:
            out.append((" ", brk_at))
        out.extend(breaks)
    return out


def _flow_breaks(cur: _Cursor) -> Origins:
    out: Origins = []
    while True:
        while cur.peek() in " \t":
            cur.pos += 1
        if cur.peek() in _BREAKS and cur.peek() != "\0":
            out.append(cur.line_break())
        else:
            return out


def _flow(cur: _Cursor, double: bool) -> Origins:
    quote = cur.peek()
    cur.pos += 1
    out: Origins = []
    while True:
        ch = cur.peek()
        if ch == "\0":
            return out
        if ch == quote and not (not double and cur.peek(1) == "'"):
            return out
        if ch in " \t":
            spaces_at = cur.pos
            while cur.peek() in " \t":
                cur.pos += 1
            if cur.peek() in _BREAKS:
                brk, brk_at = cur.line_break()
                breaks = _flow_breaks(cur)
                if brk != "\n":
                    out.append((brk, brk_at))
                elif not breaks:
                    out.append((" ", spaces_at))
                out.extend(breaks)
            else:
                out.extend((cur.text[i], i) for i in range(spaces_at, cur.pos))
        elif ch in _BREAKS:
            brk, brk_at = cur.line_break()
            breaks = _flow_breaks(cur)
            if brk != "\n":
                out.append((brk, brk_at))
            elif not breaks:
                out.append((" ", brk_at))
            out.extend(breaks)
        elif not double and ch == "'" and cur.peek(1) == "'":
            out.append(("'", cur.pos))
            cur.pos += 2
        elif double and ch == "\\":
            at = cur.pos
            cur.pos += 1
            esc = cur.peek()
            if esc in _ESCAPE_REPLACEMENTS:
                out.append((_ESCAPE_REPLACEMENTS[esc], at))
                cur.pos += 1
            elif esc in _ESCAPE_CODES:
                length = _ESCAPE_CODES[esc]
                digits = cur.text[cur.pos + 1: cur.pos + 1 + length]
                out.append((chr(int(digits, 16)), at))
                cur.pos += 1 + length
            elif esc in _BREAKS:
                cur.line_break()
                out.extend(_flow_breaks(cur))
            else:
                return out
        else:
            out.append((ch, cur.pos))
            cur.pos += 1


def _block(cur: _Cursor, folded: bool, indent_guess: int | None) -> Origins:
    cur.pos += 1  # the indicator
    chomping: bool | None = None
    increment: int | None = None
    for _ in range(2):
        ch = cur.peek()
        if ch in "+-":
            chomping = ch == "+"
            cur.pos += 1
        elif ch.isdigit():
            increment = int(ch)
            cur.pos += 1
    while cur.peek() not in _BREAKS + "\0":  # spaces and a comment
        cur.pos += 1
    cur.line_break()

    def block_breaks(indent: int) -> Origins:
        out: Origins = []
        while cur.column < indent and cur.peek() == " ":
            cur.pos += 1
        while cur.peek() in _BREAKS and cur.peek() != "\0":
            out.append(cur.line_break())
            while cur.column < indent and cur.peek() == " ":
                cur.pos += 1
        return out

    breaks: Origins = []
    if increment is None:
        max_indent = 0
        while cur.peek() in " " + _BREAKS and cur.peek() != "\0":
            if cur.peek() != " ":
                breaks.append(cur.line_break())
            else:
                cur.pos += 1
                max_indent = max(max_indent, cur.column)
        indent = max(1, max_indent)
    else:
        indent = max(1, (indent_guess or 0) + 1) + increment - 1
        breaks = block_breaks(indent)
    chunks: Origins = []
    line_break: tuple[str, int] = ("", cur.pos)
    while cur.column == indent and cur.peek() != "\0":
        chunks.extend(breaks)
        leading_non_space = cur.peek() not in " \t"
        while cur.peek() not in _BREAKS + "\0":
            chunks.append((cur.peek(), cur.pos))
            cur.pos += 1
        line_break = cur.line_break()
        breaks = block_breaks(indent)
        if cur.column == indent and cur.peek() != "\0":
            if folded and line_break[0] == "\n" and leading_non_space and cur.peek() not in " \t":
                if not breaks:
                    chunks.append((" ", line_break[1]))
            else:
                chunks.append(line_break)
        else:
            break
    if chomping is not False and line_break[0]:
        chunks.append(line_break)
    if chomping is True:
        chunks.extend(breaks)
    return chunks


def scalar_offsets(node: yaml.ScalarNode, text: str) -> list[int] | None:
    """The file offset of each character of `node.value`, plus one for its end; None if unsure."""
    start, end = node.start_mark.index, node.end_mark.index
    value = node.value
    attempts: list[int | None] = [None]
    if node.style in ("|", ">") and any(c.isdigit() for c in text[start: start + 3]):
        attempts = list(range(-1, node.start_mark.column + 1))
    for guess in attempts:
        cur = _Cursor(text, start)
        try:
            if node.style in ("|", ">"):
                pairs = _block(cur, node.style == ">", guess)
            elif node.style in ("'", '"'):
                pairs = _flow(cur, node.style == '"')
            else:
                pairs = _plain(cur, end)
        except (ValueError, IndexError):
            continue
        if "".join(c for c, _ in pairs) == value:
            offsets = [at for _, at in pairs]
            if node.style in ("'", '"'):
                offsets.append(max(start, end - 1))  # the closing quote
            elif offsets:
                offsets.append(offsets[-1] + 1)
            else:
                offsets.append(start)
            return offsets
    return None
