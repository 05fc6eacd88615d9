"""Epoch-millisecond clocks: the one type every layer takes, so tests can pass a fake one.

A leaf module: it imports nothing from the engine, so every layer may use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]  # epoch ms


def system_clock() -> int:
    """Now in epoch milliseconds, the unit of every event time and stored timestamp."""
    return time.time_ns() // 1_000_000
