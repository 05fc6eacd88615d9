"""One RFC 5322 email address, parsed with Go ``net/mail``'s acceptance rules.

LQL (qlbridge) defines ``email``, ``emailname`` and ``emaildomain`` as thin wrappers over Go's
``mail.ParseAddress``, so users rely on its exact strictness and quirks: a name-addr, an addr-spec
or a group holding exactly one address; RFC 2047 encoded words decoded in display names; domain
literals only when they are IP addresses; UTF-8 allowed per RFC 6532. Python's ``email.utils`` is
far more lenient, hence this small strict port of the parts the functions observe.

`parse_mailbox` runs the full parser; `parse_address` is what the per-event ``email`` function
calls, and tries two precompiled regular expressions for the common shapes before the parser
(the property tests check that they agree). The functions themselves live in
``engine.lang.functions.web``.
"""

from __future__ import annotations

import base64
import ipaddress
import re

from engine.lang import budget
from engine.lang.budget import CHECK_EVERY

__all__ = ["Mailbox", "parse_address", "parse_mailbox"]

_AT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"  # atext; >= 0x80 per RFC 6532
_ADDR = rf"[{_AT}]+(?:\.[{_AT}]+)*@[{_AT}]+(?:\.[{_AT}]+)*"
# `local@domain`, or `<local@domain>` after a display name of plain atoms and simple quoted
# strings (no "?", so no RFC 2047 word that could fail). Possessive, so no backtracking blow-up.
_FAST_EMAIL = re.compile(rf"[ \t]*({_ADDR})[ \t]*")
_FAST_NAMED_EMAIL = re.compile(
    rf"[ \t]*(?:(?:[{_AT.replace('?', '')}.]++"
    rf'|"[ \t!#-\[\]-~\u0080-\U0010ffff]*+")[ \t]*+)*+<[ \t]*({_ADDR})>[ \t]*'
)
_DOT_ATOM = re.compile(rf"[{_AT}.]+")
_PHRASE_ATOM = re.compile(rf"[{_AT}.()\[\];@\\,]+")  # Go's permissive atom for display names
_DTEXT = re.compile(r"[!-Z^-~\u0080-\U0010ffff]*")
_ENCODED_WORD = re.compile(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")
_Q_TEXT = re.compile(r"(?:[ -<>-~\t\r\n]|=[0-9A-Fa-f]{2})*")
_Q_ESCAPE = re.compile(r"=([0-9A-Fa-f]{2})")

Mailbox = tuple[str, str, str]  # display name, local part, domain


class _BadAddress(Exception):
    """Internal: the text is not an address (never leaves this module)."""


def _vchar(c: str) -> bool:
    return "!" <= c <= "~" or c >= "\x80"


def _decode_word(word: str) -> tuple[str, bool]:
    """RFC 2047 ``=?charset?B|Q?text?=``: (decoded, True); other words come back unchanged.

    As in Go, a malformed encoded word is kept literally; an unknown charset is an error.
    """
    m = _ENCODED_WORD.fullmatch(word)
    if m is None:
        return word, False
    charset, enc, text = m.groups()
    data: bytes
    if enc in "bB":
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            return word, False
    else:
        if not _Q_TEXT.fullmatch(text):
            return word, False
        text = _Q_ESCAPE.sub(lambda e: chr(int(e.group(1), 16)), text.replace("_", " "))
        data = text.encode("latin-1")  # validated: ASCII plus escaped bytes
    try:
        return data.decode(charset, "replace"), True
    except (LookupError, UnicodeError, ValueError):
        raise _BadAddress(charset) from None


class _AddressParser:
    """A strict RFC 5322 address parser with Go ``net/mail``'s acceptance rules."""

    __slots__ = ("i", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0

    def parse_single(self) -> Mailbox:
        boxes = self.address(handle_group=True)
        if not self.skip_cfws() or self.i < len(self.s) or len(boxes) != 1:
            raise _BadAddress
        return boxes[0]

    def consume(self, c: str) -> bool:
        if self.s.startswith(c, self.i):
            self.i += 1
            return True
        return False

    def skip_space(self) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t":
            i += 1
        self.i = i

    def skip_cfws(self) -> bool:
        self.skip_space()
        while self.consume("("):
            if self.comment() is None:
                return False
            self.skip_space()
        return True

    def comment(self) -> str | None:
        """The text of a (nested) comment whose "(" is consumed; None when it is unclosed."""
        s, i, n, depth = self.s, self.i, len(self.s), 1
        out: list[str] = []
        while i < n and depth:
            if not i % CHECK_EVERY:
                budget.check()
            c = s[i]
            if c == "\\" and i + 1 < n:
                i += 1
                c = s[i]
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            if depth:
                out.append(c)
            i += 1
        self.i = i
        return None if depth else "".join(out)

    def address(self, handle_group: bool) -> list[Mailbox]:
        self.skip_space()
        if self.i >= len(self.s):
            raise _BadAddress
        try:
            local, domain = self.addr_spec()
        except _BadAddress:
            pass
        else:
            name = ""
            self.skip_space()
            if self.consume("("):
                text = self.comment()
                if text is None:
                    raise _BadAddress
                name = " ".join(_decode_word(w)[0] for w in text.replace("\t", " ").split(" ") if w)
            return [(name, local, domain)]
        name = "" if self.s.startswith("<", self.i) else self.phrase()
        self.skip_space()
        if handle_group and self.consume(":"):
            return self.group_list()
        if not self.consume("<"):
            raise _BadAddress
        local, domain = self.addr_spec()
        if not self.consume(">"):
            raise _BadAddress
        return [(name, local, domain)]

    def group_list(self) -> list[Mailbox]:
        group: list[Mailbox] = []
        self.skip_space()
        if self.consume(";"):
            self.skip_cfws()
            return group
        while True:
            self.skip_space()
            group += self.address(handle_group=False)
            if not self.skip_cfws():
                raise _BadAddress
            if self.consume(";"):
                self.skip_cfws()
                return group
            if not self.consume(","):
                raise _BadAddress

    def addr_spec(self) -> tuple[str, str]:
        start = self.i
        try:
            self.skip_space()
            if self.s.startswith('"', self.i):
                local = self.quoted_string()
                if not local:
                    raise _BadAddress
            else:
                local = self.atom(permissive=False)
            if not self.consume("@"):
                raise _BadAddress
            self.skip_space()
            domain = self.domain_literal() if self.consume("[") else self.atom(permissive=False)
        except _BadAddress:
            self.i = start
            raise
        return local, domain

    def atom(self, permissive: bool) -> str:
        m = (_PHRASE_ATOM if permissive else _DOT_ATOM).match(self.s, self.i)
        if m is None:
            raise _BadAddress
        atom = m.group()
        if not permissive and (atom[0] == "." or atom[-1] == "." or ".." in atom):
            raise _BadAddress
        self.i = m.end()
        return atom

    def domain_literal(self) -> str:
        """``[dtext]`` whose text must be an IP address ("[" already consumed)."""
        m = _DTEXT.match(self.s, self.i)
        if m is None:  # never: the pattern accepts the empty string
            raise _BadAddress
        text = m.group()
        self.i = m.end()
        if not self.consume("]") or "%" in text:
            raise _BadAddress
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise _BadAddress from None
        return f"[{text}]"

    def quoted_string(self) -> str:
        s, n, i = self.s, len(self.s), self.i + 1
        out: list[str] = []
        escaped = False
        while True:
            if i >= n:
                raise _BadAddress
            if not i % CHECK_EVERY:
                budget.check()
            c = s[i]
            if escaped:
                if not (_vchar(c) or c in " \t"):
                    raise _BadAddress
                out.append(c)
                escaped = False
            elif c == '"':
                break
            elif c == "\\":
                escaped = True
            elif _vchar(c) or c in " \t":
                out.append(c)
            else:
                raise _BadAddress
            i += 1
        self.i = i + 1
        return "".join(out)

    def phrase(self) -> str:
        """A display name: words (atoms or quoted strings), adjacent encoded words joined."""
        words: list[str] = []
        prev_encoded = False
        while True:
            if not len(words) % CHECK_EVERY:
                budget.check()
            if words and not self.skip_cfws():
                raise _BadAddress
            self.skip_space()
            if self.i >= len(self.s):
                break
            try:
                if self.s[self.i] == '"':
                    word, encoded = self.quoted_string(), False
                else:
                    word, encoded = _decode_word(self.atom(permissive=True))
            except _BadAddress:
                if not words:
                    raise
                break
            if prev_encoded and encoded:
                words[-1] += word
            else:
                words.append(word)
            prev_encoded = encoded
        return " ".join(words)


def parse_mailbox(s: str) -> Mailbox | None:
    """(display name, local part, domain) of the one address in `s`; None where Go errors."""
    try:
        return _AddressParser(s).parse_single()
    except _BadAddress:
        return None


def parse_address(s: str) -> str | None:
    """The addr-spec (``local@domain``) of the one address in `s`, fast forms first."""
    m = _FAST_EMAIL.fullmatch(s) or _FAST_NAMED_EMAIL.fullmatch(s)
    if m is not None:
        return m.group(1)
    box = parse_mailbox(s)
    return None if box is None else box[1] + "@" + box[2]
