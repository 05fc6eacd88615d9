"""The one place where sqlite3's exceptions become engine errors (docs/store.md "Failures").

A failure of the database itself (locked past the busy timeout, disk full, I/O error, a damaged
file) is `StoreUnavailable`: the same write may work later. A value SQLite cannot hold (an
integer past 64 bits, a type it has no column type for), or a constraint what was written
breaks, is `StoreRefused`: no retry will store it.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from engine.errors import EngineError, StoreRefused, StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")

_DATA = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
         sqlite3.ProgrammingError, OverflowError)  # sqlite3 binds a too large int so


class _Located(Protocol):
    path: str


S = TypeVar("S", bound=_Located)


def translate(exc: sqlite3.Error | OverflowError, path: str) -> EngineError:
    """The engine error for an exception sqlite3 raised on the store at `path`."""
    if isinstance(exc, _DATA):
        return StoreRefused(f"the store cannot hold a value written: {exc}")
    return StoreUnavailable(f"the store at {path} failed: {exc}")


def translated(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Wrap a store method so that no sqlite3 exception leaves it (one call per batch of
    rows, never per event: the wrapper's cost stays out of the hot loops)."""

    @functools.wraps(method)
    def call(store: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except (sqlite3.Error, OverflowError) as exc:
            raise translate(exc, store.path) from exc

    return call
