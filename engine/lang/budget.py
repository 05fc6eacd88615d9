"""The time budget of one event's evaluation: a deadline checked cooperatively.

No expression may hold the processor. When an event's evaluation starts (`start`, called by
the pipeline for each event, or `limit` around a one-off evaluation), a deadline is set; the
points whose cost grows with the input check it: the pipeline after each mapping, and every
builtin that loops over a list or map or works over a big string, before the work (`sized`)
and every `CHECK_EVERY` items inside it (`paced`). Past the deadline `BudgetExceeded` unwinds
the whole evaluation: the event becomes a dead letter and processing moves on.

Outside an evaluation the deadline is infinitely far, so functions called anywhere else
(constant folding, audience filters, docs) never see it. The deadline is per thread, so an
evaluation on one thread cannot fail another's. `clock` is a module attribute so that tests
drive it (``monkeypatch.setattr(budget, "clock", ...)``); nothing here reads wall-clock time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

DEFAULT_BUDGET_MS = 1000
# Items a loop handles between two clock reads, and the input length from which one read
# before the work is worth it: below both, the work costs less than the check.
CHECK_EVERY = 1024
LARGE = 4096

clock: Callable[[], float] = time.monotonic


class BudgetExceeded(BaseException):
    """An evaluation ran past its deadline.

    A BaseException on purpose: generated code and builtins turn `Exception` into a missing
    value and a per-field failure, but a spent budget must unwind the whole event, not only
    the field that noticed it, or the next field would pay again.
    """

    def __init__(self, budget_ms: int, where: str = "", field: str | None = None) -> None:
        self.budget_ms = budget_ms
        self.where = where
        self.field = field
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        """The dead letter's reason: the budget, and where the evaluation was when it ran out."""
        text = f"evaluation exceeded its {self.budget_ms} ms budget"
        if self.where:
            text += f" in {self.where}"
        if self.field:
            text += f" field {self.field}"
        return text

    def located(self, where: str, field: str | None, budget_ms: int | None = None
                ) -> BudgetExceeded:
        """This exception with the place named, unless an inner evaluation named it first,
        and the budget it ran out of when the caller knows it better than the thread's state."""
        if not self.where:
            self.where, self.field = where, field
        if budget_ms is not None:
            self.budget_ms = budget_ms
        self.args = (self.reason,)
        return self


class _State(threading.local):
    deadline: float = math.inf
    budget_ms: int = DEFAULT_BUDGET_MS


# The per-event path (`Pipeline.fan_out`) sets and reads `state.deadline` inline, without the
# calls of `start`, `check` and `stop`: it runs for every event, the others only for big inputs.
state = _state = _State()


def start(budget_ms: int) -> None:
    """An event's evaluation begins: it may run `budget_ms` from now."""
    _state.deadline = clock() + budget_ms / 1000
    _state.budget_ms = budget_ms


def stop() -> None:
    """The evaluation is over: nothing is limited until the next `start`."""
    _state.deadline = math.inf


@contextmanager
def limit(budget_ms: int) -> Iterator[None]:
    """One evaluation under a budget (the CLI's `eval`, `map` and `test`)."""
    start(budget_ms)
    try:
        yield
    finally:
        stop()


def check() -> None:
    """Raise `BudgetExceeded` when the current evaluation is past its deadline."""
    if clock() > _state.deadline:
        raise BudgetExceeded(_state.budget_ms)


def sized(n: int) -> None:
    """Before work over an input of length `n`: check when it is big enough to matter."""
    if n > LARGE:
        check()


def paced(items: Sequence[T] | Iterable[T], n: int) -> Iterable[T]:
    """`items` (of length `n`) as they are when short, else checking every `CHECK_EVERY`."""
    if n <= CHECK_EVERY:
        return items
    return _paced(items)


def _paced(items: Iterable[T]) -> Iterator[T]:
    for i, item in enumerate(items):
        if not i % CHECK_EVERY:
            check()
        yield item
