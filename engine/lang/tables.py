"""The LQL parser's tables, shipped beside the grammar (``grammar/lql.tables``).

Lark builds an LALR parser by analysing the grammar, which takes about half a second: every
process that compiles config (each `engine` command, the daemon, its processor) paid for it
before parsing its first expression. The analysis depends only on the grammar and the Lark
version, so it is done once, by `make docs`, and shipped: loading it takes about 20 ms.

The file is a pickle of plain data (Lark's own serialised form of a parser: dicts, lists,
tuples, strings, numbers), read by an unpickler that refuses every class, so it can never run
code. It names the grammar's SHA-256 and the Lark version it was made with; when either
differs, the tables are not used and the parser is built from the grammar as before.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

from engine.resources import data_path

TABLES = "grammar/lql.tables"


class _PlainData(pickle.Unpickler):
    """Unpickles data only: a class or function named in the stream is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name}: the parser tables hold plain data only")


def grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()


def tables_path() -> Path:
    return data_path(TABLES)


def render(parser: dict[str, Any], grammar: str, lark_version: str) -> bytes:
    """The file's bytes: `parser` is Lark's serialised parser of `grammar` (``data`` and
    ``memo``), made by `lark_version`."""
    return pickle.dumps({"grammar_sha256": grammar_digest(grammar), "lark": lark_version,
                         "parser": parser}, protocol=4)


def recorded(path: Path | None = None) -> dict[str, Any] | None:
    """What the file holds (the grammar's digest, the Lark version, the serialised parser),
    read as plain data; None when it is unreadable, refused or damaged in any way."""
    try:
        raw = (path or tables_path()).read_bytes()
        tables = _PlainData(io.BytesIO(raw)).load()
    except Exception:  # whatever the reason, the grammar is analysed instead
        return None
    return tables if isinstance(tables, dict) else None


def read(grammar: str, lark_version: str, path: Path | None = None) -> dict[str, Any] | None:
    """The serialised parser the file holds when it was made from `grammar` by
    `lark_version`; else None (no file, another grammar or Lark version, or a file that is not
    such tables)."""
    tables = recorded(path)
    if tables is None or tables.get("grammar_sha256") != grammar_digest(grammar) \
            or tables.get("lark") != lark_version:
        return None
    parser = tables.get("parser")
    return parser if isinstance(parser, dict) else None
