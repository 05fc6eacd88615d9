"""Every error the engine raises, and the one renderer for located diagnostics.

    EngineError                  base of everything the engine raises on purpose
     ├── ConfigError             config or expression text is invalid; holds .diagnostics
     ├── RuntimeFailure          the engine cannot do its work (storage unreachable, …)
     │    ├── StoreUnavailable   the store cannot be read or written now: retry later
     │    └── TransportUnavailable  the event transport (NATS) cannot be reached now: retry later
     ├── StoreRefused            the store cannot hold a value written: retrying will not help
     └── UnknownName             a name the config does not define; names those it does

Third-party exceptions (Lark, sqlite3, httpx, nats) are translated where they are caught, with
``raise … from exc``; nothing else leaks out of the public API. The store's back ends translate
theirs in one place each (docs/store.md).
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Source:
    """A piece of text that spans point into, and where that text sits in its file.

    For an expression typed on the command line the text is the whole file. For an expression
    inside a YAML scalar, `line_origins[i]` is the (line, column) in the file where line i of the
    text starts, so a caret lands on the exact character of the YAML file. When the text is not
    a verbatim copy of the file (quoted scalars with escapes, folded block scalars, interpolated
    variables), `char_origins[i]` is the (line, column) of character i, plus one entry for the
    end of the text; it wins over `line_origins`.
    """

    name: str
    text: str
    line_origins: tuple[tuple[int, int], ...] | None = None
    file_lines: tuple[str, ...] | None = None
    char_origins: tuple[tuple[int, int], ...] | None = field(default=None, repr=False)
    excerpt: bool = True  # False: diagnostics give the place but never quote the line
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        object.__setattr__(self, "_starts", tuple(starts))

    def location(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) in the file of the character at `offset` of the text."""
        offset = max(0, min(offset, len(self.text)))
        if self.char_origins:
            return self.char_origins[min(offset, len(self.char_origins) - 1)]
        index = bisect.bisect_right(self._starts, offset) - 1
        col = offset - self._starts[index]
        if self.line_origins is None:
            return index + 1, col + 1
        line, first_col = self.line_origins[min(index, len(self.line_origins) - 1)]
        return line, first_col + col

    def line_text(self, line: int) -> str:
        """The file's line number `line` (1-based), as the user sees it."""
        if self.file_lines is not None:
            return self.file_lines[line - 1] if 0 < line <= len(self.file_lines) else ""
        lines = self.text.split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else ""


@dataclass(frozen=True)
class Diagnostic:
    """One problem at one place: what `engine validate` and the checker report."""

    source: Source
    start: int
    end: int
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    @property
    def file(self) -> str:
        return self.source.name

    @property
    def line(self) -> int:
        return self.source.location(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.location(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.source.location(self.end)[0]

    @property
    def end_column(self) -> int:
        return self.source.location(self.end)[1]

    @property
    def full_message(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def render(self) -> str:
        """``file:line:col: error[CODE]: message``, the source line, and a caret under the span."""
        line, col = self.line, self.column
        head = f"{self.file}:{line}:{col}: {self.severity}[{self.code}]: {self.full_message}"
        if not self.source.excerpt:
            return head
        text = self.source.line_text(line)
        end_line, end_col = self.end_line, self.end_column
        width = end_col - col if end_line == line and end_col > col else 1
        width = max(1, min(width, len(text) - col + 1)) if text else 1
        prefix = f"{line} | "
        gutter = " " * (len(prefix) - 2) + "| "
        return (
            f"{head}\n"
            f"{prefix}{text.expandtabs(1)}\n"
            f"{gutter}{' ' * (col - 1)}{'^' * width}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(EngineError):
    """Config or expression text is invalid; `diagnostics` lists every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class UnknownName(EngineError):
    """A mapping, stream, audience or export job the config does not define.

    The message names the ones it does define (and a close one, when there is), so a typo is
    fixed without opening the config.
    """

    def __init__(self, kind: str, name: str, known: Iterable[str], *,
                 plural: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.known = list(known)
        message = f"unknown {kind} {name!r}; {plural or kind + 's'} in the config: "
        message += ", ".join(self.known) or "none"
        hint = did_you_mean(name, self.known)
        super().__init__(f"{message}; {hint}" if hint else message)


class RuntimeFailure(EngineError):
    """The engine cannot do its work (storage unreachable, …)."""


class StoreUnavailable(RuntimeFailure):
    """The store failed on its own account (locked, full, unreadable, unreachable): the same
    write may work later, so callers pause and retry rather than blame the data."""


class TransportUnavailable(RuntimeFailure):
    """The event transport could not take or hand out events now (no server, no stream, a
    timeout, a lost connection): nothing was acknowledged that is not durable, so the caller
    answers "unavailable" and the sender, or the caller itself, retries later."""


class StoreConflict(StoreUnavailable):
    """Another process changed what this transaction read (a deadlock, a serialization
    failure, a profile merged away meanwhile): run the whole transaction again."""


class StoreRefused(EngineError):
    """The store refused what was written (a value it cannot hold): no retry will store it,
    so callers set the offending event aside instead of retrying."""


def render_all(diagnostics: Sequence[Diagnostic]) -> str:
    return "\n".join(d.render() for d in diagnostics)


# One phrasing for every name that nothing declares (a function, a field type, a config key, a
# stream, an audience, …), so that the checker, config validation, the API and the CLI agree.


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """The hint naming the known name closest to `word`, when one is close enough."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def unknown(kind: str, name: str, known: Iterable[str]) -> tuple[str, str | None]:
    """A diagnostic's message and hint for `name`, a `kind` nothing in `known` declares."""
    return f"unknown {kind} `{name}`", did_you_mean(name, known)
