"""The one place where psycopg's exceptions become engine errors (docs/store.md "Failures").

The server or the connection failing (unreachable, restarted, the session terminated, a table
gone) is `StoreUnavailable`: the same write may work later, on a new store. Another session
getting in the way — a deadlock, a serialization failure, a concurrent creator of the same
identity or profile — is `StoreConflict`: run the whole transaction again. A value PostgreSQL
cannot hold (an integer past 64 bits, NUL in text, text that is no UTF-8, a type it has no
column for), or a constraint what was written breaks, is `StoreRefused`: no retry will store it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import psycopg
from psycopg import errors as pg

from engine.errors import EngineError, StoreConflict, StoreRefused, StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# Rows another session creates at the same moment: the loser runs its transaction again.
_CONTENDED_TABLES = frozenset({"identities", "profiles"})


class _Located(Protocol):
    where: str


S = TypeVar("S", bound=_Located)

Failure = psycopg.Error | UnicodeEncodeError | OverflowError


def translate(exc: Failure, where: str) -> EngineError:
    """The engine error for an exception psycopg raised on the store `where`."""
    if isinstance(exc, pg.DeadlockDetected | pg.SerializationFailure):
        return StoreConflict(f"the store at {where}: another transaction got in the way "
                             f"({exc.sqlstate}); run it again: {_first_line(exc)}")
    if isinstance(exc, pg.UniqueViolation) and exc.diag.table_name in _CONTENDED_TABLES:
        return StoreConflict(f"the store at {where}: another transaction wrote the same row; "
                             f"run it again: {_first_line(exc)}")
    if isinstance(exc, UnicodeEncodeError | OverflowError | psycopg.DataError
                  | psycopg.IntegrityError) or (
            # raised before the query was sent: a Python value psycopg cannot adapt
            isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None):
        return StoreRefused(f"the store cannot hold a value written: {_first_line(exc)}")
    return StoreUnavailable(f"the store at {where} failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translated(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Wrap a store method so that no psycopg exception leaves it."""

    @functools.wraps(method)
    def call(store: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except (psycopg.Error, UnicodeEncodeError, OverflowError) as exc:
            raise translate(exc, store.where) from exc

    return call
